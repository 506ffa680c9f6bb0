#include "protocols/recipient_access.hpp"

#include "crypto/encoding.hpp"
#include "crypto/random.hpp"
#include "crypto/sha256.hpp"
#include "crypto/xml.hpp"

#include <nlohmann/json.hpp>
#include <openssl/crypto.h>

namespace sceau::protocols {
namespace {

std::string code_hash(const storage::recipient_session& s, const std::string& code) {
    return crypto::to_hex(crypto::sha256::of(s.id_hash + ":" + code));
}

bool same(const std::string& a, const std::string& b) {
    return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

/// Asserted attributes as the store keeps them: [{"name": URI, "value": text}, ...].
nlohmann::json attributes_json(const std::vector<std::pair<std::string, std::string>>& attributes) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& [name, value] : attributes)
        out.push_back({{"name", name}, {"value", value}});
    return out;
}

std::vector<std::pair<std::string, std::string>> attributes_of(const nlohmann::json& stored) {
    std::vector<std::pair<std::string, std::string>> out;
    if (stored.is_array()) {
        for (const auto& a : stored)
            out.emplace_back(a.value("name", ""), a.value("value", ""));
    }
    return out;
}

nlohmann::json answer_json(const recipient_access::verified_answer& answer) {
    if (!answer.who)
        return {{"refusal", answer.refusal}};
    const auto& who = *answer.who;
    nlohmann::json asserted = nlohmann::json::array();
    for (const auto& c : answer.asserted)
        asserted.push_back({{"family_name", c.family_name},
                            {"given_names", c.given_names},
                            {"birth_date", c.birth_date},
                            {"person_identifier", c.person_identifier}});
    return {{"who",
             {{"method", who.method},
              {"level", who.level},
              {"provider", who.provider},
              {"time", who.time},
              {"attributes", attributes_json(who.attributes)}}},
            {"asserted", asserted}};
}

recipient_access::verified_answer answer_of(const nlohmann::json& held) {
    recipient_access::verified_answer out;
    const auto& who = held.contains("who") ? held.at("who") : nlohmann::json();
    if (!who.is_object()) {
        out.refusal = held.value("refusal", "");
        return out;
    }
    out.who = identification{who.value("method", ""), who.value("level", ""),
                             who.value("provider", ""), who.value("time", ""),
                             attributes_of(who.value("attributes", nlohmann::json()))};
    for (const auto& c : held.value("asserted", nlohmann::json::array()))
        out.asserted.push_back({c.value("family_name", ""), c.value("given_names", ""),
                                c.value("birth_date", ""), c.value("person_identifier", "")});
    return out;
}

/// "claire.martin@example.org" -> "c***n@example.org": enough for the recipient to
/// recognise the address, not to learn it.
std::string mask(const std::string& email) {
    auto at = email.find('@');
    if (at == std::string::npos || at == 0)
        return "***";
    auto local = email.substr(0, at);
    std::string shown = local.size() <= 2
                            ? local.substr(0, 1) + "***"
                            : local.substr(0, 1) + "***" + local.substr(local.size() - 1);
    return shown + email.substr(at);
}

} // namespace

std::string_view required_level(std::string_view kind, std::string_view lre_level) {
    return kind == "lre" ? lre_level : email_control_loa;
}

recipient_access::recipient_access(storage::database& db, lifecycle& letters, mailer& mail,
                                   const notification_service& notices,
                                   recipient_access_options options, crypto::clock_fn clock)
    : db_(db)
    , letters_(letters)
    , mail_(mail)
    , notices_(notices)
    , options_(options)
    , clock_(std::move(clock)) {
    options_.code_digits = std::clamp(options_.code_digits, 6, 12);
    if (options_.lre_level != loa::substantial && options_.lre_level != loa::high)
        throw std::invalid_argument("an lre needs eIDAS substantial or high");
}

std::optional<storage::letter_record> recipient_access::open_link(const std::string& token) {
    if (token.empty() || token.size() > 128)
        return std::nullopt;
    auto id = db_.letter_of_link(token_hash(token));
    if (!id)
        return std::nullopt;
    auto letter = db_.letter_by_id(*id);
    if (!letter)
        return std::nullopt;
    if (letter->status == "accepted")
        return letter;
    if (letter->status == "notified" && crypto::format_utc(clock_()) < letter->accept_deadline)
        return letter;
    return std::nullopt; // refused, expired, undeliverable, or past the deadline
}

