#pragma once

#include "crypto/certificate.hpp"
#include "crypto/xml.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace sceau::crypto {

/// The XML-DSig algorithms a pinned verification accepts (W3C XML Signature 1.1 and
/// RFC 6931 URIs). Nothing else is ever run: no SHA-1, no XPath, XPointer or XSLT
/// transform, no inclusive or with-comments canonicalisation, no HMAC.
namespace dsig_algorithms {
inline constexpr std::string_view exc_c14n = "http://www.w3.org/2001/10/xml-exc-c14n#";
inline constexpr std::string_view enveloped =
    "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
inline constexpr std::string_view sha256 = "http://www.w3.org/2001/04/xmlenc#sha256";
inline constexpr std::string_view sha384 = "http://www.w3.org/2001/04/xmldsig-more#sha384";
inline constexpr std::string_view sha512 = "http://www.w3.org/2001/04/xmlenc#sha512";
inline constexpr std::string_view rsa_sha256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
inline constexpr std::string_view rsa_sha384 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384";
inline constexpr std::string_view rsa_sha512 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512";
inline constexpr std::string_view ecdsa_sha256 =
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256";
inline constexpr std::string_view ecdsa_sha384 =
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384";
inline constexpr std::string_view ecdsa_sha512 =
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512";
} // namespace dsig_algorithms

/// Verifies the enveloped ds:Signature that is a direct child of `element`, as SAML
/// (core section 5) and similar profiles use it, against pinned keys only.
///
/// Before xmlsec1 runs, the signature must have exactly this shape: one ds:Signature
/// child of `element`; SignedInfo with exclusive C14N and an allowed SignatureMethod;
/// exactly one Reference whose URI is "#" followed by the value of `element`'s
/// `id_attribute`; the transforms enveloped-signature then exclusive C14N (an
/// InclusiveNamespaces prefix list allowed); an allowed DigestMethod; no ds:Object.
/// The ID is registered on `element` alone; a document where that value already names
/// another node is refused. KeyInfo is never read: each key of `trusted` is set on the
/// context in turn, with no keys manager, only same-document references and only the
/// allowed transforms enabled. The signature holds only if the context's status says
/// so, not merely the return code.
///
/// Throws error with signature_missing, signature_malformed, signature_algorithm_refused,
/// signature_transform_refused, signature_reference_mismatch or signature_invalid.
void verify_enveloped_signature(xmlDoc* doc, xmlNode* element, std::string_view id_attribute,
                                const std::vector<x509_ptr>& trusted);

/// Signs `element` with an enveloped signature (RSA-SHA256 or ECDSA-SHA256 as the key
/// is, SHA-256 digest, exclusive C14N) placed right after `after` (or first when null),
/// with the signer's certificate in KeyInfo. `element` must carry `id_attribute`.
/// Throws error(signing_failed).
void sign_enveloped(xmlDoc* doc, xmlNode* element, std::string_view id_attribute, xmlNode* after,
                    const signer_identity& signer);

/// The SignatureMethod URI sign_enveloped() and sign_detached_bytes() use for `key`.
std::string_view signature_method_for(EVP_PKEY* key);

/// A signature over `data` with SHA-256, encoded as XML-DSig encodes SignatureValue:
/// PKCS#1 v1.5 for RSA, the concatenation r || s for ECDSA (RFC 4051 section 3.3).
/// For the SAML HTTP-Redirect binding (SAML bindings section 3.4.4.1).
bytes sign_detached_bytes(EVP_PKEY* key, std::string_view data);

} // namespace sceau::crypto
