#include "protocols/mail.hpp"

#include "crypto/encoding.hpp"
#include "crypto/random.hpp"

#include <curl/curl.h>

#include <cctype>
#include <cstring>
#include <ctime>
#include <fstream>
#include <memory>
#include <optional>
#include <stdexcept>

namespace sceau::protocols {
namespace {

void no_line_breaks(std::string_view value, const char* what) {
    if (value.find_first_of("\r\n") != std::string_view::npos)
        throw std::invalid_argument(std::string(what) + " holds a line break");
}

bool is_ascii(std::string_view s) {
    for (unsigned char c : s) {
        if (c >= 0x80)
            return false;
    }
    return true;
}

/// RFC 2047 encoded words ("B" encoding), each under 76 characters and holding whole
/// UTF-8 characters, folded with CRLF SP.
std::string encoded_words(std::string_view text) {
    std::string out;
    std::size_t i = 0;
    while (i < text.size()) {
        std::size_t end = std::min(text.size(), i + 45);
        while (end < text.size() && (static_cast<unsigned char>(text[end]) & 0xc0) == 0x80)
            --end; // never split a UTF-8 sequence
        if (!out.empty())
            out += "\r\n ";
        out += "=?UTF-8?B?" + crypto::to_base64(crypto::as_bytes(text.substr(i, end - i))) + "?=";
        i = end;
    }
    return out;
}

std::string header_text(std::string_view text) {
    return is_ascii(text) ? std::string(text) : encoded_words(text);
}

/// A display name as an RFC 5322 phrase: quoted when it holds specials.
std::string mailbox(std::string_view spec) {
    auto lt = spec.find('<');
    if (lt == std::string_view::npos)
        return std::string(spec);
    auto name = spec.substr(0, lt);
    while (!name.empty() && name.back() == ' ')
        name.remove_suffix(1);
    std::string phrase;
    if (!is_ascii(name)) {
        phrase = encoded_words(name);
    } else {
        phrase = "\"";
        for (char c : name) {
            if (c == '"' || c == '\\')
                phrase += '\\';
            phrase += c;
        }
        phrase += "\"";
    }
    return phrase + " " + std::string(spec.substr(lt));
}

std::string rfc5322_date(std::chrono::system_clock::time_point t) {
    std::time_t secs = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    static constexpr const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                             "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    char buf[64];
    std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday],
                  tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                  tm.tm_sec);
    return buf;
}

std::string domain_of(std::string_view address) {
    auto at = address.rfind('@');
    return at == std::string_view::npos ? "localhost" : std::string(address.substr(at + 1));
}

/// Renders `m` into `out`; a message that can never be written (a line break in a header)
/// is a permanent failure, not an error to retry for ever.
std::optional<send_result> render(const mail_message& m, std::string_view message_id,
                                  std::chrono::system_clock::time_point date, std::string& out) {
    try {
        out = render_rfc5322(m, message_id, date);
    } catch (const std::invalid_argument& e) {
        return send_result{send_result::outcome::permanent_failure,
                           std::string("the message cannot be written: ") + e.what()};
    }
    return std::nullopt;
}

} // namespace

std::string address_of(std::string_view spec) {
    auto lt = spec.find('<');
    auto gt = spec.rfind('>');
    if (lt == std::string_view::npos || gt == std::string_view::npos || gt < lt)
        return std::string(spec);
    return std::string(spec.substr(lt + 1, gt - lt - 1));
}

std::string render_rfc5322(const mail_message& m, std::string_view message_id,
                           std::chrono::system_clock::time_point date) {
    no_line_breaks(m.from, "From");
    no_line_breaks(m.to, "To");
    no_line_breaks(m.subject, "Subject");
    no_line_breaks(message_id, "Message-ID");

    std::string out;
    out += "Date: " + rfc5322_date(date) + "\r\n";
    out += "From: " + mailbox(m.from) + "\r\n";
    out += "To: <" + address_of(m.to) + ">\r\n";
    out += "Subject: " + header_text(m.subject) + "\r\n";
    out += "Message-ID: <" + std::string(message_id) + ">\r\n";
    out += "MIME-Version: 1.0\r\n";
    out += "Content-Type: text/plain; charset=UTF-8\r\n";
    out += "Content-Transfer-Encoding: base64\r\n";
    out += "Auto-Submitted: auto-generated\r\n"; // RFC 3834: no auto-replies
    out += "\r\n";

    // The body with CRLF line ends, in base64 lines of 76 characters (RFC 2045 6.8).
    std::string body;
    for (char c : m.text) {
        if (c == '\n')
            body += "\r\n";
        else
            body += c;
    }
    auto encoded = crypto::to_base64(crypto::as_bytes(body));
    for (std::size_t i = 0; i < encoded.size(); i += 76)
        out += encoded.substr(i, 76) + "\r\n";
    return out;
}

outbox_mailer::outbox_mailer(std::filesystem::path directory)
    : directory_(std::move(directory)) {
    std::filesystem::create_directories(directory_);
}

