#include "crypto/timestamp_verifier.hpp"

#include "crypto/encoding.hpp"
#include "crypto/tsp_support.hpp"

#include <openssl/asn1t.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <limits>
#include <optional>

namespace sceau::crypto {
namespace {

using namespace tsp;
using octets = std::span<const std::uint8_t>;
using x509_store_ctx_ptr = std::unique_ptr<X509_STORE_CTX, c_deleter<X509_STORE_CTX_free>>;
using x509_crl_ptr = std::unique_ptr<X509_CRL, c_deleter<X509_CRL_free>>;
using general_name_ptr = std::unique_ptr<GENERAL_NAME, c_deleter<GENERAL_NAME_free>>;
using issuer_and_serial_ptr =
    std::unique_ptr<PKCS7_ISSUER_AND_SERIAL, c_deleter<PKCS7_ISSUER_AND_SERIAL_free>>;

// The direct path reads a token without its certificates, as the library path does, with
// OpenSSL's DER decoder and the ASN.1 below: a TimeStampToken (RFC 3161 section 2.4.2) as
// RFC 5652 section 5 defines SignedData, with the fields of OpenSSL's PKCS7 and TS_TST_INFO
// templates but for two read as their bytes and checked apart. The signer's issuer and
// serial are compared with the candidates' bytes, and decoded only when no candidate has
// the same; the TSTInfo's TSA name is decoded the first time its bytes are met. Decoding a
// Name is most of the cost of d2i_PKCS7 once the certificates are left out, and a token
// holds two: each TSA signs them all alike.

/// SignerInfo ::= SEQUENCE { version, sid, digestAlgorithm, signedAttrs [0] IMPLICIT SET OF
///   Attribute OPTIONAL, signatureAlgorithm, signature OCTET STRING, unsignedAttrs [1]
///   IMPLICIT SET OF Attribute OPTIONAL }, the sid an IssuerAndSerialNumber (a SEQUENCE, as
///   OpenSSL's PKCS#7 code also requires).
struct signer_info_asn1 {
    ASN1_INTEGER* version;
    ASN1_STRING* sid;
    X509_ALGOR* digest_algorithm;
    STACK_OF(X509_ATTRIBUTE) * signed_attributes;
    X509_ALGOR* signature_algorithm;
    ASN1_OCTET_STRING* signature;
    STACK_OF(X509_ATTRIBUTE) * unsigned_attributes;
};

/// EncapsulatedContentInfo ::= SEQUENCE { eContentType, eContent [0] EXPLICIT OCTET STRING
///   OPTIONAL }
struct encapsulated_asn1 {
    ASN1_OBJECT* type;
    ASN1_OCTET_STRING* content;
};

/// SignedData ::= SEQUENCE { version, digestAlgorithms SET OF, encapContentInfo,
///   certificates [0] IMPLICIT OPTIONAL, crls [1] IMPLICIT OPTIONAL, signerInfos SET OF },
///   read once the certificates are taken out (token_layout)
struct signed_data_asn1 {
    ASN1_INTEGER* version;
    STACK_OF(X509_ALGOR) * digest_algorithms;
    encapsulated_asn1* encapsulated;
    OPENSSL_STACK* crls;         ///< of ASN1_TYPE
    OPENSSL_STACK* signer_infos; ///< of signer_info_asn1
};

/// ContentInfo ::= SEQUENCE { contentType, content [0] EXPLICIT SignedData }
struct token_asn1 {
    ASN1_OBJECT* type;
    signed_data_asn1* signed_data;
};

/// MessageImprint ::= SEQUENCE { hashAlgorithm AlgorithmIdentifier, hashedMessage }
struct imprint_asn1 {
    X509_ALGOR* algorithm;
    ASN1_OCTET_STRING* digest;
};

/// Accuracy ::= SEQUENCE { seconds INTEGER OPTIONAL, millis [0] INTEGER OPTIONAL,
///   micros [1] INTEGER OPTIONAL }, the tags implicit
struct accuracy_asn1 {
    ASN1_INTEGER* seconds;
    ASN1_INTEGER* millis;
    ASN1_INTEGER* micros;
};

/// TSTInfo ::= SEQUENCE { version, policy, messageImprint, serialNumber, genTime,
///   accuracy OPTIONAL, ordering DEFAULT FALSE, nonce OPTIONAL, tsa [0] EXPLICIT
///   GeneralName OPTIONAL, extensions [1] IMPLICIT OPTIONAL }
struct tst_info_asn1 {
    ASN1_INTEGER* version;
    ASN1_OBJECT* policy;
    imprint_asn1* imprint;
    ASN1_INTEGER* serial;
    ASN1_GENERALIZEDTIME* time;
    accuracy_asn1* accuracy;
    ASN1_BOOLEAN ordering;
    ASN1_INTEGER* nonce;
    ASN1_TYPE* tsa;
    STACK_OF(X509_EXTENSION) * extensions;
};

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wold-style-cast" // OpenSSL's template macros are C
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

ASN1_SEQUENCE(signer_info_asn1) = {
    ASN1_SIMPLE(signer_info_asn1, version, ASN1_INTEGER),
    ASN1_SIMPLE(signer_info_asn1, sid, ASN1_SEQUENCE),
    ASN1_SIMPLE(signer_info_asn1, digest_algorithm, X509_ALGOR),
    ASN1_IMP_SET_OF_OPT(signer_info_asn1, signed_attributes, X509_ATTRIBUTE, 0),
    ASN1_SIMPLE(signer_info_asn1, signature_algorithm, X509_ALGOR),
    ASN1_SIMPLE(signer_info_asn1, signature, ASN1_OCTET_STRING),
    ASN1_IMP_SET_OF_OPT(signer_info_asn1, unsigned_attributes, X509_ATTRIBUTE, 1),
} ASN1_SEQUENCE_END(signer_info_asn1)

ASN1_SEQUENCE(encapsulated_asn1) = {
    ASN1_SIMPLE(encapsulated_asn1, type, ASN1_OBJECT),
    ASN1_EXP_OPT(encapsulated_asn1, content, ASN1_OCTET_STRING, 0),
} ASN1_SEQUENCE_END(encapsulated_asn1)

ASN1_SEQUENCE(signed_data_asn1) = {
    ASN1_SIMPLE(signed_data_asn1, version, ASN1_INTEGER),
    ASN1_SET_OF(signed_data_asn1, digest_algorithms, X509_ALGOR),
    ASN1_SIMPLE(signed_data_asn1, encapsulated, encapsulated_asn1),
    ASN1_IMP_SET_OF_OPT(signed_data_asn1, crls, ASN1_ANY, 1),
    ASN1_SET_OF(signed_data_asn1, signer_infos, signer_info_asn1),
} ASN1_SEQUENCE_END(signed_data_asn1)

ASN1_SEQUENCE(token_asn1) = {
    ASN1_SIMPLE(token_asn1, type, ASN1_OBJECT),
    ASN1_EXP(token_asn1, signed_data, signed_data_asn1, 0),
} ASN1_SEQUENCE_END(token_asn1)

ASN1_SEQUENCE(imprint_asn1) = {
    ASN1_SIMPLE(imprint_asn1, algorithm, X509_ALGOR),
    ASN1_SIMPLE(imprint_asn1, digest, ASN1_OCTET_STRING),
} ASN1_SEQUENCE_END(imprint_asn1)

ASN1_SEQUENCE(accuracy_asn1) = {
    ASN1_OPT(accuracy_asn1, seconds, ASN1_INTEGER),
    ASN1_IMP_OPT(accuracy_asn1, millis, ASN1_INTEGER, 0),
    ASN1_IMP_OPT(accuracy_asn1, micros, ASN1_INTEGER, 1),
} ASN1_SEQUENCE_END(accuracy_asn1)

ASN1_SEQUENCE(tst_info_asn1) = {
    ASN1_SIMPLE(tst_info_asn1, version, ASN1_INTEGER),
    ASN1_SIMPLE(tst_info_asn1, policy, ASN1_OBJECT),
    ASN1_SIMPLE(tst_info_asn1, imprint, imprint_asn1),
    ASN1_SIMPLE(tst_info_asn1, serial, ASN1_INTEGER),
    ASN1_SIMPLE(tst_info_asn1, time, ASN1_GENERALIZEDTIME),
    ASN1_OPT(tst_info_asn1, accuracy, accuracy_asn1),
    ASN1_OPT(tst_info_asn1, ordering, ASN1_FBOOLEAN),
    ASN1_OPT(tst_info_asn1, nonce, ASN1_INTEGER),
    ASN1_EXP_OPT(tst_info_asn1, tsa, ASN1_ANY, 0),
    ASN1_IMP_SEQUENCE_OF_OPT(tst_info_asn1, extensions, X509_EXTENSION, 1),
} ASN1_SEQUENCE_END(tst_info_asn1)

#pragma GCC diagnostic pop

/// Frees a value of one of the types above with its template.
template <const ASN1_ITEM* (*item)()>
struct item_deleter {
    template <typename T>
    void operator()(T* p) const noexcept {
        ASN1_item_free(reinterpret_cast<ASN1_VALUE*>(p), item());
    }
};

/// One value of `item` and nothing after it, as d2i_PKCS7 reads one. Throws
/// error(tsa_response_malformed).
template <typename T, const ASN1_ITEM* (*item)()>
std::unique_ptr<T, item_deleter<item>> decode(octets der, const char* what) {
    const unsigned char* p = der.data();
    std::unique_ptr<T, item_deleter<item>> out(
        reinterpret_cast<T*>(ASN1_item_d2i(nullptr, &p, static_cast<long>(der.size()), item())));
    if (!out || p != der.data() + der.size())
        throw_openssl(errc::tsa_response_malformed, what);
    return out;
}

template <typename T>
T* element(const OPENSSL_STACK* stack, int i) {
    return static_cast<T*>(OPENSSL_sk_value(stack, i));
}

octets octets_of(const ASN1_STRING* s) {
    return {ASN1_STRING_get0_data(s), static_cast<std::size_t>(ASN1_STRING_length(s))};
}

bool same(octets a, octets b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
}

struct der_element {
    const unsigned char* start;
    const unsigned char* content;
    const unsigned char* end;
    int tag;
    int type; ///< V_ASN1_UNIVERSAL, V_ASN1_CONTEXT_SPECIFIC...
    bool constructed;

