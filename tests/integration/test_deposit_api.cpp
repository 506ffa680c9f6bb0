#include "crypto/encoding.hpp"
#include "crypto/sha256.hpp"
#include "integration/deposit_fixture.hpp"

#include <sstream>

using namespace sceau::test;
using nlohmann::json;

TEST_CASE("a PDF deposited over HTTP is stored and gets SubmissionAcceptance evidence",
          "[integration][deposit]") {
    deposit_fixture f;
    auto r = f.deposit(letter_lre, hostile("pdf/p00-positive-control.pdf"));
    INFO(r.body);
    REQUIRE(r.status == 201);
    CHECK(r.header("content-type") == "application/json");
    auto letter = r.json();
    CHECK(letter["id"].get<std::string>().rfind("ltr_", 0) == 0);
    CHECK(letter["status"] == "deposited");
    CHECK(letter["kind"] == "lre");
    CHECK(letter["reference"] == "dossier 4521");
    CHECK(letter["accept_deadline"].is_null());
    CHECK(letter["qualified"] == false);
    CHECK(r.header("location") == "/v1/letters/" + letter["id"].get<std::string>());

    auto pdf = read_file(hostile("pdf/p00-positive-control.pdf"));
    auto sha = sceau::crypto::to_hex(sceau::crypto::sha256::of(pdf));
    REQUIRE(letter["documents"].size() == 1);
    CHECK(letter["documents"][0]["sha256"] == sha);
    CHECK(letter["documents"][0]["size"] == pdf.size());
    CHECK(letter["documents"][0]["name"] == "p00-positive-control.pdf");

    REQUIRE(letter["evidence"].size() == 1);
    CHECK(letter["evidence"][0]["event"] == "SubmissionAcceptance");
    CHECK(letter["created_at"] == letter["evidence"][0]["time"]);

    // The stored bytes are the deposited bytes, at their content address.
    auto at_rest = f.server.data_dir() / "blobs" / "sha256" / sha.substr(0, 2) / sha;
    REQUIRE(std::filesystem::exists(at_rest));
    CHECK(read_file(at_rest) == pdf);

    // The letter and its evidence read back.
    auto id = letter["id"].get<std::string>();
    auto again = f.client.get(f.server.url("/v1/letters/" + id), f.auth());
    REQUIRE(again.status == 200);
    CHECK(again.json()["evidence"] == letter["evidence"]);

    auto evidence =
        f.client.get(f.server.url(letter["evidence"][0]["url"].get<std::string>()), f.auth());
    REQUIRE(evidence.status == 200);
    CHECK(evidence.header("content-type") == "application/xml");
    CHECK(evidence.body.find("SubmissionAcceptance") != std::string::npos);
    CHECK(evidence.body.find(sceau::crypto::to_base64(sceau::crypto::from_hex(sha))) !=
          std::string::npos);

    // Stored with its entry in the transparency log, in the same transaction.
    CHECK(f.rows("log_entries") == f.rows("evidence"));
}

TEST_CASE("GET /v1/evidence serves exactly the sealed bytes, which verify",
          "[integration][deposit][tools]") {
    deposit_fixture f;
    auto letter = f.deposit(letter_lre, hostile("pdf/p00-positive-control.pdf")).json();
    auto url = letter["evidence"][0]["url"].get<std::string>();
    auto first = f.client.get(f.server.url(url), f.auth()).body;
    auto second = f.client.get(f.server.url(url), f.auth()).body;
    CHECK(first == second);

    temp_dir dir;
    write_file(dir / "e.xml", first);
    auto verified =
        run("xmlsec1 --verify --trusted-pem '" + source_path("certs-sample/root-ca.pem").string() +
            "' '" + (dir / "e.xml").string() + "'");
    INFO(verified.output);
    CHECK(verified.status == 0);
}

TEST_CASE("letters are listed newest first with cursor paging and filters",
          "[integration][deposit]") {
    deposit_fixture f;
    std::vector<std::string> ids;
    for (int i = 0; i < 5; ++i) {
        json l = json::parse(letter_lre);
        l["reference"] = i % 2 ? "odd" : "even";
        auto r = f.deposit(l.dump(), hostile("pdf/p00-positive-control.pdf"));
        REQUIRE(r.status == 201);
        ids.push_back(r.json()["id"]);
    }

    std::vector<std::string> seen;
    std::string after;
    for (int page = 0; page < 5; ++page) {
        auto r = f.client.get(
            f.server.url("/v1/letters?limit=2" + (after.empty() ? "" : "&after=" + after)),
            f.auth());
        REQUIRE(r.status == 200);
        auto body = r.json();
        for (const auto& l : body["data"])
            seen.push_back(l["id"]);
        if (body["next_cursor"].is_null())
            break;
        after = body["next_cursor"];
    }
    std::vector<std::string> newest_first(ids.rbegin(), ids.rend());
    CHECK(seen == newest_first);

    auto odd = f.client.get(f.server.url("/v1/letters?reference=odd"), f.auth()).json();
    CHECK(odd["data"].size() == 2);
    auto rejected = f.client.get(f.server.url("/v1/letters?status=rejected"), f.auth()).json();
    CHECK(rejected["data"].empty());

    CHECK(f.client.get(f.server.url("/v1/letters?limit=0"), f.auth()).status == 400);
    CHECK(f.client.get(f.server.url("/v1/letters?status=lost"), f.auth()).status == 400);
    CHECK(f.client.get(f.server.url("/v1/letters?after=zz"), f.auth()).status == 400);
    CHECK(f.client.get(f.server.url("/v1/letters?colour=red"), f.auth()).status == 400);
}

