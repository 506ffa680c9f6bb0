// sceau audit on real data directories written by the real server: clean, then tampered
// the way an attacker with file access would (the store's triggers dropped with the sqlite3
// command line), each tampering reported with what and where.

#include "integration/deposit_fixture.hpp"

#include <sstream>

using namespace sceau::test;
using nlohmann::json;

namespace {

/// An archive of three letters, its log covered by a checkpoint, the server stopped.
class archive {
public:
    archive() {
        letters.push_back(deposit("pdf/p00-positive-control.pdf"));
        letters.push_back(deposit("pdf/p01-openaction-javascript.pdf"));
        letters.push_back(deposit("pdf/p00-positive-control.pdf"));
        checkpoint_note = checkpoint();
        f.server.stop();
        auto rows = sql("SELECT leaf_index || ' ' || evidence_id FROM log_entries "
                        "ORDER BY leaf_index");
        std::istringstream lines(rows);
        for (std::string line; std::getline(lines, line);)
            leaves.push_back(line.substr(line.find(' ') + 1));
    }

    std::string deposit(const std::string& pdf) {
        auto r = f.deposit(letter_lre, hostile(pdf));
        if (r.status != 201)
            throw std::runtime_error("deposit failed: " + r.body);
        return r.json()["id"];
    }

    /// `sceau checkpoint`: signs the log as it is; returns the signed note.
    std::string checkpoint() {
        auto r = run("(" + std::string(SCEAU_BINARY) + " checkpoint --data '" + data().string() +
                     "' 2>/dev/null)");
        if (r.status != 0)
            throw std::runtime_error("sceau checkpoint failed: " + r.output);
        return r.output;
    }

    std::filesystem::path data() const { return f.server.data_dir(); }

    /// The sqlite3 command line on the store, as an attacker with file access would use it.
    std::string sql(const std::string& statements) {
        auto r = run("sqlite3 '" + (data() / "sceau.db").string() + "' \"" + statements + "\"");
        if (r.status != 0)
            throw std::runtime_error("sqlite3 failed: " + r.output);
        return r.output;
    }

    json audit(int& status, const std::string& extra = {}) {
        auto r = run("(" + std::string(SCEAU_BINARY) + " audit --json --data '" + data().string() +
                     "' --trust '" + source_path("certs-sample/root-ca.pem").string() + "' " +
                     extra + " 2>/dev/null)");
        status = r.status;
        return json::parse(r.output, nullptr, false);
    }

    deposit_fixture f;
    std::vector<std::string> letters;
    std::vector<std::string> leaves; ///< evidence ids by leaf index
    std::string checkpoint_note;
};

/// Whether an error of the report has `where_part` in its where and `what_part` in its what.
bool found(const json& report, const std::string& where_part, const std::string& what_part) {
    for (const auto& f : report["findings"]) {
        if (f["severity"] == "error" &&
            f["where"].get<std::string>().find(where_part) != std::string::npos &&
            f["what"].get<std::string>().find(what_part) != std::string::npos)
            return true;
    }
    return false;
}

std::string blob_path(const archive& a, const std::string& sha256) {
    return (a.data() / "blobs" / "sha256" / sha256.substr(0, 2) / sha256).string();
}

} // namespace

TEST_CASE("an archive written by the real server audits clean", "[integration][audit]") {
    archive a;
    int status = -1;
    auto report = a.audit(status);
    INFO(report.dump(2));
    CHECK(status == 0);
    CHECK(report["verdict"] == "clean");
    CHECK(report["errors"] == 0);
    CHECK(report["warnings"] == 0); // every entry is under the checkpoint
    CHECK(report["records"] == a.leaves.size());
    CHECK(report["log_entries"] == a.leaves.size());
    CHECK(report["letters"] == 3);
    CHECK(report["documents"] == 3);
    CHECK(report["checkpoints"] == 1);

    // The report goes to a pipe here: no progress bar mixed into it.
    auto plain = run(std::string(SCEAU_BINARY) + " audit --data '" + a.data().string() +
                     "' --trust '" + source_path("certs-sample/root-ca.pem").string() + "'");
    CHECK(plain.status == 0);
    CHECK(plain.output.find("CLEAN") != std::string::npos);
    CHECK(plain.output.find("\r[") == std::string::npos);

    // On a terminal (script gives it one), the bar is drawn.
    auto tty =
        run("script -qec \"" + std::string(SCEAU_BINARY) + " audit --data '" + a.data().string() +
            "' --trust '" + source_path("certs-sample/root-ca.pem").string() + "'\" /dev/null");
    CHECK(tty.output.find("[####") != std::string::npos);
}