    bool is_universal(int t) const { return type == V_ASN1_UNIVERSAL && tag == t; }
};

der_element next_element(const unsigned char*& at, const unsigned char* limit) {
    der_element e{at, nullptr, nullptr, 0, 0, false};
    long length = 0;
    int ret = ASN1_get_object(&at, &length, &e.tag, &e.type, limit - at);
    if ((ret & 0x80) || (ret & 0x01)) { // an error, or an indefinite length: not DER
        ERR_clear_error();
        throw error(errc::tsa_response_malformed, "the time-stamp token is not DER");
    }
    e.constructed = (ret & V_ASN1_CONSTRUCTED) != 0;
    e.content = at;
    e.end = at + length;
    at = e.end;
    return e;
}

/// The outer elements of a token, read with ASN1_get_object (RFC 5652 section 5.1: a
/// ContentInfo holding SignedData, whose `certificates [0] IMPLICIT` is optional and
/// outside what is signed), and the certificates it carries. Both paths read a token so
/// first: they find the same candidates, and refuse the same tokens that are not DER there.
struct token_layout {
    der_element info, type, wrap, signed_data;
    std::optional<der_element> certificate_set;
    std::vector<octets> certificates; ///< each element of the set, as encoded
};

token_layout layout_of(octets der) {
    token_layout out;
    const unsigned char* p = der.data();
    const unsigned char* end = der.data() + der.size();
    out.info = next_element(p, end);
    if (out.info.end != end || !out.info.constructed || !out.info.is_universal(V_ASN1_SEQUENCE))
        throw error(errc::tsa_response_malformed, "the time-stamp token is not a ContentInfo");
    const unsigned char* q = out.info.content;
    out.type = next_element(q, out.info.end);
    out.wrap = next_element(q, out.info.end);
    if (!out.type.is_universal(V_ASN1_OBJECT) || out.wrap.type != V_ASN1_CONTEXT_SPECIFIC ||
        out.wrap.tag != 0 || !out.wrap.constructed || out.wrap.end != out.info.end)
        throw error(errc::tsa_response_malformed, "the time-stamp token is not a ContentInfo");
    const unsigned char* r = out.wrap.content;
    out.signed_data = next_element(r, out.wrap.end);
    if (!out.signed_data.constructed || !out.signed_data.is_universal(V_ASN1_SEQUENCE) ||
        out.signed_data.end != out.wrap.end)
        throw error(errc::tsa_response_malformed, "the time-stamp token holds no SignedData");

    for (const unsigned char* s = out.signed_data.content; s < out.signed_data.end;) {
        auto e = next_element(s, out.signed_data.end);
        if (e.type != V_ASN1_CONTEXT_SPECIFIC || e.tag != 0 || !e.constructed)
            continue;
        if (out.certificate_set)
            throw error(errc::tsa_response_malformed,
                        "the time-stamp token has two certificate sets");
        out.certificate_set = e;
    }
    for (const unsigned char* c = out.certificate_set ? out.certificate_set->content : nullptr;
         c && c < out.certificate_set->end;) {
        auto cert = next_element(c, out.certificate_set->end);
        out.certificates.emplace_back(cert.start, static_cast<std::size_t>(cert.end - cert.start));
    }
    return out;
}

/// The same token without its certificates, for the library path: OpenSSL then decodes
/// them once per verifier rather than once per token. Only the lengths around them change.
bytes without_certificates(const token_layout& t, octets der) {
    if (!t.certificate_set)
        return bytes(der.begin(), der.end());
    const der_element& sd = t.signed_data;
    const der_element& certs = *t.certificate_set;
    auto kept = static_cast<int>((sd.end - sd.content) - (certs.end - certs.start));
    int signed_size = ASN1_object_size(1, kept, V_ASN1_SEQUENCE);
    int wrap_size = ASN1_object_size(1, signed_size, 0);
    auto info_length = static_cast<int>(t.type.end - t.type.start) + wrap_size;
    bytes out(static_cast<std::size_t>(ASN1_object_size(1, info_length, V_ASN1_SEQUENCE)));
    unsigned char* o = out.data();
    ASN1_put_object(&o, 1, info_length, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
    o = std::copy(t.type.start, t.type.end, o);
    ASN1_put_object(&o, 1, signed_size, 0, V_ASN1_CONTEXT_SPECIFIC);
    ASN1_put_object(&o, 1, kept, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
    o = std::copy(sd.content, certs.start, o);
    std::copy(certs.end, sd.end, o);
    return out;
}

/// A stack of the candidates' certificates, for OpenSSL's lookups.
x509_stack_ptr stack_of(const std::vector<std::shared_ptr<const known_certificate>>& candidates) {
    x509_stack_ptr stack(sk_X509_new_null());
    if (!stack)
        throw_openssl(errc::openssl_failure, "certificate list");
    for (const auto& c : candidates) {
        auto ref = clone(c->cert.get());
        if (sk_X509_push(stack.get(), ref.get()) <= 0)
            throw_openssl(errc::openssl_failure, "certificate list");
        ref.release(); // the stack owns it now
    }
    return stack;
}

/// The candidate a SignerInfo's sid names: the one whose IssuerAndSerialNumber has these
/// very bytes, else the one tsp::find_signer finds (names compared in canonical form).
std::shared_ptr<const known_certificate>
signer_named(const ASN1_STRING* sid,
             const std::vector<std::shared_ptr<const known_certificate>>& candidates,
             std::size_t known_count) {
    for (const auto& c : candidates) {
        if (same(c->issuer_and_serial, octets_of(sid)))
            return c;
    }
    const unsigned char* p = ASN1_STRING_get0_data(sid);
    issuer_and_serial_ptr decoded(
        d2i_PKCS7_ISSUER_AND_SERIAL(nullptr, &p, ASN1_STRING_length(sid)));
    if (!decoded || p != ASN1_STRING_get0_data(sid) + ASN1_STRING_length(sid))
        throw_openssl(errc::tsa_response_malformed, "decoding the time-stamp token");
    auto stack = stack_of(candidates);
    X509* found = find_signer(decoded.get(), stack.get(), known_count);
    auto it = std::find_if(candidates.begin(), candidates.end(),
                           [&](const auto& c) { return c->cert.get() == found; });
    return *it; // the stack holds the candidates' own certificates
}

/// The first value of the first signed attribute of this type, as OpenSSL's PKCS#7 code
/// reads it; null when there is none.
const ASN1_TYPE* attribute_value(const STACK_OF(X509_ATTRIBUTE) * attributes, int nid) {
    int at = X509at_get_attr_by_NID(attributes, nid, -1);
    return at < 0 ? nullptr : X509_ATTRIBUTE_get0_type(X509at_get_attr(attributes, at), 0);
}

/// What PKCS7_signatureVerify checks, with the signer's key context kept per certificate:
/// with signed attributes, that their message digest is the digest of the content and the
/// signature is over their DER with the tag of a SET (RFC 5652 section 5.4); without, that
/// the signature is over the digest of the content.
bool signature_holds(const signer_info_asn1& si, octets content, const EVP_MD* md,
                     const key_verifier& key) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    if (EVP_Digest(content.data(), content.size(), digest, &size, md, nullptr) != 1)
        throw_openssl(errc::openssl_failure, "digest of the TSTInfo");

    const STACK_OF(X509_ATTRIBUTE)* attributes = si.signed_attributes;
    if (attributes && sk_X509_ATTRIBUTE_num(attributes) > 0) {
        const ASN1_TYPE* signed_digest = attribute_value(attributes, NID_pkcs9_messageDigest);
        if (!signed_digest || signed_digest->type != V_ASN1_OCTET_STRING ||
            !same(octets_of(signed_digest->value.octet_string), {digest, size}))
            return false;

        // The DER OpenSSL re-encodes them to, as PKCS7_signatureVerify does.
        unsigned char* encoded = nullptr;
        int n = ASN1_item_i2d(reinterpret_cast<const ASN1_VALUE*>(attributes), &encoded,
                              ASN1_ITEM_rptr(PKCS7_ATTR_VERIFY));
        bool hashed = n > 0 && EVP_Digest(encoded, static_cast<std::size_t>(n), digest, &size, md,
                                          nullptr) == 1;
        OPENSSL_free(encoded);
        if (!hashed)
            throw_openssl(errc::openssl_failure, "digest of the signed attributes");
    }
    return key.verify(md, {digest, size}, octets_of(si.signature));
}

/// A CRL the token carries must be one, as d2i_PKCS7 reads it. Throws
/// error(tsa_response_malformed).
void check_crl(const ASN1_TYPE& crl) {
    x509_crl_ptr decoded;
    if (crl.type == V_ASN1_SEQUENCE) {
        const unsigned char* p = ASN1_STRING_get0_data(crl.value.sequence);
        auto size = ASN1_STRING_length(crl.value.sequence);
        decoded.reset(d2i_X509_CRL(nullptr, &p, size));
        if (decoded && p != ASN1_STRING_get0_data(crl.value.sequence) + size)
            decoded.reset();
    }
    if (!decoded)
        throw_openssl(errc::tsa_response_malformed, "decoding the time-stamp token's CRLs");
}

timestamp_token described(const tst_info_asn1& info, octets der) {
    timestamp_token out;
    out.time = parse_generalized_time(
        std::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(info.time)),
                         static_cast<std::size_t>(ASN1_STRING_length(info.time))));
    out.policy = oid_text(info.policy);
    out.serial = integer_hex(info.serial);
    out.der.assign(der.begin(), der.end());
    return out;
}

} // namespace