TEST_CASE("a sender never sees another sender's letters or evidence",
          "[integration][deposit][auth]") {
    deposit_fixture f;
    auto mine = f.deposit(letter_lre, hostile("pdf/p00-positive-control.pdf")).json();
    auto other = f.server.add_sender("Banque Exemple", "legal@bank.example");
    std::vector<std::string> other_auth = {"Authorization: Bearer " + other};

    auto letter =
        f.client.get(f.server.url("/v1/letters/" + mine["id"].get<std::string>()), other_auth);
    CHECK(letter.status == 404);
    CHECK(letter.body.find("Martin") == std::string::npos);
    auto evidence =
        f.client.get(f.server.url(mine["evidence"][0]["url"].get<std::string>()), other_auth);
    CHECK(evidence.status == 404);
    auto list = f.client.get(f.server.url("/v1/letters"), other_auth).json();
    CHECK(list["data"].empty());
    // An unknown id answers the same as someone else's.
    auto unknown = f.client.get(f.server.url("/v1/letters/ltr_doesnotexist"), other_auth);
    CHECK(unknown.status == 404);
    CHECK(unknown.json()["type"] == letter.json()["type"]);
}

TEST_CASE("requests without a valid API key get 401 and store nothing", "[integration][auth]") {
    deposit_fixture f;
    auto none = f.client.post_form(
        f.server.url("/v1/letters"),
        {{"letter", letter_lre, "", "", "application/json"},
         {"document", "", hostile("pdf/p00-positive-control.pdf"), "", "application/pdf"}});
    CHECK(none.status == 401);
    CHECK(none.header("content-type") == "application/problem+json");
    CHECK(none.json()["type"] == "urn:sceau:problem:unauthorized");
    CHECK(none.header("www-authenticate") == "Bearer");

    auto wrong = f.client.get(f.server.url("/v1/letters"), {"Authorization: Bearer sk_not-a-key"});
    CHECK(wrong.status == 401);
    auto basic = f.client.get(f.server.url("/v1/letters"), {"Authorization: Basic " + f.key});
    CHECK(basic.status == 401);
    CHECK(f.rows("letters") == 0);
    CHECK(f.stored_files() == 0);
}

TEST_CASE("a revoked API key gets 401", "[integration][auth]") {
    deposit_fixture f;
    REQUIRE(f.client.get(f.server.url("/v1/letters"), f.auth()).status == 200);
    auto list = run(std::string(SCEAU_BINARY) + " sender list --json --data '" +
                    f.server.data_dir().string() + "'");
    auto senders = json::parse(list.output);
    REQUIRE(senders.size() == 1);
    CHECK(senders[0]["revoked_at"].is_null());
    auto revoked = run(std::string(SCEAU_BINARY) + " sender revoke --data '" +
                       f.server.data_dir().string() + "' " + senders[0]["id"].get<std::string>());
    CHECK(revoked.status == 0);
    CHECK(f.client.get(f.server.url("/v1/letters"), f.auth()).status == 401);
    CHECK(f.deposit(letter_lre, hostile("pdf/p00-positive-control.pdf")).status == 401);
    CHECK(f.rows("letters") == 0);
    CHECK(f.stored_files() == 0);
}

