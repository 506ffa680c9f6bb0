#include "storage/migrations.hpp"

namespace sceau::storage {
namespace {

// Tables shared by both backends: portable SQL only.
constexpr std::string_view senders_table = R"sql(
CREATE TABLE senders (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    email         TEXT NOT NULL,
    company       TEXT NOT NULL DEFAULT '',
    identified_by TEXT NOT NULL,
    api_key_hash  TEXT NOT NULL UNIQUE,
    created_at    TEXT NOT NULL,
    revoked_at    TEXT
))sql";

constexpr std::string_view letters_table = R"sql(
CREATE TABLE letters (
    id                TEXT PRIMARY KEY,
    sender_id         TEXT NOT NULL REFERENCES senders(id),
    kind              TEXT NOT NULL,
    status            TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    reference         TEXT NOT NULL DEFAULT '',
    subject           TEXT NOT NULL DEFAULT '',
    recipient         TEXT NOT NULL,
    consent_reference TEXT NOT NULL DEFAULT '',
    accept_deadline   TEXT,
    qualified         INTEGER NOT NULL
))sql";

constexpr std::string_view letters_index =
    "CREATE INDEX letters_by_sender ON letters (sender_id, created_at, id)";

constexpr std::string_view blobs_table = R"sql(
CREATE TABLE blobs (
    sha256    TEXT PRIMARY KEY,
    size      BIGINT NOT NULL,
    stored_at TEXT NOT NULL,
    purged_at TEXT
))sql";

constexpr std::string_view documents_table = R"sql(
CREATE TABLE documents (
    letter_id  TEXT NOT NULL REFERENCES letters(id),
    position   INTEGER NOT NULL,
    name       TEXT NOT NULL,
    media_type TEXT NOT NULL,
    size       BIGINT NOT NULL,
    sha256     TEXT NOT NULL,
    flags      TEXT NOT NULL DEFAULT '',
    stored     INTEGER NOT NULL,
    PRIMARY KEY (letter_id, position)
))sql";

constexpr std::string_view evidence_table = R"sql(
CREATE TABLE evidence (
    id         TEXT PRIMARY KEY,
    letter_id  TEXT NOT NULL REFERENCES letters(id),
    event      TEXT NOT NULL,
    event_time TEXT NOT NULL,
    created_at TEXT NOT NULL,
    xml        TEXT NOT NULL
))sql";

constexpr std::string_view evidence_index =
    "CREATE INDEX evidence_by_letter ON evidence (letter_id, created_at)";

constexpr std::string_view idempotency_table = R"sql(
CREATE TABLE idempotency_keys (
    sender_id   TEXT NOT NULL REFERENCES senders(id),
    key         TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    letter_id   TEXT NOT NULL REFERENCES letters(id),
    created_at  TEXT NOT NULL,
    PRIMARY KEY (sender_id, key)
))sql";

// Evidence is append-only: no code path may change or remove a record.
constexpr std::string_view sqlite_evidence_guard[] = {
    R"sql(CREATE TRIGGER evidence_no_update BEFORE UPDATE ON evidence
          BEGIN SELECT RAISE(ABORT, 'evidence is append-only'); END)sql",
    R"sql(CREATE TRIGGER evidence_no_delete BEFORE DELETE ON evidence
          BEGIN SELECT RAISE(ABORT, 'evidence is append-only'); END)sql",
};

constexpr std::string_view postgresql_evidence_guard[] = {
    R"sql(CREATE FUNCTION sceau_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN RAISE EXCEPTION 'evidence is append-only'; END $$)sql",
    R"sql(CREATE TRIGGER evidence_append_only BEFORE UPDATE OR DELETE ON evidence
          FOR EACH ROW EXECUTE FUNCTION sceau_append_only())sql",
};

} // namespace

const std::vector<migration>& migrations() {
    static const std::vector<migration> all = {
        {1,
         "senders, letters, documents, blobs, evidence, idempotency keys",
         {senders_table, letters_table, letters_index, blobs_table, documents_table, evidence_table,
          evidence_index, idempotency_table, sqlite_evidence_guard[0], sqlite_evidence_guard[1]},
         {senders_table, letters_table, letters_index, blobs_table, documents_table, evidence_table,
          evidence_index, idempotency_table, postgresql_evidence_guard[0],
          postgresql_evidence_guard[1]}},
    };
    return all;
}

} // namespace sceau::storage
