// Two gateway processes on one PostgreSQL database, as an operator runs several instances:
// deposits into both at once, and the transparency log stays one gap-free sequence that
// both serve the same proofs of. Runs only with the PostgreSQL fixture (tests/CMakeLists).

#include "crypto/encoding.hpp"
#include "crypto/merkle.hpp"
#include "crypto/signed_note.hpp"
#include "deposit_fixture.hpp"
#include "support/database_fixture.hpp"
#include "support/log_json.hpp"
#include "support/webhook_receiver.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <set>
#include <thread>

using namespace sceau;
using namespace sceau::test;
namespace merkle = crypto::merkle;

namespace {

/// `sceau ARGS --config FILE`: the key it prints, alone on standard output.
std::string key_from_cli(const std::filesystem::path& config, const std::string& args) {
    auto r = run("(" + std::string(SCEAU_BINARY) + " " + args + " --config '" + config.string() +
                 "' 2>/dev/null)");
    REQUIRE(r.status == 0);
    auto key = r.output.substr(0, r.output.find('\n'));
    REQUIRE(!key.empty());
    return key;
}

} // namespace

TEST_CASE("two gateways on one PostgreSQL database deposit at once into one gap-free log",
          "[integration][postgresql]") {
    test_database store;
    REQUIRE(store.postgresql());
    temp_dir dir;
    auto toml = "[storage]\ndatabase = \"" + store.connection() +
                "\"\n[server]\nthreads = 2\n[lifecycle]\nworker_interval_seconds = 1\n"
                "[audit]\ncheckpoint_interval_seconds = 1\n";
    write_file(dir / "sceau.toml", toml);

    // Both start at once: their migrations must not collide.
    std::unique_ptr<server_process> a, b;
    {
        std::thread first([&] { a = std::make_unique<server_process>(toml); });
        std::thread second([&] { b = std::make_unique<server_process>(toml); });
        first.join();
        second.join();
    }
    REQUIRE(a);
    REQUIRE(b);
    auto sender =
        key_from_cli(dir / "sceau.toml", "sender add --name Durand --email d@durand.example "
                                         "--data '" +
                                             (dir / "data").string() + "'");
    auto auditor = key_from_cli(dir / "sceau.toml", "auditor add --name Audit --data '" +
                                                        (dir / "data").string() + "'");
    receiver hooks;
    hooks.answer(200);
    auto senders = nlohmann::json::parse(run("(" + std::string(SCEAU_BINARY) +
                                             " sender list --json --config '" +
                                             (dir / "sceau.toml").string() + "' 2>/dev/null)")
                                             .output);
    key_from_cli(dir / "sceau.toml", "sender webhook --id " + senders[0]["id"].get<std::string>() +
                                         " --url " + hooks.url() + " --data '" +
                                         (dir / "data").string() + "'");

    // Four clients, two on each instance, depositing at the same time.
    constexpr int per_client = 6;
    std::atomic<int> created{0};
    std::vector<std::thread> clients;
    for (int c = 0; c < 4; ++c) {
        clients.emplace_back([&, c] {
            http_client client;
            auto& server = c % 2 ? *b : *a;
            for (int i = 0; i < per_client; ++i) {
                auto r = client.post_form(server.url("/v1/letters"),
                                          {{"letter", letter_lre, "", "", "application/json"},
                                           {"document", "", hostile("pdf/p00-positive-control.pdf"),
                                            "", "application/pdf"}},
                                          {"Authorization: Bearer " + sender});
                created += r.status == 201;
            }
        });
    }
    for (auto& t : clients)
        t.join();
    CHECK(created == 4 * per_client);

    // The workers of both add notification evidence and checkpoints: wait until a
    // checkpoint covers the whole log and the log stopped growing.
    auto db = store.open();
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
    std::int64_t settled = -1;
    while (std::chrono::steady_clock::now() < deadline) {
        auto size = db->log_size();
        auto latest = db->latest_checkpoint();
        if (size >= 2 * 4 * per_client && latest && latest->tree_size == size && size == settled)
            break;
        settled = latest && latest->tree_size == size ? size : -1;
        std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    }
    auto size = db->log_size();
    INFO("log size " << size << "\n" << a->log() << b->log());
    REQUIRE(settled == size);

    // One gap-free sequence; every evidence exactly once; leaves are the records' hashes.
    REQUIRE(db->count("evidence") == size);
    auto records = db->log_records(0, static_cast<int>(size));
    REQUIRE(static_cast<std::int64_t>(records.size()) == size);
    std::set<std::string> ids;
    std::vector<merkle::hash> leaves;
    for (std::size_t i = 0; i < records.size(); ++i) {
        CHECK(records[i].entry.leaf_index == static_cast<std::int64_t>(i));
        CHECK(records[i].entry.leaf_hash == merkle::leaf_hash(records[i].evidence.xml));
        ids.insert(records[i].evidence.id);
        leaves.push_back(merkle::leaf_hash(records[i].evidence.xml));
    }
    CHECK(static_cast<std::int64_t>(ids.size()) == size);
    auto events = std::count_if(records.begin(), records.end(), [](const auto& r) {
        return r.evidence.event == "NotificationForAcceptance";
    });
    CHECK(events == 4 * per_client); // each notice once, whichever instance sent it
    std::size_t mailed = 0;
    for (auto* server : {a.get(), b.get()}) {
        std::error_code ec;
        for (const auto& e : std::filesystem::directory_iterator(server->data_dir() / "outbox", ec))
            mailed += e.is_regular_file();
    }
    CHECK(mailed == 4 * per_client); // and mailed once: two workers never both take one job

    // Each evidence reaches the sender's webhook once, from one instance or the other.
    auto delivered = [&] { return hooks.requests().size() >= records.size(); };
    for (int i = 0; i < 300 && !delivered(); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::this_thread::sleep_for(std::chrono::milliseconds(1500)); // room for a duplicate
    std::set<std::string> deliveries;
    for (const auto& r : hooks.requests())
        deliveries.insert(r.headers.at("sceau-delivery"));
    CHECK(hooks.requests().size() == records.size());
    CHECK(deliveries.size() == records.size());

    // Both serve the same checkpoint; proofs from either verify against it.
    http_client client;
    auto checkpoint = client.get(a->url("/v1/audit/checkpoint")).json();
    CHECK(client.get(b->url("/v1/audit/checkpoint")).json() == checkpoint);
    auto verifier =
        crypto::note_verifier::from_verifier_key(checkpoint["verifier_key"].get<std::string>());
    auto cp = crypto::parse_checkpoint(verifier.open(checkpoint["note"].get<std::string>()));
    REQUIRE(cp.tree_size == static_cast<std::uint64_t>(size));
    CHECK(cp.root_hash == merkle::root(leaves));
    std::vector<std::string> auth = {"Authorization: Bearer " + auditor};
    for (std::size_t i = 0; i < records.size(); ++i) {
        auto& server = i % 2 ? *b : *a;
        auto r = client.get(server.url("/v1/audit/inclusion/" + records[i].evidence.id), auth);
        REQUIRE(r.status == 200);
        CHECK(merkle::verify_inclusion(i, cp.tree_size, leaves[i],
                                       hashes_of(r.json()["inclusion_path"]), cp.root_hash));
    }

    // Every checkpoint either instance stored is signed and consistent with the next.
    auto all = db->checkpoints();
    REQUIRE(!all.empty());
    for (std::size_t i = 0; i < all.size(); ++i) {
        auto c = crypto::parse_checkpoint(verifier.open(all[i].note));
        CHECK(c.root_hash == merkle::root(std::span(leaves).first(c.tree_size)));
        if (i == 0)
            continue;
        auto& server = i % 2 ? *b : *a;
        auto r = client.get(
            server.url("/v1/audit/consistency?first=" + std::to_string(all[i - 1].tree_size) +
                       "&second=" + std::to_string(all[i].tree_size)),
            auth);
        REQUIRE(r.status == 200);
        CHECK(merkle::verify_consistency(all[i - 1].tree_size, all[i].tree_size,
                                         all[i - 1].root_hash, all[i].root_hash,
                                         hashes_of(r.json()["consistency_path"])));
    }

    // And an auditor's sceau audit over either instance's audit API finds the archive clean:
    // every record's seal and time-stamps, every record in the log, the root and checkpoints.
    write_file(dir / "auditor.key", auditor + "\n");
    for (auto* server : {a.get(), b.get()}) {
        auto audited =
            run("(" + std::string(SCEAU_BINARY) + " audit --json --url '" + server->url("") +
                "' --key-file '" + (dir / "auditor.key").string() + "' --trust '" +
                source_path("certs-sample/root-ca.pem").string() + "' 2>/dev/null)");
        auto report = nlohmann::json::parse(audited.output, nullptr, false);
        INFO(audited.output);
        CHECK(audited.status == 0);
        CHECK(report.value("verdict", "") == "clean");
        CHECK(report.value("records", 0) >= static_cast<int>(records.size()));
    }
    CHECK(a->alive());
    CHECK(b->alive());
}
