// Proof bundles and share links over HTTP, with the real server; each bundle checked by
// `sceau verify` with only the sample root.

#include "crypto/asic.hpp"
#include "crypto/encoding.hpp"
#include "crypto/merkle.hpp"
#include "crypto/sha256.hpp"
#include "integration/deposit_fixture.hpp"

using namespace sceau::test;
using nlohmann::json;

namespace {

struct verify_result {
    int status = -1;
    json report;
};

/// `sceau verify --json` with only the sample root as trust anchor.
verify_result sceau_verify(const std::filesystem::path& bundle) {
    auto r = run(std::string(SCEAU_BINARY) + " verify --json --trust '" +
                 source_path("certs-sample/root-ca.pem").string() + "' '" + bundle.string() +
                 "' 2>/dev/null");
    return {r.status, json::parse(r.output, nullptr, false)};
}

bool reports(const json& report, const std::string& verdict, const std::string& item_part) {
    for (const auto& c : report["checks"]) {
        if (c["verdict"] == verdict &&
            c["item"].get<std::string>().find(item_part) != std::string::npos)
            return true;
    }
    return false;
}

std::vector<std::string> entry_names(const std::filesystem::path& bundle) {
    sceau::crypto::asic_reader reader(bundle);
    std::vector<std::string> out;
    for (const auto& e : reader.entries())
        out.push_back(e.name);
    return out;
}

bool has_prefix(const std::vector<std::string>& names, const std::string& prefix) {
    return std::any_of(names.begin(), names.end(),
                       [&](const std::string& n) { return n.rfind(prefix, 0) == 0; });
}

struct bundle_fixture : deposit_fixture {
    std::string letter_id;

    bundle_fixture() {
        auto r = deposit(letter_lre, hostile("pdf/p00-positive-control.pdf"));
        if (r.status != 201)
            throw std::runtime_error("deposit failed: " + r.body);
        letter_id = r.json()["id"];
    }

    std::filesystem::path save(const http_response& r, const std::string& name) {
        auto path = server.dir() / name;
        write_file(path, r.body);
        return path;
    }

    http_response share(const std::string& body, const std::string& id = {}) {
        auto headers = auth();
        headers.push_back("Content-Type: application/json");
        return client.post_body(
            server.url("/v1/letters/" + (id.empty() ? letter_id : id) + "/shares"), body, headers);
    }

    json shares() {
        return client.get(server.url("/v1/letters/" + letter_id + "/shares"), auth()).json();
    }

    /// The path of a share link's URL.
    std::string path_of(const std::string& url) { return url.substr(url.find("/v1/shares/")); }
};

} // namespace

