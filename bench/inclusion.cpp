// sceau_bench_inclusion: the time of one inclusion proof in a log of a million entries.
//
//   sceau_bench_inclusion [--entries N] [--proofs K] [--database CONN] [--dir DIR]
//
// Builds a log of N evidence records (1,000,000 by default) in a fresh SQLite file under
// DIR (a temporary directory by default, removed at the end), or in the empty PostgreSQL
// database CONN. The setup writes the rows in bulk (the records, their leaves and the
// complete subtrees, hashed here with crypto::merkle) instead of N deposits; the schema,
// its triggers included, is the gateway's. Then it asks for K proofs of random records
// as GET /v1/audit/inclusion does (the record's leaf, then the proof in the tree of N),
// verifies each against the root computed here, and prints the time per proof and the
// rows of the store read for it.

#include "crypto/encoding.hpp"
#include "crypto/merkle.hpp"
#include "storage/database.hpp"

#include <soci/postgresql/soci-postgresql.h>
#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <random>
#include <string>
#include <vector>

namespace {

using namespace sceau;
namespace merkle = crypto::merkle;
using clock_type = std::chrono::steady_clock;

struct options {
    long long entries = 1000000;
    int proofs = 2000;
    std::string database;
    std::string dir;
};

options parse(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc)
                throw std::invalid_argument(a + " needs a value");
            return argv[++i];
        };
        if (a == "--entries")
            o.entries = std::stoll(value());
        else if (a == "--proofs")
            o.proofs = std::stoi(value());
        else if (a == "--database")
            o.database = value();
        else if (a == "--dir")
            o.dir = value();
        else
            throw std::invalid_argument("unknown option " + a);
    }
    if (o.entries < 1 || o.entries > (1LL << 30) || o.proofs < 1)
        throw std::invalid_argument("--entries from 1 to 2^30, --proofs at least 1");
    return o;
}

double seconds_since(clock_type::time_point t) {
    return std::chrono::duration<double>(clock_type::now() - t).count();
}

std::string xml_of(long long i) {
    return "<Evidence n=\"" + std::to_string(i) + "\"/>";
}

/// Writes the records, their leaves and every complete subtree in bulk; returns the leaf
/// hashes. The triggers of migration 3 check each row as the gateway's appends would.
std::vector<merkle::hash> build(soci::session& sql, long long n) {
    sql << "INSERT INTO senders (id, name, email, identified_by, api_key_hash, created_at) "
           "VALUES ('snd_bench', 'Bench', 'bench@example.org', 'bench', 'bench', 't')";
    sql << "INSERT INTO letters (id, sender_id, kind, status, created_at, recipient, qualified) "
           "VALUES ('ltr_bench', 'snd_bench', 'ere', 'deposited', 't', '{}', 0)";

    constexpr std::size_t batch = 20000;
    std::vector<merkle::hash> leaves;
    leaves.reserve(static_cast<std::size_t>(n));
    std::vector<std::vector<merkle::hash>> levels(1); // levels[k]: complete subtrees of 2^k
    std::vector<long long> index;
    std::vector<std::string> ids, xmls, hashes;
    std::vector<int> sub_level;
    std::vector<long long> sub_index;
    std::vector<std::string> sub_hash;

    auto flush = [&] {
        soci::transaction tx(sql);
        if (!ids.empty()) {
            sql << "INSERT INTO evidence (id, letter_id, event, event_time, created_at, xml) "
                   "VALUES (:i, 'ltr_bench', 'SubmissionAcceptance', 't', 't', :x)",
                soci::use(ids), soci::use(xmls);
            sql << "INSERT INTO log_entries (leaf_index, evidence_id, leaf_hash) "
                   "VALUES (:n, :i, :h)",
                soci::use(index), soci::use(ids), soci::use(hashes);
        }
        if (!sub_level.empty())
            sql << "INSERT INTO log_subtrees (level, idx, hash) VALUES (:l, :i, :h)",
                soci::use(sub_level), soci::use(sub_index), soci::use(sub_hash);
        tx.commit();
        index.clear();
        ids.clear();
        xmls.clear();
        hashes.clear();
        sub_level.clear();
        sub_index.clear();
        sub_hash.clear();
    };

    for (long long i = 0; i < n; ++i) {
        auto xml = xml_of(i);
        auto leaf = merkle::leaf_hash(xml);
        leaves.push_back(leaf);
        index.push_back(i);
        ids.push_back("evd_bench_" + std::to_string(i));
        xmls.push_back(std::move(xml));
        hashes.push_back(crypto::to_hex(leaf));

        // The subtrees this leaf completes, as the gateway's append stores them.
        levels[0].push_back(leaf);
        for (std::size_t k = 0; levels[k].size() % 2 == 0; ++k) {
            auto& lower = levels[k];
            auto node = merkle::node_hash(lower[lower.size() - 2], lower.back());
            if (levels.size() == k + 1)
                levels.emplace_back();
            levels[k + 1].push_back(node);
            sub_level.push_back(static_cast<int>(k + 1));
            sub_index.push_back(static_cast<long long>(levels[k + 1].size() - 1));
            sub_hash.push_back(crypto::to_hex(node));
        }
        if (ids.size() == batch)
            flush();
    }
    flush();
    return leaves;
}

} // namespace

