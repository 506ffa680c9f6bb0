#pragma once

#include "crypto/jws.hpp"
#include "crypto/timestamp.hpp"
#include "protocols/http_fetch.hpp"
#include "protocols/identification.hpp"
#include "protocols/matching.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sceau::protocols::oidc {

/// The identification method recorded for an OpenID Connect identification.
inline constexpr std::string_view identification_method = "urn:sceau:identification:oidc";

/// The provider's subject identifier (`sub`), as the evidence records it.
inline constexpr std::string_view subject_attribute = "urn:sceau:attribute:oidc:sub";

/// A provider's endpoints (OpenID Connect Discovery 1.0 section 3).
struct provider_metadata {
    std::string issuer;
    std::string authorization_endpoint;
    std::string token_endpoint;
    std::string userinfo_endpoint; ///< may be empty: every claim then comes in the ID token
    std::string jwks_uri;
    bool iss_parameter = false; ///< the provider sends `iss` with its answer (RFC 9207)
};

/// Reads a discovery document: its `issuer` must be `issuer` exactly (Discovery section
/// 4.3), its endpoints https URLs (http only on the loopback), and `S256` among its PKCE
/// methods when it lists them. Throws std::invalid_argument saying what is wrong.
provider_metadata read_discovery(std::string_view json, std::string_view issuer);

/// Throws std::invalid_argument unless `url` is an absolute https URL, or an http URL on
/// the loopback (127.0.0.0/8, [::1], localhost), without user name, password or fragment.
void check_endpoint_url(std::string_view url);

/// One OpenID Connect provider as the operator configures it.
struct provider_config {
    std::string id;     ///< short name in routes and logs, e.g. "franceconnect"
    std::string label;  ///< what the recipient's page offers, e.g. "FranceConnect+"
    std::string issuer; ///< exactly as the provider's `iss`
    std::string client_id;
    std::string client_secret;
    std::string token_auth_method = "client_secret_basic"; ///< or client_secret_post
    std::string redirect_uri; ///< https://HOST/auth/oidc/callback, as registered
    /// The JWS algorithms the provider signs with; anything else is refused.
    std::vector<std::string> algorithms = {"ES256", "RS256"};
    /// `acr` values and the eIDAS level each stands for; any other `acr` is refused.
    std::vector<std::pair<std::string, std::string>> acr_levels = {
        {"eidas1", std::string(loa::low)},
        {"eidas2", std::string(loa::substantial)},
        {"eidas3", std::string(loa::high)}};
    std::vector<std::string> scopes = {"openid", "given_name", "family_name", "birthdate"};
    /// Claims asked for as essential with the `claims` parameter; empty: not sent.
    std::vector<std::string> claims;
    /// The claim holding the usage name (nom d'usage), compared as a family name too:
    /// `preferred_username` at FranceConnect. Empty: none.
    std::string usage_name_claim;
    /// Endpoints; those left empty come from the discovery document.
    provider_metadata endpoints;
    std::chrono::seconds clock_skew{60};            ///< on exp, iat, nbf and auth_time
    std::chrono::seconds keys_refresh_interval{60}; ///< at most one key fetch this often
    std::chrono::seconds metadata_lifetime{86400};  ///< discovery and keys are fetched again after
};

/// Why an identification was refused. The names are stable: logs, metrics and pages use
/// them.
enum class refusal {
    provider_error,        ///< the provider answered the authorisation with an error
    provider_unreachable,  ///< discovery, keys, token or userinfo could not be had
    token_request_refused, ///< the token endpoint did not give an ID token for the code
    issuer_mismatch,       ///< not the configured issuer (token, userinfo, or `iss` answer)
    malformed_token,       ///< not a compact JWS with a JSON object as header and payload
    algorithm_refused,     ///< `none`, an HMAC, or an algorithm not pinned for the provider
    key_unknown,           ///< the `kid` is not in the provider's keys, even refreshed
    key_mismatch,          ///< the key's type or declared algorithm disagree with `alg`
    signature_invalid,     ///< the signature does not verify
    audience_mismatch,     ///< not for this client, or several audiences without our azp
    malformed_claim,       ///< a standard claim missing or of the wrong type
    expired,               ///< exp past, beyond the skew
    not_yet_valid,         ///< iat, nbf or auth_time in the future, beyond the skew
    issued_before_request, ///< iat before the identification began
    nonce_mismatch,        ///< not the nonce of this request
    loa_unknown,           ///< an `acr` that the configured table does not map
    loa_too_low,           ///< a lower level than the one required
    subject_mismatch,      ///< userinfo about another `sub` than the ID token
    attribute_missing,     ///< given_name, family_name or birthdate absent
    attribute_malformed,   ///< a name that is not plain text, a date that is not a date
    attribute_conflict,    ///< the ID token and userinfo disagree on a claim
};

