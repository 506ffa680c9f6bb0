#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sceau::crypto::jws {

/// Whether `alg` is a JWS algorithm this verifier implements (RFC 7518 section 3.1):
/// RS256/384/512, PS256/384/512, ES256/384/512. Never `none`, never an HMAC: a provider's
/// signature is always checked with one of its public keys.
bool is_supported_algorithm(std::string_view alg) noexcept;

/// A JSON object parsed strictly, as JOSE headers and JWT claims are read (RFC 7515
/// section 5.2, RFC 7519 section 4): nothing when the text is not one JSON object, holds
/// a member name twice at any depth, nests deeper than `max_depth`, or is not UTF-8.
std::optional<nlohmann::json> parse_object(std::string_view text, int max_depth = 16);

/// A provider's public signing keys, from its JWK Set (RFC 7517 section 5). Only what can
/// verify a signature is kept: RSA keys of at least 2048 bits and EC keys on P-256, P-384
/// or P-521, reduced to their public members. Symmetric (`oct`) keys, keys whose `use` is
/// not `sig`, and keys of other types are left out.
class key_set {
public:
    struct key {
        std::string kid; ///< may be empty
        std::string kty; ///< RSA or EC
        std::string crv; ///< EC only
        std::string alg; ///< as the set declares it; may be empty
        std::string jwk; ///< the public members only, as JSON
    };

    key_set() = default;

    /// Throws std::invalid_argument when the text is not a JWK Set; a set may keep no key.
    static key_set parse(std::string_view json);

    const std::vector<key>& keys() const noexcept { return keys_; }
    bool empty() const noexcept { return keys_.empty(); }

    /// The key named `kid`, or nothing.
    const key* find(std::string_view kid) const noexcept;

private:
    std::vector<key> keys_;
};

/// Why a compact JWS was refused.
enum class error {
    malformed,         ///< not three base64url parts, a header that is no JSON object...
    algorithm_refused, ///< `none`, an HMAC, or an algorithm not pinned for the provider
    key_unknown,       ///< no key of the set has the header's `kid`
    key_mismatch,      ///< the key's type, curve or declared `alg` disagree with the header
    signature_invalid, ///< the signature does not verify with the chosen key
};

std::string_view to_string(error e) noexcept;

/// A verified JWS: its payload, and the algorithm and key that verified it.
struct verified {
    std::string payload;
    std::string alg;
    std::string kid;
};

struct result {
    std::optional<verified> value;
    error reason = error::malformed; ///< when refused
    std::string message;             ///< when refused; never holds the payload

    explicit operator bool() const noexcept { return value.has_value(); }
};

/// Verifies a compact JWS (RFC 7515 section 7.1) against `keys`: the header's `alg` must
/// be one of `algorithms` (all of them supported ones); the key is the one its `kid`
/// names (without a `kid`, the set's only key fit for `alg`); the key's type and curve
/// must fit `alg` and its declared `alg`, if any, must be the header's. A `crit` header
/// is refused; keys or key URLs in the header (`jwk`, `jku`, `x5c`, `x5u`) are never used.
result verify(std::string_view compact, const key_set& keys,
              const std::vector<std::string>& algorithms, std::size_t max_bytes = 64 * 1024);

} // namespace sceau::crypto::jws
