// The http/ cases of the hostile corpus, sent byte for byte to the deposit path.

#include "integration/deposit_fixture.hpp"

#include <thread>

using namespace sceau::test;

namespace {

std::string hostile_request(const std::string& file, const std::string& extra_header = {}) {
    auto raw = read_file(hostile("http/" + file));
    // The corpus uses a made-up path: send it to ours.
    auto line_end = raw.find("\r\n");
    auto first = raw.substr(0, line_end);
    auto path_start = first.find(' ') + 1;
    auto path_end = first.find(' ', path_start);
    raw.replace(path_start, path_end - path_start, "/v1/letters");
    if (!extra_header.empty())
        raw.insert(raw.find("\r\n") + 2, extra_header + "\r\n");
    return raw;
}

int responses_in(const std::string& received) {
    int n = 0;
    for (auto at = received.find("HTTP/1.1 "); at != std::string::npos;
         at = received.find("HTTP/1.1 ", at + 1))
        ++n;
    return n;
}

} // namespace

TEST_CASE("ambiguous framing gets 400 and the connection closes, smuggling nothing",
          "[integration][http][hostile]") {
    deposit_fixture f;
    for (const char* file :
         {"h01-te-gzip-then-content-length.http", "h02-content-length-then-te-chunked.http",
          "h03-two-content-lengths.http"}) {
        INFO(file);
        auto exchange =
            raw_send(f.server.address(), hostile_request(file, "Authorization: Bearer " + f.key));
        INFO(exchange.received);
        CHECK(exchange.received.rfind("HTTP/1.1 400", 0) == 0);
        CHECK(exchange.received.find("urn:sceau:problem:bad-framing") != std::string::npos);
        CHECK(exchange.closed);
        // The request hidden behind the first one is never answered.
        CHECK(responses_in(exchange.received) == 1);
    }

    // The same with two equal Content-Length values, which a lenient parser would take.
    std::string twice = "POST /v1/letters HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                        "Content-Length: 4\r\n\r\nabcdGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    auto exchange = raw_send(f.server.address(), twice);
    CHECK(exchange.received.rfind("HTTP/1.1 400", 0) == 0);
    CHECK(exchange.closed);
    CHECK(responses_in(exchange.received) == 1);

    CHECK(f.rows("letters") == 0);
    CHECK(f.rows("evidence") == 0);
    CHECK(f.stored_files() == 0);
    f.check_still_serving();
}

TEST_CASE("a Content-Length far over the limit gets 413 before the body is read",
          "[integration][http][hostile]") {
    deposit_fixture f;
    // Only the headers and a few bytes are sent: the answer must not wait for the rest.
    auto start = std::chrono::steady_clock::now();
    auto exchange =
        raw_send(f.server.address(), hostile_request("h07-huge-declared-content-length.http"));
    auto waited = std::chrono::steady_clock::now() - start;
    INFO(exchange.received);
    CHECK(exchange.received.rfind("HTTP/1.1 413", 0) == 0);
    CHECK(exchange.received.find("urn:sceau:problem:body-too-large") != std::string::npos);
    CHECK(exchange.closed);
    CHECK(waited < std::chrono::seconds(3));
    CHECK(f.rows("letters") == 0);
    CHECK(f.stored_files() == 0);
    f.check_still_serving();
}

TEST_CASE("hostile upload file names are never used as paths", "[integration][http][hostile]") {
    deposit_fixture f;
    auto before = std::filesystem::exists("/etc/cron.d/lre-FICTIF");

    // The corpus request as it is: its parts are not those of a deposit.
    auto exchange =
        raw_send(f.server.address(), hostile_request("h08-multipart-hostile-filenames.http",
                                                     "Authorization: Bearer " + f.key));
    INFO(exchange.received);
    CHECK(exchange.received.rfind("HTTP/1.1 400", 0) == 0);
    CHECK(f.rows("letters") == 0);
    CHECK(f.stored_files() == 0);

    // The same names on real documents of a valid deposit: stored under their digests,
    // the names kept only as sanitised metadata.
    auto pdf = hostile("pdf/p00-positive-control.pdf");
    std::vector<form_part> parts = {{"letter", letter_lre, "", "", "application/json"}};
    std::vector<std::string> names = {"..\\..\\..\\var\\lib\\lre\\evidence.sqlite",
                                      "/etc/cron.d/lre-FICTIF",
                                      "../../srv/lre/static/index.html",
                                      "facture\x01\x1b[31m.pdf",
                                      "Lettre-de-mise-en-demeure-\u00e9.pdf",
                                      "\u202etxt.exe"};
    for (const auto& n : names)
        parts.push_back({"document", "", pdf, n, "application/pdf"});
    auto r = f.client.post_form(f.server.url("/v1/letters"), parts, f.auth());
    INFO(r.body);
    REQUIRE(r.status == 201);
    std::vector<std::string> stored;
    auto letter = r.json();
    for (const auto& d : letter["documents"])
        stored.push_back(d["name"]);
    CHECK(stored == std::vector<std::string>{"evidence.sqlite", "lre-FICTIF", "index.html",
                                             "facture[31m.pdf",
                                             "Lettre-de-mise-en-demeure-\u00e9.pdf", "txt.exe"});
    for (const auto& s : stored) {
        CHECK(s.find('/') == std::string::npos);
        CHECK(s.find('\\') == std::string::npos);
    }
    CHECK(std::filesystem::exists("/etc/cron.d/lre-FICTIF") == before);
    CHECK(!std::filesystem::exists(f.server.data_dir() / "evidence.sqlite"));
    // One file at rest: six parts with the same bytes share one content address.
    CHECK(f.stored_files() == 1);
    f.check_still_serving();
}

