#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace sceau::protocols {

/// A natural person as the sender named them, or as an identity provider asserted them.
struct person_claim {
    std::string family_name;
    std::string given_names;
    std::string birth_date;        ///< ISO 8601 YYYY-MM-DD
    std::string person_identifier; ///< eIDAS PersonIdentifier, e.g. "FR/FR/1234"; may be empty
};

/// What an identification says about the person the sender named.
enum class match_outcome {
    match,    ///< the same person: the letter may be opened
    no_match, ///< someone else: nothing is opened, the attempt is recorded
    review,   ///< only differs in ways a person must judge (e.g. a dropped accent)
};

std::string_view to_string(match_outcome outcome) noexcept;

/// The declared side cannot be compared (e.g. a birth date that is not ISO 8601): the
/// deposit should have refused it.
class unmatchable_claim : public std::invalid_argument {
public:
    using std::invalid_argument::invalid_argument;
};

/// A name in the form names are compared in: Unicode White_Space trimmed and collapsed to
/// one space, canonical equivalents made equal (NFC after full case folding). Accents are
/// kept: "Élodie" and "Elodie" stay different; "ß" and "SS" become equal. No homoglyph is
/// folded (Latin "a" and Cyrillic "а" stay different).
std::string comparable_name(std::string_view name);

/// Whether `declared` names someone match_person() can compare an identity with: an
/// eIDAS PersonIdentifier, or a family name with a birth date.
bool can_be_matched(const person_claim& declared) noexcept;

/// The identified person against the named one. An exact PersonIdentifier given by the
/// sender decides alone; otherwise family name, given names and birth date must all be
/// equal as comparable_name() makes them. Names equal only once accents are removed give
/// `review`, never `match`. Throws unmatchable_claim when `declared` cannot be compared.
match_outcome match_person(const person_claim& declared, const person_claim& asserted);

} // namespace sceau::protocols