std::string recipient_access::start_session(const std::string& letter_id) {
    auto secret = crypto::to_base64url(crypto::random_bytes(32));
    auto now = clock_();
    storage::recipient_session s;
    s.id_hash = token_hash(secret);
    s.letter_id = letter_id;
    s.csrf = crypto::to_base64url(crypto::random_bytes(24));
    s.created_at = crypto::format_utc(now);
    s.expires_at = crypto::format_utc(now + options_.session_lifetime);
    db_.insert_session(s);
    return secret;
}

std::optional<recipient_view> recipient_access::view(const std::string& token,
                                                     const std::string& session) {
    auto letter = open_link(token);
    if (!letter || session.empty() || session.size() > 128)
        return std::nullopt;
    auto s = db_.session(token_hash(session));
    if (!s || s->letter_id != letter->id || crypto::format_utc(clock_()) >= s->expires_at)
        return std::nullopt;

    recipient_view v;
    v.letter = std::move(*letter);
    v.session = std::move(*s);
    v.identified = !v.session.identified_method.empty();
    v.may_decide = v.identified && v.letter.status == "notified" &&
                   level_satisfies(v.session.identified_loa, level_for(v.letter.kind));
    v.masked_email = mask(recipient_from_json(v.letter.recipient_json).email);
    return v;
}

bool recipient_access::settled_for(const std::string& token, const std::string& session) {
    if (token.empty() || token.size() > 128 || session.empty() || session.size() > 128)
        return false;
    auto id = db_.letter_of_link(token_hash(token));
    auto s = db_.session(token_hash(session));
    if (!id || !s || s->letter_id != *id || s->identified_method.empty() ||
        crypto::format_utc(clock_()) >= s->expires_at)
        return false;
    auto letter = db_.letter_by_id(*id);
    return letter && (letter->status != "notified" ||
                      crypto::format_utc(clock_()) >= letter->accept_deadline);
}

bool recipient_access::csrf_matches(const storage::recipient_session& s, const std::string& csrf) {
    return !csrf.empty() && same(s.csrf, csrf);
}

recipient_access::code_outcome recipient_access::send_code(recipient_view& v) {
    if (v.letter.kind != "ere" || v.identified)
        return code_outcome::not_allowed;
    auto now = clock_();
    if (v.session.codes_sent >= options_.codes_per_session ||
        db_.codes_sent_since(v.letter.id, crypto::format_utc(now - std::chrono::hours(1))) >=
            options_.codes_per_letter_per_hour)
        return code_outcome::too_many;

    // Uniform digits from the CSPRNG (rejection sampling: no modulo bias).
    std::string code;
    while (static_cast<int>(code.size()) < options_.code_digits) {
        for (auto b : crypto::random_bytes(16)) {
            if (b < 250 && static_cast<int>(code.size()) < options_.code_digits)
                code.push_back(static_cast<char>('0' + b % 10));
        }
    }

    // Counted before sending: a failed send still spends one of the session's codes.
    v.session.codes_sent += 1;
    v.session.code_hash = code_hash(v.session, code);
    v.session.code_expires_at = crypto::format_utc(now + options_.code_lifetime);
    v.session.code_attempts = 0;
    db_.update_session(v.session);

    auto to = recipient_from_json(v.letter.recipient_json).email;
    auto sent = mail_.send(code_message(notices_.options(), to, code, options_.code_lifetime));
    if (sent.result != send_result::outcome::sent) {
        v.session.code_hash.clear();
        db_.update_session(v.session);
        return code_outcome::mail_failed;
    }
    return code_outcome::sent;
}

