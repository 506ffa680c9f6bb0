#pragma once

#include "protocols/letter.hpp"
#include "protocols/lifecycle.hpp"
#include "protocols/mail.hpp"
#include "storage/database.hpp"

#include <chrono>
#include <string>

namespace sceau::protocols {

struct notification_options {
    std::string provider_name;
    std::string from;     ///< "Name <address>" of the mail the recipient gets
    std::string base_url; ///< links are BASE_URL/r/TOKEN
    std::chrono::seconds first_retry{60};
    std::chrono::hours give_up_after{48}; ///< then the recipient is unreachable
    int batch = 20;
};

/// The words of the mails a recipient gets. They name the provider, say that a registered
/// letter waits, give the deadline and the link, and never the sender's identity, the
/// subject or the reference: the inputs hold none of them, by construction.
mail_message notice_message(const notification_options& o, const kind_words& words,
                            const std::string& to, std::chrono::system_clock::time_point deadline,
                            const std::string& link, bool reminder);
mail_message code_message(const notification_options& o, const std::string& to,
                          const std::string& code, std::chrono::minutes valid_for);

/// A deadline as the recipient reads it: the last day, Paris time, in French or English.
std::string last_day_text(std::chrono::system_clock::time_point deadline, std::string_view lang);
/// A moment as the recipient reads it, in Paris time to the minute, in French ("4 décembre
/// 2026, 09:32") or English ("4 December 2026, 09:32").
std::string moment_text(std::chrono::system_clock::time_point t, std::string_view lang);

/// Sends the queued notices and reminders. A notice the relay accepts gives
/// NotificationForAcceptance; one it refuses for good, or that keeps failing past
/// give_up_after, gives NotificationForAcceptanceFailure. Temporary failures are retried
/// with exponential back-off from the durable queue.
class notification_service {
public:
    notification_service(storage::database& db, lifecycle& letters, mailer& mail,
                         notification_options options, crypto::clock_fn clock);

    /// Handles the due queue entries; returns how many were handled.
    int run_once();

    /// A new recipient link for a letter: the token goes in the mail, its hash in the store.
    std::string new_link(const std::string& letter_id);

    const notification_options& options() const { return options_; }
    /// Where links point, once the listening address is known. Call before any run_once().
    void set_base_url(std::string url) { options_.base_url = std::move(url); }
    mailer& mail() { return mail_; }

private:
    void handle(storage::mail_job job);
    void retry_or_give_up(storage::mail_job& job, const send_result& r, bool is_notice);

    storage::database& db_;
    lifecycle& letters_;
    mailer& mail_;
    notification_options options_;
    crypto::clock_fn clock_;
};

/// SHA-256 hex of a recipient token: the form in which links and sessions are stored.
std::string token_hash(const std::string& token);

} // namespace sceau::protocols
