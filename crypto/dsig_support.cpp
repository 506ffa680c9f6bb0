#include "crypto/dsig_support.hpp"

#include "crypto/error.hpp"
#include "crypto/xmldsig.hpp"

#include <xmlsec/crypto.h>
#include <xmlsec/keys.h>
#include <xmlsec/openssl/evp.h>
#include <xmlsec/transforms.h>
#include <xmlsec/xmldsig.h>

#include <algorithm>
#include <array>

namespace sceau::crypto::dsig {
namespace {

constexpr std::array signature_methods{
    dsig_algorithms::rsa_sha256,   dsig_algorithms::rsa_sha384,   dsig_algorithms::rsa_sha512,
    dsig_algorithms::ecdsa_sha256, dsig_algorithms::ecdsa_sha384, dsig_algorithms::ecdsa_sha512,
};
constexpr std::array digest_methods{dsig_algorithms::sha256, dsig_algorithms::sha384,
                                    dsig_algorithms::sha512};

template <typename List>
bool in(const List& list, std::string_view uri) {
    return std::find(list.begin(), list.end(), uri) != list.end();
}

} // namespace

void ctx_deleter::operator()(_xmlSecDSigCtx* ctx) const noexcept {
    xmlSecDSigCtxDestroy(ctx);
}

void key_deleter::operator()(_xmlSecKey* key) const noexcept {
    xmlSecKeyDestroy(key);
}

bool is_element(const xmlNode* n, std::string_view ns_uri, std::string_view local) {
    return n && n->type == XML_ELEMENT_NODE && n->ns && text_of(n->ns->href) == ns_uri &&
           text_of(n->name) == local;
}

std::vector<xmlNode*> element_children(xmlNode* parent) {
    std::vector<xmlNode*> out;
    for (xmlNode* c = parent->children; c; c = c->next) {
        if (c->type == XML_ELEMENT_NODE)
            out.push_back(c);
    }
    return out;
}

std::string attribute(xmlNode* n, const char* name) {
    xml_string_ptr value(xmlGetNoNsProp(n, x(name)));
    return value ? std::string(text_of(value.get())) : std::string();
}

std::string text(xmlNode* n) {
    xml_string_ptr value(xmlNodeGetContent(n));
    return value ? std::string(text_of(value.get())) : std::string();
}

bool allowed_signature_method(std::string_view uri) {
    return in(signature_methods, uri);
}

bool allowed_digest_method(std::string_view uri) {
    return in(digest_methods, uri);
}

ctx_ptr restricted_context() {
    ctx_ptr ctx(xmlSecDSigCtxCreate(nullptr)); // no keys manager: nothing to look up
    if (!ctx)
        throw error(errc::openssl_failure, "signature context");
    const std::array<xmlSecTransformId, 7> on_signed_info{
        xmlSecTransformExclC14NId,    xmlSecTransformRsaSha256Id,   xmlSecTransformRsaSha384Id,
        xmlSecTransformRsaSha512Id,   xmlSecTransformEcdsaSha256Id, xmlSecTransformEcdsaSha384Id,
        xmlSecTransformEcdsaSha512Id,
    };
    const std::array<xmlSecTransformId, 5> on_reference{
        xmlSecTransformEnvelopedId, xmlSecTransformExclC14NId, xmlSecTransformSha256Id,
        xmlSecTransformSha384Id,    xmlSecTransformSha512Id,
    };
    for (auto id : on_signed_info) {
        if (xmlSecDSigCtxEnableSignatureTransform(ctx.get(), id) < 0)
            throw error(errc::openssl_failure, "restricting signature transforms");
    }
    for (auto id : on_reference) {
        if (xmlSecDSigCtxEnableReferenceTransform(ctx.get(), id) < 0)
            throw error(errc::openssl_failure, "restricting reference transforms");
    }
    return ctx;
}

key_ptr public_key_of(X509* cert) {
    EVP_PKEY* pkey = X509_get_pubkey(cert); // a new reference, handed to xmlsec below
    if (!pkey)
        throw_openssl(errc::bad_certificate, "reading a certificate's key");
    xmlSecKeyDataPtr value = xmlSecOpenSSLEvpKeyAdopt(pkey);
    if (!value) {
        EVP_PKEY_free(pkey);
        throw error(errc::bad_certificate, "a key is not usable by xmlsec");
    }
    key_ptr key(xmlSecKeyCreate());
    if (!key || xmlSecKeySetValue(key.get(), value) < 0) {
        xmlSecKeyDataDestroy(value);
        throw error(errc::openssl_failure, "creating an xmlsec key");
    }
    return key;
}

} // namespace sceau::crypto::dsig
