#pragma once
// A running gateway with one sender, and the checks the deposit tests share.

#include "crypto/merkle.hpp"
#include "storage/database.hpp"
#include "support/http_client.hpp"
#include "support/server_process.hpp"

#include <catch2/catch.hpp>

namespace sceau::test {

inline std::string hostile(const std::string& name) {
    return source_path("tests/fixtures/hostile/" + name).string();
}

inline const char* const letter_lre =
    R"({"kind":"lre","recipient":{"email":"claire.martin@example.org","given_name":"Claire",)"
    R"("family_name":"Martin","birth_date":"1985-02-17","professional":false},)"
    R"("consent_reference":"signed-consent-2026-03-02","subject":"Mise en demeure - facture 2026-118",)"
    R"("reference":"dossier 4521"})";

class deposit_fixture {
public:
    explicit deposit_fixture(const std::string& config_toml = {})
        : server(config_toml) {
        key = server.add_sender("Maître Durand", "contact@durand.example", "Étude Durand");
    }

    std::vector<std::string> auth() const { return {"Authorization: Bearer " + key}; }

    http_response deposit(const std::string& letter, const std::string& pdf_file,
                          const std::vector<std::string>& extra_headers = {},
                          const std::string& filename = {}) {
        std::vector<form_part> parts = {{"letter", letter, "", "", "application/json"}};
        if (!pdf_file.empty())
            parts.push_back({"document", "", pdf_file, filename, "application/pdf"});
        auto headers = auth();
        headers.insert(headers.end(), extra_headers.begin(), extra_headers.end());
        return client.post_form(server.url("/v1/letters"), parts, headers);
    }

    /// Rows in a table of the store, read by a second connection to the same database.
    std::int64_t rows(const std::string& table) {
        auto db = storage::database::open("sqlite:" + (server.data_dir() / "sceau.db").string(), 1,
                                          {crypto::merkle::leaf_hash, crypto::merkle::node_hash});
        return db->count(table);
    }

    /// Files of documents at rest, temporary or published.
    std::size_t stored_files() {
        std::size_t n = 0;
        auto root = server.data_dir() / "blobs";
        if (!std::filesystem::exists(root))
            return 0;
        for (const auto& e : std::filesystem::recursive_directory_iterator(root))
            n += e.is_regular_file() ? 1 : 0;
        return n;
    }

    /// The server answered, and still answers.
    void check_still_serving() {
        CHECK(server.alive());
        CHECK(client.get(server.url("/healthz")).status == 200);
    }

    server_process server;
    http_client client;
    std::string key;
};

struct cli_result {
    int status = -1;
    std::string out; ///< standard output alone
    std::string err;
};

/// Runs `sceau ARGS` on the fixture's data directory, keeping the two outputs apart.
inline cli_result sceau_cli(const deposit_fixture& f, const std::string& args) {
    auto err_file = f.server.dir() / "cli.err";
    auto r = run("(" + std::string(SCEAU_BINARY) + " " + args + " --data '" +
                 f.server.data_dir().string() + "' 2>'" + err_file.string() + "')");
    return {r.status, r.output, read_file(err_file)};
}

} // namespace sceau::test