timestamp_verifier::timestamp_verifier(tsp_trust trust, verification_path path)
    : trust_(std::move(trust))
    , path_(path)
    , store_(make_store(trust_.anchors)) {
    X509_STORE_set_flags(store_.get(), X509_V_FLAG_PARTIAL_CHAIN); // an anchor need not be a root
    for (const auto& c : trust_.known_tsa_certificates)
        known_.push_back(certificates_.find(to_der(c.get())));
}

timestamp_token timestamp_verifier::verify(std::span<const std::uint8_t> token_der,
                                           const sha256_digest& imprint) const {
    return path_ == verification_path::direct ? verify_directly(token_der, imprint)
                                              : verify_with_pkcs7(token_der, imprint);
}

timestamp_verifier::validity
timestamp_verifier::check_signer(const known_certificate& signer,
                                 const std::vector<certificate_ref>& candidates) const {
    {
        std::lock_guard lock(mutex_);
        if (auto it = checked_.find(signer.fingerprint); it != checked_.end())
            return it->second;
    }
    check_timestamping_usage(signer.cert.get());
    auto untrusted = stack_of(candidates);
    x509_store_ctx_ptr ctx(X509_STORE_CTX_new());
    if (!ctx ||
        X509_STORE_CTX_init(ctx.get(), store_.get(), signer.cert.get(), untrusted.get()) != 1)
        throw_openssl(errc::openssl_failure, "certificate verification context");
    X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_TIMESTAMP_SIGN);
    // Validity is compared with each token's genTime, not with today.
    X509_STORE_CTX_set_flags(ctx.get(), X509_V_FLAG_NO_CHECK_TIME);
    if (X509_verify_cert(ctx.get()) != 1) {
        std::string why = X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()));
        ERR_clear_error();
        // Not remembered: a failure is rare and its message names the case.
        throw error(errc::tsa_signer_untrusted, "TSA certificate " +
                                                    subject_text(signer.cert.get()) +
                                                    " is not trusted: " + why);
    }
    validity out{0, std::numeric_limits<time_t>::max()};
    STACK_OF(X509)* chain = X509_STORE_CTX_get0_chain(ctx.get());
    for (int i = 0; i < sk_X509_num(chain); ++i) {
        X509* c = sk_X509_value(chain, i);
        out.not_before = std::max(out.not_before, asn1_time(X509_get0_notBefore(c)));
        out.not_after = std::min(out.not_after, asn1_time(X509_get0_notAfter(c)));
    }
    std::lock_guard lock(mutex_);
    checked_.emplace(signer.fingerprint, out);
    return out;
}

