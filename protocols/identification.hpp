#pragma once

// How a recipient was identified, and the vocabulary every identification method shares:
// the eIDAS levels of assurance and the names of the identity attributes.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sceau::protocols {

/// How the recipient was identified, as the acceptance or refusal evidence records it
/// (EN 319 522-3 AssuranceLevelsDetails).
struct identification {
    std::string method;   ///< URI, e.g. urn:sceau:identification:email-code
    std::string level;    ///< LoA URI, e.g. http://eidas.europa.eu/LoA/low
    std::string provider; ///< who vouched: the identity provider, or the mail domain
    std::string time;     ///< RFC 3339
    std::vector<std::pair<std::string, std::string>> attributes; ///< asserted, by name URI
};

namespace identification_method {
inline constexpr std::string_view email_code = "urn:sceau:identification:email-code";
} // namespace identification_method

/// The eIDAS levels of assurance (Implementing Regulation (EU) 2015/1502) by their URIs.
namespace loa {
inline constexpr std::string_view low = "http://eidas.europa.eu/LoA/low";
inline constexpr std::string_view substantial = "http://eidas.europa.eu/LoA/substantial";
inline constexpr std::string_view high = "http://eidas.europa.eu/LoA/high";

/// 3 for high, 2 for substantial, 1 for low, 0 for anything that is not an eIDAS level.
constexpr int rank(std::string_view level) noexcept {
    if (level == high)
        return 3;
    if (level == substantial)
        return 2;
    if (level == low)
        return 1;
    return 0;
}

/// The level a configuration file names "low", "substantial" or "high"; empty for any
/// other name.
constexpr std::string_view named(std::string_view name) noexcept {
    for (auto level : {low, substantial, high}) {
        if (level.substr(level.rfind('/') + 1) == name)
            return level;
    }
    return {};
}
} // namespace loa

/// The level of assurance an e-mail code gives: control of a mailbox, which is not an
/// eIDAS level (not even low), so it is named as what it is.
inline constexpr std::string_view email_control_loa = "urn:sceau:loa:email-control";

/// Whether `level` satisfies `required`: an eIDAS level satisfies itself, any lower one
/// (high satisfies substantial) and the e-mail control level; any other level satisfies
/// nothing but itself.
constexpr bool level_satisfies(std::string_view level, std::string_view required) noexcept {
    if (level == required)
        return true;
    if (required == email_control_loa)
        return loa::rank(level) > 0;
    return loa::rank(required) > 0 && loa::rank(level) >= loa::rank(required);
}

/// Names of identity attributes, as evidence records and identity providers give them.
namespace attribute {
// eIDAS SAML Attribute Profile, minimum data sets of the natural and the legal person.
inline constexpr std::string_view person_identifier =
    "http://eidas.europa.eu/attributes/naturalperson/PersonIdentifier";
inline constexpr std::string_view family_name =
    "http://eidas.europa.eu/attributes/naturalperson/CurrentFamilyName";
inline constexpr std::string_view given_name =
    "http://eidas.europa.eu/attributes/naturalperson/CurrentGivenName";
inline constexpr std::string_view birth_date =
    "http://eidas.europa.eu/attributes/naturalperson/DateOfBirth";
/// The family name at birth (an optional eIDAS attribute), when the usage name differs.
inline constexpr std::string_view birth_name =
    "http://eidas.europa.eu/attributes/naturalperson/BirthName";
inline constexpr std::string_view legal_person_identifier =
    "http://eidas.europa.eu/attributes/legalperson/LegalPersonIdentifier";
inline constexpr std::string_view legal_name =
    "http://eidas.europa.eu/attributes/legalperson/LegalName";
/// X.520 commonName (SAML X.500 attribute profile): a name given as one string.
inline constexpr std::string_view common_name = "urn:oid:2.5.4.3";
} // namespace attribute

} // namespace sceau::protocols
