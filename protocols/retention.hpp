#pragma once

#include "crypto/timestamp.hpp"
#include "storage/blob_store.hpp"
#include "storage/database.hpp"

namespace sceau::protocols {

/// The shortest retention of documents: every proof is kept at least a year (design, LRE
/// rules), and the documents with them.
inline constexpr int minimum_retention_days = 365;

/// Removes the bytes of documents whose retention has ended. Evidence, digests and the log
/// stay forever; each purge is recorded (table document_purges, and the blob's purged_at)
/// before the file goes, so that a crash between the two leaves a file too many, never a
/// document that the store believes kept and is not.
class retention {
public:
    /// Throws std::invalid_argument for fewer than minimum_retention_days.
    retention(storage::database& db, storage::blob_store& blobs, int days, crypto::clock_fn clock);

    /// Purges up to `limit` documents; returns how many blobs went.
    int purge_due(int limit = 100);

    int days() const noexcept { return days_; }

private:
    storage::database& db_;
    storage::blob_store& blobs_;
    int days_;
    crypto::clock_fn clock_;
};

} // namespace sceau::protocols
