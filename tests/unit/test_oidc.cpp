// OpenID Connect identification: the oidc/ cases of the hostile corpus, tokens signed by
// openssl (tests/fixtures/oidc-generated/make.sh), and the relying party's exchanges with
// a provider played by a table of answers.

#include "crypto/encoding.hpp"
#include "crypto/jws.hpp"
#include "crypto/xml.hpp"
#include "protocols/oidc.hpp"
#include "support/fixtures.hpp"

#include <catch2/catch.hpp>

#include <map>

using namespace sceau;
using protocols::oidc::refusal;
namespace oidc = protocols::oidc;
namespace loa = protocols::loa;
namespace jws = crypto::jws;

namespace Catch {
template <>
struct StringMaker<refusal> {
    static std::string convert(refusal r) { return std::string(oidc::to_string(r)); }
};
} // namespace Catch

namespace {

std::chrono::system_clock::time_point at(const std::string& utc) {
    return crypto::parse_utc(utc);
}

// The corpus README: check the OIDC files as of this instant.
const auto corpus_now = at("2025-03-14T10:16:00Z");

std::string fixture(const std::string& relative) {
    auto text = test::read_file(test::source_path("tests/fixtures/" + relative));
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r'))
        text.pop_back();
    return text;
}

std::string token(const std::string& name) {
    if (name[0] == 'o')
        return fixture("hostile/oidc/" + name);
    return fixture("oidc-generated/" + name + ".jwt");
}

/// The provider the corpus's tokens come from. Its tokens carry the eIDAS level URIs as
/// acr, which this table maps besides FranceConnect+'s eidas1, eidas2 and eidas3.
oidc::provider_config corpus_provider() {
    oidc::provider_config p;
    p.id = "corpus";
    p.label = "Corpus OP";
    p.issuer = "https://op.example.test";
    p.client_id = "lre-client-FICTIF";
    p.client_secret = "s3cret-of-the-client";
    p.redirect_uri = "https://lre.example.test/auth/oidc/callback";
    p.algorithms = {"RS256"};
    p.acr_levels.emplace_back(loa::low, loa::low);
    p.acr_levels.emplace_back(loa::substantial, loa::substantial);
    p.acr_levels.emplace_back(loa::high, loa::high);
    p.endpoints.authorization_endpoint = "https://op.example.test/authorize";
    p.endpoints.token_endpoint = "https://op.example.test/token";
    p.endpoints.userinfo_endpoint = "https://op.example.test/userinfo";
    p.endpoints.jwks_uri = "https://op.example.test/jwks";
    return p;
}

oidc::expectations expected(std::string_view level = loa::substantial) {
    return {"n-4c21", std::string(level), at("2025-03-14T10:15:00Z")};
}

oidc::verification verify(const std::string& name, const oidc::provider_config& p,
                          const std::string& keys = "oidc-generated/jwks.json",
                          std::string_view level = loa::substantial) {
    auto set = jws::key_set::parse(fixture(keys));
    auto v = oidc::verify_id_token(token(name), p, set, expected(level), corpus_now);
    UNSCOPED_INFO(name << ": " << (v ? std::string("accepted") : v.message()));
    return v;
}

std::map<std::string, std::string> attributes_of(const protocols::identification& who) {
    std::map<std::string, std::string> out;
    for (const auto& [name, value] : who.attributes)
        out[name] = value;
    return out;
}

} // namespace

TEST_CASE("the corpus's genuine RS256 ID token is accepted and identifies Claire Martin",
          "[oidc][hostile]") {
    auto v = verify("o04-positive-control-rs256.jwt", corpus_provider(),
                    "oidc-generated/corpus-jwks.json");
    REQUIRE(v);
    const auto& id = *v.identity;
    CHECK(id.given_names == "Claire");
    CHECK(id.family_name == "Martin");
    CHECK(id.birth_date == "1979-11-22");
    CHECK(id.subject == "op-user-0001");
    CHECK(id.loa == loa::substantial);

    auto who = id.to_identification();
    CHECK(who.method == oidc::identification_method);
    CHECK(who.level == loa::substantial);
    CHECK(who.provider == "https://op.example.test");
    CHECK(who.time == "2025-03-14T10:15:30.000Z"); // iat: the token has no auth_time
    auto attributes = attributes_of(who);
    CHECK(attributes["http://eidas.europa.eu/attributes/naturalperson/CurrentGivenName"] ==
          "Claire");
    CHECK(attributes["http://eidas.europa.eu/attributes/naturalperson/CurrentFamilyName"] ==
          "Martin");
    CHECK(attributes["http://eidas.europa.eu/attributes/naturalperson/DateOfBirth"] ==
          "1979-11-22");
    CHECK(attributes[std::string(oidc::subject_attribute)] == "op-user-0001");
    REQUIRE(id.to_person_claims().size() == 1);
    CHECK(id.to_person_claims()[0].family_name == "Martin");
}

