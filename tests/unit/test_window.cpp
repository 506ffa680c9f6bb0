#include "crypto/timestamp.hpp"
#include "crypto/xml.hpp"
#include "protocols/window.hpp"

#include <catch2/catch.hpp>

#include <random>

using namespace sceau;
using protocols::acceptance_deadline;

namespace {

std::chrono::system_clock::time_point utc(const char* generalized) {
    return crypto::parse_generalized_time(generalized);
}

std::string text(std::chrono::system_clock::time_point t) {
    return crypto::format_utc(t);
}

} // namespace

TEST_CASE("the window ends at Paris midnight after fifteen days counted from the next day",
          "[protocols][window]") {
    // 11:00 in Paris on 3 December: days 4..18 December, closed as the 19th begins (CET).
    CHECK(text(acceptance_deadline(utc("20261203100000Z"))) == "2026-12-18T23:00:00.000Z");
    // Late on the 2nd in UTC is already the 3rd in Paris.
    CHECK(text(acceptance_deadline(utc("20261202233000Z"))) == "2026-12-18T23:00:00.000Z");
    // Summer time: midnight is 22:00 UTC.
    CHECK(text(acceptance_deadline(utc("20260630223000Z"))) == "2026-07-16T22:00:00.000Z");
}

TEST_CASE("month and year ends roll over", "[protocols][window]") {
    CHECK(text(acceptance_deadline(utc("20260131120000Z"))) == "2026-02-15T23:00:00.000Z");
    CHECK(text(acceptance_deadline(utc("20280214120000Z"))) ==
          "2028-02-29T23:00:00.000Z"); // 1 March, leap year
    CHECK(text(acceptance_deadline(utc("20261231233000Z"))) == "2027-01-16T23:00:00.000Z");
    CHECK(protocols::local_date(utc("20261231233000Z")) == "2027-01-01");
}

TEST_CASE("daylight saving changes never give less than fifteen full days",
          "[protocols][window][dst]") {
    // Spring forward on 28 March 2027 loses an hour: notified at 23:59 in Paris, the
    // plain count would give 14 days 23 hours, so the window runs one more day.
    auto notified = utc("20270320225900Z");
    auto deadline = acceptance_deadline(notified);
    CHECK(text(deadline) == "2027-04-05T22:00:00.000Z");
    CHECK(deadline - notified >= std::chrono::hours(360));

    // Notified earlier that day, the plain count is long enough.
    CHECK(text(acceptance_deadline(utc("20270320090000Z"))) == "2027-04-04T22:00:00.000Z");

    // Fall back on 25 October 2026 gains an hour: closes at midnight CET.
    CHECK(text(acceptance_deadline(utc("20261015090000Z"))) == "2026-10-30T23:00:00.000Z");
}

TEST_CASE("notices on a daylight saving day, and windows that end on one",
          "[protocols][window][dst]") {
    // Expected values from Python's zoneinfo, not from our code. Notified on the spring
    // day itself, after the change.
    CHECK(text(acceptance_deadline(utc("20270328013000Z"))) == "2027-04-12T22:00:00.000Z");
    // Both 02:30 of the autumn night (summer time, then winter time) are 25 October.
    CHECK(text(acceptance_deadline(utc("20261025003000Z"))) == "2026-11-09T23:00:00.000Z");
    CHECK(text(acceptance_deadline(utc("20261025013000Z"))) == "2026-11-09T23:00:00.000Z");
    // The window closes as the spring day begins: still winter time.
    CHECK(text(acceptance_deadline(utc("20270312120000Z"))) == "2027-03-27T23:00:00.000Z");
    // Its last day is the 23-hour spring day: one day more, or 15 full days are not given.
    CHECK(text(acceptance_deadline(utc("20270313225900Z"))) == "2027-03-29T22:00:00.000Z");
    // Its last day is the 25-hour autumn day: nothing to add.
    CHECK(text(acceptance_deadline(utc("20261010215900Z"))) == "2026-10-25T23:00:00.000Z");
}

TEST_CASE("thirty-day months and February of common and leap years", "[protocols][window]") {
    CHECK(text(acceptance_deadline(utc("20260430120000Z"))) == "2026-05-15T22:00:00.000Z");
    CHECK(text(acceptance_deadline(utc("20270214120000Z"))) == "2027-03-01T23:00:00.000Z");
    CHECK(text(acceptance_deadline(utc("20270228120000Z"))) == "2027-03-15T23:00:00.000Z");
    // 23:30 UTC on 28 February is already 1 March in Paris.
    CHECK(text(acceptance_deadline(utc("20270228233000Z"))) == "2027-03-16T23:00:00.000Z");
    CHECK(text(acceptance_deadline(utc("20280229120000Z"))) == "2028-03-15T23:00:00.000Z");
}

TEST_CASE("every deadline is a Paris midnight between fifteen and seventeen days away",
          "[protocols][window]") {
    std::mt19937_64 rng(20261203);
    auto start = utc("20260101000000Z");
    for (int i = 0; i < 2000; ++i) {
        auto notified = start + std::chrono::minutes(rng() % (5 * 365 * 24 * 60));
        auto deadline = acceptance_deadline(notified);
        INFO(text(notified) << " -> " << text(deadline));
        CHECK(deadline - notified >= std::chrono::hours(15 * 24));
        CHECK(deadline - notified < std::chrono::hours(17 * 24));
        // Midnight in Paris: one minute earlier is the previous Paris day.
        CHECK(protocols::local_date(deadline) !=
              protocols::local_date(deadline - std::chrono::minutes(1)));
    }
}
