// The audit routes over HTTP: a public checkpoint, proofs and entries for auditors only,
// everything an auditor's tool checks verified from what the routes return.

#include "crypto/encoding.hpp"
#include "crypto/merkle.hpp"
#include "crypto/signed_note.hpp"
#include "deposit_fixture.hpp"
#include "support/log_json.hpp"

#include <catch2/catch.hpp>

#include <set>

using namespace sceau;
using namespace sceau::test;
namespace merkle = crypto::merkle;

namespace {

struct audit_fixture : deposit_fixture {
    std::string auditor_key;

    audit_fixture() {
        auto added = sceau_cli(*this, "auditor add --name 'Organisme de contrôle'");
        REQUIRE(added.status == 0);
        auditor_key = added.out.substr(0, added.out.find('\n'));
        REQUIRE(auditor_key.rfind("ak_", 0) == 0);
    }

    std::vector<std::string> auditor() const { return {"Authorization: Bearer " + auditor_key}; }

    std::string deposit_one() {
        auto r = deposit(letter_lre, hostile("pdf/p00-positive-control.pdf"));
        REQUIRE(r.status == 201);
        return r.json()["evidence"][0]["id"].get<std::string>();
    }

    nlohmann::json checkpoint() {
        auto made = sceau_cli(*this, "checkpoint");
        REQUIRE(made.status == 0);
        auto r = client.get(server.url("/v1/audit/checkpoint"));
        REQUIRE(r.status == 200);
        auto body = r.json();
        CHECK(made.out == body["note"].get<std::string>()); // the CLI prints the note
        return body;
    }
};

} // namespace

