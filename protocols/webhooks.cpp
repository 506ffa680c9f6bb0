#include "protocols/webhooks.hpp"

#include "crypto/encoding.hpp"
#include "crypto/hmac.hpp"
#include "crypto/openssl.hpp"
#include "crypto/random.hpp"
#include "crypto/xml.hpp"
#include "protocols/backoff.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <stdexcept>

namespace sceau::protocols {
namespace {

using std::chrono::system_clock;

using curl_ptr = std::unique_ptr<CURL, crypto::c_deleter<curl_easy_cleanup>>;
using curl_slist_ptr = std::unique_ptr<curl_slist, crypto::c_deleter<curl_slist_free_all>>;
using curl_url_ptr = std::unique_ptr<CURLU, crypto::c_deleter<curl_url_cleanup>>;

constexpr std::size_t max_url_length = 2048;
constexpr std::size_t max_reply_read = 4096;

/// A part of a parsed URL, or an empty string when it has none.
std::string url_part(CURLU* url, CURLUPart part) {
    char* text = nullptr;
    if (curl_url_get(url, part, &text, 0) != CURLUE_OK || !text)
        return {};
    std::string out(text);
    curl_free(text);
    return out;
}

/// Counts the reply body and keeps none of it; past the limit, stops the transfer.
struct reply_sink {
    std::size_t seen = 0;
    bool limit_reached = false;
};

std::size_t discard(char*, std::size_t size, std::size_t count, void* user) {
    auto* sink = static_cast<reply_sink*>(user);
    sink->seen += size * count;
    if (sink->seen > max_reply_read) {
        sink->limit_reached = true;
        return 0; // makes libcurl stop with CURLE_WRITE_ERROR; the status is known by then
    }
    return size * count;
}

template <typename T>
void set_option(CURL* curl, CURLoption option, T value) {
    if (curl_easy_setopt(curl, option, value) != CURLE_OK)
        throw std::runtime_error("libcurl refused an option");
}

bool is_success(int status) {
    return status >= 200 && status < 300;
}

std::string describe_failure(const webhook_response& r) {
    if (r.result != webhook_response::outcome::answered)
        return r.detail;
    auto text = "HTTP " + std::to_string(r.status);
    if (r.status >= 300 && r.status < 400)
        text += " (redirects are not followed)";
    return text;
}

} // namespace

std::string webhook_signature(std::string_view secret, std::string_view timestamp,
                              std::string_view body) {
    std::string signed_text;
    signed_text.reserve(timestamp.size() + 1 + body.size());
    signed_text.append(timestamp).append(".").append(body);
    return "v1=" + crypto::to_hex(crypto::hmac_sha256(secret, signed_text));
}

void check_webhook_url(const std::string& url) {
    if (url.empty())
        throw std::invalid_argument("the webhook URL is empty");
    if (url.size() > max_url_length)
        throw std::invalid_argument("the webhook URL is longer than " +
                                    std::to_string(max_url_length) + " characters");
    for (unsigned char c : url) {
        if (c <= 0x20 || c >= 0x7f)
            throw std::invalid_argument(
                "the webhook URL holds a space, a control or a non-ASCII character; "
                "percent-encode it");
    }

    curl_url_ptr parsed(curl_url());
    if (!parsed)
        throw std::runtime_error("libcurl URL handle");
    if (curl_url_set(parsed.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK)
        throw std::invalid_argument("the webhook URL is not an absolute http or https URL");
    auto scheme = url_part(parsed.get(), CURLUPART_SCHEME);
    if (scheme != "http" && scheme != "https")
        throw std::invalid_argument("the webhook URL must be http or https, not " + scheme);
    // libcurl forgives "http:/host" and "http:///host"; read the authority as written.
    auto authority_start = scheme.size() + 3;
    if (url.compare(scheme.size(), 3, "://") != 0)
        throw std::invalid_argument("the webhook URL must start with http:// or https://");
    auto authority_end = std::min(url.find_first_of("/?#", authority_start), url.size());
    auto authority = url.substr(authority_start, authority_end - authority_start);
    if (authority.empty() || url_part(parsed.get(), CURLUPART_HOST).empty())
        throw std::invalid_argument("the webhook URL has no host");

    // Credentials in a URL end up in logs and process listings: the secret signs instead.
    // An empty user name (https://@host/) counts too.
    if (authority.find('@') != std::string::npos ||
        !url_part(parsed.get(), CURLUPART_USER).empty() ||
        !url_part(parsed.get(), CURLUPART_PASSWORD).empty())
        throw std::invalid_argument("the webhook URL must not carry a user name or password");
}

std::string new_webhook_secret() {
    return "whsec_" + crypto::to_base64url(crypto::random_bytes(32));
}

// libcurl

curl_webhook_poster::curl_webhook_poster(std::chrono::milliseconds timeout,
                                         std::chrono::milliseconds connect_timeout)
    : timeout_(timeout)
    , connect_timeout_(connect_timeout) {
    // Once per process, before any handle exists (not thread-safe before libcurl 7.84).
    static const CURLcode init = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (init != CURLE_OK)
        throw std::runtime_error("libcurl initialisation failed");
}

webhook_response curl_webhook_poster::post(const webhook_request& request) {
    using outcome = webhook_response::outcome;
    curl_ptr curl(curl_easy_init());
    if (!curl)
        return {outcome::unreachable, 0, "libcurl handle"};

    // "Expect:" removes the 100-continue round trip libcurl adds to larger bodies.
    curl_slist_ptr headers;
    auto add_header = [&](const std::string& line) {
        curl_slist* longer = curl_slist_append(headers.get(), line.c_str());
        if (!longer)
            throw std::runtime_error("libcurl header list");
        headers.release(); // now the head of `longer`
        headers.reset(longer);
    };
    for (const auto& [name, value] : request.headers)
        add_header(name + ": " + value);
    add_header("Expect:");

    reply_sink sink;
    char message[CURL_ERROR_SIZE] = {};
    CURL* h = curl.get();
    set_option(h, CURLOPT_URL, request.url.c_str());
    set_option(h, CURLOPT_PROTOCOLS_STR, "http,https");
    set_option(h, CURLOPT_FOLLOWLOCATION, 0L);
    set_option(h, CURLOPT_NOSIGNAL, 1L);
    set_option(h, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_.count()));
    set_option(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(connect_timeout_.count()));
    set_option(h, CURLOPT_USERAGENT, "Sceau-Webhooks");
    set_option(h, CURLOPT_POST, 1L);
    set_option(h, CURLOPT_POSTFIELDS, request.body.data());
    set_option(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    set_option(h, CURLOPT_HTTPHEADER, headers.get());
    set_option(h, CURLOPT_WRITEFUNCTION, &discard);
    set_option(h, CURLOPT_WRITEDATA, &sink);
    set_option(h, CURLOPT_ERRORBUFFER, message);

    CURLcode code = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);

    // A reply longer than we read still answered: its status stands.
    if (code == CURLE_OK || (code == CURLE_WRITE_ERROR && sink.limit_reached && status != 0))
        return {outcome::answered, static_cast<int>(status), {}};
    std::string why = message[0] ? message : curl_easy_strerror(code);
    if (code == CURLE_OPERATION_TIMEDOUT)
        return {outcome::timed_out, 0, why};
    return {outcome::unreachable, 0, why};
}

// The dispatcher

webhook_dispatcher::webhook_dispatcher(storage::database& db, webhook_options options,
                                       crypto::clock_fn clock)
    : webhook_dispatcher(
          db, options, std::move(clock),
          std::make_unique<curl_webhook_poster>(options.timeout, options.connect_timeout)) {}

webhook_dispatcher::webhook_dispatcher(storage::database& db, webhook_options options,
                                       crypto::clock_fn clock,
                                       std::unique_ptr<webhook_poster> poster)
    : db_(db)
    , options_(options)
    , clock_(std::move(clock))
    , poster_(std::move(poster)) {
    if (options_.give_up_after < minimum_give_up_after)
        throw std::invalid_argument("webhooks are retried for at least " +
                                    std::to_string(minimum_give_up_after.count()) + " hours");
    if (options_.timeout.count() <= 0 || options_.connect_timeout.count() <= 0 ||
        options_.first_retry.count() <= 0 || options_.longest_retry < options_.first_retry ||
        options_.batch <= 0)
        throw std::invalid_argument("webhook timeouts, retry delays and batch must be positive");
    if (!poster_)
        throw std::invalid_argument("a webhook dispatcher needs a poster");
}

int webhook_dispatcher::run_once() {
    auto due = db_.due_webhooks(crypto::format_utc(clock_()), options_.batch);
    for (auto& delivery : due)
        attempt(std::move(delivery));
    return static_cast<int>(due.size());
}

void webhook_dispatcher::attempt(storage::webhook_delivery delivery) {
    // The sender's URL and secret as they are now: a changed URL or secret applies to
    // events already queued, a removed webhook ends them.
    auto sender = db_.sender_by_id(delivery.sender_id);
    if (!sender || sender->webhook_url.empty()) {
        delivery.state = webhook_state::skipped;
        delivery.last_error = "the sender has no webhook";
        db_.update_webhook(delivery);
        return;
    }

    // 1. Count the attempt and set the next one before posting: a gateway that dies
    // during the POST resumes after the back-off, not at once.
    auto now = clock_();
    auto last_chance = crypto::parse_utc(delivery.created_at) + options_.give_up_after;
    ++delivery.attempts;
    delivery.next_attempt_at = crypto::format_utc(std::min<system_clock::time_point>(
        now + backoff_delay(options_.first_retry, delivery.attempts, options_.longest_retry),
        last_chance));
    if (!db_.claim_webhook(delivery, delivery.attempts - 1))
        return; // another instance on the same database took this attempt

    // 2. Sign and post.
    auto timestamp = std::to_string(
        std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count());
    webhook_request request{sender->webhook_url,
                            {{"Content-Type", "application/json"},
                             {"Sceau-Timestamp", timestamp},
                             {"Sceau-Signature", webhook_signature(sender->webhook_secret,
                                                                   timestamp, delivery.payload)},
                             {"Sceau-Delivery", delivery.id}},
                            delivery.payload};
    webhook_response response;
    try {
        check_webhook_url(request.url);
        response = poster_->post(request);
    } catch (const std::exception& e) {
        response = {webhook_response::outcome::unreachable, 0, e.what()};
    }

    // 3. Record what came of it.
    bool answered = response.result == webhook_response::outcome::answered;
    delivery.last_status = answered ? response.status : 0;
    if (answered && is_success(response.status)) {
        delivery.state = webhook_state::delivered;
        delivery.last_error.clear();
        delivery.delivered_at = crypto::format_utc(clock_());
    } else {
        delivery.last_error = describe_failure(response);
        if (now >= last_chance)
            delivery.state = webhook_state::failed;
    }
    db_.update_webhook(delivery);
}

} // namespace sceau::protocols