TEST_CASE("alg none and HS256 keyed with the provider's public key are refused",
          "[oidc][hostile]") {
    auto p = corpus_provider();
    CHECK(verify("o01-alg-none.jwt", p, "oidc-generated/corpus-jwks.json").reason() ==
          refusal::algorithm_refused);
    CHECK(verify("o02-hs256-keyed-with-op-rsa-public-key.jwt", p, "oidc-generated/corpus-jwks.json")
              .reason() == refusal::algorithm_refused);
}

TEST_CASE("a validly signed token at acr low is refused for an LRE", "[oidc][hostile]") {
    auto v = verify("o06-validly-signed-acr-low.jwt", corpus_provider(),
                    "oidc-generated/corpus-jwks.json");
    CHECK(v.reason() == refusal::loa_too_low);

    // Without the eIDAS URIs in its table, the provider's low URI is no level at all.
    auto strict = corpus_provider();
    strict.acr_levels = oidc::provider_config{}.acr_levels;
    CHECK(verify("o06-validly-signed-acr-low.jwt", strict, "oidc-generated/corpus-jwks.json")
              .reason() == refusal::loa_unknown);
}

TEST_CASE("tokens signed by openssl: each fault refused for its own reason", "[oidc][generated]") {
    auto p = corpus_provider();
    struct fault {
        const char* file;
        refusal reason;
    };
    for (auto [file, reason] : {
             fault{"g02-wrong-aud", refusal::audience_mismatch},
             fault{"g03-wrong-iss", refusal::issuer_mismatch},
             fault{"g04-expired", refusal::expired},
             fault{"g05-wrong-nonce", refusal::nonce_mismatch},
             fault{"g06-kid-not-in-jwks", refusal::key_unknown},
             fault{"g09-rs512-not-pinned", refusal::algorithm_refused},
             fault{"g11-two-audiences-no-azp", refusal::audience_mismatch},
             fault{"g13-acr-eidas1", refusal::loa_too_low},
             fault{"g15-acr-unknown", refusal::loa_unknown},
             fault{"g16-year-only-birthdate", refusal::attribute_malformed},
             fault{"g17-issued-in-the-future", refusal::not_yet_valid},
             fault{"g18-duplicate-family-name", refusal::malformed_token},
             fault{"g19-identity-in-userinfo-only", refusal::attribute_missing},
             fault{"g22-tampered", refusal::signature_invalid},
             fault{"g23-sub-not-a-string", refusal::malformed_claim},
             fault{"g24-exp-a-string", refusal::malformed_claim},
             fault{"g25-c1-control-in-family-name", refusal::attribute_malformed},
             fault{"g26-bidi-override-in-given-name", refusal::attribute_malformed},
             fault{"g27-line-separator-in-sub", refusal::malformed_claim},
         }) {
        auto v = verify(file, p);
        CHECK_FALSE(v);
        CHECK(v.reason() == reason);
    }

    // The same signer and claims with nothing wrong: accepted, so the refusals above are
    // each for its own fault.
    CHECK(verify("g01-rs256-genuine", p));

    // An expired token is also older than the request; both are reported.
    auto old = verify("g04-expired", p);
    REQUIRE(old.findings.size() == 2);
    CHECK(old.findings[1].reason == refusal::issued_before_request);
}

TEST_CASE("the header's alg, the key's type and the key's declared alg must agree",
          "[oidc][generated]") {
    auto p = corpus_provider();
    p.algorithms = {"RS256", "ES256"};
    // ES256 in the header, the kid of an RSA key.
    CHECK(verify("g07-es256-header-rsa-kid", p).reason() == refusal::key_mismatch);

    // A key whose set declares RS512 does not verify RS256, even with the right key.
    auto jwks = nlohmann::json::parse(fixture("oidc-generated/jwks.json"));
    for (auto& k : jwks["keys"])
        k["alg"] = k["kty"] == "RSA" ? "RS512" : "ES256";
    auto set = jws::key_set::parse(jwks.dump());
    auto v = oidc::verify_id_token(token("g01-rs256-genuine"), p, set, expected(), corpus_now);
    CHECK(v.reason() == refusal::key_mismatch);
}