recipient_access::verify_result recipient_access::verify_code(recipient_view& v,
                                                              const std::string& code) {
    if (v.session.code_hash.empty())
        return {verify_outcome::no_code, 0};
    if (v.session.code_attempts >= options_.code_attempts)
        return {verify_outcome::locked, 0};
    if (crypto::format_utc(clock_()) >= v.session.code_expires_at)
        return {verify_outcome::expired, 0};

    std::string digits;
    for (char c : code) {
        if (c >= '0' && c <= '9')
            digits.push_back(c);
        else if (c != ' ' && c != '-')
            digits.clear(), digits.push_back('x'); // never matches
        if (digits.size() > 16)
            break;
    }
    if (same(code_hash(v.session, digits), v.session.code_hash)) {
        identification who;
        who.method = std::string(identification_method::email_code);
        who.level = std::string(email_control_loa);
        auto email = recipient_from_json(v.letter.recipient_json).email;
        who.provider = "e-mail code to " + email.substr(email.find('@') + 1);
        who.time = crypto::format_utc(clock_());
        who.attributes.emplace_back("urn:sceau:attribute:email", email);
        v.session.code_hash.clear();
        identified(v, who);
        return {verify_outcome::identified, 0};
    }
    v.session.code_attempts += 1;
    db_.update_session(v.session);
    int left = options_.code_attempts - v.session.code_attempts;
    if (left <= 0)
        return {verify_outcome::locked, 0};
    return {verify_outcome::wrong, left};
}

void recipient_access::identified(recipient_view& v, const identification& who) {
    v.session.identified_method = who.method;
    v.session.identified_loa = who.level;
    v.session.identified_by = who.provider;
    v.session.identified_at = who.time;
    v.session.identity = attributes_json(who.attributes).dump();
    db_.update_session(v.session);
    v.identified = true;
    v.may_decide =
        v.letter.status == "notified" && level_satisfies(who.level, level_for(v.letter.kind));
}

std::string recipient_access::remember_request(const recipient_view& v, const std::string& token,
                                               const std::string& method,
                                               const std::string& request_id,
                                               const std::string& required_loa,
                                               const nlohmann::json& secrets,
                                               std::chrono::minutes lifetime) {
    auto browser = crypto::to_base64url(crypto::random_bytes(32));
    pending_identification p;
    p.request.id = request_id;
    p.request.session_hash = v.session.id_hash;
    p.request.letter_id = v.letter.id;
    p.request.method = method;
    p.request.required_loa = required_loa;
    p.secrets = secrets;
    p.return_path = "/r/" + token;
    p.browser_hash = token_hash(browser);
    keep(std::move(p), lifetime);
    return browser;
}

void recipient_access::keep(pending_identification p, std::chrono::minutes lifetime) {
    auto now = clock_();
    auto kept = std::move(p.secrets);
    kept["return"] = std::move(p.return_path);
    kept["browser"] = std::move(p.browser_hash);
    p.request.secrets = kept.dump();
    p.request.created_at = crypto::format_utc(now);
    p.request.expires_at = crypto::format_utc(now + lifetime);
    db_.insert_identification_request(p.request);
}

std::optional<recipient_access::pending_identification>
recipient_access::take_request(const std::string& request_id, const std::string& method) {
    if (request_id.empty() || request_id.size() > 128)
        return std::nullopt;
    auto request =
        db_.take_identification_request(request_id, method, crypto::format_utc(clock_()));
    if (!request)
        return std::nullopt;
    pending_identification out;
    out.secrets = nlohmann::json::parse(request->secrets, nullptr, false);
    if (!out.secrets.is_object())
        return std::nullopt;
    out.return_path = out.secrets.value("return", "");
    out.browser_hash = out.secrets.value("browser", "");
    out.secrets.erase("return");
    out.secrets.erase("browser");
    out.request = std::move(*request);
    return out;
}

bool recipient_access::same_browser(const pending_identification& pending,
                                    const std::string& browser_secret) {
    return !pending.browser_hash.empty() && !browser_secret.empty() &&
           browser_secret.size() <= 128 && same(token_hash(browser_secret), pending.browser_hash);
}

std::string recipient_access::hold_answer(const pending_identification& taken,
                                          const verified_answer& answer,
                                          std::chrono::minutes lifetime) {
    auto id = crypto::to_base64url(crypto::random_bytes(32));
    auto held = taken;
    held.request.id = id;
    held.request.method += "-answer";
    held.secrets = answer_json(answer);
    keep(std::move(held), lifetime);
    return id;
}

std::optional<recipient_access::held_answer>
recipient_access::take_answer(const std::string& answer_id, const std::string& method) {
    auto pending = take_request(answer_id, method + "-answer");
    if (!pending)
        return std::nullopt;
    auto answer = answer_of(pending->secrets);
    return held_answer{std::move(*pending), std::move(answer)};
}

