#include "protocols/matching.hpp"

#include "protocols/letter.hpp"

#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>

namespace sceau::protocols {
namespace {

/// White_Space trimmed at both ends, inner runs collapsed to one U+0020.
icu::UnicodeString collapse_space(const icu::UnicodeString& in) {
    icu::UnicodeString out;
    bool pending_space = false;
    for (int32_t i = 0; i < in.length();) {
        UChar32 c = in.char32At(i);
        i += U16_LENGTH(c);
        if (u_hasBinaryProperty(c, UCHAR_WHITE_SPACE)) {
            pending_space = !out.isEmpty();
            continue;
        }
        if (pending_space)
            out.append(static_cast<UChar32>(0x20));
        pending_space = false;
        out.append(c);
    }
    return out;
}

const icu::Normalizer2& nfc() {
    UErrorCode status = U_ZERO_ERROR;
    const auto* n = icu::Normalizer2::getNFCInstance(status);
    if (U_FAILURE(status) || !n)
        throw std::runtime_error("ICU: no NFC normaliser");
    return *n;
}

const icu::Normalizer2& nfd() {
    UErrorCode status = U_ZERO_ERROR;
    const auto* n = icu::Normalizer2::getNFDInstance(status);
    if (U_FAILURE(status) || !n)
        throw std::runtime_error("ICU: no NFD normaliser");
    return *n;
}

icu::UnicodeString comparable(std::string_view name) {
    auto text = icu::UnicodeString::fromUTF8(
        icu::StringPiece(name.data(), static_cast<int32_t>(name.size())));
    UErrorCode status = U_ZERO_ERROR;
    // Decompose first so that case folding sees base letters and marks alike, fold with
    // full (not simple) folding, then recompose: canonical equivalents end up equal.
    auto decomposed = nfd().normalize(collapse_space(text), status);
    decomposed.foldCase(U_FOLD_CASE_DEFAULT);
    auto out = nfc().normalize(decomposed, status);
    if (U_FAILURE(status))
        throw unmatchable_claim("a name is not valid Unicode");
    return out;
}

/// The comparable form without its combining marks: only to tell a dropped accent
/// (review) from another name (no match).
icu::UnicodeString without_marks(const icu::UnicodeString& comparable_form) {
    UErrorCode status = U_ZERO_ERROR;
    auto decomposed = nfd().normalize(comparable_form, status);
    icu::UnicodeString out;
    for (int32_t i = 0; i < decomposed.length();) {
        UChar32 c = decomposed.char32At(i);
        i += U16_LENGTH(c);
        if (u_charType(c) != U_NON_SPACING_MARK)
            out.append(c);
    }
    return out;
}

} // namespace

std::string_view to_string(match_outcome outcome) noexcept {
    switch (outcome) {
    case match_outcome::match:
        return "match";
    case match_outcome::no_match:
        return "no-match";
    case match_outcome::review:
        return "review";
    }
    return "no-match";
}

std::string comparable_name(std::string_view name) {
    std::string out;
    comparable(name).toUTF8String(out);
    return out;
}

bool can_be_matched(const person_claim& declared) noexcept {
    return !declared.person_identifier.empty() ||
           (!declared.family_name.empty() && !declared.birth_date.empty());
}

match_outcome match_person(const person_claim& declared, const person_claim& asserted) {
    if (!can_be_matched(declared))
        throw unmatchable_claim("the named recipient has no family name or no birth date");
    if (!declared.person_identifier.empty())
        return declared.person_identifier == asserted.person_identifier ? match_outcome::match
                                                                        : match_outcome::no_match;
    if (!is_iso_date(declared.birth_date))
        throw unmatchable_claim("the named recipient's birth date is not YYYY-MM-DD");
    if (!is_iso_date(asserted.birth_date) || asserted.birth_date != declared.birth_date)
        return match_outcome::no_match;

    auto family_d = comparable(declared.family_name), family_a = comparable(asserted.family_name);
    auto given_d = comparable(declared.given_names), given_a = comparable(asserted.given_names);
    if (family_a.isEmpty())
        return match_outcome::no_match;
    if (family_d == family_a && given_d == given_a)
        return match_outcome::match;
    if (without_marks(family_d) == without_marks(family_a) &&
        without_marks(given_d) == without_marks(given_a))
        return match_outcome::review;
    return match_outcome::no_match;
}

} // namespace sceau::protocols
