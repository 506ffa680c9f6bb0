#include "protocols/lifecycle.hpp"

#include "crypto/random.hpp"
#include "protocols/window.hpp"

#include <nlohmann/json.hpp>

namespace sceau::protocols {
namespace {

using std::chrono::system_clock;

std::string_view event_name(letter_event e) {
    switch (e) {
    case letter_event::notification_sent:
        return event::notification;
    case letter_event::notification_failed:
        return event::notification_failure;
    case letter_event::accept:
        return event::acceptance;
    case letter_event::refuse:
        return event::rejection;
    case letter_event::expire:
        return event::expiry;
    }
    return {};
}

/// The recipient as identified: the sender's naming, plus how and by whom the
/// recipient was identified and what the identity provider asserted.
void add_identification(party& recipient, const identification& who) {
    recipient.assurance_level = who.level;
    recipient.assurance_policy = "identified by " + who.provider;
    recipient.authentication_method = who.method;
    recipient.authentication_time = who.time;
    recipient.asserted_attributes = who.attributes;
    recipient.asserted_by = who.provider;
}

} // namespace

std::string_view to_string(letter_status s) noexcept {
    switch (s) {
    case letter_status::deposited:
        return "deposited";
    case letter_status::notified:
        return "notified";
    case letter_status::accepted:
        return "accepted";
    case letter_status::refused:
        return "refused";
    case letter_status::expired:
        return "expired";
    case letter_status::undeliverable:
        return "undeliverable";
    case letter_status::rejected:
        return "rejected";
    }
    return "unknown";
}

std::optional<letter_status> status_from_string(std::string_view s) noexcept {
    for (auto status : {letter_status::deposited, letter_status::notified, letter_status::accepted,
                        letter_status::refused, letter_status::expired,
                        letter_status::undeliverable, letter_status::rejected}) {
        if (to_string(status) == s)
            return status;
    }
    return std::nullopt;
}

std::optional<letter_status> next_status(letter_status from, letter_event event) noexcept {
    switch (from) {
    case letter_status::deposited:
        if (event == letter_event::notification_sent)
            return letter_status::notified;
        if (event == letter_event::notification_failed)
            return letter_status::undeliverable;
        return std::nullopt;
    case letter_status::notified:
        if (event == letter_event::accept)
            return letter_status::accepted;
        if (event == letter_event::refuse)
            return letter_status::refused;
        if (event == letter_event::expire)
            return letter_status::expired;
        return std::nullopt;
    case letter_status::accepted:
    case letter_status::refused:
    case letter_status::expired:
    case letter_status::undeliverable:
    case letter_status::rejected:
        return std::nullopt; // final
    }
    return std::nullopt;
}

recipient recipient_from_json(const std::string& text) {
    auto j = nlohmann::json::parse(text);
    recipient r;
    r.email = j.value("email", "");
    r.given_name = j.value("given_name", "");
    r.family_name = j.value("family_name", "");
    r.birth_date = j.value("birth_date", "");
    r.professional = j.value("professional", false);
    r.legal_name = j.value("legal_name", "");
    r.person_identifier = j.value("person_identifier", "");
    return r;
}

evidence_draft draft_for(const storage::letter_record& letter, const storage::sender_record& sender,
                         const provider_info& provider, std::string_view event_name) {
    evidence_draft d;
    d.id = crypto::random_id("evd_");
    d.event = std::string(event_name);
    d.policies = provider.policies;
    d.issuer.attributes.emplace_back(attribute::legal_name, provider.name);
    d.sender.attributes.emplace_back(attribute::common_name, sender.name);
    if (!sender.company.empty())
        d.sender.attributes.emplace_back(attribute::legal_name, sender.company);
    d.sender.email = sender.email;
    d.recipient = recipient_party(recipient_from_json(letter.recipient_json));
    d.letter_id = letter.id;
    d.qualified = provider.qualified;
    d.consent_reference = letter.consent_reference;
    for (const auto& doc : letter.documents) {
        auto identifier = std::to_string(doc.position) + "/" + doc.name;
        d.parts.push_back({identifier, doc.media_type, doc.sha256});
        if (!doc.flags.empty())
            d.part_flags.emplace_back(identifier, doc.flags);
    }
    return d;
}

void queue_webhook(storage::database::transaction& tx, const storage::sender_record& sender,
                   const storage::evidence_record& evidence, std::string_view status,
                   const std::string& now) {
    if (sender.webhook_url.empty())
        return;
    nlohmann::json payload = {{"event", evidence.event},
                              {"letter_id", evidence.letter_id},
                              {"evidence_id", evidence.id},
                              {"time", evidence.event_time},
                              {"status", status}};
    storage::webhook_delivery w;
    w.id = crypto::random_id("whk_");
    w.sender_id = sender.id;
    w.letter_id = evidence.letter_id;
    w.evidence_id = evidence.id;
    w.payload = payload.dump();
    w.state = "pending";
    w.next_attempt_at = now;
    w.created_at = now;
    tx.insert_webhook(w);
}

lifecycle::lifecycle(storage::database& db, evidence_sealer& sealer, provider_info provider,
                     crypto::clock_fn clock, std::vector<int> reminder_days)
    : db_(db)
    , sealer_(sealer)
    , provider_(std::move(provider))
    , clock_(std::move(clock))
    , reminder_days_(std::move(reminder_days)) {}

transition_result lifecycle::transition(const std::string& letter_id, letter_event event,
                                        const identification* who, const std::string& detail,
                                        std::optional<system_clock::time_point> deadline) {
    using outcome = transition_result::outcome;
    auto letter = db_.letter_by_id(letter_id);
    if (!letter)
        return {outcome::not_found, {}};
    auto from = status_from_string(letter->status);
    auto to = from ? next_status(*from, event) : std::nullopt;
    if (!to)
        return {outcome::not_allowed, {}};

    auto now_text = crypto::format_utc(clock_());
    bool decision = event == letter_event::accept || event == letter_event::refuse;
    if (decision && now_text >= letter->accept_deadline)
        return {outcome::window_closed, {}};
    if (event == letter_event::expire && now_text < letter->accept_deadline)
        return {outcome::not_allowed, {}};

    auto sender = db_.sender_by_id(letter->sender_id);
    if (!sender)
        throw storage::storage_error(storage::storage_error::kind::corrupt,
                                     "a letter names a missing sender");

    // 1. The evidence, sealed and time-stamped outside any lock.
    auto draft = draft_for(*letter, *sender, provider_, event_name(event));
    if (who)
        add_identification(draft.recipient, *who);
    if (!detail.empty())
        draft.reasons.push_back({std::string(reason::recipient_unreachable), detail});
    auto sealed = sealer_.seal(draft);

    // The time-stamp, not our clock, says when the choice was made.
    if (decision && sealed.event_time >= letter->accept_deadline)
        return {outcome::window_closed, {}};

    storage::letter_record change;
    if (event == letter_event::notification_sent) {
        // Counted from the notice's attested time; never earlier than the deadline the
        // notice announced.
        auto from_evidence = acceptance_deadline(crypto::parse_utc(sealed.event_time));
        change.accept_deadline = crypto::format_utc(std::max(from_evidence, *deadline));
        change.notified_at = sealed.event_time;
    }
    if (decision || event == letter_event::expire)
        change.decided_at = sealed.event_time;

    // 2. One transaction: the status moves only from what we read, with its evidence.
    storage::evidence_record record{sealed.id,         letter->id, sealed.event,
                                    sealed.event_time, now_text,   sealed.xml};
    auto tx = db_.begin();
    if (!tx.change_status(letter->id, letter->status, std::string(to_string(*to)), change))
        return {outcome::conflict, {}};
    tx.insert_evidence(record);
    queue_webhook(tx, *sender, record, to_string(*to), now_text);

    if (event == letter_event::notification_sent) {
        tx.close_mail(letter->id, "notice", "sent", sealed.event_time);
        auto closes = crypto::parse_utc(change.accept_deadline);
        for (int days : reminder_days_) {
            auto when = closes - std::chrono::hours(24) * days;
            if (when <= clock_())
                continue;
            tx.insert_mail_job({crypto::random_id("mail_"), letter->id,
                                "reminder-" + std::to_string(days), "pending", 0,
                                crypto::format_utc(when), "", ""},
                               now_text);
        }
    } else {
        if (event == letter_event::notification_failed)
            tx.close_mail(letter->id, "notice", "failed", sealed.event_time);
        tx.cancel_mail(letter->id); // no reminder after the letter is settled
    }
    tx.commit();

    record.xml.clear();
    return {outcome::done, std::move(record)};
}

transition_result lifecycle::notification_sent(const std::string& letter_id,
                                               system_clock::time_point deadline) {
    return transition(letter_id, letter_event::notification_sent, nullptr, {}, deadline);
}

transition_result lifecycle::notification_failed(const std::string& letter_id,
                                                 const std::string& why) {
    return transition(letter_id, letter_event::notification_failed, nullptr, why, std::nullopt);
}

transition_result lifecycle::accept(const std::string& letter_id, const identification& who) {
    return transition(letter_id, letter_event::accept, &who, {}, std::nullopt);
}

transition_result lifecycle::refuse(const std::string& letter_id, const identification& who) {
    return transition(letter_id, letter_event::refuse, &who, {}, std::nullopt);
}

transition_result lifecycle::expire(const std::string& letter_id) {
    return transition(letter_id, letter_event::expire, nullptr, {}, std::nullopt);
}

transition_result lifecycle::hand_over(const std::string& letter_id, const identification& who) {
    using outcome = transition_result::outcome;
    auto letter = db_.letter_by_id(letter_id);
    if (!letter)
        return {outcome::not_found, {}};
    if (letter->status != "accepted" || !letter->handed_over_at.empty())
        return {outcome::not_allowed, {}}; // only the first download is an event
    auto sender = db_.sender_by_id(letter->sender_id);
    if (!sender)
        throw storage::storage_error(storage::storage_error::kind::corrupt,
                                     "a letter names a missing sender");

    auto draft = draft_for(*letter, *sender, provider_, event::handover);
    add_identification(draft.recipient, who);
    auto sealed = sealer_.seal(draft);

    auto now_text = crypto::format_utc(clock_());
    storage::evidence_record record{sealed.id,         letter->id, sealed.event,
                                    sealed.event_time, now_text,   sealed.xml};
    auto tx = db_.begin();
    if (!tx.mark_handed_over(letter->id, sealed.event_time))
        return {outcome::not_allowed, {}}; // a concurrent download was first
    tx.insert_evidence(record);
    queue_webhook(tx, *sender, record, letter->status, now_text);
    tx.commit();
    record.xml.clear();
    return {outcome::done, std::move(record)};
}

int lifecycle::expire_due(int limit) {
    int done = 0;
    for (const auto& id : db_.letters_past_deadline(crypto::format_utc(clock_()), limit)) {
        if (expire(id).result == transition_result::outcome::done)
            ++done;
    }
    return done;
}

} // namespace sceau::protocols
