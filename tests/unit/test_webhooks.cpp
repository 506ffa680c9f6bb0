// Webhook delivery against a real HTTP receiver on a loopback port: signatures checked by
// OpenSSL's command line, a receiver that fails, hangs and recovers, a clock the test moves.

#include "crypto/encoding.hpp"
#include "crypto/sha256.hpp"
#include "crypto/xml.hpp"
#include "gateway/handlers.hpp"
#include "protocols/deposit.hpp"
#include "protocols/lifecycle.hpp"
#include "protocols/webhooks.hpp"
#include "protocols/window.hpp"
#include "support/fixtures.hpp"
#include "support/lifecycle_fixture.hpp"
#include "support/webhook_receiver.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <map>
#include <string>
#include <thread>
#include <vector>

using namespace sceau;
using namespace sceau::protocols;
using sceau::test::closed_port;
using sceau::test::openssl_hmac;
using sceau::test::receiver;
using namespace std::chrono_literals;
using std::chrono::system_clock;

namespace {

/// Records what it is asked to post and answers as told; for the dispatcher alone.
class recording_poster final : public webhook_poster {
public:
    explicit recording_poster(std::vector<webhook_request>& log, int status)
        : log_(log)
        , status_(status) {}

    webhook_response post(const webhook_request& request) override {
        log_.push_back(request);
        return {webhook_response::outcome::answered, status_, {}};
    }

private:
    std::vector<webhook_request>& log_;
    int status_;
};

/// The lifecycle's store and keys on a frozen clock, with a sender whose webhook points at a
/// live receiver.
struct webhook_fixture : test::lifecycle_fixture {
    receiver hooks;
    webhook_options options = short_timeouts();

    webhook_fixture() {
        frozen = true;
        sender.webhook_url = hooks.url();
        sender.webhook_secret = new_webhook_secret();
        REQUIRE(db->set_webhook(sender.id, sender.webhook_url, sender.webhook_secret));
    }

    static webhook_options short_timeouts() {
        webhook_options o;
        o.timeout = 400ms;
        o.connect_timeout = 400ms;
        return o;
    }

    /// The only delivery of a letter.
    storage::webhook_delivery delivery(const std::string& letter_id) {
        auto all = db->webhooks_of_letter(letter_id);
        REQUIRE(all.size() == 1);
        return all.front();
    }

    void advance(std::chrono::seconds by) { offset_seconds += by.count(); }

    /// Moves the clock to the delivery's next attempt.
    void advance_to(const storage::webhook_delivery& d) {
        auto gap = crypto::parse_utc(d.next_attempt_at) - clock();
        offset_seconds += std::chrono::ceil<std::chrono::seconds>(gap).count();
    }
};

/// The wait the back-off chose after an attempt made at `at`.
std::chrono::milliseconds waited(const storage::webhook_delivery& d, system_clock::time_point at) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
        crypto::parse_utc(d.next_attempt_at) - at);
}

} // namespace

TEST_CASE(
    "a webhook POSTs the stored payload signed over timestamp and body, and a 2xx delivers it",
    "[protocols][webhooks]") {
    webhook_fixture f;
    auto id = f.deposit();
    auto queued = f.delivery(id);
    CHECK(queued.state == "pending");
    CHECK(queued.attempts == 0);

    webhook_dispatcher dispatcher(*f.db, f.options, f.clock);
    f.hooks.answer(204);
    CHECK(dispatcher.run_once() == 1);

    auto got = f.hooks.requests();
    REQUIRE(got.size() == 1);
    const auto& r = got.front();
    CHECK(r.method == "POST");
    CHECK(r.target == "/hooks/sceau");
    CHECK(r.headers.at("content-type") == "application/json");
    CHECK(r.headers.at("sceau-delivery") == queued.id);
    CHECK(r.body == queued.payload);

    // The timestamp is the attempt's time in Unix seconds; the signature verifies with an
    // independent HMAC over exactly "timestamp.body" as received.
    auto seconds = std::chrono::duration_cast<std::chrono::seconds>(f.clock().time_since_epoch());
    CHECK(r.headers.at("sceau-timestamp") == std::to_string(seconds.count()));
    auto expected = openssl_hmac(f.dir.path(), f.sender.webhook_secret,
                                 r.headers.at("sceau-timestamp") + "." + r.body);
    CHECK(expected.size() == 64);
    CHECK(r.headers.at("sceau-signature") == "v1=" + expected);
    CHECK(openssl_hmac(f.dir.path(), "whsec_another",
                       r.headers.at("sceau-timestamp") + "." + r.body) != expected);

    // The payload names the event of the letter's evidence.
    auto letter = f.db->letter_by_id(id);
    auto payload = nlohmann::json::parse(r.body);
    CHECK(payload["event"] == "SubmissionAcceptance");
    CHECK(payload["letter_id"] == id);
    CHECK(payload["evidence_id"] == letter->evidence.front().id);
    CHECK(payload["time"] == letter->evidence.front().event_time);
    CHECK(payload["status"] == "deposited");

    auto done = f.delivery(id);
    CHECK(done.state == "delivered");
    CHECK(done.attempts == 1);
    CHECK(done.last_status == 204);
    CHECK(done.delivered_at == crypto::format_utc(f.clock()));

    // Delivered is final: later runs send nothing.
    f.advance(24h);
    CHECK(dispatcher.run_once() == 0);
    CHECK(f.hooks.requests().size() == 1);
}

