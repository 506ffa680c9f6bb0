// `sceau sender` commands (webhooks, unique addresses) and the webhook state in a
// letter's timeline, through the built binary and the running server.

#include "integration/deposit_fixture.hpp"

#include <regex>

using namespace sceau::test;
using nlohmann::json;

namespace {

json senders(const deposit_fixture& f) {
    auto r = sceau_cli(f, "sender list --json");
    REQUIRE(r.status == 0);
    return json::parse(r.out);
}

std::string only_sender_id(const deposit_fixture& f) {
    auto all = senders(f);
    REQUIRE(all.size() == 1);
    return all[0]["id"].get<std::string>();
}

/// The timeline of a letter as its sender reads it.
json timeline(deposit_fixture& f, const std::string& letter_id) {
    auto r = f.client.get(f.server.url("/v1/letters/" + letter_id), f.auth());
    REQUIRE(r.status == 200);
    return r.json()["timeline"];
}

} // namespace

TEST_CASE("sender webhook prints only a new secret and the letter's timeline shows the delivery",
          "[integration][webhooks]") {
    deposit_fixture f("[lifecycle]\nworker_interval_seconds = 3600\n"); // no delivery here
    auto id = only_sender_id(f);
    CHECK(senders(f)[0]["webhook_url"].is_null());

    auto set = sceau_cli(f, "sender webhook --id " + id + " --url https://hooks.example/sceau");
    INFO(set.err);
    REQUIRE(set.status == 0);
    // One line, the secret and nothing else: scripts read it from standard output.
    std::regex secret_line("whsec_[A-Za-z0-9_-]{43}\n");
    CHECK(std::regex_match(set.out, secret_line));
    auto secret = set.out.substr(0, set.out.size() - 1);
    CHECK(set.err.find(secret) == std::string::npos);

    // Listing shows that a webhook is set, never its secret.
    auto listed = sceau_cli(f, "sender list --json");
    CHECK(json::parse(listed.out)[0]["webhook_url"] == "https://hooks.example/sceau");
    CHECK(listed.out.find(secret) == std::string::npos);
    auto text = sceau_cli(f, "sender list");
    CHECK(text.out.find("\twebhook\n") != std::string::npos);
    CHECK(text.out.find(secret) == std::string::npos);

    // A new event queues a delivery (the scheduler's next round is an hour away).
    auto r = f.deposit(letter_lre, hostile("pdf/p00-positive-control.pdf"));
    REQUIRE(r.status == 201);
    auto letter_id = r.json()["id"].get<std::string>();
    auto entries = timeline(f, letter_id);
    REQUIRE(entries.size() == 1);
    CHECK(entries[0]["webhook"] == json({{"state", "pending"},
                                         {"attempts", 0},
                                         {"last_status", nullptr},
                                         {"delivered_at", nullptr}}));

    // Setting the URL again gives another secret.
    auto again = sceau_cli(f, "sender webhook --id " + id + " --url https://hooks.example/sceau");
    REQUIRE(again.status == 0);
    CHECK(std::regex_match(again.out, secret_line));
    CHECK(again.out != set.out);

    // Removed: later events queue nothing, and their timeline entry says so.
    auto cleared = sceau_cli(f, "sender webhook --id " + id + " --clear");
    CHECK(cleared.status == 0);
    CHECK(cleared.out.empty());
    CHECK(senders(f)[0]["webhook_url"].is_null());
    auto later = f.deposit(letter_lre, hostile("pdf/p00-positive-control.pdf"));
    REQUIRE(later.status == 201);
    auto later_entries = timeline(f, later.json()["id"].get<std::string>());
    REQUIRE(later_entries.size() == 1);
    CHECK(later_entries[0]["webhook"].is_null());
}

