// Identity providers' answers over HTTP against the running gateway and its demo eIDAS
// node: an answer identifies only the session of the browser that began it, one method's
// answer leaves the other method's request alone, and the ACS reads answers as large as
// the service provider accepts.

#include "integration/recipient_flow.hpp"

#include <regex>

using namespace sceau::test;
using nlohmann::json;

namespace {

/// The demo node, and an OpenID Connect provider whose endpoints are configured (nothing is
/// fetched before the callback) on a loopback port where nothing listens.
constexpr const char* gateway_config = R"toml([lifecycle]
worker_interval_seconds = 1
[saml]
demo_node = true
[oidc.test]
issuer = "http://127.0.0.1:9/op"
client_id = "sceau-test"
client_secret = "secret-of-the-test"
authorization_endpoint = "http://127.0.0.1:9/op/authorize"
token_endpoint = "http://127.0.0.1:9/op/token"
jwks_uri = "http://127.0.0.1:9/op/jwks"
acr_values = ["eidas2"]
acr_levels = ["substantial"]
timeout_ms = 2000
)toml";

/// A browser on the gateway: keeps the cookies it is given, each sent only under its path.
class browser {
public:
    explicit browser(const server_process& server)
        : server_(server) {}

    http_response get(const std::string& where) {
        return keep(client_.get(url(where), sent(where)));
    }

    http_response post(const std::string& where, const std::string& form) {
        auto headers = sent(where);
        headers.push_back("Content-Type: application/x-www-form-urlencoded");
        return keep(client_.post_body(url(where), form, headers));
    }

    bool has_cookie(const std::string& name) const { return cookies_.count(name) > 0; }

private:
    struct cookie {
        std::string path;
        std::string value;
    };

    std::string url(const std::string& where) const {
        return where.rfind("http", 0) == 0 ? where : server_.url(where);
    }

    std::vector<std::string> sent(const std::string& where) const {
        auto path = url(where).substr(server_.url("").size());
        std::string line;
        for (const auto& [name, c] : cookies_) {
            if (path.rfind(c.path, 0) == 0)
                line += (line.empty() ? "" : "; ") + name + "=" + c.value;
        }
        if (line.empty())
            return {};
        return {"Cookie: " + line};
    }

    http_response keep(http_response r) {
        auto [first, last] = r.headers.equal_range("set-cookie");
        for (auto it = first; it != last; ++it) {
            std::smatch m;
            const std::string& set = it->second;
            if (!std::regex_search(set, m, std::regex("^([a-z_]+)=([^;]*)")))
                continue;
            std::string name = m[1], value = m[2];
            std::smatch p;
            std::string path =
                std::regex_search(set, p, std::regex("; Path=([^;]+)")) ? p[1].str() : "/";
            if (value.empty() || set.find("Max-Age=0") != std::string::npos)
                cookies_.erase(name);
            else
                cookies_[name] = {path, value};
        }
        return r;
    }

    const server_process& server_;
    http_client client_;
    std::map<std::string, cookie> cookies_;
};

std::string encoded(const std::string& s) {
    return sceau::crypto::percent_encode(s);
}

/// The value of the hidden field `name` of a page.
std::string hidden(const http_response& page, const std::string& name) {
    std::smatch m;
    REQUIRE(
        std::regex_search(page.body, m, std::regex("name=\"" + name + "\" value=\"([^\"]*)\"")));
    return m[1];
}

/// The demo node as a person uses it: its page for the request at `node_url`, Claire Martin
/// picked at substantial. Returns the form its answer page posts to the ACS.
std::string demo_answer(browser& b, const std::string& node_url) {
    auto page = b.get(node_url);
    REQUIRE(page.status == 200);
    auto signed_in = b.post("/demo/eidas/sso",
                            "SAMLRequest=" + encoded(hidden(page, "SAMLRequest")) +
                                "&RelayState=" + encoded(hidden(page, "RelayState")) +
                                "&level=" + encoded("http://eidas.europa.eu/LoA/substantial") +
                                "&person=claire-martin");
    REQUIRE(signed_in.status == 200);
    return "SAMLResponse=" + encoded(hidden(signed_in, "SAMLResponse")) +
           "&RelayState=" + encoded(hidden(signed_in, "RelayState"));
}

/// A parameter of a URL; the gateway's RelayState and state need no decoding (base64url).
std::string query_value(const std::string& url, const std::string& name) {
    std::smatch m;
    REQUIRE(std::regex_search(url, m, std::regex("[?&]" + name + "=([A-Za-z0-9_-]+)(&|$)")));
    return m[1];
}

struct binding_fixture : deposit_fixture {
    binding_fixture()
        : deposit_fixture(gateway_config) {}

    /// Deposits an lre letter for Claire Martin; returns its id and its link's token.
    std::pair<std::string, std::string> notified_lre() {
        auto [id, link] = notified_letter(*this, letter_lre);
        return {id, link.substr(link.rfind('/') + 1)};
    }

    std::string status(const std::string& id) { return letter_status(*this, id); }
};

/// Opens the link and begins eIDAS identification; returns where the browser is sent.
std::string saml_start(browser& b, const std::string& token) {
    REQUIRE(b.get("/r/" + token + "?lang=fr").status == 200);
    auto started = b.get("/r/" + token + "/auth/saml?lang=fr");
    REQUIRE(started.status == 303);
    return started.header("location");
}

/// Whether the browser's session on the link may accept the letter.
bool may_accept(browser& b, const std::string& token) {
    auto page = b.get("/r/" + token + "?lang=fr");
    return page.status == 200 && page.body.find("/r/" + token + "/accept") != std::string::npos;
}