TEST_CASE("the same Idempotency-Key and body give the same letter, another body gives 409",
          "[integration][deposit][idempotency]") {
    deposit_fixture f;
    auto first = f.deposit(letter_lre, hostile("pdf/p00-positive-control.pdf"),
                           {"Idempotency-Key: order-77"});
    REQUIRE(first.status == 201);
    // A retry through curl has a fresh multipart boundary: still the same request.
    auto replay = f.deposit(letter_lre, hostile("pdf/p00-positive-control.pdf"),
                            {"Idempotency-Key: order-77"});
    CHECK(replay.status == 200);
    CHECK(replay.json()["id"] == first.json()["id"]);

    std::string boundary = "sceau-test-boundary";
    auto pdf = read_file(hostile("pdf/p00-positive-control.pdf"));
    auto body = "--" + boundary +
                "\r\nContent-Disposition: form-data; name=\"letter\"\r\n"
                "Content-Type: application/json\r\n\r\n" +
                std::string(letter_lre) + "\r\n--" + boundary +
                "\r\nContent-Disposition: form-data; name=\"document\"; filename=\"a.pdf\"\r\n"
                "Content-Type: application/pdf\r\n\r\n" +
                pdf + "\r\n--" + boundary + "--\r\n";
    auto headers = f.auth();
    headers.push_back("Content-Type: multipart/form-data; boundary=" + boundary);
    headers.push_back("Idempotency-Key: invoice-2026-118");
    auto a = f.client.post_body(f.server.url("/v1/letters"), body, headers);
    REQUIRE(a.status == 201);
    auto b = f.client.post_body(f.server.url("/v1/letters"), body, headers);
    CHECK(b.status == 200);
    CHECK(b.json()["id"] == a.json()["id"]);
    auto letters_before = f.rows("letters");
    auto evidence_before = f.rows("evidence");
    auto files_before = f.stored_files();

    auto changed = body;
    changed.replace(changed.find("dossier 4521"), 12, "dossier 4522");
    auto c = f.client.post_body(f.server.url("/v1/letters"), changed, headers);
    CHECK(c.status == 409);
    CHECK(c.json()["type"] == "urn:sceau:problem:idempotency-conflict");
    CHECK(f.rows("letters") == letters_before);
    CHECK(f.rows("evidence") == evidence_before);
    CHECK(f.stored_files() == files_before);

    // Keys are per sender: another sender's same key is a new letter.
    auto other = f.server.add_sender("Autre", "autre@example.org");
    headers[0] = "Authorization: Bearer " + other;
    auto d = f.client.post_body(f.server.url("/v1/letters"), body, headers);
    CHECK(d.status == 201);
    CHECK(d.json()["id"] != a.json()["id"]);
}

TEST_CASE("health and readiness answer without a key, trust material is public", "[integration]") {
    deposit_fixture f;
    CHECK(f.client.get(f.server.url("/healthz")).status == 200);
    auto ready = f.client.get(f.server.url("/readyz"));
    CHECK(ready.status == 200);
    CHECK(ready.json()["database"] == "ok");
    auto trust = f.client.get(f.server.url("/v1/trust"));
    REQUIRE(trust.status == 200);
    auto t = trust.json();
    CHECK(t["qualified"] == false);
    CHECK(t["sample_keys"] == true);
    CHECK(t["trust_anchors"][0] == read_file(source_path("certs-sample/root-ca.pem")));
    CHECK(t["seal"]["certificate"] == read_file(source_path("certs-sample/seal.pem")));
    CHECK(t["tsa"]["certificates"][0] == read_file(source_path("certs-sample/tsa.pem")));
}

TEST_CASE("unknown paths and methods get problem answers", "[integration]") {
    deposit_fixture f;
    auto missing = f.client.get(f.server.url("/v2/nothing"));
    CHECK(missing.status == 404);
    CHECK(missing.json()["type"] == "urn:sceau:problem:not-found");
    auto wrong = f.client.post_body(f.server.url("/v1/trust"), "", {});
    CHECK(wrong.status == 405);
    CHECK(wrong.header("allow") == "GET");
}

TEST_CASE("the server logs one line per request and never the key or the letter",
          "[integration][logs]") {
    deposit_fixture f;
    auto r = f.deposit(letter_lre, hostile("pdf/p00-positive-control.pdf"));
    REQUIRE(r.status == 201);
    f.client.get(f.server.url("/v1/letters/" + r.json()["id"].get<std::string>()), f.auth());
    f.client.get(f.server.url("/v1/nothing"));
    auto log = f.server.log_with_requests(3);
    CHECK(log.find("route=/v1/letters status=201") != std::string::npos);
    CHECK(log.find("letter=" + r.json()["id"].get<std::string>()) != std::string::npos);

    // Exactly one line for each of the three requests, each with every field.
    std::vector<std::string> lines;
    std::istringstream in(log);
    for (std::string line; std::getline(in, line);) {
        if (line.find(" request id=") != std::string::npos)
            lines.push_back(line);
    }
    REQUIRE(lines.size() == 3);
    for (const auto& line : lines) {
        INFO(line);
        for (const char* field : {" id=req_", " method=", " route=", " status=", " duration_ms=",
                                  " sender=", " letter="})
            CHECK(line.find(field) != std::string::npos);
    }
    CHECK(lines[1].find("route=/v1/letters/{id} status=200") != std::string::npos);
    CHECK(lines[1].find("sender=snd_") != std::string::npos);
    CHECK(lines[2].find("status=404 duration_ms=") != std::string::npos);

    CHECK(log.find("libxml2=") != std::string::npos);
    CHECK(log.find("openssl=") != std::string::npos);
    CHECK(log.find("xmlsec1=") != std::string::npos);
    CHECK(log.find("sqlite=") != std::string::npos);
    CHECK(log.find("sample-keys") != std::string::npos);
    CHECK(log.find(f.key) == std::string::npos);
    CHECK(log.find(f.key.substr(3, 12)) == std::string::npos);
    CHECK(log.find("Mise en demeure") == std::string::npos);
    CHECK(log.find("claire.martin") == std::string::npos);
    CHECK(log.find("%PDF") == std::string::npos);
}