TEST_CASE("sender webhook refuses a bad URL or an unknown sender and changes nothing",
          "[integration][webhooks]") {
    deposit_fixture f;
    auto id = only_sender_id(f);

    for (const std::string url :
         {"ftp://hooks.example/", "https://user:password@hooks.example/", "hooks.example/sceau",
          "javascript:alert(1)", "http:///nohost", "https://hooks.example/a b"}) {
        INFO(url);
        auto r = sceau_cli(f, "sender webhook --id " + id + " --url '" + url + "'");
        CHECK(r.status != 0);
        CHECK(r.out.empty());
        CHECK(r.err.find("webhook URL") != std::string::npos);
    }
    auto long_url = "https://hooks.example/" + std::string(3000, 'a');
    auto too_long = sceau_cli(f, "sender webhook --id " + id + " --url " + long_url);
    CHECK(too_long.status != 0);
    CHECK(too_long.err.find("longer than") != std::string::npos);
    CHECK(senders(f)[0]["webhook_url"].is_null());

    auto unknown = sceau_cli(f, "sender webhook --id snd_nobody --url https://hooks.example/");
    CHECK(unknown.status != 0);
    CHECK(unknown.out.empty());
    CHECK(unknown.err.find("no sender snd_nobody") != std::string::npos);

    auto neither = sceau_cli(f, "sender webhook --id " + id);
    CHECK(neither.status != 0);
    CHECK(neither.out.empty());
    auto both = sceau_cli(f, "sender webhook --id " + id + " --clear --url https://hooks.example/");
    CHECK(both.status != 0);
    CHECK(both.out.empty());
}

TEST_CASE("sender add refuses a second sender with the same address in another case",
          "[integration][senders]") {
    deposit_fixture f;
    auto again = sceau_cli(f, "sender add --name 'Other' --email 'CONTACT@Durand.Example'");
    CHECK(again.status == 1);
    CHECK(again.out.empty()); // no key printed
    CHECK(again.err.find("already exists") != std::string::npos);
    CHECK(senders(f).size() == 1);
}

TEST_CASE("sender add refuses names and addresses that would break or disguise the evidence",
          "[integration][senders][hostile]") {
    deposit_fixture f;
    // Each value is sealed into every record of the sender's letters and shown to their
    // recipients: a control character or a stray byte makes that XML unreadable.
    struct {
        const char* args;
        const char* option;
    } cases[] = {
        {"--name \"$(printf 'Evil\\033[31m')\" --email evil@example.org", "--name"},
        {"--name \"$(printf 'Bad\\377\\376')\" --email bad@example.org", "--name"},
        {"--name \"$(printf 'Ma\\342\\200\\256tre')\" --email bidi@example.org", "--name"},
        {"--name X --company \"$(printf 'Line\\nbreak')\" --email c@example.org", "--company"},
        {"--name X --identified-by \"$(printf 'a\\001b')\" --email i@example.org",
         "--identified-by"},
        {"--name X --email \"$(printf 'x@y.example\\r\\nBcc: z@w.example')\"", "--email"},
        {"--name X --email '@'", "--email"},
        {"--name X --email 'contact@exаmple.org'", "--email"}, // a Cyrillic "а"
        {"--name '' --email e@example.org", "--name"},
    };
    for (const auto& c : cases) {
        INFO(c.args);
        auto r = sceau_cli(f, std::string("sender add ") + c.args);
        CHECK(r.status == 1);
        CHECK(r.out.empty()); // no key printed
        CHECK(r.err.find(c.option) != std::string::npos);
    }
    CHECK(senders(f).size() == 1);

    // Names in any script are fine.
    auto good = sceau_cli(f, "sender add --name 'Maître Élodie Marchand' --company 'Étude "
                             "Marchand' --email 'élodie@exemple.fr'");
    CHECK(good.status == 0);
    CHECK(!good.out.empty());
    CHECK(senders(f).size() == 2);
}

TEST_CASE("sender add warns when it is not told how the sender was identified",
          "[integration][senders]") {
    deposit_fixture f;
    auto bare = sceau_cli(f, "sender add --name 'Bare' --email 'bare@durand.example'");
    REQUIRE(bare.status == 0);
    CHECK(bare.out.rfind("sk_", 0) == 0); // still only the key on standard output
    CHECK(bare.err.find("warning: no --identified-by") != std::string::npos);
    auto told = sceau_cli(f, "sender add --name 'Told' --email 'told@durand.example' "
                             "--identified-by 'Kbis checked'");
    REQUIRE(told.status == 0);
    CHECK(told.err.find("warning") == std::string::npos);
}
