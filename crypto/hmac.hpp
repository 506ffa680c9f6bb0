#pragma once

#include "crypto/sha256.hpp"

#include <cstdint>
#include <span>
#include <string_view>

namespace sceau::crypto {

/// HMAC-SHA256 (RFC 2104 with SHA-256, as RFC 4231 tests it) of `data` under `key`.
/// Keys longer than the 64-byte block are hashed first, as the RFC says. Throws
/// error(openssl_failure) only if OpenSSL cannot compute it.
sha256_digest hmac_sha256(std::span<const std::uint8_t> key, std::span<const std::uint8_t> data);
sha256_digest hmac_sha256(std::string_view key, std::string_view data);

} // namespace sceau::crypto
