#pragma once
// Helpers for tests that read verification reports.

#include "protocols/bundle_verifier.hpp"

#include <string>

namespace sceau::test {

/// A report as lines of text, for failure messages.
inline std::string describe(const protocols::verification_report& r) {
    std::string out;
    for (const auto& c : r.checks)
        out += std::string(protocols::to_string(c.outcome)) + " " + c.item + ": " + c.detail + "\n";
    return out;
}

/// Whether some check with this verdict has `item_part` in its item and `detail_part` in its
/// detail.
inline bool has_check(const protocols::verification_report& r, protocols::check_result::verdict v,
                      const std::string& item_part, const std::string& detail_part = {}) {
    for (const auto& c : r.checks) {
        if (c.outcome == v && c.item.find(item_part) != std::string::npos &&
            c.detail.find(detail_part) != std::string::npos)
            return true;
    }
    return false;
}

/// Bytes shown with control and non-ASCII characters escaped.
inline std::string printable(const std::string& s) {
    std::string out;
    for (unsigned char c : s) {
        if (c >= 0x20 && c < 0x7f) {
            out.push_back(static_cast<char>(c));
        } else {
            char hex[5];
            std::snprintf(hex, sizeof hex, "\\x%02x", c);
            out += hex;
        }
    }
    return out;
}

} // namespace sceau::test
