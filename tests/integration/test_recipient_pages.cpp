// The recipient's pages over HTTP against the running gateway: headers, sessions, the
// form token, and two choices racing on one letter.

#include "integration/recipient_flow.hpp"

#include <future>

using namespace sceau::test;
using nlohmann::json;

namespace {

constexpr const char* letter_ere =
    R"({"kind":"ere","recipient":{"email":"claire.martin@example.org","given_name":"Claire",)"
    R"("family_name":"Martin"},"subject":"Mise en demeure - facture 2026-118",)"
    R"("reference":"dossier 4521"})";

struct pages_fixture : deposit_fixture {
    pages_fixture()
        : deposit_fixture("[lifecycle]\nworker_interval_seconds = 1\n") {}

    std::filesystem::path outbox() const { return server.data_dir() / "outbox"; }

    /// Deposits an ere letter; returns its id and the link of its notice.
    std::pair<std::string, std::string> notified_letter() {
        return sceau::test::notified_letter(*this, letter_ere);
    }

    json letter(const std::string& id) {
        auto r = client.get(server.url("/v1/letters/" + id), auth());
        REQUIRE(r.status == 200);
        return r.json();
    }

    std::vector<std::string> events(const std::string& id) {
        std::vector<std::string> out;
        auto l = letter(id); // kept alive: the loop reads into it
        for (const auto& e : l["evidence"])
            out.push_back(e["event"].get<std::string>());
        return out;
    }
};

/// Posts two choices from two sessions at the same moment; the answers in that order.
std::pair<http_response, http_response> post_at_once(recipient_browser& one, const char* choice,
                                                     recipient_browser& other,
                                                     const char* other_choice) {
    auto first = std::async(std::launch::async, [&] { return one.submit(choice); });
    auto second = std::async(std::launch::async, [&] { return other.submit(other_choice); });
    return {first.get(), second.get()};
}

} // namespace

TEST_CASE("recipient pages are HTML with a strict policy and a session scoped to the link",
          "[integration][recipient]") {
    pages_fixture f;
    auto [id, link] = f.notified_letter();
    recipient_browser browser(link);
    auto r = browser.open();
    REQUIRE(r.status == 200);
    CHECK(r.header("content-type") == "text/html; charset=utf-8");
    CHECK(r.header("content-security-policy").find("default-src 'none'") != std::string::npos);
    CHECK(r.header("referrer-policy") == "no-referrer");
    CHECK(r.header("x-frame-options") == "DENY");
    CHECK(r.header("cache-control") == "no-store");
    auto cookie = r.header("set-cookie");
    auto path = link.substr(link.find("/r/"));
    CHECK(cookie.find("; Path=" + path + ";") != std::string::npos);
    CHECK(cookie.find("HttpOnly") != std::string::npos);
    CHECK(cookie.find("SameSite=Lax") != std::string::npos);
    CHECK(r.body.find("<html lang=\"fr\">") != std::string::npos);
    CHECK(r.body.find("<script") == std::string::npos);

    auto english = browser.open("?lang=en");
    CHECK(english.body.find("<html lang=\"en\">") != std::string::npos);
    // An ere, not a "lettre recommandée électronique", which French law keeps for an lre.
    CHECK(english.body.find("A registered electronic delivery awaits you") != std::string::npos);
    CHECK(r.body.find("Un envoi recommandé électronique vous attend") != std::string::npos);
    CHECK(r.body.find("lettre recommandée") == std::string::npos);
    CHECK(english.header("set-cookie").empty()); // the same session goes on

    // The token never appears in the request log, only the route.
    auto log = f.server.log_with_requests(3);
    CHECK(log.find(path) == std::string::npos);
    CHECK(log.find("route=/r/{token}") != std::string::npos);
}

TEST_CASE("unknown, malformed and dead links get one neutral page", "[integration][recipient]") {
    pages_fixture f;
    auto base = f.server.url("/r/");
    http_client c;
    for (const auto& token :
         {std::string("unknowntokenunknowntokenunknowntokenunknown"),
          std::string("%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E"), std::string(300, 'a')}) {
        INFO(token);
        auto r = c.get(base + token);
        CHECK(r.status == 404);
        CHECK(r.header("content-type") == "text/html; charset=utf-8");
        CHECK(r.body.find("<script>") == std::string::npos);
        CHECK(r.body.find("Ce lien n'est pas valable") != std::string::npos);
        CHECK(r.header("set-cookie").empty());
        auto post = c.post_body(base + token + "/accept", "csrf=x",
                                {"Content-Type: application/x-www-form-urlencoded"});
        CHECK(post.status == 404);
    }
    // Documents of an unknown link: the same page, never a file.
    auto doc = c.get(base + "unknowntokenunknowntokenunknowntokenunknown/documents/1");
    CHECK(doc.status == 404);
    CHECK(doc.header("content-type") == "text/html; charset=utf-8");
}

