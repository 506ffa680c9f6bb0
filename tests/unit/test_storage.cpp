#include "storage/blob_store.hpp"
#include "storage/database.hpp"
#include "storage/migrations.hpp"
#include "support/database_fixture.hpp"
#include "support/fixtures.hpp"

#include <catch2/catch.hpp>

using namespace sceau;
using storage::database;

namespace {

/// A migrated store on the run's backend (support/database_fixture.hpp) with two senders.
struct store_fixture {
    test::test_database store;
    std::unique_ptr<database> db = store.open();

    store_fixture() {
        db->insert_sender(
            {"snd_a", "A", "a@example.org", "", "test", "2026-01-01T00:00:00.000Z", "", "", ""},
            "hash-a");
        db->insert_sender(
            {"snd_b", "B", "b@example.org", "", "test", "2026-01-01T00:00:00.000Z", "", "", ""},
            "hash-b");
    }

    storage::letter_record letter(const std::string& id, const std::string& sender,
                                  const std::string& at) {
        storage::letter_record l;
        l.id = id;
        l.sender_id = sender;
        l.kind = "ere";
        l.status = "deposited";
        l.created_at = at;
        l.recipient_json = "{}";
        return l;
    }

    void deposit(const std::string& id, const std::string& sender, const std::string& at) {
        auto tx = db->begin();
        tx.insert_letter(letter(id, sender, at));
        tx.insert_document(id,
                           {1, "a.pdf", "application/pdf", 3, std::string(64, 'a'), "", true, ""});
        tx.insert_evidence({"evd_" + id, id, "SubmissionAcceptance", at, at, "<x/>"});
        tx.commit();
    }
};

} // namespace

TEST_CASE("migrations run once and record the schema version", "[storage]") {
    store_fixture f;
    auto latest = storage::migrations().back().version;
    CHECK(f.db->schema_version() == latest);
    CHECK(f.db->migrate() == latest); // a second start changes nothing
    CHECK(f.db->count("senders") == 2);
}

TEST_CASE("a committed transaction is visible with its documents and evidence", "[storage]") {
    store_fixture f;
    f.deposit("ltr_1", "snd_a", "2026-12-03T10:00:00.000Z");
    auto l = f.db->letter("snd_a", "ltr_1");
    REQUIRE(l);
    CHECK(l->documents.size() == 1);
    CHECK(l->documents[0].name == "a.pdf");
    REQUIRE(l->evidence.size() == 1);
    CHECK(l->evidence[0].id == "evd_ltr_1");
    CHECK(f.db->evidence("snd_a", "evd_ltr_1")->xml == "<x/>");
}

TEST_CASE("an uncommitted transaction leaves nothing", "[storage]") {
    store_fixture f;
    {
        auto tx = f.db->begin();
        tx.insert_letter(f.letter("ltr_gone", "snd_a", "2026-12-03T10:00:00.000Z"));
        tx.insert_evidence({"evd_gone", "ltr_gone", "SubmissionAcceptance", "t", "t", "<x/>"});
    }
    CHECK(f.db->count("letters") == 0);
    CHECK(f.db->count("evidence") == 0);
}

TEST_CASE("a failing statement rolls the whole transaction back", "[storage]") {
    store_fixture f;
    f.deposit("ltr_1", "snd_a", "2026-12-03T10:00:00.000Z");
    try {
        auto tx = f.db->begin();
        tx.insert_letter(f.letter("ltr_2", "snd_a", "2026-12-03T11:00:00.000Z"));
        tx.insert_evidence({"evd_ltr_1", "ltr_2", "x", "t", "t", "<y/>"}); // duplicate id
        tx.commit();
        FAIL("the duplicate evidence id was accepted");
    } catch (const storage::storage_error& e) {
        CHECK(e.which() == storage::storage_error::kind::conflict);
    }
    CHECK(f.db->count("letters") == 1);
    CHECK(!f.db->letter("snd_a", "ltr_2"));
}

TEST_CASE("rows are scoped to their sender", "[storage]") {
    store_fixture f;
    f.deposit("ltr_1", "snd_a", "2026-12-03T10:00:00.000Z");
    CHECK(!f.db->letter("snd_b", "ltr_1"));
    CHECK(!f.db->evidence("snd_b", "evd_ltr_1"));
    CHECK(f.db->letters("snd_b", {}).letters.empty());
}

TEST_CASE("letters page newest first with a cursor, ties broken by id", "[storage]") {
    store_fixture f;
    f.deposit("ltr_a", "snd_a", "2026-12-03T10:00:00.000Z");
    f.deposit("ltr_b", "snd_a", "2026-12-03T10:00:00.000Z"); // same millisecond
    f.deposit("ltr_c", "snd_a", "2026-12-03T11:00:00.000Z");
    storage::letter_filter filter;
    filter.limit = 2;
    auto first = f.db->letters("snd_a", filter);
    REQUIRE(first.letters.size() == 2);
    CHECK(first.letters[0].id == "ltr_c");
    CHECK(first.letters[1].id == "ltr_b");
    REQUIRE(!first.next_cursor.empty());
    filter.after = first.next_cursor;
    auto second = f.db->letters("snd_a", filter);
    REQUIRE(second.letters.size() == 1);
    CHECK(second.letters[0].id == "ltr_a");
    CHECK(second.next_cursor.empty());

    filter.after = "not-a-cursor";
    CHECK_THROWS_AS(f.db->letters("snd_a", filter), std::invalid_argument);
}

