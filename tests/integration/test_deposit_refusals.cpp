#include "integration/deposit_fixture.hpp"
#include "support/pdf_bomb.hpp"
#include "support/processes.hpp"

#include <algorithm>
#include <fstream>
#include <future>
#include <set>
#include <thread>

using namespace sceau::test;
using nlohmann::json;

namespace {

/// A policy refusal: 422 with the letter id, a rejected letter, its SubmissionRejection
/// evidence downloadable, and no document bytes kept.
void check_rejected(deposit_fixture& f, const http_response& r, const std::string& reason_code,
                    const std::string& detail_part) {
    INFO(r.body);
    REQUIRE(r.status == 422);
    CHECK(r.header("content-type") == "application/problem+json");
    auto p = r.json();
    CHECK(p["type"] == "urn:sceau:problem:deposit-rejected");
    CHECK(p["letter"]["status"] == "rejected");
    REQUIRE(!p["reasons"].empty());
    CHECK(p["reasons"][0]["code"] == reason_code);
    CHECK(p["reasons"][0]["details"].get<std::string>().find(detail_part) != std::string::npos);

    auto id = p["letter_id"].get<std::string>();
    auto letter = f.client.get(f.server.url("/v1/letters/" + id), f.auth()).json();
    CHECK(letter["status"] == "rejected");
    REQUIRE(letter["evidence"].size() == 1);
    CHECK(letter["evidence"][0]["event"] == "SubmissionRejection");
    for (const auto& d : letter["documents"])
        CHECK(d["stored"] == false);
    CHECK(f.rows("log_entries") == f.rows("evidence")); // rejection evidence is logged too

    auto evidence =
        f.client.get(f.server.url(letter["evidence"][0]["url"].get<std::string>()), f.auth());
    REQUIRE(evidence.status == 200);
    CHECK(evidence.body.find("http://uri.etsi.org/19522/Event/SubmissionRejection") !=
          std::string::npos);
    CHECK(evidence.body.find("<Code>" + reason_code + "</Code>") != std::string::npos);

    CHECK(f.stored_files() == 0);
    CHECK(f.rows("blobs") == 0);
    f.check_still_serving();
}

/// The most memory the process has held, from /proc (VmHWM), in KiB.
long peak_memory_kib(pid_t pid) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("VmHWM:", 0) == 0)
            return std::stol(line.substr(6));
    }
    return -1;
}

} // namespace

TEST_CASE("a PDF that would make its check take gigabytes or minutes is refused, the gateway "
          "unharmed",
          "[integration][refusal][pdf][hostile]") {
    temp_dir dir;
    auto bomb = dir / "bomb.pdf";
    write_file(bomb, page_named_many_times(1'000'000)); // 6 MB

    SECTION("out of memory") {
        deposit_fixture f("[deposit]\npdf_check_memory_mib = 256\n");
        auto r = f.deposit(letter_lre, bomb.string());
        check_rejected(f, r, "http://uri.etsi.org/19522/EventReason/InvalidContentFormat",
                       "too large");
        // The check ran elsewhere: the gateway itself never held the copies.
        CHECK(peak_memory_kib(f.server.pid()) < 200 * 1024);
    }
    SECTION("out of time") {
        deposit_fixture f(
            "[deposit]\npdf_check_memory_mib = 4096\npdf_check_timeout_seconds = 1\n");
        auto start = std::chrono::steady_clock::now();
        auto r = f.deposit(letter_lre, bomb.string());
        CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
        check_rejected(f, r, "http://uri.etsi.org/19522/EventReason/InvalidContentFormat",
                       "within 1 seconds");
        CHECK(peak_memory_kib(f.server.pid()) < 200 * 1024);
    }
}