TEST_CASE("ES256 and PS256 tokens verify when pinned, and only then", "[oidc][generated]") {
    auto p = corpus_provider();
    CHECK(verify("g08-es256-genuine", p).reason() == refusal::algorithm_refused);
    CHECK(verify("g10-ps256-genuine", p).reason() == refusal::algorithm_refused);
    p.algorithms = {"ES256", "PS256"};
    CHECK(verify("g08-es256-genuine", p));
    CHECK(verify("g10-ps256-genuine", p));
    CHECK(verify("g01-rs256-genuine", p).reason() == refusal::algorithm_refused);
}

TEST_CASE("several audiences are accepted with our azp, and acr maps through the table",
          "[oidc][generated]") {
    auto p = corpus_provider();
    CHECK(verify("g12-two-audiences-azp", p));

    auto high = verify("g14-acr-eidas3", p, "oidc-generated/jwks.json", loa::high);
    REQUIRE(high);
    CHECK(high.identity->loa == loa::high);
    CHECK(high.identity->acr == "eidas3");
    CHECK(verify("g14-acr-eidas3", p)); // high satisfies substantial
    CHECK(verify("g01-rs256-genuine", p, "oidc-generated/jwks.json", loa::high).reason() ==
          refusal::loa_too_low);
    CHECK(verify("g13-acr-eidas1", p, "oidc-generated/jwks.json", loa::low));

    // An operator's table decides: eidas2 read as high.
    p.acr_levels = {{"eidas2", std::string(loa::high)}};
    CHECK(verify("g01-rs256-genuine", p, "oidc-generated/jwks.json", loa::high));
    CHECK(verify("g14-acr-eidas3", p).reason() == refusal::loa_unknown);
}

TEST_CASE("the evidence time is auth_time when the token has one", "[oidc][generated]") {
    auto v = verify("g01-rs256-genuine", corpus_provider());
    REQUIRE(v);
    CHECK(v.identity->to_identification().time == "2025-03-14T10:15:20.000Z");
}

TEST_CASE("a key set keeps only public signing keys", "[oidc][jose]") {
    auto set = jws::key_set::parse(fixture("oidc-generated/jwks.json"));
    CHECK(set.keys().size() == 3);
    REQUIRE(set.find("gen-ec"));
    CHECK(set.find("gen-ec")->crv == "P-256");

    auto jwks = nlohmann::json::parse(fixture("oidc-generated/jwks.json"));
    auto rsa = jwks["keys"][1];
    auto keys = nlohmann::json::array();
    keys.push_back({{"kty", "oct"}, {"kid", "shared"}, {"k", "c2VjcmV0"}});
    auto enc = rsa;
    enc["kid"] = "enc";
    enc["use"] = "enc";
    keys.push_back(enc);
    auto small = rsa;
    small["kid"] = "small";
    small["n"] = rsa["n"].get<std::string>().substr(0, 170); // 1024 bits
    keys.push_back(small);
    auto with_private = rsa;
    with_private["kid"] = "private";
    with_private["d"] = "AQAB";
    keys.push_back(with_private);
    auto parsed = jws::key_set::parse(nlohmann::json{{"keys", keys}}.dump());
    REQUIRE(parsed.keys().size() == 1);
    CHECK(parsed.keys()[0].kid == "private");
    CHECK(parsed.keys()[0].jwk.find("\"d\"") == std::string::npos);

    CHECK_THROWS_AS(jws::key_set::parse("[]"), std::invalid_argument);
    CHECK_THROWS_AS(jws::key_set::parse(R"({"keys":{}})"), std::invalid_argument);
}

TEST_CASE("JOSE JSON is read strictly", "[oidc][jose]") {
    CHECK(jws::parse_object(R"({"a":1,"b":{"a":2}})"));
    CHECK_FALSE(jws::parse_object(R"({"a":1,"a":2})"));
    CHECK_FALSE(jws::parse_object(R"({"b":{"x":1,"x":1}})"));
    CHECK_FALSE(jws::parse_object("[1]"));
    CHECK_FALSE(jws::parse_object("{\"a\":\"\xff\"}"));
    CHECK_FALSE(jws::parse_object(std::string(40, '[') + std::string(40, ']')));
    CHECK_FALSE(jws::parse_object(R"({"a":1} {"b":2})"));
}

