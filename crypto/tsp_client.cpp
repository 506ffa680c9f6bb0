#include "crypto/tsp_client.hpp"

#include "crypto/certificate.hpp"
#include "crypto/encoding.hpp"
#include "crypto/error.hpp"
#include "crypto/tsp_support.hpp"

#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/objects.h>

#include <cctype>
#include <string_view>
#include <utility>

namespace sceau::crypto {
namespace {

using namespace tsp;
using ts_status_info_ptr = std::unique_ptr<TS_STATUS_INFO, c_deleter<TS_STATUS_INFO_free>>;
using x509_store_ctx_ptr = std::unique_ptr<X509_STORE_CTX, c_deleter<X509_STORE_CTX_free>>;
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
    X509* signer = find_signer(signer_info->issuer_and_serial, candidates.get(),
                               trust.known_tsa_certificates.size());
    check_timestamping_usage(signer);
    auto store = make_store(trust.anchors);
    X509_STORE_set_flags(store.get(), X509_V_FLAG_PARTIAL_CHAIN); // an anchor need not be a root
    check_chain(store.get(), signer, candidates.get());
    check_signing_certificate(signing_certificate_attributes(signer_info->auth_attr), signer);
    check_signature_digest(signer_info->digest_alg);
    verify_signature(token.get(), std::move(store), std::move(candidates));

    // Does what they signed answer this request?
    check_imprint(request.get(), info.get());
    check_nonce(request.get(), info.get());
    check_policy(request.get(), info.get(), trust.policy_oid);

    return describe_token(bytes(reply.token.begin(), reply.token.end()));
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
