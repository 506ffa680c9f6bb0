#pragma once
// A fresh store on the backend the test run names, so that one suite runs on both:
// SQLite in a temporary directory by default; with SCEAU_TEST_POSTGRESQL naming a file
// that holds an admin connection string (written by tests/tools/postgresql_server.py),
// a database of its own on that PostgreSQL server, dropped when the test ends.

#include "crypto/merkle.hpp"
#include "crypto/random.hpp"
#include "storage/database.hpp"
#include "support/fixtures.hpp"

#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>

namespace sceau::test {

class test_database {
public:
    test_database() {
        if (const char* file = std::getenv("SCEAU_TEST_POSTGRESQL"); file && *file) {
            std::ifstream in(file);
            std::getline(in, admin_);
            if (admin_.empty())
                throw std::runtime_error(std::string("no PostgreSQL connection string in ") + file);
            name_ = "sceau_test_" + crypto::random_id("", 8);
            auto made = psql(admin_ + " dbname=postgres", "CREATE DATABASE " + name_);
            if (made.status != 0)
                throw std::runtime_error("CREATE DATABASE failed: " + made.output);
        }
    }

    ~test_database() {
        if (!name_.empty())
            psql(admin_ + " dbname=postgres", "DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
    }

    test_database(const test_database&) = delete;
    test_database& operator=(const test_database&) = delete;

    bool postgresql() const { return !name_.empty(); }

    /// The connection string a gateway's storage.database takes.
    std::string connection() const {
        return postgresql() ? admin_ + " dbname=" + name_ : "sqlite:" + (dir_ / "t.db").string();
    }

    /// A new connection pool to the store, migrated.
    std::unique_ptr<storage::database> open(std::size_t pool_size = 2) const {
        auto db = storage::database::open(connection(), pool_size,
                                          {crypto::merkle::leaf_hash, crypto::merkle::node_hash});
        db->migrate();
        return db;
    }

    /// Runs SQL with the backend's own command-line client (sqlite3 or psql), not ours.
    command_result sql(const std::string& statement) const {
        if (postgresql())
            return psql(connection(), statement);
        return run("sqlite3 '" + (dir_ / "t.db").string() + "' \"" + statement + "\"");
    }

private:
    static command_result psql(const std::string& connection, const std::string& statement) {
        return run("psql -X -q -v ON_ERROR_STOP=1 '" + connection + "' -c \"" + statement + "\"");
    }

    temp_dir dir_;
    std::string admin_;
    std::string name_;
};

} // namespace sceau::test