TEST_CASE("malformed compact tokens are refused cleanly", "[oidc][jose]") {
    auto p = corpus_provider();
    auto set = jws::key_set::parse(fixture("oidc-generated/jwks.json"));
    auto genuine = token("g01-rs256-genuine");
    for (std::string bad :
         {std::string(), std::string("a.b"), std::string("a.b.c.d"), genuine + ".", "!" + genuine,
          genuine.substr(0, genuine.rfind('.') + 1), std::string(70000, 'a') + "." + genuine}) {
        auto v = oidc::verify_id_token(bad, p, set, expected(), corpus_now);
        CHECK(v.reason() == refusal::malformed_token);
    }
}

TEST_CASE("discovery names the configured issuer and safe endpoints", "[oidc]") {
    nlohmann::json doc = {{"issuer", "https://op.example.test"},
                          {"authorization_endpoint", "https://op.example.test/authorize"},
                          {"token_endpoint", "https://op.example.test/token"},
                          {"userinfo_endpoint", "https://op.example.test/userinfo"},
                          {"jwks_uri", "https://op.example.test/jwks"},
                          {"code_challenge_methods_supported", {"S256"}},
                          {"authorization_response_iss_parameter_supported", true}};
    auto m = oidc::read_discovery(doc.dump(), "https://op.example.test");
    CHECK(m.token_endpoint == "https://op.example.test/token");
    CHECK(m.iss_parameter);

    auto other = doc;
    other["issuer"] = "https://op.example.test/";
    CHECK_THROWS_AS(oidc::read_discovery(other.dump(), "https://op.example.test"),
                    std::invalid_argument);
    auto plain = doc;
    plain["token_endpoint"] = "http://op.example.test/token";
    CHECK_THROWS_AS(oidc::read_discovery(plain.dump(), "https://op.example.test"),
                    std::invalid_argument);
    auto no_pkce = doc;
    no_pkce["code_challenge_methods_supported"] = {"plain"};
    CHECK_THROWS_AS(oidc::read_discovery(no_pkce.dump(), "https://op.example.test"),
                    std::invalid_argument);

    CHECK_NOTHROW(oidc::check_endpoint_url("http://127.0.0.1:4000/token"));
    CHECK_NOTHROW(oidc::check_endpoint_url("http://localhost/token"));
    CHECK_NOTHROW(oidc::check_endpoint_url("http://[::1]:8/x"));
    for (auto bad :
         {"http://op.example.test/", "ftp://op.example.test/", "https://user:pw@op.example.test/",
          "https://op.example.test/#frag", "https://op.example.test/a b", "op.example.test/token",
          "http://127.0.0.1.attacker.test/"}) {
        CHECK_THROWS_AS(oidc::check_endpoint_url(bad), std::invalid_argument);
    }
}

// The relying party against a provider played by a table of answers.

namespace {

/// Answers each URL with what the test put there, and keeps every request.
struct scripted_provider final : protocols::http_fetcher {
    struct request {
        std::string method, url, body;
        std::vector<std::string> headers;
    };
    std::map<std::string, std::vector<protocols::http_reply>> answers; ///< served in order
    std::vector<request> requests;

    protocols::http_reply answer(const std::string& url) {
        auto& queue = answers[url];
        if (queue.empty())
            throw protocols::fetch_error("no answer for " + url);
        auto r = queue.front();
        if (queue.size() > 1)
            queue.erase(queue.begin());
        return r;
    }
    protocols::http_reply get(const std::string& url,
                              const std::vector<std::string>& headers) override {
        requests.push_back({"GET", url, {}, headers});
        return answer(url);
    }
    protocols::http_reply post_form(const std::string& url, const std::string& body,
                                    const std::vector<std::string>& headers) override {
        requests.push_back({"POST", url, body, headers});
        return answer(url);
    }
    int count(const std::string& url) const {
        return static_cast<int>(std::count_if(requests.begin(), requests.end(),
                                              [&](const auto& r) { return r.url == url; }));
    }
};

protocols::http_reply json_reply(const nlohmann::json& body, int status = 200) {
    return {status, "application/json; charset=utf-8", body.dump()};
}

struct party_fixture {
    scripted_provider op;
    std::chrono::system_clock::time_point now = corpus_now;
    oidc::provider_config config = corpus_provider();