TEST_CASE(
    "a webhook receiver that fails, then times out, is retried with back-off until it recovers",
    "[protocols][webhooks]") {
    webhook_fixture f;
    auto id = f.deposit();
    webhook_dispatcher dispatcher(*f.db, f.options, f.clock);

    // 1. A 500: still pending, one attempt, the next a minute (plus jitter) later.
    f.hooks.answer(500, "internal trouble");
    auto first_at = f.clock();
    CHECK(dispatcher.run_once() == 1);
    auto d = f.delivery(id);
    CHECK(d.state == "pending");
    CHECK(d.attempts == 1);
    CHECK(d.last_status == 500);
    CHECK(d.last_error == "HTTP 500");
    CHECK(waited(d, first_at) >= 60s);
    CHECK(waited(d, first_at) <= 66s);

    // Not due yet: nothing is sent.
    f.advance(30s);
    CHECK(dispatcher.run_once() == 0);
    CHECK(f.hooks.requests().size() == 1);

    // 2. A receiver that never answers: the time-out ends the attempt, the wait doubles.
    f.hooks.hang();
    f.advance_to(d);
    auto second_at = f.clock();
    auto before = std::chrono::steady_clock::now();
    CHECK(dispatcher.run_once() == 1);
    CHECK(std::chrono::steady_clock::now() - before < 5s);
    d = f.delivery(id);
    CHECK(d.state == "pending");
    CHECK(d.attempts == 2);
    CHECK(d.last_status == 0);
    CHECK(d.last_error.find("timed out") != std::string::npos);
    CHECK(waited(d, second_at) >= 120s);
    CHECK(waited(d, second_at) <= 132s);
    CHECK(f.hooks.requests().size() == 2);

    // 3. Recovered: delivered at the next attempt, and only once.
    f.hooks.answer(200);
    f.advance_to(d);
    CHECK(dispatcher.run_once() == 1);
    d = f.delivery(id);
    CHECK(d.state == "delivered");
    CHECK(d.attempts == 3);
    CHECK(d.last_status == 200);
    CHECK(d.last_error.empty());

    f.advance(48h);
    CHECK(dispatcher.run_once() == 0);
    auto got = f.hooks.requests();
    REQUIRE(got.size() == 3);
    // The same delivery each time, so that a receiver can drop repeats.
    for (const auto& r : got) {
        CHECK(r.headers.at("sceau-delivery") == d.id);
        CHECK(r.body == d.payload);
    }
    CHECK(got[0].headers.at("sceau-timestamp") != got[2].headers.at("sceau-timestamp"));
}

TEST_CASE("a webhook redirect is not followed and counts as a failed attempt",
          "[protocols][webhooks]") {
    webhook_fixture f;
    auto id = f.deposit();
    webhook_dispatcher dispatcher(*f.db, f.options, f.clock);

    f.hooks.answer(307, {}, f.hooks.url() + "/elsewhere");
    CHECK(dispatcher.run_once() == 1);
    auto d = f.delivery(id);
    CHECK(d.state == "pending");
    CHECK(d.last_status == 307);
    CHECK(d.last_error.find("redirect") != std::string::npos);
    REQUIRE(f.hooks.requests().size() == 1);
    CHECK(f.hooks.requests().front().target == "/hooks/sceau");
}

