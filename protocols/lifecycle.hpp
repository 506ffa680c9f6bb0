#pragma once

#include "protocols/deposit.hpp"
#include "protocols/evidence.hpp"
#include "protocols/identification.hpp"
#include "protocols/sealer.hpp"
#include "storage/database.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sceau::protocols {

/// The statuses of a letter (design, HTTP API).
enum class letter_status {
    deposited,
    notified,
    accepted,
    refused,
    expired,
    undeliverable,
    rejected
};

/// What can happen to a letter after its deposit.
enum class letter_event {
    notification_sent,   ///< the notice left for the recipient
    notification_failed, ///< the recipient cannot be reached
    accept,
    refuse,
    expire, ///< the window ended without a choice
};

std::string_view to_string(letter_status s) noexcept;
std::optional<letter_status> status_from_string(std::string_view s) noexcept;

/// The state machine: the status after `event`, or nothing when the event is not allowed
/// in `from`. Pure, so that every transition and every illegal one is tested alone.
std::optional<letter_status> next_status(letter_status from, letter_event event) noexcept;

/// The answer of a transition.
struct transition_result {
    enum class outcome {
        done,          ///< the change and its evidence are committed
        conflict,      ///< another change of the same letter won; nothing changed
        not_allowed,   ///< the letter's status forbids it
        window_closed, ///< accept or refuse after the deadline
        not_found,
    };
    outcome result = outcome::done;
    storage::evidence_record evidence; ///< when done (without xml)
};

/// Everything that happens to a letter after its deposit. Each transition is one
/// database transaction holding the status change and its sealed evidence; two
/// concurrent transitions of one letter end with exactly one winner.
class lifecycle {
public:
    lifecycle(storage::database& db, evidence_sealer& sealer, provider_info provider,
              crypto::clock_fn clock, std::vector<int> reminder_days = {7, 2});

    /// The notice left at `sent`; the window then runs until `deadline`.
    transition_result notification_sent(const std::string& letter_id,
                                        std::chrono::system_clock::time_point deadline);
    transition_result notification_failed(const std::string& letter_id, const std::string& why);
    transition_result accept(const std::string& letter_id, const identification& who);
    transition_result refuse(const std::string& letter_id, const identification& who);
    /// Issues AcceptanceRejectionExpiry if the letter's window has ended.
    transition_result expire(const std::string& letter_id);
    /// ContentHandover on the first download of an accepted letter's content; later
    /// downloads change nothing (outcome not_allowed).
    transition_result hand_over(const std::string& letter_id, const identification& who);

    /// Expires every letter whose window has ended; returns how many.
    int expire_due(int limit = 100);

    std::chrono::system_clock::time_point now() const { return clock_(); }

private:
    transition_result transition(const std::string& letter_id, letter_event event,
                                 const identification* who, const std::string& detail,
                                 std::optional<std::chrono::system_clock::time_point> deadline);

    storage::database& db_;
    evidence_sealer& sealer_;
    provider_info provider_;
    crypto::clock_fn clock_;
    std::vector<int> reminder_days_;
};

/// The evidence draft of a stored letter: issuer, sender, recipient and documents.
evidence_draft draft_for(const storage::letter_record& letter, const storage::sender_record& sender,
                         const provider_info& provider, std::string_view event);

/// The recipient stored with a letter (the inverse of recipient_json()).
recipient recipient_from_json(const std::string& json);

/// Queues the evidence for the sender's webhook, in the transaction that stores it.
void queue_webhook(storage::database::transaction& tx, const storage::sender_record& sender,
                   const storage::evidence_record& evidence, std::string_view status,
                   const std::string& now);

} // namespace sceau::protocols
