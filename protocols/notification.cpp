#include "protocols/notification.hpp"

#include "crypto/encoding.hpp"
#include "crypto/random.hpp"
#include "crypto/sha256.hpp"
#include "protocols/backoff.hpp"
#include "protocols/window.hpp"

#include <optional>
#include <unicode/smpdtfmt.h>
#include <unicode/timezone.h>

namespace sceau::protocols {
using std::chrono::system_clock;

namespace {

/// How long a taken mail job stays with the instance that took it: far longer than one
/// SMTP exchange (mail.timeout_ms), short enough for a notice to leave soon after a crash.
constexpr std::chrono::minutes mail_lease{10};

} // namespace

std::string token_hash(const std::string& token) {
    return crypto::to_hex(crypto::sha256::of(token));
}

namespace {

/// `t` in Europe/Paris as the ICU `pattern` writes it in French or English, or nothing
/// when ICU cannot.
std::optional<std::string> paris_text(system_clock::time_point t, std::string_view lang,
                                      const char* pattern) {
    UErrorCode status = U_ZERO_ERROR;
    icu::Locale locale(lang == "fr" ? "fr_FR" : "en_GB");
    icu::SimpleDateFormat format(icu::UnicodeString(pattern), locale, status);
    format.adoptTimeZone(icu::TimeZone::createTimeZone("Europe/Paris"));
    icu::UnicodeString text;
    format.format(
        static_cast<UDate>(
            std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count()),
        text);
    if (U_FAILURE(status))
        return std::nullopt;
    std::string out;
    text.toUTF8String(out);
    return out;
}

} // namespace

std::string last_day_text(system_clock::time_point deadline, std::string_view lang) {
    // The deadline is the midnight that ends the last day: show that day.
    auto last_moment = deadline - std::chrono::milliseconds(1);
    return paris_text(last_moment, lang, "EEEE d MMMM y").value_or(local_date(last_moment));
}

std::string moment_text(system_clock::time_point t, std::string_view lang) {
    return paris_text(t, lang, "d MMMM y, HH:mm").value_or(local_date(t));
}

mail_message notice_message(const notification_options& o, const kind_words& words,
                            const std::string& to, system_clock::time_point deadline,
                            const std::string& link, bool reminder) {
    auto fr = last_day_text(deadline, "fr");
    auto en = last_day_text(deadline, "en");
    bool fem = words.fr_feminine;
    auto fr_item = std::string(fem ? "une " : "un ") + std::string(words.fr);
    auto fr_Item = std::string(fem ? "Une " : "Un ") + std::string(words.fr);
    auto en_item = std::string(words.en);
    std::string e = fem ? "e" : "";
    mail_message m;
    m.from = o.from;
    m.to = to;
    m.subject = (reminder ? "Rappel : " + fr_item : fr_Item) + " vous attend / " +
                (reminder ? "Reminder: a " : "A ") + en_item + " awaits you";
    m.text = std::string(reminder ? "Rappel. " : "") + "Bonjour,\n\n" + fr_Item +
             " vous attend chez " + o.provider_name + ".\n\nVous pouvez " +
             (fem ? "l'accepter ou la refuser" : "l'accepter ou le refuser") + " jusqu'au " + fr +
             " inclus (heure de Paris). Identifiez-vous pour cela sur cette page :\n\n" + link +
             "\n\nSans réponse de votre part à cette date, " + (fem ? "elle" : "il") +
             " sera enregistré" + e + " comme non réclamé" + e +
             ". Son expéditeur et son objet vous seront indiqués quand vous l'aurez accepté" + e +
             ".\n\nCe message est automatique ; merci de ne pas y répondre.\n\n----\n\n" +
             std::string(reminder ? "Reminder. " : "") + "Hello,\n\nA " + en_item +
             " awaits you at " + o.provider_name + ".\n\nYou may accept or refuse it until " + en +
             " inclusive (Paris time). To do so, identify yourself on this page:\n\n" + link +
             "\n\nWithout an answer by then, it will be recorded as not claimed. Its "
             "sender and subject are shown to you once you have accepted it.\n\nThis message "
             "is automatic; please do not reply to it.\n";
    return m;
}

mail_message code_message(const notification_options& o, const std::string& to,
                          const std::string& code, std::chrono::minutes valid_for) {
    auto minutes = std::to_string(valid_for.count());
    mail_message m;
    m.from = o.from;
    m.to = to;
    m.subject = "Votre code de vérification / Your verification code";
    m.text = "Votre code de vérification " + o.provider_name + " : " + code + "\nIl est valable " +
             minutes + " minutes. Ne le communiquez à personne.\n\nYour " + o.provider_name +
             " verification code: " + code + "\nIt is valid for " + minutes +
             " minutes. Do not share it with anyone.\n";
    return m;
}

notification_service::notification_service(storage::database& db, lifecycle& letters, mailer& mail,
                                           notification_options options, crypto::clock_fn clock)
    : db_(db)
    , letters_(letters)
    , mail_(mail)
    , options_(std::move(options))
    , clock_(std::move(clock)) {}

std::string notification_service::new_link(const std::string& letter_id) {
    // 256 bits from the CSPRNG; only the hash is stored.
    auto token = crypto::to_base64url(crypto::random_bytes(32));
    auto tx = db_.begin();
    tx.insert_recipient_link(token_hash(token), letter_id, crypto::format_utc(clock_()));
    tx.commit();
    return options_.base_url + "/r/" + token;
}

int notification_service::run_once() {
    auto due = db_.due_mail(crypto::format_utc(clock_()), options_.batch);
    for (auto& job : due)
        handle(std::move(job));
    return static_cast<int>(due.size());
}

void notification_service::handle(storage::mail_job job) {
    auto now = clock_();
    auto now_text = crypto::format_utc(now);

    // Instances sharing the database read the same due jobs: only the one that takes the
    // job sends it. Should it stop before recording the outcome, the job is due again once
    // the lease ends.
    auto lease = crypto::format_utc(now + mail_lease);
    if (!db_.claim_mail_job(job.id, job.next_attempt_at, lease))
        return;
    job.next_attempt_at = lease;
    auto letter = db_.letter_by_id(job.letter_id);
    bool is_notice = job.purpose == "notice";

    // Only a deposited letter is notified, only a pending choice is reminded of.
    bool relevant =
        letter && (is_notice ? letter->status == "deposited"
                             : letter->status == "notified" && now_text < letter->accept_deadline);
    if (!relevant) {
        job.state = "cancelled";
        db_.update_mail_job(job, "");
        return;
    }

    auto to = recipient_from_json(letter->recipient_json).email;
    auto deadline =
        is_notice ? acceptance_deadline(now) : crypto::parse_utc(letter->accept_deadline);
    auto result = mail_.send(notice_message(options_, kind_words::of(letter->kind), to, deadline,
                                            new_link(letter->id), !is_notice));
    ++job.attempts;

    if (result.result == send_result::outcome::sent) {
        if (is_notice) {
            // Evidence, status and the queue entry change together (lifecycle).
            letters_.notification_sent(letter->id, deadline);
        } else {
            job.state = "sent";
            db_.update_mail_job(job, now_text);
        }
        return;
    }
    retry_or_give_up(job, result, is_notice);
}

void notification_service::retry_or_give_up(storage::mail_job& job, const send_result& r,
                                            bool is_notice) {
    auto now = clock_();
    job.last_error = r.detail;

    auto next = now + backoff_delay(options_.first_retry, job.attempts, std::chrono::hours(1));
    bool expired = next - crypto::parse_utc(job.created_at) > options_.give_up_after;

    if (r.result == send_result::outcome::permanent_failure || expired) {
        if (is_notice) {
            letters_.notification_failed(job.letter_id, r.detail);
        } else {
            job.state = "failed";
            db_.update_mail_job(job, "");
        }
        return;
    }
    job.next_attempt_at = crypto::format_utc(next);
    db_.update_mail_job(job, "");
}

} // namespace sceau::protocols
