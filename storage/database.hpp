#pragma once

#include "storage/records.hpp"

#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace soci {
class connection_pool;
class session;
} // namespace soci

namespace sceau::storage {

/// A store failure, by kind, so that callers map it to an answer (503, 409, 404).
/// The form in which accounts are linked by e-mail address, and unique on: trimmed, then
/// lower-cased as ASCII in both parts. Mail goes to the address as given. Look-alike
/// characters are not folded: "exampIe.test" and "example.test" are different addresses.
std::string email_key(std::string_view address);

class storage_error : public std::runtime_error {
public:
    enum class kind { unavailable, conflict, corrupt };

    storage_error(kind k, const std::string& what)
        : std::runtime_error(what)
        , kind_(k) {}

    kind which() const noexcept { return kind_; }

private:
    kind kind_;
};

struct letter_filter {
    std::string status;
    std::string reference;
    std::string after; ///< opaque cursor from a previous page
    int limit = 50;
};

struct letter_page {
    std::vector<letter_record> letters;
    std::string next_cursor; ///< empty on the last page
};

/// The hash functions of the transparency log's tree (RFC 9162 section 2.1.1), given by
/// whoever opens the store: the store keeps the tree's shape and its stored hashes, the
/// cryptography stays in crypto/ (crypto::merkle::leaf_hash and node_hash fit).
struct tree_hasher {
    log_hash (*leaf)(std::string_view data) = nullptr;
    log_hash (*node)(const log_hash& left, const log_hash& right) = nullptr;
};

/// The relational store over SOCI: SQLite (file, WAL) or PostgreSQL. Thread-safe; each
/// call takes a session from a pool.
class database {
public:
    enum class backend { sqlite, postgresql };

    /// `connection` is `sqlite:PATH` or a PostgreSQL connection string
    /// (`postgresql://...` or `dbname=... host=...`). `hasher` hashes the transparency
    /// log's leaves and nodes; both functions must be set.
    static std::unique_ptr<database> open(const std::string& connection, std::size_t pool_size,
                                          tree_hasher hasher);
    ~database();

    /// Applies the migrations not yet applied, each in its own transaction. Returns the
    /// schema version.
    int migrate();
    int schema_version();
    backend kind() const noexcept { return backend_; }
    std::string backend_version();
    bool ping();

    // Senders.
    void insert_sender(const sender_record& sender, const std::string& api_key_hash);
    std::optional<sender_record> sender_by_key_hash(const std::string& api_key_hash);
    std::optional<sender_record> sender_by_id(const std::string& id);
    std::vector<sender_record> senders();
    bool revoke_sender(const std::string& id, const std::string& when);

    // Reads scoped to a sender: another sender's rows are never returned.
    std::optional<letter_record> letter(const std::string& sender_id, const std::string& id);
    letter_page letters(const std::string& sender_id, const letter_filter& filter);
    std::optional<evidence_record> evidence(const std::string& sender_id, const std::string& id);
    std::optional<idempotency_record> idempotency(const std::string& sender_id,
                                                  const std::string& key);
    bool blob_known(const std::string& sha256);

    // Lifecycle reads, not scoped to a sender: for the gateway's own workers and pages.
    std::optional<letter_record> letter_by_id(const std::string& id);
    std::optional<std::string> letter_of_link(const std::string& token_hash);
    std::vector<std::string> letters_past_deadline(const std::string& now, int limit);
    std::vector<mail_job> due_mail(const std::string& now, int limit);
    std::optional<recipient_session> session(const std::string& id_hash);
    /// One-time codes asked for a letter by sessions created since `since`.
    int codes_sent_since(const std::string& letter_id, const std::string& since);
    std::vector<webhook_delivery> due_webhooks(const std::string& now, int limit);
    std::vector<webhook_delivery> webhooks_of_letter(const std::string& letter_id);
    std::optional<evidence_record> evidence_by_id(const std::string& id);

