#pragma once

#include "crypto/certificate.hpp"
#include "crypto/openssl.hpp"
#include "crypto/sha256.hpp"

#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace sceau::crypto {

using clock_fn = std::function<std::chrono::system_clock::time_point()>;

/// An RFC 3161 TimeStampToken and what a caller needs to know of it.
struct timestamp_token {
    bytes der;                                  ///< the token: CMS SignedData, DER
    std::chrono::system_clock::time_point time; ///< genTime (RFC 3161 section 2.4.2)
    std::string policy;                         ///< TSA policy OID, dotted
    std::string serial;                         ///< serialNumber, lower-case hex
};

/// Anything that time-stamps a SHA-256 digest: the built-in TSA or an external one.
class timestamp_authority {
public:
    virtual ~timestamp_authority() = default;

    /// Stamps a SHA-256 digest. Throws error with a tsa_* code when no valid token can
    /// be had; the caller must then record nothing as done.
    virtual timestamp_token stamp(const sha256_digest& digest) = 0;

    /// The certificates a verifier needs: the TSA certificate and its issuers.
    virtual std::vector<x509_ptr> certificates() const = 0;

    /// Whether this TSA is a qualified one (never the built-in one).
    virtual bool qualified() const = 0;
};

/// A DER TimeStampReq for a SHA-256 digest, with a fresh 64-bit nonce and certReq set
/// (RFC 3161 section 2.4.1). `policy_oid` may be empty.
bytes make_timestamp_request(const sha256_digest& digest, std::string_view policy_oid = {});

/// Reads genTime, policy and serial of a DER TimeStampToken.
timestamp_token describe_token(bytes der);

/// The same from its TSTInfo, already decoded.
timestamp_token describe_token(TS_TST_INFO* info, bytes der);

/// Parses an ASN.1 GeneralizedTime as RFC 3161 restricts it: YYYYMMDDhhmmss[.f*]Z.
std::chrono::system_clock::time_point parse_generalized_time(std::string_view text);

/// The built-in TSA on OpenSSL's TS API. Its tokens are never qualified. Thread-safe:
/// each concurrent caller gets its own response context.
class builtin_tsa final : public timestamp_authority {
public:
    /// `policy_oid` is the TSA policy put in each token; `clock` defaults to the system's.
    builtin_tsa(signer_identity identity, std::string policy_oid, clock_fn clock = {});
    ~builtin_tsa() override;

    timestamp_token stamp(const sha256_digest& digest) override;
    std::vector<x509_ptr> certificates() const override;
    bool qualified() const override { return false; }

private:
    ts_resp_ctx_ptr make_context();
    static int time_callback(TS_RESP_CTX*, void* self, long* sec, long* usec);

    signer_identity identity_;
    asn1_object_ptr policy_;
    clock_fn clock_;
    std::mutex mutex_;
    std::vector<ts_resp_ctx_ptr> idle_; // response contexts not in use
};

} // namespace sceau::crypto