TEST_CASE("one changed byte of an evidence record is found with the record and its log entry",
          "[integration][audit][tamper]") {
    archive a;
    auto id = a.leaves[1];
    a.sql("DROP TRIGGER evidence_no_update; UPDATE evidence SET xml = replace(xml, "
          "'MessageIdentifier>' || letter_id || '<', 'MessageIdentifier>' || "
          "substr(letter_id, 1, length(letter_id) - 1) || 'X<') WHERE id = '" +
          id + "';");
    int status = -1;
    auto report = a.audit(status);
    INFO(report.dump(2));
    CHECK(status == 1);
    CHECK(found(report, "seal of " + id, "changed after signing"));
    CHECK(found(report, id + " (SubmissionAcceptance) (log entry 1)", "changed after signing"));
    CHECK(found(report, "log entry 1", "the record was changed after it was logged"));
    CHECK(found(report, "evidence row " + id, "letter_id column"));
    CHECK(found(report, "checkpoint of", "recomputed from the records"));
}

TEST_CASE("one changed byte of a document is found with its letter and position",
          "[integration][audit][tamper]") {
    archive a;
    auto sha = a.sql("SELECT sha256 FROM documents WHERE letter_id = '" + a.letters[1] + "';");
    sha = sha.substr(0, 64);
    auto path = blob_path(a, sha);
    auto bytes = read_file(path);
    bytes[bytes.size() / 2] ^= 0x20;
    std::filesystem::permissions(path, std::filesystem::perms::owner_write,
                                 std::filesystem::perm_options::add);
    write_file(path, bytes);
    int status = -1;
    auto report = a.audit(status);
    INFO(report.dump(2));
    CHECK(status == 1);
    CHECK(found(report, "document 1 of letter " + a.letters[1], "the file was changed"));
    CHECK(!found(report, "letter " + a.letters[0], "")); // the others are intact
}

TEST_CASE("a deleted log entry is found as a gap, a record outside the log and a broken "
          "checkpoint",
          "[integration][audit][tamper]") {
    archive a;
    a.sql("DROP TRIGGER log_entries_no_delete; DELETE FROM log_entries WHERE leaf_index = 1;");
    int status = -1;
    auto report = a.audit(status);
    INFO(report.dump(2));
    CHECK(status == 1);
    CHECK(found(report, "log entries 1 to 1", "deleted"));
    CHECK(found(report, "evidence " + a.leaves[1], "in no log entry"));
    CHECK(found(report, "checkpoint of " + std::to_string(a.leaves.size()) + " entries",
                "changed, removed or reordered"));
}

TEST_CASE("two reordered log entries are found by the checkpoint they break",
          "[integration][audit][tamper]") {
    archive a;
    a.sql("DROP TRIGGER log_entries_no_update; "
          "UPDATE log_entries SET leaf_index = -1 WHERE leaf_index = 0; "
          "UPDATE log_entries SET leaf_index = 0 WHERE leaf_index = 2; "
          "UPDATE log_entries SET leaf_index = 2 WHERE leaf_index = -1;");
    int status = -1;
    auto report = a.audit(status);
    INFO(report.dump(2));
    CHECK(status == 1);
    CHECK(found(report, "checkpoint of " + std::to_string(a.leaves.size()) + " entries",
                "reordered"));
    CHECK(!found(report, "log entries", "gap")); // nothing is missing: the order changed
}