TEST_CASE("the sender downloads a proof bundle that sceau verify accepts with the root alone",
          "[integration][bundle]") {
    bundle_fixture f;
    auto r = f.client.get(f.server.url("/v1/letters/" + f.letter_id + "/bundle"), f.auth());
    REQUIRE(r.status == 200);
    CHECK(r.header("content-type") == "application/vnd.etsi.asic-e+zip");
    CHECK(r.header("content-disposition").find("proofs-" + f.letter_id + ".asice") !=
          std::string::npos);
    auto bundle = f.save(r, "bundle.asice");

    auto v = sceau_verify(bundle);
    INFO(v.report.dump(2));
    CHECK(v.status == 0);
    CHECK(v.report["verdict"] == "holds");
    CHECK(v.report["failures"] == 0);
    CHECK(reports(v.report, "holds", "container signature time-stamp"));
    CHECK(reports(v.report, "holds", "seal of evd_"));
    CHECK(reports(v.report, "holds", "signature time-stamp of evd_"));
    CHECK(reports(v.report, "holds", "event time-stamp of evd_"));
    CHECK(reports(v.report, "holds", "document documents/1-p00-positive-control.pdf"));
    CHECK(reports(v.report, "holds", "log checkpoint time-stamp"));
    CHECK(reports(v.report, "holds", "inclusion of evd_"));

    // What a lawyer finds inside.
    sceau::crypto::asic_reader reader(bundle);
    auto pdf = read_file(hostile("pdf/p00-positive-control.pdf"));
    CHECK(reader.read("documents/1-p00-positive-control.pdf", 1 << 20) == pdf);
    auto index = json::parse(reader.read("bundle.json", 1 << 20));
    CHECK(index["letter"] == f.letter_id);
    REQUIRE(index["evidence"].size() == 1);
    CHECK(index["evidence"][0]["event"] == "SubmissionAcceptance");
    auto evidence_id = index["evidence"][0]["id"].get<std::string>();
    auto served =
        f.client.get(f.server.url("/v1/evidence/" + evidence_id), f.auth()).body; // as sealed
    CHECK(reader.read(index["evidence"][0]["entry"].get<std::string>(), 1 << 20) == served);
    auto summary = reader.read("summary.html", 1 << 20);
    CHECK(summary.find("Chronologie") != std::string::npos);
    CHECK(summary.find("Timeline") != std::string::npos);
    CHECK(summary.find("Dépôt accepté") != std::string::npos);
    CHECK(summary.find(f.letter_id) != std::string::npos);

    // The bundle was built in a scratch file that is gone once sent.
    auto scratch = f.server.data_dir() / "blobs" / "tmp";
    CHECK((!std::filesystem::exists(scratch) || std::filesystem::is_empty(scratch)));
    f.check_still_serving();
}

TEST_CASE("another sender's letter has no bundle for them, and none without a key",
          "[integration][bundle][auth]") {
    bundle_fixture f;
    auto other = f.server.add_sender("Autre", "autre@example.org");
    auto url = f.server.url("/v1/letters/" + f.letter_id + "/bundle");
    CHECK(f.client.get(url, {"Authorization: Bearer " + other}).status == 404);
    CHECK(f.client.get(url).status == 401);
    auto share = f.client.post_body(f.server.url("/v1/letters/" + f.letter_id + "/shares"), "{}",
                                    {"Authorization: Bearer " + other});
    CHECK(share.status == 404);
    CHECK(f.rows("shares") == 0);
}