    party_fixture() {
        op.answers["https://op.example.test/jwks"] = {
            {200, "application/json", fixture("oidc-generated/jwks.json")}};
    }

    void tokens(const std::string& id_token) {
        op.answers["https://op.example.test/token"] = {json_reply(
            {{"access_token", "at-1"}, {"token_type", "Bearer"}, {"id_token", id_token}})};
    }

    oidc::verification finish(oidc::relying_party& rp,
                              oidc::provider_answer answer = {"c0de", "", ""}) {
        auto v = rp.finish(answer, "verifier-of-the-test", expected());
        UNSCOPED_INFO((v ? std::string("accepted") : v.message()));
        return v;
    }

    oidc::relying_party party() {
        return oidc::relying_party(config, op, [this] { return now; });
    }
};

std::string header_of(const scripted_provider::request& r, const std::string& name) {
    for (const auto& h : r.headers) {
        if (h.rfind(name + ": ", 0) == 0)
            return h.substr(name.size() + 2);
    }
    return {};
}

std::map<std::string, std::string> query_of(const std::string& url) {
    std::map<std::string, std::string> out;
    auto q = url.substr(url.find('?') + 1);
    std::size_t start = 0;
    while (start <= q.size()) {
        auto end = std::min(q.find('&', start), q.size());
        auto pair = q.substr(start, end - start);
        auto eq = pair.find('=');
        out[pair.substr(0, eq)] = eq == std::string::npos ? "" : pair.substr(eq + 1);
        start = end + 1;
    }
    return out;
}

} // namespace

TEST_CASE("a provider cannot be configured with none, an HMAC or a level that is no level",
          "[oidc][party]") {
    party_fixture f;
    for (auto alg : {"none", "HS256", "HS512", "RS1", "rs256"}) {
        auto bad = f.config;
        bad.algorithms = {alg};
        CHECK_THROWS_AS(oidc::relying_party(bad, f.op), std::invalid_argument);
    }
    auto bad = f.config;
    bad.acr_levels = {{"eidas2", "urn:example:loa:2"}};
    CHECK_THROWS_AS(oidc::relying_party(bad, f.op), std::invalid_argument);
    bad = f.config;
    bad.redirect_uri = "http://lre.example.test/auth/oidc/callback";
    CHECK_THROWS_AS(oidc::relying_party(bad, f.op), std::invalid_argument);
    bad = f.config;
    bad.token_auth_method = "private_key_jwt";
    CHECK_THROWS_AS(oidc::relying_party(bad, f.op), std::invalid_argument);
    CHECK_NOTHROW(oidc::relying_party(f.config, f.op));
}

TEST_CASE("the authorisation request carries PKCE S256, state, nonce and the acr asked for",
          "[oidc][party]") {
    party_fixture f;
    auto rp = f.party();
    auto r = rp.begin(loa::substantial);
    CHECK(r.url.rfind("https://op.example.test/authorize?", 0) == 0);
    auto q = query_of(r.url);
    CHECK(q["response_type"] == "code");
    CHECK(q["client_id"] == "lre-client-FICTIF");
    CHECK(q["redirect_uri"] == "https%3A%2F%2Flre.example.test%2Fauth%2Foidc%2Fcallback");
    CHECK(q["scope"] == "openid%20given_name%20family_name%20birthdate");
    CHECK(q["acr_values"] == "eidas2");
    CHECK(q["prompt"] == "login");
    CHECK(q["code_challenge_method"] == "S256");
    CHECK(q["state"] == r.state);
    CHECK(q["nonce"] == r.nonce);
    CHECK(q.count("claims") == 0);
    // 256 random bits each, in base64url.
    for (const auto* secret : {&r.state, &r.nonce, &r.code_verifier})
        CHECK(crypto::from_base64url(*secret).size() == 32);
    CHECK(r.state != r.nonce);

    // The challenge is the verifier's SHA-256, as openssl computes it.
    auto digest = test::run("printf '%s' '" + r.code_verifier +
                            "' | openssl dgst -sha256 -binary | openssl base64 -A");
    REQUIRE(digest.status == 0);
    auto expected_challenge = digest.output;
    for (char& c : expected_challenge)
        c = c == '+' ? '-' : c == '/' ? '_' : c;
    expected_challenge.erase(expected_challenge.find('='));
    CHECK(q["code_challenge"] == expected_challenge);

    CHECK(query_of(rp.begin(loa::high).url)["acr_values"] == "eidas3");
    CHECK(rp.begin(loa::substantial).state != r.state);
    CHECK(f.op.requests.empty()); // every endpoint configured: no discovery

    f.config.claims = {"given_name", "birthdate"};
    f.config.acr_levels = {{"eidas2", std::string(loa::substantial)}};
    auto with_claims = f.party();
    auto claims = query_of(with_claims.begin(loa::substantial).url)["claims"];
    CHECK(claims.find("%22birthdate%22%3A%7B%22essential%22%3Atrue%7D") != std::string::npos);
    CHECK_THROWS_AS(with_claims.begin(loa::high), std::invalid_argument);
}

