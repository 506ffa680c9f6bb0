#include "protocols/transparency_log.hpp"

#include "crypto/encoding.hpp"
#include "crypto/merkle.hpp"
#include "crypto/xml.hpp"

namespace sceau::protocols {

storage::tree_hasher rfc9162_tree_hasher() {
    return {crypto::merkle::leaf_hash, crypto::merkle::node_hash};
}

checkpointer::checkpointer(storage::database& db, const crypto::note_signer& signer,
                           crypto::timestamp_authority& tsa, crypto::clock_fn clock)
    : db_(db)
    , signer_(signer)
    , tsa_(tsa)
    , clock_(std::move(clock)) {}

std::optional<storage::checkpoint_record> checkpointer::checkpoint_now() {
    auto size = db_.log_size();
    auto latest = db_.latest_checkpoint();
    if (size == 0 || (latest && latest->tree_size >= size))
        return latest;

    // Sign what is committed now, then stamp the signed note: the token dates the
    // checkpoint and its signature together.
    crypto::checkpoint c;
    c.origin = signer_.name();
    c.tree_size = static_cast<std::uint64_t>(size);
    c.root_hash = db_.log_root(size);
    auto note = signer_.sign(crypto::checkpoint_text(c));
    auto token = tsa_.stamp(crypto::sha256::of(note));

    storage::checkpoint_record record;
    record.tree_size = size;
    record.root_hash = c.root_hash;
    record.note = note;
    record.timestamp_token = crypto::to_base64(token.der);
    record.stamped_at = crypto::format_utc(token.time);
    record.created_at = crypto::format_utc(clock_());
    if (!db_.insert_checkpoint(record))
        return db_.latest_checkpoint(); // another instance stored this size or a larger one
    return record;
}

} // namespace sceau::protocols
