#include "crypto/timestamp.hpp"

#include "crypto/error.hpp"
#include "crypto/random.hpp"

#include <openssl/objects.h>

#include <charconv>
#include <ctime>

namespace sceau::crypto {
namespace {

using ts_msg_imprint_ptr = std::unique_ptr<TS_MSG_IMPRINT, c_deleter<TS_MSG_IMPRINT_free>>;
using x509_algor_ptr = std::unique_ptr<X509_ALGOR, c_deleter<X509_ALGOR_free>>;
using ts_tst_info_ptr = std::unique_ptr<TS_TST_INFO, c_deleter<TS_TST_INFO_free>>;

asn1_integer_ptr random_positive_integer(std::size_t bytes_count) {
    auto data = random_bytes(bytes_count);
    data[0] &= 0x7f; // positive, whatever the encoding
    data[0] |= 0x40; // and of full length
    bignum_ptr bn(BN_bin2bn(data.data(), static_cast<int>(data.size()), nullptr));
    asn1_integer_ptr out(bn ? BN_to_ASN1_INTEGER(bn.get(), nullptr) : nullptr);
    if (!out)
        throw_openssl(errc::openssl_failure, "random integer");
    return out;
}

std::string integer_hex(const ASN1_INTEGER* value) {
    bignum_ptr bn(ASN1_INTEGER_to_BN(value, nullptr));
    if (!bn)
        throw_openssl(errc::tsa_response_malformed, "reading serial number");
    char* hex = BN_bn2hex(bn.get());
    std::string out(hex);
    OPENSSL_free(hex);
    for (char& c : out)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

std::string oid_text(const ASN1_OBJECT* oid) {
    char buffer[128];
    int n = OBJ_obj2txt(buffer, sizeof buffer, oid, 1);
    if (n <= 0 || n >= static_cast<int>(sizeof buffer))
        throw error(errc::tsa_response_malformed, "unreadable policy OID");
    return std::string(buffer, static_cast<std::size_t>(n));
}

int two_digits(std::string_view s, std::size_t at) {
    int v = 0;
    auto [p, ec] = std::from_chars(s.data() + at, s.data() + at + 2, v);
    if (ec != std::errc{} || p != s.data() + at + 2)
        throw error(errc::tsa_response_malformed, "bad GeneralizedTime");
    return v;
}

} // namespace

std::chrono::system_clock::time_point parse_generalized_time(std::string_view s) {
    // RFC 3161 section 2.4.2: YYYYMMDDhhmmss[.s...]Z, no trailing zeros, always UTC.
    if (s.size() < 15 || s.back() != 'Z')
        throw error(errc::tsa_response_malformed, "bad GeneralizedTime");
    for (std::size_t i = 0; i < 14; ++i) {
        if (s[i] < '0' || s[i] > '9')
            throw error(errc::tsa_response_malformed, "bad GeneralizedTime");
    }
    std::tm tm{};
    tm.tm_year = two_digits(s, 0) * 100 + two_digits(s, 2) - 1900;
    tm.tm_mon = two_digits(s, 4) - 1;
    tm.tm_mday = two_digits(s, 6);
    tm.tm_hour = two_digits(s, 8);
    tm.tm_min = two_digits(s, 10);
    tm.tm_sec = two_digits(s, 12);
    if (tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
        tm.tm_sec > 60)
        throw error(errc::tsa_response_malformed, "bad GeneralizedTime");

    std::chrono::microseconds fraction{0};
    std::string_view rest = s.substr(14, s.size() - 15);
    if (!rest.empty()) {
        if (rest.front() != '.' || rest.size() < 2)
            throw error(errc::tsa_response_malformed, "bad GeneralizedTime fraction");
        long long scale = 100000;
        for (char c : rest.substr(1)) {
            if (c < '0' || c > '9')
                throw error(errc::tsa_response_malformed, "bad GeneralizedTime fraction");
            fraction += std::chrono::microseconds((c - '0') * scale);
            scale /= 10;
        }
    }
    std::time_t t = timegm(&tm);
    return std::chrono::system_clock::from_time_t(t) + fraction;
}

bytes make_timestamp_request(const sha256_digest& digest, std::string_view policy_oid) {
    ts_req_ptr req(TS_REQ_new());
    ts_msg_imprint_ptr imprint(TS_MSG_IMPRINT_new());
    x509_algor_ptr algorithm(X509_ALGOR_new());
    if (!req || !imprint || !algorithm || TS_REQ_set_version(req.get(), 1) != 1)
        throw_openssl(errc::openssl_failure, "time-stamp request");

    X509_ALGOR_set0(algorithm.get(), OBJ_nid2obj(NID_sha256), V_ASN1_NULL, nullptr);
    if (TS_MSG_IMPRINT_set_algo(imprint.get(), algorithm.get()) != 1 ||
        TS_MSG_IMPRINT_set_msg(imprint.get(), const_cast<std::uint8_t*>(digest.data()),
                               static_cast<int>(digest.size())) != 1 ||
        TS_REQ_set_msg_imprint(req.get(), imprint.get()) != 1)
        throw_openssl(errc::openssl_failure, "time-stamp request imprint");

    auto nonce = random_positive_integer(8);
    if (TS_REQ_set_nonce(req.get(), nonce.get()) != 1 || TS_REQ_set_cert_req(req.get(), 1) != 1)
        throw_openssl(errc::openssl_failure, "time-stamp request nonce");

    if (!policy_oid.empty()) {
        asn1_object_ptr policy(OBJ_txt2obj(std::string(policy_oid).c_str(), 1));
        if (!policy || TS_REQ_set_policy_id(req.get(), policy.get()) != 1)
            throw_openssl(errc::openssl_failure, "time-stamp request policy");
    }

    int n = i2d_TS_REQ(req.get(), nullptr);
    if (n <= 0)
        throw_openssl(errc::openssl_failure, "encoding time-stamp request");
    bytes der(static_cast<std::size_t>(n));
    unsigned char* p = der.data();
    i2d_TS_REQ(req.get(), &p);
    return der;
}

timestamp_token describe_token(TS_TST_INFO* info, bytes der) {
    const ASN1_GENERALIZEDTIME* gen_time = TS_TST_INFO_get_time(info);
    timestamp_token out;
    out.time = parse_generalized_time(
        std::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(gen_time)),
                         static_cast<std::size_t>(ASN1_STRING_length(gen_time))));
    out.policy = oid_text(TS_TST_INFO_get_policy_id(info));
    out.serial = integer_hex(TS_TST_INFO_get_serial(info));
    out.der = std::move(der);
    return out;
}