TEST_CASE("an auditor checks every record's inclusion, the entries and the checkpoints over HTTP",
          "[integration][audit]") {
    audit_fixture f;
    CHECK(f.client.get(f.server.url("/v1/audit/checkpoint")).status == 404); // nothing yet

    std::vector<std::string> ids;
    for (int i = 0; i < 3; ++i)
        ids.push_back(f.deposit_one());
    auto first = f.checkpoint();

    // The checkpoint is public, signed by the seal (ECDSA P-256) under the log's origin.
    CHECK(first["tree_size"] == 3);
    auto verifier =
        crypto::note_verifier::from_verifier_key(first["verifier_key"].get<std::string>());
    auto text = verifier.open(first["note"].get<std::string>());
    auto cp = crypto::parse_checkpoint(text);
    CHECK(cp.origin == first["origin"].get<std::string>());
    CHECK(cp.tree_size == 3);
    CHECK(cp.root_hash == hash_of(first["root_hash"]));
    auto trust = f.client.get(f.server.url("/v1/trust")).json();
    auto seal = crypto::certificates_from_pem(trust["seal"]["certificate"].get<std::string>());
    CHECK(crypto::public_key_der(X509_get0_pubkey(seal.front().get())) ==
          crypto::public_key_der(verifier.public_key()));

    // Each record's leaf is SHA-256(0x00 || the bytes GET /v1/evidence serves), proven in
    // the checkpointed tree.
    for (const auto& id : ids) {
        INFO(id);
        auto xml = f.client.get(f.server.url("/v1/evidence/" + id), f.auth()).body;
        auto r = f.client.get(f.server.url("/v1/audit/inclusion/" + id), f.auditor());
        REQUIRE(r.status == 200);
        auto p = r.json();
        CHECK(p["tree_size"] == 3);
        CHECK(hash_of(p["leaf_hash"]) == merkle::leaf_hash(xml));
        CHECK(merkle::verify_inclusion(p["leaf_index"].get<std::uint64_t>(), 3,
                                       merkle::leaf_hash(xml), hashes_of(p["inclusion_path"]),
                                       cp.root_hash));
    }

    // More deposits, a second checkpoint, consistent with the first.
    ids.push_back(f.deposit_one());
    ids.push_back(f.deposit_one());
    auto late = f.client.get(f.server.url("/v1/audit/inclusion/" + ids.back()), f.auditor());
    CHECK(late.status == 404);
    CHECK(late.json()["type"] == "urn:sceau:problem:not-in-tree");
    CHECK(late.json()["leaf_index"] == 4);
    auto second = f.checkpoint();
    CHECK(second["tree_size"] == 5);
    auto c = f.client.get(f.server.url("/v1/audit/consistency?first=3&second=5"), f.auditor());
    REQUIRE(c.status == 200);
    CHECK(merkle::verify_consistency(3, 5, cp.root_hash, hash_of(second["root_hash"]),
                                     hashes_of(c.json()["consistency_path"])));
    // An older tree is still proven on request, against the first checkpoint.
    auto old =
        f.client.get(f.server.url("/v1/audit/inclusion/" + ids[1] + "?tree_size=3"), f.auditor());
    REQUIRE(old.status == 200);
    auto xml = f.client.get(f.server.url("/v1/evidence/" + ids[1]), f.auth()).body;
    CHECK(merkle::verify_inclusion(old.json()["leaf_index"].get<std::uint64_t>(), 3,
                                   merkle::leaf_hash(xml), hashes_of(old.json()["inclusion_path"]),
                                   cp.root_hash));

    // The entries, page by page: every record re-hashed, the root rebuilt.
    merkle::tree rebuilt;
    std::set<std::string> seen;
    for (int start = 0; start < 5; start += 2) {
        auto page = f.client.get(
            f.server.url("/v1/audit/entries?start=" + std::to_string(start) + "&count=2"),
            f.auditor());
        REQUIRE(page.status == 200);
        auto body = page.json();
        for (const auto& e : body["entries"]) {
            CHECK(e["leaf_index"] == rebuilt.size());
            auto leaf = merkle::leaf_hash(e["xml"].get<std::string>());
            CHECK(hash_of(e["leaf_hash"]) == leaf);
            CHECK(e["event"] == "SubmissionAcceptance");
            rebuilt.append(leaf);
            seen.insert(e["evidence_id"].get<std::string>());
        }
    }
    CHECK(rebuilt.size() == 5);
    CHECK(rebuilt.root() == hash_of(second["root_hash"]));
    CHECK(seen == std::set<std::string>(ids.begin(), ids.end()));
    auto beyond = f.client.get(f.server.url("/v1/audit/entries?start=5"), f.auditor());
    CHECK(beyond.json()["entries"].empty());
    CHECK(beyond.json()["tree_size"] == 5);
}