TEST_CASE("a database rolled back to an earlier copy is found by newer files and a kept "
          "checkpoint",
          "[integration][audit][tamper]") {
    archive a; // three letters; now an earlier copy of the store, then one letter more
    auto earlier = a.f.server.dir() / "earlier";
    std::filesystem::create_directories(earlier);
    for (const auto& e : std::filesystem::directory_iterator(a.data())) {
        if (e.path().filename().string().rfind("sceau.db", 0) == 0)
            std::filesystem::copy_file(e.path(), earlier / e.path().filename());
    }
    a.f.server.start();
    auto r = a.f.deposit(letter_lre,
                         source_path("tests/fixtures/pdf-generated/plain-objstm.pdf").string());
    REQUIRE(r.status == 201);
    auto later_note = a.checkpoint();
    a.f.server.stop();
    write_file(a.f.server.dir() / "kept-checkpoint.txt", later_note);

    for (const auto& e : std::filesystem::directory_iterator(a.data())) {
        if (e.path().filename().string().rfind("sceau.db", 0) == 0)
            std::filesystem::remove(e.path());
    }
    for (const auto& e : std::filesystem::directory_iterator(earlier))
        std::filesystem::copy_file(e.path(), a.data() / e.path().filename());

    int status = -1;
    auto report = a.audit(status);
    INFO(report.dump(2));
    CHECK(status == 1);
    CHECK(found(report, "document file ", "rolled back"));

    auto with_kept =
        a.audit(status, "--previous '" + (a.f.server.dir() / "kept-checkpoint.txt").string() + "'");
    INFO(with_kept.dump(2));
    CHECK(status == 1);
    CHECK(found(with_kept, "earlier checkpoint of",
                "the log now has " + std::to_string(a.leaves.size())));
}

TEST_CASE("a running gateway's audit API audits clean, and a record changed behind it is found",
          "[integration][audit][api]") {
    archive a;
    auto added = run("(" + std::string(SCEAU_BINARY) + " auditor add --data '" + a.data().string() +
                     "' --name 'Organisme de contrôle' 2>/dev/null)");
    REQUIRE(added.status == 0);
    auto key_file = a.f.server.dir() / "auditor.key";
    write_file(key_file, added.output);
    a.f.server.start();
    auto over_api = [&](int& status) {
        auto r = run("(" + std::string(SCEAU_BINARY) + " audit --json --url '" +
                     a.f.server.url("") + "' --key-file '" + key_file.string() + "' --trust '" +
                     source_path("certs-sample/root-ca.pem").string() + "' 2>/dev/null)");
        status = r.status;
        return json::parse(r.output, nullptr, false);
    };

    int status = -1;
    auto clean = over_api(status);
    INFO(clean.dump(2));
    CHECK(status == 0);
    CHECK(clean["verdict"] == "clean");
    CHECK(clean["records"] >= a.leaves.size()); // and the notices the worker has sent since
    CHECK(clean["checkpoints"] == 1);
    // Letters and records outside the log are not served there: said, not hidden.
    auto warned = [&](const std::string& where) {
        for (const auto& w : clean["findings"]) {
            if (w["severity"] == "warning" && w["where"] == where)
                return true;
        }
        return false;
    };
    CHECK(warned("letters and documents"));
    CHECK(warned("records outside the log"));

    a.f.server.stop();
    auto id = a.leaves[0];
    a.sql("DROP TRIGGER evidence_no_update; UPDATE evidence SET xml = replace(xml, "
          "'MessageIdentifier>' || letter_id || '<', 'MessageIdentifier>' || "
          "substr(letter_id, 1, length(letter_id) - 1) || 'X<') WHERE id = '" +
          id + "';");
    a.f.server.start();
    auto tampered = over_api(status);
    INFO(tampered.dump(2));
    CHECK(status == 1);
    CHECK(found(tampered, "log entry 0", "changed after it was logged"));
    CHECK(found(tampered, "seal of " + id, "changed after signing"));

    // Without a valid auditor key, the audit stops with a clear error.
    write_file(key_file, "ak_not-a-key\n");
    auto refused = run(std::string(SCEAU_BINARY) + " audit --url '" + a.f.server.url("") +
                       "' --key-file '" + key_file.string() + "' --trust '" +
                       source_path("certs-sample/root-ca.pem").string() + "'");
    CHECK(refused.status == 1);
    CHECK(refused.output.find("auditor key is not accepted") != std::string::npos);
}