    // Small writes, each its own transaction.
    void update_mail_job(const mail_job& job, const std::string& sent_at);
    /// Takes a due mail job for this instance: moves its next attempt to `lease_until` if
    /// it is still pending with the next_attempt_at `seen` it was read with. False when
    /// another instance sharing the database took it first.
    bool claim_mail_job(const std::string& id, const std::string& seen,
                        const std::string& lease_until);
    /// Takes a due webhook delivery: stores its counted attempt and next attempt time if
    /// it is still pending after `attempts_seen` attempts. False when another instance
    /// took it first.
    bool claim_webhook(const webhook_delivery& delivery, int attempts_seen);
    void update_webhook(const webhook_delivery& delivery);
    void update_session(const recipient_session& session);
    void insert_session(const recipient_session& session);
    int delete_expired_sessions(const std::string& now);

    // Identification at identity providers.
    void insert_identification_request(const identification_request& request);
    /// The request `id` of `method`, marked used and its secrets erased from the store, if
    /// it exists, is unused and has not expired at `now`; nothing otherwise, and a request
    /// of another method is left as it was. Two concurrent calls never both get it.
    std::optional<identification_request> take_identification_request(const std::string& id,
                                                                      const std::string& method,
                                                                      const std::string& now);
    /// Removes the requests expired before `now`, taken or not; returns how many.
    int delete_expired_identification_requests(const std::string& now);
    void insert_identification_attempt(const identification_attempt& attempt);
    std::vector<identification_attempt> identification_attempts(const std::string& letter_id);
    // Share links to proof bundles.
    void insert_share(const share_record& share, const std::string& token_hash);
    std::optional<share_record> share_by_token_hash(const std::string& token_hash);
    /// The shares of a letter, newest first, each with its accesses.
    std::vector<share_record> shares_of_letter(const std::string& letter_id);
    enum class revoke_outcome { revoked, already_revoked, not_found };
    /// Revokes a share of one of `sender_id`'s letters.
    revoke_outcome revoke_share(const std::string& sender_id, const std::string& id,
                                const std::string& when);
    void insert_share_access(const std::string& share_id, const share_access& access);

    // Retention: the documents of letters deposited before `cutoff` whose bytes no letter
    // deposited since still needs.
    std::vector<purge_candidate> documents_to_purge(const std::string& cutoff, int limit);
    /// Marks a blob purged and records the purge of each document that held it, in one
    /// transaction. False when it was purged already.
    bool record_purge(const std::string& sha256, const std::string& when, int retention_days);

    // The whole archive as sceau audit reads it: every row as stored, whatever an attacker
    // with file access left (gaps, dangling references).
    /// One more than the largest leaf index stored; 0 for an empty log.
    std::int64_t audit_log_end();
    /// The log entries whose index is in [start, start + count), ascending, each with its
    /// record when there is one.
    std::vector<audited_entry> audit_log_entries(std::int64_t start, int count);
    /// Records that no log entry names, with their XML.
    std::vector<evidence_record> audit_unlogged_evidence();
    /// Every letter with its documents and its evidence list (without XML).
    std::vector<letter_record> audit_letters();
    /// The digests the store knows: of documents and of blobs.
    std::vector<std::string> audit_known_digests();

    /// The figures of operational_figures as they are at `now` (RFC 3339): the letters
    /// by status, those notified whose deadline passed before `overdue_before`, the mail
    /// and webhook queues (pending, and due by `now`), the log and its latest checkpoint.
    operational_figures operational(const std::string& now, const std::string& overdue_before);

    /// Records `key` until `keep_until` and returns true, or returns false when it is
    /// recorded already and not expired at `now` (times RFC 3339). Of two calls with one
    /// key, on any instances, one only returns true. Expired keys are dropped on the way.
    bool first_use(const std::string& key, const std::string& keep_until, const std::string& now);

    bool set_webhook(const std::string& sender_id, const std::string& url,
                     const std::string& secret);
    std::int64_t count(const std::string& table);

    // The transparency log of evidence records (docs/audit.md). Leaves are appended only
    // by transaction::insert_evidence; nothing updates or deletes a leaf, a stored
    // subtree or a checkpoint. Proofs read O(log n) stored subtrees and never rehash.

