#pragma once

#include <chrono>
#include <string>

namespace sceau::protocols {

/// The acceptance window of a registered letter (CPCE R.53-3): the recipient has fifteen
/// days, counted from the day after the notification, to accept or refuse. Days are
/// calendar days in Europe/Paris; the window closes at midnight, Paris time, at the end of
/// the fifteenth day, and is extended by whole days if daylight saving time would make it
/// shorter than fifteen times twenty-four hours.
std::chrono::system_clock::time_point
acceptance_deadline(std::chrono::system_clock::time_point notified, int days = 15,
                    const std::string& zone = "Europe/Paris");

/// The calendar date of an instant in a time zone, as YYYY-MM-DD.
std::string local_date(std::chrono::system_clock::time_point t,
                       const std::string& zone = "Europe/Paris");

} // namespace sceau::protocols
