#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>

namespace sceau::protocols {

/// A plain-text mail to one recipient.
struct mail_message {
    std::string from;    ///< "Name <address>" or an address
    std::string to;      ///< an address
    std::string subject; ///< UTF-8
    std::string text;    ///< UTF-8, lines separated by "\n"
};

/// What a mail system said of a message.
struct send_result {
    enum class outcome {
        sent,              ///< the relay accepted it (or it is in the outbox)
        temporary_failure, ///< try again later (4xx, connection trouble)
        permanent_failure, ///< do not try again (5xx: no such mailbox, refused)
    };
    outcome result = outcome::sent;
    std::string detail; ///< the relay's answer; never message content
};

/// Anything that takes mail away: an SMTP relay or the outbox directory.
class mailer {
public:
    virtual ~mailer() = default;
    virtual send_result send(const mail_message& message) = 0;
};

/// The message as RFC 5322 text with MIME (RFC 2045) headers: UTF-8 body in base64,
/// subject as an RFC 2047 encoded word when it is not ASCII. Throws std::invalid_argument
/// if an address or the subject holds a line break (header injection).
std::string render_rfc5322(const mail_message& message, std::string_view message_id,
                           std::chrono::system_clock::time_point date);

/// Writes each message as a complete `.eml` file in a directory: the embedded default,
/// when no relay is configured.
class outbox_mailer final : public mailer {
public:
    explicit outbox_mailer(std::filesystem::path directory);
    send_result send(const mail_message& message) override;

private:
    std::filesystem::path directory_;
};

/// Sends through an SMTP relay with libcurl.
class smtp_mailer final : public mailer {
public:
    struct options {
        std::string url;      ///< smtp://host:port or smtps://host:port
        bool starttls = true; ///< require STARTTLS on smtp://
        std::string username; ///< empty: no authentication
        std::string password;
        std::chrono::milliseconds timeout{30000};
        std::string ca_file; ///< empty: the system's trust store
    };

    explicit smtp_mailer(options o);
    send_result send(const mail_message& message) override;

private:
    options options_;
};

/// The address part of "Name <address>".
std::string address_of(std::string_view mailbox);

} // namespace sceau::protocols
