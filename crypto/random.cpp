#include "crypto/random.hpp"

#include "crypto/error.hpp"

#include <openssl/rand.h>

namespace sceau::crypto {

std::vector<std::uint8_t> random_bytes(std::size_t n) {
    std::vector<std::uint8_t> out(n);
    if (n != 0 && RAND_bytes(out.data(), static_cast<int>(n)) != 1)
        throw_openssl(errc::openssl_failure, "random bytes");
    return out;
}

std::string random_id(std::string_view prefix, std::size_t bytes) {
    // RFC 4648 base32 alphabet in lower case: no padding, no ambiguous punctuation.
    static constexpr char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
    auto data = random_bytes(bytes);

    std::string out(prefix);
    unsigned buffer = 0;
    int bits = 0;
    for (auto b : data) {
        buffer = (buffer << 8) | b;
        bits += 8;
        while (bits >= 5) {
            out.push_back(alphabet[(buffer >> (bits - 5)) & 31]);
            bits -= 5;
        }
    }
    if (bits > 0)
        out.push_back(alphabet[(buffer << (5 - bits)) & 31]);
    return out;
}

} // namespace sceau::crypto
