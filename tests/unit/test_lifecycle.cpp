#include "crypto/encoding.hpp"
#include "crypto/sha256.hpp"
#include "crypto/xml.hpp"
#include "protocols/deposit.hpp"
#include "protocols/lifecycle.hpp"
#include "protocols/window.hpp"
#include "support/fixtures.hpp"
#include "support/lifecycle_fixture.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

using namespace sceau;
using namespace sceau::protocols;
using test::lifecycle_fixture;
using outcome = transition_result::outcome;
using std::chrono::hours;

TEST_CASE("the state machine allows exactly the transitions of the design",
          "[protocols][lifecycle]") {
    using s = letter_status;
    using e = letter_event;
    const s all_statuses[] = {s::deposited, s::notified,      s::accepted, s::refused,
                              s::expired,   s::undeliverable, s::rejected};
    const e all_events[] = {e::notification_sent, e::notification_failed, e::accept, e::refuse,
                            e::expire};
    std::map<std::pair<s, e>, s> allowed = {
        {{s::deposited, e::notification_sent}, s::notified},
        {{s::deposited, e::notification_failed}, s::undeliverable},
        {{s::notified, e::accept}, s::accepted},
        {{s::notified, e::refuse}, s::refused},
        {{s::notified, e::expire}, s::expired},
    };
    for (auto from : all_statuses) {
        CHECK(status_from_string(to_string(from)) == from);
        for (auto ev : all_events) {
            auto it = allowed.find({from, ev});
            INFO(to_string(from) << " + event " << static_cast<int>(ev));
            if (it == allowed.end())
                CHECK_FALSE(next_status(from, ev));
            else
                CHECK(next_status(from, ev) == it->second);
        }
    }
    CHECK_FALSE(status_from_string("lost"));
}

TEST_CASE("a deposit queues its notice, sending it notifies with a deadline and reminders",
          "[protocols][lifecycle]") {
    lifecycle_fixture f;
    auto id = f.deposit();
    auto due = f.db->due_mail(crypto::format_utc(f.clock()), 10);
    REQUIRE(due.size() == 1);
    CHECK(due[0].letter_id == id);
    CHECK(due[0].purpose == "notice");

    auto announced = acceptance_deadline(f.clock());
    auto r = f.letters.notification_sent(id, announced);
    REQUIRE(r.result == outcome::done);
    CHECK(r.evidence.event == "NotificationForAcceptance");
    auto letter = f.db->letter_by_id(id);
    CHECK(letter->status == "notified");
    CHECK(letter->notified_at == r.evidence.event_time);
    CHECK(letter->accept_deadline >= crypto::format_utc(announced));
    CHECK(crypto::parse_utc(letter->accept_deadline) - crypto::parse_utc(letter->notified_at) >=
          hours(15 * 24));

    // Reminders 7 and 2 days before the deadline, queued with the notification.
    f.offset_hours = 24 * 14;
    auto reminders = f.db->due_mail(crypto::format_utc(f.clock()), 10);
    CHECK(reminders.size() == 2);
    // A second notification of the same letter is not allowed.
    CHECK(f.letters.notification_sent(id, announced).result == outcome::not_allowed);
}

TEST_CASE("accept, refuse and expiry each record one evidence and settle the letter",
          "[protocols][lifecycle]") {
    lifecycle_fixture f;
    auto a = f.notified();
    CHECK(f.letters.accept(a, f.who).result == outcome::done);
    CHECK(f.db->letter_by_id(a)->status == "accepted");
    CHECK(f.events(a) == std::vector<std::string>{"SubmissionAcceptance",
                                                  "NotificationForAcceptance",
                                                  "ConsignmentAcceptance"});
    CHECK(f.letters.refuse(a, f.who).result == outcome::not_allowed);

    auto r = f.notified();
    CHECK(f.letters.refuse(r, f.who).result == outcome::done);
    CHECK(f.db->letter_by_id(r)->status == "refused");
    CHECK(f.letters.accept(r, f.who).result == outcome::not_allowed);

    auto e = f.notified();
    CHECK(f.letters.expire(e).result == outcome::not_allowed); // the window is open
    f.offset_hours = 24 * 17;
    CHECK(f.letters.accept(e, f.who).result == outcome::window_closed);
    CHECK(f.letters.refuse(e, f.who).result == outcome::window_closed);
    CHECK(f.letters.expire_due() == 1);
    CHECK(f.db->letter_by_id(e)->status == "expired");
    CHECK(f.events(e).back() == "AcceptanceRejectionExpiry");
    CHECK(f.letters.expire_due() == 0);
    // The settled letters' reminders are cancelled.
    CHECK(f.db->due_mail(crypto::format_utc(f.clock()), 10).empty());
}

