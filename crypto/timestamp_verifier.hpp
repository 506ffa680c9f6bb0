#pragma once

#include "crypto/certificate.hpp"
#include "crypto/error.hpp"
#include "crypto/openssl.hpp"
#include "crypto/sha256.hpp"
#include "crypto/timestamp.hpp"
#include "crypto/verification_path.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

namespace sceau::crypto {

namespace tsp {
struct ess_attributes;
}

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

/// Verifies time-stamp tokens found in stored evidence: long after they were issued, and
/// many of them (an audit reads every record's two). A token holds when its TSA
/// certificate has the critical timeStamping usage alone (RFC 3161 section 2.3), chains to
/// an anchor and was valid at the token's genTime; its ESS signing certificate attribute
/// names that certificate; its signature is made with a strong digest and verifies, over
/// signed attributes whose message digest is that of the TSTInfo (RFC 5652 section 5.4);
/// and its message imprint is SHA-256 of what the caller says it stamps.
///
/// Both paths make the same checks in the same order and differ in how the token is read
/// and its signature checked. On the direct path (the default) OpenSSL's DER decoder reads
/// the token against templates that keep the certificates and the names as their bytes,
/// and the signature is checked with a key context kept per TSA certificate. The library
/// path decodes it with d2i_PKCS7 and checks the signature with PKCS7_signatureVerify.
/// Either way the path of each TSA certificate and the ESS attributes naming it are
/// checked once and remembered. Thread-safe.
class timestamp_verifier {
public:
    explicit timestamp_verifier(tsp_trust trust,
                                verification_path path = verification_path::direct);

    /// Throws error with a tsa_* code naming the first fault (bad_certificate for a
    /// carried certificate that is not one).
    timestamp_token verify(std::span<const std::uint8_t> token_der,
                           const sha256_digest& imprint) const;

private:
    using certificate_ref = std::shared_ptr<const known_certificate>;
    /// When a TSA certificate's path allows it to stamp: the narrowest validity over it.
    struct validity {
        time_t not_before;
        time_t not_after;
    };

    timestamp_token verify_directly(std::span<const std::uint8_t> token_der,
                                    const sha256_digest& imprint) const;
    timestamp_token verify_with_pkcs7(std::span<const std::uint8_t> token_der,
                                      const sha256_digest& imprint) const;
    /// The signer's usage and path, built with `candidates` the first time. Throws
    /// error(tsa_signer_usage_invalid or tsa_signer_untrusted).
    validity check_signer(const known_certificate& signer,
                          const std::vector<certificate_ref>& candidates) const;
    static void check_valid_at(const known_certificate& signer, const validity& path,
                               std::chrono::system_clock::time_point at);
    /// The certificates the token carries, then the known TSA certificates.
    std::vector<certificate_ref>
    candidates_of(const std::vector<std::span<const std::uint8_t>>& carried) const;
    /// tsp::check_signing_certificate, remembered for these very attributes and signer.
    void check_ess_once(const known_certificate& signer, const tsp::ess_attributes& ess) const;
    /// That the TSTInfo's TSA name is a GeneralName, remembered for these very bytes.
    void check_tsa_name_once(const ASN1_TYPE& name) const;

    tsp_trust trust_;
    verification_path path_;
    x509_store_ptr store_;
    certificate_cache certificates_;
    std::vector<certificate_ref> known_; ///< trust_.known_tsa_certificates
    mutable std::mutex mutex_;
    mutable std::map<sha256_digest, validity> checked_; ///< by certificate fingerprint
    /// The ESS attributes (v1, then v2) found to name each signer, by its fingerprint.
    mutable std::map<sha256_digest, std::vector<std::pair<bytes, bytes>>> ess_checked_;
    mutable std::vector<bytes> names_checked_; ///< TSA names found to be GeneralNames
};

} // namespace sceau::crypto