void timestamp_verifier::check_valid_at(const known_certificate& signer, const validity& path,
                                        std::chrono::system_clock::time_point at) {
    auto t = std::chrono::system_clock::to_time_t(at);
    if (t < path.not_before || t > path.not_after)
        throw error(errc::tsa_signer_untrusted, "TSA certificate " +
                                                    subject_text(signer.cert.get()) +
                                                    " was not valid at the token's genTime");
}

void timestamp_verifier::check_ess_once(const known_certificate& signer,
                                        const tsp::ess_attributes& ess) const {
    {
        std::lock_guard lock(mutex_);
        if (auto it = ess_checked_.find(signer.fingerprint); it != ess_checked_.end()) {
            for (const auto& [v1, v2] : it->second) {
                if (same(v1, ess.v1) && same(v2, ess.v2))
                    return;
            }
        }
    }
    check_signing_certificate(ess, signer.cert.get());
    std::lock_guard lock(mutex_);
    auto& seen = ess_checked_[signer.fingerprint];
    if (seen.size() < 8) // a TSA names its certificate the same way in every token
        seen.emplace_back(bytes(ess.v1.begin(), ess.v1.end()), bytes(ess.v2.begin(), ess.v2.end()));
}

std::vector<timestamp_verifier::certificate_ref>
timestamp_verifier::candidates_of(const std::vector<octets>& carried) const {
    std::vector<certificate_ref> out;
    for (auto der : carried)
        out.push_back(certificates_.find(der));
    out.insert(out.end(), known_.begin(), known_.end());
    return out;
}