TEST_CASE("content handover is recorded on the first download only", "[protocols][lifecycle]") {
    lifecycle_fixture f;
    auto id = f.notified();
    CHECK(f.letters.hand_over(id, f.who).result == outcome::not_allowed); // not accepted yet
    REQUIRE(f.letters.accept(id, f.who).result == outcome::done);
    CHECK(f.letters.hand_over(id, f.who).result == outcome::done);
    CHECK(f.letters.hand_over(id, f.who).result == outcome::not_allowed);
    CHECK(f.events(id).back() == "ContentHandover");
    CHECK(f.events(id).size() == 4);
}

TEST_CASE("an unreachable recipient makes the letter undeliverable with evidence",
          "[protocols][lifecycle]") {
    lifecycle_fixture f;
    auto id = f.deposit();
    auto r = f.letters.notification_failed(id, "550 mailbox unavailable");
    REQUIRE(r.result == outcome::done);
    CHECK(f.db->letter_by_id(id)->status == "undeliverable");
    auto xml = f.db->evidence_by_id(r.evidence.id)->xml;
    CHECK(xml.find("NotificationForAcceptanceFailure") != std::string::npos);
    CHECK(xml.find("550 mailbox unavailable") != std::string::npos);
    CHECK(f.letters.accept(id, f.who).result == outcome::not_allowed);
}

TEST_CASE("concurrent choices on one letter end with one winner and one evidence",
          "[protocols][lifecycle][concurrency]") {
    lifecycle_fixture f;
    for (int round = 0; round < 6; ++round) {
        auto id = f.notified();
        std::atomic<int> done{0}, lost{0};
        auto choose = [&](bool accept) {
            auto r = accept ? f.letters.accept(id, f.who) : f.letters.refuse(id, f.who);
            (r.result == outcome::done ? done : lost)++;
            CHECK((r.result == outcome::done || r.result == outcome::conflict ||
                   r.result == outcome::not_allowed));
        };
        // accept against refuse, then two accepts
        std::thread a(choose, true), b(choose, round % 2 == 0);
        a.join();
        b.join();
        CHECK(done == 1);
        CHECK(lost == 1);
        auto evs = f.events(id);
        CHECK(evs.size() == 3);
        auto status = f.db->letter_by_id(id)->status;
        CHECK((status == "accepted" || status == "refused"));
    }
}

TEST_CASE("an acceptance racing the expiry at the deadline has one winner",
          "[protocols][lifecycle][concurrency]") {
    lifecycle_fixture f;
    auto id = f.notified();
    auto letter = f.db->letter_by_id(id);
    // Put the clock a hair before the deadline: accept may still win, or expiry may.
    auto until = crypto::parse_utc(letter->accept_deadline) - f.clock();
    f.offset_hours = std::chrono::duration_cast<hours>(until).count();
    std::thread a([&] { f.letters.accept(id, f.who); });
    std::thread b([&] {
        f.offset_hours = f.offset_hours + 1;
        f.letters.expire_due();
    });
    a.join();
    b.join();
    auto evs = f.events(id);
    CHECK(evs.size() == 3);
    auto status = f.db->letter_by_id(id)->status;
    CHECK((status == "accepted" || status == "expired"));
}

TEST_CASE("a choice in the window's last millisecond counts, one as it closes is too late",
          "[protocols][lifecycle][window]") {
    lifecycle_fixture f;
    f.frozen = true;
    auto on_time = f.notified();
    auto late_accept = f.notified();
    auto late_refusal = f.notified();
    auto deadline = crypto::parse_utc(f.db->letter_by_id(on_time)->accept_deadline);
    REQUIRE(f.db->letter_by_id(late_refusal)->accept_deadline == crypto::format_utc(deadline));
    auto at = [&](std::chrono::system_clock::time_point t) {
        f.offset_ms = std::chrono::duration_cast<std::chrono::milliseconds>(t - f.start).count();
    };

    at(deadline - std::chrono::milliseconds(1));
    CHECK(f.letters.accept(on_time, f.who).result == outcome::done);
    CHECK(f.letters.expire_due() == 0); // nothing is due before the close

    at(deadline);
    CHECK(f.letters.accept(late_accept, f.who).result == outcome::window_closed);
    CHECK(f.letters.refuse(late_refusal, f.who).result == outcome::window_closed);
    for (const auto& id : {late_accept, late_refusal}) {
        CHECK(f.db->letter_by_id(id)->status == "notified");
        CHECK(f.events(id).size() == 2); // the late choices left no evidence
    }

    // The scheduler then closes exactly the two letters still waiting, at the deadline.
    CHECK(f.letters.expire_due() == 2);
    CHECK(f.db->letter_by_id(on_time)->status == "accepted");
    for (const auto& id : {late_accept, late_refusal}) {
        auto letter = f.db->letter_by_id(id);
        CHECK(letter->status == "expired");
        CHECK(f.events(id).back() == "AcceptanceRejectionExpiry");
        CHECK(letter->evidence.back().event_time == crypto::format_utc(deadline));
    }
}
