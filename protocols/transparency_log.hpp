#pragma once

#include "crypto/signed_note.hpp"
#include "crypto/timestamp.hpp"
#include "storage/database.hpp"

#include <optional>
#include <string>

namespace sceau::protocols {

/// The hash functions of RFC 9162 for the store's transparency log: what every caller of
/// storage::database::open() gives it.
storage::tree_hasher rfc9162_tree_hasher();

/// Makes the log's checkpoints (docs/audit.md): the C2SP checkpoint of the log as
/// committed, signed as a C2SP signed note with the seal key, then time-stamped, the
/// RFC 3161 token covering SHA-256 of the whole signed note. Thread-safe; several
/// instances may run it on one database (the first to store a size wins).
class checkpointer {
public:
    /// `signer` names the log: its key name is the checkpoint's origin.
    checkpointer(storage::database& db, const crypto::note_signer& signer,
                 crypto::timestamp_authority& tsa, crypto::clock_fn clock);

    /// A new checkpoint if the log grew since the latest one; in any case the latest
    /// checkpoint afterwards, or nothing while the log is empty. Throws crypto::error
    /// (tsa_* when no time-stamp can be had: nothing is stored then) and
    /// storage::storage_error.
    std::optional<storage::checkpoint_record> checkpoint_now();

    const crypto::note_signer& signer() const noexcept { return signer_; }

private:
    storage::database& db_;
    const crypto::note_signer& signer_;
    crypto::timestamp_authority& tsa_;
    crypto::clock_fn clock_;
};

} // namespace sceau::protocols
