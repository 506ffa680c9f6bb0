#pragma once

#include "crypto/error.hpp"
#include "crypto/openssl.hpp"
#include "crypto/timestamp.hpp"
#include "crypto/timestamp_verifier.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace sceau::crypto {

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
