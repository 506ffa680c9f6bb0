#include "storage/migrations.hpp"

#include <iterator>
#include <span>

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

// Version 2: the lifecycle after deposit.
constexpr std::string_view lifecycle_columns[] = {
    "ALTER TABLE letters ADD COLUMN notified_at TEXT",
    "ALTER TABLE letters ADD COLUMN decided_at TEXT",
    "ALTER TABLE letters ADD COLUMN handed_over_at TEXT",
    "ALTER TABLE senders ADD COLUMN webhook_url TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE senders ADD COLUMN webhook_secret TEXT NOT NULL DEFAULT ''",
    // One account per address, whatever its case: see storage::email_key().
    "ALTER TABLE senders ADD COLUMN email_key TEXT",
    "CREATE UNIQUE INDEX senders_by_email_key ON senders (email_key)",
};

// Links given to recipients: only the hash of the token is kept.
constexpr std::string_view recipient_links_table = R"sql(
CREATE TABLE recipient_links (
    token_hash TEXT PRIMARY KEY,
    letter_id  TEXT NOT NULL REFERENCES letters(id),
    created_at TEXT NOT NULL
))sql";

// Mail to recipients waiting to leave: the durable queue of notices and reminders.
constexpr std::string_view mail_queue_table = R"sql(
CREATE TABLE mail_queue (
    id              TEXT PRIMARY KEY,
    letter_id       TEXT NOT NULL REFERENCES letters(id),
    purpose         TEXT NOT NULL,
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error      TEXT NOT NULL DEFAULT '',
    created_at      TEXT NOT NULL,
    sent_at         TEXT,
    UNIQUE (letter_id, purpose)
))sql";

constexpr std::string_view mail_queue_index =
    "CREATE INDEX mail_queue_due ON mail_queue (state, next_attempt_at)";

// A recipient's browser session on the pages of one letter.
constexpr std::string_view recipient_sessions_table = R"sql(
CREATE TABLE recipient_sessions (
    id_hash           TEXT PRIMARY KEY,
    letter_id         TEXT NOT NULL REFERENCES letters(id),
    csrf              TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    expires_at        TEXT NOT NULL,
    code_hash         TEXT NOT NULL DEFAULT '',
    code_expires_at   TEXT NOT NULL DEFAULT '',
    code_attempts     INTEGER NOT NULL DEFAULT 0,
    codes_sent        INTEGER NOT NULL DEFAULT 0,
    identified_method TEXT NOT NULL DEFAULT '',
    identified_loa    TEXT NOT NULL DEFAULT '',
    identified_by     TEXT NOT NULL DEFAULT '',
    identified_at     TEXT NOT NULL DEFAULT '',
    identity          TEXT NOT NULL DEFAULT ''
))sql";

// Identifications waiting for the identity provider's answer, and those that opened
// nothing.
constexpr std::string_view identification_tables[] = {
    R"sql(
CREATE TABLE identification_requests (
    id           TEXT PRIMARY KEY,
    session_hash TEXT NOT NULL,
    letter_id    TEXT NOT NULL REFERENCES letters(id),
    method       TEXT NOT NULL,
    secrets      TEXT NOT NULL DEFAULT '',
    required_loa TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    used_at      TEXT
))sql",
    R"sql(
CREATE TABLE identification_attempts (
    id        TEXT PRIMARY KEY,
    letter_id TEXT NOT NULL REFERENCES letters(id),
    method    TEXT NOT NULL,
    provider  TEXT NOT NULL,
    outcome   TEXT NOT NULL,
    asserted  TEXT NOT NULL,
    at        TEXT NOT NULL
))sql",
    "CREATE INDEX identification_attempts_by_letter ON identification_attempts (letter_id)",
};

// Evidence events for senders' webhooks: the durable delivery queue.
constexpr std::string_view webhook_queue_table = R"sql(
CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,
    sender_id       TEXT NOT NULL REFERENCES senders(id),
    letter_id       TEXT NOT NULL REFERENCES letters(id),
    evidence_id     TEXT NOT NULL REFERENCES evidence(id),
    payload         TEXT NOT NULL,
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_status     INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT NOT NULL DEFAULT '',
    created_at      TEXT NOT NULL,
    delivered_at    TEXT
))sql";

