#include "crypto/xmldsig.hpp"

#include "crypto/dsig_support.hpp"
#include "crypto/error.hpp"

#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <xmlsec/crypto.h>
#include <xmlsec/keys.h>
#include <xmlsec/openssl/evp.h>
#include <xmlsec/openssl/x509.h>
#include <xmlsec/templates.h>
#include <xmlsec/transforms.h>
#include <xmlsec/xmldsig.h>
#include <xmlsec/xmltree.h>

#include <algorithm>
#include <array>

namespace sceau::crypto {
namespace {

using dsig::attribute;
using dsig::element_children;
using dsig::is_dsig;
using dsig::text_of;
using dsig::x;
using ecdsa_sig_ptr = std::unique_ptr<ECDSA_SIG, c_deleter<ECDSA_SIG_free>>;

bool is_inclusive_namespaces(const xmlNode* n) {
    return dsig::is_element(n, dsig_algorithms::exc_c14n, "InclusiveNamespaces");
}

[[noreturn]] void refuse(errc code, const std::string& what) {
    throw error(code, what);
}

/// An algorithm element (CanonicalizationMethod, Transform...) may hold at most an
/// InclusiveNamespaces prefix list, and only where exclusive C14N is named.
void check_algorithm_children(xmlNode* n, bool may_list_prefixes) {
    auto children = element_children(n);
    if (children.empty())
        return;
    if (!may_list_prefixes || children.size() > 1 || !is_inclusive_namespaces(children.front()))
        refuse(errc::signature_malformed,
               "unexpected content in ds:" + std::string(text_of(n->name)));
}

/// Checks everything about the ds:Signature that can be checked without a key (see the
/// header); xmlsec1 then recomputes exactly what was checked here.
void check_shape(xmlNode* sig, const std::string& expected_uri) {
    auto parts = element_children(sig);
    if (parts.size() < 2 || parts.size() > 3 || !is_dsig(parts[0], "SignedInfo") ||
        !is_dsig(parts[1], "SignatureValue") ||
        (parts.size() == 3 && !is_dsig(parts[2], "KeyInfo")))
        refuse(errc::signature_malformed,
               "a signature holds SignedInfo, SignatureValue and at most KeyInfo (no ds:Object)");

    auto info = element_children(parts[0]);
    if (info.size() < 3 || !is_dsig(info[0], "CanonicalizationMethod") ||
        !is_dsig(info[1], "SignatureMethod"))
        refuse(errc::signature_malformed, "SignedInfo lacks its methods");
    if (info.size() != 3 || !is_dsig(info[2], "Reference"))
        refuse(errc::signature_malformed, "SignedInfo must hold exactly one Reference");

    if (attribute(info[0], "Algorithm") != dsig_algorithms::exc_c14n)
        refuse(errc::signature_transform_refused,
               "canonicalisation " + attribute(info[0], "Algorithm") + " is not exclusive C14N");
    check_algorithm_children(info[0], true);

    auto method = attribute(info[1], "Algorithm");
    if (!dsig::allowed_signature_method(method))
        refuse(errc::signature_algorithm_refused, "signature method " + method + " is not allowed");
    check_algorithm_children(info[1], false);

    // The reference: what is signed must be the element that carries the signature.
    xmlNode* ref = info[2];
    auto uri = attribute(ref, "URI");
    if (!xmlHasProp(ref, x("URI")) || uri != expected_uri)
        refuse(errc::signature_reference_mismatch,
               "the reference " + (uri.empty() ? std::string("(none)") : uri) +
                   " does not point at the signed element " + expected_uri);

    auto ref_parts = element_children(ref);
    if (ref_parts.size() != 3 || !is_dsig(ref_parts[0], "Transforms") ||
        !is_dsig(ref_parts[1], "DigestMethod") || !is_dsig(ref_parts[2], "DigestValue"))
        refuse(errc::signature_transform_refused,
               "the reference must name its transforms, digest method and digest value");

    auto transforms = element_children(ref_parts[0]);
    for (xmlNode* t : transforms) {
        auto alg = attribute(t, "Algorithm");
        if (!is_dsig(t, "Transform") ||
            (alg != dsig_algorithms::enveloped && alg != dsig_algorithms::exc_c14n))
            refuse(errc::signature_transform_refused, "transform " + alg + " is not allowed");
    }
    if (transforms.size() != 2 ||
        attribute(transforms[0], "Algorithm") != dsig_algorithms::enveloped ||
        attribute(transforms[1], "Algorithm") != dsig_algorithms::exc_c14n)
        refuse(errc::signature_transform_refused,
               "the transforms must be enveloped-signature then exclusive C14N");
    check_algorithm_children(transforms[0], false);
    check_algorithm_children(transforms[1], true);

    auto digest = attribute(ref_parts[1], "Algorithm");
    if (!dsig::allowed_digest_method(digest))
        refuse(errc::signature_algorithm_refused, "digest method " + digest + " is not allowed");
    check_algorithm_children(ref_parts[1], false);
}

/// Makes "#value" resolve to `element` and to nothing else.
void register_id(xmlDoc* doc, xmlNode* element, std::string_view id_attribute,
                 const std::string& value) {
    std::string name(id_attribute);
    xmlAttr* attr = xmlHasNsProp(element, x(name.c_str()), nullptr);
    xmlAttr* existing = xmlGetID(doc, x(value.c_str()));
    if (existing == attr)
        return;
    if (existing || !xmlAddID(nullptr, doc, x(value.c_str()), attr))
        refuse(errc::signature_reference_mismatch, "the ID " + value + " names another node");
}

/// One verification of `sig` with `cert`'s key set on the context beforehand.
bool verified_with(xmlNode* sig, X509* cert, const std::string& expected_uri) {
    auto ctx = dsig::restricted_context();
    ctx->enabledReferenceUris = xmlSecTransformUriTypeSameDocument;
    ctx->flags |=
        XMLSEC_DSIG_FLAGS_IGNORE_MANIFESTS | XMLSEC_DSIG_FLAGS_STORE_SIGNEDINFO_REFERENCES;
    ctx->signKey = dsig::public_key_of(cert).release(); // the context owns it from here

    // The return code only says that processing ran; a digest or signature mismatch
    // still returns 0 with status invalid.
    int rc = xmlSecDSigCtxVerify(ctx.get(), sig);
    ERR_clear_error();
    if (rc < 0 || ctx->status != xmlSecDSigStatusSucceeded)
        return false;

    // What xmlsec digested must be the one reference checked above.
    if (xmlSecPtrListGetSize(&ctx->signedInfoReferences) != 1)
        return false;
    auto* ref =
        static_cast<xmlSecDSigReferenceCtx*>(xmlSecPtrListGetItem(&ctx->signedInfoReferences, 0));
    return ref && ref->status == xmlSecDSigStatusSucceeded && text_of(ref->uri) == expected_uri;
}

dsig::key_ptr signing_key(const signer_identity& signer) {
    EVP_PKEY_up_ref(signer.key.get()); // xmlsec takes this reference
    xmlSecKeyDataPtr value = xmlSecOpenSSLEvpKeyAdopt(signer.key.get());
    if (!value) {
        EVP_PKEY_free(signer.key.get());
        throw error(errc::signing_failed, "the key is not usable by xmlsec");
    }
    dsig::key_ptr key(xmlSecKeyCreate());
    if (!key || xmlSecKeySetValue(key.get(), value) < 0) {
        xmlSecKeyDataDestroy(value);
        throw error(errc::signing_failed, "creating the xmlsec key");
    }
    xmlSecKeyDataPtr x509 = xmlSecKeyEnsureData(key.get(), xmlSecOpenSSLKeyDataX509Id);
    if (!x509 || xmlSecOpenSSLKeyDataX509AdoptCert(x509, clone(signer.certificate()).release()) < 0)
        throw error(errc::signing_failed, "attaching the certificate to the xmlsec key");
    return key;
}

} // namespace

void verify_enveloped_signature(xmlDoc* doc, xmlNode* element, std::string_view id_attribute,
                                const std::vector<x509_ptr>& trusted) {
    xml_library_init();
    xmlNode* sig = nullptr;
    for (xmlNode* c : element_children(element)) {
        if (!is_dsig(c, "Signature"))
            continue;
        if (sig)
            refuse(errc::signature_malformed, "more than one signature on one element");
        sig = c;
    }
    if (!sig)
        refuse(errc::signature_missing, "the element is not signed");

    std::string id = attribute(element, std::string(id_attribute).c_str());
    if (id.empty())
        refuse(errc::signature_reference_mismatch, "the signed element has no ID");
    std::string expected_uri = "#" + id;
    check_shape(sig, expected_uri);
    register_id(doc, element, id_attribute, id);

    for (const auto& cert : trusted) {
        if (verified_with(sig, cert.get(), expected_uri))
            return;
    }
    refuse(errc::signature_invalid, "the signature does not verify with a trusted key");
}

std::string_view signature_method_for(EVP_PKEY* key) {
    switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA:
        return dsig_algorithms::rsa_sha256;
    case EVP_PKEY_EC:
        return dsig_algorithms::ecdsa_sha256;
    default:
        throw error(errc::bad_key, "only RSA and EC keys sign XML");
    }
}