TEST_CASE("the code is exchanged with the PKCE verifier and client_secret_basic", "[oidc][party]") {
    party_fixture f;
    f.tokens(token("g01-rs256-genuine"));
    auto rp = f.party();
    auto v = f.finish(rp);
    REQUIRE(v);
    CHECK(v.identity->family_name == "Martin");

    const auto& post = f.op.requests.front();
    CHECK(post.method == "POST");
    CHECK(post.url == "https://op.example.test/token");
    CHECK(post.body == "grant_type=authorization_code&code=c0de&redirect_uri=https%3A%2F%2Flre."
                       "example.test%2Fauth%2Foidc%2Fcallback&code_verifier=verifier-of-the-test");
    auto basic = header_of(post, "Authorization");
    REQUIRE(basic.rfind("Basic ", 0) == 0);
    auto decoded = crypto::from_base64(basic.substr(6));
    CHECK(std::string(decoded.begin(), decoded.end()) == "lre-client-FICTIF:s3cret-of-the-client");
    // Every identity claim was in the ID token: no userinfo request.
    CHECK(f.op.count("https://op.example.test/userinfo") == 0);
}

TEST_CASE("client_secret_post sends the client's credentials in the body only", "[oidc][party]") {
    party_fixture f;
    f.config.token_auth_method = "client_secret_post";
    f.tokens(token("g01-rs256-genuine"));
    auto rp = f.party();
    REQUIRE(f.finish(rp));
    const auto& post = f.op.requests.front();
    CHECK(header_of(post, "Authorization").empty());
    CHECK(post.body.find("&client_id=lre-client-FICTIF&client_secret=s3cret-of-the-client") !=
          std::string::npos);
}

TEST_CASE("an unknown kid fetches the keys again, at most once per interval", "[oidc][party]") {
    party_fixture f;
    // At first the provider publishes only the corpus key; later also its new ones.
    f.op.answers["https://op.example.test/jwks"] = {
        {200, "application/json", fixture("oidc-generated/corpus-jwks.json")},
        {200, "application/json", fixture("oidc-generated/jwks.json")}};
    auto rp = f.party();
    f.tokens(token("o04-positive-control-rs256.jwt"));
    REQUIRE(f.finish(rp));
    CHECK(f.op.count("https://op.example.test/jwks") == 1);

    // A token under a key published since: fetched again, accepted.
    f.now += std::chrono::seconds(61);
    f.tokens(token("g01-rs256-genuine"));
    REQUIRE(f.finish(rp));
    CHECK(f.op.count("https://op.example.test/jwks") == 2);

    // A kid nobody publishes: refused, and the keys are not fetched again so soon.
    f.tokens(token("g06-kid-not-in-jwks"));
    CHECK(f.finish(rp).reason() == refusal::key_unknown);
    CHECK(f.op.count("https://op.example.test/jwks") == 2);

    // Once the interval has passed, one more fetch.
    f.now += std::chrono::seconds(61);
    CHECK(f.finish(rp).reason() == refusal::key_unknown);
    CHECK(f.op.count("https://op.example.test/jwks") == 3);
}

