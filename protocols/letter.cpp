#include "protocols/letter.hpp"

#include "crypto/jws.hpp"
#include "protocols/matching.hpp"
#include "protocols/text_rules.hpp"

#include <nlohmann/json.hpp>

#include <chrono>

namespace sceau::protocols {
namespace {

using nlohmann::json;

constexpr std::size_t max_name = 200;
constexpr std::size_t max_email = 254; // RFC 5321 section 4.5.3.1.3, path length
constexpr std::size_t max_text = 500;
constexpr int max_depth = 4; // the letter, the recipient, and room for a wrong value

/// Why a `letter` part is not one JSON object with unique names: the parser's own words
/// when it is not JSON at all.
std::string why_not_a_letter_object(std::string_view body) {
    try {
        auto any = json::parse(body);
        if (!any.is_object())
            return "must be a JSON object";
    } catch (const json::exception& e) {
        return std::string("is not valid JSON: ") + e.what();
    }
    return "holds a member name twice, or nests deeper than " + std::to_string(max_depth) +
           " levels";
}

[[noreturn]] void fail(std::string_view field, std::string_view problem) {
    throw invalid_letter(std::string(field) + ": " + std::string(problem));
}

std::string text(const json& object, const char* key, std::string_view path, std::size_t limit,
                 bool required) {
    auto it = object.find(key);
    if (it == object.end() || it->is_null()) {
        if (required)
            fail(path, "is required");
        return {};
    }
    if (!it->is_string())
        fail(path, "must be a string");
    auto value = it->get<std::string>();
    if (required && value.empty())
        fail(path, "must not be empty");
    if (value.size() > limit)
        fail(path, "is longer than " + std::to_string(limit) + " bytes");
    if (auto fault = text_fault(value))
        fail(path, *fault);
    return value;
}

void only_known_keys(const json& object, std::initializer_list<std::string_view> known,
                     std::string_view where) {
    for (const auto& [key, value] : object.items()) {
        bool found = false;
        for (auto k : known)
            found = found || key == k;
        if (!found)
            fail(std::string(where) + key, "is not a known field");
    }
}

} // namespace

std::string_view to_string(letter_kind kind) noexcept {
    return kind == letter_kind::lre ? "lre" : "ere";
}

kind_words kind_words::of(std::string_view kind) noexcept {
    if (kind == "ere")
        return {"envoi recommandé électronique", false, "registered electronic delivery"};
    return {"lettre recommandée électronique", true, "registered electronic letter"};
}

letter_request parse_letter(std::string_view body) {
    // Read strictly, as JOSE objects are: a name given twice would be read one way here and
    // maybe another way by the sender's own checks, so it is refused, like deep nesting.
    auto strict = crypto::jws::parse_object(body, max_depth);
    if (!strict)
        fail("letter", why_not_a_letter_object(body));
    const json& root = *strict;
    only_known_keys(root, {"kind", "recipient", "consent_reference", "subject", "reference"}, "");

    letter_request out;
    auto kind = text(root, "kind", "kind", 16, true);
    if (kind == "lre")
        out.kind = letter_kind::lre;
    else if (kind == "ere")
        out.kind = letter_kind::ere;
    else
        fail("kind", "must be \"lre\" or \"ere\"");

    auto r = root.find("recipient");
    if (r == root.end() || !r->is_object())
        fail("recipient", "must be an object");
    only_known_keys(*r,
                    {"email", "given_name", "family_name", "birth_date", "professional",
                     "legal_name", "person_identifier"},
                    "recipient.");

    auto& rec = out.recipient;
    rec.email = text(*r, "email", "recipient.email", max_email, true);
    if (!is_mailbox(rec.email))
        fail("recipient.email", "is not an e-mail address");
    rec.given_name = text(*r, "given_name", "recipient.given_name", max_name, false);
    rec.family_name = text(*r, "family_name", "recipient.family_name", max_name, false);
    rec.birth_date = text(*r, "birth_date", "recipient.birth_date", 64, false);
    rec.legal_name = text(*r, "legal_name", "recipient.legal_name", max_name, false);
    rec.person_identifier =
        text(*r, "person_identifier", "recipient.person_identifier", max_name, false);
    if (auto p = r->find("professional"); p != r->end() && !p->is_null()) {
        if (!p->is_boolean())
            fail("recipient.professional", "must be true or false");
        rec.professional = p->get<bool>();
    }
    if (rec.family_name.empty() && rec.legal_name.empty())
        fail("recipient", "needs family_name (a person) or legal_name (a company)");

    out.consent_reference = text(root, "consent_reference", "consent_reference", max_name, false);
    out.subject = text(root, "subject", "subject", max_text, false);
    out.reference = text(root, "reference", "reference", max_name, false);
    return out;
}

bool is_iso_date(std::string_view s) {
    if (s.size() != 10 || s[4] != '-' || s[7] != '-')
        return false;
    for (std::size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) {
        if (s[i] < '0' || s[i] > '9')
            return false;
    }
    int y = std::stoi(std::string(s.substr(0, 4)));
    unsigned m = static_cast<unsigned>(std::stoi(std::string(s.substr(5, 2))));
    unsigned d = static_cast<unsigned>(std::stoi(std::string(s.substr(8, 2))));
    return std::chrono::year_month_day(std::chrono::year(y), std::chrono::month(m),
                                       std::chrono::day(d))
        .ok();
}

std::vector<policy_violation> check_policy(const letter_request& letter) {
    std::vector<policy_violation> out;
    const auto& rec = letter.recipient;

    if (!rec.birth_date.empty()) {
        if (!is_iso_date(rec.birth_date)) {
            out.push_back({std::string(reason::invalid_recipient),
                           "recipient.birth_date is not an ISO 8601 calendar date (YYYY-MM-DD)"});
        } else {
            auto today = std::chrono::floor<std::chrono::days>(std::chrono::system_clock::now());
            auto ymd = std::chrono::year_month_day(today);
            char now[32];
            std::snprintf(now, sizeof now, "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                          static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
            if (rec.birth_date > std::string_view(now) || rec.birth_date < "1900-01-01")
                out.push_back({std::string(reason::invalid_recipient),
                               "recipient.birth_date is not a plausible birth date"});
        }
    }

    // An LRE is opened only by the person it names, identified at an eIDAS level: the
    // letter must name them as match_person() compares them, or it could never be opened
    // and would end as a non-claim the recipient had no way to avoid.
    if (letter.kind == letter_kind::lre &&
        !can_be_matched({rec.family_name, rec.given_name, rec.birth_date, rec.person_identifier}))
        out.push_back({std::string(reason::invalid_recipient),
                       "an lre letter names the person who will open it: family_name, "
                       "given_name and birth_date, or person_identifier (also for a company: "
                       "the person who receives for it)"});

    // CPCE R.53-1: a non-professional must have consented to receive LRE.
    if (letter.kind == letter_kind::lre && !rec.professional && letter.consent_reference.empty())
        out.push_back({std::string(reason::consent_missing),
                       "an lre letter to a non-professional recipient needs consent_reference"});
    return out;
}

} // namespace sceau::protocols