void sign_enveloped(xmlDoc* doc, xmlNode* element, std::string_view id_attribute, xmlNode* after,
                    const signer_identity& signer) {
    xml_library_init();
    std::string id = attribute(element, std::string(id_attribute).c_str());
    if (id.empty())
        throw error(errc::signing_failed, "the element to sign has no ID");
    register_id(doc, element, id_attribute, id);

    bool ec = signature_method_for(signer.key.get()) == dsig_algorithms::ecdsa_sha256;
    xmlNode* sig = xmlSecTmplSignatureCreateNsPref(
        doc, xmlSecTransformExclC14NId,
        ec ? xmlSecTransformEcdsaSha256Id : xmlSecTransformRsaSha256Id, nullptr, x("ds"));
    if (!sig)
        throw error(errc::signing_failed, "signature template");
    if (after)
        xmlAddNextSibling(after, sig);
    else if (element->children)
        xmlAddPrevSibling(element->children, sig);
    else
        xmlAddChild(element, sig);

    std::string uri = "#" + id;
    xmlNode* ref = xmlSecTmplSignatureAddReference(sig, xmlSecTransformSha256Id, nullptr,
                                                   x(uri.c_str()), nullptr);
    if (!ref || !xmlSecTmplReferenceAddTransform(ref, xmlSecTransformEnvelopedId) ||
        !xmlSecTmplReferenceAddTransform(ref, xmlSecTransformExclC14NId))
        throw error(errc::signing_failed, "signature reference");
    xmlNode* key_info = xmlSecTmplSignatureEnsureKeyInfo(sig, nullptr);
    xmlNode* x509_data = key_info ? xmlSecTmplKeyInfoAddX509Data(key_info) : nullptr;
    if (!x509_data || !xmlSecTmplX509DataAddCertificate(x509_data))
        throw error(errc::signing_failed, "key info");

    dsig::ctx_ptr ctx(xmlSecDSigCtxCreate(nullptr));
    if (!ctx)
        throw error(errc::signing_failed, "signature context");
    ctx->signKey = signing_key(signer).release(); // the context owns it from here
    if (xmlSecDSigCtxSign(ctx.get(), sig) < 0 || ctx->status != xmlSecDSigStatusSucceeded)
        throw_openssl(errc::signing_failed, "XML signature");
}

