#include "crypto/tsp_support.hpp"

#include "crypto/certificate.hpp"
#include "crypto/encoding.hpp"
#include "crypto/error.hpp"

#include <openssl/err.h>
#include <openssl/ess.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include <ctime>

namespace sceau::crypto::tsp {
namespace {

using x509_algor_ptr = std::unique_ptr<X509_ALGOR, c_deleter<X509_ALGOR_free>>;
using eku_ptr = std::unique_ptr<EXTENDED_KEY_USAGE, c_deleter<EXTENDED_KEY_USAGE_free>>;
using ess_signing_cert_ptr = std::unique_ptr<ESS_SIGNING_CERT, c_deleter<ESS_SIGNING_CERT_free>>;
using ess_signing_cert_v2_ptr =
    std::unique_ptr<ESS_SIGNING_CERT_V2, c_deleter<ESS_SIGNING_CERT_V2_free>>;

using octets = std::span<const std::uint8_t>;

template <typename T, typename Decode>
T decode_attribute(octets der, Decode decode, const char* what) {
    if (der.empty() || der[0] != (V_ASN1_CONSTRUCTED | V_ASN1_SEQUENCE))
        throw error(errc::tsa_ess_mismatch, std::string(what) + " is not a SEQUENCE");
    const unsigned char* p = der.data();
    const unsigned char* end = p + der.size();
    T out(decode(nullptr, &p, end - p));
    if (!out || p != end)
        throw_openssl(errc::tsa_ess_mismatch, std::string("decoding ") + what);
    return out;
}

void check_ess_v2_hash_algorithms(octets der) {
    // RFC 5035 section 3: SigningCertificateV2 ::= SEQUENCE { certs SEQUENCE OF ESSCertIDv2,
    // policies OPTIONAL }; ESSCertIDv2 ::= SEQUENCE { hashAlgorithm DEFAULT id-sha256,
    // certHash, issuerSerial OPTIONAL }. OpenSSL's structures are opaque: walk the DER.
    const unsigned char* p = der.data();
    const unsigned char* end = p + der.size();
    enter_sequence(p, end, errc::tsa_ess_mismatch, "SigningCertificateV2");
    const unsigned char* certs_end = enter_sequence(p, end, errc::tsa_ess_mismatch, "certs");
    while (p < certs_end) {
        const unsigned char* id_end =
            enter_sequence(p, certs_end, errc::tsa_ess_mismatch, "ESSCertIDv2");
        int nid = NID_sha256;
        if (p < id_end && *p == (V_ASN1_CONSTRUCTED | V_ASN1_SEQUENCE)) {
            x509_algor_ptr algorithm(d2i_X509_ALGOR(nullptr, &p, id_end - p));
            if (!algorithm)
                throw_openssl(errc::tsa_ess_mismatch, "decoding ESSCertIDv2 hashAlgorithm");
            nid = OBJ_obj2nid(algorithm->algorithm);
        }
        if (!strong_digest(nid))
            throw error(errc::tsa_ess_mismatch,
                        "ESSCertIDv2 identifies a certificate by " + std::string(OBJ_nid2sn(nid)) +
                            "; SHA-1 is allowed only in ESSCertID, weaker hashes nowhere");
        p = id_end;
    }
}

} // namespace

std::string integer_text(const ASN1_INTEGER* value) {
    char* text = i2s_ASN1_INTEGER(nullptr, value);
    if (!text) {
        ERR_clear_error();
        return "(unreadable)";
    }
    std::string out(text);
    OPENSSL_free(text);
    return out;
}

std::string name_text(const X509_NAME* name) {
    bio_ptr bio(BIO_new(BIO_s_mem()));
    if (!bio || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253) < 0) {
        ERR_clear_error();
        return "(unreadable)";
    }
    char* data = nullptr;
    long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(n));
}

std::string oid_name(const ASN1_OBJECT* oid) {
    if (int nid = OBJ_obj2nid(oid); nid != NID_undef)
        return OBJ_nid2sn(nid);
    char buffer[128];
    int n = OBJ_obj2txt(buffer, sizeof buffer, oid, 1);
    return n > 0 && n < static_cast<int>(sizeof buffer) ? std::string(buffer) : "(long OID)";
}

