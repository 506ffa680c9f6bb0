#pragma once

#include "crypto/openssl.hpp"

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace sceau::crypto {

using sha256_digest = std::array<std::uint8_t, 32>;

/// The implementation of a SHA-2 or SHA-3 digest by its NID, fetched once from the default
/// provider; null for any other digest. OpenSSL 3 looks an algorithm up again, under a
/// lock, each time a context is initialised with EVP_sha256() and the like: verifiers that
/// hash thousands of small inputs use these instead.
const EVP_MD* fetched_digest(int nid);

/// Incremental SHA-256, for data that arrives in pieces (uploads, files).
class sha256 {
public:
    sha256();

    void update(std::span<const std::uint8_t> data);
    void update(std::string_view data);

    /// The digest; the object starts over afterwards.
    sha256_digest finish();

    static sha256_digest of(std::span<const std::uint8_t> data);
    static sha256_digest of(std::string_view data);

private:
    evp_md_ctx_ptr ctx_;
};

} // namespace sceau::crypto
