#pragma once

#include "crypto/openssl.hpp"

#include <mutex>
#include <span>
#include <vector>

namespace sceau::crypto {

/// A public key that verifies many signatures over digests. OpenSSL 3 pays for each new
/// verification context (the algorithm fetched from its provider under a lock, the key
/// exported to it), so a context is made once per concurrent caller and kept for the next
/// signature, with the digest it was last set for. Thread-safe.
class key_verifier {
public:
    /// Takes a reference of its own on `key`. Throws error(bad_key) for a null key.
    explicit key_verifier(EVP_PKEY* key);
    key_verifier(const key_verifier&) = delete;
    key_verifier& operator=(const key_verifier&) = delete;

    /// Whether `signature` is a signature over `digest`, made with `md`: for an EC key a
    /// DER ECDSA-Sig-Value, for RSA a PKCS#1 v1.5 signature (RFC 8017 section 8.2) whose
    /// DigestInfo names `md`. Any other key type does not verify. Throws
    /// error(openssl_failure) only when no context can be made.
    bool verify(const EVP_MD* md, std::span<const std::uint8_t> digest,
                std::span<const std::uint8_t> signature) const;

    /// EVP_PKEY_EC, EVP_PKEY_RSA...
    int type() const { return type_; }
    /// The size of the group order (EC) or of the modulus (RSA), in bits.
    int bits() const { return bits_; }
    EVP_PKEY* key() const { return key_.get(); }

private:
    struct context {
        std::unique_ptr<EVP_PKEY_CTX, c_deleter<EVP_PKEY_CTX_free>> ctx;
        const EVP_MD* md = nullptr; ///< the digest the context was last set for
    };

    evp_pkey_ptr key_;
    int type_;
    int bits_;
    mutable std::mutex mutex_;
    mutable std::vector<context> idle_; ///< contexts not in use
};

} // namespace sceau::crypto