TEST_CASE("the gateway goes on answering while a deposit is checked for seconds",
          "[integration][pdf][hostile]") {
    // One I/O thread: before, the deposit's checks ran on it and every other request waited.
    deposit_fixture f("[server]\nthreads = 1\n[deposit]\npdf_check_memory_mib = 4096\n"
                      "pdf_check_timeout_seconds = 3\n");
    temp_dir dir;
    auto bomb = dir / "bomb.pdf";
    write_file(bomb, page_named_many_times(1'000'000));

    auto slow =
        std::async(std::launch::async, [&] { return f.deposit(letter_lre, bomb.string()); });
    std::this_thread::sleep_for(std::chrono::milliseconds(800)); // uploaded, being checked
    http_client other;
    auto start = std::chrono::steady_clock::now();
    CHECK(other.get(f.server.url("/healthz")).status == 200);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(1));
    CHECK(slow.wait_for(std::chrono::seconds(0)) == std::future_status::timeout);
    CHECK(slow.get().status == 422);
}

namespace {

/// Whether the process has ended (a zombie under another parent counts as ended).
bool ended_within(pid_t pid, std::chrono::seconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
        std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
        std::string stat;
        std::getline(in, stat);
        auto close = stat.rfind(')');
        if (!in || close == std::string::npos || stat.at(close + 2) == 'Z')
            return true;
        if (std::chrono::steady_clock::now() > deadline)
            return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

std::string command_line(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::replace(text.begin(), text.end(), '\0', ' ');
    return text;
}

} // namespace

TEST_CASE("PDFs are checked by long-lived processes that are recycled, reaped and end with the "
          "gateway",
          "[integration][pdf]") {
    temp_dir dir;
    auto bomb = dir / "bomb.pdf";
    write_file(bomb, page_named_many_times(1'000'000)); // checked for seconds
    for (bool crash : {false, true}) {
        INFO((crash ? "killed" : "stopped"));
        deposit_fixture f("[deposit]\npdf_checkers = 1\npdf_checks_per_checker = 2\n"
                          "pdf_check_memory_mib = 4096\npdf_check_timeout_seconds = 60\n");
        std::set<pid_t> checkers;
        for (int i = 0; i < 5; ++i) {
            REQUIRE(f.deposit(letter_lre, hostile("pdf/p00-positive-control.pdf")).status == 201);
            for (const auto& child : children_of(f.server.pid())) {
                // A replacement just forked runs the gateway's image until its exec; one
                // that ended since it was listed has no command line left.
                auto line = command_line(child.pid);
                for (int wait = 0; wait < 200 && line == command_line(f.server.pid()); ++wait) {
                    std::this_thread::sleep_for(std::chrono::milliseconds(10));
                    line = command_line(child.pid);
                }
                if (child.state != 'Z' && !line.empty()) {
                    CHECK_THAT(line, Catch::Contains(" pdf-checker "));
                    checkers.insert(child.pid);
                }
            }
        }
        CHECK(checkers.size() == 3); // two deposits each, the fifth on the third process

        // The processes that were ended are reaped: no zombie stays behind.
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        auto zombie = [&] {
            auto children = children_of(f.server.pid());
            return std::any_of(children.begin(), children.end(),
                               [](const process_state& c) { return c.state == 'Z'; });
        };
        while (zombie() && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        CHECK_FALSE(zombie());
        auto last = children_of(f.server.pid());
        REQUIRE(last.size() == 1);

        if (!crash) {
            f.server.stop(); // the gateway ends it on its way out
            CHECK(ended_within(last.front().pid, std::chrono::seconds(5)));
            continue;
        }
        // Killed in the middle of a check, when the process does not read its socket: the
        // kernel kills it with the gateway (PR_SET_PDEATHSIG).
        auto slow = std::async(std::launch::async, [&] {
            try {
                return f.deposit(letter_lre, bomb.string()).status;
            } catch (const std::runtime_error&) {
                return 0L; // the connection died with the gateway
            }
        });
        std::this_thread::sleep_for(std::chrono::milliseconds(800));
        REQUIRE(slow.wait_for(std::chrono::seconds(0)) == std::future_status::timeout);
        f.server.crash();
        CHECK(ended_within(last.front().pid, std::chrono::seconds(1)));
        CHECK(slow.get() == 0);
    }
}

TEST_CASE("an LRE to a non-professional without consent_reference is rejected with evidence",
          "[integration][refusal][policy]") {
    deposit_fixture f;
    auto letter = json::parse(letter_lre);
    letter.erase("consent_reference");
    auto r = f.deposit(letter.dump(), hostile("pdf/p00-positive-control.pdf"));
    check_rejected(f, r, "http://uri.etsi.org/19522/EventReason/ConsentMissing",
                   "consent_reference");

    // The same letter to a professional needs no consent; an ERE needs none either.
    letter["recipient"]["professional"] = true;
    CHECK(f.deposit(letter.dump(), hostile("pdf/p00-positive-control.pdf")).status == 201);
    letter["recipient"]["professional"] = false;
    letter["kind"] = "ere";
    CHECK(f.deposit(letter.dump(), hostile("pdf/p00-positive-control.pdf")).status == 201);
}

TEST_CASE("a birth date that is not ISO 8601 is rejected with evidence",
          "[integration][refusal][policy]") {
    for (std::string date : {"17/02/1985", "1985-02-30", "1985-2-17", "2999-01-01"}) {
        deposit_fixture f;
        auto letter = json::parse(letter_lre);
        letter["recipient"]["birth_date"] = date;
        auto r = f.deposit(letter.dump(), hostile("pdf/p00-positive-control.pdf"));
        INFO(date);
        check_rejected(f, r, "http://uri.etsi.org/19522/EventReason/InvalidRecipientDetails",
                       "birth_date");
    }
}

TEST_CASE("refused PDFs are rejected with evidence and their bytes are not kept",
          "[integration][refusal][pdf]") {
    struct {
        const char* file;
        const char* why;
    } cases[] = {
        {"pdf/p03-encrypted-user-password.pdf", "password"},
        {"pdf/p05-truncated-mid-stream.pdf", "document 1"},
        {"pdf/p06-not-a-pdf-but-named-pdf.pdf", "document 1"},
    };
    for (const auto& c : cases) {
        deposit_fixture f;
        INFO(c.file);
        auto r = f.deposit(letter_lre, hostile(c.file));
        check_rejected(f, r, "http://uri.etsi.org/19522/EventReason/InvalidContentFormat", c.why);
    }
}

TEST_CASE("a PDF with JavaScript is accepted unchanged and flagged", "[integration][pdf]") {
    deposit_fixture f;
    auto r = f.deposit(letter_lre, hostile("pdf/p01-openaction-javascript.pdf"));
    REQUIRE(r.status == 201);
    auto doc = r.json()["documents"][0];
    CHECK(doc["flags"] == json::array({"javascript"}));
    auto sha = doc["sha256"].get<std::string>();
    auto at_rest = f.server.data_dir() / "blobs" / "sha256" / sha.substr(0, 2) / sha;
    CHECK(read_file(at_rest) == read_file(hostile("pdf/p01-openaction-javascript.pdf")));
    auto evidence =
        f.client.get(f.server.url(r.json()["evidence"][0]["url"].get<std::string>()), f.auth());
    CHECK(evidence.body.find(">javascript</sc:ContentFlag>") != std::string::npos);
}

TEST_CASE("malformed deposits get 400 and leave nothing behind", "[integration][refusal]") {
    deposit_fixture f;
    auto pdf = hostile("pdf/p00-positive-control.pdf");
    struct {
        std::string letter;
        const char* type;
    } cases[] = {
        {"{not json", "urn:sceau:problem:invalid-letter"},
        {R"({"kind":"lre"})", "urn:sceau:problem:invalid-letter"},
        {R"({"kind":"fax","recipient":{"email":"a@b.example","family_name":"X"}})",
         "urn:sceau:problem:invalid-letter"},
        {R"({"kind":"ere","recipient":{"email":"not-an-address","family_name":"X"}})",
         "urn:sceau:problem:invalid-letter"},
        {R"({"kind":"ere","recipient":{"email":"a@b.example"}})",
         "urn:sceau:problem:invalid-letter"},
        {R"({"kind":"ere","recipient":{"email":"a@b.example","family_name":"X"},"colour":"red"})",
         "urn:sceau:problem:invalid-letter"},
        {R"({"kind":"ere","recipient":{"email":"a@b.example","family_name":"X\u0007"}})",
         "urn:sceau:problem:invalid-letter"},
        {R"({"kind":"ere","recipient":{"email":"a@b.example","family_name":"X","professional":"yes"}})",
         "urn:sceau:problem:invalid-letter"},
    };
    for (const auto& c : cases) {
        INFO(c.letter);
        auto r = f.deposit(c.letter, pdf);
        CHECK(r.status == 400);
        CHECK(r.header("content-type") == "application/problem+json");
        CHECK(r.json()["type"] == c.type);
    }

    // No document at all; no letter part; a part that is neither.
    auto no_document = f.deposit(letter_lre, "");
    CHECK(no_document.status == 400);
    CHECK(no_document.json()["detail"].get<std::string>().find("document") != std::string::npos);
    auto no_letter = f.client.post_form(f.server.url("/v1/letters"),
                                        {{"document", "", pdf, "", "application/pdf"}}, f.auth());
    CHECK(no_letter.status == 400);
    auto stray = f.client.post_form(
        f.server.url("/v1/letters"),
        {{"letter", letter_lre, "", "", "application/json"}, {"annex", "x", "", "", "text/plain"}},
        f.auth());
    CHECK(stray.status == 400);
    CHECK(stray.json()["type"] == "urn:sceau:problem:malformed-multipart");

    // Not multipart at all.
    auto json_body =
        f.client.post_body(f.server.url("/v1/letters"), letter_lre,
                           {"Authorization: Bearer " + f.key, "Content-Type: application/json"});
    CHECK(json_body.status == 415);

    CHECK(f.rows("letters") == 0);
    CHECK(f.rows("evidence") == 0);
    CHECK(f.rows("log_entries") == 0);
    CHECK(f.stored_files() == 0);
    f.check_still_serving();
}

TEST_CASE("letters that two parsers could read differently get 400 and leave nothing behind",
          "[integration][refusal][hostile]") {
    deposit_fixture f;
    auto pdf = hostile("pdf/p00-positive-control.pdf");
    struct {
        std::string letter;
        const char* field;
    } cases[] = {
        // A name twice: the sender's own checks may have read the first one.
        {R"({"kind":"ere","recipient":{"email":"claire.martin@example.org",
            "email":"mallory@example.net","family_name":"Martin"}})",
         "letter"},
        {R"({"kind":"ere","recipient":{"email":"a@b.example","family_name":"X","professional":1e999}})",
         "letter"},
        {R"({"kind":"ere","recipient":{"email":"a@b.example","family_name":"Mar\u202etin"}})",
         "recipient.family_name"},
        {R"({"kind":"ere","recipient":{"email":"a@b.example","family_name":"X"},"subject":"a\u2028b"})",
         "subject"},
        {R"({"kind":"ere","recipient":{"email":"claire@exаmple.org","family_name":"X"}})",
         "recipient.email"},
        {R"({"kind":"ere","recipient":{"email":"claire(x)@example.org","family_name":"X"}})",
         "recipient.email"},
    };
    for (const auto& c : cases) {
        INFO(c.letter);
        auto r = f.deposit(c.letter, pdf);
        INFO(r.body);
        CHECK(r.status == 400);
        CHECK(r.header("content-type") == "application/problem+json");
        CHECK(r.json()["type"] == "urn:sceau:problem:invalid-letter");
        CHECK(r.json()["detail"].get<std::string>().rfind(c.field, 0) == 0);
    }
    CHECK(f.rows("letters") == 0);
    CHECK(f.rows("evidence") == 0);
    CHECK(f.stored_files() == 0);
    f.check_still_serving();
}