TEST_CASE("the audit routes need an auditor's key and refuse bad parameters",
          "[integration][audit]") {
    audit_fixture f;
    auto id = f.deposit_one();
    f.checkpoint();

    const std::string routes[] = {"/v1/audit/inclusion/" + id,
                                  "/v1/audit/consistency?first=1&second=1",
                                  "/v1/audit/entries?start=0"};
    for (const auto& route : routes) {
        INFO(route);
        auto none = f.client.get(f.server.url(route));
        CHECK(none.status == 401);
        CHECK(none.header("www-authenticate") == "Bearer");
        // A sender's key is not an auditor's key.
        CHECK(f.client.get(f.server.url(route), f.auth()).status == 401);
        CHECK(f.client.get(f.server.url(route), f.auditor()).status == 200);
    }
    // Nor is an auditor's key a sender's.
    CHECK(f.client.get(f.server.url("/v1/letters"), f.auditor()).status == 401);

    const std::string bad[] = {
        "/v1/audit/inclusion/" + id + "?tree_size=0",
        "/v1/audit/inclusion/" + id + "?tree_size=2",
        "/v1/audit/inclusion/" + id + "?tree_size=abc",
        "/v1/audit/inclusion/" + id + "?tree_size=1&tree_size=1",
        "/v1/audit/inclusion/" + id + "?size=1",
        "/v1/audit/consistency?first=1",
        "/v1/audit/consistency?first=2&second=1",
        "/v1/audit/consistency?first=1&second=2",
        "/v1/audit/consistency?first=-1&second=1",
        "/v1/audit/consistency?first=1&second=99999999999999999999",
        "/v1/audit/entries",
        "/v1/audit/entries?start=0&count=0",
        "/v1/audit/entries?start=0&count=101",
        "/v1/audit/entries?start=-1",
        "/v1/audit/entries?start=0x10",
    };
    for (const auto& route : bad) {
        INFO(route);
        auto r = f.client.get(f.server.url(route), f.auditor());
        CHECK(r.status == 400);
        CHECK(r.header("content-type") == "application/problem+json");
        CHECK(r.json()["type"] == "urn:sceau:problem:invalid-parameter");
    }
    auto unknown = f.client.get(f.server.url("/v1/audit/inclusion/evd_nope"), f.auditor());
    CHECK(unknown.status == 404);
    CHECK(unknown.json()["type"] == "urn:sceau:problem:not-found");
    auto huge =
        f.client.get(f.server.url("/v1/audit/inclusion/" + std::string(300, 'e')), f.auditor());
    CHECK(huge.status == 404);

    // Revoked, the key opens nothing; list shows it so.
    auto listed = sceau_cli(f, "auditor list --json");
    REQUIRE(listed.status == 0);
    auto auditors = nlohmann::json::parse(listed.out);
    REQUIRE(auditors.size() == 1);
    CHECK(auditors[0]["name"] == "Organisme de contrôle");
    CHECK(auditors[0]["revoked_at"].is_null());
    CHECK(listed.out.find(f.auditor_key) == std::string::npos);
    auto auditor_id = auditors[0]["id"].get<std::string>();
    CHECK(sceau_cli(f, "auditor revoke " + auditor_id).status == 0);
    CHECK(f.client.get(f.server.url(routes[0]), f.auditor()).status == 401);
    CHECK(sceau_cli(f, "auditor revoke aud_unknown").status == 1);

    // The key was never logged.
    CHECK(f.server.log().find(f.auditor_key) == std::string::npos);
    f.check_still_serving();
}

TEST_CASE("the scheduler checkpoints the log at its interval, only when it grew",
          "[integration][audit]") {
    deposit_fixture f("[lifecycle]\nworker_interval_seconds = 1\n"
                      "[audit]\ncheckpoint_interval_seconds = 1\n"
                      "origin = \"lettres.example/sceau-log\"\n");
    auto empty =
        sceau_cli(f, "checkpoint --config '" + (f.server.dir() / "sceau.toml").string() + "'");
    CHECK(empty.status == 0);
    CHECK(empty.out.empty()); // nothing to sign yet
    CHECK(empty.err.find("empty") != std::string::npos);

    REQUIRE(f.deposit(letter_lre, hostile("pdf/p00-positive-control.pdf")).status == 201);
    nlohmann::json latest;
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < until) {
        auto r = f.client.get(f.server.url("/v1/audit/checkpoint"));
        if (r.status == 200 && r.json()["tree_size"] >= 2) { // the deposit and its notice
            latest = r.json();
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    REQUIRE(latest.is_object());
    CHECK(latest["origin"] == "lettres.example/sceau-log");
    CHECK(crypto::note_verifier::from_verifier_key(latest["verifier_key"].get<std::string>())
              .open(latest["note"].get<std::string>())
              .rfind("lettres.example/sceau-log\n", 0) == 0);

    // Nothing new: the next rounds sign nothing more.
    std::this_thread::sleep_for(std::chrono::milliseconds(2500));
    auto again = f.client.get(f.server.url("/v1/audit/checkpoint")).json();
    CHECK(again["note"] == latest["note"]);
    CHECK(f.rows("log_checkpoints") <= 2); // the deposit's, perhaps one before its notice
}
