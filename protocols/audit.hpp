#pragma once

#include "crypto/merkle.hpp"
#include "crypto/openssl.hpp"
#include "protocols/bundle_verifier.hpp"
#include "storage/blob_store.hpp"
#include "storage/database.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sceau::protocols {

/// An archive as an audit reads it: a data directory, or a running gateway's audit API.
/// A source returns what is stored, as stored; the audit believes none of it.
class audit_source {
public:
    virtual ~audit_source() = default;

    /// Where the archive is, for the report.
    virtual std::string describe() const = 0;

    /// How far leaf indices go: one more than the largest one.
    virtual std::int64_t log_end() = 0;
    /// The entries with an index in [start, start + count), ascending; gaps are left out.
    virtual std::vector<storage::audited_entry> log_entries(std::int64_t start, int count) = 0;
    /// Every checkpoint the source holds, smallest first (the API serves the latest only).
    virtual std::vector<storage::checkpoint_record> checkpoints() = 0;

    /// Records outside the log; nothing when the source cannot tell (the API).
    virtual std::optional<std::vector<storage::evidence_record>> unlogged_records() = 0;
    /// Every letter with its documents and evidence list; nothing over the API.
    virtual std::optional<std::vector<storage::letter_record>> letters() = 0;
    /// SHA-256 of the stored bytes of a document, or nothing when there is no such file.
    virtual std::optional<std::string> document_digest(const std::string& sha256) = 0;
    /// Files at rest whose digest no row of the store names.
    virtual std::vector<std::string> unknown_files() = 0;
};

/// The data directory of a gateway: its database (SQLite or PostgreSQL) and documents.
std::unique_ptr<audit_source>
data_directory_source(storage::database& db, storage::blob_store& blobs, std::string description);

struct audit_options {
    /// Trust anchors of the seal and the time-stamps.
    std::vector<crypto::x509_ptr> anchors;
    /// Verifying threads; 0: one per core.
    unsigned threads = 0;
    /// Called now and then from the auditing thread with what is done and the total.
    std::function<void(std::int64_t done, std::int64_t total)> progress;
    /// The time deadlines are compared with.
    std::chrono::system_clock::time_point now = std::chrono::system_clock::now();
    /// A signed checkpoint kept from an earlier audit: the log must still extend it.
    std::string previous_checkpoint;
    /// How long after its deadline a letter may still wait for its expiry evidence.
    std::chrono::hours expiry_grace{24};
};

struct audit_report {
    verification_report findings; ///< failures and warnings only, each saying what and where
    std::int64_t records = 0;     ///< evidence records verified
    std::int64_t log_entries = 0;
    std::int64_t checkpoints = 0;
    std::int64_t letters = 0;
    std::int64_t documents = 0; ///< documents re-hashed
    double seconds = 0;

    bool clean() const { return findings.count(check_result::verdict::fails) == 0; }
};

/// Walks the whole archive (docs/audit.md): every record's seal and time-stamps; every
/// record in the log and every log entry backed by its record, byte for byte; the log's
/// root, recomputed from the records, against every checkpoint, each signed with the seal
/// key and time-stamped, and each extending the one before; every letter's steps complete;
/// every document kept matching its digest and the evidence, unless purged by retention;
/// no file at rest that the store does not know (a database rolled back). Records are
/// verified in parallel. Nothing stops at the first finding.
audit_report run_audit(audit_source& source, const audit_options& options);

} // namespace sceau::protocols