std::string describe_imprint(TS_MSG_IMPRINT* imprint) {
    const ASN1_OCTET_STRING* digest = TS_MSG_IMPRINT_get_msg(imprint);
    return oid_name(TS_MSG_IMPRINT_get_algo(imprint)->algorithm) + " " +
           to_hex({ASN1_STRING_get0_data(digest),
                   static_cast<std::size_t>(ASN1_STRING_length(digest))});
}

// SHA-1 is acceptable only where RFC 3161 section 2.4.1 fixes it: in ESSCertID (v1).
bool strong_digest(int nid) {
    switch (nid) {
    case NID_sha256:
    case NID_sha384:
    case NID_sha512:
    case NID_sha3_256:
    case NID_sha3_384:
    case NID_sha3_512:
        return true;
    default:
        return false;
    }
}

// Steps into the DER SEQUENCE at `p`; returns where its contents end.
const unsigned char* enter_sequence(const unsigned char*& p, const unsigned char* end, errc code,
                                    std::string_view what) {
    long length = 0;
    int tag = 0;
    int xclass = 0;
    int ret = ASN1_get_object(&p, &length, &tag, &xclass, end - p);
    if (ret != V_ASN1_CONSTRUCTED || tag != V_ASN1_SEQUENCE || xclass != V_ASN1_UNIVERSAL) {
        ERR_clear_error();
        throw error(code, std::string(what) + " is not a DER SEQUENCE");
    }
    return p + length;
}

pkcs7_ptr decode_token(std::span<const std::uint8_t> der) {
    const unsigned char* p = der.data();
    pkcs7_ptr token(d2i_PKCS7(nullptr, &p, static_cast<long>(der.size())));
    if (!token || p != der.data() + der.size())
        throw_openssl(errc::tsa_response_malformed, "decoding the time-stamp token");
    return token;
}

PKCS7_SIGNER_INFO* only_signer_info(PKCS7* token) {
    // RFC 3161 section 2.4.2: the token MUST NOT carry any signature but the TSA's.
    STACK_OF(PKCS7_SIGNER_INFO)* infos = PKCS7_get_signer_info(token);
    int count = sk_PKCS7_SIGNER_INFO_num(infos);
    if (count != 1)
        throw error(errc::tsa_response_malformed,
                    "the token carries " + std::to_string(count < 0 ? 0 : count) +
                        " signatures; RFC 3161 allows the TSA's alone");
    return sk_PKCS7_SIGNER_INFO_value(infos, 0);
}

// The certificates of the token, then the known ones: where the signer is looked for and
// where path building finds its intermediates.
x509_stack_ptr candidate_certificates(PKCS7* token, const std::vector<x509_ptr>& known) {
    x509_stack_ptr out(sk_X509_new_null());
    if (!out)
        throw_openssl(errc::openssl_failure, "certificate list");
    auto push = [&](X509* cert) {
        auto ref = clone(cert);
        if (sk_X509_push(out.get(), ref.get()) <= 0)
            throw_openssl(errc::openssl_failure, "certificate list");
        ref.release(); // the stack owns it now
    };

    STACK_OF(X509)* carried = token->d.sign->cert;
    for (int i = 0; i < sk_X509_num(carried); ++i)
        push(sk_X509_value(carried, i));
    for (const auto& cert : known)
        push(cert.get());
    return out;
}

X509* find_signer(const PKCS7_ISSUER_AND_SERIAL* id, STACK_OF(X509) * candidates,
                  std::size_t known_count) {
    if (X509* cert = X509_find_by_issuer_and_serial(candidates, id->issuer, id->serial))
        return cert;
    throw error(errc::tsa_signer_unknown,
                "the token does not carry the certificate of its signer (issuer " +
                    name_text(id->issuer) + ", serial " + integer_text(id->serial) +
                    ") and no known TSA certificate is that one (" + std::to_string(known_count) +
                    " known)");
}