TEST_CASE("a document of a type not accepted is rejected with evidence", "[integration][refusal]") {
    deposit_fixture f;
    auto r = f.client.post_form(
        f.server.url("/v1/letters"),
        {{"letter", letter_lre, "", "", "application/json"},
         {"document", "MZ fictional", "", "facture.pdf.exe", "application/x-msdownload"}},
        f.auth());
    check_rejected(f, r, "http://uri.etsi.org/19522/EventReason/InvalidContentFormat",
                   "media type");
}

TEST_CASE("size and count limits give 413 and leave nothing behind",
          "[integration][refusal][limits]") {
    deposit_fixture f(R"(
[limits]
max_body_bytes = 200000
max_document_bytes = 100000
max_documents = 2
)");
    std::string big(150000, 'x');
    auto r =
        f.client.post_form(f.server.url("/v1/letters"),
                           {{"letter", letter_lre, "", "", "application/json"},
                            {"document", "%PDF-1.7\n" + big, "", "big.pdf", "application/pdf"}},
                           f.auth());
    CHECK(r.status == 413);
    CHECK(r.json()["type"] == "urn:sceau:problem:document-too-large");

    std::string bigger(250000, 'x');
    auto body = f.client.post_form(f.server.url("/v1/letters"),
                                   {{"letter", letter_lre, "", "", "application/json"},
                                    {"document", bigger, "", "big.pdf", "application/pdf"}},
                                   f.auth());
    CHECK(body.status == 413);
    CHECK(body.json()["type"] == "urn:sceau:problem:body-too-large");

    auto pdf = hostile("pdf/p00-positive-control.pdf");
    auto many = f.client.post_form(f.server.url("/v1/letters"),
                                   {{"letter", letter_lre, "", "", "application/json"},
                                    {"document", "", pdf, "", "application/pdf"},
                                    {"document", "", pdf, "", "application/pdf"},
                                    {"document", "", pdf, "", "application/pdf"}},
                                   f.auth());
    CHECK(many.status == 413);
    CHECK(many.json()["type"] == "urn:sceau:problem:too-many-parts");

    CHECK(f.rows("letters") == 0);
    CHECK(f.stored_files() == 0);
    f.check_still_serving();
}

