#include "protocols/oidc.hpp"

#include "crypto/encoding.hpp"
#include "crypto/openssl.hpp"
#include "crypto/random.hpp"
#include "crypto/sha256.hpp"
#include "crypto/xml.hpp"
#include "protocols/evidence.hpp"
#include "protocols/identification.hpp"
#include "protocols/text_rules.hpp"

#include <curl/curl.h>
#include <openssl/crypto.h>

#include <algorithm>
#include <arpa/inet.h>
#include <cctype>
#include <cmath>
#include <stdexcept>

namespace sceau::protocols::oidc {
namespace {

using std::chrono::system_clock;
using time_point = system_clock::time_point;
using curl_url_ptr = std::unique_ptr<CURLU, crypto::c_deleter<curl_url_cleanup>>;

constexpr std::size_t max_name_bytes = 256;

std::string url_part(CURLU* url, CURLUPart part) {
    char* text = nullptr;
    if (curl_url_get(url, part, &text, 0) != CURLUE_OK || !text)
        return {};
    std::string out(text);
    curl_free(text);
    return out;
}

std::string random_secret() {
    return crypto::to_base64url(crypto::random_bytes(32));
}

bool same(const std::string& a, const std::string& b) {
    return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

/// An error code as a provider sends it (RFC 6749 section 4.1.2.1: printable ASCII),
/// shortened and reduced to what can go into a log line unharmed.
std::string error_code(std::string_view text) {
    std::string out;
    for (char c : text.substr(0, 64)) {
        bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '_' || c == '-' || c == '.';
        out.push_back(plain ? c : '?');
    }
    return out.empty() ? "(none)" : out;
}

refusal from_jws(crypto::jws::error e) {
    switch (e) {
    case crypto::jws::error::malformed:
        return refusal::malformed_token;
    case crypto::jws::error::algorithm_refused:
        return refusal::algorithm_refused;
    case crypto::jws::error::key_unknown:
        return refusal::key_unknown;
    case crypto::jws::error::key_mismatch:
        return refusal::key_mismatch;
    case crypto::jws::error::signature_invalid:
        return refusal::signature_invalid;
    }
    return refusal::malformed_token;
}

/// A NumericDate claim (RFC 7519 section 2): seconds since the epoch, possibly with a
/// fraction. Nothing when absent; `bad` set when present but not a sensible date.
std::optional<time_point> numeric_date(const nlohmann::json& claims, const char* name, bool& bad) {
    auto it = claims.find(name);
    if (it == claims.end())
        return std::nullopt;
    if (!it->is_number() || !std::isfinite(it->get<double>()) || it->get<double>() < 0 ||
        it->get<double>() > 253402300799.0) { // 9999-12-31T23:59:59Z
        bad = true;
        return std::nullopt;
    }
    auto ms = static_cast<long long>(std::floor(it->get<double>() * 1000.0));
    return time_point(std::chrono::milliseconds(ms));
}

/// The claims of an ID token whose signature holds, and what is wrong with them.
struct checked_token {
    std::optional<nlohmann::json> claims;
    std::vector<finding> findings;
};

void check_audience(const nlohmann::json& claims, const provider_config& p,
                    std::vector<finding>& out) {
    std::vector<std::string> audiences;
    auto aud = claims.find("aud");
    if (aud != claims.end() && aud->is_string()) {
        audiences.push_back(aud->get<std::string>());
    } else if (aud != claims.end() && aud->is_array()) {
        for (const auto& a : *aud) {
            if (!a.is_string()) {
                out.push_back({refusal::malformed_claim, "aud holds a value that is no string"});
                return;
            }
            audiences.push_back(a.get<std::string>());
        }
    } else {
        out.push_back({refusal::audience_mismatch, "no aud"});
        return;
    }
    bool ours = false;
    for (const auto& a : audiences)
        ours = ours || a == p.client_id;
    if (!ours) {
        out.push_back({refusal::audience_mismatch, "aud does not name this client"});
        return;
    }
    // Core section 3.1.3.7, items 4 and 5: several audiences need azp, which must be us.
    auto azp = claims.find("azp");
    if (azp != claims.end() && (!azp->is_string() || azp->get<std::string>() != p.client_id))
        out.push_back({refusal::audience_mismatch, "azp is not this client"});
    else if (azp == claims.end() && audiences.size() > 1)
        out.push_back({refusal::audience_mismatch, "several audiences and no azp"});
}

void check_times(const nlohmann::json& claims, const provider_config& p, const expectations& e,
                 time_point now, std::vector<finding>& out) {
    bool bad = false;
    auto exp = numeric_date(claims, "exp", bad);
    auto iat = numeric_date(claims, "iat", bad);
    auto nbf = numeric_date(claims, "nbf", bad);
    auto auth_time = numeric_date(claims, "auth_time", bad);
    if (bad || !exp || !iat) {
        out.push_back(
            {refusal::malformed_claim, "exp or iat missing, or a time is no NumericDate"});
        return;
    }
    auto skew = p.clock_skew;
    if (now >= *exp + skew)
        out.push_back({refusal::expired, "exp " + crypto::format_utc(*exp) + " has passed"});
    if (*iat > now + skew)
        out.push_back({refusal::not_yet_valid, "iat " + crypto::format_utc(*iat) + " is ahead"});
    if (*iat < e.requested_at - skew)
        out.push_back({refusal::issued_before_request,
                       "iat " + crypto::format_utc(*iat) + " is before the request"});
    if (nbf && *nbf > now + skew)
        out.push_back({refusal::not_yet_valid, "nbf " + crypto::format_utc(*nbf) + " is ahead"});
    if (auth_time && *auth_time > now + skew)
        out.push_back({refusal::not_yet_valid, "auth_time is ahead"});
}

/// The signature with the pinned algorithms and the provider's keys, then every claim of
/// Core section 3.1.3.7 (a finding for each that fails).
checked_token check_id_token(std::string_view token, const provider_config& p,
                             const crypto::jws::key_set& keys, const expectations& e,
                             time_point now) {
    checked_token out;
    auto signed_token = crypto::jws::verify(token, keys, p.algorithms);
    if (!signed_token) {
        out.findings.push_back({from_jws(signed_token.reason), signed_token.message});
        return out;
    }
    auto claims = crypto::jws::parse_object(signed_token.value->payload);
    if (!claims) {
        out.findings.push_back({refusal::malformed_token, "the claims are not one JSON object"});
        return out;
    }

    auto& f = out.findings;
    auto iss = claims->find("iss");
    if (iss == claims->end() || !iss->is_string() || iss->get<std::string>() != p.issuer)
        f.push_back({refusal::issuer_mismatch, "iss is not " + p.issuer});
    check_audience(*claims, p, f);
    auto sub = claims->find("sub");
    if (sub == claims->end() || !sub->is_string() || sub->get<std::string>().empty() ||
        sub->get<std::string>().size() > 255)
        f.push_back({refusal::malformed_claim, "sub missing, empty or over 255 bytes"});
    else if (auto fault = text_fault(sub->get<std::string>()))
        f.push_back({refusal::malformed_claim, "sub " + std::string(*fault)});
    check_times(*claims, p, e, now, f);
    auto nonce = claims->find("nonce");
    if (nonce == claims->end() || !nonce->is_string() || e.nonce.empty() ||
        !same(nonce->get<std::string>(), e.nonce))
        f.push_back({refusal::nonce_mismatch, "the nonce is not this request's"});
    out.claims = std::move(claims);
    return out;
}

/// A name claim: plain text of at most 256 bytes, no control character.
std::string name_claim(const nlohmann::json& claims, const std::string& name, bool required,
                       std::vector<finding>& out) {
    auto it = claims.find(name);
    if (it == claims.end() || (it->is_string() && it->get<std::string>().empty())) {
        if (required)
            out.push_back({refusal::attribute_missing, name + " is missing"});
        return {};
    }
    if (!it->is_string()) {
        out.push_back({refusal::attribute_malformed, name + " is no string"});
        return {};
    }
    auto value = it->get<std::string>();
    if (auto fault = text_fault(value)) {
        out.push_back({refusal::attribute_malformed, name + " " + std::string(*fault)});
        return {};
    }
    if (value.size() > max_name_bytes) {
        out.push_back({refusal::attribute_malformed, name + " is over 256 bytes"});
        return {};
    }
    return value;
}

/// YYYY-MM-DD and a real day (OpenID Connect Core section 5.1 also allows a year alone
/// or 0000 as the year: not enough to compare a birth date).
bool is_full_date(const std::string& s) {
    if (s.size() != 10 || s[4] != '-' || s[7] != '-')
        return false;
    for (std::size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) {
        if (s[i] < '0' || s[i] > '9')
            return false;
    }
    std::chrono::year_month_day day{
        std::chrono::year(std::stoi(s.substr(0, 4))),
        std::chrono::month(static_cast<unsigned>(std::stoi(s.substr(5, 2)))),
        std::chrono::day(static_cast<unsigned>(std::stoi(s.substr(8, 2))))};
    return day.ok() && day.year() >= std::chrono::year(1800);
}

/// The identity claims every identification needs, from `claims` (the ID token's, with
/// userinfo's added), and the level from the ID token's acr.
void read_identity(const nlohmann::json& claims, const nlohmann::json& id_claims,
                   const provider_config& p, const expectations& e, verification& out) {
    auto& f = out.findings;
    verified_identity id;
    id.issuer = p.issuer;
    if (auto sub = id_claims.find("sub"); sub != id_claims.end() && sub->is_string())
        id.subject = sub->get<std::string>(); // else a finding already says so

    // The level: only from the signed ID token, only through the configured table.
    auto acr = id_claims.find("acr");
    if (acr == id_claims.end() || !acr->is_string()) {
        f.push_back({refusal::loa_unknown, "the ID token has no acr"});
    } else {
        id.acr = acr->get<std::string>();
        for (const auto& [value, level] : p.acr_levels) {
            if (value == id.acr)
                id.loa = level;
        }
        if (id.loa.empty())
            f.push_back({refusal::loa_unknown, "acr \"" + error_code(id.acr) + "\" is not mapped"});
        else if (!level_satisfies(id.loa, e.required_loa))
            f.push_back({refusal::loa_too_low, "acr \"" + error_code(id.acr) + "\" is " + id.loa +
                                                   ", below " + e.required_loa});
    }

    id.given_names = name_claim(claims, "given_name", true, f);
    id.family_name = name_claim(claims, "family_name", true, f);
    if (!p.usage_name_claim.empty())
        id.usage_name = name_claim(claims, p.usage_name_claim, false, f);
    auto birthdate = claims.find("birthdate");
    if (birthdate == claims.end())
        f.push_back({refusal::attribute_missing, "birthdate is missing"});
    else if (!birthdate->is_string() || !is_full_date(birthdate->get<std::string>()))
        f.push_back({refusal::attribute_malformed, "birthdate is not a YYYY-MM-DD date"});
    else
        id.birth_date = birthdate->get<std::string>();

    bool bad = false;
    auto auth_time = numeric_date(id_claims, "auth_time", bad);
    auto iat = numeric_date(id_claims, "iat", bad);
    id.authenticated_at = auth_time ? *auth_time : iat.value_or(time_point{});
    if (f.empty())
        out.identity = std::move(id);
}

/// The claims that identify the person: those that userinfo may add.
std::vector<std::string> identity_claims(const provider_config& p) {
    std::vector<std::string> names = {"given_name", "family_name", "birthdate"};
    if (!p.usage_name_claim.empty())
        names.push_back(p.usage_name_claim);
    return names;
}

provider_metadata configured_endpoints(const provider_config& p) {
    auto m = p.endpoints;
    m.issuer = p.issuer;
    return m;
}

bool endpoints_complete(const provider_metadata& m) {
    return !m.authorization_endpoint.empty() && !m.token_endpoint.empty() && !m.jwks_uri.empty();
}

} // namespace

std::string_view to_string(refusal r) noexcept {
    switch (r) {
    case refusal::provider_error:
        return "provider_error";
    case refusal::provider_unreachable:
        return "provider_unreachable";
    case refusal::token_request_refused:
        return "token_request_refused";
    case refusal::issuer_mismatch:
        return "issuer_mismatch";
    case refusal::malformed_token:
        return "malformed_token";
    case refusal::algorithm_refused:
        return "algorithm_refused";
    case refusal::key_unknown:
        return "key_unknown";
    case refusal::key_mismatch:
        return "key_mismatch";
    case refusal::signature_invalid:
        return "signature_invalid";
    case refusal::audience_mismatch:
        return "audience_mismatch";
    case refusal::malformed_claim:
        return "malformed_claim";
    case refusal::expired:
        return "expired";
    case refusal::not_yet_valid:
        return "not_yet_valid";
    case refusal::issued_before_request:
        return "issued_before_request";
    case refusal::nonce_mismatch:
        return "nonce_mismatch";
    case refusal::loa_unknown:
        return "loa_unknown";
    case refusal::loa_too_low:
        return "loa_too_low";
    case refusal::subject_mismatch:
        return "subject_mismatch";
    case refusal::attribute_missing:
        return "attribute_missing";
    case refusal::attribute_malformed:
        return "attribute_malformed";
    case refusal::attribute_conflict:
        return "attribute_conflict";
    }
    return "unknown";
}

void check_endpoint_url(std::string_view url) {
    std::string text(url);
    if (text.empty() || text.size() > 2048)
        throw std::invalid_argument("an endpoint URL is empty or over 2048 characters");
    for (unsigned char c : text) {
        if (c <= 0x20 || c >= 0x7f)
            throw std::invalid_argument("an endpoint URL holds a space or a non-ASCII character");
    }
    curl_url_ptr parsed(curl_url());
    if (!parsed || curl_url_set(parsed.get(), CURLUPART_URL, text.c_str(), 0) != CURLUE_OK)
        throw std::invalid_argument("not an absolute URL: " + text);
    auto scheme = url_part(parsed.get(), CURLUPART_SCHEME);
    auto host = url_part(parsed.get(), CURLUPART_HOST);
    if (text.compare(0, scheme.size() + 3, scheme + "://") != 0 || host.empty())
        throw std::invalid_argument("not an absolute URL with a host: " + text);
    auto authority_end = std::min(text.find_first_of("/?#", scheme.size() + 3), text.size());
    if (text.substr(0, authority_end).find('@') != std::string::npos ||
        text.find('#') != std::string::npos)
        throw std::invalid_argument("an endpoint URL carries a user name or a fragment: " + text);
    in_addr v4{};
    bool loopback = host == "localhost" || host == "[::1]" ||
                    (inet_pton(AF_INET, host.c_str(), &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127);
    if (scheme != "https" && !(scheme == "http" && loopback))
        throw std::invalid_argument("an endpoint must be https (http only on the loopback): " +
                                    text);
}

provider_metadata read_discovery(std::string_view json, std::string_view issuer) {
    auto doc = crypto::jws::parse_object(json);
    if (!doc)
        throw std::invalid_argument("the discovery document is not one JSON object");
    auto text = [&](const char* name, bool required) {
        auto it = doc->find(name);
        if (it == doc->end() && !required)
            return std::string();
        if (it == doc->end() || !it->is_string())
            throw std::invalid_argument(std::string("the discovery document has no ") + name);
        auto value = it->get<std::string>();
        check_endpoint_url(value);
        return value;
    };
    provider_metadata m;
    m.issuer = text("issuer", true);
    if (m.issuer != issuer)
        throw std::invalid_argument("the discovery document is of issuer " + m.issuer + ", not " +
                                    std::string(issuer));
    m.authorization_endpoint = text("authorization_endpoint", true);
    m.token_endpoint = text("token_endpoint", true);
    m.jwks_uri = text("jwks_uri", true);
    m.userinfo_endpoint = text("userinfo_endpoint", false);
    auto iss = doc->find("authorization_response_iss_parameter_supported");
    m.iss_parameter = iss != doc->end() && iss->is_boolean() && iss->get<bool>();
    auto pkce = doc->find("code_challenge_methods_supported");
    if (pkce != doc->end()) {
        bool s256 = false;
        if (pkce->is_array()) {
            for (const auto& method : *pkce)
                s256 = s256 || (method.is_string() && method.get<std::string>() == "S256");
        }
        if (!s256)
            throw std::invalid_argument("the provider does not offer PKCE with S256");
    }
    return m;
}

refusal verification::reason() const {
    if (findings.empty())
        throw std::logic_error("an accepted identification has no refusal reason");
    return findings.front().reason;
}

std::string verification::message() const {
    std::string out;
    for (const auto& f : findings) {
        if (!out.empty())
            out += "; ";
        out += std::string(to_string(f.reason)) + ": " + f.message;
    }
    return out;
}

identification verified_identity::to_identification() const {
    identification who;
    who.method = std::string(identification_method);
    who.level = loa;
    who.provider = issuer;
    who.time = crypto::format_utc(authenticated_at);
    who.attributes.emplace_back(attribute::given_name, given_names);
    if (usage_name.empty()) {
        who.attributes.emplace_back(attribute::family_name, family_name);
    } else {
        who.attributes.emplace_back(attribute::family_name, usage_name);
        who.attributes.emplace_back(attribute::birth_name, family_name);
    }
    who.attributes.emplace_back(attribute::birth_date, birth_date);
    who.attributes.emplace_back(subject_attribute, subject);
    return who;
}

std::vector<person_claim> verified_identity::to_person_claims() const {
    std::vector<person_claim> out = {{family_name, given_names, birth_date, {}}};
    if (!usage_name.empty() && usage_name != family_name)
        out.push_back({usage_name, given_names, birth_date, {}});
    return out;
}

verification verify_id_token(std::string_view id_token, const provider_config& provider,
                             const crypto::jws::key_set& keys, const expectations& expected,
                             time_point now) {
    verification out;
    auto checked = check_id_token(id_token, provider, keys, expected, now);
    out.findings = std::move(checked.findings);
    if (checked.claims)
        read_identity(*checked.claims, *checked.claims, provider, expected, out);
    if (!out.findings.empty())
        out.identity.reset();
    return out;
}

// The relying party

relying_party::relying_party(provider_config config, http_fetcher& http, crypto::clock_fn clock)
    : config_(std::move(config))
    , http_(http)
    , clock_(clock ? std::move(clock) : crypto::clock_fn(system_clock::now)) {
    auto& c = config_;
    if (c.id.empty() || c.id.size() > 32 ||
        c.id.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") != std::string::npos)
        throw std::invalid_argument("a provider's id is 1 to 32 of a-z, 0-9 and '-'");
    check_endpoint_url(c.issuer);
    check_endpoint_url(c.redirect_uri);
    for (const auto* url : {&c.endpoints.authorization_endpoint, &c.endpoints.token_endpoint,
                            &c.endpoints.userinfo_endpoint, &c.endpoints.jwks_uri}) {
        if (!url->empty())
            check_endpoint_url(*url);
    }
    if (c.client_id.empty() || c.client_secret.empty())
        throw std::invalid_argument("a provider needs a client id and a client secret");
    if (c.token_auth_method != "client_secret_basic" && c.token_auth_method != "client_secret_post")
        throw std::invalid_argument(
            "token_auth_method is client_secret_basic or client_secret_post");
    if (c.algorithms.empty())
        throw std::invalid_argument("a provider needs at least one signing algorithm");
    for (const auto& alg : c.algorithms) {
        if (!crypto::jws::is_supported_algorithm(alg))
            throw std::invalid_argument("algorithm " + alg +
                                        " is not allowed: RS, PS or ES with SHA-2 only");
    }
    if (c.acr_levels.empty())
        throw std::invalid_argument("a provider needs an acr table");
    for (const auto& [acr, level] : c.acr_levels) {
        if (acr.empty() || loa::rank(level) == 0)
            throw std::invalid_argument("acr " + acr + " maps to " + level +
                                        ", not an eIDAS level");
    }
    bool openid = false;
    for (const auto& s : c.scopes)
        openid = openid || s == "openid";
    if (!openid)
        throw std::invalid_argument("the scopes must hold openid");
    if (c.clock_skew > std::chrono::minutes(10))
        throw std::invalid_argument("clock skew: at most 600 seconds");
}

std::string relying_party::acr_for(std::string_view level) const {
    for (const auto& [acr, l] : config_.acr_levels) {
        if (l == level)
            return acr;
    }
    return {};
}

provider_metadata relying_party::metadata() {
    std::lock_guard lock(mutex_);
    auto now = clock_();
    if (metadata_ && now - metadata_at_ < config_.metadata_lifetime)
        return *metadata_;
    auto configured = configured_endpoints(config_);
    if (endpoints_complete(configured)) {
        metadata_ = configured;
    } else {
        // Discovery section 4.1: the issuer, without a trailing slash, and the well-known path.
        auto base = config_.issuer;
        if (!base.empty() && base.back() == '/')
            base.pop_back();
        auto reply =
            http_.get(base + "/.well-known/openid-configuration", {"Accept: application/json"});
        if (reply.status != 200)
            throw fetch_error("discovery answered HTTP " + std::to_string(reply.status));
        provider_metadata found;
        try {
            found = read_discovery(reply.body, config_.issuer);
        } catch (const std::invalid_argument& e) {
            throw fetch_error(e.what());
        }
        // What the operator configured wins over what the provider publishes.
        for (auto [mine, theirs] :
             {std::pair{&configured.authorization_endpoint, &found.authorization_endpoint},
              std::pair{&configured.token_endpoint, &found.token_endpoint},
              std::pair{&configured.userinfo_endpoint, &found.userinfo_endpoint},
              std::pair{&configured.jwks_uri, &found.jwks_uri}}) {
            if (!mine->empty())
                *theirs = *mine;
        }
        found.iss_parameter = found.iss_parameter || configured.iss_parameter;
        metadata_ = std::move(found);
    }
    metadata_at_ = now;
    return *metadata_;
}

crypto::jws::key_set relying_party::keys(bool refresh) {
    auto jwks_uri = metadata().jwks_uri;
    std::lock_guard lock(mutex_);
    auto now = clock_();
    bool stale = !keys_ || now - keys_at_ >= config_.metadata_lifetime;
    bool may_refresh = refresh && now - keys_at_ >= config_.keys_refresh_interval;
    if (!stale && !may_refresh)
        return *keys_;
    auto reply = http_.get(jwks_uri, {"Accept: application/jwk-set+json, application/json"});
    if (reply.status != 200)
        throw fetch_error("the key set answered HTTP " + std::to_string(reply.status));
    try {
        keys_ = crypto::jws::key_set::parse(reply.body);
    } catch (const std::invalid_argument& e) {
        throw fetch_error(e.what());
    }
    keys_at_ = now;
    return *keys_;
}

authorization_request relying_party::begin(std::string_view level) {
    auto acr = acr_for(level);
    if (acr.empty())
        throw std::invalid_argument("the provider has no acr for " + std::string(level));
    auto m = metadata();

    authorization_request r;
    r.state = random_secret();
    r.nonce = random_secret();
    r.code_verifier = random_secret(); // 43 characters, RFC 7636 section 4.1
    auto challenge = crypto::to_base64url(crypto::sha256::of(r.code_verifier));
    std::string scope;
    for (const auto& s : config_.scopes)
        scope += (scope.empty() ? "" : " ") + s;

    r.url = m.authorization_endpoint;
    r.url += r.url.find('?') == std::string::npos ? '?' : '&';
    r.url += "response_type=code&client_id=" + crypto::percent_encode(config_.client_id) +
             "&redirect_uri=" + crypto::percent_encode(config_.redirect_uri) +
             "&scope=" + crypto::percent_encode(scope) + "&state=" + r.state + "&nonce=" + r.nonce +
             "&code_challenge=" + challenge +
             "&code_challenge_method=S256&acr_values=" + crypto::percent_encode(acr) +
             "&prompt=login";
    if (!config_.claims.empty()) {
        nlohmann::json wanted = nlohmann::json::object();
        for (const auto& c : config_.claims)
            wanted[c] = {{"essential", true}};
        r.url +=
            "&claims=" + crypto::percent_encode(
                             nlohmann::json{{"id_token", wanted}, {"userinfo", wanted}}.dump());
    }
    return r;
}

std::optional<nlohmann::json> relying_party::userinfo(const std::string& access_token,
                                                      const nlohmann::json& id_claims,
                                                      verification& out) {
    auto endpoint = metadata().userinfo_endpoint;
    auto reply = http_.get(endpoint, {"Authorization: Bearer " + access_token,
                                      "Accept: application/jwt, application/json"});
    if (reply.status != 200) {
        out.findings.push_back({refusal::provider_unreachable,
                                "userinfo answered HTTP " + std::to_string(reply.status)});
        return std::nullopt;
    }

    // Core section 5.3.2: JSON, or a JWT signed (FranceConnect+ signs it) by the provider.
    std::optional<nlohmann::json> claims;
    if (reply.content_type.rfind("application/jwt", 0) == 0) {
        std::string compact = reply.body;
        while (!compact.empty() && (compact.back() == '\n' || compact.back() == '\r'))
            compact.pop_back();
        if (std::count(compact.begin(), compact.end(), '.') == 4) {
            out.findings.push_back(
                {refusal::malformed_token, "userinfo is encrypted (JWE), which is not supported"});
            return std::nullopt;
        }
        auto verified = crypto::jws::verify(compact, keys(false), config_.algorithms);
        if (!verified && verified.reason == crypto::jws::error::key_unknown)
            verified = crypto::jws::verify(compact, keys(true), config_.algorithms);
        if (!verified) {
            out.findings.push_back({from_jws(verified.reason), "userinfo: " + verified.message});
            return std::nullopt;
        }
        claims = crypto::jws::parse_object(verified.value->payload);
        if (claims) {
            auto iss = claims->find("iss");
            if (iss != claims->end() && (!iss->is_string() || *iss != config_.issuer))
                out.findings.push_back({refusal::issuer_mismatch, "userinfo iss is not ours"});
            auto aud = claims->find("aud");
            bool ours = aud == claims->end() || (aud->is_string() && *aud == config_.client_id);
            if (aud != claims->end() && aud->is_array()) {
                for (const auto& a : *aud)
                    ours = ours || (a.is_string() && a == config_.client_id);
            }
            if (!ours)
                out.findings.push_back({refusal::audience_mismatch, "userinfo is for another aud"});
        }
    } else if (reply.content_type.rfind("application/json", 0) == 0) {
        claims = crypto::jws::parse_object(reply.body);
    } else {
        out.findings.push_back({refusal::malformed_token, "userinfo is neither JSON nor a JWT"});
        return std::nullopt;
    }
    if (!claims) {
        out.findings.push_back({refusal::malformed_token, "userinfo is not one JSON object"});
        return std::nullopt;
    }
    auto sub = claims->find("sub");
    if (sub == claims->end() || !sub->is_string() || *sub != id_claims.at("sub"))
        out.findings.push_back({refusal::subject_mismatch, "userinfo is about another sub"});
    return claims;
}

verification relying_party::finish(const provider_answer& answer, const std::string& code_verifier,
                                   const expectations& expected) {
    verification out;
    auto refuse = [&](refusal r, std::string message) {
        out.findings.push_back({r, std::move(message)});
        return out;
    };
    if (!answer.error.empty())
        return refuse(refusal::provider_error, "the provider answered " + error_code(answer.error));
    if (answer.code.empty() || answer.code.size() > 4096)
        return refuse(refusal::provider_error, "the answer holds no code");

    try {
        // RFC 9207: the answer names its issuer, which must be this provider.
        auto m = metadata();
        if (!answer.iss.empty() && answer.iss != config_.issuer)
            return refuse(refusal::issuer_mismatch, "the answer's iss is another issuer");
        if (answer.iss.empty() && m.iss_parameter)
            return refuse(refusal::issuer_mismatch, "the answer lacks the iss it promised");

        // The code for tokens (Core section 3.1.3.1), with the PKCE verifier.
        std::string body =
            "grant_type=authorization_code&code=" + crypto::percent_encode(answer.code) +
            "&redirect_uri=" + crypto::percent_encode(config_.redirect_uri) +
            "&code_verifier=" + crypto::percent_encode(code_verifier);
        std::vector<std::string> headers = {"Accept: application/json"};
        if (config_.token_auth_method == "client_secret_post") {
            body += "&client_id=" + crypto::percent_encode(config_.client_id) +
                    "&client_secret=" + crypto::percent_encode(config_.client_secret);
        } else {
            // RFC 6749 section 2.3.1: both form-encoded before base64.
            auto pair = crypto::percent_encode(config_.client_id) + ":" +
                        crypto::percent_encode(config_.client_secret);
            headers.push_back("Authorization: Basic " + crypto::to_base64(crypto::as_bytes(pair)));
        }
        auto reply = http_.post_form(m.token_endpoint, body, headers);
        auto tokens = crypto::jws::parse_object(reply.body);
        if (reply.status != 200 || !tokens) {
            auto error = tokens && tokens->contains("error") && tokens->at("error").is_string()
                             ? error_code(tokens->at("error").get<std::string>())
                             : std::string("(none)");
            return refuse(refusal::token_request_refused, "the token endpoint answered HTTP " +
                                                              std::to_string(reply.status) +
                                                              ", error " + error);
        }
        auto id_token = tokens->find("id_token");
        if (id_token == tokens->end() || !id_token->is_string())
            return refuse(refusal::token_request_refused, "the token answer has no id_token");

        // The ID token; an unknown kid may be a new key of the provider: fetch them once.
        auto now = clock_();
        auto checked =
            check_id_token(id_token->get<std::string>(), config_, keys(false), expected, now);
        if (!checked.findings.empty() && checked.findings.front().reason == refusal::key_unknown)
            checked =
                check_id_token(id_token->get<std::string>(), config_, keys(true), expected, now);
        out.findings = std::move(checked.findings);
        if (!checked.claims || !out.findings.empty())
            return out;

        // The identity claims the token lacks, from userinfo.
        auto claims = *checked.claims;
        bool lacking = false;
        for (const auto& name : identity_claims(config_))
            lacking = lacking || !claims.contains(name);
        if (lacking && !m.userinfo_endpoint.empty()) {
            auto access_token = tokens->find("access_token");
            auto type = tokens->value("token_type", "");
            std::transform(type.begin(), type.end(), type.begin(),
                           [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
            if (access_token == tokens->end() || !access_token->is_string() || type != "bearer")
                return refuse(refusal::token_request_refused,
                              "no bearer access token for userinfo");
            auto more = userinfo(access_token->get<std::string>(), claims, out);
            if (!more || !out.findings.empty())
                return out;
            for (const auto& name : identity_claims(config_)) {
                auto theirs = more->find(name);
                if (theirs == more->end())
                    continue;
                if (claims.contains(name) && claims.at(name) != *theirs)
                    out.findings.push_back({refusal::attribute_conflict,
                                            name + " differs between ID token and userinfo"});
                claims[name] = *theirs;
            }
            if (!out.findings.empty())
                return out;
        }
        read_identity(claims, *checked.claims, config_, expected, out);
        return out;
    } catch (const fetch_error& e) {
        out.findings.push_back({refusal::provider_unreachable, e.what()});
        out.identity.reset();
        return out;
    }
}

} // namespace sceau::protocols::oidc