/// A page that says nothing of the letter: no link to it, no sender, no subject.
void check_says_nothing(const http_response& r, const std::string& token) {
    auto seen = r.body;
    for (const auto& [name, value] : r.headers)
        seen += name + ": " + value + "\n";
    CHECK(seen.find(token) == std::string::npos);
    for (const char* secret : {"Durand", "Mise en demeure", "dossier 4521", "Martin"})
        CHECK(seen.find(secret) == std::string::npos);
}

} // namespace

TEST_CASE("an eIDAS answer completes in the browser that began it",
          "[integration][saml][binding]") {
    binding_fixture f;
    auto [id, token] = f.notified_lre();
    browser recipient(f.server);
    auto node = saml_start(recipient, token);
    REQUIRE(recipient.has_cookie("sceau_saml"));

    // The ACS verifies, identifies no one, and sends the browser on to the completion.
    auto answer = recipient.post("/auth/saml/acs", demo_answer(recipient, node));
    REQUIRE(answer.status == 303);
    auto completion = answer.header("location");
    CHECK(completion.rfind("/auth/saml/complete?", 0) == 0);
    check_says_nothing(answer, token);

    auto done = recipient.get(completion);
    REQUIRE(done.status == 303);
    CHECK(done.header("location").rfind("/r/" + token, 0) == 0);
    CHECK_FALSE(recipient.has_cookie("sceau_saml")); // removed once used
    CHECK(may_accept(recipient, token));
    CHECK(recipient.get(completion).status == 400); // once
}

TEST_CASE("an eIDAS answer brought by a browser that did not begin it identifies no one",
          "[integration][saml][binding]") {
    binding_fixture f;
    auto [id, token] = f.notified_lre();

    // Someone holding the link begins; the recipient is made to answer that request.
    browser starter(f.server);
    auto node = saml_start(starter, token);
    browser recipient(f.server);
    SECTION("without a cookie") {}
    SECTION("with a cookie of its own identification") {
        saml_start(recipient, token);
        REQUIRE(recipient.has_cookie("sceau_saml"));
    }
    auto answer = recipient.post("/auth/saml/acs", demo_answer(recipient, node));
    REQUIRE(answer.status == 303);
    auto completion = answer.header("location");
    check_says_nothing(answer, token);

    auto refused = recipient.get(completion);
    CHECK(refused.status == 400);
    CHECK(refused.body.find("Identification expirée") != std::string::npos);
    check_says_nothing(refused, token);
    CHECK(f.server.log().find("reason=other_browser") != std::string::npos);

    // The answer is spent: the browser that began it cannot finish it either.
    CHECK(starter.get(completion).status == 400);
    CHECK_FALSE(may_accept(starter, token));
    CHECK(f.status(id) == "notified");
}

TEST_CASE("an OpenID Connect callback given an eIDAS request leaves it waiting",
          "[integration][saml][oidc][binding]") {
    binding_fixture f;
    auto [id, token] = f.notified_lre();
    browser recipient(f.server);
    auto node = saml_start(recipient, token);
    auto relay_state = query_value(node, "RelayState");

    auto wrong = recipient.get("/auth/oidc/callback?code=x&state=" + encoded(relay_state));
    CHECK(wrong.status == 400);

    auto answer = recipient.post("/auth/saml/acs", demo_answer(recipient, node));
    REQUIRE(answer.status == 303);
    CHECK(recipient.get(answer.header("location")).status == 303);
    CHECK(may_accept(recipient, token));
}

TEST_CASE("the ACS and the eIDAS completion given an OpenID Connect state leave it waiting",
          "[integration][saml][oidc][binding]") {
    binding_fixture f;
    auto [id, token] = f.notified_lre();
    browser recipient(f.server);
    REQUIRE(recipient.get("/r/" + token + "?lang=fr").status == 200);
    auto to_provider = recipient.get("/r/" + token + "/auth/oidc/test?lang=fr");
    REQUIRE(to_provider.status == 303);
    auto state = query_value(to_provider.header("location"), "state");

    CHECK(recipient.post("/auth/saml/acs", "SAMLResponse=PHg%2B&RelayState=" + encoded(state))
              .status == 400);
    CHECK(recipient.get("/auth/saml/complete?answer=" + encoded(state)).status == 400);

    // Still waiting: the callback takes it and goes on to the token endpoint, which does
    // not answer, rather than finding no request.
    auto callback = recipient.get("/auth/oidc/callback?code=x&state=" + encoded(state));
    CHECK(callback.status == 403);
    CHECK(callback.body.find("Identification refusée") != std::string::npos);
    CHECK(f.server.log().find("reason=provider_unreachable") != std::string::npos);
}

TEST_CASE("the ACS reads a form as large as the answers the service provider accepts",
          "[integration][saml][limits]") {
    binding_fixture f;

    // 200 KiB of form, over the limit of the other small requests: read, then found to
    // answer no request.
    std::string large = "RelayState=_unknown&SAMLResponse=" + std::string(200 << 10, 'A');
    auto read = f.client.post_body(f.server.url("/auth/saml/acs"), large,
                                   {"Content-Type: application/x-www-form-urlencoded"});
    CHECK(read.status == 400);
    CHECK(read.body.find("Identification expirée") != std::string::npos);

    // Far over it: a page, before the body is read, and the server goes on serving.
    auto exchange = raw_send(f.server.address(),
                             "POST /auth/saml/acs HTTP/1.1\r\nHost: x\r\nContent-Type: "
                             "application/x-www-form-urlencoded\r\nContent-Length: 8000000\r\n\r\n"
                             "SAMLResponse=AAAA");
    INFO(exchange.received);
    CHECK(exchange.received.rfind("HTTP/1.1 413", 0) == 0);
    CHECK(exchange.received.find("text/html") != std::string::npos);
    CHECK(exchange.received.find("trop volumineuse") != std::string::npos);
    f.check_still_serving();
}