TEST_CASE("evidence can be neither changed nor deleted", "[storage][append-only]") {
    store_fixture f;
    f.deposit("ltr_1", "snd_a", "2026-12-03T10:00:00.000Z");
    // Through the backend's own client (sqlite3 or psql), not our code.
    auto changed = f.store.sql("UPDATE evidence SET xml = '<forged/>'");
    CHECK(changed.status != 0);
    CHECK(changed.output.find("append-only") != std::string::npos);
    auto removed = f.store.sql("DELETE FROM evidence");
    CHECK(removed.status != 0);
    CHECK(f.db->evidence("snd_a", "evd_ltr_1")->xml == "<x/>");
}

TEST_CASE("an idempotency key is unique per sender", "[storage][idempotency]") {
    store_fixture f;
    f.deposit("ltr_1", "snd_a", "2026-12-03T10:00:00.000Z");
    f.deposit("ltr_2", "snd_b", "2026-12-03T10:00:00.000Z");
    {
        auto tx = f.db->begin();
        tx.insert_idempotency({"snd_a", "k1", "fp", "ltr_1"}, "t");
        tx.insert_idempotency({"snd_b", "k1", "fp", "ltr_2"}, "t");
        tx.commit();
    }
    auto tx = f.db->begin();
    CHECK_THROWS_AS(tx.insert_idempotency({"snd_a", "k1", "other", "ltr_1"}, "t"),
                    storage::storage_error);
    CHECK(f.db->idempotency("snd_a", "k1")->letter_id == "ltr_1");
}

TEST_CASE("revoking a sender is recorded once", "[storage][senders]") {
    store_fixture f;
    CHECK(f.db->sender_by_key_hash("hash-a")->revoked_at.empty());
    CHECK(f.db->revoke_sender("snd_a", "2026-12-03T12:00:00.000Z"));
    CHECK(!f.db->revoke_sender("snd_a", "2026-12-04T12:00:00.000Z"));
    CHECK(f.db->sender_by_key_hash("hash-a")->revoked_at == "2026-12-03T12:00:00.000Z");
    CHECK(!f.db->sender_by_key_hash("nope"));
}

TEST_CASE("blobs are stored by digest and unpublished files vanish", "[storage][blobs]") {
    test::temp_dir dir;
    storage::blob_store blobs(dir / "blobs");
    std::string sha(64, 'c');
    {
        auto w = blobs.create();
        w.write(std::string_view("hello"));
        CHECK(w.size() == 5);
        blobs.publish(w, sha);
    }
    CHECK(blobs.exists(sha));
    CHECK(test::read_file(blobs.path_of(sha)) == "hello");

    {
        auto abandoned = blobs.create();
        abandoned.write(std::string_view("partial"));
    }
    CHECK(std::filesystem::is_empty(dir / "blobs" / "tmp"));

    // A deposit that failed before commit removes what it alone published...
    blobs.release(sha, false, false);
    CHECK(!blobs.exists(sha));

    // ...but never bytes that a committed row names.
    auto again = blobs.create();
    again.write(std::string_view("hello"));
    blobs.publish(again, sha);
    blobs.release(sha, false, true);
    CHECK(blobs.exists(sha));

    CHECK_THROWS_AS(blobs.path_of("../../etc/passwd"), std::invalid_argument);
}

TEST_CASE("a blob published by two deposits survives the failure of one", "[storage][blobs]") {
    test::temp_dir dir;
    storage::blob_store blobs(dir / "blobs");
    std::string sha(64, 'd');
    auto a = blobs.create();
    a.write(std::string_view("same"));
    auto b = blobs.create();
    b.write(std::string_view("same"));
    blobs.publish(a, sha);
    blobs.publish(b, sha);
    blobs.release(sha, false, false); // a failed while b is still in flight
    CHECK(blobs.exists(sha));
    blobs.release(sha, true, true); // b committed
    CHECK(blobs.exists(sha));
}

