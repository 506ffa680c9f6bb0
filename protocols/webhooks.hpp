#pragma once

#include "crypto/timestamp.hpp"
#include "storage/database.hpp"

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sceau::protocols {

/// The states of a webhook delivery, as stored and as the letter's timeline shows them.
namespace webhook_state {
inline constexpr std::string_view pending = "pending";     ///< waiting for its next attempt
inline constexpr std::string_view delivered = "delivered"; ///< the receiver answered 2xx
inline constexpr std::string_view failed = "failed";       ///< no 2xx within give_up_after
/// Not sent: the sender had removed its webhook before the event could be delivered.
inline constexpr std::string_view skipped = "skipped";
} // namespace webhook_state

/// The shortest retry window the gateway accepts: a receiver may be down for a weekend.
inline constexpr std::chrono::hours minimum_give_up_after{48};

struct webhook_options {
    std::chrono::milliseconds timeout{10000};        ///< one whole attempt
    std::chrono::milliseconds connect_timeout{5000}; ///< the TCP and TLS connection
    std::chrono::seconds first_retry{60};            ///< then doubling
    std::chrono::seconds longest_retry{3600};        ///< the cap between two attempts
    std::chrono::hours give_up_after{72};            ///< counted from the event
    int batch = 20;                                  ///< deliveries per run_once()
};

/// One POST to a receiver.
struct webhook_request {
    std::string url;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
};

/// What became of a POST. The receiver's reply body is never part of it.
struct webhook_response {
    enum class outcome {
        answered,    ///< an HTTP status came back, any status
        unreachable, ///< no connection, TLS failure, or a broken reply
        timed_out,
    };
    outcome result = outcome::answered;
    int status = 0;     ///< the HTTP status when answered
    std::string detail; ///< why it was not answered; never reply content
};

/// Anything that POSTs a webhook: libcurl in the gateway, a stand-in in tests.
class webhook_poster {
public:
    virtual ~webhook_poster() = default;
    virtual webhook_response post(const webhook_request& request) = 0;
};

/// POSTs with libcurl: http and https only, no redirect followed, the reply body read up
/// to 4 KiB and thrown away, proxies and certificates as libcurl's defaults.
class curl_webhook_poster final : public webhook_poster {
public:
    curl_webhook_poster(std::chrono::milliseconds timeout,
                        std::chrono::milliseconds connect_timeout);
    webhook_response post(const webhook_request& request) override;

private:
    std::chrono::milliseconds timeout_;
    std::chrono::milliseconds connect_timeout_;
};

/// Delivers queued evidence events to the senders' webhooks. Each delivery is a row of the
/// store: its state, attempts and next attempt live there, so a restarted gateway resumes
/// where the last one stopped. Delivery is at least once: a receiver de-duplicates with
/// the Sceau-Delivery header.
///
/// An attempt POSTs the stored payload to the sender's current URL, signed with its
/// current secret (webhook_signature()). A 2xx answer delivers it. Any other answer, no
/// connection or a time-out is retried after `first_retry`, then twice as long each time
/// up to `longest_retry`, with up to a tenth more at random so that receivers coming back
/// are not hit by every gateway at once. Once `give_up_after` has passed since the event,
/// a failed attempt is the last: the delivery is `failed`. A delivery whose sender has no
/// webhook any more is `skipped`.
class webhook_dispatcher {
public:
    /// Posts with libcurl. Throws std::invalid_argument if `options.give_up_after` is under
    /// minimum_give_up_after or another option is not positive.
    webhook_dispatcher(storage::database& db, webhook_options options, crypto::clock_fn clock);

    /// Posts with `poster` (tests, other transports).
    webhook_dispatcher(storage::database& db, webhook_options options, crypto::clock_fn clock,
                       std::unique_ptr<webhook_poster> poster);

    /// Attempts the deliveries that are due, at most `batch`, one after the other; returns
    /// how many were handled. A run may last `batch` times `timeout`. Call it from one
    /// thread at a time: concurrent runs may post one delivery twice. Storage errors
    /// propagate; what was recorded before them stays recorded.
    int run_once();

    const webhook_options& options() const { return options_; }

private:
    void attempt(storage::webhook_delivery delivery);

    storage::database& db_;
    webhook_options options_;
    crypto::clock_fn clock_;
    std::unique_ptr<webhook_poster> poster_;
};

/// The Sceau-Signature value: "v1=" and the lower-case hex HMAC-SHA256, under the secret's
/// bytes, of the Sceau-Timestamp value, a full stop, and the body.
std::string webhook_signature(std::string_view secret, std::string_view timestamp,
                              std::string_view body);

/// Throws std::invalid_argument, saying what is wrong, unless `url` is an absolute http or
/// https URL with a host, without user name or password, of at most 2048 characters.
void check_webhook_url(const std::string& url);

/// A new webhook secret: "whsec_" and 32 random bytes in base64url.
std::string new_webhook_secret();

} // namespace sceau::protocols