constexpr std::string_view webhook_queue_index =
    "CREATE INDEX webhook_due ON webhook_deliveries (state, next_attempt_at)";

// The timeline reads a letter's deliveries; codes are counted per letter; expired
// sessions are swept.
constexpr std::string_view lifecycle_indexes[] = {
    "CREATE INDEX webhook_by_letter ON webhook_deliveries (letter_id)",
    "CREATE INDEX sessions_by_letter ON recipient_sessions (letter_id, created_at)",
    "CREATE INDEX sessions_by_expiry ON recipient_sessions (expires_at)",
};

constexpr std::string_view letters_deadline_index =
    "CREATE INDEX letters_by_deadline ON letters (status, accept_deadline)";

// Version 4: links that let a lawyer fetch a letter's proof bundle, every use of them, and
// the documents that retention removed (their digests and evidence stay).
constexpr std::string_view sharing_and_retention[] = {
    R"sql(
CREATE TABLE shares (
    id         TEXT PRIMARY KEY,
    letter_id  TEXT NOT NULL REFERENCES letters(id),
    token_hash TEXT NOT NULL UNIQUE,
    label      TEXT NOT NULL DEFAULT '',
    documents  INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    revoked_at TEXT
))sql", "CREATE INDEX shares_by_letter ON shares (letter_id, created_at)",
    R"sql(
CREATE TABLE share_accesses (
    id       TEXT PRIMARY KEY,
    share_id TEXT NOT NULL REFERENCES shares(id),
    at       TEXT NOT NULL,
    outcome  TEXT NOT NULL,
    client   TEXT NOT NULL DEFAULT ''
))sql", "CREATE INDEX share_accesses_by_share ON share_accesses (share_id, at)",
    R"sql(
CREATE TABLE document_purges (
    letter_id      TEXT NOT NULL REFERENCES letters(id),
    position       INTEGER NOT NULL,
    sha256         TEXT NOT NULL,
    purged_at      TEXT NOT NULL,
    retention_days INTEGER NOT NULL,
    PRIMARY KEY (letter_id, position)
))sql",
};

// Version 3: the transparency log of evidence records (docs/audit.md) and the auditors
// who read it. Hashes are lower-case hex. Only complete subtrees are stored (level 1 and
// up; the leaves are level 0), so that none ever changes.
constexpr std::string_view sqlite_log_entries_table = R"sql(
CREATE TABLE log_entries (
    leaf_index  INTEGER PRIMARY KEY,
    evidence_id TEXT NOT NULL UNIQUE REFERENCES evidence(id),
    leaf_hash   TEXT NOT NULL
))sql";

constexpr std::string_view postgresql_log_entries_table = R"sql(
CREATE TABLE log_entries (
    leaf_index  BIGINT PRIMARY KEY,
    evidence_id TEXT NOT NULL UNIQUE REFERENCES evidence(id),
    leaf_hash   TEXT NOT NULL
))sql";

constexpr std::string_view log_tables[] = {
    R"sql(
CREATE TABLE log_subtrees (
    level INTEGER NOT NULL,
    idx   BIGINT NOT NULL,
    hash  TEXT NOT NULL,
    PRIMARY KEY (level, idx)
))sql",
    R"sql(
CREATE TABLE log_checkpoints (
    tree_size       BIGINT PRIMARY KEY,
    root_hash       TEXT NOT NULL,
    note            TEXT NOT NULL,
    timestamp_token TEXT NOT NULL,
    stamped_at      TEXT NOT NULL,
    created_at      TEXT NOT NULL
))sql",
    R"sql(
CREATE TABLE auditors (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    api_key_hash TEXT NOT NULL UNIQUE,
    created_at   TEXT NOT NULL,
    revoked_at   TEXT
))sql",
};