TEST_CASE("a webhook reply body is neither kept nor read past a few KiB", "[protocols][webhooks]") {
    webhook_fixture f;
    auto id = f.deposit();
    webhook_dispatcher dispatcher(*f.db, f.options, f.clock);

    f.hooks.answer(400, "token=receiver-internal-detail");
    CHECK(dispatcher.run_once() == 1);
    auto d = f.delivery(id);
    CHECK(d.last_status == 400);
    CHECK(d.last_error.find("receiver-internal-detail") == std::string::npos);

    // A 2xx with a large body is still an acknowledgement.
    f.hooks.answer(200, std::string(1 << 20, 'x'));
    f.advance_to(d);
    CHECK(dispatcher.run_once() == 1);
    d = f.delivery(id);
    CHECK(d.state == "delivered");
    CHECK(d.last_status == 200);
}

TEST_CASE("webhook back-off doubles up to an hour and the delivery fails once the window is over",
          "[protocols][webhooks]") {
    webhook_fixture f;
    auto url = "http://127.0.0.1:" + std::to_string(closed_port()) + "/hooks";
    REQUIRE(f.db->set_webhook(f.sender.id, url, f.sender.webhook_secret));
    auto id = f.deposit();
    auto created = crypto::parse_utc(f.delivery(id).created_at);
    webhook_dispatcher dispatcher(*f.db, f.options, f.clock);

    std::vector<std::chrono::milliseconds> waits;
    storage::webhook_delivery d = f.delivery(id);
    system_clock::time_point last_attempt;
    while (d.state == "pending" && waits.size() < 200) {
        f.advance_to(d);
        last_attempt = f.clock();
        REQUIRE(dispatcher.run_once() == 1);
        d = f.delivery(id);
        CHECK(d.last_status == 0);
        CHECK(!d.last_error.empty()); // connection refused
        waits.push_back(waited(d, last_attempt));
    }
    REQUIRE(d.state == "failed");
    CHECK(d.attempts == static_cast<int>(waits.size()));

    // 60 s, 120 s, 240 s... each with at most a tenth more, never over an hour and a tenth.
    std::chrono::milliseconds base = 60s;
    for (std::size_t i = 0; i + 2 < waits.size(); ++i) {
        INFO("attempt " << i + 1);
        CHECK(waits[i] >= base);
        CHECK(waits[i] <= base + base / 10);
        base = std::min<std::chrono::milliseconds>(base * 2, 1h);
    }
    // Retried through the whole window, 72 hours by default, and not beyond it.
    CHECK(last_attempt >= created + 72h);
    CHECK(last_attempt < created + 72h + 1s);
    CHECK(d.attempts >= 60); // about 72: six doublings, then hourly

    // Failed is final.
    f.advance(24h);
    CHECK(dispatcher.run_once() == 0);
}

TEST_CASE("a restarted webhook dispatcher over the same store resumes the pending deliveries",
          "[protocols][webhooks]") {
    webhook_fixture f;
    auto first = f.deposit();
    auto second = f.deposit();

    f.hooks.answer(503);
    {
        webhook_dispatcher before_restart(*f.db, f.options, f.clock);
        CHECK(before_restart.run_once() == 2);
    }
    CHECK(f.delivery(first).attempts == 1);
    CHECK(f.delivery(second).attempts == 1);

    // A new process: a new connection to the same database, a new dispatcher.
    auto reopened = f.store.open(2);
    webhook_dispatcher after_restart(*reopened, f.options, f.clock);
    f.hooks.answer(200);
    f.advance(10min);
    CHECK(after_restart.run_once() == 2);
    for (const auto& id : {first, second}) {
        auto d = f.delivery(id);
        CHECK(d.state == "delivered");
        CHECK(d.attempts == 2);
    }
    CHECK(f.hooks.requests().size() == 4);
}

TEST_CASE("a delivery whose sender removed the webhook is skipped and later events queue nothing",
          "[protocols][webhooks]") {
    webhook_fixture f;
    auto id = f.deposit();
    REQUIRE(f.db->set_webhook(f.sender.id, "", ""));

    webhook_dispatcher dispatcher(*f.db, f.options, f.clock);
    CHECK(dispatcher.run_once() == 1);
    auto d = f.delivery(id);
    CHECK(d.state == "skipped");
    CHECK(d.attempts == 0);
    CHECK(f.hooks.requests().empty());

    auto later = f.deposit();
    CHECK(f.db->webhooks_of_letter(later).empty());
    CHECK(dispatcher.run_once() == 0);
}