int main(int argc, char** argv) {
    try {
        auto o = parse(argc, argv);
        std::filesystem::path dir;
        bool temporary = false;
        if (o.database.empty()) {
            if (o.dir.empty()) {
                std::string pattern =
                    (std::filesystem::temp_directory_path() / "sceau-bench-XXXXXX").string();
                if (!::mkdtemp(pattern.data()))
                    throw std::runtime_error("mkdtemp failed");
                dir = pattern;
                temporary = true;
            } else {
                dir = o.dir;
                std::filesystem::create_directories(dir);
            }
            o.database = "sqlite:" + (dir / "bench.db").string();
        }

        auto db = storage::database::open(o.database, 2, {merkle::leaf_hash, merkle::node_hash});
        db->migrate();
        if (db->log_size() != 0)
            throw std::runtime_error("the database's log is not empty");
        std::cout << "backend: " << db->backend_version() << "\n";

        auto started = clock_type::now();
        std::vector<merkle::hash> leaves;
        {
            soci::session sql;
            if (o.database.rfind("sqlite:", 0) == 0) {
                sql.open(soci::sqlite3, "db=\"" + o.database.substr(7) + "\" timeout=30");
                sql << "PRAGMA journal_mode=WAL";
                sql << "PRAGMA foreign_keys=ON";
            } else {
                sql.open(soci::postgresql, o.database);
            }
            leaves = build(sql, o.entries);
        }
        std::cout << "setup: " << o.entries << " entries in " << seconds_since(started) << " s\n";

        auto size = db->log_size();
        if (size != o.entries)
            throw std::runtime_error("the log has " + std::to_string(size) + " entries");
        merkle::tree tree;
        for (const auto& leaf : leaves)
            tree.append(leaf);
        auto root = tree.root();
        if (db->log_root(size) != root)
            throw std::runtime_error("the stored log's root is not the one computed here");

        // The measured part: what GET /v1/audit/inclusion/{id} asks of the store.
        std::mt19937_64 random(20261204);
        std::uniform_int_distribution<long long> pick(0, o.entries - 1);
        std::vector<double> times;
        long long rows = 0;
        int max_rows = 0;
        for (int k = 0; k < o.proofs; ++k) {
            auto leaf = pick(random);
            auto id = "evd_bench_" + std::to_string(leaf);
            auto t = clock_type::now();
            auto entry = db->log_entry_of(id);
            auto proof = db->log_inclusion(entry->leaf_index, size);
            times.push_back(seconds_since(t) * 1000.0);
            // Rows: the leaf by its evidence id, the log's size, then the proof's own.
            int read = 1 + 1 + proof.rows_read;
            rows += read;
            max_rows = std::max(max_rows, read);
            if (!merkle::verify_inclusion(static_cast<std::uint64_t>(leaf),
                                          static_cast<std::uint64_t>(size), leaves[leaf],
                                          proof.path, root))
                throw std::runtime_error("a proof does not verify: leaf " + std::to_string(leaf));
        }
        std::sort(times.begin(), times.end());
        double total = 0;
        for (double t : times)
            total += t;
        auto at = [&](double q) { return times[static_cast<std::size_t>(q * (times.size() - 1))]; };
        std::printf("inclusion proof at %lld entries, %d proofs, all verified:\n", o.entries,
                    o.proofs);
        std::printf("  mean %.3f ms, median %.3f ms, p99 %.3f ms, max %.3f ms\n",
                    total / times.size(), at(0.5), at(0.99), times.back());
        std::printf("  rows read per proof: mean %.1f, max %d (target: under 5 ms)\n",
                    static_cast<double>(rows) / o.proofs, max_rows);

        db.reset();
        if (temporary)
            std::filesystem::remove_all(dir);
        return total / times.size() < 5.0 ? 0 : 2;
    } catch (const std::exception& e) {
        std::cerr << "sceau_bench_inclusion: " << e.what() << "\n";
        return 1;
    }
}
