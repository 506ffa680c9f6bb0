#include "crypto/xades_verifier.hpp"

#include "crypto/certificate.hpp"
#include "crypto/dsig_support.hpp"
#include "crypto/encoding.hpp"
#include "crypto/error.hpp"
#include "crypto/xades.hpp"
#include "crypto/xmldsig.hpp"

#include <libxml/uri.h>
#include <openssl/err.h>
#include <xmlsec/transforms.h>
#include <xmlsec/xmldsig.h>

#include <ctime>

namespace sceau::crypto {
namespace {

using dsig::attribute;
using dsig::element_children;
using dsig::is_dsig;
using dsig::text_of;
using dsig::x;
using x509_store_ctx_ptr = std::unique_ptr<X509_STORE_CTX, c_deleter<X509_STORE_CTX_free>>;

[[noreturn]] void refuse(errc code, const std::string& what) {
    throw error(code, what);
}

bool is_xades(const xmlNode* n, std::string_view local) {
    return dsig::is_element(n, xades::ns, local);
}

xmlNode* only_child(xmlNode* parent, std::string_view local, const char* where) {
    xmlNode* found = nullptr;
    for (xmlNode* c : element_children(parent)) {
        if (!is_xades(c, local))
            continue;
        if (found)
            refuse(errc::signature_malformed,
                   std::string(where) + " holds more than one " + std::string(local));
        found = c;
    }
    return found;
}

struct reference_shape {
    std::string uri; ///< unescaped for detached objects
    bool properties; ///< the SignedProperties reference
};

std::vector<std::string> transforms_of(xmlNode* transforms) {
    std::vector<std::string> out;
    for (xmlNode* t : element_children(transforms)) {
        if (!is_dsig(t, "Transform") || !element_children(t).empty())
            refuse(errc::signature_transform_refused, "a transform with parameters is not allowed");
        out.push_back(attribute(t, "Algorithm"));
    }
    return out;
}

/// SignedInfo as Sceau's signatures make it (see the header).
std::vector<reference_shape> check_signed_info(xmlNode* info, bool enveloped) {
    auto parts = element_children(info);
    if (parts.size() < 3 || !is_dsig(parts[0], "CanonicalizationMethod") ||
        !is_dsig(parts[1], "SignatureMethod"))
        refuse(errc::signature_malformed, "SignedInfo lacks its methods");
    if (attribute(parts[0], "Algorithm") != dsig_algorithms::exc_c14n ||
        !element_children(parts[0]).empty())
        refuse(errc::signature_transform_refused,
               "canonicalisation " + attribute(parts[0], "Algorithm") + " is not exclusive C14N");
    auto method = attribute(parts[1], "Algorithm");
    if (!dsig::allowed_signature_method(method))
        refuse(errc::signature_algorithm_refused, "signature method " + method + " is not allowed");

    std::vector<reference_shape> out;
    std::size_t properties = 0;
    for (std::size_t i = 2; i < parts.size(); ++i) {
        xmlNode* ref = parts[i];
        if (!is_dsig(ref, "Reference") || !xmlHasProp(ref, x("URI")))
            refuse(errc::signature_malformed, "SignedInfo holds something other than references");
        auto uri = attribute(ref, "URI");
        auto type = attribute(ref, "Type");
        auto inner = element_children(ref);
        std::vector<std::string> transforms;
        std::size_t at = 0;
        if (!inner.empty() && is_dsig(inner[0], "Transforms"))
            transforms = transforms_of(inner[at++]);
        if (inner.size() != at + 2 || !is_dsig(inner[at], "DigestMethod") ||
            !is_dsig(inner[at + 1], "DigestValue"))
            refuse(errc::signature_malformed, "reference " + uri + " lacks its digest");
        auto digest = attribute(inner[at], "Algorithm");
        if (!dsig::allowed_digest_method(digest))
            refuse(errc::signature_algorithm_refused,
                   "digest method " + digest + " is not allowed");

        if (type == xades::signed_properties_type) {
            // EN 319 132-1 clause 4.4: SignedProperties is signed by a reference of this type.
            if (uri.size() < 2 || uri.front() != '#')
                refuse(errc::signature_reference_mismatch,
                       "the SignedProperties reference does not point into the signature");
            if (!transforms.empty() &&
                (transforms.size() != 1 || transforms[0] != dsig_algorithms::exc_c14n))
                refuse(errc::signature_transform_refused,
                       "the SignedProperties reference may only be canonicalised");
            ++properties;
            out.push_back({uri.substr(1), true});
            continue;
        }
        if (!uri.empty() && uri.front() == '#')
            refuse(errc::signature_reference_mismatch,
                   "the reference to " + uri + " is not typed " + xades::signed_properties_type +
                       ": not a conformant XAdES signature (EN 319 132-1 clause 4.4)");
        if (enveloped) {
            if (!uri.empty() || transforms.size() != 2 ||
                transforms[0] != dsig_algorithms::enveloped ||
                transforms[1] != dsig_algorithms::exc_c14n)
                refuse(errc::signature_transform_refused,
                       "the document reference must be URI=\"\" with enveloped-signature then "
                       "exclusive C14N");
            out.push_back({"", false});
            continue;
        }
        if (uri.empty() || uri.find('#') != std::string::npos || !transforms.empty())
            refuse(errc::signature_transform_refused,
                   "a detached reference names a whole object, without transform: " + uri);
        char* plain = xmlURIUnescapeString(uri.c_str(), 0, nullptr);
        out.push_back({plain ? std::string(plain) : uri, false});
        xmlFree(plain);
    }
    if (properties != 1)
        refuse(errc::signature_malformed,
               properties == 0
                   ? "no reference typed SignedProperties: the signed properties are unsigned"
                   : "more than one reference typed SignedProperties");
    std::size_t data = out.size() - properties;
    if (data == 0 || (enveloped && data != 1))
        refuse(errc::signature_malformed, enveloped
                                              ? "an enveloped seal signs exactly one document"
                                              : "a detached signature signs at least one object");
    return out;
}

/// Every element of the document whose Id, ID or id attribute is `value`.
std::size_t elements_with_id(xmlNode* node, const std::string& value) {
    std::size_t n = 0;
    for (; node; node = node->next) {
        if (node->type != XML_ELEMENT_NODE)
            continue;
        for (xmlAttr* a = node->properties; a; a = a->next) {
            auto name = text_of(a->name);
            if ((name == "Id" || name == "ID" || name == "id") && !a->ns) {
                xml_string_ptr v(xmlNodeListGetString(node->doc, a->children, 1));
                n += v && text_of(v.get()) == value ? 1 : 0;
            }
        }
        n += elements_with_id(node->children, value);
    }
    return n;
}

bytes base64_of(xmlNode* n, const char* what) {
    try {
        return from_base64(dsig::text(n));
    } catch (const error&) {
        refuse(errc::signature_malformed, std::string(what) + " is not base64");
    }
}

const EVP_MD* digest_for(const std::string& uri) {
    if (uri == dsig_algorithms::sha256)
        return EVP_sha256();
    if (uri == dsig_algorithms::sha384)
        return EVP_sha384();
    if (uri == dsig_algorithms::sha512)
        return EVP_sha512();
    refuse(errc::signature_algorithm_refused, "certificate digest " + uri + " is not allowed");
}

bool digest_matches(X509* cert, const EVP_MD* md, const bytes& expected) {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (X509_digest(cert, md, out, &n) != 1)
        throw_openssl(errc::openssl_failure, "certificate digest");
    return n == expected.size() && std::equal(out, out + n, expected.begin());
}

time_t time_of(const ASN1_TIME* t) {
    std::tm tm{};
    if (ASN1_TIME_to_tm(t, &tm) != 1)
        throw_openssl(errc::bad_certificate, "reading a certificate's validity");
    return timegm(&tm);
}

int digits(std::string_view s, std::size_t at, std::size_t n) {
    int v = 0;
    for (std::size_t i = at; i < at + n; ++i) {
        if (i >= s.size() || s[i] < '0' || s[i] > '9')
            throw error(errc::bad_encoding, "not an xsd:dateTime");
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

} // namespace

std::chrono::system_clock::time_point parse_xsd_datetime(std::string_view s) {
    // XML Schema 1.0 part 2, 3.2.7: YYYY-MM-DDThh:mm:ss(.s+)?(Z|(+|-)hh:mm)?
    if (s.size() < 19 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':')
        throw error(errc::bad_encoding, "not an xsd:dateTime");
    std::tm tm{};
    tm.tm_year = digits(s, 0, 4) - 1900;
    tm.tm_mon = digits(s, 5, 2) - 1;
    tm.tm_mday = digits(s, 8, 2);
    tm.tm_hour = digits(s, 11, 2);
    tm.tm_min = digits(s, 14, 2);
    tm.tm_sec = digits(s, 17, 2);
    if (tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
        tm.tm_sec > 59)
        throw error(errc::bad_encoding, "not an xsd:dateTime");

    std::size_t at = 19;
    std::chrono::microseconds fraction{0};
    if (at < s.size() && s[at] == '.') {
        long long scale = 100000;
        std::size_t start = ++at;
        while (at < s.size() && s[at] >= '0' && s[at] <= '9') {
            fraction += std::chrono::microseconds((s[at] - '0') * scale);
            scale /= 10;
            ++at;
        }
        if (at == start)
            throw error(errc::bad_encoding, "not an xsd:dateTime");
    }
    std::chrono::seconds offset{0};
    if (at < s.size() && s[at] == 'Z') {
        ++at;
    } else if (at < s.size() && (s[at] == '+' || s[at] == '-')) {
        if (at + 6 > s.size() || s[at + 3] != ':')
            throw error(errc::bad_encoding, "not an xsd:dateTime");
        int hours = digits(s, at + 1, 2), minutes = digits(s, at + 4, 2);
        if (hours > 14 || minutes > 59)
            throw error(errc::bad_encoding, "not an xsd:dateTime");
        offset = std::chrono::hours(hours) + std::chrono::minutes(minutes);
        if (s[at] == '-')
            offset = -offset;
        at += 6;
    }
    if (at != s.size())
        throw error(errc::bad_encoding,
                    "not an xsd:dateTime: more than one time zone or trailing text");
    return std::chrono::system_clock::from_time_t(timegm(&tm)) + fraction - offset;
}

xades_verifier::xades_verifier(std::vector<x509_ptr> anchors)
    : anchors_(std::move(anchors))
    , store_(make_store(anchors_)) {
    xml_library_init();
    X509_STORE_set_flags(store_.get(), X509_V_FLAG_PARTIAL_CHAIN); // an anchor need not be a root
}

xades_verified xades_verifier::verify_enveloped(xmlDoc* doc) const {
    xmlNode* root = xmlDocGetRootElement(doc);
    xmlNode* sig = nullptr;
    for (xmlNode* c : root ? element_children(root) : std::vector<xmlNode*>{}) {
        if (is_dsig(c, "Signature")) {
            if (sig)
                refuse(errc::signature_malformed, "more than one signature on the document");
            sig = c;
        }
    }
    if (!sig)
        refuse(errc::signature_missing, "the document is not sealed");
    return verify(doc, sig, true, nullptr);
}

xades_verified xades_verifier::verify_detached(xmlDoc* doc, xmlNode* signature,
                                               const std::vector<detached_object>& objects) const {
    return verify(doc, signature, false, &objects);
}

xades_verifier::path_check xades_verifier::check_path(X509* signer,
                                                      const std::vector<x509_ptr>& carried) const {
    auto fingerprint = fingerprint_sha256(signer);
    {
        std::lock_guard lock(mutex_);
        if (auto it = checked_.find(fingerprint); it != checked_.end())
            return it->second;
    }

    x509_stack_ptr untrusted(sk_X509_new_null());
    for (const auto& c : carried) {
        auto ref = clone(c.get());
        if (!untrusted || sk_X509_push(untrusted.get(), ref.get()) <= 0)
            throw_openssl(errc::openssl_failure, "certificate list");
        ref.release(); // the stack owns it now
    }
    x509_store_ctx_ptr ctx(X509_STORE_CTX_new());
    if (!ctx || X509_STORE_CTX_init(ctx.get(), store_.get(), signer, untrusted.get()) != 1)
        throw_openssl(errc::openssl_failure, "certificate verification context");
    // Validity is compared with the signing time below, not with today.
    X509_STORE_CTX_set_flags(ctx.get(), X509_V_FLAG_NO_CHECK_TIME);
    path_check out;
    if (X509_verify_cert(ctx.get()) != 1) {
        out.problem = "the seal certificate " + subject_text(signer) + " is not trusted: " +
                      X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()));
        ERR_clear_error();
        return out; // not remembered: a failure is rare and its message names the case
    }
    STACK_OF(X509)* chain = X509_STORE_CTX_get0_chain(ctx.get());
    out.not_before = 0;
    out.not_after = std::numeric_limits<time_t>::max();
    for (int i = 0; i < sk_X509_num(chain); ++i) {
        X509* c = sk_X509_value(chain, i);
        out.not_before = std::max(out.not_before, time_of(X509_get0_notBefore(c)));
        out.not_after = std::min(out.not_after, time_of(X509_get0_notAfter(c)));
    }
    std::lock_guard lock(mutex_);
    checked_.emplace(fingerprint, out);
    return out;
}

xades_verified xades_verifier::verify(xmlDoc* doc, xmlNode* sig, bool enveloped,
                                      const std::vector<detached_object>* objects) const {
    // 1. The shape: SignedInfo, SignatureValue, KeyInfo, then the objects.
    auto parts = element_children(sig);
    if (parts.size() < 4 || !is_dsig(parts[0], "SignedInfo") ||
        !is_dsig(parts[1], "SignatureValue") || !is_dsig(parts[2], "KeyInfo"))
        refuse(errc::signature_malformed,
               "a seal holds SignedInfo, SignatureValue, KeyInfo and its qualifying properties");
    auto references = check_signed_info(parts[0], enveloped);
    std::string properties_id;
    for (const auto& r : references) {
        if (r.properties)
            properties_id = r.uri;
    }

    // 2. The one QualifyingProperties, and the SignedProperties the typed reference names.
    auto sig_id = attribute(sig, "Id");
    xmlNode* qualifying = nullptr;
    for (std::size_t i = 3; i < parts.size(); ++i) {
        if (!is_dsig(parts[i], "Object"))
            refuse(errc::signature_malformed, "unexpected element after KeyInfo");
        for (xmlNode* c : element_children(parts[i])) {
            if (!is_xades(c, "QualifyingProperties"))
                continue;
            if (qualifying)
                refuse(errc::signature_malformed,
                       "more than one QualifyingProperties: which one is signed is ambiguous");
            qualifying = c;
        }
    }
    if (!qualifying)
        refuse(errc::signature_malformed, "no xades:QualifyingProperties");
    if (sig_id.empty() || attribute(qualifying, "Target") != "#" + sig_id)
        refuse(errc::signature_reference_mismatch,
               "the QualifyingProperties do not target this signature");
    xmlNode* signed_props = only_child(qualifying, "SignedProperties", "QualifyingProperties");
    if (!signed_props || attribute(signed_props, "Id") != properties_id)
        refuse(errc::signature_reference_mismatch,
               "the SignedProperties reference #" + properties_id +
                   " does not point at the signature's SignedProperties");
    if (elements_with_id(xmlDocGetRootElement(doc), properties_id) != 1)
        refuse(errc::signature_reference_mismatch,
               "the ID " + properties_id + " names more than one element");
    xmlAttr* id_attr = xmlHasNsProp(signed_props, x("Id"), nullptr);
    xmlAttr* registered = xmlGetID(doc, x(properties_id.c_str()));
    if (registered != id_attr &&
        (registered || !xmlAddID(nullptr, doc, x(properties_id.c_str()), id_attr)))
        refuse(errc::signature_reference_mismatch, "the ID " + properties_id + " is taken");

    // 3. What the signed properties say: when, and by which certificate.
    xmlNode* ssp = only_child(signed_props, "SignedSignatureProperties", "SignedProperties");
    xmlNode* when = ssp ? only_child(ssp, "SigningTime", "SignedSignatureProperties") : nullptr;
    xmlNode* cert_v2 =
        ssp ? only_child(ssp, "SigningCertificateV2", "SignedSignatureProperties") : nullptr;
    if (!when || !cert_v2)
        refuse(errc::signature_malformed,
               "SignedSignatureProperties must hold SigningTime and SigningCertificateV2");
    xades_verified out;
    try {
        out.signing_time = parse_xsd_datetime(dsig::text(when));
    } catch (const error&) {
        refuse(errc::signature_malformed, "SigningTime is not an xsd:dateTime");
    }
    xmlNode* cert = only_child(cert_v2, "Cert", "SigningCertificateV2");
    xmlNode* digest = cert ? only_child(cert, "CertDigest", "Cert") : nullptr;
    auto digest_parts = digest ? element_children(digest) : std::vector<xmlNode*>{};
    if (digest_parts.size() != 2 || !is_dsig(digest_parts[0], "DigestMethod") ||
        !is_dsig(digest_parts[1], "DigestValue"))
        refuse(errc::signature_malformed, "SigningCertificateV2 lacks its certificate digest");
    const EVP_MD* md = digest_for(attribute(digest_parts[0], "Algorithm"));
    auto expected = base64_of(digest_parts[1], "the certificate digest");

    // 4. The certificates carried in KeyInfo; the signer is the one the properties name.
    std::vector<x509_ptr> carried;
    for (xmlNode* data : element_children(parts[2])) {
        if (!is_dsig(data, "X509Data"))
            continue;
        for (xmlNode* c : element_children(data)) {
            if (!is_dsig(c, "X509Certificate"))
                continue;
            auto der = base64_of(c, "an X509Certificate");
            try {
                carried.push_back(certificates_.decode(der));
            } catch (const error&) {
                refuse(errc::signature_malformed, "a KeyInfo certificate is not DER");
            }
        }
    }
    for (const auto& c : carried) {
        if (digest_matches(c.get(), md, expected)) {
            out.signer = clone(c.get());
            break;
        }
    }
    if (!out.signer)
        refuse(errc::signature_reference_mismatch,
               "SigningCertificateV2 names none of the certificates in KeyInfo");
    auto path = check_path(out.signer.get(), carried);
    if (!path.problem.empty())
        refuse(errc::signature_invalid, path.problem);
    auto signed_at = std::chrono::system_clock::to_time_t(out.signing_time);
    if (signed_at < path.not_before || signed_at > path.not_after)
        refuse(errc::signature_invalid, "the seal certificate " + subject_text(out.signer.get()) +
                                            " was not valid at the signing time");

    // 5. The signature itself, with the signer's key alone.
    auto ctx = dsig::restricted_context();
    // xmlsec1 calls a relative URI "remote"; it can reach only the objects given here,
    // since no other input handler is registered (xml_library_init).
    ctx->enabledReferenceUris = static_cast<xmlSecTransformUriType>(
        xmlSecTransformUriTypeSameDocument |
        (enveloped ? xmlSecTransformUriTypeEmpty : xmlSecTransformUriTypeRemote));
    ctx->flags |=
        XMLSEC_DSIG_FLAGS_IGNORE_MANIFESTS | XMLSEC_DSIG_FLAGS_STORE_SIGNEDINFO_REFERENCES;
    ctx->signKey = dsig::public_key_of(out.signer.get()).release(); // the context owns it
    int rc = 0;
    if (objects) {
        detached_objects_scope readable(*objects);
        rc = xmlSecDSigCtxVerify(ctx.get(), sig);
    } else {
        rc = xmlSecDSigCtxVerify(ctx.get(), sig);
    }
    ERR_clear_error();
    // The return code only says that processing ran; a mismatch leaves status invalid.
    if (rc < 0 && objects)
        refuse(errc::signature_invalid, "a signed object is missing or unreadable");
    if (rc < 0 || ctx->status != xmlSecDSigStatusSucceeded) {
        for (xmlSecSize i = 0; i < xmlSecPtrListGetSize(&ctx->signedInfoReferences); ++i) {
            auto* ref = static_cast<xmlSecDSigReferenceCtx*>(
                xmlSecPtrListGetItem(&ctx->signedInfoReferences, i));
            if (ref && ref->status != xmlSecDSigStatusSucceeded && i < references.size())
                refuse(errc::signature_invalid,
                       references[i].properties
                           ? "the signed properties were changed after signing"
                           : "the digest of " +
                                 (references[i].uri.empty() ? std::string("the document")
                                                            : references[i].uri) +
                                 " differs: it was changed after signing");
        }
        refuse(errc::signature_invalid, "the signature value does not verify with the "
                                        "certificate's key");
    }
    if (xmlSecPtrListGetSize(&ctx->signedInfoReferences) != references.size())
        refuse(errc::signature_invalid, "not every reference was checked");
    for (xmlSecSize i = 0; i < references.size(); ++i) {
        auto* ref = static_cast<xmlSecDSigReferenceCtx*>(
            xmlSecPtrListGetItem(&ctx->signedInfoReferences, i));
        if (!ref || ref->status != xmlSecDSigStatusSucceeded)
            refuse(errc::signature_invalid, "the digest of " + references[i].uri + " differs");
        if (!references[i].properties)
            out.references.push_back(references[i].uri);
    }

    // 6. The SignatureTimeStamp, if any, and what it must cover (EN 319 132-1 clause 5.3).
    xmlNode* value = parts[1];
    out.timestamp_imprint = sha256::of(exclusive_c14n(doc, value));
    xmlNode* unsigned_props = only_child(qualifying, "UnsignedProperties", "QualifyingProperties");
    xmlNode* usp = unsigned_props ? only_child(unsigned_props, "UnsignedSignatureProperties",
                                               "UnsignedProperties")
                                  : nullptr;
    xmlNode* stamp = nullptr;
    for (xmlNode* c : usp ? element_children(usp) : std::vector<xmlNode*>{}) {
        if (is_xades(c, "SignatureTimeStamp")) {
            stamp = c;
            break;
        }
    }
    if (stamp) {
        for (xmlNode* c : element_children(stamp)) {
            if (is_dsig(c, "CanonicalizationMethod") &&
                attribute(c, "Algorithm") != dsig_algorithms::exc_c14n)
                refuse(errc::signature_transform_refused,
                       "the SignatureTimeStamp is not over the exclusive canonical form");
        }
        xmlNode* token = only_child(stamp, "EncapsulatedTimeStamp", "SignatureTimeStamp");
        if (!token)
            refuse(errc::signature_malformed, "SignatureTimeStamp without EncapsulatedTimeStamp");
        out.signature_timestamp = base64_of(token, "EncapsulatedTimeStamp");
    }
    return out;
}

} // namespace sceau::crypto
