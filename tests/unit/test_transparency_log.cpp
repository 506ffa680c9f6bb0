// The transparency log: RFC 9162 hashing and proofs, checked against an independent
// reference (tests/tools/rfc9162_reference.py) and published vectors; the store's log on
// both backends ([storage] runs on SQLite and PostgreSQL); its append-only guards.

#include "crypto/encoding.hpp"
#include "crypto/merkle.hpp"
#include "support/log_fixture.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <thread>

using namespace sceau;
namespace merkle = crypto::merkle;

namespace {

std::vector<merkle::hash> leaf_hashes(const std::vector<std::string>& records) {
    std::vector<merkle::hash> out;
    for (const auto& r : records)
        out.push_back(merkle::leaf_hash(r));
    return out;
}

nlohmann::json base64_list(const std::vector<storage::log_hash>& hashes) {
    auto out = nlohmann::json::array();
    for (const auto& h : hashes)
        out.push_back(crypto::to_base64(h));
    return out;
}

merkle::hash flipped(merkle::hash h, int bit) {
    h[static_cast<std::size_t>(bit / 8) % h.size()] ^= static_cast<std::uint8_t>(1 << (bit % 8));
    return h;
}

} // namespace

TEST_CASE("Merkle tree hashes match the published RFC 6962 test vectors", "[crypto][merkle]") {
    // The eight leaves and roots of the Certificate Transparency reference test data.
    const std::vector<std::string> leaves = {"",
                                             "00",
                                             "10",
                                             "2021",
                                             "3031",
                                             "40414243",
                                             "5051525354555657",
                                             "606162636465666768696a6b6c6d6e6f"};
    const char* roots[] = {"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                           "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
                           "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
                           "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                           "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
                           "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
                           "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
                           "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"};
    std::vector<merkle::hash> hashes;
    merkle::tree t;
    for (std::size_t i = 0; i < leaves.size(); ++i) {
        hashes.push_back(merkle::leaf_hash(crypto::from_hex(leaves[i])));
        t.append(hashes.back());
        CHECK(crypto::to_hex(merkle::root(hashes)) == roots[i]);
        CHECK(crypto::to_hex(t.root()) == roots[i]);
    }
    // The empty tree is SHA-256 of nothing (RFC 9162 section 2.1.1).
    CHECK(crypto::to_hex(merkle::tree().root()) ==
          "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST_CASE("every inclusion and consistency proof up to 260 leaves matches an independent "
          "reference and verifies",
          "[storage][log][merkle]") {
    constexpr int n = 260; // past 256, so that a power of two and its neighbours are covered
    test::log_fixture f(n);
    REQUIRE(f.db->log_size() == n);
    auto hashes = leaf_hashes(f.records);

    nlohmann::json proofs = {{"leaves", nlohmann::json::array()},
                             {"roots", nlohmann::json::object()},
                             {"inclusion", nlohmann::json::array()},
                             {"consistency", nlohmann::json::array()}};
    for (const auto& r : f.records)
        proofs["leaves"].push_back(crypto::to_hex(crypto::as_bytes(r)));

    std::vector<merkle::hash> roots(n + 1);
    for (int size = 1; size <= n; ++size) {
        roots[size] = f.db->log_root(size);
        REQUIRE(roots[size] == merkle::root(std::span(hashes).first(size)));
        proofs["roots"][std::to_string(size)] = crypto::to_base64(roots[size]);
    }

    std::vector<std::string> failures;
    auto expect = [&failures](bool ok, const std::string& what) {
        if (!ok)
            failures.push_back(what);
    };
    for (int size = 1; size <= n; ++size) {
        for (int leaf = 0; leaf < size; ++leaf) {
            auto p = f.db->log_inclusion(leaf, size);
            proofs["inclusion"].push_back({leaf, size, base64_list(p.path)});
            auto at = "inclusion " + std::to_string(leaf) + "/" + std::to_string(size);
            expect(p.leaf_hash == hashes[leaf], at + ": leaf hash");
            expect(merkle::verify_inclusion(leaf, size, hashes[leaf], p.path, roots[size]), at);
            if ((leaf + size) % 7 != 0)
                continue;
            // Any change to what is proven, or to the proof, must fail.
            expect(!merkle::verify_inclusion(leaf, size, flipped(hashes[leaf], leaf), p.path,
                                             roots[size]),
                   at + ": another leaf");
            if (size < n)
                expect(!merkle::verify_inclusion(leaf, size + 1, hashes[leaf], p.path,
                                                 roots[size + 1]),
                       at + ": another size");
            if (size > 1)
                expect(!merkle::verify_inclusion((leaf + 1) % size, size, hashes[leaf], p.path,
                                                 roots[size]),
                       at + ": another index");
            for (std::size_t i = 0; i < p.path.size(); ++i) {
                auto bad = p.path;
                bad[i] = flipped(bad[i], static_cast<int>(i * 13 + 5));
                expect(!merkle::verify_inclusion(leaf, size, hashes[leaf], bad, roots[size]),
                       at + ": element " + std::to_string(i) + " changed");
            }
            if (!p.path.empty()) {
                auto shorter = p.path;
                shorter.pop_back();
                expect(!merkle::verify_inclusion(leaf, size, hashes[leaf], shorter, roots[size]),
                       at + ": shorter path");
            }
        }
    }
    for (int second = 1; second <= n; ++second) {
        for (int first = 1; first <= second; ++first) {
            auto p = f.db->log_consistency(first, second);
            proofs["consistency"].push_back({first, second, base64_list(p.path)});
            auto at = "consistency " + std::to_string(first) + "-" + std::to_string(second);
            expect(merkle::verify_consistency(first, second, roots[first], roots[second], p.path),
                   at);
            if ((first + second) % 5 != 0)
                continue;
            if (first < second)
                expect(!merkle::verify_consistency(first, second, flipped(roots[first], 3),
                                                   roots[second], p.path),
                       at + ": another first root");
            expect(!merkle::verify_consistency(first, second, roots[first],
                                               flipped(roots[second], 9), p.path),
                   at + ": another second root");
            for (std::size_t i = 0; i < p.path.size(); ++i) {
                auto bad = p.path;
                bad[i] = flipped(bad[i], static_cast<int>(i * 7 + 1));
                expect(!merkle::verify_consistency(first, second, roots[first], roots[second], bad),
                       at + ": element " + std::to_string(i) + " changed");
            }
        }
    }
    for (std::size_t i = 0; i < failures.size() && i < 10; ++i)
        UNSCOPED_INFO(failures[i]);
    CHECK(failures.empty());
    CHECK_FALSE(merkle::verify_consistency(0, 1, roots[1], roots[1], {}));
    CHECK_FALSE(merkle::verify_consistency(2, 1, roots[2], roots[1], {}));
    CHECK_FALSE(merkle::verify_inclusion(5, 5, hashes[4], {}, roots[5]));

    // The reference recomputes every root and proof from the RFC's definitions.
    test::temp_dir dir;
    test::write_file(dir / "proofs.json", proofs.dump());
    auto reference =
        test::run("python3 -B '" + test::source_path("tests/tools/rfc9162_reference.py").string() +
                  "' '" + (dir / "proofs.json").string() + "'");
    INFO(reference.output);
    CHECK(reference.status == 0);
    CHECK(reference.output.find(", 0 mismatches") != std::string::npos);
}

TEST_CASE("proofs read a logarithmic number of stored rows", "[storage][log]") {
    test::log_fixture f(1000);
    for (std::int64_t leaf : {0, 1, 499, 998, 999}) {
        auto p = f.db->log_inclusion(leaf, 1000);
        // At most 10 path elements; the right edge of 1000 leaves is 6 complete subtrees.
        CHECK(p.path.size() <= 10);
        CHECK(p.rows_read <= 1 + 10 + 6);
    }
    auto c = f.db->log_consistency(333, 1000);
    CHECK(c.rows_read <= 2 * 10 + 6);
}

TEST_CASE("the log takes the next index in each transaction, and a failed one leaves no entry",
          "[storage][log]") {
    test::log_fixture f(3);
    try {
        auto tx = f.db->begin();
        tx.insert_evidence({"evd_new", "ltr_1", "SubmissionAcceptance", "t", "t", "<a/>"});
        tx.insert_evidence({"evd_0", "ltr_1", "SubmissionAcceptance", "t", "t", "<b/>"}); // taken
        tx.commit();
        FAIL("a duplicate evidence id was accepted");
    } catch (const storage::storage_error& e) {
        CHECK(e.which() == storage::storage_error::kind::conflict);
    }
    CHECK(f.db->log_size() == 3);
    CHECK_FALSE(f.db->log_entry_of("evd_new"));
    {
        auto tx = f.db->begin();
        tx.insert_evidence({"evd_rolled_back", "ltr_1", "SubmissionAcceptance", "t", "t", "<c/>"});
    } // never committed
    CHECK(f.db->log_size() == 3);

    f.append(1);
    auto entry = f.db->log_entry_of("evd_3");
    REQUIRE(entry);
    CHECK(entry->leaf_index == 3); // no gap where the failed ones were
    CHECK(entry->leaf_hash == merkle::leaf_hash(f.records[3]));

    auto records = f.db->log_records(1, 10);
    REQUIRE(records.size() == 3);
    CHECK(records[0].entry.leaf_index == 1);
    CHECK(records[0].evidence.xml == f.records[1]);
    CHECK(records[2].entry.evidence_id == "evd_3");
    CHECK(f.db->log_records(4, 10).empty());
}

TEST_CASE("concurrent appends from many connections stay one gap-free sequence", "[storage][log]") {
    test::log_fixture f(0);
    constexpr int threads = 4, per_thread = 25;
    std::vector<std::thread> workers;
    std::atomic<int> failed{0};
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
            // Each its own pool, as another gateway instance would be.
            auto db = f.store.open(1);
            for (int i = 0; i < per_thread; ++i) {
                try {
                    auto id = "evd_" + std::to_string(t) + "_" + std::to_string(i);
                    auto tx = db->begin();
                    tx.insert_evidence({id, "ltr_1", "SubmissionAcceptance", "t", "t", id});
                    tx.commit();
                } catch (const std::exception&) {
                    ++failed;
                }
            }
        });
    }
    for (auto& w : workers)
        w.join();
    CHECK(failed == 0);
    REQUIRE(f.db->log_size() == threads * per_thread);
    auto records = f.db->log_records(0, threads * per_thread);
    REQUIRE(records.size() == threads * per_thread);
    std::vector<merkle::hash> hashes;
    for (std::size_t i = 0; i < records.size(); ++i) {
        CHECK(records[i].entry.leaf_index == static_cast<std::int64_t>(i));
        CHECK(records[i].entry.leaf_hash == merkle::leaf_hash(records[i].evidence.xml));
        hashes.push_back(merkle::leaf_hash(records[i].evidence.xml));
    }
    CHECK(f.db->log_root(threads * per_thread) == merkle::root(hashes));
}

