#pragma once

#include "crypto/openssl.hpp"

#include <filesystem>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sceau::crypto {

/// Every certificate of a PEM text, in order. Throws error(bad_certificate) if none.
std::vector<x509_ptr> certificates_from_pem(std::string_view pem);

/// The private key of a PEM text (PKCS#8 or traditional). Throws error(bad_key).
evp_pkey_ptr private_key_from_pem(std::string_view pem);

/// A whole file read into memory (keys and certificates are small).
std::string read_small_file(const std::filesystem::path& path, std::size_t limit = 1 << 20);

x509_ptr clone(X509* cert);
std::string to_pem(X509* cert);
bytes to_der(X509* cert);
std::string subject_text(X509* cert);

/// SHA-256 of the DER encoding, lower-case hex.
std::string fingerprint_sha256(X509* cert);

/// A key and its certificate chain: the certificate first, then its issuers.
struct signer_identity {
    evp_pkey_ptr key;
    std::vector<x509_ptr> chain;

    X509* certificate() const { return chain.front().get(); }

    /// Builds one from PEM texts; checks that the key belongs to the certificate.
    static signer_identity from_pem(std::string_view key_pem, std::string_view chain_pem);
};

/// Certificates decoded once: a verifier meets the same few certificates in every record
/// and token, and OpenSSL 3 decodes a certificate's public key at great cost. Keyed by
/// the DER bytes; holds at most `capacity` certificates, then decodes without keeping.
/// Thread-safe.
class certificate_cache {
public:
    explicit certificate_cache(std::size_t capacity = 256)
        : capacity_(capacity) {}

    /// The certificate of `der`, which must be exactly one DER certificate. Throws
    /// error(bad_certificate).
    x509_ptr decode(std::span<const std::uint8_t> der) const;

private:
    std::size_t capacity_;
    mutable std::mutex mutex_;
    mutable std::map<std::string, x509_ptr, std::less<>> known_;
};

/// An X509_STORE holding the given trust anchors.
x509_store_ptr make_store(const std::vector<x509_ptr>& anchors);

} // namespace sceau::crypto
