#pragma once
// A recipient as the gateway sees one: reads the outbox, follows the link, keeps the
// session cookie and the form token, posts the forms.

#include "crypto/encoding.hpp"
#include "integration/deposit_fixture.hpp"

#include <algorithm>
#include <regex>
#include <thread>

namespace sceau::test {

/// The decoded text of every message in the outbox, oldest first.
inline std::vector<std::string> outbox_texts(const std::filesystem::path& outbox) {
    std::vector<std::filesystem::path> files;
    if (std::filesystem::exists(outbox)) {
        for (const auto& e : std::filesystem::directory_iterator(outbox)) {
            if (e.path().extension() == ".eml")
                files.push_back(e.path());
        }
    }
    std::sort(files.begin(), files.end());
    std::vector<std::string> out;
    for (const auto& f : files) {
        auto raw = read_file(f);
        auto body = raw.substr(raw.find("\r\n\r\n") + 4);
        body.erase(std::remove(body.begin(), body.end(), '\r'), body.end());
        body.erase(std::remove(body.begin(), body.end(), '\n'), body.end());
        auto bytes = crypto::from_base64(body);
        out.emplace_back(bytes.begin(), bytes.end());
    }
    return out;
}

/// The first capture of `pattern` in the newest outbox message that has one, waiting for
/// the gateway's scheduler up to `limit`.
inline std::string from_outbox(const std::filesystem::path& outbox, const std::string& pattern,
                               std::size_t at_least = 1,
                               std::chrono::seconds limit = std::chrono::seconds(30)) {
    std::regex re(pattern);
    auto until = std::chrono::steady_clock::now() + limit;
    for (;;) {
        auto texts = outbox_texts(outbox);
        std::vector<std::string> found;
        for (const auto& t : texts) {
            std::smatch m;
            if (std::regex_search(t, m, re))
                found.push_back(m[1]);
        }
        if (found.size() >= at_least)
            return found.back();
        if (std::chrono::steady_clock::now() > until)
            return {};
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
}

/// The letter's status as its sender reads it.
inline std::string letter_status(deposit_fixture& f, const std::string& id) {
    auto r = f.client.get(f.server.url("/v1/letters/" + id), f.auth());
    REQUIRE(r.status == 200);
    return r.json()["status"].get<std::string>();
}

/// Deposits `letter_json` with a PDF and waits until it is notified; returns its id and the
/// link of its notice.
inline std::pair<std::string, std::string> notified_letter(deposit_fixture& f,
                                                           const std::string& letter_json) {
    const std::string link_pattern = R"((http://\S+/r/[A-Za-z0-9_-]+))";
    auto outbox = f.server.data_dir() / "outbox";
    std::size_t links = 0;
    for (const auto& t : outbox_texts(outbox))
        links += std::regex_search(t, std::regex(link_pattern)) ? 1 : 0;
    auto r = f.deposit(letter_json, hostile("pdf/p00-positive-control.pdf"));
    REQUIRE(r.status == 201);
    auto link = from_outbox(outbox, link_pattern, links + 1);
    REQUIRE(!link.empty());
    // The notice leaves just before the letter is recorded as notified, and its link opens
    // the letter from then on.
    auto id = r.json()["id"].get<std::string>();
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (letter_status(f, id) != "notified" && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    REQUIRE(letter_status(f, id) == "notified");
    return {id, link};
}

class recipient_browser {
public:
    explicit recipient_browser(std::string link)
        : link_(std::move(link)) {}

    http_response open(const std::string& rest = {}) {
        return keep(client_.get(link_ + rest, sent()));
    }

    http_response post(const std::string& rest, const std::string& form) {
        auto headers = sent();
        headers.push_back("Content-Type: application/x-www-form-urlencoded");
        return keep(client_.post_body(link_ + rest, form, headers));
    }

    /// Posts with the session's form token, as the page's form would.
    http_response submit(const std::string& rest, const std::string& fields = {}) {
        return post(rest, "csrf=" + csrf_ + (fields.empty() ? "" : "&" + fields));
    }

    /// Landing page, code by mail, code entered: identified on an ere letter.
    void identify(const std::filesystem::path& outbox) {
        REQUIRE(open().status == 200);
        auto codes_before = count_codes(outbox);
        REQUIRE(submit("/code").status == 200);
        auto code = from_outbox(outbox, R"(verification code: (\d+))", codes_before + 1);
        REQUIRE(!code.empty());
        auto r = submit("/verify", "code=" + code);
        REQUIRE(r.status == 303);
        REQUIRE(open().status == 200); // the choice page
    }

    const std::string& csrf() const { return csrf_; }
    const std::string& cookie() const { return cookie_; }

private:
    static std::size_t count_codes(const std::filesystem::path& outbox) {
        std::size_t n = 0;
        for (const auto& t : outbox_texts(outbox))
            n += t.find("verification code: ") != std::string::npos ? 1 : 0;
        return n;
    }

    std::vector<std::string> sent() const {
        if (cookie_.empty())
            return {};
        return {"Cookie: sceau_session=" + cookie_};
    }

    http_response keep(http_response r) {
        auto set = r.header("set-cookie");
        std::smatch m;
        if (std::regex_search(set, m, std::regex("sceau_session=([A-Za-z0-9_-]+)")))
            cookie_ = m[1];
        if (std::regex_search(r.body, m, std::regex(R"re(name="csrf" value="([^"]+)")re")))
            csrf_ = m[1];
        return r;
    }

    std::string link_;
    http_client client_;
    std::string cookie_;
    std::string csrf_;
};

} // namespace sceau::test
