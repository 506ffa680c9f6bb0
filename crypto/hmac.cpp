#include "crypto/hmac.hpp"

#include "crypto/encoding.hpp"
#include "crypto/error.hpp"

namespace sceau::crypto {

sha256_digest hmac_sha256(std::span<const std::uint8_t> key, std::span<const std::uint8_t> data) {
    // An empty span may hold a null pointer: never hand OpenSSL one.
    static const std::uint8_t nothing = 0;
    const std::uint8_t* key_bytes = key.empty() ? &nothing : key.data();
    const std::uint8_t* data_bytes = data.empty() ? &nothing : data.data();

    sha256_digest out{};
    std::size_t written = 0;
    if (!EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key_bytes, key.size(), data_bytes,
                   data.size(), out.data(), out.size(), &written) ||
        written != out.size())
        throw_openssl(errc::openssl_failure, "HMAC-SHA256");
    return out;
}

sha256_digest hmac_sha256(std::string_view key, std::string_view data) {
    return hmac_sha256(as_bytes(key), as_bytes(data));
}

} // namespace sceau::crypto