std::string_view to_string(refusal r) noexcept;

/// One reason for a refusal, with a message for the operator's log. Messages never hold
/// a code, a token or a claim's value.
struct finding {
    refusal reason;
    std::string message;
};

/// The person the provider vouched for, from a verified ID token (and userinfo).
struct verified_identity {
    std::string issuer;
    std::string subject;
    std::string given_names;
    std::string family_name; ///< at FranceConnect, the birth name
    std::string usage_name;  ///< empty when the provider gave none
    std::string birth_date;  ///< YYYY-MM-DD
    std::string acr;
    std::string loa;                                        ///< the eIDAS level URI `acr` maps to
    std::chrono::system_clock::time_point authenticated_at; ///< auth_time, else iat

    /// As the acceptance or refusal evidence records it: the eIDAS attribute URIs, the
    /// usage name (if any) as CurrentFamilyName and the family name then as BirthName.
    identification to_identification() const;

    /// What match_person() compares with the person the sender named: the family name,
    /// then the usage name (either may be the name the sender knows).
    std::vector<person_claim> to_person_claims() const;
};

/// The verdict on one identification: an identity, or the findings that refuse it.
struct verification {
    std::optional<verified_identity> identity;
    std::vector<finding> findings; ///< empty exactly when identity is set

    explicit operator bool() const noexcept { return identity.has_value(); }
    refusal reason() const;      ///< the first finding; std::logic_error when accepted
    std::string message() const; ///< every finding, joined
};

/// What the ID token must answer: the request's nonce, the level asked for, and when the
/// request began (the token cannot be older).
struct expectations {
    std::string nonce;
    std::string required_loa;
    std::chrono::system_clock::time_point requested_at;
};

/// Verifies an ID token and reads the identity from its claims alone (OpenID Connect
/// Core 1.0 section 3.1.3.7): the signature with `keys` and the provider's pinned
/// algorithms, then iss, aud and azp, exp, iat, nbf, auth_time, nonce, acr mapped to a
/// level at least the required one, and given_name, family_name, birthdate. Pure: no I/O.
verification verify_id_token(std::string_view id_token, const provider_config& provider,
                             const crypto::jws::key_set& keys, const expectations& expected,
                             std::chrono::system_clock::time_point now);

/// The browser's way to the provider, and the secrets to keep server-side until the
/// answer: `state` names the request, `nonce` binds the ID token to it, `code_verifier`
/// is the PKCE secret (RFC 7636, S256). Each is 256 random bits.
struct authorization_request {
    std::string url;
    std::string state;
    std::string nonce;
    std::string code_verifier;
};

/// What the provider sent back to the redirect URI.
struct provider_answer {
    std::string code;
    std::string iss;   ///< RFC 9207; may be empty
    std::string error; ///< e.g. access_denied
};

/// A relying party of one provider (OpenID Connect Core 1.0, authorisation code flow).
/// Discovery and keys are fetched when first needed and kept; the keys are fetched again
/// when a token names an unknown `kid`, at most once per `keys_refresh_interval`.
/// Thread-safe.
class relying_party {
public:
    /// Throws std::invalid_argument when the configuration cannot work (an algorithm off
    /// the list, an acr of an unknown level, a bad endpoint URL...).
    relying_party(provider_config config, http_fetcher& http, crypto::clock_fn clock = {});

    const provider_config& config() const { return config_; }

    /// The `acr` value that asks for `loa`; empty when the provider has none for it.
    std::string acr_for(std::string_view loa) const;

    /// A new authorisation request asking for `loa` (acr_values) with prompt=login.
    /// Throws fetch_error when the provider's discovery document cannot be had, and
    /// std::invalid_argument when the provider has no acr for `loa`.
    authorization_request begin(std::string_view loa);

    /// Completes the identification begun with `begin`: the provider's answer, the nonce
    /// and code verifier kept for it. Exchanges the code (client_secret_basic or _post),
    /// verifies the ID token, fetches userinfo (JSON or a signed JWT) when the token lacks
    /// an identity claim, and checks everything verify_id_token() does.
    verification finish(const provider_answer& answer, const std::string& code_verifier,
                        const expectations& expected);

private:
    provider_metadata metadata();
    crypto::jws::key_set keys(bool refresh);
    std::optional<nlohmann::json> userinfo(const std::string& access_token,
                                           const nlohmann::json& id_claims, verification& out);

    provider_config config_;
    http_fetcher& http_;
    crypto::clock_fn clock_;
    std::mutex mutex_;
    std::optional<provider_metadata> metadata_;
    std::chrono::system_clock::time_point metadata_at_{};
    std::optional<crypto::jws::key_set> keys_;
    std::chrono::system_clock::time_point keys_at_{};
};

} // namespace sceau::protocols::oidc