TEST_CASE("an identification request is taken once, by its own method, and not after it expired",
          "[storage]") {
    store_fixture f;
    f.deposit("ltr_1", "snd_a", "2026-12-03T10:00:00.000Z");
    storage::identification_request r{"_req-1",
                                      "session-hash",
                                      "ltr_1",
                                      "saml",
                                      "{}",
                                      "http://eidas.europa.eu/LoA/substantial",
                                      "2026-12-03T10:00:00.000Z",
                                      "2026-12-03T10:10:00.000Z"};
    f.db->insert_identification_request(r);
    r.id = "_req-2";
    f.db->insert_identification_request(r);

    CHECK_FALSE(
        f.db->take_identification_request("_req-unknown", "saml", "2026-12-03T10:01:00.000Z"));
    // Another method's answer naming it finds nothing, and leaves it as it was.
    CHECK_FALSE(f.db->take_identification_request("_req-1", "oidc", "2026-12-03T10:01:00.000Z"));
    auto taken = f.db->take_identification_request("_req-1", "saml", "2026-12-03T10:01:00.000Z");
    REQUIRE(taken);
    CHECK(taken->session_hash == "session-hash");
    CHECK(taken->letter_id == "ltr_1");
    CHECK(taken->required_loa == "http://eidas.europa.eu/LoA/substantial");
    // A replayed answer finds nothing: the request was used.
    CHECK_FALSE(f.db->take_identification_request("_req-1", "saml", "2026-12-03T10:02:00.000Z"));
    // An answer after the request's lifetime finds nothing either.
    CHECK_FALSE(f.db->take_identification_request("_req-2", "saml", "2026-12-03T10:10:00.000Z"));

    // Expired requests, taken or not, are swept; a live one stays.
    r.id = "_req-3";
    r.expires_at = "2026-12-03T10:30:00.000Z";
    f.db->insert_identification_request(r);
    CHECK(f.db->delete_expired_identification_requests("2026-12-03T10:20:00.000Z") == 2);
    CHECK(f.db->take_identification_request("_req-3", "saml", "2026-12-03T10:20:00.000Z"));

    f.db->insert_identification_attempt({"ida_1", "ltr_1", "saml", "https://node.example", "review",
                                         "[]", "2026-12-03T10:01:00.000Z"});
    auto attempts = f.db->identification_attempts("ltr_1");
    REQUIRE(attempts.size() == 1);
    CHECK(attempts[0].outcome == "review");
}

TEST_CASE("the start-up sweep removes dead uploads and leaves live ones", "[storage][blobs]") {
    test::temp_dir dir;
    storage::blob_store blobs(dir / "blobs");
    auto live = blobs.create();
    live.write(std::string_view("still arriving"));
    auto dead = dir / "blobs" / "tmp" / "left-by-a-crash";
    test::write_file(dead, "partial");
    std::filesystem::last_write_time(dead, std::filesystem::file_time_type::clock::now() -
                                               std::chrono::hours(2));

    blobs.sweep_temporary(std::chrono::hours(1));
    CHECK_FALSE(std::filesystem::exists(dead));
    CHECK(std::filesystem::exists(live.path())); // another instance's upload in progress
}

TEST_CASE("the operational figures count letters by status, overdue ones, queues and the log",
          "[storage][metrics]") {
    store_fixture f;
    auto empty = f.db->operational("2026-12-04T00:00:00.000Z", "2026-12-03T00:00:00.000Z");
    CHECK(empty.letters_by_status.empty());
    CHECK(empty.log_entries == 0);
    CHECK(empty.checkpoint_stamped_at.empty());

    f.deposit("ltr_1", "snd_a", "2026-11-01T10:00:00.000Z");
    f.deposit("ltr_2", "snd_b", "2026-11-01T11:00:00.000Z");
    for (auto [id, deadline] : {std::pair{"ltr_late", "2026-12-02T23:00:00.000Z"},
                                std::pair{"ltr_today", "2026-12-03T12:00:00.000Z"}}) {
        auto tx = f.db->begin();
        auto l = f.letter(id, "snd_a", "2026-11-15T10:00:00.000Z");
        l.status = "notified";
        l.accept_deadline = deadline;
        tx.insert_letter(l);
        tx.insert_evidence({std::string("evd_") + id, id, "NotificationForAcceptance",
                            "2026-11-16T10:00:00.000Z", "2026-11-16T10:00:00.000Z", "<x/>"});
        storage::mail_job due{"mail_" + std::string(id),  id, "reminder", "pending", 0,
                              "2026-12-01T00:00:00.000Z", "", ""};
        storage::mail_job later = due;
        later.id += "_later";
        later.purpose = "notice";
        later.next_attempt_at = "2026-12-10T00:00:00.000Z";
        tx.insert_mail_job(due, "2026-11-16T10:00:00.000Z");
        tx.insert_mail_job(later, "2026-11-16T10:00:00.000Z");
        tx.commit();
    }

    auto figures = f.db->operational("2026-12-04T00:00:00.000Z", "2026-12-03T00:00:00.000Z");
    using status_count = std::pair<std::string, std::int64_t>;
    CHECK(figures.letters_by_status ==
          std::vector<status_count>{{"deposited", 2}, {"notified", 2}});
    CHECK(figures.letters_overdue == 1); // only the one whose deadline passed a day ago
    CHECK(figures.mail_pending == 4);
    CHECK(figures.mail_due == 2);
    CHECK(figures.webhooks_pending == 0);
    CHECK(figures.log_entries == 4);
}
