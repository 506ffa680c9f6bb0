#include "crypto/error.hpp"

#include <openssl/err.h>

namespace sceau::crypto {
namespace {

class category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "sceau.crypto"; }

    std::string message(int value) const override {
        switch (static_cast<errc>(value)) {
        case errc::openssl_failure:
            return "OpenSSL failure";
        case errc::bad_key:
            return "unusable private key";
        case errc::bad_certificate:
            return "unusable certificate";
        case errc::bad_encoding:
            return "bad encoding";
        case errc::xml_malformed:
            return "malformed XML";
        case errc::xml_forbidden_construct:
            return "forbidden XML construct";
        case errc::signing_failed:
            return "signing failed";
        case errc::tsa_unreachable:
            return "time-stamping authority unreachable";
        case errc::tsa_response_malformed:
            return "malformed time-stamp response";
        case errc::tsa_not_granted:
            return "time-stamp not granted";
        case errc::tsa_token_missing:
            return "time-stamp response without token";
        case errc::tsa_nonce_mismatch:
            return "time-stamp nonce mismatch";
        case errc::tsa_imprint_mismatch:
            return "time-stamp message imprint mismatch";
        case errc::tsa_policy_mismatch:
            return "time-stamp policy mismatch";
        case errc::tsa_signature_invalid:
            return "time-stamp signature invalid";
        case errc::tsa_signer_untrusted:
            return "time-stamp signer not trusted";
        case errc::tsa_signer_usage_invalid:
            return "time-stamp signer key usage invalid";
        case errc::tsa_signer_unknown:
            return "time-stamp signer certificate unknown";
        case errc::tsa_ess_mismatch:
            return "time-stamp signing certificate identifier mismatch";
        case errc::signature_missing:
            return "XML signature missing";
        case errc::signature_malformed:
            return "XML signature not of the expected shape";
        case errc::signature_algorithm_refused:
            return "XML signature algorithm not allowed";
        case errc::signature_transform_refused:
            return "XML signature transform not allowed";
        case errc::signature_reference_mismatch:
            return "XML signature reference does not point at the signed element";
        case errc::signature_invalid:
            return "XML signature invalid";
        case errc::container_malformed:
            return "not a readable ASiC-E container";
        case errc::container_entry_refused:
            return "container entry refused";
        case errc::container_too_large:
            return "container over its limits";
        case errc::container_incomplete:
            return "container entry neither signed nor expected";
        case errc::note_malformed:
            return "malformed signed note";
        case errc::note_key_unknown:
            return "no signature of the expected key on the note";
        case errc::note_signature_invalid:
            return "note signature does not verify";
        }
        return "unknown crypto error";
    }
};

} // namespace

const std::error_category& crypto_category() noexcept {
    static const category_impl instance;
    return instance;
}

std::string drain_openssl_errors() {
    std::string text;
    char buffer[256];
    while (unsigned long code = ERR_get_error()) {
        ERR_error_string_n(code, buffer, sizeof buffer);
        if (!text.empty())
            text += "; ";
        text += buffer;
    }
    return text;
}

void throw_openssl(errc code, std::string_view context) {
    std::string what(context);
    if (auto queue = drain_openssl_errors(); !queue.empty())
        what += ": " + queue;
    throw error(code, what);
}

} // namespace sceau::crypto