TEST_CASE("a signed userinfo supplies the identity, the usage name counts as a family name",
          "[oidc][party]") {
    party_fixture f;
    f.config.algorithms = {"RS256", "ES256"};
    f.config.usage_name_claim = "preferred_username";
    f.tokens(token("g19-identity-in-userinfo-only"));
    f.op.answers["https://op.example.test/userinfo"] = {
        {200, "application/jwt", token("g20-userinfo-signed") + "\n"}};
    auto rp = f.party();
    auto v = f.finish(rp);
    REQUIRE(v);
    CHECK(header_of(f.op.requests.back(), "Authorization") == "Bearer at-1");
    CHECK(v.identity->family_name == "Dupont");
    CHECK(v.identity->usage_name == "Martin");
    auto claims = v.identity->to_person_claims();
    REQUIRE(claims.size() == 2);
    CHECK(claims[1].family_name == "Martin");
    auto attributes = attributes_of(v.identity->to_identification());
    CHECK(attributes["http://eidas.europa.eu/attributes/naturalperson/CurrentFamilyName"] ==
          "Martin");
    CHECK(attributes[std::string(protocols::attribute::birth_name)] == "Dupont");

    // Userinfo about someone else, or in plain JSON contradicting the token: refused.
    f.op.answers["https://op.example.test/userinfo"] = {
        {200, "application/jwt", token("g21-userinfo-other-sub")}};
    CHECK(f.finish(rp).reason() == refusal::subject_mismatch);

    f.tokens(token("g01-rs256-genuine"));
    f.op.answers["https://op.example.test/userinfo"] = {json_reply(
        {{"sub", "op-user-0001"}, {"family_name", "Martinez"}, {"preferred_username", "Martin"}})};
    CHECK(f.finish(rp).reason() == refusal::attribute_conflict);

    // A userinfo signed with an algorithm not pinned is refused like a token.
    f.config.algorithms = {"RS256"};
    auto strict = f.party();
    f.tokens(token("g19-identity-in-userinfo-only"));
    f.op.answers["https://op.example.test/userinfo"] = {
        {200, "application/jwt", token("g20-userinfo-signed")}};
    CHECK(f.finish(strict).reason() == refusal::algorithm_refused);
}

TEST_CASE("the provider's errors and mix-ups are refused before or at the token request",
          "[oidc][party]") {
    party_fixture f;
    f.tokens(token("g01-rs256-genuine"));
    auto rp = f.party();

    oidc::provider_answer denied;
    denied.error = "access_denied";
    auto v = f.finish(rp, denied);
    CHECK(v.reason() == refusal::provider_error);
    CHECK(v.message().find("access_denied") != std::string::npos);

    oidc::provider_answer other{"c0de", "https://op.attacker.test", ""};
    CHECK(f.finish(rp, other).reason() == refusal::issuer_mismatch);
    CHECK(f.finish(rp, {"", "", ""}).reason() == refusal::provider_error);
    CHECK(f.op.requests.empty());

    f.op.answers["https://op.example.test/token"] = {json_reply({{"error", "invalid_grant"}}, 400)};
    v = f.finish(rp);
    CHECK(v.reason() == refusal::token_request_refused);
    CHECK(v.message().find("invalid_grant") != std::string::npos);
    CHECK(v.message().find("c0de") == std::string::npos); // never the code

    f.op.answers.erase("https://op.example.test/token");
    CHECK(f.finish(rp).reason() == refusal::provider_unreachable);
}

TEST_CASE("discovery is fetched once, and the provider's promised iss is required",
          "[oidc][party]") {
    party_fixture f;
    f.config.endpoints = {};
    nlohmann::json doc = {{"issuer", "https://op.example.test"},
                          {"authorization_endpoint", "https://op.example.test/authorize"},
                          {"token_endpoint", "https://op.example.test/token"},
                          {"jwks_uri", "https://op.example.test/jwks"},
                          {"authorization_response_iss_parameter_supported", true}};
    const std::string well_known = "https://op.example.test/.well-known/openid-configuration";
    f.op.answers[well_known] = {json_reply(doc)};
    f.tokens(token("g01-rs256-genuine"));
    auto rp = f.party();
    rp.begin(loa::substantial);
    CHECK(f.finish(rp).reason() == refusal::issuer_mismatch); // no iss in the answer
    CHECK(f.finish(rp, {"c0de", "https://op.example.test", ""}));
    CHECK(f.op.count(well_known) == 1);

    // A document of another issuer is no discovery at all.
    party_fixture g;
    g.config.endpoints = {};
    doc["issuer"] = "https://op.attacker.test";
    g.op.answers[well_known] = {json_reply(doc)};
    auto mixed = g.party();
    CHECK_THROWS_AS(mixed.begin(loa::substantial), protocols::fetch_error);
}