TEST_CASE("without a time-stamp the deposit fails with 503 and Retry-After, nothing stored",
          "[integration][refusal][tsa]") {
    // An external TSA on a port where nothing listens.
    deposit_fixture f("[tsa]\nurl = \"http://127.0.0.1:9/tsa\"\ntimeout_ms = 2000\n"
                      "trust_anchors = \"" +
                      source_path("certs-sample/root-ca.pem").string() + "\"\n");
    auto r = f.deposit(letter_lre, hostile("pdf/p00-positive-control.pdf"));
    CHECK(r.status == 503);
    CHECK(r.json()["type"] == "urn:sceau:problem:tsa-unavailable");
    CHECK(!r.header("retry-after").empty());
    CHECK(f.rows("letters") == 0);
    CHECK(f.rows("evidence") == 0);
    CHECK(f.rows("log_entries") == 0);
    CHECK(f.stored_files() == 0);
    f.check_still_serving();
}

TEST_CASE("a deposit cut short by a crash leaves nothing once the gateway is back",
          "[integration][refusal][crash]") {
    deposit_fixture f;
    std::string head =
        "POST /v1/letters HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + f.key +
        "\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 400000\r\n\r\n"
        "--b\r\nContent-Disposition: form-data; name=\"letter\"\r\n"
        "Content-Type: application/json\r\n\r\n" +
        std::string(letter_lre) +
        "\r\n--b\r\nContent-Disposition: form-data; name=\"document\"; filename=\"a.pdf\"\r\n"
        "Content-Type: application/pdf\r\n\r\n%PDF-1.7\n" +
        std::string(100000, 'x');
    auto upload =
        std::async(std::launch::async, [&] { return raw_send(f.server.address(), head, 10000); });

    // The document is on its way to disk when the gateway dies.
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (f.stored_files() == 0 && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    REQUIRE(f.stored_files() == 1);
    f.server.crash();
    CHECK(upload.get().received.empty());

    // Back up on the same data directory: no letter, no evidence, no file of it.
    f.server.start();
    CHECK(f.rows("letters") == 0);
    CHECK(f.rows("evidence") == 0);
    CHECK(f.rows("blobs") == 0);
    CHECK(f.stored_files() == 0);
    CHECK(f.deposit(letter_lre, hostile("pdf/p00-positive-control.pdf")).status == 201);
}
