#include "protocols/text_rules.hpp"

#include <memory>
#include <stdexcept>
#include <unicode/uspoof.h>
#include <unicode/utf8.h>

namespace sceau::protocols {
namespace {

bool is_bidi_control(char32_t cp) noexcept {
    return cp == 0x061C || cp == 0x200E || cp == 0x200F || (cp >= 0x202A && cp <= 0x202E) ||
           (cp >= 0x2066 && cp <= 0x2069);
}

// RFC 5322 section 3.2.3: atext, the characters of a Dot-string's atoms besides letters and
// digits (RFC 5321 section 4.1.2 takes its Atom from there).
bool is_atext(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("!#$%&'*+-/=?^_`{|}~").find(c) != std::string_view::npos;
}

bool is_ascii(char c) {
    return static_cast<unsigned char>(c) < 0x80;
}

struct spoof_checker_closer {
    void operator()(USpoofChecker* p) const noexcept { uspoof_close(p); }
};

/// One checker for the process: configured once, then only read, which ICU allows from
/// several threads at once.
const USpoofChecker& spoof_checker() {
    static const std::unique_ptr<USpoofChecker, spoof_checker_closer> checker = [] {
        UErrorCode status = U_ZERO_ERROR;
        std::unique_ptr<USpoofChecker, spoof_checker_closer> c(uspoof_open(&status));
        uspoof_setChecks(
            c.get(), USPOOF_RESTRICTION_LEVEL | USPOOF_INVISIBLE | USPOOF_MIXED_NUMBERS, &status);
        uspoof_setRestrictionLevel(c.get(), USPOOF_MODERATELY_RESTRICTIVE);
        if (U_FAILURE(status))
            throw std::runtime_error("ICU: no spoof checker");
        return c;
    }();
    return *checker;
}

// Unicode TS #39 section 5.2: one part of an address in scripts that are not mixed the
// way look-alikes are, with no invisible or mixed-numbering trick.
bool looks_like_itself(std::string_view part) {
    UErrorCode status = U_ZERO_ERROR;
    int32_t failed = uspoof_checkUTF8(&spoof_checker(), part.data(),
                                      static_cast<int32_t>(part.size()), nullptr, &status);
    return U_SUCCESS(status) && failed == 0;
}

bool is_dot_string(std::string_view local) {
    if (local.empty() || local.size() > 64 || local.front() == '.' || local.back() == '.' ||
        local.find("..") != std::string_view::npos)
        return false;
    for (char c : local) {
        if (c != '.' && !is_atext(c) && is_ascii(c))
            return false;
    }
    return looks_like_itself(local);
}

// RFC 5321 section 4.1.2: sub-domain = Let-dig [Ldh-str], with U-labels allowed (RFC 6531
// section 3.3); RFC 3696 section 2: a top-level domain is not all digits.
bool is_domain(std::string_view domain) {
    if (domain.size() > 253)
        return false;
    std::size_t labels = 0;
    bool all_digits = false;
    std::size_t start = 0;
    while (start <= domain.size()) {
        auto dot = domain.find('.', start);
        auto label = domain.substr(start, dot == std::string_view::npos ? dot : dot - start);
        if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
            return false;
        all_digits = true;
        for (char c : label) {
            bool digit = c >= '0' && c <= '9';
            bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
            if (is_ascii(c) && !digit && !letter && c != '-')
                return false;
            all_digits = all_digits && digit;
        }
        if (!looks_like_itself(label))
            return false;
        ++labels;
        if (dot == std::string_view::npos)
            break;
        start = dot + 1;
    }
    return labels >= 2 && !all_digits;
}

} // namespace

bool is_hidden_control(char32_t cp) noexcept {
    return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || is_bidi_control(cp) || cp == 0x2028 ||
           cp == 0x2029;
}

std::optional<std::string_view> text_fault(std::string_view text) {
    const auto* s = reinterpret_cast<const uint8_t*>(text.data());
    auto length = static_cast<int32_t>(text.size());
    if (text.size() > static_cast<std::size_t>(INT32_MAX))
        return "is too long";
    bool bidi = false;
    for (int32_t i = 0; i < length;) {
        UChar32 cp;
        U8_NEXT(s, i, length, cp);
        if (cp < 0)
            return "is not valid UTF-8";
        auto c = static_cast<char32_t>(cp);
        if (is_hidden_control(c) && !is_bidi_control(c))
            return "contains control characters";
        bidi = bidi || is_bidi_control(c);
    }
    if (bidi)
        return "contains bidirectional formatting characters";
    return std::nullopt;
}

bool is_mailbox(std::string_view address) {
    auto at = address.rfind('@');
    if (address.size() > 254 || at == std::string_view::npos || text_fault(address))
        return false;
    return is_dot_string(address.substr(0, at)) && is_domain(address.substr(at + 1));
}

} // namespace sceau::protocols