// The log's guards: leaves only at the next index, subtrees only once complete,
// checkpoints only growing, and nothing of it ever updated or deleted.
constexpr std::string_view sqlite_log_guard[] = {
    R"sql(CREATE TRIGGER log_entries_in_order BEFORE INSERT ON log_entries
          WHEN NEW.leaf_index IS NOT COALESCE((SELECT MAX(leaf_index) + 1 FROM log_entries), 0)
          BEGIN SELECT RAISE(ABORT, 'log entries take the next leaf index'); END)sql",
    R"sql(CREATE TRIGGER log_entries_no_update BEFORE UPDATE ON log_entries
          BEGIN SELECT RAISE(ABORT, 'the log is append-only'); END)sql",
    R"sql(CREATE TRIGGER log_entries_no_delete BEFORE DELETE ON log_entries
          BEGIN SELECT RAISE(ABORT, 'the log is append-only'); END)sql",
    R"sql(CREATE TRIGGER log_subtrees_complete BEFORE INSERT ON log_subtrees
          WHEN NEW.level < 1 OR NEW.level > 62 OR NEW.idx < 0 OR (NEW.idx + 1) << NEW.level >
               COALESCE((SELECT MAX(leaf_index) + 1 FROM log_entries), 0)
          BEGIN SELECT RAISE(ABORT, 'only complete subtrees of the log are stored'); END)sql",
    R"sql(CREATE TRIGGER log_subtrees_no_update BEFORE UPDATE ON log_subtrees
          BEGIN SELECT RAISE(ABORT, 'the log is append-only'); END)sql",
    R"sql(CREATE TRIGGER log_subtrees_no_delete BEFORE DELETE ON log_subtrees
          BEGIN SELECT RAISE(ABORT, 'the log is append-only'); END)sql",
    R"sql(CREATE TRIGGER log_checkpoints_grow BEFORE INSERT ON log_checkpoints
          WHEN NEW.tree_size <= COALESCE((SELECT MAX(tree_size) FROM log_checkpoints), 0)
            OR NEW.tree_size > COALESCE((SELECT MAX(leaf_index) + 1 FROM log_entries), 0)
          BEGIN SELECT RAISE(ABORT, 'checkpoints grow with the log'); END)sql",
    R"sql(CREATE TRIGGER log_checkpoints_no_update BEFORE UPDATE ON log_checkpoints
          BEGIN SELECT RAISE(ABORT, 'the log is append-only'); END)sql",
    R"sql(CREATE TRIGGER log_checkpoints_no_delete BEFORE DELETE ON log_checkpoints
          BEGIN SELECT RAISE(ABORT, 'the log is append-only'); END)sql",
};

constexpr std::string_view postgresql_log_guard[] = {
    R"sql(CREATE FUNCTION sceau_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$)sql",
    R"sql(CREATE FUNCTION sceau_log_entry_in_order() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN
            IF NEW.leaf_index IS DISTINCT FROM
               (SELECT COALESCE(MAX(leaf_index) + 1, 0) FROM log_entries) THEN
              RAISE EXCEPTION 'log entries take the next leaf index';
            END IF;
            RETURN NEW;
          END $$)sql",
    R"sql(CREATE FUNCTION sceau_log_subtree_complete() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN
            IF NEW.level < 1 OR NEW.level > 62 OR NEW.idx < 0 OR (NEW.idx + 1) << NEW.level >
               (SELECT COALESCE(MAX(leaf_index) + 1, 0) FROM log_entries) THEN
              RAISE EXCEPTION 'only complete subtrees of the log are stored';
            END IF;
            RETURN NEW;
          END $$)sql",
    R"sql(CREATE FUNCTION sceau_log_checkpoint_grows() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN
            IF NEW.tree_size <= (SELECT COALESCE(MAX(tree_size), 0) FROM log_checkpoints)
               OR NEW.tree_size > (SELECT COALESCE(MAX(leaf_index) + 1, 0) FROM log_entries)
            THEN
              RAISE EXCEPTION 'checkpoints grow with the log';
            END IF;
            RETURN NEW;
          END $$)sql",
    R"sql(CREATE TRIGGER log_entries_in_order BEFORE INSERT ON log_entries
          FOR EACH ROW EXECUTE FUNCTION sceau_log_entry_in_order())sql",
    R"sql(CREATE TRIGGER log_subtrees_complete BEFORE INSERT ON log_subtrees
          FOR EACH ROW EXECUTE FUNCTION sceau_log_subtree_complete())sql",
    R"sql(CREATE TRIGGER log_checkpoints_grow BEFORE INSERT ON log_checkpoints
          FOR EACH ROW EXECUTE FUNCTION sceau_log_checkpoint_grows())sql",
    R"sql(CREATE TRIGGER log_entries_append_only BEFORE UPDATE OR DELETE ON log_entries
          FOR EACH ROW EXECUTE FUNCTION sceau_log_append_only())sql",
    R"sql(CREATE TRIGGER log_subtrees_append_only BEFORE UPDATE OR DELETE ON log_subtrees
          FOR EACH ROW EXECUTE FUNCTION sceau_log_append_only())sql",
    R"sql(CREATE TRIGGER log_checkpoints_append_only BEFORE UPDATE OR DELETE ON log_checkpoints
          FOR EACH ROW EXECUTE FUNCTION sceau_log_append_only())sql",
    // TRUNCATE fires no row trigger: refused by statement triggers, evidence included.
    R"sql(CREATE TRIGGER evidence_no_truncate BEFORE TRUNCATE ON evidence
          FOR EACH STATEMENT EXECUTE FUNCTION sceau_log_append_only())sql",
    R"sql(CREATE TRIGGER log_entries_no_truncate BEFORE TRUNCATE ON log_entries
          FOR EACH STATEMENT EXECUTE FUNCTION sceau_log_append_only())sql",
    R"sql(CREATE TRIGGER log_subtrees_no_truncate BEFORE TRUNCATE ON log_subtrees
          FOR EACH STATEMENT EXECUTE FUNCTION sceau_log_append_only())sql",
    R"sql(CREATE TRIGGER log_checkpoints_no_truncate BEFORE TRUNCATE ON log_checkpoints
          FOR EACH STATEMENT EXECUTE FUNCTION sceau_log_append_only())sql",
};

