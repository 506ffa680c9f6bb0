#include "protocols/retention.hpp"

#include "crypto/xml.hpp"

#include <set>
#include <stdexcept>

namespace sceau::protocols {

retention::retention(storage::database& db, storage::blob_store& blobs, int days,
                     crypto::clock_fn clock)
    : db_(db)
    , blobs_(blobs)
    , days_(days)
    , clock_(std::move(clock)) {
    if (days_ < minimum_retention_days)
        throw std::invalid_argument("documents are kept at least " +
                                    std::to_string(minimum_retention_days) + " days, not " +
                                    std::to_string(days_));
}

int retention::purge_due(int limit) {
    auto now = clock_();
    auto cutoff = crypto::format_utc(now - std::chrono::hours(24) * days_);
    auto when = crypto::format_utc(now);
    std::set<std::string> done;
    for (const auto& c : db_.documents_to_purge(cutoff, limit)) {
        if (!done.insert(c.sha256).second)
            continue; // several documents of old letters held the same bytes
        if (db_.record_purge(c.sha256, when, days_)) {
            std::error_code ignored; // a file left behind holds only what was recorded gone
            std::filesystem::remove(blobs_.path_of(c.sha256), ignored);
        }
    }
    return static_cast<int>(done.size());
}

} // namespace sceau::protocols