TEST_CASE("the store refuses proofs and roots beyond its log", "[storage][log]") {
    test::log_fixture f(5);
    CHECK_THROWS_AS(f.db->log_root(0), std::invalid_argument);
    CHECK_THROWS_AS(f.db->log_root(6), std::invalid_argument);
    CHECK_THROWS_AS(f.db->log_inclusion(5, 5), std::invalid_argument);
    CHECK_THROWS_AS(f.db->log_inclusion(0, 6), std::invalid_argument);
    CHECK_THROWS_AS(f.db->log_inclusion(-1, 5), std::invalid_argument);
    CHECK_THROWS_AS(f.db->log_consistency(0, 5), std::invalid_argument);
    CHECK_THROWS_AS(f.db->log_consistency(4, 3), std::invalid_argument);
    CHECK_THROWS_AS(f.db->log_consistency(1, 6), std::invalid_argument);
}

TEST_CASE("checkpoints only grow, one per size, as several instances would store them",
          "[storage][log]") {
    test::log_fixture f(4);
    storage::checkpoint_record c;
    c.tree_size = 3;
    c.root_hash = f.db->log_root(3);
    c.note = "note 3\n";
    c.timestamp_token = "dG9rZW4=";
    c.stamped_at = "2026-12-03T10:00:00.000Z";
    c.created_at = c.stamped_at;
    CHECK(f.db->insert_checkpoint(c));
    CHECK_FALSE(f.db->insert_checkpoint(c)); // the same size again: another instance won
    auto smaller = c;
    smaller.tree_size = 2;
    CHECK_FALSE(f.db->insert_checkpoint(smaller));
    auto larger = c;
    larger.tree_size = 4;
    larger.root_hash = f.db->log_root(4);
    CHECK(f.db->insert_checkpoint(larger));
    auto beyond = c;
    beyond.tree_size = 5;
    CHECK_THROWS_AS(f.db->insert_checkpoint(beyond), std::invalid_argument);

    auto all = f.db->checkpoints();
    REQUIRE(all.size() == 2);
    CHECK(all[0].tree_size == 3);
    CHECK(all[0].root_hash == c.root_hash);
    CHECK(all[0].note == "note 3\n");
    CHECK(f.db->latest_checkpoint()->tree_size == 4);
    CHECK(f.db->checkpoint_at(3)->timestamp_token == "dG9rZW4=");
    CHECK_FALSE(f.db->checkpoint_at(2));
}