void check_timestamping_usage(X509* signer) {
    // RFC 3161 section 2.3: the TSA certificate MUST contain only one instance of the
    // extended key usage field, with only KeyPurposeID id-kp-timeStamping, marked critical.
    int critical = -1;
    eku_ptr usages(static_cast<EXTENDED_KEY_USAGE*>(
        X509_get_ext_d2i(signer, NID_ext_key_usage, &critical, nullptr)));
    ERR_clear_error();
    std::string who = "TSA certificate " + subject_text(signer);
    if (critical == -2)
        throw error(errc::tsa_signer_usage_invalid,
                    who + " has more than one extended key usage extension");
    if (!usages && critical == -1)
        throw error(errc::tsa_signer_usage_invalid,
                    who + " has no extended key usage; RFC 3161 requires timeStamping");
    if (!usages)
        throw error(errc::tsa_signer_usage_invalid, who + " has an unreadable extended key usage");

    int count = sk_ASN1_OBJECT_num(usages.get());
    if (count != 1 || OBJ_obj2nid(sk_ASN1_OBJECT_value(usages.get(), 0)) != NID_time_stamp) {
        std::string found;
        for (int i = 0; i < count; ++i)
            found += (i ? ", " : "") + oid_name(sk_ASN1_OBJECT_value(usages.get(), i));
        throw error(errc::tsa_signer_usage_invalid, who + " has extended key usages {" + found +
                                                        "}; RFC 3161 allows timeStamping alone");
    }
    if (critical != 1)
        throw error(errc::tsa_signer_usage_invalid,
                    who + " has a timeStamping extended key usage that is not marked critical, "
                          "as RFC 3161 section 2.3 requires");
}

ess_attributes signing_certificate_attributes(const STACK_OF(X509_ATTRIBUTE) * attributes) {
    // The first value of the first attribute of each type, as OpenSSL's PKCS#7 and ESS code
    // read them.
    auto value = [&](int nid, const char* what) -> octets {
        int at = X509at_get_attr_by_NID(attributes, nid, -1);
        const ASN1_TYPE* v =
            at < 0 ? nullptr : X509_ATTRIBUTE_get0_type(X509at_get_attr(attributes, at), 0);
        if (!v)
            return {};
        if (v->type != V_ASN1_SEQUENCE)
            throw error(errc::tsa_ess_mismatch, std::string(what) + " is not a SEQUENCE");
        return {ASN1_STRING_get0_data(v->value.sequence),
                static_cast<std::size_t>(ASN1_STRING_length(v->value.sequence))};
    };
    return {value(NID_id_smime_aa_signingCertificate, "SigningCertificate"),
            value(NID_id_smime_aa_signingCertificateV2, "SigningCertificateV2")};
}

void check_signing_certificate(const ess_attributes& ess, X509* signer) {
    // RFC 3161 section 2.4.1: ESS SigningCertificate (ESSCertID, SHA-1, RFC 2634), or since
    // RFC 5816 SigningCertificateV2 (ESSCertIDv2, RFC 5035); either binds the signer
    // certificate into the signed attributes.
    if (ess.v1.empty() && ess.v2.empty())
        throw error(errc::tsa_ess_mismatch,
                    "the token has no ESS signing certificate attribute, v1 or v2");

    ess_signing_cert_ptr ess_v1;
    ess_signing_cert_v2_ptr ess_v2;
    if (!ess.v1.empty())
        ess_v1 = decode_attribute<ess_signing_cert_ptr>(ess.v1, d2i_ESS_SIGNING_CERT,
                                                        "SigningCertificate");
    if (!ess.v2.empty()) {
        check_ess_v2_hash_algorithms(ess.v2);
        ess_v2 = decode_attribute<ess_signing_cert_v2_ptr>(ess.v2, d2i_ESS_SIGNING_CERT_V2,
                                                           "SigningCertificateV2");
    }

    x509_stack_ptr chain(sk_X509_new_null());
    auto ref = clone(signer);
    if (!chain || sk_X509_push(chain.get(), ref.get()) <= 0)
        throw_openssl(errc::openssl_failure, "certificate list");
    ref.release(); // the stack owns it now
    if (OSSL_ESS_check_signing_certs(ess_v1.get(), ess_v2.get(), chain.get(), 1) != 1)
        throw_openssl(errc::tsa_ess_mismatch,
                      "the ESS signing certificate attribute does not identify " +
                          subject_text(signer));
}

int check_signature_digest(const X509_ALGOR* digest) {
    int nid = digest ? OBJ_obj2nid(digest->algorithm) : NID_undef;
    if (!strong_digest(nid))
        throw error(errc::tsa_signature_invalid,
                    "the token is signed over a " + std::string(OBJ_nid2sn(nid)) + " digest");
    return nid;
}

time_t asn1_time(const ASN1_TIME* t) {
    std::tm tm{};
    if (ASN1_TIME_to_tm(t, &tm) != 1)
        throw_openssl(errc::tsa_response_malformed, "reading a certificate's validity");
    return timegm(&tm);
}

} // namespace sceau::crypto::tsp
