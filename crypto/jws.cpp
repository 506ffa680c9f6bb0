#include "crypto/jws.hpp"

#include "crypto/encoding.hpp"
#include "crypto/error.hpp"
#include "crypto/openssl.hpp"

#include <array>
#include <cjose/jwk.h>
#include <cjose/jws.h>
#include <set>
#include <stdexcept>

namespace sceau::crypto::jws {
namespace {

using jwk_ptr = std::unique_ptr<cjose_jwk_t, c_deleter<cjose_jwk_release>>;
using jws_ptr = std::unique_ptr<cjose_jws_t, c_deleter<cjose_jws_release>>;

constexpr std::array<std::string_view, 9> supported = {"RS256", "RS384", "RS512", "PS256", "PS384",
                                                       "PS512", "ES256", "ES384", "ES512"};

/// The curve an ECDSA algorithm signs on (RFC 7518 section 3.4), or nothing for RSA.
std::string_view curve_of(std::string_view alg) {
    if (alg == "ES256")
        return "P-256";
    if (alg == "ES384")
        return "P-384";
    if (alg == "ES512")
        return "P-521";
    return {};
}

bool key_fits(const key_set::key& k, std::string_view alg) {
    auto curve = curve_of(alg);
    if (curve.empty())
        return k.kty == "RSA";
    return k.kty == "EC" && k.crv == curve;
}

std::string string_member(const nlohmann::json& o, const char* name) {
    auto it = o.find(name);
    if (it == o.end())
        return {};
    if (!it->is_string())
        throw std::invalid_argument(std::string("the JWK member ") + name + " is not a string");
    return it->get<std::string>();
}

/// Bytes of a base64url member once leading zero bytes are dropped, or 0 if it is not one.
std::size_t significant_bytes(const std::string& b64url) {
    try {
        auto bytes = from_base64url(b64url);
        std::size_t i = 0;
        while (i < bytes.size() && bytes[i] == 0)
            ++i;
        return bytes.size() - i;
    } catch (const crypto::error&) {
        return 0;
    }
}

jwk_ptr import_key(const std::string& json) {
    cjose_err err{};
    return jwk_ptr(cjose_jwk_import(json.data(), json.size(), &err));
}

/// The public form of one JWK, or nothing when it cannot verify signatures here.
std::optional<key_set::key> public_key(const nlohmann::json& jwk) {
    if (!jwk.is_object())
        return std::nullopt;
    key_set::key k;
    try {
        k.kty = string_member(jwk, "kty");
        k.kid = string_member(jwk, "kid");
        k.alg = string_member(jwk, "alg");
        auto use = string_member(jwk, "use");
        if (!use.empty() && use != "sig")
            return std::nullopt; // an encryption key never verifies a signature
        nlohmann::json pub;
        pub["kty"] = k.kty;
        if (k.kty == "RSA") {
            auto n = string_member(jwk, "n");
            auto e = string_member(jwk, "e");
            if (significant_bytes(n) < 256 || significant_bytes(e) == 0)
                return std::nullopt; // under 2048 bits, or not a key
            pub["n"] = n;
            pub["e"] = e;
        } else if (k.kty == "EC") {
            k.crv = string_member(jwk, "crv");
            if (k.crv != "P-256" && k.crv != "P-384" && k.crv != "P-521")
                return std::nullopt;
            pub["crv"] = k.crv;
            pub["x"] = string_member(jwk, "x");
            pub["y"] = string_member(jwk, "y");
        } else {
            return std::nullopt; // oct keys above all: a public document holds no secret
        }
        if (!k.alg.empty() && (!is_supported_algorithm(k.alg) || !key_fits(k, k.alg)))
            return std::nullopt;
        k.jwk = pub.dump();
    } catch (const std::invalid_argument&) {
        return std::nullopt;
    }
    if (!import_key(k.jwk))
        return std::nullopt; // cjose checks the numbers (and that a point is on its curve)
    return k;
}

result refused(error why, std::string message) {
    result r;
    r.reason = why;
    r.message = std::move(message);
    return r;
}

} // namespace

bool is_supported_algorithm(std::string_view alg) noexcept {
    for (auto a : supported) {
        if (a == alg)
            return true;
    }
    return false;
}

std::optional<nlohmann::json> parse_object(std::string_view text, int max_depth) {
    std::vector<std::set<std::string>> names;
    bool refused = false;
    auto watch = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
        using e = nlohmann::json::parse_event_t;
        if (depth > max_depth)
            refused = true;
        if (event == e::object_start) {
            names.emplace_back();
        } else if (event == e::object_end) {
            if (!names.empty())
                names.pop_back();
        } else if (event == e::key) {
            if (names.empty() || !names.back().insert(parsed.get<std::string>()).second)
                refused = true;
        }
        return true;
    };
    auto value = nlohmann::json::parse(text.begin(), text.end(), watch, false);
    if (refused || value.is_discarded() || !value.is_object())
        return std::nullopt;
    return value;
}

