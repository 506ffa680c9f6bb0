// Webhooks through the running gateway: its scheduler delivers each new evidence to a
// real receiver that fails, times out, then recovers; the signatures are checked by
// OpenSSL's command line.

#include "integration/deposit_fixture.hpp"
#include "support/webhook_receiver.hpp"

#include <nlohmann/json.hpp>

#include <set>

using namespace sceau::test;
using nlohmann::json;

namespace {

/// Waits until `done()` holds, polling; false after `limit`.
template <typename Condition>
bool eventually(Condition done, std::chrono::seconds limit = std::chrono::seconds(30)) {
    auto until = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < until) {
        if (done())
            return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return done();
}

constexpr const char* fast_lifecycle = R"([lifecycle]
worker_interval_seconds = 1

[webhooks]
timeout_ms = 1000
connect_timeout_ms = 1000
first_retry_seconds = 1
)";

/// The sender's webhook pointed at `hooks`; returns the signing secret.
std::string point_webhook_at(deposit_fixture& f, const receiver& hooks) {
    auto list = sceau_cli(f, "sender list --json");
    REQUIRE(list.status == 0);
    auto sender_id = json::parse(list.out)[0]["id"].get<std::string>();
    auto set = sceau_cli(f, "sender webhook --id " + sender_id + " --url " + hooks.url());
    REQUIRE(set.status == 0);
    return set.out.substr(0, set.out.find('\n'));
}

json timeline_of(deposit_fixture& f, const std::string& letter_id) {
    auto res = f.client.get(f.server.url("/v1/letters/" + letter_id), f.auth());
    REQUIRE(res.status == 200);
    return res.json()["timeline"];
}

/// The deposit and the notice are on the timeline, each delivered.
bool all_delivered(deposit_fixture& f, const std::string& letter_id) {
    auto entries = timeline_of(f, letter_id);
    if (entries.size() < 2)
        return false;
    for (const auto& e : entries) {
        if (e["webhook"].is_null() || e["webhook"]["state"] != "delivered")
            return false;
    }
    return true;
}

} // namespace

TEST_CASE("the gateway delivers each evidence to a receiver that fails, times out and recovers",
          "[integration][webhooks]") {
    receiver hooks;
    hooks.answer(500);
    deposit_fixture f(fast_lifecycle);
    auto secret = point_webhook_at(f, hooks);

    auto r = f.deposit(letter_lre, hostile("pdf/p00-positive-control.pdf"));
    REQUIRE(r.status == 201);
    auto letter_id = r.json()["id"].get<std::string>();

    // First a 500, then silence past the time limit, then 200.
    REQUIRE(eventually([&] { return hooks.requests().size() >= 1; }));
    hooks.hang();
    REQUIRE(eventually([&] { return hooks.requests().size() >= 2; }));
    hooks.answer(200);

    REQUIRE(eventually([&] { return all_delivered(f, letter_id); }));

    auto entries = timeline_of(f, letter_id);
    CHECK(entries[0]["event"] == "SubmissionAcceptance");
    CHECK(entries[1]["event"] == "NotificationForAcceptance");
    // The failed and timed-out attempts were retried: every request is one counted attempt.
    std::size_t attempts = 0;
    for (const auto& e : entries) {
        CHECK(e["webhook"]["last_status"] == 200);
        attempts += e["webhook"]["attempts"].get<std::size_t>();
    }
    CHECK(attempts == hooks.requests().size());
    CHECK(attempts >= entries.size() + 2);

    // Every request, failed or not, is signed over "timestamp.body" with the secret.
    std::set<std::string> delivered_events;
    for (const auto& req : hooks.requests()) {
        CHECK(req.method == "POST");
        CHECK(req.target == "/hooks/sceau");
        CHECK(req.headers.at("content-type") == "application/json");
        const auto& stamp = req.headers.at("sceau-timestamp");
        CHECK(req.headers.at("sceau-signature") ==
              "v1=" + openssl_hmac(f.server.dir(), secret, stamp + "." + req.body));
        CHECK(req.headers.count("sceau-delivery") == 1);
        auto body = json::parse(req.body);
        CHECK(body["letter_id"] == letter_id);
        CHECK(body.contains("evidence_id"));
        CHECK(body.contains("time"));
        CHECK(body.contains("status"));
        delivered_events.insert(body["event"].get<std::string>());
        // The payload names events, never the letter's content or the sender's secrets.
        CHECK(req.body.find(secret) == std::string::npos);
        CHECK(req.body.find("Mise en demeure") == std::string::npos);
    }
    CHECK(delivered_events.count("SubmissionAcceptance") == 1);
    CHECK(delivered_events.count("NotificationForAcceptance") == 1);

    // Nothing in the gateway's log of the secret.
    CHECK(f.server.log().find(secret) == std::string::npos);
}

TEST_CASE("webhooks queued when the gateway stops are delivered once it is back, once each",
          "[integration][webhooks]") {
    receiver hooks;
    hooks.answer(503);
    deposit_fixture f(fast_lifecycle);
    point_webhook_at(f, hooks);
    auto r = f.deposit(letter_lre, hostile("pdf/p00-positive-control.pdf"));
    REQUIRE(r.status == 201);
    auto letter_id = r.json()["id"].get<std::string>();
    REQUIRE(eventually([&] { return hooks.requests().size() >= 1; }));

    // Stopped with the deliveries pending; the receiver recovers while nobody runs.
    f.server.stop();
    auto failed = hooks.requests().size();
    hooks.answer(200);
    f.server.start();
    REQUIRE(eventually([&] { return all_delivered(f, letter_id); }));

    // After the restart each event reached the receiver exactly once more: the queue
    // kept them all, and none was sent twice once acknowledged.
    auto requests = hooks.requests();
    std::map<std::string, int> answered;
    for (auto i = failed; i < requests.size(); ++i)
        ++answered[json::parse(requests[i].body)["evidence_id"].get<std::string>()];
    auto entries = timeline_of(f, letter_id);
    CHECK(answered.size() == entries.size());
    std::size_t attempts = 0;
    for (const auto& e : entries) {
        CHECK(answered[e["evidence_id"].get<std::string>()] == 1);
        attempts += e["webhook"]["attempts"].get<std::size_t>();
    }
    CHECK(attempts == requests.size());
}