void timestamp_verifier::check_tsa_name_once(const ASN1_TYPE& name) const {
    unsigned char* encoded = nullptr;
    int n = i2d_ASN1_TYPE(&name, &encoded);
    bytes der(encoded, encoded + std::max(n, 0));
    OPENSSL_free(encoded);
    {
        std::lock_guard lock(mutex_);
        if (std::find(names_checked_.begin(), names_checked_.end(), der) != names_checked_.end())
            return;
    }
    // RFC 3161 section 2.4.2: tsa [0] GeneralName, as TS_TST_INFO reads it.
    const unsigned char* p = der.data();
    general_name_ptr decoded(d2i_GENERAL_NAME(nullptr, &p, static_cast<long>(der.size())));
    if (!decoded || p != der.data() + der.size())
        throw_openssl(errc::tsa_response_malformed, "reading the TSTInfo of the token");
    std::lock_guard lock(mutex_);
    if (names_checked_.size() < 8) // a TSA names itself the same way in every token
        names_checked_.push_back(std::move(der));
}

timestamp_token timestamp_verifier::verify_directly(std::span<const std::uint8_t> token_der,
                                                    const sha256_digest& imprint) const {
    // The same checks in the same order as verify_with_pkcs7, on the token decoded above.
    auto layout = layout_of(token_der);
    auto token = decode<token_asn1, token_asn1_it>(without_certificates(layout, token_der),
                                                   "decoding the time-stamp token");
    if (OBJ_obj2nid(token->type) != NID_pkcs7_signed)
        throw error(errc::tsa_response_malformed, "the time-stamp token is not CMS SignedData");
    const signed_data_asn1& sd = *token->signed_data;
    for (int i = 0; i < OPENSSL_sk_num(sd.crls); ++i)
        check_crl(*element<ASN1_TYPE>(sd.crls, i));
    if (OBJ_obj2nid(sd.encapsulated->type) != NID_id_smime_ct_TSTInfo || !sd.encapsulated->content)
        throw error(errc::tsa_response_malformed,
                    "reading the TSTInfo of the token: it does not encapsulate one");
    auto content = octets_of(sd.encapsulated->content);
    auto info =
        decode<tst_info_asn1, tst_info_asn1_it>(content, "reading the TSTInfo of the token");
    if (info->tsa)
        check_tsa_name_once(*info->tsa);
    if (ASN1_INTEGER_get(info->version) != 1)
        throw error(errc::tsa_response_malformed, "the TSTInfo is not version 1");
    int signers = OPENSSL_sk_num(sd.signer_infos);
    if (signers != 1)
        throw error(errc::tsa_response_malformed,
                    "the token carries " + std::to_string(std::max(signers, 0)) +
                        " signatures; RFC 3161 allows the TSA's alone");
    const auto& si = *element<signer_info_asn1>(sd.signer_infos, 0);

    // Who signed, and could they stamp time when they did?
    auto candidates = candidates_of(layout.certificates);
    auto signer = signer_named(si.sid, candidates, known_.size());
    auto path = check_signer(*signer, candidates);
    auto out = described(*info, token_der);
    check_valid_at(*signer, path, out.time);
    check_ess_once(*signer, signing_certificate_attributes(si.signed_attributes));
    int digest_nid = check_signature_digest(si.digest_algorithm);

    // PKCS7_dataInit digests the content with every algorithm of the SignedData, and
    // PKCS7_signatureVerify takes the signer's from among them (RFC 5652 section 5.1).
    bool declared = false;
    for (int i = 0; i < sk_X509_ALGOR_num(sd.digest_algorithms); ++i) {
        int nid = OBJ_obj2nid(sk_X509_ALGOR_value(sd.digest_algorithms, i)->algorithm);
        if (!EVP_get_digestbynid(nid))
            throw error(errc::tsa_response_malformed,
                        "the token's SignedData names an unknown digest algorithm");
        declared = declared || nid == digest_nid;
    }

    // The CMS signature over the signed attributes, and their digest of the TSTInfo.
    const EVP_MD* md = declared ? fetched_digest(digest_nid) : nullptr;
    if (!md || !signer->key || !signature_holds(si, content, md, *signer->key))
        throw error(errc::tsa_signature_invalid,
                    "the time-stamp token's signature does not verify with the key of TSA "
                    "certificate " +
                        subject_text(signer->cert.get()));

    // What it stamps.
    const imprint_asn1& stamped = *info->imprint;
    if (OBJ_obj2nid(stamped.algorithm->algorithm) != NID_sha256 ||
        !same(octets_of(stamped.digest), imprint))
        throw error(errc::tsa_imprint_mismatch,
                    "the token stamps " + oid_name(stamped.algorithm->algorithm) + " " +
                        to_hex(octets_of(stamped.digest)) + ", not SHA-256 " + to_hex(imprint));
    return out;
}

