#include "protocols/audit.hpp"

#include "crypto/certificate.hpp"
#include "crypto/encoding.hpp"
#include "crypto/error.hpp"
#include "crypto/signed_note.hpp"
#include "crypto/tsp_client.hpp"
#include "crypto/xades_verifier.hpp"
#include "crypto/xml.hpp"
#include "protocols/evidence.hpp"
#include "protocols/record_check.hpp"

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

namespace sceau::protocols {
namespace {

using verdict = check_result::verdict;
using crypto::merkle::hash;

constexpr int page_size = 2000;

class data_directory final : public audit_source {
public:
    data_directory(storage::database& db, storage::blob_store& blobs, std::string description)
        : db_(db)
        , blobs_(blobs)
        , description_(std::move(description)) {}

    std::string describe() const override { return description_; }
    std::int64_t log_end() override { return db_.audit_log_end(); }
    std::vector<storage::audited_entry> log_entries(std::int64_t start, int count) override {
        return db_.audit_log_entries(start, count);
    }
    std::vector<storage::checkpoint_record> checkpoints() override { return db_.checkpoints(); }
    std::optional<std::vector<storage::evidence_record>> unlogged_records() override {
        return db_.audit_unlogged_evidence();
    }
    std::optional<std::vector<storage::letter_record>> letters() override {
        return db_.audit_letters();
    }

    std::optional<std::string> document_digest(const std::string& sha256) override {
        std::filesystem::path path;
        try {
            path = blobs_.path_of(sha256);
        } catch (const std::invalid_argument&) {
            return std::nullopt; // not a digest: no file can be named after it
        }
        std::error_code ec;
        if (!std::filesystem::is_regular_file(path, ec))
            return std::nullopt;
        auto source = crypto::file_source(path);
        crypto::sha256 h;
        std::vector<std::uint8_t> buffer(1 << 16);
        while (std::size_t n = source->read(buffer.data(), buffer.size()))
            h.update(std::span<const std::uint8_t>(buffer.data(), n));
        return crypto::to_hex(h.finish());
    }

    std::vector<std::string> unknown_files() override {
        auto known = db_.audit_known_digests();
        std::set<std::string> names(known.begin(), known.end());
        std::vector<std::string> out;
        for (auto& d : blobs_.stored_digests()) {
            if (!names.count(d))
                out.push_back(std::move(d));
        }
        return out;
    }

private:
    storage::database& db_;
    storage::blob_store& blobs_;
    std::string description_;
};

/// Runs f(0) ... f(n - 1) on `threads` threads, the caller's among them.
template <typename F>
void parallel_for(std::size_t n, unsigned threads, F&& f) {
    std::atomic<std::size_t> next{0};
    auto work = [&] {
        for (std::size_t i = next++; i < n; i = next++)
            f(i);
    };
    std::vector<std::thread> pool;
    for (unsigned t = 1; t < threads && t < n; ++t)
        pool.emplace_back(work);
    work();
    for (auto& t : pool)
        t.join();
}

/// What the walk keeps of each record for the letter checks.
struct record_facts {
    std::string letter_id;
    std::string event;
    std::string event_time;
    std::vector<std::string> part_digests;
};

/// The verification of one record, made on a worker thread.
struct record_outcome {
    hash leaf{};
    std::vector<check_result> findings;
    std::optional<record_facts> facts;
    crypto::x509_ptr sealer;
};

record_outcome audit_record(const storage::evidence_record& row, const std::string& where,
                            const crypto::xades_verifier& seals,
                            const crypto::timestamp_verifier& stamps) {
    record_outcome out;
    out.leaf = crypto::merkle::leaf_hash(row.xml);
    auto checked = check_record(row.xml, seals, stamps, false);
    for (auto& c : checked.checks) {
        if (c.outcome != verdict::holds)
            out.findings.push_back({c.item + " " + where, c.outcome, std::move(c.detail)});
    }
    out.sealer = std::move(checked.sealer);
    if (!checked.view)
        return out;

    // The store's columns must say what the sealed record says.
    const auto& v = *checked.view;
    auto differs = [&](const char* column, const std::string& stored, const std::string& sealed) {
        if (stored != sealed)
            out.findings.push_back({"evidence row " + row.id + " " + where, verdict::fails,
                                    std::string("its ") + column + " column says " + stored +
                                        ", the sealed record " + sealed});
    };
    differs("id", row.id, v.id);
    differs("letter_id", row.letter_id, v.letter_id);
    differs("event", row.event, v.event);
    differs("event_time", row.event_time, v.event_time);

    record_facts facts{v.letter_id, v.event, v.event_time, {}};
    for (const auto& p : v.parts)
        facts.part_digests.push_back(p.sha256_hex);
    out.facts = std::move(facts);
    return out;
}

std::string hex_of(const hash& h) {
    return crypto::to_hex(h);
}

/// The root of the log at each checkpoint size, computed as the walk goes.
class root_tracker {
public:
    explicit root_tracker(std::vector<std::int64_t> sizes)
        : sizes_(std::move(sizes)) {
        std::sort(sizes_.begin(), sizes_.end());
        sizes_.erase(std::unique(sizes_.begin(), sizes_.end()), sizes_.end());
    }