TEST_CASE("the database itself refuses to change or remove the log, its subtrees and "
          "checkpoints",
          "[storage][log][append-only]") {
    test::log_fixture f(4); // leaves 0-3, subtrees (1,0), (1,1), (2,0)
    storage::checkpoint_record c{4, f.db->log_root(4), "n\n", "dA==", "t", "t"};
    REQUIRE(f.db->insert_checkpoint(c));
    auto before = f.db->log_root(4);

    // Through the database's own client, not our code: every change is refused, each by
    // the guard meant for it (its message says which).
    const std::pair<const char*, const char*> refused[] = {
        {"UPDATE log_entries SET leaf_hash = 'ff' WHERE leaf_index = 1", "append-only"},
        {"DELETE FROM log_entries WHERE leaf_index = 3", "append-only"},
        {"UPDATE log_entries SET leaf_index = 9 WHERE leaf_index = 3", "append-only"},
        {"UPDATE log_subtrees SET hash = 'ff' WHERE level = 2", "append-only"},
        {"DELETE FROM log_subtrees", "append-only"},
        {"UPDATE log_checkpoints SET root_hash = 'ff'", "append-only"},
        {"DELETE FROM log_checkpoints", "append-only"},
        {"UPDATE evidence SET xml = '<forged/>'", "append-only"},
        {"DELETE FROM evidence", "append-only"},
        // A record stored by hand, then logged out of order; subtrees not complete yet; a
        // checkpoint smaller than the last.
        {"INSERT INTO log_entries (leaf_index, evidence_id, leaf_hash) VALUES (5, 'evd_x', 'aa')",
         "next leaf index"},
        {"INSERT INTO log_subtrees (level, idx, hash) VALUES (1, 2, 'aa')", "complete subtrees"},
        {"INSERT INTO log_subtrees (level, idx, hash) VALUES (0, 7, 'aa')", "complete subtrees"},
        {"INSERT INTO log_checkpoints VALUES (2, 'aa', 'n', 't', 't', 't')", "grow"},
    };
    REQUIRE(f.store
                .sql("INSERT INTO evidence (id, letter_id, event, event_time, created_at, xml) "
                     "VALUES ('evd_x', 'ltr_1', 'SubmissionAcceptance', 't', 't', '<x/>')")
                .status == 0);
    for (const auto& [statement, guard] : refused) {
        INFO(statement);
        auto r = f.store.sql(statement);
        INFO(r.output);
        CHECK(r.status != 0);
        CHECK(r.output.find(guard) != std::string::npos);
    }
    if (f.store.postgresql()) {
        for (const char* table : {"evidence", "log_entries", "log_subtrees", "log_checkpoints"}) {
            INFO(table);
            auto r = f.store.sql(std::string("TRUNCATE ") + table + " CASCADE");
            CHECK(r.status != 0);
            CHECK(r.output.find("append-only") != std::string::npos);
        }
    }
    CHECK(f.db->log_size() == 4);
    CHECK(f.db->log_root(4) == before);
    CHECK(f.db->checkpoints().size() == 1);
    CHECK_FALSE(f.db->log_entry_of("evd_x")); // only a row made by hand lacks its leaf
}
