#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace sceau::protocols {

/// The person or company a letter is for, as the sender names them.
struct recipient {
    std::string email;
    std::string given_name;
    std::string family_name;
    std::string birth_date; ///< as given; checked by the policy, not by the parser
    bool professional = false;
    std::string legal_name;        ///< a company, instead of or besides a person
    std::string person_identifier; ///< eIDAS PersonIdentifier, when the sender knows it
};

enum class letter_kind { lre, ere };

std::string_view to_string(letter_kind kind) noexcept;

/// How a recipient is told what waits for them. French law calls only an `lre` a "lettre
/// recommandée électronique" (CPCE L.100, R.53); an `ere`, identified by an e-mail code, is
/// an "envoi recommandé électronique", a masculine noun the sentences around it agree with.
struct kind_words {
    std::string_view fr; ///< "lettre recommandée électronique", without article
    bool fr_feminine;    ///< "une … / la / acceptée" rather than "un … / le / accepté"
    std::string_view en; ///< "registered electronic letter", without article
    /// The kind's words; anything but "ere" is an `lre`.
    static kind_words of(std::string_view kind) noexcept;
};

/// The `letter` part of a deposit.
struct letter_request {
    letter_kind kind = letter_kind::lre;
    struct recipient recipient;
    std::string consent_reference;
    std::string subject;
    std::string reference;
};

/// A `letter` part that is not well-formed: a 400, nothing stored, no evidence.
class invalid_letter : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Parses and checks the shape of the `letter` JSON: types, required fields, lengths,
/// no control characters. Throws invalid_letter naming the field.
letter_request parse_letter(std::string_view json);

/// A rule of the LRE/ERE policy that a well-formed deposit breaks. It is answered with
/// SubmissionRejection evidence carrying `code` (a reason URI) and `details`.
struct policy_violation {
    std::string code;
    std::string details;
};

namespace reason {
inline constexpr std::string_view consent_missing =
    "http://uri.etsi.org/19522/EventReason/ConsentMissing";
inline constexpr std::string_view invalid_recipient =
    "http://uri.etsi.org/19522/EventReason/InvalidRecipientDetails";
inline constexpr std::string_view invalid_content =
    "http://uri.etsi.org/19522/EventReason/InvalidContentFormat";
inline constexpr std::string_view recipient_unreachable =
    "http://uri.etsi.org/19522/EventReason/RecipientUnreachable";
} // namespace reason

/// The policy rules that need only the letter: consent for LRE to a non-professional,
/// an ISO 8601 calendar birth date in the past.
std::vector<policy_violation> check_policy(const letter_request& letter);

/// Whether `text` is an ISO 8601 calendar date YYYY-MM-DD that exists.
bool is_iso_date(std::string_view text);

} // namespace sceau::protocols
