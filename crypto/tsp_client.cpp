#include "crypto/tsp_client.hpp"

#include "crypto/certificate.hpp"
#include "crypto/encoding.hpp"
#include "crypto/error.hpp"

#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/ess.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include <cctype>
#include <optional>
#include <string_view>
#include <utility>

namespace sceau::crypto {
namespace {

using ts_status_info_ptr = std::unique_ptr<TS_STATUS_INFO, c_deleter<TS_STATUS_INFO_free>>;
using ts_tst_info_ptr = std::unique_ptr<TS_TST_INFO, c_deleter<TS_TST_INFO_free>>;
using x509_algor_ptr = std::unique_ptr<X509_ALGOR, c_deleter<X509_ALGOR_free>>;
using x509_store_ctx_ptr = std::unique_ptr<X509_STORE_CTX, c_deleter<X509_STORE_CTX_free>>;
using eku_ptr = std::unique_ptr<EXTENDED_KEY_USAGE, c_deleter<EXTENDED_KEY_USAGE_free>>;
using ess_signing_cert_ptr = std::unique_ptr<ESS_SIGNING_CERT, c_deleter<ESS_SIGNING_CERT_free>>;
using ess_signing_cert_v2_ptr =
    std::unique_ptr<ESS_SIGNING_CERT_V2, c_deleter<ESS_SIGNING_CERT_V2_free>>;
using curl_ptr = std::unique_ptr<CURL, c_deleter<curl_easy_cleanup>>;
using curl_slist_ptr = std::unique_ptr<curl_slist, c_deleter<curl_slist_free_all>>;
using curl_url_ptr = std::unique_ptr<CURLU, c_deleter<curl_url_cleanup>>;

constexpr std::size_t max_reply_size = 1 << 20;
constexpr const char* query_type = "application/timestamp-query";
constexpr const char* reply_type = "application/timestamp-reply";

// Text chosen by the TSA ends up in logs: printable ASCII only, and not much of it.
std::string printable(std::string_view text, std::size_t limit = 200) {
    std::string out;
    for (char c : text.substr(0, limit))
        out += std::isprint(static_cast<unsigned char>(c)) ? c : '?';
    if (text.size() > limit)
        out += "...";
    return out;
}

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

ts_req_ptr decode_request(std::span<const std::uint8_t> der) {
    const unsigned char* p = der.data();
    ts_req_ptr request(d2i_TS_REQ(nullptr, &p, static_cast<long>(der.size())));
    if (!request || p != der.data() + der.size())
        throw_openssl(errc::bad_encoding, "decoding the time-stamp request");
    return request;
}

struct response_parts {
    ts_status_info_ptr status;
    std::span<const std::uint8_t> token; // empty when absent
};

// TimeStampResp ::= SEQUENCE { status PKIStatusInfo, timeStampToken OPTIONAL } (RFC 3161
// section 2.4.2). Read by hand: OpenSSL's decoder refuses "granted" without a token outright,
// where we want to say so.
response_parts split_response(std::span<const std::uint8_t> der) {
    const unsigned char* p = der.data();
    const unsigned char* end = der.data() + der.size();
    if (enter_sequence(p, end, errc::tsa_response_malformed, "the TimeStampResp") != end)
        throw error(errc::tsa_response_malformed, "bytes after the TimeStampResp");

    response_parts out;
    out.status.reset(d2i_TS_STATUS_INFO(nullptr, &p, end - p));
    if (!out.status)
        throw_openssl(errc::tsa_response_malformed, "decoding the PKIStatusInfo");
    out.token = std::span<const std::uint8_t>(p, end);
    return out;
}

std::string describe_status(const TS_STATUS_INFO* info) {
    // RFC 3161 section 2.4.2: PKIStatus, then PKIFreeText and PKIFailureInfo if any.
    static constexpr const char* statuses[] = {"granted",           "grantedWithMods",
                                               "rejection",         "waiting",
                                               "revocationWarning", "revocationNotification"};
    static constexpr std::pair<int, const char*> failures[] = {
        {TS_INFO_BAD_ALG, "badAlg"},
        {TS_INFO_BAD_REQUEST, "badRequest"},
        {TS_INFO_BAD_DATA_FORMAT, "badDataFormat"},
        {TS_INFO_TIME_NOT_AVAILABLE, "timeNotAvailable"},
        {TS_INFO_UNACCEPTED_POLICY, "unacceptedPolicy"},
        {TS_INFO_UNACCEPTED_EXTENSION, "unacceptedExtension"},
        {TS_INFO_ADD_INFO_NOT_AVAILABLE, "addInfoNotAvailable"},
        {TS_INFO_SYSTEM_FAILURE, "systemFailure"},
    };

    const ASN1_INTEGER* status = TS_STATUS_INFO_get0_status(info);
    long value = ASN1_INTEGER_get(status);
    std::string out = "status ";
    out += value >= 0 && value < 6 ? statuses[value] : integer_text(status);

    if (const auto* texts = TS_STATUS_INFO_get0_text(info)) {
        for (int i = 0; i < sk_ASN1_UTF8STRING_num(texts); ++i) {
            const ASN1_UTF8STRING* text = sk_ASN1_UTF8STRING_value(texts, i);
            out += ", \"";
            out += printable({reinterpret_cast<const char*>(ASN1_STRING_get0_data(text)),
                              static_cast<std::size_t>(ASN1_STRING_length(text))});
            out += '"';
        }
    }
    if (const ASN1_BIT_STRING* bits = TS_STATUS_INFO_get0_failure_info(info)) {
        for (auto [bit, name] : failures) {
            if (ASN1_BIT_STRING_get_bit(bits, bit))
                out += std::string(", ") + name;
        }
    }
    ERR_clear_error(); // ASN1_INTEGER_get leaves an error for out-of-range statuses
    return out;
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

X509* find_signer(PKCS7_SIGNER_INFO* signer_info, STACK_OF(X509) * candidates,
                  std::size_t known_count) {
    const PKCS7_ISSUER_AND_SERIAL* id = signer_info->issuer_and_serial;
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

void check_chain(X509_STORE* store, X509* signer, STACK_OF(X509) * untrusted) {
    x509_store_ctx_ptr ctx(X509_STORE_CTX_new());
    if (!ctx || X509_STORE_CTX_init(ctx.get(), store, signer, untrusted) != 1)
        throw_openssl(errc::openssl_failure, "certificate verification context");
    // OpenSSL's time-stamping purpose also limits the key usage to digitalSignature and
    // nonRepudiation. The time is the real clock's.
    X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_TIMESTAMP_SIGN);
    if (X509_verify_cert(ctx.get()) == 1)
        return;

    int reason = X509_STORE_CTX_get_error(ctx.get());
    int depth = X509_STORE_CTX_get_error_depth(ctx.get());
    ERR_clear_error();
    std::string why = X509_verify_cert_error_string(reason);
    std::string who = "TSA certificate " + subject_text(signer);
    if (reason == X509_V_ERR_INVALID_PURPOSE && depth == 0)
        throw error(errc::tsa_signer_usage_invalid, who + " is unfit for time-stamping: " + why);
    throw error(errc::tsa_signer_untrusted,
                who + " is not trusted: " + why + " (depth " + std::to_string(depth) + ")");
}

template <typename T, typename Decode>
T decode_attribute(const ASN1_TYPE* attribute, Decode decode, const char* what) {
    if (attribute->type != V_ASN1_SEQUENCE)
        throw error(errc::tsa_ess_mismatch, std::string(what) + " is not a SEQUENCE");
    const ASN1_STRING* der = attribute->value.sequence;
    const unsigned char* p = ASN1_STRING_get0_data(der);
    const unsigned char* end = p + ASN1_STRING_length(der);
    T out(decode(nullptr, &p, end - p));
    if (!out || p != end)
        throw_openssl(errc::tsa_ess_mismatch, std::string("decoding ") + what);
    return out;
}

void check_ess_v2_hash_algorithms(const ASN1_STRING* der) {
    // RFC 5035 section 3: SigningCertificateV2 ::= SEQUENCE { certs SEQUENCE OF ESSCertIDv2,
    // policies OPTIONAL }; ESSCertIDv2 ::= SEQUENCE { hashAlgorithm DEFAULT id-sha256,
    // certHash, issuerSerial OPTIONAL }. OpenSSL's structures are opaque: walk the DER.
    const unsigned char* p = ASN1_STRING_get0_data(der);
    const unsigned char* end = p + ASN1_STRING_length(der);
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

void check_signing_certificate(PKCS7_SIGNER_INFO* signer_info, X509* signer) {
    // RFC 3161 section 2.4.1: ESS SigningCertificate (ESSCertID, SHA-1, RFC 2634), or since
    // RFC 5816 SigningCertificateV2 (ESSCertIDv2, RFC 5035); either binds the signer
    // certificate into the signed attributes.
    const ASN1_TYPE* v1 =
        PKCS7_get_signed_attribute(signer_info, NID_id_smime_aa_signingCertificate);
    const ASN1_TYPE* v2 =
        PKCS7_get_signed_attribute(signer_info, NID_id_smime_aa_signingCertificateV2);
    if (!v1 && !v2)
        throw error(errc::tsa_ess_mismatch,
                    "the token has no ESS signing certificate attribute, v1 or v2");

    ess_signing_cert_ptr ess_v1;
    ess_signing_cert_v2_ptr ess_v2;
    if (v1)
        ess_v1 =
            decode_attribute<ess_signing_cert_ptr>(v1, d2i_ESS_SIGNING_CERT, "SigningCertificate");
    if (v2) {
        check_ess_v2_hash_algorithms(v2->value.sequence);
        ess_v2 = decode_attribute<ess_signing_cert_v2_ptr>(v2, d2i_ESS_SIGNING_CERT_V2,
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

void check_signature_digest(PKCS7_SIGNER_INFO* signer_info) {
    X509_ALGOR* digest = nullptr;
    PKCS7_SIGNER_INFO_get0_algs(signer_info, nullptr, &digest, nullptr);
    int nid = digest ? OBJ_obj2nid(digest->algorithm) : NID_undef;
    if (!strong_digest(nid))
        throw error(errc::tsa_signature_invalid,
                    "the token is signed over a " + std::string(OBJ_nid2sn(nid)) + " digest");
}

// OpenSSL's own verification of the token: the signature, the signer's path and ESS
// attribute again, the TSTInfo version and that its TSA name, if any, is the signer's.
void verify_signature(PKCS7* token, x509_store_ptr store, x509_stack_ptr untrusted) {
    ts_verify_ctx_ptr ctx(TS_VERIFY_CTX_new());
    if (!ctx)
        throw_openssl(errc::openssl_failure, "time-stamp verification context");
    // OpenSSL 3.0: the context takes ownership of the store and of the certificates.
    TS_VERIFY_CTX_set_store(ctx.get(), store.release());
    TS_VERIFY_CTX_set_certs(ctx.get(), untrusted.release());
    TS_VERIFY_CTX_set_flags(ctx.get(),
                            static_cast<int>(TS_VFY_SIGNATURE | TS_VFY_VERSION | TS_VFY_SIGNER));
    if (TS_RESP_verify_token(ctx.get(), token) == 1)
        return;

    unsigned long last = ERR_peek_last_error();
    errc code = errc::tsa_signature_invalid;
    if (ERR_GET_LIB(last) == ERR_LIB_ESS)
        code = errc::tsa_ess_mismatch;
    else if (ERR_GET_LIB(last) == ERR_LIB_TS) {
        switch (ERR_GET_REASON(last)) {
        case TS_R_ESS_SIGNING_CERTIFICATE_ERROR:
            code = errc::tsa_ess_mismatch;
            break;
        case TS_R_CERTIFICATE_VERIFY_ERROR:
        case TS_R_TSA_NAME_MISMATCH:
            code = errc::tsa_signer_untrusted;
            break;
        case TS_R_UNSUPPORTED_VERSION:
            code = errc::tsa_response_malformed;
            break;
        default:
            break;
        }
    }
    throw_openssl(code, "verifying the time-stamp token");
}

bool same_algorithm(const X509_ALGOR* a, const X509_ALGOR* b) {
    if (X509_ALGOR_cmp(a, b) == 0)
        return true;
    // RFC 5754 section 2: SHA-2 parameters absent or NULL both mean none.
    const ASN1_OBJECT* oid_a = nullptr;
    const ASN1_OBJECT* oid_b = nullptr;
    int type_a = 0;
    int type_b = 0;
    X509_ALGOR_get0(&oid_a, &type_a, nullptr, a);
    X509_ALGOR_get0(&oid_b, &type_b, nullptr, b);
    auto none = [](int type) { return type == V_ASN1_UNDEF || type == V_ASN1_NULL; };
    return OBJ_cmp(oid_a, oid_b) == 0 && none(type_a) && none(type_b);
}

std::string describe_imprint(TS_MSG_IMPRINT* imprint) {
    const ASN1_OCTET_STRING* digest = TS_MSG_IMPRINT_get_msg(imprint);
    return oid_name(TS_MSG_IMPRINT_get_algo(imprint)->algorithm) + " " +
           to_hex({ASN1_STRING_get0_data(digest),
                   static_cast<std::size_t>(ASN1_STRING_length(digest))});
}

void check_imprint(TS_REQ* request, TS_TST_INFO* info) {
    // RFC 3161 section 2.4.2: messageImprint MUST have the same value as in the request.
    TS_MSG_IMPRINT* asked = TS_REQ_get_msg_imprint(request);
    TS_MSG_IMPRINT* got = TS_TST_INFO_get_msg_imprint(info);
    if (!same_algorithm(TS_MSG_IMPRINT_get_algo(asked), TS_MSG_IMPRINT_get_algo(got)) ||
        ASN1_STRING_cmp(TS_MSG_IMPRINT_get_msg(asked), TS_MSG_IMPRINT_get_msg(got)) != 0)
        throw error(errc::tsa_imprint_mismatch, "the token stamps " + describe_imprint(got) +
                                                    ", the request asked for " +
                                                    describe_imprint(asked));
}

void check_nonce(const TS_REQ* request, const TS_TST_INFO* info) {
    // RFC 3161 section 2.4.2: the nonce MUST be there, with the request's value, if the
    // request had one. Values, not encodings, are compared.
    const ASN1_INTEGER* asked = TS_REQ_get_nonce(request);
    if (!asked)
        return;
    const ASN1_INTEGER* got = TS_TST_INFO_get_nonce(info);
    if (!got)
        throw error(errc::tsa_nonce_mismatch,
                    "the token carries no nonce; the request sent " + integer_text(asked));
    if (ASN1_INTEGER_cmp(asked, got) != 0)
        throw error(errc::tsa_nonce_mismatch, "the token's nonce " + integer_text(got) +
                                                  " is not the request's " + integer_text(asked));
}

asn1_object_ptr policy_object(const std::string& dotted) {
    asn1_object_ptr oid(OBJ_txt2obj(dotted.c_str(), 1));
    if (!oid)
        throw_openssl(errc::bad_encoding, "the required TSA policy '" + dotted + "' is not an OID");
    return oid;
}

void check_policy(TS_REQ* request, TS_TST_INFO* info, const std::string& required) {
    // RFC 3161 section 2.4.2: if the request named a policy (reqPolicy), the token's is it.
    const ASN1_OBJECT* policy = TS_TST_INFO_get_policy_id(info);
    if (const ASN1_OBJECT* asked = TS_REQ_get_policy_id(request); asked && OBJ_cmp(asked, policy))
        throw error(errc::tsa_policy_mismatch, "the token's policy " + oid_name(policy) +
                                                   " is not the requested " + oid_name(asked));
    if (required.empty())
        return;
    if (OBJ_cmp(policy_object(required).get(), policy) != 0)
        throw error(errc::tsa_policy_mismatch,
                    "the token's policy " + oid_name(policy) + " is not the required " + required);
}

// libcurl

struct reply_buffer {
    bytes data;
    bool too_large = false;
};

std::size_t collect(char* data, std::size_t size, std::size_t count, void* user) {
    auto* reply = static_cast<reply_buffer*>(user);
    std::size_t n = size * count;
    if (reply->data.size() + n > max_reply_size) {
        reply->too_large = true;
        return 0; // aborts the transfer
    }
    reply->data.insert(reply->data.end(), data, data + n);
    return n;
}

template <typename T>
void set_option(CURL* curl, CURLoption option, T value) {
    if (curl_easy_setopt(curl, option, value) != CURLE_OK)
        throw error(errc::tsa_unreachable, "libcurl refused an option");
}

// Before 7.84, curl_global_init is not thread-safe: do it once, before any handle exists.
void init_libcurl() {
    static const CURLcode code = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (code != CURLE_OK)
        throw error(errc::tsa_unreachable, "libcurl initialisation failed");
}

// The URL as messages may show it: without user name or password. Throws unless http(s).
std::string checked_url(const std::string& url) {
    curl_url_ptr parsed(curl_url());
    char* scheme = nullptr;
    if (!parsed || curl_url_set(parsed.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK ||
        curl_url_get(parsed.get(), CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK)
        throw error(errc::tsa_unreachable, "the TSA URL is not a URL");
    std::string name(scheme);
    curl_free(scheme);
    if (name != "http" && name != "https")
        throw error(errc::tsa_unreachable, "the TSA URL must be http or https, not " + name);

    char* shown = nullptr;
    curl_url_set(parsed.get(), CURLUPART_USER, nullptr, 0);
    curl_url_set(parsed.get(), CURLUPART_PASSWORD, nullptr, 0);
    if (curl_url_get(parsed.get(), CURLUPART_URL, &shown, 0) != CURLUE_OK)
        throw error(errc::tsa_unreachable, "the TSA URL is not a URL");
    std::string out(shown);
    curl_free(shown);
    return out;
}

bool is_reply_type(std::string_view content_type) {
    auto end = content_type.find(';');
    std::string_view type = content_type.substr(0, end);
    while (!type.empty() && type.back() == ' ')
        type.remove_suffix(1);
    std::string_view wanted = reply_type;
    if (type.size() != wanted.size())
        return false;
    for (std::size_t i = 0; i < type.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(type[i])) != wanted[i])
            return false;
    }
    return true;
}

// RFC 3161 section 3.4: POST the DER request as application/timestamp-query; the reply
// comes back as application/timestamp-reply.
bytes post_request(const std::string& url, const std::string& shown,
                   std::chrono::milliseconds timeout, const bytes& request) {
    curl_ptr curl(curl_easy_init());
    if (!curl)
        throw error(errc::tsa_unreachable, "libcurl handle");
    curl_slist_ptr headers;
    for (std::string header :
         {std::string("Content-Type: ") + query_type, std::string("Accept: ") + reply_type}) {
        curl_slist* longer = curl_slist_append(headers.get(), header.c_str());
        if (!longer)
            throw error(errc::tsa_unreachable, "libcurl header list");
        headers.release(); // now the head of `longer`
        headers.reset(longer);
    }

    reply_buffer reply;
    char message[CURL_ERROR_SIZE] = {};
    CURL* h = curl.get();
    set_option(h, CURLOPT_URL, url.c_str());
    set_option(h, CURLOPT_PROTOCOLS_STR, "http,https");
    set_option(h, CURLOPT_FOLLOWLOCATION, 0L);
    set_option(h, CURLOPT_NOSIGNAL, 1L);
    set_option(h, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
    set_option(h, CURLOPT_POST, 1L);
    set_option(h, CURLOPT_POSTFIELDS, request.data());
    set_option(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.size()));
    set_option(h, CURLOPT_HTTPHEADER, headers.get());
    set_option(h, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(max_reply_size));
    set_option(h, CURLOPT_WRITEFUNCTION, &collect);
    set_option(h, CURLOPT_WRITEDATA, &reply);
    set_option(h, CURLOPT_ERRORBUFFER, message);

    CURLcode code = curl_easy_perform(h);
    if (reply.too_large || code == CURLE_FILESIZE_EXCEEDED)
        throw error(errc::tsa_response_malformed, shown + " sent a reply over 1 MiB");
    if (code != CURLE_OK)
        throw error(errc::tsa_unreachable,
                    shown + ": " + (message[0] ? message : curl_easy_strerror(code)));

    long status = 0;
    char* type = nullptr;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &type);
    if (status != 200)
        throw error(errc::tsa_unreachable, shown + " answered HTTP " + std::to_string(status));
    if (!type || !is_reply_type(type))
        throw error(errc::tsa_response_malformed,
                    shown + " answered " + (type ? printable(type) : "without a Content-Type") +
                        ", not " + reply_type);
    return std::move(reply.data);
}

} // namespace

timestamp_token verify_timestamp_response(std::span<const std::uint8_t> request_der,
                                          std::span<const std::uint8_t> response_der,
                                          const tsp_trust& trust) {
    auto request = decode_request(request_der);
    auto reply = split_response(response_der);

    // RFC 3161 section 2.4.2: a token comes only with granted or grantedWithMods.
    long status = ASN1_INTEGER_get(TS_STATUS_INFO_get0_status(reply.status.get()));
    if (status != TS_STATUS_GRANTED && status != TS_STATUS_GRANTED_WITH_MODS)
        throw error(errc::tsa_not_granted,
                    "the TSA refused the time-stamp: " + describe_status(reply.status.get()));
    if (reply.token.empty())
        throw error(errc::tsa_token_missing, "the TSA answered " +
                                                 describe_status(reply.status.get()) +
                                                 " but sent no token");

    auto token = decode_token(reply.token);
    ts_tst_info_ptr info(PKCS7_to_TS_TST_INFO(token.get()));
    if (!info)
        throw_openssl(errc::tsa_response_malformed, "reading the TSTInfo of the token");
    PKCS7_SIGNER_INFO* signer_info = only_signer_info(token.get());

    // Who signed, and may they stamp time for us?
    auto candidates = candidate_certificates(token.get(), trust.known_tsa_certificates);
    X509* signer = find_signer(signer_info, candidates.get(), trust.known_tsa_certificates.size());
    check_timestamping_usage(signer);
    auto store = make_store(trust.anchors);
    X509_STORE_set_flags(store.get(), X509_V_FLAG_PARTIAL_CHAIN); // an anchor need not be a root
    check_chain(store.get(), signer, candidates.get());
    check_signing_certificate(signer_info, signer);
    check_signature_digest(signer_info);
    verify_signature(token.get(), std::move(store), std::move(candidates));

    // Does what they signed answer this request?
    check_imprint(request.get(), info.get());
    check_nonce(request.get(), info.get());
    check_policy(request.get(), info.get(), trust.policy_oid);

    return describe_token(bytes(reply.token.begin(), reply.token.end()));
}

namespace {

time_t asn1_time(const ASN1_TIME* t) {
    std::tm tm{};
    if (ASN1_TIME_to_tm(t, &tm) != 1)
        throw_openssl(errc::tsa_response_malformed, "reading a certificate's validity");
    return timegm(&tm);
}

struct der_element {
    const unsigned char* start;
    const unsigned char* content;
    const unsigned char* end;
    int tag;
    int type; ///< V_ASN1_UNIVERSAL, V_ASN1_CONTEXT_SPECIFIC...
    bool constructed;
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

/// A token without its certificates, and the DER of each certificate it carried.
struct split_token {
    bytes without_certificates;
    std::vector<std::span<const std::uint8_t>> certificates;
};

/// Takes the certificates out of a token (RFC 5652 section 5.1: ContentInfo holding
/// SignedData, whose `certificates [0] IMPLICIT` is optional and outside what is signed),
/// so that OpenSSL decodes them once per verifier rather than once per token.
split_token split_certificates(std::span<const std::uint8_t> der) {
    const unsigned char* p = der.data();
    const unsigned char* end = der.data() + der.size();
    auto info = next_element(p, end);
    if (info.end != end || !info.constructed || info.tag != V_ASN1_SEQUENCE)
        throw error(errc::tsa_response_malformed, "the time-stamp token is not a ContentInfo");
    const unsigned char* q = info.content;
    auto oid = next_element(q, info.end);
    auto wrap = next_element(q, info.end);
    if (oid.tag != V_ASN1_OBJECT || wrap.type != V_ASN1_CONTEXT_SPECIFIC || wrap.tag != 0 ||
        wrap.end != info.end)
        throw error(errc::tsa_response_malformed, "the time-stamp token is not a ContentInfo");
    const unsigned char* r = wrap.content;
    auto signed_data = next_element(r, wrap.end);
    if (signed_data.tag != V_ASN1_SEQUENCE || signed_data.end != wrap.end)
        throw error(errc::tsa_response_malformed, "the time-stamp token holds no SignedData");

    split_token out;
    std::optional<der_element> certs;
    for (const unsigned char* s = signed_data.content; s < signed_data.end;) {
        auto e = next_element(s, signed_data.end);
        if (e.type == V_ASN1_CONTEXT_SPECIFIC && e.tag == 0 && e.constructed)
            certs = e;
    }
    if (!certs) {
        out.without_certificates.assign(der.begin(), der.end());
        return out;
    }
    for (const unsigned char* c = certs->content; c < certs->end;) {
        auto cert = next_element(c, certs->end);
        out.certificates.emplace_back(cert.start, static_cast<std::size_t>(cert.end - cert.start));
    }

    // The same token, its lengths recomputed, without the certificates element.
    auto kept =
        static_cast<int>((signed_data.end - signed_data.content) - (certs->end - certs->start));
    int signed_size = ASN1_object_size(1, kept, V_ASN1_SEQUENCE);
    int wrap_size = ASN1_object_size(1, signed_size, 0);
    auto info_length = static_cast<int>(oid.end - oid.start) + wrap_size;
    out.without_certificates.resize(
        static_cast<std::size_t>(ASN1_object_size(1, info_length, V_ASN1_SEQUENCE)));
    unsigned char* o = out.without_certificates.data();
    ASN1_put_object(&o, 1, info_length, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
    o = std::copy(oid.start, oid.end, o);
    ASN1_put_object(&o, 1, signed_size, 0, V_ASN1_CONTEXT_SPECIFIC);
    ASN1_put_object(&o, 1, kept, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
    o = std::copy(signed_data.content, certs->start, o);
    std::copy(certs->end, signed_data.end, o);
    return out;
}

} // namespace

timestamp_verifier::timestamp_verifier(tsp_trust trust)
    : trust_(std::move(trust))
    , store_(make_store(trust_.anchors)) {
    X509_STORE_set_flags(store_.get(), X509_V_FLAG_PARTIAL_CHAIN); // an anchor need not be a root
}

timestamp_verifier::signer_check
timestamp_verifier::check_signer(X509* signer, STACK_OF(X509) * candidates) const {
    auto fingerprint = fingerprint_sha256(signer);
    {
        std::lock_guard lock(mutex_);
        if (auto it = checked_.find(fingerprint); it != checked_.end())
            return it->second;
    }
    signer_check out;
    try {
        check_timestamping_usage(signer);
        x509_store_ctx_ptr ctx(X509_STORE_CTX_new());
        if (!ctx || X509_STORE_CTX_init(ctx.get(), store_.get(), signer, candidates) != 1)
            throw_openssl(errc::openssl_failure, "certificate verification context");
        X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_TIMESTAMP_SIGN);
        // Validity is compared with each token's genTime, not with today.
        X509_STORE_CTX_set_flags(ctx.get(), X509_V_FLAG_NO_CHECK_TIME);
        if (X509_verify_cert(ctx.get()) != 1) {
            std::string why = X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()));
            ERR_clear_error();
            throw error(errc::tsa_signer_untrusted,
                        "TSA certificate " + subject_text(signer) + " is not trusted: " + why);
        }
        out.not_after = std::numeric_limits<time_t>::max();
        STACK_OF(X509)* chain = X509_STORE_CTX_get0_chain(ctx.get());
        for (int i = 0; i < sk_X509_num(chain); ++i) {
            X509* c = sk_X509_value(chain, i);
            out.not_before = std::max(out.not_before, asn1_time(X509_get0_notBefore(c)));
            out.not_after = std::min(out.not_after, asn1_time(X509_get0_notAfter(c)));
        }
    } catch (const error& e) {
        out.problem = e.what();
        out.code = static_cast<errc>(e.code().value());
        return out; // not remembered: a failure is rare and its message names the case
    }
    std::lock_guard lock(mutex_);
    checked_.emplace(fingerprint, out);
    return out;
}

timestamp_token timestamp_verifier::verify(std::span<const std::uint8_t> token_der,
                                           const sha256_digest& imprint) const {
    auto split = split_certificates(token_der);
    auto token = decode_token(split.without_certificates);
    if (!PKCS7_type_is_signed(token.get()) || !token->d.sign)
        throw error(errc::tsa_response_malformed, "the time-stamp token is not CMS SignedData");
    ts_tst_info_ptr info(PKCS7_to_TS_TST_INFO(token.get()));
    if (!info)
        throw_openssl(errc::tsa_response_malformed, "reading the TSTInfo of the token");
    if (TS_TST_INFO_get_version(info.get()) != 1)
        throw error(errc::tsa_response_malformed, "the TSTInfo is not version 1");
    PKCS7_SIGNER_INFO* signer_info = only_signer_info(token.get());

    // Who signed, and could they stamp time when they did?
    std::vector<x509_ptr> known;
    for (const auto& der : split.certificates)
        known.push_back(certificates_.decode(der));
    for (const auto& c : trust_.known_tsa_certificates)
        known.push_back(clone(c.get()));
    auto candidates = candidate_certificates(token.get(), known);
    X509* signer = find_signer(signer_info, candidates.get(), trust_.known_tsa_certificates.size());
    auto check = check_signer(signer, candidates.get());
    if (!check.problem.empty())
        throw error(check.code, check.problem);
    auto described = describe_token(info.get(), bytes(token_der.begin(), token_der.end()));
    auto at = std::chrono::system_clock::to_time_t(described.time);
    if (at < check.not_before || at > check.not_after)
        throw error(errc::tsa_signer_untrusted, "TSA certificate " + subject_text(signer) +
                                                    " was not valid at the token's genTime");
    check_signing_certificate(signer_info, signer);
    check_signature_digest(signer_info);

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
    bool same = OBJ_obj2nid(TS_MSG_IMPRINT_get_algo(stamped)->algorithm) == NID_sha256 &&
                static_cast<std::size_t>(ASN1_STRING_length(value)) == imprint.size() &&
                std::equal(imprint.begin(), imprint.end(), ASN1_STRING_get0_data(value));
    if (!same)
        throw error(errc::tsa_imprint_mismatch, "the token stamps " + describe_imprint(stamped) +
                                                    ", not SHA-256 " + to_hex(imprint));
    return described;
}

rfc3161_client::rfc3161_client(options opts)
    : options_(std::move(opts)) {
    init_libcurl();
    send_ = [url = options_.url, shown = checked_url(options_.url), timeout = options_.timeout](
                const bytes& request) { return post_request(url, shown, timeout, request); };
    if (!options_.trust.policy_oid.empty())
        policy_object(options_.trust.policy_oid); // refuse a bad policy now, not at each stamp
}

rfc3161_client::rfc3161_client(options opts, transport send)
    : options_(std::move(opts))
    , send_(std::move(send)) {
    if (!send_)
        throw error(errc::tsa_unreachable, "no transport to the TSA");
    if (!options_.trust.policy_oid.empty())
        policy_object(options_.trust.policy_oid);
}

timestamp_token rfc3161_client::stamp(const sha256_digest& digest) {
    // RFC 3161 section 2.4.1: a SHA-256 imprint, a fresh nonce, certReq, and the policy we
    // require if any.
    auto request = make_timestamp_request(digest, options_.trust.policy_oid);
    auto response = send_(request);
    return verify_timestamp_response(request, response, options_.trust);
}

std::vector<x509_ptr> rfc3161_client::certificates() const {
    std::vector<x509_ptr> out;
    for (const auto& cert : options_.trust.known_tsa_certificates)
        out.push_back(clone(cert.get()));
    for (const auto& cert : options_.trust.anchors)
        out.push_back(clone(cert.get()));
    return out;
}

} // namespace sceau::crypto
