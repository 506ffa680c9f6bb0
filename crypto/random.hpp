#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sceau::crypto {

/// Bytes from the operating system's CSPRNG through OpenSSL.
std::vector<std::uint8_t> random_bytes(std::size_t n);

/// `prefix` followed by `bytes` random bytes in base32 (lower case, no padding):
/// unguessable identifiers such as `ltr_...`, `evd_...`.
std::string random_id(std::string_view prefix, std::size_t bytes = 16);

} // namespace sceau::crypto