TEST_CASE("each webhook attempt uses the sender's URL and secret as they are at that moment",
          "[protocols][webhooks]") {
    webhook_fixture f;
    auto id = f.deposit();
    std::vector<webhook_request> posted;
    webhook_dispatcher dispatcher(*f.db, f.options, f.clock,
                                  std::make_unique<recording_poster>(posted, 502));
    CHECK(dispatcher.run_once() == 1);

    auto rotated = new_webhook_secret();
    REQUIRE(rotated != f.sender.webhook_secret);
    REQUIRE(f.db->set_webhook(f.sender.id, "https://hooks.example/new", rotated));
    f.advance_to(f.delivery(id));
    CHECK(dispatcher.run_once() == 1);

    REQUIRE(posted.size() == 2);
    CHECK(posted[0].url == f.hooks.url());
    CHECK(posted[1].url == "https://hooks.example/new");
    auto header = [](const webhook_request& r, const std::string& name) {
        for (const auto& [n, v] : r.headers) {
            if (n == name)
                return v;
        }
        return std::string();
    };
    auto timestamp = header(posted[1], "Sceau-Timestamp");
    CHECK(header(posted[1], "Sceau-Signature") ==
          "v1=" + openssl_hmac(f.dir.path(), rotated, timestamp + "." + posted[1].body));
    CHECK(webhook_signature(rotated, timestamp, posted[1].body) ==
          header(posted[1], "Sceau-Signature"));
}

TEST_CASE("webhook URLs are http or https, with a host and without credentials",
          "[protocols][webhooks]") {
    for (const auto& good : std::vector<std::string>{
             "https://hooks.example/sceau", "http://127.0.0.1:8081/in", "HTTPS://hooks.example",
             "https://[::1]:9000/x?tenant=a@b", "https://hooks.example/path@with-at"}) {
        INFO(good);
        CHECK_NOTHROW(check_webhook_url(good));
    }
    for (const auto& bad : std::vector<std::string>{
             "", "ftp://hooks.example/", "file:///etc/passwd", "hooks.example/sceau",
             "https://user:pass@hooks.example/", "https://user@hooks.example/",
             "https://@hooks.example/", "http:///nohost", "http:/hooks.example/", "https://:443/",
             "https://hooks.example/a b", "https://hooks.example/\n",
             "https://hooks.example/" + std::string(2100, 'a')}) {
        INFO(bad);
        CHECK_THROWS_AS(check_webhook_url(bad), std::invalid_argument);
    }
    auto secret = new_webhook_secret();
    CHECK(secret.rfind("whsec_", 0) == 0);
    CHECK(secret.size() == 6 + 43); // 256 bits in base64url
    CHECK(secret != new_webhook_secret());
}

TEST_CASE("the webhook retry window cannot be made shorter than 48 hours",
          "[protocols][webhooks]") {
    webhook_fixture f;
    auto options = f.options;
    options.give_up_after = 47h;
    CHECK_THROWS_AS(webhook_dispatcher(*f.db, options, f.clock), std::invalid_argument);
    options.give_up_after = 48h;
    CHECK_NOTHROW(webhook_dispatcher(*f.db, options, f.clock));
}

TEST_CASE("the letter's timeline shows each event's webhook delivery",
          "[protocols][webhooks][gateway]") {
    webhook_fixture f;
    auto id = f.deposit();
    webhook_dispatcher dispatcher(*f.db, f.options, f.clock);
    f.hooks.answer(200);
    CHECK(dispatcher.run_once() == 1);

    // The notice is sent, a minute later, after the webhook was removed: its event has no
    // delivery.
    REQUIRE(f.db->set_webhook(f.sender.id, "", ""));
    f.advance(1min);
    REQUIRE(f.letters.notification_sent(id, acceptance_deadline(f.clock())).result ==
            transition_result::outcome::done);

    auto letter = f.db->letter_by_id(id);
    auto deliveries = f.db->webhooks_of_letter(id);
    auto shown = gateway::letter_json(*letter, &deliveries);
    const auto& timeline = shown.at("timeline");
    REQUIRE(timeline.size() == 2);
    const auto& hook = timeline[0].at("webhook");
    CHECK(hook.at("state") == "delivered");
    CHECK(hook.at("attempts") == 1);
    CHECK(hook.at("last_status") == 200);
    CHECK(hook.at("delivered_at") == deliveries.front().delivered_at);
    CHECK(timeline[1].at("event") == "NotificationForAcceptance");
    CHECK(timeline[1].at("webhook").is_null());

    // Lists do not look deliveries up: no member rather than a wrong null.
    CHECK_FALSE(gateway::letter_json(*letter).at("timeline")[0].contains("webhook"));
}