send_result outbox_mailer::send(const mail_message& message) {
    auto now = std::chrono::system_clock::now();
    auto id = crypto::random_id("msg_");
    std::string text;
    if (auto refusal = render(message, id + "@" + domain_of(address_of(message.from)), now, text))
        return *refusal;
    auto stamp = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch());
    auto name = std::to_string(stamp.count()) + "-" + id + ".eml";
    auto temporary = directory_ / (name + ".tmp");
    {
        std::ofstream out(temporary, std::ios::binary);
        out << text;
        if (!out.flush())
            return {send_result::outcome::temporary_failure, "cannot write to the outbox"};
    }
    std::error_code ec;
    std::filesystem::rename(temporary, directory_ / name, ec);
    if (ec)
        return {send_result::outcome::temporary_failure, "cannot write to the outbox"};
    return {send_result::outcome::sent, "written to the outbox as " + name};
}

smtp_mailer::smtp_mailer(options o)
    : options_(std::move(o)) {
    if (options_.url.rfind("smtp://", 0) != 0 && options_.url.rfind("smtps://", 0) != 0)
        throw std::invalid_argument("the mail relay must be an smtp:// or smtps:// URL");
}

send_result smtp_mailer::send(const mail_message& message) {
    struct upload {
        std::string text;
        std::size_t at = 0;
    } data;
    if (auto refusal =
            render(message, crypto::random_id("msg_") + "@" + domain_of(address_of(message.from)),
                   std::chrono::system_clock::now(), data.text))
        return *refusal;
    auto read = [](char* buffer, size_t size, size_t n, void* user) -> size_t {
        auto* u = static_cast<upload*>(user);
        size_t count = std::min(size * n, u->text.size() - u->at);
        std::memcpy(buffer, u->text.data() + u->at, count);
        u->at += count;
        return count;
    };

    // The verb of the last command libcurl sent, to tell whose fault a refusal is. Only
    // the first word of a command line is read: an AUTH line carries the credentials.
    auto last_command = [](CURL*, curl_infotype type, char* text, size_t size, void* user) -> int {
        if (type != CURLINFO_HEADER_OUT)
            return 0;
        std::string_view line(text, size);
        auto word = line.substr(0, line.find_first_of(" \r\n"));
        std::string upper;
        for (char c : word)
            upper.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
        // The end of the message's data is still part of DATA; QUIT and RSET only close.
        if (!upper.empty() && upper != "QUIT" && upper != "RSET")
            *static_cast<std::string*>(user) = std::move(upper);
        return 0;
    };
    std::string verb;

    std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
    if (!curl)
        return {send_result::outcome::temporary_failure, "libcurl unavailable"};
    std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> recipients(
        curl_slist_append(nullptr, ("<" + address_of(message.to) + ">").c_str()),
        curl_slist_free_all);
    auto from = "<" + address_of(message.from) + ">";
    CURL* c = curl.get();
    curl_easy_setopt(c, CURLOPT_URL, options_.url.c_str());
    curl_easy_setopt(c, CURLOPT_MAIL_FROM, from.c_str());
    curl_easy_setopt(c, CURLOPT_MAIL_RCPT, recipients.get());
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, +read);
    curl_easy_setopt(c, CURLOPT_READDATA, &data);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.timeout.count()));
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    if (options_.starttls && options_.url.rfind("smtp://", 0) == 0)
        curl_easy_setopt(c, CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_ALL));
    if (!options_.username.empty()) {
        curl_easy_setopt(c, CURLOPT_USERNAME, options_.username.c_str());
        curl_easy_setopt(c, CURLOPT_PASSWORD, options_.password.c_str());
    }
    if (!options_.ca_file.empty())
        curl_easy_setopt(c, CURLOPT_CAINFO, options_.ca_file.c_str());
    curl_easy_setopt(c, CURLOPT_DEBUGFUNCTION, +last_command);
    curl_easy_setopt(c, CURLOPT_DEBUGDATA, &verb);
    curl_easy_setopt(c, CURLOPT_VERBOSE, 1L); // to the function above only

    CURLcode rc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    if (rc == CURLE_OK)
        return {send_result::outcome::sent, "accepted by the relay (" + std::to_string(code) + ")"};
    std::string detail = std::string(curl_easy_strerror(rc));
    if (code != 0)
        detail += " (" + std::to_string(code) + ")";
    // RFC 5321 section 4.2.1: 5yz is a permanent negative reply, 4yz a transient one. Only
    // a refusal of the recipient (RCPT) or of this message (DATA and its end) says the
    // recipient cannot be reached; a refused greeting, TLS, login or sender address is
    // the provider's own trouble, retried until fixed.
    if (code >= 500 && code < 600 && (verb == "RCPT" || verb == "DATA"))
        return {send_result::outcome::permanent_failure, detail};
    if (code >= 500 && code < 600)
        detail += " after " + (verb.empty() ? std::string("connecting") : verb);
    return {send_result::outcome::temporary_failure, detail};
}

} // namespace sceau::protocols