timestamp_token timestamp_verifier::verify_with_pkcs7(std::span<const std::uint8_t> token_der,
                                                      const sha256_digest& imprint) const {
    auto layout = layout_of(token_der);
    auto token = decode_token(without_certificates(layout, token_der));
    if (!PKCS7_type_is_signed(token.get()) || !token->d.sign)
        throw error(errc::tsa_response_malformed, "the time-stamp token is not CMS SignedData");
    ts_tst_info_ptr info(PKCS7_to_TS_TST_INFO(token.get()));
    if (!info)
        throw_openssl(errc::tsa_response_malformed, "reading the TSTInfo of the token");
    if (TS_TST_INFO_get_version(info.get()) != 1)
        throw error(errc::tsa_response_malformed, "the TSTInfo is not version 1");
    PKCS7_SIGNER_INFO* signer_info = only_signer_info(token.get());

    // Who signed, and could they stamp time when they did?
    auto candidates = candidates_of(layout.certificates);
    auto stack = stack_of(candidates);
    X509* signer = find_signer(signer_info->issuer_and_serial, stack.get(), known_.size());
    auto entry = certificates_.find(to_der(signer));
    auto path = check_signer(*entry, candidates);
    auto out = describe_token(info.get(), bytes(token_der.begin(), token_der.end()));
    check_valid_at(*entry, path, out.time);
    check_ess_once(*entry, signing_certificate_attributes(signer_info->auth_attr));
    check_signature_digest(signer_info->digest_alg);

    // The CMS signature over the signed attributes, and their digest of the TSTInfo.
    bio_ptr content(PKCS7_dataInit(token.get(), nullptr));
    if (!content)
        throw_openssl(errc::tsa_response_malformed, "reading the token's content");
    char buffer[4096];
    while (BIO_read(content.get(), buffer, sizeof buffer) > 0) {
    }
    if (PKCS7_signatureVerify(content.get(), token.get(), signer_info, signer) != 1)
        throw_openssl(errc::tsa_signature_invalid, "the time-stamp token's signature");

    // What it stamps.
    TS_MSG_IMPRINT* stamped = TS_TST_INFO_get_msg_imprint(info.get());
    const ASN1_OCTET_STRING* value = TS_MSG_IMPRINT_get_msg(stamped);
    if (OBJ_obj2nid(TS_MSG_IMPRINT_get_algo(stamped)->algorithm) != NID_sha256 ||
        !same(octets_of(value), imprint))
        throw error(errc::tsa_imprint_mismatch, "the token stamps " + describe_imprint(stamped) +
                                                    ", not SHA-256 " + to_hex(imprint));
    return out;
}

} // namespace sceau::crypto
