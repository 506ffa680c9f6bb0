#include "crypto/xades.hpp"

#include "crypto/asic.hpp"
#include "crypto/dsig_support.hpp"
#include "crypto/encoding.hpp"
#include "crypto/error.hpp"
#include "crypto/sha256.hpp"

#include <libxml/uri.h>
#include <xmlsec/crypto.h>
#include <xmlsec/keys.h>
#include <xmlsec/openssl/evp.h>
#include <xmlsec/openssl/x509.h>
#include <xmlsec/templates.h>
#include <xmlsec/transforms.h>
#include <xmlsec/xmldsig.h>
#include <xmlsec/xmltree.h>

namespace sceau::crypto {
namespace {

constexpr const char* sha256_uri = "http://www.w3.org/2001/04/xmlenc#sha256";
constexpr const char* exc_c14n_uri = "http://www.w3.org/2001/10/xml-exc-c14n#";

using dsig::x;

[[noreturn]] void signing_failed(const std::string& what) {
    throw error(errc::signing_failed, what);
}

} // namespace

xades_signer::xades_signer(const signer_identity& seal, timestamp_authority& tsa)
    : key_(nullptr)
    , tsa_(tsa) {
    xml_library_init();
    for (const auto& c : seal.chain)
        chain_.push_back(clone(c.get()));
    certificate_der_ = to_der(seal.certificate());

    // The xmlsec key takes its own references to the OpenSSL key and certificates.
    EVP_PKEY_up_ref(seal.key.get());
    xmlSecKeyDataPtr value = xmlSecOpenSSLEvpKeyAdopt(seal.key.get());
    if (!value) {
        EVP_PKEY_free(seal.key.get());
        signing_failed("the seal key is not usable by xmlsec");
    }
    key_ = xmlSecKeyCreate();
    if (!key_ || xmlSecKeySetValue(key_, value) < 0) {
        xmlSecKeyDataDestroy(value);
        signing_failed("creating the xmlsec key");
    }
    xmlSecKeyDataPtr x509 = xmlSecKeyEnsureData(key_, xmlSecOpenSSLKeyDataX509Id);
    if (!x509)
        signing_failed("attaching certificates to the xmlsec key");
    // KeyInfo carries the seal certificate and its intermediates, not the trust anchor.
    for (const auto& c : chain_) {
        if (X509_check_issued(c.get(), c.get()) == X509_V_OK && &c != &chain_.front())
            continue;
        if (xmlSecOpenSSLKeyDataX509AdoptCert(x509, clone(c.get()).release()) < 0)
            signing_failed("attaching a certificate to the xmlsec key");
    }
}

xades_signer::~xades_signer() {
    for (auto* k : idle_keys_)
        xmlSecKeyDestroy(k);
    if (key_)
        xmlSecKeyDestroy(key_);
}

// Copying an xmlsec key re-reads its certificates, which costs more than the signature:
// each concurrent signature takes a copy from this pool and gives it back.
_xmlSecKey* xades_signer::acquire_key() {
    {
        std::lock_guard lock(keys_mutex_);
        if (!idle_keys_.empty()) {
            auto* k = idle_keys_.back();
            idle_keys_.pop_back();
            return k;
        }
    }
    auto* k = xmlSecKeyDuplicate(key_);
    if (!k)
        signing_failed("duplicating the seal key");
    return k;
}

void xades_signer::release_key(_xmlSecKey* key) {
    std::lock_guard lock(keys_mutex_);
    idle_keys_.push_back(key);
}

X509* xades_signer::certificate() const {
    return chain_.front().get();
}

xades_signer::sealed xades_signer::seal(xmlDoc* doc, const std::string& id,
                                        std::chrono::system_clock::time_point now) {
    xmlNode* root = xmlDocGetRootElement(doc);
    if (!root)
        signing_failed("empty document");
    auto stamp = sign(doc, root, id, now, {{"", true, "text/xml"}});
    return {serialize(doc), std::move(stamp)};
}

xades_signer::sealed xades_signer::seal_detached(const std::vector<detached_object>& objects,
                                                 const std::string& id,
                                                 std::chrono::system_clock::time_point now) {
    if (objects.empty())
        signing_failed("nothing to sign");
    xml_doc_ptr doc(xmlNewDoc(x("1.0")));
    xmlNode* root = xmlNewDocNode(doc.get(), nullptr, x("XAdESSignatures"), nullptr);
    xmlDocSetRootElement(doc.get(), root);
    std::string asic_ns(asic::signatures_ns);
    xmlSetNs(root, xmlNewNs(root, x(asic_ns.c_str()), x("asic")));

    // XML-DSig section 4.4.3.1: a URI reference, so each name is percent-encoded.
    std::vector<reference> references;
    for (const auto& o : objects) {
        xml_string_ptr escaped(xmlURIEscapeStr(x(o.uri.c_str()), x("/")));
        if (!escaped)
            signing_failed("escaping a URI");
        references.push_back({std::string(dsig::text_of(escaped.get())), false, o.media_type});
    }
    detached_objects_scope readable(objects);
    auto stamp = sign(doc.get(), root, id, now, references);
    return {serialize(doc.get()), std::move(stamp)};
}

timestamp_token xades_signer::sign(xmlDoc* doc, xmlNode* parent, const std::string& id,
                                   std::chrono::system_clock::time_point now,
                                   const std::vector<reference>& references) {
    const std::string sig_id = "sig-" + id;
    const std::string props_id = "sp-" + id;
    bool ec = EVP_PKEY_base_id(X509_get0_pubkey(certificate())) == EVP_PKEY_EC;

    // 1. ds:Signature template: the signed objects and the signed properties.
    xmlNode* sig = xmlSecTmplSignatureCreateNsPref(
        doc, xmlSecTransformExclC14NId,
        ec ? xmlSecTransformEcdsaSha256Id : xmlSecTransformRsaSha256Id, x(sig_id.c_str()), x("ds"));
    if (!sig)
        signing_failed("signature template");
    xmlAddChild(parent, sig);

    std::vector<std::string> ref_ids;
    for (std::size_t i = 0; i < references.size(); ++i) {
        const auto& r = references[i];
        ref_ids.push_back(references.size() == 1 ? "ref-" + id
                                                 : "ref-" + id + "-" + std::to_string(i + 1));
        xmlNode* ref = xmlSecTmplSignatureAddReference(
            sig, xmlSecTransformSha256Id, x(ref_ids.back().c_str()), x(r.uri.c_str()), nullptr);
        if (!ref)
            signing_failed("reference to " + r.uri);
        if (r.enveloped && (!xmlSecTmplReferenceAddTransform(ref, xmlSecTransformEnvelopedId) ||
                            !xmlSecTmplReferenceAddTransform(ref, xmlSecTransformExclC14NId)))
            signing_failed("document reference");
    }

    std::string props_uri = "#" + props_id;
    xmlNode* props_ref =
        xmlSecTmplSignatureAddReference(sig, xmlSecTransformSha256Id, nullptr, x(props_uri.c_str()),
                                        x(xades::signed_properties_type));
    if (!props_ref || !xmlSecTmplReferenceAddTransform(props_ref, xmlSecTransformExclC14NId))
        signing_failed("signed properties reference");

    xmlNode* key_info = xmlSecTmplSignatureEnsureKeyInfo(sig, nullptr);
    xmlNode* x509_data = key_info ? xmlSecTmplKeyInfoAddX509Data(key_info) : nullptr;
    if (!x509_data || !xmlSecTmplX509DataAddCertificate(x509_data))
        signing_failed("key info");

    // 2. xades:QualifyingProperties (EN 319 132-1 clauses 5.2.1, 5.2.2, 5.2.4).
    xmlNode* object = xmlSecTmplSignatureAddObject(sig, nullptr, nullptr, nullptr);
    if (!object)
        signing_failed("signature object");
    xmlNode* qp = add_element(object, nullptr, "QualifyingProperties");
    xmlNs* xa = xmlNewNs(qp, x(xades::ns), x("xades"));
    xmlSetNs(qp, xa);
    xmlNs* ds = xmlSearchNsByHref(doc, sig, x(dsig::ns));
    set_attribute(qp, "Target", "#" + sig_id);

    xmlNode* sp = add_element(qp, xa, "SignedProperties");
    xmlAttr* sp_id = xmlSetProp(sp, x("Id"), x(props_id.c_str()));
    xmlAddID(nullptr, doc, x(props_id.c_str()), sp_id); // so that "#sp-..." resolves

    xmlNode* ssp = add_element(sp, xa, "SignedSignatureProperties");
    auto whole_seconds = std::chrono::floor<std::chrono::seconds>(now);
    std::string signing_time = format_utc(whole_seconds);
    signing_time.replace(signing_time.size() - 5, 5, "Z"); // xsd:dateTime without .000
    add_text_element(ssp, xa, "SigningTime", signing_time);

    xmlNode* cert = add_element(add_element(ssp, xa, "SigningCertificateV2"), xa, "Cert");
    xmlNode* digest = add_element(cert, xa, "CertDigest");
    xmlNode* method = add_element(digest, ds, "DigestMethod");
    set_attribute(method, "Algorithm", sha256_uri);
    add_text_element(digest, ds, "DigestValue", to_base64(sha256::of(certificate_der_)));

    xmlNode* sdop = add_element(sp, xa, "SignedDataObjectProperties");
    for (std::size_t i = 0; i < references.size(); ++i) {
        xmlNode* format = add_element(sdop, xa, "DataObjectFormat");
        set_attribute(format, "ObjectReference", "#" + ref_ids[i]);
        add_text_element(format, xa, "MimeType", references[i].media_type);
    }

    // 3. Sign.
    dsig::ctx_ptr ctx(xmlSecDSigCtxCreate(nullptr));
    if (!ctx)
        signing_failed("signature context");
    // The context would destroy its key: lend it one from the pool and take it back.
    struct lent_key {
        xades_signer& owner;
        xmlSecDSigCtx& ctx;
        ~lent_key() {
            owner.release_key(ctx.signKey);
            ctx.signKey = nullptr;
        }
    };
    ctx->signKey = acquire_key();
    lent_key lent{*this, *ctx};
    if (xmlSecDSigCtxSign(ctx.get(), sig) < 0 || ctx->status != xmlSecDSigStatusSucceeded)
        throw_openssl(errc::signing_failed, "XML signature");

    // 4. SignatureTimeStamp over the exclusive-canonical ds:SignatureValue
    //    (EN 319 132-1 clause 5.3).
    xmlNode* value = xmlSecFindNode(sig, x("SignatureValue"), x(dsig::ns));
    if (!value)
        signing_failed("no SignatureValue after signing");
    auto stamp = tsa_.stamp(sha256::of(exclusive_c14n(doc, value)));

    xmlNode* usp =
        add_element(add_element(qp, xa, "UnsignedProperties"), xa, "UnsignedSignatureProperties");
    xmlNode* sts = add_element(usp, xa, "SignatureTimeStamp");
    set_attribute(sts, "Id", "ts-" + id);
    xmlNode* c14n = add_element(sts, ds, "CanonicalizationMethod");
    set_attribute(c14n, "Algorithm", exc_c14n_uri);
    add_text_element(sts, xa, "EncapsulatedTimeStamp", to_base64(stamp.der));
    return stamp;
}

} // namespace sceau::crypto