// Assertion IDs an eIDAS node's answers used, by a hash of issuer and ID, until they
// expire: shared by every instance, so that an answer serves once across all of them.
constexpr std::string_view saml_replays[] = {
    R"sql(
CREATE TABLE saml_replays (
    key        TEXT PRIMARY KEY,
    keep_until TEXT NOT NULL
))sql",
    "CREATE INDEX saml_replays_by_expiry ON saml_replays (keep_until)",
};

std::vector<std::string_view> transparency_log(std::string_view entries,
                                               std::span<const std::string_view> guard) {
    std::vector<std::string_view> out = {entries};
    out.insert(out.end(), std::begin(log_tables), std::end(log_tables));
    out.insert(out.end(), guard.begin(), guard.end());
    return out;
}

} // namespace

const std::vector<migration>& migrations() {
    // The same statements on both backends.
    static const std::vector<std::string_view> lifecycle = {
        lifecycle_columns[0],     lifecycle_columns[1],     lifecycle_columns[2],
        lifecycle_columns[3],     lifecycle_columns[4],     lifecycle_columns[5],
        lifecycle_columns[6],     recipient_links_table,    mail_queue_table,
        mail_queue_index,         recipient_sessions_table, webhook_queue_table,
        webhook_queue_index,      letters_deadline_index,   lifecycle_indexes[0],
        lifecycle_indexes[1],     lifecycle_indexes[2],     identification_tables[0],
        identification_tables[1], identification_tables[2]};
    static const std::vector<std::string_view> sharing(std::begin(sharing_and_retention),
                                                       std::end(sharing_and_retention));
    static const std::vector<std::string_view> replays(std::begin(saml_replays),
                                                       std::end(saml_replays));
    static const std::vector<migration> all = {
        {1,
         "senders, letters, documents, blobs, evidence, idempotency keys",
         {senders_table, letters_table, letters_index, blobs_table, documents_table, evidence_table,
          evidence_index, idempotency_table, sqlite_evidence_guard[0], sqlite_evidence_guard[1]},
         {senders_table, letters_table, letters_index, blobs_table, documents_table, evidence_table,
          evidence_index, idempotency_table, postgresql_evidence_guard[0],
          postgresql_evidence_guard[1]}},
        {2, "lifecycle: notification queue, recipient links and sessions, identification, webhooks",
         lifecycle, lifecycle},
        {3, "transparency log: leaves, complete subtrees, checkpoints; auditors",
         transparency_log(sqlite_log_entries_table, sqlite_log_guard),
         transparency_log(postgresql_log_entries_table, postgresql_log_guard)},
        {4, "share links to proof bundles and their accesses, document purges", sharing, sharing},
        {5, "the assertion IDs eIDAS answers used, for every instance", replays, replays},
    };
    return all;
}

} // namespace sceau::storage
