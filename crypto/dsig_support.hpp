#pragma once
// Helpers shared by the XML signature code of this module (xmldsig.cpp, xades_verifier.cpp):
// reading the tree of a ds:Signature and preparing xmlsec contexts. Not part of the API.

#include "crypto/openssl.hpp"
#include "crypto/xml.hpp"

#include <memory>
#include <string>
#include <string_view>
#include <vector>

struct _xmlSecDSigCtx;
struct _xmlSecKey;

namespace sceau::crypto::dsig {

inline constexpr const char* ns = "http://www.w3.org/2000/09/xmldsig#";

struct ctx_deleter {
    void operator()(_xmlSecDSigCtx* ctx) const noexcept;
};
using ctx_ptr = std::unique_ptr<_xmlSecDSigCtx, ctx_deleter>;

struct key_deleter {
    void operator()(_xmlSecKey* key) const noexcept;
};
using key_ptr = std::unique_ptr<_xmlSecKey, key_deleter>;

inline const xmlChar* x(const char* s) {
    return reinterpret_cast<const xmlChar*>(s);
}

inline std::string_view text_of(const xmlChar* s) {
    return s ? std::string_view(reinterpret_cast<const char*>(s)) : std::string_view();
}

/// Whether `n` is the element `local` of namespace `ns_uri`.
bool is_element(const xmlNode* n, std::string_view ns_uri, std::string_view local);

inline bool is_dsig(const xmlNode* n, std::string_view local) {
    return is_element(n, ns, local);
}

std::vector<xmlNode*> element_children(xmlNode* parent);

/// The value of an attribute in no namespace; empty when absent.
std::string attribute(xmlNode* n, const char* name);

/// The whole text content of an element.
std::string text(xmlNode* n);

bool allowed_signature_method(std::string_view uri);
bool allowed_digest_method(std::string_view uri);

/// A context with no keys manager that runs only the allowed transforms.
ctx_ptr restricted_context();

/// An xmlsec key holding the public key of `cert` and nothing else.
key_ptr public_key_of(X509* cert);

} // namespace sceau::crypto::dsig