recipient_access::identity_outcome
recipient_access::complete(const storage::identification_request& request,
                           const identification& who, const person_claim& asserted) {
    return complete(request, who, std::vector<person_claim>{asserted});
}

recipient_access::identity_outcome
recipient_access::complete(const storage::identification_request& request,
                           const identification& who, const std::vector<person_claim>& asserted) {
    auto s = db_.session(request.session_hash);
    auto letter = db_.letter_by_id(request.letter_id);
    if (!s || !letter || s->letter_id != letter->id ||
        crypto::format_utc(clock_()) >= s->expires_at)
        return identity_outcome::session_gone;

    auto named = recipient_from_json(letter->recipient_json);
    person_claim declared{named.family_name, named.given_name, named.birth_date,
                          named.person_identifier};
    // match beats review, which beats no-match.
    auto outcome = match_outcome::no_match;
    for (const auto& claim : asserted) {
        auto one = match_outcome::review;
        try {
            one = match_person(declared, claim);
        } catch (const unmatchable_claim&) {
            one = match_outcome::review; // the sender named too little: a person decides
        }
        if (one == match_outcome::match || (one == match_outcome::review && outcome != one))
            outcome = one;
        if (outcome == match_outcome::match)
            break;
    }
    if (outcome == match_outcome::match) {
        recipient_view v;
        v.letter = std::move(*letter);
        v.session = std::move(*s);
        identified(v, who);
        return identity_outcome::identified;
    }

    db_.insert_identification_attempt({crypto::random_id("ida_"), letter->id, who.method,
                                       who.provider, std::string(to_string(outcome)),
                                       attributes_json(who.attributes).dump(),
                                       crypto::format_utc(clock_())});
    return outcome == match_outcome::review ? identity_outcome::review : identity_outcome::no_match;
}

std::string_view recipient_access::level_for(std::string_view kind) const {
    return required_level(kind, options_.lre_level);
}

identification recipient_access::identification_of(const storage::recipient_session& s) const {
    identification who;
    who.method = s.identified_method;
    who.level = s.identified_loa;
    who.provider = s.identified_by;
    who.time = s.identified_at;
    who.attributes = attributes_of(nlohmann::json::parse(s.identity, nullptr, false));
    return who;
}

recipient_access::choice_outcome recipient_access::decide(const recipient_view& v, bool accept) {
    if (!v.identified)
        return choice_outcome::not_allowed;
    if (v.letter.status != "notified")
        return choice_outcome::conflict; // decided before this request
    if (!level_satisfies(v.session.identified_loa, level_for(v.letter.kind)))
        return choice_outcome::level_too_low;
    auto who = identification_of(v.session);
    auto r = accept ? letters_.accept(v.letter.id, who) : letters_.refuse(v.letter.id, who);
    switch (r.result) {
    case transition_result::outcome::done:
        return choice_outcome::done;
    case transition_result::outcome::conflict:
        return choice_outcome::conflict;
    case transition_result::outcome::window_closed:
        return choice_outcome::window_closed;
    case transition_result::outcome::not_allowed:
    case transition_result::outcome::not_found:
        break;
    }
    // Decided meanwhile by another request: that one won.
    auto now = db_.letter_by_id(v.letter.id);
    if (now && now->status != v.letter.status)
        return choice_outcome::conflict;
    return choice_outcome::not_allowed;
}

recipient_access::choice_outcome recipient_access::accept(const recipient_view& v) {
    return decide(v, true);
}

recipient_access::choice_outcome recipient_access::refuse(const recipient_view& v) {
    return decide(v, false);
}

std::optional<storage::document_record> recipient_access::hand_over(const recipient_view& v,
                                                                    int position) {
    if (!v.identified || v.letter.status != "accepted")
        return std::nullopt;
    const storage::document_record* found = nullptr;
    for (const auto& d : v.letter.documents) {
        if (d.position == position && d.stored)
            found = &d;
    }
    if (!found)
        return std::nullopt;
    if (v.letter.handed_over_at.empty())
        letters_.hand_over(v.letter.id, identification_of(v.session)); // first download only
    return *found;
}

int recipient_access::sweep_sessions() {
    auto now = crypto::format_utc(clock_());
    return db_.delete_expired_sessions(now) + db_.delete_expired_identification_requests(now);
}

} // namespace sceau::protocols
