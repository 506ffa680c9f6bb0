#pragma once

#include <string>
#include <string_view>
#include <system_error>

namespace sceau::crypto {

/// What went wrong in the crypto module, named from the caller's side.
enum class errc {
    openssl_failure = 1,
    bad_key,
    bad_certificate,
    bad_encoding,
    xml_malformed,
    xml_forbidden_construct,
    signing_failed,
    tsa_unreachable,
    tsa_response_malformed,
    tsa_not_granted,
    tsa_token_missing,
    tsa_nonce_mismatch,
    tsa_imprint_mismatch,
    tsa_policy_mismatch,
    tsa_signature_invalid,
    tsa_signer_untrusted,
    tsa_signer_usage_invalid,
    tsa_signer_unknown,
    tsa_ess_mismatch,
    signature_missing,
    signature_malformed,
    signature_algorithm_refused,
    signature_transform_refused,
    signature_reference_mismatch,
    signature_invalid,
    container_malformed,
    container_entry_refused,
    container_too_large,
    container_incomplete,
    note_malformed,
    note_key_unknown,
    note_signature_invalid,
};

const std::error_category& crypto_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), crypto_category()};
}

/// The exception every function of the crypto module throws; code() is an errc.
class error : public std::system_error {
public:
    error(errc code, const std::string& what)
        : std::system_error(make_error_code(code), what) {}
};

/// Whether an error says that no valid time-stamp could be had (a tsa_* code): the
/// caller then records nothing as done and asks to retry later.
inline bool is_tsa_failure(const error& e) noexcept {
    auto v = static_cast<errc>(e.code().value());
    return e.code().category() == crypto_category() && v >= errc::tsa_unreachable &&
           v <= errc::tsa_ess_mismatch;
}

/// Throws `error(code, context + ": " + the OpenSSL error queue)`, emptying the queue.
[[noreturn]] void throw_openssl(errc code, std::string_view context);

/// Empties the OpenSSL error queue of this thread into one line of text.
std::string drain_openssl_errors();

} // namespace sceau::crypto

template <>
struct std::is_error_code_enum<sceau::crypto::errc> : std::true_type {};