key_set key_set::parse(std::string_view json) {
    auto doc = parse_object(json);
    if (!doc || !doc->contains("keys") || !doc->at("keys").is_array())
        throw std::invalid_argument("not a JWK Set: no \"keys\" array");
    key_set set;
    for (const auto& jwk : doc->at("keys")) {
        if (auto k = public_key(jwk))
            set.keys_.push_back(std::move(*k));
    }
    return set;
}

const key_set::key* key_set::find(std::string_view kid) const noexcept {
    for (const auto& k : keys_) {
        if (!k.kid.empty() && k.kid == kid)
            return &k;
    }
    return nullptr;
}

std::string_view to_string(error e) noexcept {
    switch (e) {
    case error::malformed:
        return "malformed";
    case error::algorithm_refused:
        return "algorithm_refused";
    case error::key_unknown:
        return "key_unknown";
    case error::key_mismatch:
        return "key_mismatch";
    case error::signature_invalid:
        return "signature_invalid";
    }
    return "unknown";
}

result verify(std::string_view compact, const key_set& keys,
              const std::vector<std::string>& algorithms, std::size_t max_bytes) {
    if (compact.empty() || compact.size() > max_bytes)
        return refused(error::malformed, "empty, or over " + std::to_string(max_bytes) + " bytes");
    auto first = compact.find('.');
    auto second = first == std::string_view::npos ? first : compact.find('.', first + 1);
    if (second == std::string_view::npos || compact.find('.', second + 1) != std::string_view::npos)
        return refused(error::malformed, "not the three parts of a compact JWS");
    auto header_part = compact.substr(0, first);
    auto payload_part = compact.substr(first + 1, second - first - 1);
    auto signature_part = compact.substr(second + 1);

    // 1. The header, read strictly.
    std::optional<nlohmann::json> header;
    try {
        auto bytes = from_base64url(header_part);
        header = parse_object(
            std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
    } catch (const crypto::error&) {
        return refused(error::malformed, "the header is not base64url");
    }
    if (!header)
        return refused(error::malformed, "the header is not one JSON object");
    if (header->contains("crit"))
        return refused(error::malformed, "critical header parameters are not understood");
    if (!header->contains("alg") || !header->at("alg").is_string())
        return refused(error::malformed, "the header has no alg");

    // 2. The algorithm: supported and pinned, before anything else is looked at.
    auto alg = header->at("alg").get<std::string>();
    bool pinned = false;
    for (const auto& a : algorithms)
        pinned = pinned || a == alg;
    if (!is_supported_algorithm(alg) || !pinned)
        return refused(error::algorithm_refused,
                       "alg \"" + alg.substr(0, 20) + "\" is not allowed");

    std::string payload;
    try {
        auto body = from_base64url(payload_part);
        payload.assign(body.begin(), body.end());
        if (from_base64url(signature_part).empty())
            return refused(error::malformed, "the signature is empty");
    } catch (const crypto::error&) {
        return refused(error::malformed, "the payload or the signature is not base64url");
    }

    // 3. The key, from the set only: named by kid, or the only one that fits.
    const key_set::key* key = nullptr;
    std::string kid;
    if (header->contains("kid")) {
        if (!header->at("kid").is_string())
            return refused(error::malformed, "kid is not a string");
        kid = header->at("kid").get<std::string>();
        key = keys.find(kid);
        if (!key)
            return refused(error::key_unknown, "no key \"" + kid.substr(0, 64) + "\" in the set");
    } else {
        for (const auto& k : keys.keys()) {
            if (key_fits(k, alg) && (k.alg.empty() || k.alg == alg)) {
                if (key)
                    return refused(error::key_unknown, "no kid, and several keys fit " + alg);
                key = &k;
            }
        }
        if (!key)
            return refused(error::key_unknown, "no kid, and no key fits " + alg);
    }
    if (!key_fits(*key, alg))
        return refused(error::key_mismatch, "a " + key->kty + " key cannot verify " + alg);
    if (!key->alg.empty() && key->alg != alg)
        return refused(error::key_mismatch, "the key is for " + key->alg + ", not " + alg);

    // 4. The signature, by cjose, over the parts as received.
    auto jwk = import_key(key->jwk);
    cjose_err err{};
    jws_ptr jws(cjose_jws_import(compact.data(), compact.size(), &err));
    if (!jwk || !jws)
        return refused(error::malformed, std::string("cjose: ") + (err.message ? err.message : ""));
    if (!cjose_jws_verify(jws.get(), jwk.get(), &err))
        return refused(error::signature_invalid, "the signature does not verify with the key");

    result r;
    r.value = verified{std::move(payload), alg, key->kid};
    return r;
}

} // namespace sceau::crypto::jws
