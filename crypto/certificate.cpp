#include "crypto/certificate.hpp"

#include "crypto/encoding.hpp"
#include "crypto/error.hpp"
#include "crypto/sha256.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>

#include <fstream>

namespace sceau::crypto {
namespace {

bio_ptr memory_bio(std::string_view text) {
    bio_ptr bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
    if (!bio)
        throw_openssl(errc::openssl_failure, "memory BIO");
    return bio;
}

} // namespace

std::vector<x509_ptr> certificates_from_pem(std::string_view pem) {
    auto bio = memory_bio(pem);
    std::vector<x509_ptr> out;
    while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr))
        out.emplace_back(cert);
    ERR_clear_error(); // the read that ends the loop leaves "no start line"
    if (out.empty())
        throw error(errc::bad_certificate, "no PEM certificate found");
    return out;
}

evp_pkey_ptr private_key_from_pem(std::string_view pem) {
    auto bio = memory_bio(pem);
    evp_pkey_ptr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
    if (!key)
        throw_openssl(errc::bad_key, "reading PEM private key");
    return key;
}

std::string read_small_file(const std::filesystem::path& path, std::size_t limit) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw std::runtime_error("cannot open " + path.string());
    std::string data;
    char buffer[8192];
    while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
        data.append(buffer, static_cast<std::size_t>(in.gcount()));
        if (data.size() > limit)
            throw std::runtime_error(path.string() + " is larger than expected");
    }
    return data;
}

x509_ptr clone(X509* cert) {
    X509_up_ref(cert);
    return x509_ptr(cert);
}

std::string to_pem(X509* cert) {
    bio_ptr bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1)
        throw_openssl(errc::openssl_failure, "writing PEM certificate");
    char* data = nullptr;
    long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(n));
}

bytes to_der(X509* cert) {
    int n = i2d_X509(cert, nullptr);
    if (n <= 0)
        throw_openssl(errc::bad_certificate, "encoding certificate");
    bytes out(static_cast<std::size_t>(n));
    unsigned char* p = out.data();
    i2d_X509(cert, &p);
    return out;
}

std::string subject_text(X509* cert) {
    bio_ptr bio(BIO_new(BIO_s_mem()));
    X509_NAME_print_ex(bio.get(), X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
    char* data = nullptr;
    long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(n));
}

std::string fingerprint_sha256(X509* cert) {
    auto der = to_der(cert);
    return to_hex(sha256::of(der));
}

signer_identity signer_identity::from_pem(std::string_view key_pem, std::string_view chain_pem) {
    signer_identity id;
    id.key = private_key_from_pem(key_pem);
    id.chain = certificates_from_pem(chain_pem);
    if (X509_check_private_key(id.certificate(), id.key.get()) != 1)
        throw_openssl(errc::bad_key, "the private key does not match the certificate");
    return id;
}

x509_ptr certificate_cache::decode(std::span<const std::uint8_t> der) const {
    std::string_view key(reinterpret_cast<const char*>(der.data()), der.size());
    {
        std::lock_guard lock(mutex_);
        if (auto it = known_.find(key); it != known_.end())
            return clone(it->second.get());
    }
    const unsigned char* p = der.data();
    x509_ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
    if (!cert || p != der.data() + der.size())
        throw_openssl(errc::bad_certificate, "decoding a certificate");
    std::lock_guard lock(mutex_);
    if (known_.size() < capacity_)
        known_.emplace(std::string(key), clone(cert.get()));
    return cert;
}

x509_store_ptr make_store(const std::vector<x509_ptr>& anchors) {
    x509_store_ptr store(X509_STORE_new());
    if (!store)
        throw_openssl(errc::openssl_failure, "X509 store");
    for (const auto& anchor : anchors) {
        if (X509_STORE_add_cert(store.get(), anchor.get()) != 1)
            throw_openssl(errc::bad_certificate, "adding trust anchor");
    }
    return store;
}

} // namespace sceau::crypto