    /// The number of leaves committed.
    std::int64_t log_size();
    /// The leaf of an evidence record; nothing if the record is unknown.
    std::optional<log_entry> log_entry_of(const std::string& evidence_id);
    /// Up to `count` leaves from `start`, each with its evidence record (xml included).
    std::vector<log_record> log_records(std::int64_t start, int count);
    /// MTH of the first `tree_size` leaves. Throws std::invalid_argument unless
    /// 0 < tree_size <= log_size(); storage_error(corrupt) if a stored subtree is missing.
    log_hash log_root(std::int64_t tree_size);
    /// The inclusion proof of leaf `leaf_index` in the tree of `tree_size` leaves. Throws
    /// std::invalid_argument unless leaf_index < tree_size <= log_size().
    inclusion_proof log_inclusion(std::int64_t leaf_index, std::int64_t tree_size);
    /// The consistency proof between trees of `first` and `second` leaves. Throws
    /// std::invalid_argument unless 0 < first <= second <= log_size().
    consistency_proof log_consistency(std::int64_t first, std::int64_t second);

    /// Stores a checkpoint. False, storing nothing, when one of this size or larger is
    /// stored already (another instance was first). Throws std::invalid_argument for a
    /// size beyond the log.
    bool insert_checkpoint(const checkpoint_record& checkpoint);
    std::optional<checkpoint_record> latest_checkpoint();
    std::optional<checkpoint_record> checkpoint_at(std::int64_t tree_size);
    /// Every checkpoint, smallest first.
    std::vector<checkpoint_record> checkpoints();

    // Auditors: API keys for the audit routes, stored hashed like the senders'.
    void insert_auditor(const auditor_record& auditor, const std::string& api_key_hash);
    std::optional<auditor_record> auditor_by_key_hash(const std::string& api_key_hash);
    std::vector<auditor_record> auditors();
    bool revoke_auditor(const std::string& id, const std::string& when);

    /// One write transaction. Nothing is visible to others before commit(); destroying
    /// it uncommitted rolls everything back.
    class transaction {
    public:
        transaction(transaction&&) noexcept;
        ~transaction();

        void insert_letter(const letter_record& letter);
        void insert_document(const std::string& letter_id, const document_record& document);
        void insert_blob(const blob_record& blob, const std::string& when);
        /// Stores an evidence record and appends it to the transparency log, at the next
        /// leaf index, in this same transaction: a record is in the log exactly when it is
        /// stored. On PostgreSQL the append takes a transaction-scoped advisory lock
        /// (docs/operations.md), so that instances sharing the database append in turn.
        void insert_evidence(const evidence_record& evidence);
        void insert_idempotency(const idempotency_record& record, const std::string& when);
        void insert_mail_job(const mail_job& job, const std::string& when);
        void insert_recipient_link(const std::string& token_hash, const std::string& letter_id,
                                   const std::string& when);
        void insert_webhook(const webhook_delivery& delivery);

        /// Moves a letter from status `from` to `to`, setting the non-empty fields of
        /// `change`. False when the letter was not in `from`: another change won.
        bool change_status(const std::string& letter_id, const std::string& from,
                           const std::string& to, const letter_record& change);
        /// Records the first download of an accepted letter's content. False if done.
        bool mark_handed_over(const std::string& letter_id, const std::string& when);
        /// Cancels the pending mail of a letter (its reminders once it is decided).
        void cancel_mail(const std::string& letter_id);
        /// Closes one queued mail of a letter as `state` (sent or failed).
        void close_mail(const std::string& letter_id, const std::string& purpose,
                        const std::string& state, const std::string& when);
        void commit();

    private:
        friend class database;
        transaction(database& db);

        void append_to_log(const evidence_record& evidence);

        database* db_;
        std::unique_ptr<soci::session> session_;
        std::unique_lock<std::mutex> write_lock_;
        bool open_ = false;
    };

    transaction begin();

private:
    database(backend b, std::unique_ptr<soci::connection_pool> pool, std::size_t size,
             tree_hasher hasher);
    void fill_details(soci::session& sql, letter_record& letter);
    /// Revokes the API key of row `id` of `table` (senders, auditors) once.
    bool revoke_key(const char* table, const std::string& id, const std::string& when);

    backend backend_;
    std::unique_ptr<soci::connection_pool> pool_;
    std::size_t pool_size_;
    tree_hasher hasher_;
    std::mutex write_mutex_; ///< SQLite has one writer: take turns here, not in busy loops
};

} // namespace sceau::storage