TEST_CASE("forms without the session's token or without a session change nothing",
          "[integration][recipient]") {
    pages_fixture f;
    auto [id, link] = f.notified_letter();
    recipient_browser browser(link);
    browser.identify(f.outbox());

    CHECK(browser.post("/accept", "lang=fr").status == 403);
    CHECK(browser.post("/accept", "csrf=" + std::string(32, 'A')).status == 403);
    recipient_browser stranger(link); // no session at all
    CHECK(stranger.post("/refuse", "csrf=" + browser.csrf()).status == 403);
    CHECK(f.letter(id)["status"] == "notified");
    CHECK(f.events(id).size() == 2);

    // A session that is not identified cannot choose either.
    recipient_browser unidentified(link);
    REQUIRE(unidentified.open().status == 200);
    CHECK(unidentified.submit("/accept").status == 400);
    CHECK(f.letter(id)["status"] == "notified");
}

TEST_CASE("accept and refuse posted at once: one wins, the other gets 409",
          "[integration][recipient]") {
    pages_fixture f;
    for (int round = 0; round < 3; ++round) {
        auto [id, link] = f.notified_letter();
        recipient_browser first(link), second(link);
        first.identify(f.outbox());
        second.identify(f.outbox());

        auto [a, r] = post_at_once(first, "/accept", second, "/refuse");
        INFO("accept " << a.status << ", refuse " << r.status);
        bool accepted = a.status == 303;
        bool refused = r.status == 200;
        CHECK(accepted != refused);
        CHECK((accepted ? r.status : a.status) == 409);

        auto events = f.events(id);
        auto decisions = std::count(events.begin(), events.end(), "ConsignmentAcceptance") +
                         std::count(events.begin(), events.end(), "ConsignmentRejection");
        CHECK(decisions == 1);
        CHECK(f.letter(id)["status"] == (accepted ? "accepted" : "refused"));

        // Later choices, from either session, lose the same way and change nothing.
        CHECK(first.submit("/refuse").status == 409);
        CHECK(second.submit("/accept").status == 409);
        CHECK(f.events(id).size() == events.size());
        CHECK(f.letter(id)["status"] == (accepted ? "accepted" : "refused"));
        f.check_still_serving();
    }
}

TEST_CASE("two acceptances posted at once: one wins, the other gets 409, one evidence",
          "[integration][recipient]") {
    pages_fixture f;
    for (int round = 0; round < 3; ++round) {
        auto [id, link] = f.notified_letter();
        recipient_browser first(link), second(link);
        first.identify(f.outbox());
        second.identify(f.outbox());

        auto [one, other] = post_at_once(first, "/accept", second, "/accept");
        std::vector<long> statuses = {one.status, other.status};
        std::sort(statuses.begin(), statuses.end());
        CHECK(statuses == std::vector<long>{303, 409});

        auto events = f.events(id);
        CHECK(std::count(events.begin(), events.end(), "ConsignmentAcceptance") == 1);
        CHECK(events.size() == 3);
        CHECK(f.letter(id)["status"] == "accepted");
        f.check_still_serving();
    }
}

TEST_CASE("the letter and its documents only after acceptance, handover recorded once",
          "[integration][recipient]") {
    pages_fixture f;
    auto [id, link] = f.notified_letter();
    recipient_browser browser(link);
    browser.identify(f.outbox());
    CHECK(browser.open("/letter").status == 303);      // not accepted yet
    CHECK(browser.open("/documents/1").status == 404); // nor its content

    REQUIRE(browser.submit("/accept").status == 303);
    auto page = browser.open("/letter");
    REQUIRE(page.status == 200);
    CHECK(page.body.find("Maître Durand") != std::string::npos);
    CHECK(page.body.find("Mise en demeure - facture 2026-118") != std::string::npos);

    auto doc = browser.open("/documents/1");
    REQUIRE(doc.status == 200);
    CHECK(doc.header("content-type") == "application/pdf");
    CHECK(doc.header("content-disposition").rfind("attachment;", 0) == 0);
    CHECK(doc.body == read_file(hostile("pdf/p00-positive-control.pdf")));
    CHECK(browser.open("/documents/1").status == 200);
    auto events = f.events(id);
    CHECK(std::count(events.begin(), events.end(), "ContentHandover") == 1);
}
