#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sceau::crypto {

/// Lower-case hexadecimal.
std::string to_hex(std::span<const std::uint8_t> data);

/// Decodes hexadecimal (either case). Throws error(bad_encoding).
std::vector<std::uint8_t> from_hex(std::string_view text);

/// Standard base64 (RFC 4648 section 4) on one line, with padding.
std::string to_base64(std::span<const std::uint8_t> data);

/// Decodes standard base64; white space is ignored. Throws error(bad_encoding).
std::vector<std::uint8_t> from_base64(std::string_view text);

/// base64url without padding (RFC 4648 section 5), for identifiers and tokens.
std::string to_base64url(std::span<const std::uint8_t> data);

/// Decodes base64url without padding, as JOSE writes it (RFC 7515 section 2): only the
/// URL-safe alphabet, no white space, no '='. Throws error(bad_encoding).
std::vector<std::uint8_t> from_base64url(std::string_view text);

/// `text` percent-encoded for a query string or a form: every byte but ALPHA, DIGIT and
/// "-._~" (RFC 3986 section 2.3).
std::string percent_encode(std::string_view text);

inline std::span<const std::uint8_t> as_bytes(std::string_view s) noexcept {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

} // namespace sceau::crypto