TEST_CASE("a share link serves the bundle without a key until revoked, each access recorded",
          "[integration][bundle][share]") {
    bundle_fixture f;
    auto created = f.share(R"({"label":"Maître Lefèvre","expires_in_days":7,"documents":false})");
    INFO(created.body);
    REQUIRE(created.status == 201);
    auto share = created.json();
    CHECK(share["id"].get<std::string>().rfind("shr_", 0) == 0);
    CHECK(share["label"] == "Maître Lefèvre");
    CHECK(share["documents"] == false);
    CHECK(share["revoked_at"].is_null());
    auto url = share["url"].get<std::string>();
    auto token = url.substr(url.find("/v1/shares/") + 11);
    token = token.substr(0, token.find('/'));
    CHECK(token.size() >= 43); // 256 bits in base64url

    // Only the token's hash is stored.
    {
        auto db = sceau::storage::database::open(
            "sqlite:" + (f.server.data_dir() / "sceau.db").string(), 1,
            {sceau::crypto::merkle::leaf_hash, sceau::crypto::merkle::node_hash});
        CHECK(!db->share_by_token_hash(token).has_value());
        CHECK(db->share_by_token_hash(sceau::crypto::to_hex(sceau::crypto::sha256::of(token)))
                  .has_value());
    }

    // No key: the bundle, without the documents, still verifying.
    auto got = f.client.get(f.server.url(f.path_of(url)), {"User-Agent: lawyer-test/1"});
    REQUIRE(got.status == 200);
    CHECK(got.header("content-type") == "application/vnd.etsi.asic-e+zip");
    auto bundle = f.save(got, "shared.asice");
    auto names = entry_names(bundle);
    CHECK(!has_prefix(names, "documents/"));
    CHECK(has_prefix(names, "evidence/"));
    auto v = sceau_verify(bundle);
    INFO(v.report.dump(2));
    CHECK(v.status == 0);
    CHECK(reports(v.report, "warning", "document p00-positive-control.pdf"));

    // The sender sees the share and its access, never the token again.
    auto listed = f.shares();
    REQUIRE(listed["data"].size() == 1);
    CHECK(!listed["data"][0].contains("url"));
    REQUIRE(listed["data"][0]["accesses"].size() == 1);
    CHECK(listed["data"][0]["accesses"][0]["outcome"] == "served");
    CHECK(listed["data"][0]["accesses"][0]["client"] == "lawyer-test/1");
    CHECK(listed.dump().find(token) == std::string::npos);

    // Revoked: 410 from now on, and that access is recorded too.
    auto other = f.server.add_sender("Autre", "autre@example.org");
    auto share_url = f.server.url("/v1/shares/" + share["id"].get<std::string>());
    CHECK(f.client.del(share_url, {"Authorization: Bearer " + other}).status == 404);
    CHECK(f.client.del(share_url).status == 401);
    CHECK(f.client.del(share_url, f.auth()).status == 204);
    CHECK(f.client.del(share_url, f.auth()).status == 204); // twice: no change
    auto gone = f.client.get(f.server.url(f.path_of(url)));
    CHECK(gone.status == 410);
    CHECK(gone.json()["type"] == "urn:sceau:problem:share-gone");
    CHECK(gone.json()["detail"].get<std::string>().find("revoked") != std::string::npos);
    listed = f.shares();
    CHECK(!listed["data"][0]["revoked_at"].is_null());
    REQUIRE(listed["data"][0]["accesses"].size() == 2);
    CHECK(listed["data"][0]["accesses"][1]["outcome"] == "revoked");

    // A token nobody was given.
    CHECK(f.client.get(f.server.url("/v1/shares/" + std::string(43, 'A') + "/bundle")).status ==
          404);
    // The server log never shows the token.
    CHECK(f.server.log().find(token) == std::string::npos);
    f.check_still_serving();
}

TEST_CASE("a share link with the documents carries them, and expires on time",
          "[integration][bundle][share]") {
    bundle_fixture f;
    auto created = f.share(R"({"expires_in_days":1})");
    REQUIRE(created.status == 201);
    auto share = created.json();
    CHECK(share["documents"] == true);
    CHECK(share["label"] == "");
    auto path = f.path_of(share["url"].get<std::string>());
    auto got = f.client.get(f.server.url(path));
    REQUIRE(got.status == 200);
    CHECK(has_prefix(entry_names(f.save(got, "with.asice")), "documents/1-"));

    // Two days later (the sample keys allow a shifted clock), the link is dead.
    f.server.stop();
    f.server.set_extra_args({"--clock-offset", std::to_string(2 * 24 * 3600)});
    f.server.start();
    auto late = f.client.get(f.server.url(path));
    CHECK(late.status == 410);
    CHECK(late.json()["detail"].get<std::string>().find("expired") != std::string::npos);
    auto listed = f.shares();
    REQUIRE(listed["data"][0]["accesses"].size() == 2);
    CHECK(listed["data"][0]["accesses"][1]["outcome"] == "expired");
}

TEST_CASE("share requests out of bounds are refused and store nothing",
          "[integration][bundle][share]") {
    bundle_fixture f;
    for (std::string body : std::vector<std::string>{
             R"({"expires_in_days":0})", R"({"expires_in_days":366})", R"({"expires_in_days":"7"})",
             R"({"documents":"yes"})", R"({"label":"a\u0007b"})", R"({"unknown":1})", "[1]",
             "not json", R"({"label":")" + std::string(201, 'x') + R"("})"}) {
        INFO(body);
        auto r = f.share(body);
        CHECK(r.status == 400);
        CHECK(r.json()["type"] == "urn:sceau:problem:invalid-parameter");
    }
    CHECK(f.share("{}", "ltr_doesnotexist").status == 404);
    CHECK(f.rows("shares") == 0);
    f.check_still_serving();
}