bytes sign_detached_bytes(EVP_PKEY* key, std::string_view data) {
    bool ec = signature_method_for(key) == dsig_algorithms::ecdsa_sha256;
    evp_md_ctx_ptr ctx(EVP_MD_CTX_new());
    std::size_t size = 0;
    if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) != 1 ||
        EVP_DigestSign(ctx.get(), nullptr, &size,
                       reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1)
        throw_openssl(errc::signing_failed, "signing");
    bytes der(size);
    if (EVP_DigestSign(ctx.get(), der.data(), &size,
                       reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1)
        throw_openssl(errc::signing_failed, "signing");
    der.resize(size);
    if (!ec)
        return der;

    // ECDSA: DER SEQUENCE { r, s } to r || s, each as wide as the group order.
    const unsigned char* p = der.data();
    ecdsa_sig_ptr parsed(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())));
    if (!parsed)
        throw_openssl(errc::signing_failed, "reading the ECDSA signature");
    auto width = static_cast<std::size_t>((EVP_PKEY_get_bits(key) + 7) / 8);
    bytes out(2 * width);
    if (BN_bn2binpad(ECDSA_SIG_get0_r(parsed.get()), out.data(), static_cast<int>(width)) < 0 ||
        BN_bn2binpad(ECDSA_SIG_get0_s(parsed.get()), out.data() + width, static_cast<int>(width)) <
            0)
        throw_openssl(errc::signing_failed, "encoding the ECDSA signature");
    return out;
}

} // namespace sceau::crypto
