// sceau_bench_archive: writes an archive of genuinely sealed letters into a data directory,
// quickly, with the gateway's own code: for each letter a document at rest, then four
// records (SubmissionAcceptance, NotificationForAcceptance, ConsignmentAcceptance,
// ContentHandover), each time-stamped for its event, sealed in XAdES-B-T with the sample
// seal and the built-in TSA, and stored with its log entry in the same transaction; then a
// signed, time-stamped checkpoint. Nothing is copied: every record has its own signatures,
// so that an audit has to verify each. See bench/README.md.

#include "crypto/certificate.hpp"
#include "crypto/encoding.hpp"
#include "crypto/random.hpp"
#include "crypto/signed_note.hpp"
#include "crypto/timestamp.hpp"
#include "crypto/xades.hpp"
#include "crypto/xml.hpp"
#include "protocols/deposit.hpp"
#include "protocols/lifecycle.hpp"
#include "protocols/sealer.hpp"
#include "protocols/transparency_log.hpp"
#include "storage/blob_store.hpp"
#include "storage/database.hpp"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

using namespace sceau;

namespace {

std::string file(const std::string& relative) {
    return crypto::read_small_file(std::string(SCEAU_SOURCE_DIR) + "/" + relative);
}

crypto::signer_identity sample(const std::string& name) {
    return crypto::signer_identity::from_pem(file("certs-sample/" + name + ".key"),
                                             file("certs-sample/" + name + ".pem") +
                                                 file("certs-sample/root-ca.pem"));
}

struct sealed_letter {
    storage::letter_record letter;
    std::string document; ///< its bytes
    std::vector<protocols::sealed_evidence> records;
};

} // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::cerr << "usage: sceau_bench_archive DATA_DIR LETTERS [THREADS]\n";
        return 2;
    }
    std::filesystem::path data = argv[1];
    long letters = std::atol(argv[2]);
    unsigned threads = argc > 3 ? static_cast<unsigned>(std::atoi(argv[3]))
                                : std::max(1u, std::thread::hardware_concurrency());
    crypto::xml_library_init();
    auto started = std::chrono::steady_clock::now();

    std::filesystem::create_directories(data);
    auto db = storage::database::open("sqlite:" + (data / "sceau.db").string(), 2,
                                      protocols::rfc9162_tree_hasher());
    db->migrate();
    storage::blob_store blobs(data / "blobs");
    crypto::clock_fn clock = [] { return std::chrono::system_clock::now(); };
    crypto::builtin_tsa tsa(sample("tsa"), "2.25.264832184774882920688410953493971328165", clock);
    auto seal = sample("seal");
    crypto::xades_signer signer(seal, tsa);
    protocols::evidence_sealer sealer(tsa, signer, clock);
    protocols::provider_info provider{
        "Sceau benchmark provider", {"urn:sceau:policy:sample-keys:not-qualified"}, false};

    storage::sender_record sender{crypto::random_id("snd_"),
                                  "Maître Durand",
                                  "bench@durand.example",
                                  "Étude Durand",
                                  "benchmark",
                                  crypto::format_utc(clock()),
                                  "",
                                  "",
                                  ""};
    db->insert_sender(sender, crypto::random_id("key_"));
    protocols::recipient who;
    who.email = "claire.martin@example.org";
    who.given_name = "Claire";
    who.family_name = "Martin";
    who.birth_date = "1985-02-17";

    // Letters are sealed by `threads` workers, a batch at a time, and stored by this thread
    // in one transaction per batch (one fsync per batch, as a busy gateway groups them).
    constexpr long batch = 250;
    const std::string_view events[] = {protocols::event::submission_acceptance,
                                       protocols::event::notification, protocols::event::acceptance,
                                       protocols::event::handover};
    long records = 0;
    for (long first = 0; first < letters; first += batch) {
        long count = std::min(batch, letters - first);
        std::vector<sealed_letter> made(static_cast<std::size_t>(count));
        std::atomic<long> next{0};
        auto work = [&] {
            for (long i = next++; i < count; i = next++) {
                auto& m = made[static_cast<std::size_t>(i)];
                auto now = crypto::format_utc(clock());
                m.document = "%PDF-1.7\n% benchmark letter " + std::to_string(first + i) + " " +
                             crypto::random_id("", 8) + "\n%%EOF\n";
                auto& l = m.letter;
                l.id = crypto::random_id("ltr_");
                l.sender_id = sender.id;
                l.kind = "ere";
                l.status = "accepted";
                l.created_at = now;
                l.recipient_json = protocols::recipient_json(who);
                l.accept_deadline = crypto::format_utc(clock() + std::chrono::hours(24 * 15));
                l.notified_at = now;
                l.decided_at = now;
                l.handed_over_at = now;
                l.documents.push_back({1, "lettre.pdf", "application/pdf",
                                       static_cast<std::int64_t>(m.document.size()),
                                       crypto::to_hex(crypto::sha256::of(m.document)), "", true,
                                       ""});
                for (auto e : events)
                    m.records.push_back(sealer.seal(protocols::draft_for(l, sender, provider, e)));
            }
        };
        std::vector<std::thread> pool;
        for (unsigned t = 1; t < threads; ++t)
            pool.emplace_back(work);
        work();
        for (auto& t : pool)
            t.join();

        // Documents are written plainly, not fsynced one by one as a deposit does: they are
        // not what this benchmark measures, and the audit re-reads them all the same.
        auto tx = db->begin();
        for (auto& m : made) {
            const auto& doc = m.letter.documents.front();
            auto path = blobs.path_of(doc.sha256);
            std::filesystem::create_directories(path.parent_path());
            std::ofstream(path, std::ios::binary) << m.document;
            tx.insert_letter(m.letter);
            tx.insert_blob({doc.sha256, doc.size}, m.letter.created_at);
            tx.insert_document(m.letter.id, doc);
            tx.change_status(m.letter.id, "accepted", "accepted", m.letter);
            tx.mark_handed_over(m.letter.id, m.letter.handed_over_at);
            for (const auto& r : m.records) {
                tx.insert_evidence(
                    {r.id, m.letter.id, r.event, r.event_time, m.letter.created_at, r.xml});
                ++records;
            }
        }
        tx.commit();
        if ((first / batch) % 20 == 0)
            std::cerr << "  " << records << " records\r" << std::flush;
    }

    crypto::note_signer notes("sceau.invalid/log", seal.key.get());
    protocols::checkpointer checkpoints(*db, notes, tsa, clock);
    auto checkpoint = checkpoints.checkpoint_now();
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::cout << "archive: " << letters << " letters, " << records << " sealed records, "
              << (checkpoint ? checkpoint->tree_size : 0) << " entries checkpointed, in " << seconds
              << " s (" << static_cast<long>(records / seconds) << " records/s written)\n";
    return 0;
}
