#include "crypto/key_verifier.hpp"

#include "crypto/error.hpp"

#include <openssl/err.h>

namespace sceau::crypto {

key_verifier::key_verifier(EVP_PKEY* key)
    : key_(key)
    , type_(key ? EVP_PKEY_get_base_id(key) : EVP_PKEY_NONE)
    , bits_(key ? EVP_PKEY_get_bits(key) : 0) {
    if (!key)
        throw error(errc::bad_key, "no public key to verify with");
    EVP_PKEY_up_ref(key); // key_ holds this reference
}

bool key_verifier::verify(const EVP_MD* md, std::span<const std::uint8_t> digest,
                          std::span<const std::uint8_t> signature) const {
    if (type_ != EVP_PKEY_EC && type_ != EVP_PKEY_RSA)
        return false;
    context c;
    {
        std::lock_guard lock(mutex_);
        if (!idle_.empty()) {
            c = std::move(idle_.back());
            idle_.pop_back();
        }
    }
    if (!c.ctx) {
        c.ctx.reset(EVP_PKEY_CTX_new_from_pkey(nullptr, key_.get(), nullptr));
        if (!c.ctx || EVP_PKEY_verify_init(c.ctx.get()) != 1)
            throw_openssl(errc::openssl_failure, "signature verification context");
    }

    // For RSA the digest decides the DigestInfo the padding must hold; for ECDSA, only the
    // length a digest must have.
    bool ok = true;
    if (c.md != md) {
        ok = EVP_PKEY_CTX_set_signature_md(c.ctx.get(), md) == 1;
        c.md = ok ? md : nullptr;
    }
    ok = ok && EVP_PKEY_verify(c.ctx.get(), signature.data(), signature.size(), digest.data(),
                               digest.size()) == 1;
    ERR_clear_error(); // a signature that does not verify leaves its reason here

    std::lock_guard lock(mutex_);
    idle_.push_back(std::move(c)); // kept for the next signature
    return ok;
}

} // namespace sceau::crypto