timestamp_token describe_token(bytes der) {
    const unsigned char* p = der.data();
    pkcs7_ptr token(d2i_PKCS7(nullptr, &p, static_cast<long>(der.size())));
    if (!token || p != der.data() + der.size())
        throw_openssl(errc::tsa_response_malformed, "decoding time-stamp token");
    ts_tst_info_ptr info(PKCS7_to_TS_TST_INFO(token.get()));
    if (!info)
        throw_openssl(errc::tsa_response_malformed, "reading TSTInfo");
    return describe_token(info.get(), std::move(der));
}

builtin_tsa::builtin_tsa(signer_identity identity, std::string policy_oid, clock_fn clock)
    : identity_(std::move(identity))
    , policy_(OBJ_txt2obj(policy_oid.c_str(), 1))
    , clock_(clock ? std::move(clock) : clock_fn([] { return std::chrono::system_clock::now(); })) {
    if (!policy_)
        throw_openssl(errc::openssl_failure, "built-in TSA policy OID");
    make_context(); // fail at start, not at the first deposit, if the key is unusable
}

builtin_tsa::~builtin_tsa() = default;

int builtin_tsa::time_callback(TS_RESP_CTX*, void* self, long* sec, long* usec) {
    auto now = static_cast<builtin_tsa*>(self)->clock_();
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch());
    *sec = static_cast<long>(us.count() / 1000000);
    *usec = static_cast<long>(us.count() % 1000000);
    return 1;
}