    /// Before the leaf at `index` is appended: records the roots of sizes up to it.
    void before(std::int64_t index) {
        while (next_ < sizes_.size() && sizes_[next_] <= index) {
            roots_[sizes_[next_]] = tree_.root();
            ++next_;
        }
    }
    void append(const hash& leaf) { tree_.append(leaf); }
    std::optional<hash> root_at(std::int64_t size) const {
        auto it = roots_.find(size);
        return it == roots_.end() ? std::nullopt : std::optional<hash>(it->second);
    }

private:
    std::vector<std::int64_t> sizes_;
    std::size_t next_ = 0;
    crypto::merkle::tree tree_;
    std::map<std::int64_t, hash> roots_;
};

/// Every seal certificate seen, once.
class sealers {
public:
    void add(crypto::x509_ptr cert) {
        if (!cert)
            return;
        auto fingerprint = crypto::fingerprint_sha256(cert.get());
        std::lock_guard lock(mutex_);
        certs_.emplace(fingerprint, std::move(cert));
    }

    /// Whether one of the seal keys signed the note under `origin`.
    bool signed_note(const std::string& origin, const std::string& note) const {
        std::lock_guard lock(mutex_);
        for (const auto& [_, cert] : certs_) {
            try {
                crypto::note_verifier v(origin, crypto::evp_pkey_ptr(X509_get_pubkey(cert.get())));
                v.open(note);
                return true;
            } catch (const crypto::error&) {
                // another key, or not this one's signature: try the next
            }
        }
        return false;
    }

private:
    mutable std::mutex mutex_;
    std::map<std::string, crypto::x509_ptr> certs_;
};

struct checkpoint_view {
    std::string where;
    std::int64_t size = 0;
    hash root{};
    std::string note;
    std::string timestamp_token; ///< base64; empty for a kept checkpoint
};

void check_checkpoint(const checkpoint_view& c, const root_tracker& roots, std::int64_t log_end,
                      const sealers& keys, const crypto::timestamp_verifier& stamps,
                      verification_report& findings) {
    try {
        auto text = crypto::parse_signed_note(c.note).text;
        auto parsed = crypto::parse_checkpoint(text);
        if (static_cast<std::int64_t>(parsed.tree_size) != c.size || parsed.root_hash != c.root)
            findings.fails(c.where, "the signed note says " + std::to_string(parsed.tree_size) +
                                        " entries and root " + hex_of(parsed.root_hash) +
                                        ", its row " + std::to_string(c.size) + " and " +
                                        hex_of(c.root));
        if (!keys.signed_note(parsed.origin, c.note))
            findings.fails(c.where, "the note is not signed by the key of a trusted seal "
                                    "certificate under the origin " +
                                        parsed.origin);
        if (!c.timestamp_token.empty()) {
            try {
                stamps.verify(crypto::from_base64(c.timestamp_token), crypto::sha256::of(c.note));
            } catch (const std::exception& e) {
                findings.fails(c.where + " time-stamp", e.what());
            }
        }
        if (c.size > log_end) {
            findings.fails(c.where, "it signed " + std::to_string(c.size) +
                                        " entries, the log now has " + std::to_string(log_end) +
                                        ": entries were removed or the database rolled back");
            return;
        }
        auto computed = roots.root_at(c.size);
        if (computed && *computed != parsed.root_hash)
            findings.fails(c.where, "the root of the first " + std::to_string(c.size) +
                                        " entries, recomputed from the records, is " +
                                        hex_of(*computed) + ", not the signed " +
                                        hex_of(parsed.root_hash) + ": entries before " +
                                        std::to_string(c.size) +
                                        " were changed, removed or reordered since it was signed");
    } catch (const std::exception& e) {
        findings.fails(c.where, std::string("unreadable: ") + e.what());
    }
}

bool has(const std::multiset<std::string>& events, std::string_view e) {
    return events.count(std::string(e)) > 0;
}

/// A letter's steps, as its status and its records tell them (docs/lifecycle.md).
void check_letter(const storage::letter_record& l, const std::map<std::string, record_facts>& facts,
                  const audit_options& options, verification_report& findings) {
    std::string where = "letter " + l.id;
    if (l.sender_id.empty()) {
        findings.fails(where, "records name this letter, which the archive lacks");
        return;
    }
    std::multiset<std::string> events;
    for (const auto& e : l.evidence) {
        auto f = facts.find(e.id);
        events.insert(f != facts.end() ? f->second.event : e.event);
    }
    auto need = [&](std::string_view event, const std::string& why) {
        if (!has(events, event))
            findings.fails(where, why + " but it has no " + std::string(event) + " evidence");
    };

    if (!has(events, event::submission_acceptance) && !has(events, event::submission_rejection))
        findings.fails(where, "it has no evidence of its deposit");
    if (l.status == "rejected")
        need(event::submission_rejection, "it is rejected");
    static const std::set<std::string> notified = {"notified", "accepted", "refused", "expired"};
    if (notified.count(l.status)) {
        need(event::notification, "it is " + l.status);
        if (l.accept_deadline.empty())
            findings.fails(where, "it is " + l.status + " but has no acceptance deadline");
    }
    if (l.status == "accepted")
        need(event::acceptance, "it is accepted");
    if (l.status == "refused")
        need(event::rejection, "it is refused");
    if (l.status == "expired")
        need(event::expiry, "it is expired");
    if (l.status == "undeliverable")
        need(event::notification_failure, "it is undeliverable");
    if (!l.handed_over_at.empty())
        need(event::handover, "its content was handed over");
    if (has(events, event::handover) && l.status != "accepted")
        findings.fails(where, "content was handed over although it is " + l.status);
    if (l.status == "notified" && !l.accept_deadline.empty()) {
        auto deadline = crypto::parse_utc(l.accept_deadline);
        if (deadline + options.expiry_grace < options.now)
            findings.fails(where, "its deadline " + l.accept_deadline +
                                      " has passed without AcceptanceRejectionExpiry evidence");
    }
    for (const auto& e : l.evidence) {
        auto f = facts.find(e.id);
        if ((e.event == event::acceptance || e.event == event::rejection) && f != facts.end() &&
            !l.accept_deadline.empty() && f->second.event_time > l.accept_deadline)
            findings.fails(where, e.event + " " + e.id + " at " + f->second.event_time +
                                      " is after the deadline " + l.accept_deadline);
    }
}

} // namespace

std::unique_ptr<audit_source>
data_directory_source(storage::database& db, storage::blob_store& blobs, std::string description) {
    return std::make_unique<data_directory>(db, blobs, std::move(description));
}

audit_report run_audit(audit_source& source, const audit_options& options) {
    crypto::xml_library_init();
    auto started = std::chrono::steady_clock::now();
    unsigned threads =
        options.threads ? options.threads : std::max(1u, std::thread::hardware_concurrency());
    audit_report report;
    auto& findings = report.findings;

    std::vector<crypto::x509_ptr> seal_anchors, tsa_anchors;
    for (const auto& a : options.anchors) {
        seal_anchors.push_back(crypto::clone(a.get()));
        tsa_anchors.push_back(crypto::clone(a.get()));
    }
    crypto::xades_verifier seals(std::move(seal_anchors));
    crypto::timestamp_verifier stamps({std::move(tsa_anchors), {}, {}});
    sealers keys;
    std::map<std::string, record_facts> facts;

    // What the checkpoints say, and where the log's root is to be compared with them.
    std::vector<checkpoint_view> checkpoints;
    for (const auto& c : source.checkpoints())
        checkpoints.push_back({"checkpoint of " + std::to_string(c.tree_size) + " entries",
                               c.tree_size, c.root_hash, c.note, c.timestamp_token});
    if (!options.previous_checkpoint.empty()) {
        try {
            auto parsed = crypto::parse_checkpoint(
                crypto::parse_signed_note(options.previous_checkpoint).text);
            checkpoints.push_back(
                {"earlier checkpoint of " + std::to_string(parsed.tree_size) + " entries (given)",
                 static_cast<std::int64_t>(parsed.tree_size), parsed.root_hash,
                 options.previous_checkpoint, ""});
        } catch (const std::exception& e) {
            findings.fails("earlier checkpoint (given)", std::string("unreadable: ") + e.what());
        }
    }
    std::vector<std::int64_t> sizes;
    for (const auto& c : checkpoints)
        sizes.push_back(c.size);
    root_tracker roots(std::move(sizes));

    auto keep = [&](record_outcome& o, const std::string& id) {
        for (auto& f : o.findings)
            findings.checks.push_back(std::move(f));
        if (o.facts)
            facts.emplace(id, std::move(*o.facts));
        keys.add(std::move(o.sealer));
    };

    // 1. The log, in order: each entry backed by its record, each record verified, the
    //    root recomputed from the records' bytes. Pages are verified in parallel.
    auto end = source.log_end();
    auto unlogged = source.unlogged_records();
    std::int64_t total = end + (unlogged ? static_cast<std::int64_t>(unlogged->size()) : 0);
    std::int64_t expected = 0;
    for (std::int64_t start = 0; start < end; start += page_size) {
        auto page = source.log_entries(start, page_size);
        std::vector<record_outcome> outcomes(page.size());
        parallel_for(page.size(), threads, [&](std::size_t i) {
            const auto& e = page[i];
            if (!e.evidence)
                return;
            auto where = "(log entry " + std::to_string(e.entry.leaf_index) + ")";
            outcomes[i] = audit_record(*e.evidence, where, seals, stamps);
        });

        for (std::size_t i = 0; i < page.size(); ++i) {
            const auto& e = page[i];
            auto index = e.entry.leaf_index;
            if (index > expected)
                findings.fails("log entries " + std::to_string(expected) + " to " +
                                   std::to_string(index - 1),
                               "missing: the log has a gap where entries were deleted");
            expected = index + 1;
            roots.before(index);
            std::string where = "log entry " + std::to_string(index);
            if (!e.evidence) {
                findings.fails(where, "it logs evidence " + e.entry.evidence_id +
                                          ", which the archive lacks");
                roots.append(e.entry.leaf_hash);
                continue;
            }
            ++report.records;
            if (outcomes[i].leaf != e.entry.leaf_hash)
                findings.fails(where, "its leaf hash is not the hash of the bytes of " +
                                          e.evidence->id +
                                          ": the record was changed after it was logged");
            roots.append(outcomes[i].leaf);
            keep(outcomes[i], e.evidence->id);
        }
        report.log_entries += static_cast<std::int64_t>(page.size());
        if (options.progress)
            options.progress(std::min(start + page_size, end), total);
    }
    roots.before(end);

    // 2. Records the log does not hold.
    if (unlogged) {
        std::vector<record_outcome> outcomes(unlogged->size());
        parallel_for(unlogged->size(), threads, [&](std::size_t i) {
            outcomes[i] = audit_record((*unlogged)[i], "(not in the log)", seals, stamps);
        });
        for (std::size_t i = 0; i < unlogged->size(); ++i) {
            findings.fails("evidence " + (*unlogged)[i].id,
                           "stored, but in no log entry: appended outside the log, or its "
                           "entry was deleted");
            ++report.records;
            keep(outcomes[i], (*unlogged)[i].id);
        }
        if (options.progress)
            options.progress(total, total);
    } else {
        findings.warns("records outside the log",
                       "not checked: the audit API serves only the records in the log");
    }

    // 3. The checkpoints: signed with a seal key, time-stamped, and the log's root at their
    //    size; a previous one given must still be a prefix of the log.
    for (const auto& c : checkpoints)
        check_checkpoint(c, roots, end, keys, stamps, findings);
    report.checkpoints = static_cast<std::int64_t>(checkpoints.size());
    std::int64_t covered = 0;
    for (const auto& c : checkpoints)
        covered = std::max(covered, c.size);
    if (end > covered)
        findings.warns("log entries " + std::to_string(covered) + " to " + std::to_string(end - 1),
                       "not yet covered by a signed checkpoint");

    // 4. The letters: their steps, and their documents against the store and the evidence.
    auto letters = source.letters();
    if (!letters) {
        findings.warns("letters and documents",
                       "not checked: the audit API serves the log, not the letters");
    } else {
        struct document_job {
            const storage::letter_record* letter;
            const storage::document_record* document;
            std::optional<std::string> digest;
        };
        std::vector<document_job> jobs;
        for (const auto& l : *letters) {
            check_letter(l, facts, options, findings);
            ++report.letters;
            for (const auto& d : l.documents) {
                if (d.stored && d.purged_at.empty())
                    jobs.push_back({&l, &d, std::nullopt});
            }

            // The digests the store keeps must be the ones sealed at the deposit.
            for (const auto& e : l.evidence) {
                auto f = facts.find(e.id);
                if (f == facts.end() || f->second.event != event::submission_acceptance)
                    continue;
                for (const auto& d : l.documents) {
                    auto at = static_cast<std::size_t>(d.position - 1);
                    if (d.position < 1 || at >= f->second.part_digests.size() ||
                        f->second.part_digests[at] != d.sha256)
                        findings.fails(
                            "document " + std::to_string(d.position) + " of letter " + l.id,
                            "the store's digest " + d.sha256 + " is not the one sealed in " + e.id);
                }
            }
        }
        parallel_for(jobs.size(), threads, [&](std::size_t i) {
            jobs[i].digest = source.document_digest(jobs[i].document->sha256);
        });
        for (const auto& j : jobs) {
            std::string where =
                "document " + std::to_string(j.document->position) + " of letter " + j.letter->id;
            if (!j.digest)
                findings.fails(where, "its bytes (" + j.document->sha256 +
                                          ") are missing, and no purge is recorded");
            else if (*j.digest != j.document->sha256)
                findings.fails(where, "the stored bytes hash to " + *j.digest + ", not " +
                                          j.document->sha256 + ": the file was changed");
            ++report.documents;
        }
        for (const auto& f : source.unknown_files())
            findings.fails("document file " + f,
                           "at rest, yet no row of the store names it: the database may have "
                           "been rolled back to an earlier copy");
    }

    report.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    return report;
}

} // namespace sceau::protocols
