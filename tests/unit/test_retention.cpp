// Retention: documents' bytes purged after their time, never before a year; the purge
// recorded; evidence, digests and the log kept. Runs on the suite's backend.

#include "crypto/encoding.hpp"
#include "crypto/sha256.hpp"
#include "crypto/xml.hpp"
#include "gateway/config.hpp"
#include "protocols/retention.hpp"
#include "support/database_fixture.hpp"

#include <catch2/catch.hpp>

using namespace sceau;

namespace {

struct retention_fixture {
    test::test_database store;
    std::unique_ptr<storage::database> db = store.open();
    test::temp_dir dir;
    storage::blob_store blobs{dir / "blobs"};
    std::chrono::system_clock::time_point now = crypto::parse_utc("2029-06-01T12:00:00.000Z");

    retention_fixture() {
        db->insert_sender(
            {"snd_r", "R", "r@example.org", "", "test", "2026-01-01T00:00:00.000Z", "", "", ""},
            "hash-r");
    }

    /// Stores `bytes` and a letter deposited at `at` holding them; returns their digest.
    std::string letter(const std::string& id, const std::string& at, const std::string& bytes) {
        auto sha = crypto::to_hex(crypto::sha256::of(bytes));
        auto w = blobs.create();
        w.write(bytes);
        blobs.publish(w, sha);
        storage::letter_record l;
        l.id = id;
        l.sender_id = "snd_r";
        l.kind = "ere";
        l.status = "deposited";
        l.created_at = at;
        l.recipient_json = "{}";
        auto tx = db->begin();
        tx.insert_letter(l);
        tx.insert_blob({sha, static_cast<std::int64_t>(bytes.size())}, at);
        tx.insert_document(id, {1, "a.pdf", "application/pdf",
                                static_cast<std::int64_t>(bytes.size()), sha, "", true, ""});
        tx.insert_evidence({"evd_" + id, id, "SubmissionAcceptance", at, at, "<x>" + id + "</x>"});
        tx.commit();
        blobs.release(sha, true, true);
        return sha;
    }

    protocols::retention keeping(int days) {
        return protocols::retention(*db, blobs, days, [this] { return now; });
    }
};

} // namespace

TEST_CASE("a retention of documents below a year is refused", "[retention][config]") {
    test::temp_dir dir;
    test::write_file(dir / "short.toml", "[retention]\ndocuments_days = 364\n");
    CHECK_THROWS_AS(gateway::config::load(dir / "short.toml"), gateway::config_error);
    test::write_file(dir / "year.toml", "[retention]\ndocuments_days = 365\npurge_batch = 7\n");
    auto c = gateway::config::load(dir / "year.toml");
    CHECK(c.retention.documents_days == 365);
    CHECK(c.retention.purge_batch == 7);
    CHECK(gateway::config::defaults().retention.documents_days == 3650);

    retention_fixture f;
    CHECK_THROWS_AS(f.keeping(364), std::invalid_argument);
}

TEST_CASE("documents past their retention are purged and recorded, evidence and digests stay",
          "[retention][storage]") {
    retention_fixture f;
    auto old_only = f.letter("ltr_old", "2027-01-10T09:00:00.000Z", "%PDF old letter");
    auto shared = f.letter("ltr_old2", "2027-02-10T09:00:00.000Z", "%PDF shared bytes");
    f.letter("ltr_new", "2029-05-01T09:00:00.000Z", "%PDF shared bytes"); // still kept
    auto evidence_before = f.db->count("evidence");
    auto log_before = f.db->log_size();

    auto r = f.keeping(730); // two years: only the letters of 2027 are past it
    CHECK(r.purge_due() == 1);

    CHECK(!f.blobs.exists(old_only));
    CHECK(f.blobs.exists(shared)); // a letter still within its retention holds the same bytes
    auto purged = f.db->letter_by_id("ltr_old");
    REQUIRE(purged);
    REQUIRE(purged->documents.size() == 1);
    CHECK(purged->documents[0].purged_at == "2029-06-01T12:00:00.000Z");
    CHECK(purged->documents[0].sha256 == old_only); // the digest stays
    CHECK(f.db->letter_by_id("ltr_old2")->documents[0].purged_at.empty());
    CHECK(f.db->count("document_purges") == 1);
    CHECK(f.db->count("evidence") == evidence_before);
    CHECK(f.db->log_size() == log_before);

    // Done once: a second run finds nothing more.
    CHECK(r.purge_due() == 0);
    CHECK(f.db->count("document_purges") == 1);

    // Later, the shared bytes' last letter passes its retention too.
    f.now = crypto::parse_utc("2031-06-01T12:00:00.000Z");
    CHECK(r.purge_due() == 1);
    CHECK(!f.blobs.exists(shared));
    CHECK(f.db->count("document_purges") == 3); // both documents that held them
}