ts_resp_ctx_ptr builtin_tsa::make_context() {
    ts_resp_ctx_ptr ctx(TS_RESP_CTX_new());
    if (!ctx)
        throw_openssl(errc::openssl_failure, "TSA context");

    x509_stack_ptr chain(sk_X509_new_null());
    for (std::size_t i = 1; i < identity_.chain.size(); ++i)
        sk_X509_push(chain.get(), clone(identity_.chain[i].get()).release());

    auto serial = [](TS_RESP_CTX*, void*) -> ASN1_INTEGER* {
        try {
            return random_positive_integer(16).release(); // ownership passes to OpenSSL
        } catch (...) {
            return nullptr;
        }
    };

    // RFC 3161 with ESSCertIDv2 (RFC 5816) over SHA-256, millisecond genTime.
    if (TS_RESP_CTX_set_signer_cert(ctx.get(), identity_.certificate()) != 1 ||
        TS_RESP_CTX_set_signer_key(ctx.get(), identity_.key.get()) != 1 ||
        TS_RESP_CTX_set_certs(ctx.get(), chain.get()) != 1 ||
        TS_RESP_CTX_set_def_policy(ctx.get(), policy_.get()) != 1 ||
        TS_RESP_CTX_add_md(ctx.get(), EVP_sha256()) != 1 ||
        TS_RESP_CTX_set_signer_digest(ctx.get(), EVP_sha256()) != 1 ||
        TS_RESP_CTX_set_ess_cert_id_digest(ctx.get(), EVP_sha256()) != 1 ||
        TS_RESP_CTX_set_accuracy(ctx.get(), 1, 0, 0) != 1 ||
        TS_RESP_CTX_set_clock_precision_digits(ctx.get(), 3) != 1)
        throw_openssl(errc::bad_key, "configuring the built-in TSA");
    TS_RESP_CTX_add_flags(ctx.get(), TS_TSA_NAME);
    TS_RESP_CTX_set_serial_cb(ctx.get(), serial, nullptr);
    TS_RESP_CTX_set_time_cb(ctx.get(), &builtin_tsa::time_callback, this);
    return ctx;
}

timestamp_token builtin_tsa::stamp(const sha256_digest& digest) {
    ts_resp_ctx_ptr ctx;
    {
        std::lock_guard lock(mutex_);
        if (!idle_.empty()) {
            ctx = std::move(idle_.back());
            idle_.pop_back();
        }
    }
    if (!ctx)
        ctx = make_context();

    auto request = make_timestamp_request(digest);
    bio_ptr in(BIO_new_mem_buf(request.data(), static_cast<int>(request.size())));
    ts_resp_ptr response(in ? TS_RESP_create_response(ctx.get(), in.get()) : nullptr);
    {
        std::lock_guard lock(mutex_);
        idle_.push_back(std::move(ctx));
    }
    if (!response)
        throw_openssl(errc::tsa_not_granted, "built-in TSA");

    long status =
        ASN1_INTEGER_get(TS_STATUS_INFO_get0_status(TS_RESP_get_status_info(response.get())));
    PKCS7* token = TS_RESP_get_token(response.get());
    if (status != TS_STATUS_GRANTED || !token)
        throw_openssl(errc::tsa_not_granted, "built-in TSA refused the request");

    int n = i2d_PKCS7(token, nullptr);
    bytes der(static_cast<std::size_t>(n > 0 ? n : 0));
    unsigned char* p = der.data();
    if (n <= 0 || i2d_PKCS7(token, &p) != n)
        throw_openssl(errc::openssl_failure, "encoding time-stamp token");
    // The TSTInfo we just made, not a decoding of its encoding (which costs a key parse).
    return describe_token(TS_RESP_get_tst_info(response.get()), std::move(der));
}

std::vector<x509_ptr> builtin_tsa::certificates() const {
    std::vector<x509_ptr> out;
    for (const auto& cert : identity_.chain)
        out.push_back(clone(cert.get()));
    return out;
}

} // namespace sceau::crypto
