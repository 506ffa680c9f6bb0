#include "crypto/sha256.hpp"

#include "crypto/encoding.hpp"
#include "crypto/error.hpp"

#include <openssl/objects.h>

#include <array>
#include <utility>

namespace sceau::crypto {
namespace {

using evp_md_ptr = std::unique_ptr<EVP_MD, c_deleter<EVP_MD_free>>;

struct fetched_digests {
    std::array<std::pair<int, evp_md_ptr>, 7> digests;

    fetched_digests() {
        int nids[] = {NID_sha1,     NID_sha256,   NID_sha384,  NID_sha512,
                      NID_sha3_256, NID_sha3_384, NID_sha3_512};
        for (std::size_t i = 0; i < digests.size(); ++i)
            digests[i] = {nids[i], evp_md_ptr(EVP_MD_fetch(nullptr, OBJ_nid2sn(nids[i]), nullptr))};
    }
};

const EVP_MD* sha256_md() {
    static const EVP_MD* md = fetched_digest(NID_sha256);
    if (!md)
        throw_openssl(errc::openssl_failure, "fetching SHA-256");
    return md;
}

} // namespace

const EVP_MD* fetched_digest(int nid) {
    static const fetched_digests all;
    for (const auto& [n, md] : all.digests) {
        if (n == nid)
            return md.get();
    }
    return nullptr;
}

sha256::sha256()
    : ctx_(EVP_MD_CTX_new()) {
    if (!ctx_ || EVP_DigestInit_ex2(ctx_.get(), sha256_md(), nullptr) != 1)
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
    if (EVP_DigestInit_ex2(ctx_.get(), sha256_md(), nullptr) != 1)
        throw_openssl(errc::openssl_failure, "SHA-256 init");
    return out;
}

sha256_digest sha256::of(std::span<const std::uint8_t> data) {
    sha256_digest out{};
    if (EVP_Digest(data.data(), data.size(), out.data(), nullptr, sha256_md(), nullptr) != 1)
        throw_openssl(errc::openssl_failure, "SHA-256");
    return out;
}

sha256_digest sha256::of(std::string_view data) {
    return of(as_bytes(data));
}

} // namespace sceau::crypto
