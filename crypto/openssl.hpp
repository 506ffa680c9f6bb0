#pragma once

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/ts.h>
#include <openssl/x509.h>

#include <cstdint>
#include <memory>
#include <vector>

namespace sceau::crypto {

/// A deleter that calls the library's own free function.
template <auto free_fn>
struct c_deleter {
    template <typename T>
    void operator()(T* p) const noexcept {
        free_fn(p);
    }
};

using bio_ptr = std::unique_ptr<BIO, c_deleter<BIO_free_all>>;
using evp_pkey_ptr = std::unique_ptr<EVP_PKEY, c_deleter<EVP_PKEY_free>>;
using evp_md_ctx_ptr = std::unique_ptr<EVP_MD_CTX, c_deleter<EVP_MD_CTX_free>>;
using x509_ptr = std::unique_ptr<X509, c_deleter<X509_free>>;
using x509_store_ptr = std::unique_ptr<X509_STORE, c_deleter<X509_STORE_free>>;
using asn1_object_ptr = std::unique_ptr<ASN1_OBJECT, c_deleter<ASN1_OBJECT_free>>;
using asn1_integer_ptr = std::unique_ptr<ASN1_INTEGER, c_deleter<ASN1_INTEGER_free>>;
using bignum_ptr = std::unique_ptr<BIGNUM, c_deleter<BN_free>>;
using ts_req_ptr = std::unique_ptr<TS_REQ, c_deleter<TS_REQ_free>>;
using ts_resp_ptr = std::unique_ptr<TS_RESP, c_deleter<TS_RESP_free>>;
using ts_resp_ctx_ptr = std::unique_ptr<TS_RESP_CTX, c_deleter<TS_RESP_CTX_free>>;
using ts_verify_ctx_ptr = std::unique_ptr<TS_VERIFY_CTX, c_deleter<TS_VERIFY_CTX_free>>;
using pkcs7_ptr = std::unique_ptr<PKCS7, c_deleter<PKCS7_free>>;

struct x509_stack_deleter {
    void operator()(STACK_OF(X509) * s) const noexcept { sk_X509_pop_free(s, X509_free); }
};
using x509_stack_ptr = std::unique_ptr<STACK_OF(X509), x509_stack_deleter>;

using bytes = std::vector<std::uint8_t>;

} // namespace sceau::crypto
