#include "crypto/encoding.hpp"

#include "crypto/error.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <iterator>

namespace sceau::crypto {

std::string to_hex(std::span<const std::uint8_t> data) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(data.size() * 2);
    for (auto b : data) {
        out.push_back(digits[b >> 4]);
        out.push_back(digits[b & 0x0f]);
    }
    return out;
}

std::vector<std::uint8_t> from_hex(std::string_view text) {
    if (text.size() % 2 != 0)
        throw error(errc::bad_encoding, "odd number of hex digits");
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9')
            return c - '0';
        if (c >= 'a' && c <= 'f')
            return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
            return c - 'A' + 10;
        throw error(errc::bad_encoding, "not a hex digit");
    };
    std::vector<std::uint8_t> out;
    out.reserve(text.size() / 2);
    for (std::size_t i = 0; i < text.size(); i += 2)
        out.push_back(static_cast<std::uint8_t>(nibble(text[i]) * 16 + nibble(text[i + 1])));
    return out;
}

std::string to_base64(std::span<const std::uint8_t> data) {
    std::string out(4 * ((data.size() + 2) / 3), '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data.data(),
                            static_cast<int>(data.size()));
    out.resize(static_cast<std::size_t>(n));
    return out;
}

std::vector<std::uint8_t> from_base64(std::string_view text) {
    // Line breaks and spaces are dropped (XML-DSig wraps base64); most texts have none.
    auto blank = [](char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; };
    std::string copy;
    std::string_view clean = text;
    if (std::any_of(text.begin(), text.end(), blank)) {
        copy.reserve(text.size());
        std::copy_if(text.begin(), text.end(), std::back_inserter(copy),
                     [&](char c) { return !blank(c); });
        clean = copy;
    }
    if (clean.size() % 4 != 0)
        throw error(errc::bad_encoding, "base64 length is not a multiple of four");

    std::vector<std::uint8_t> out(clean.size() / 4 * 3);
    int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(clean.data()),
                            static_cast<int>(clean.size()));
    if (n < 0)
        throw error(errc::bad_encoding, "invalid base64");

    // EVP_DecodeBlock counts padding as zero bytes.
    std::size_t padding = 0;
    if (!clean.empty() && clean.back() == '=')
        padding = clean.size() >= 2 && clean[clean.size() - 2] == '=' ? 2 : 1;
    out.resize(static_cast<std::size_t>(n) - padding);
    return out;
}

std::string to_base64url(std::span<const std::uint8_t> data) {
    std::string out = to_base64(data);
    while (!out.empty() && out.back() == '=')
        out.pop_back();
    for (char& c : out) {
        if (c == '+')
            c = '-';
        else if (c == '/')
            c = '_';
    }
    return out;
}

std::vector<std::uint8_t> from_base64url(std::string_view text) {
    if (text.size() % 4 == 1)
        throw error(errc::bad_encoding, "base64url length is impossible");
    std::string standard;
    standard.reserve(text.size() + 2);
    for (char c : text) {
        if (c == '-')
            standard.push_back('+');
        else if (c == '_')
            standard.push_back('/');
        else if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
            standard.push_back(c);
        else
            throw error(errc::bad_encoding, "not a base64url character");
    }
    while (standard.size() % 4 != 0)
        standard.push_back('=');
    return from_base64(standard);
}

std::string percent_encode(std::string_view text) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(text.size());
    for (unsigned char c : text) {
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            out.push_back(static_cast<char>(c));
        } else {
            out.push_back('%');
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 0x0f]);
        }
    }
    return out;
}

} // namespace sceau::crypto