TEST_CASE("oversized headers and garbage get clean answers", "[integration][http][hostile]") {
    deposit_fixture f;
    auto huge =
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Filler: " + std::string(40000, 'a') + "\r\n\r\n";
    auto e1 = raw_send(f.server.address(), huge);
    CHECK(e1.received.rfind("HTTP/1.1 431", 0) == 0);
    auto e2 = raw_send(f.server.address(), "THIS IS NOT HTTP\r\n\r\n");
    CHECK(e2.received.rfind("HTTP/1.1 400", 0) == 0);
    auto e3 = raw_send(f.server.address(), "POST /v1/letters HTTP/1.1\r\nHost: x\r\n"
                                           "Transfer-Encoding: chunked\r\n\r\nzz\r\n");
    CHECK(e3.closed);
    f.check_still_serving();
}

TEST_CASE("a chunk line that never ends is cut off with 413, not kept in memory",
          "[integration][http][hostile]") {
    deposit_fixture f;
    // The parser keeps an unfinished line until its CRLF: a chunk extension, a trailer or a
    // chunk size that never ends would otherwise grow the connection's buffer without end.
    std::string endless(1 << 20, 'a');
    struct {
        const char* path;
        std::string body;
    } cases[] = {
        {"/v1/letters", "10;" + endless},
        {"/v1/letters", "0\r\nX-Trailer: " + endless},
        {"/v1/letters", std::string(1 << 20, '0')},
        {"/r/abc/accept", "10;" + endless},
    };
    for (const auto& c : cases) {
        INFO(c.path << " " << c.body.substr(0, 20));
        auto exchange = raw_send(f.server.address(),
                                 std::string("POST ") + c.path +
                                     " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + f.key +
                                     "\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                                     "Transfer-Encoding: chunked\r\n\r\n" +
                                     c.body);
        CHECK(exchange.received.rfind("HTTP/1.1 413", 0) == 0);
        CHECK(exchange.closed);
    }
    CHECK(f.rows("letters") == 0);
    CHECK(f.stored_files() == 0);
    f.check_still_serving();
}

TEST_CASE("headers trickled on a kept-alive connection are cut off as on a new one",
          "[integration][http][hostile]") {
    deposit_fixture f("[limits]\nheader_timeout_seconds = 1\nkeep_alive_timeout_seconds = 30\n");
    int fd = connect_to(f.server.address());
    auto send = [fd](const std::string& s) {
        return ::send(fd, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size());
    };

    // One quick request, then the next one a header line every 200 ms.
    REQUIRE(send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
    char answer[4096];
    REQUIRE(::recv(fd, answer, sizeof answer, 0) > 0);
    auto start = std::chrono::steady_clock::now();
    bool cut = false;
    send("GET /healthz HTTP/1.1\r\n");
    while (!cut && std::chrono::steady_clock::now() - start < std::chrono::seconds(10)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        char byte;
        cut = !send("X-Slow: y\r\n") || ::recv(fd, &byte, 1, MSG_DONTWAIT) == 0;
    }
    ::close(fd);
    CHECK(cut);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
    f.check_still_serving();
}

TEST_CASE("a stalled upload is cut off and stores nothing", "[integration][http][hostile]") {
    deposit_fixture f("[limits]\nidle_timeout_seconds = 1\n");
    std::string head =
        "POST /v1/letters HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + f.key +
        "\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n"
        "--b\r\nContent-Disposition: form-data; name=\"document\"; filename=\"a.pdf\"\r\n"
        "Content-Type: application/pdf\r\n\r\n%PDF-1.7\n";
    auto start = std::chrono::steady_clock::now();
    auto exchange = raw_send(f.server.address(), head, 10000);
    // The timed-out connection is closed; there is nobody left to answer.
    CHECK(exchange.received.empty());
    CHECK(exchange.closed);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(8));
    // The timeout closes the socket first; the temporary file goes as the request
    // unwinds, a moment later.
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (f.stored_files() != 0 && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    CHECK(f.stored_files() == 0);
    f.check_still_serving();
}

TEST_CASE("HEAD answers like GET without a body, and the connection stays in step",
          "[integration][http]") {
    deposit_fixture f;
    auto exchange = raw_send(f.server.address(),
                             "HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                             "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    INFO(exchange.received);
    auto second = exchange.received.find("HTTP/1.1 200", 1);
    REQUIRE(exchange.received.rfind("HTTP/1.1 200", 0) == 0);
    REQUIRE(second != std::string::npos);
    // Nothing between the end of the HEAD answer's headers and the next status line.
    CHECK(exchange.received.find("\r\n\r\n") + 4 == second);
    CHECK(exchange.received.substr(second).find("{\"status\":\"ok\"}") != std::string::npos);
}
