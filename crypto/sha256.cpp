#include "crypto/sha256.hpp"

#include "crypto/encoding.hpp"
#include "crypto/error.hpp"

namespace sceau::crypto {

sha256::sha256()
    : ctx_(EVP_MD_CTX_new()) {
    if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1)
        throw_openssl(errc::openssl_failure, "SHA-256 init");
}

void sha256::update(std::span<const std::uint8_t> data) {
    if (EVP_DigestUpdate(ctx_.get(), data.data(), data.size()) != 1)
        throw_openssl(errc::openssl_failure, "SHA-256 update");
}

void sha256::update(std::string_view data) {
    update(as_bytes(data));
}

sha256_digest sha256::finish() {
    sha256_digest out{};
    unsigned int n = 0;
    if (EVP_DigestFinal_ex(ctx_.get(), out.data(), &n) != 1 || n != out.size())
        throw_openssl(errc::openssl_failure, "SHA-256 final");
    if (EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1)
        throw_openssl(errc::openssl_failure, "SHA-256 init");
    return out;
}

sha256_digest sha256::of(std::span<const std::uint8_t> data) {
    sha256_digest out{};
    if (EVP_Digest(data.data(), data.size(), out.data(), nullptr, EVP_sha256(), nullptr) != 1)
        throw_openssl(errc::openssl_failure, "SHA-256");
    return out;
}

sha256_digest sha256::of(std::string_view data) {
    return of(as_bytes(data));
}

} // namespace sceau::crypto
