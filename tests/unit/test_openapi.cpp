// docs/openapi.json against the server it describes: the route table and the problem
// table are the truth, the document must follow them.

#include "gateway/problem.hpp"
#include "gateway/router.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cctype>
#include <fstream>
#include <iterator>
#include <regex>
#include <set>
#include <string>
#include <utility>
#include <vector>

using namespace sceau::gateway;
using nlohmann::json;

namespace {

/// (path, lower-case method), as OpenAPI keys them.
using endpoint = std::pair<std::string, std::string>;

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

endpoint endpoint_of(const route& r) {
    // The router writes captures as `{name}`, as OpenAPI path templates do.
    return {std::string(r.pattern), lower(boost::beast::http::to_string(r.method))};
}

std::vector<problem_kind> all_problem_kinds() {
    std::vector<problem_kind> out;
    for (auto k = static_cast<int>(problem_kind::bad_request);
         k <= static_cast<int>(problem_kind::share_gone); ++k) // the last kind
        out.push_back(static_cast<problem_kind>(k));
    return out;
}

/// The document, read once per test so that each test reports a broken file itself.
class openapi_fixture {
public:
    openapi_fixture() {
        std::ifstream in(SCEAU_SOURCE_DIR "/docs/openapi.json", std::ios::binary);
        text_.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
        doc_ = json::parse(text_, nullptr, false);
    }

protected:
    /// The document, or a discarded value when the file is missing or not JSON.
    const json& doc() const { return doc_; }

    /// The object a local `$ref` names, or `node` itself when it has no `$ref`.
    const json& resolve(const json& node) const {
        if (!node.is_object() || !node.contains("$ref"))
            return node;
        auto ref = node.at("$ref").get<std::string>();
        REQUIRE(ref.rfind("#/", 0) == 0);
        json::json_pointer pointer(ref.substr(1));
        REQUIRE(doc_.contains(pointer));
        return doc_.at(pointer);
    }

    /// Every path and method of the document.
    std::set<endpoint> documented() const {
        static const std::set<std::string> methods = {"get",     "put",  "post",  "delete",
                                                      "options", "head", "patch", "trace"};
        std::set<endpoint> out;
        for (const auto& [path, item] : doc_.at("paths").items()) {
            for (const auto& [key, operation] : item.items()) {
                if (methods.count(key))
                    out.emplace(path, key);
            }
        }
        return out;
    }

    /// Lookups below use at(): a missing member throws, and Catch reports it as a failure.
    const json& operation(const endpoint& e) const {
        return doc_.at("paths").at(e.first).at(e.second);
    }

    /// The security requirements in force for an operation: its own, else the document's.
    json security_of(const json& op) const {
        if (op.contains("security"))
            return op.at("security");
        return doc_.value("security", json::array());
    }

    std::string text_;
    json doc_;
};

/// Every `$ref` string anywhere below `node`.
void collect_refs(const json& node, std::vector<std::string>& out) {
    if (node.is_object()) {
        for (const auto& [key, value] : node.items()) {
            if (key == "$ref" && value.is_string())
                out.push_back(value.get<std::string>());
            else
                collect_refs(value, out);
        }
    } else if (node.is_array()) {
        for (const auto& value : node)
            collect_refs(value, out);
    }
}

} // namespace

TEST_CASE_METHOD(openapi_fixture, "the OpenAPI document is JSON and declares OpenAPI 3.0",
                 "[gateway][openapi]") {
    REQUIRE(!text_.empty());
    REQUIRE(!doc().is_discarded());
    REQUIRE(doc().is_object());
    REQUIRE(doc().contains("openapi"));
    CHECK(std::regex_match(doc().at("openapi").get<std::string>(), std::regex(R"(3\.0\.\d+)")));
    CHECK(doc().at("info").at("version").is_string());
    CHECK(doc().at("paths").is_object());

    std::vector<std::string> refs;
    collect_refs(doc(), refs);
    for (const auto& ref : refs) {
        INFO(ref);
        REQUIRE(ref.rfind("#/", 0) == 0);
        CHECK(doc().contains(json::json_pointer(ref.substr(1))));
    }
}

TEST_CASE_METHOD(openapi_fixture, "every route of the server is described in the OpenAPI document",
                 "[gateway][openapi]") {
    REQUIRE(doc().is_object());
    auto described = documented();
    for (const auto& r : routes()) {
        auto e = endpoint_of(r);
        INFO(e.second << " " << e.first);
        CHECK(described.count(e) == 1);
    }
}

TEST_CASE_METHOD(openapi_fixture, "the OpenAPI document describes no route the server lacks",
                 "[gateway][openapi]") {
    REQUIRE(doc().is_object());
    std::set<endpoint> served;
    for (const auto& r : routes())
        served.insert(endpoint_of(r));

    auto described = documented();
    REQUIRE(!described.empty());
    for (const auto& e : described) {
        INFO(e.second << " " << e.first);
        CHECK(served.count(e) == 1);
    }
}

TEST_CASE_METHOD(openapi_fixture, "the Problem type enum lists exactly the server's problem types",
                 "[gateway][openapi]") {
    REQUIRE(doc().is_object());
    const auto& type =
        doc().at("components").at("schemas").at("Problem").at("properties").at("type");
    REQUIRE(type.at("enum").is_array());
    std::set<std::string> listed;
    for (const auto& t : type.at("enum"))
        listed.insert(t.get<std::string>());

    std::set<std::string> served;
    for (auto kind : all_problem_kinds()) {
        auto uri = "urn:sceau:problem:" + std::string(info(kind).name);
        served.insert(uri);
        INFO(uri);
        CHECK(listed.count(uri) == 1);
    }
    // And nothing stale: a type the server no longer answers must leave the document.
    CHECK(listed == served);
}

TEST_CASE_METHOD(
    openapi_fixture,
    "operations that need an API key declare its bearer scheme and a 401; the others neither",
    "[gateway][openapi]") {
    REQUIRE(doc().is_object());
    const auto& schemes = doc().at("components").at("securitySchemes");

    for (const auto& r : routes()) {
        auto e = endpoint_of(r);
        INFO(e.second << " " << e.first);
        const auto& op = operation(e);
        REQUIRE(op.is_object());
        const auto& responses = op.at("responses");
        auto security = security_of(op);

        if (!r.sender_auth && !r.auditor_auth) {
            for (const auto& requirement : security)
                CHECK(requirement.empty()); // {} makes authentication optional
            CHECK(!responses.contains("401"));
            continue;
        }

        // Sender keys and auditor keys are different credentials, each its own scheme.
        const std::string expected = r.auditor_auth ? "auditor_key" : "api_key";
        bool bearer = false;
        for (const auto& requirement : security) {
            for (const auto& [name, scopes] : requirement.items()) {
                const auto& scheme = schemes.value(name, json::object());
                bearer = bearer || (name == expected && scheme.value("type", "") == "http" &&
                                    lower(scheme.value("scheme", "")) == "bearer");
            }
        }
        CHECK(bearer);
        REQUIRE(responses.contains("401"));
        const auto& unauthorized = resolve(responses.at("401"));
        CHECK(unauthorized.at("headers").contains("WWW-Authenticate"));
    }
}
