#include "protocols/window.hpp"

#include <cstdio>
#include <memory>
#include <stdexcept>
#include <unicode/gregocal.h>
#include <unicode/timezone.h>

namespace sceau::protocols {
namespace {

using std::chrono::milliseconds;
using std::chrono::system_clock;

/// A Gregorian calendar in `zone`. ICU carries the tz database, so rules for past and
/// future daylight saving changes come from it, not from code of ours.
std::unique_ptr<icu::GregorianCalendar> calendar_in(const std::string& zone) {
    std::unique_ptr<icu::TimeZone> tz(
        icu::TimeZone::createTimeZone(icu::UnicodeString::fromUTF8(zone)));
    if (*tz == icu::TimeZone::getUnknown())
        throw std::invalid_argument("unknown time zone " + zone);
    UErrorCode status = U_ZERO_ERROR;
    auto cal = std::make_unique<icu::GregorianCalendar>(tz.release(), status); // adopts tz
    if (U_FAILURE(status))
        throw std::runtime_error("ICU calendar: " + std::string(u_errorName(status)));
    return cal;
}

UDate to_udate(system_clock::time_point t) {
    return static_cast<UDate>(
        std::chrono::duration_cast<milliseconds>(t.time_since_epoch()).count());
}

system_clock::time_point from_udate(UDate d) {
    return system_clock::time_point(milliseconds(static_cast<long long>(d)));
}

} // namespace

system_clock::time_point acceptance_deadline(system_clock::time_point notified, int days,
                                             const std::string& zone) {
    auto cal = calendar_in(zone);
    UErrorCode status = U_ZERO_ERROR;
    cal->setTime(to_udate(notified), status);
    int year = cal->get(UCAL_YEAR, status);
    int month = cal->get(UCAL_MONTH, status);
    int day = cal->get(UCAL_DATE, status);

    // Midnight starting the day after the last one: day 0 is the notification's, day 1
    // the first counted, so the window ends as day `days + 1` begins.
    auto midnight_starting = [&](int offset) {
        cal->clear();
        cal->set(year, month, day + offset, 0, 0, 0); // lenient: rolls over months and years
        return from_udate(cal->getTime(status));
    };
    int offset = days + 1;
    auto deadline = midnight_starting(offset);
    const auto minimum = std::chrono::hours(24) * days;
    while (deadline - notified < minimum)
        deadline = midnight_starting(++offset);
    if (U_FAILURE(status))
        throw std::runtime_error("ICU calendar: " + std::string(u_errorName(status)));
    return deadline;
}

std::string local_date(system_clock::time_point t, const std::string& zone) {
    auto cal = calendar_in(zone);
    UErrorCode status = U_ZERO_ERROR;
    cal->setTime(to_udate(t), status);
    char buf[32];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", cal->get(UCAL_YEAR, status),
                  cal->get(UCAL_MONTH, status) + 1, cal->get(UCAL_DATE, status));
    if (U_FAILURE(status))
        throw std::runtime_error("ICU calendar: " + std::string(u_errorName(status)));
    return buf;
}

} // namespace sceau::protocols
