#pragma once

#include "crypto/error.hpp"
#include "crypto/openssl.hpp"
#include "crypto/timestamp.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <vector>

namespace sceau::crypto {

/// What a verifier of RFC 3161 replies trusts.
struct tsp_trust {
    /// Certificates a TSA certificate must chain to. Any certificate may be an anchor, a
    /// root or not.
    std::vector<x509_ptr> anchors;
    /// TSA certificates to use when a token does not carry its signer's certificate
    /// (certReq absent, or a TSA that ignores it). Knowing one does not make it trusted.
    std::vector<x509_ptr> known_tsa_certificates;
    /// The TSA policy every token must carry, dotted; empty accepts any policy.
    std::string policy_oid;
};

/// Verifies a DER TimeStampResp against the DER TimeStampReq it answers (RFC 3161
/// sections 2.4.1 and 2.4.2) and returns its token. Certificates are checked against the
/// real clock. Throws error with the code of the first fault found, in this order:
/// tsa_response_malformed, tsa_not_granted, tsa_token_missing, tsa_signer_unknown,
/// tsa_signer_usage_invalid, tsa_signer_untrusted, tsa_ess_mismatch, tsa_signature_invalid,
/// tsa_imprint_mismatch, tsa_nonce_mismatch, tsa_policy_mismatch. A request that cannot be
/// decoded is bad_encoding.
timestamp_token verify_timestamp_response(std::span<const std::uint8_t> request_der,
                                          std::span<const std::uint8_t> response_der,
                                          const tsp_trust& trust);

/// Verifies time-stamp tokens found in stored evidence: long after they were issued, and
/// many of them (an audit reads every record's two). A token holds when its TSA
/// certificate has the critical timeStamping usage alone (RFC 3161 section 2.3), chains to
/// an anchor and was valid at the token's genTime; its ESS signing certificate attribute
/// names that certificate; its signature is over a strong digest and verifies; and its
/// message imprint is SHA-256 of what the caller says it stamps. Paths are built once per
/// TSA certificate and remembered. Thread-safe.
class timestamp_verifier {
public:
    explicit timestamp_verifier(tsp_trust trust);

    /// Throws error with a tsa_* code naming the first fault.
    timestamp_token verify(std::span<const std::uint8_t> token_der,
                           const sha256_digest& imprint) const;

private:
    struct signer_check {
        std::string problem; ///< empty: the TSA certificate is fit and trusted
        errc code = errc::tsa_signer_untrusted;
        time_t not_before = 0;
        time_t not_after = 0;
    };
    signer_check check_signer(X509* signer, STACK_OF(X509) * candidates) const;

    tsp_trust trust_;
    x509_store_ptr store_;
    certificate_cache certificates_;
    mutable std::mutex mutex_;
    mutable std::map<std::string, signer_check> checked_; ///< by certificate fingerprint
};

/// An external TSA reached over HTTP (RFC 3161 section 3.4). Each stamp sends a fresh
/// request and verifies the reply before returning it. Thread-safe if the transport is;
/// the HTTP one is.
class rfc3161_client final : public timestamp_authority {
public:
    struct options {
        std::string url;                          ///< http or https; no redirect is followed
        std::chrono::milliseconds timeout{10000}; ///< for the whole exchange
        tsp_trust trust;
        bool qualified = false; ///< whether the TSA is a qualified one (eIDAS)
    };

    /// Sends a DER TimeStampReq and returns the DER TimeStampResp; throws on failure.
    using transport = std::function<bytes(const bytes& request)>;

    /// Uses libcurl. Throws error(tsa_unreachable) if the URL is not http or https.
    explicit rfc3161_client(options opts);

    /// Uses `send` instead of HTTP (tests, other transports); `opts.url` is not used.
    rfc3161_client(options opts, transport send);

    /// Throws error: tsa_unreachable when the transport fails (no connection, time-out,
    /// an HTTP status other than 200), tsa_response_malformed for a reply over 1 MiB or
    /// not application/timestamp-reply, else the codes of verify_timestamp_response.
    timestamp_token stamp(const sha256_digest& digest) override;

    /// The known TSA certificates, then the anchors.
    std::vector<x509_ptr> certificates() const override;

    bool qualified() const override { return options_.qualified; }

private:
    options options_;
    transport send_;
};

} // namespace sceau::crypto
