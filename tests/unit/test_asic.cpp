// ASiC-E containers: what the writer makes, what the reader refuses (the asic/ cases of
// the hostile corpus), and the container checks of sceau verify.

#include "crypto/asic.hpp"
#include "crypto/error.hpp"
#include "crypto/timestamp.hpp"
#include "crypto/xades.hpp"
#include "protocols/bundle_verifier.hpp"
#include "support/fixtures.hpp"
#include "support/verification.hpp"

#include <catch2/catch.hpp>

#include <fstream>

using namespace sceau;
using test::has_check;

namespace {

std::filesystem::path corpus(const std::string& name) {
    return test::source_path("tests/fixtures/hostile/asic/" + name);
}

crypto::errc refusal(const std::filesystem::path& path) {
    try {
        crypto::asic_reader reader(path);
    } catch (const crypto::error& e) {
        return static_cast<crypto::errc>(e.code().value());
    }
    return crypto::errc{};
}

std::string refusal_message(const std::filesystem::path& path) {
    try {
        crypto::asic_reader reader(path);
    } catch (const crypto::error& e) {
        return e.what();
    }
    return "accepted";
}

protocols::bundle_verify_options corpus_trust() {
    protocols::bundle_verify_options o;
    o.anchors = crypto::certificates_from_pem(
        test::read_file(test::source_path("tests/fixtures/hostile/keys/erds-seal-cert.pem")));
    return o;
}

/// A signed container of two entries, made by the writer and the sample seal.
struct written_container {
    test::temp_dir dir;
    std::filesystem::path path = dir / "c.asice";

    written_container() {
        test::write_file(dir / "doc.pdf", "%PDF-1.7 a document");
        crypto::builtin_tsa tsa(test::sample_identity("tsa"), "2.25.1");
        crypto::xades_signer signer(test::sample_identity("seal"), tsa);
        crypto::asic_writer w(path);
        w.add_file("files/1-doc.pdf", dir / "doc.pdf", "application/pdf");
        w.add("notes/readme.txt", "hello", "text/plain");
        w.add_manifest();
        auto sealed = signer.seal_detached(w.objects(), "t1", std::chrono::system_clock::now());
        w.finish(std::move(sealed.bytes));
    }
};

protocols::bundle_verify_options sample_trust() {
    protocols::bundle_verify_options o;
    o.anchors = crypto::certificates_from_pem(
        test::read_file(test::source_path("certs-sample/root-ca.pem")));
    return o;
}

} // namespace

TEST_CASE("entry names that climb out, are absolute or hide characters are refused",
          "[crypto][asic]") {
    for (std::string bad : std::vector<std::string>{
             "", "../x", "a/../../x", "/etc/passwd", "C:/x", "a\\b", "a//b", "./a", "a/./b", "a/..",
             std::string("a\x01") + "b", "a\x7f", "\xc3\x28.pdf", "\xc0\xaf.pdf",
             "\xed\xa0\x80.pdf", std::string(600, 'a')}) {
        INFO(test::printable(bad));
        CHECK(crypto::entry_name_problem(bad).has_value());
    }
    for (std::string good :
         std::vector<std::string>{"mimetype", "META-INF/manifest.xml", "documents/1-a.pdf",
                                  "Élodie Marchand/contrat bail.pdf", "a..b.txt"}) {
        INFO(good);
        CHECK(!crypto::entry_name_problem(good).has_value());
    }
}

TEST_CASE("the writer puts mimetype first and stored, and the reader gives the entries back",
          "[crypto][asic]") {
    written_container c;
    auto listing = test::run("unzip -lv '" + c.path.string() + "'");
    REQUIRE(listing.status == 0);
    // unzip lists in container order: mimetype first, "Stored".
    auto first = listing.output.find("mimetype");
    REQUIRE(first != std::string::npos);
    CHECK(listing.output.find("files/1-doc.pdf") > first);
    auto line = listing.output.substr(listing.output.rfind('\n', first) + 1,
                                      first - listing.output.rfind('\n', first));
    CHECK(line.find("Stored") != std::string::npos);

    crypto::asic_reader reader(c.path);
    REQUIRE(reader.entries().size() == 4);
    CHECK(reader.entries()[0].name == "files/1-doc.pdf");
    CHECK(reader.read("files/1-doc.pdf", 1 << 20) == "%PDF-1.7 a document");
    CHECK(reader.read("notes/readme.txt", 1 << 20) == "hello");
    CHECK(reader.read("mimetype", 100) == crypto::asic::mime_type);
    CHECK(reader.read("META-INF/manifest.xml", 1 << 20).find("files/1-doc.pdf") !=
          std::string::npos);
    CHECK_THROWS_AS(reader.read("notes/readme.txt", 3), crypto::error);
}

TEST_CASE("the writer refuses a bad or repeated name and leaves no file when unfinished",
          "[crypto][asic]") {
    test::temp_dir dir;
    {
        crypto::asic_writer w(dir / "c.asice");
        CHECK_THROWS_AS(w.add("../x", "a", "text/plain"), crypto::error);
        CHECK_THROWS_AS(w.add("mimetype", "a", "text/plain"), crypto::error);
        w.add("a.txt", "a", "text/plain");
        CHECK_THROWS_AS(w.add("A.TXT", "b", "text/plain"), crypto::error);
        CHECK_THROWS_AS(w.add("META-INF/signatures0.xml", "b", "text/xml"), crypto::error);
    }
    CHECK(!std::filesystem::exists(dir / "c.asice"));
}

TEST_CASE("a container signed by the writer verifies, and one changed byte is found",
          "[crypto][asic][verify]") {
    written_container c;
    auto report = protocols::verify_bundle(c.path, sample_trust());
    INFO(test::describe(report));
    CHECK(report.holds());
    CHECK(has_check(report, protocols::check_result::verdict::holds, "container signature",
                    "covers 3 files"));
    CHECK(has_check(report, protocols::check_result::verdict::holds,
                    "container signature time-stamp"));

    // The same container with one byte of the readme changed, rewritten by Python's zipfile.
    auto tampered = c.dir / "t.asice";
    auto r = test::run("python3 -c \"import zipfile,sys\n"
                       "src=zipfile.ZipFile(sys.argv[1]); dst=zipfile.ZipFile(sys.argv[2],'w')\n"
                       "for i in src.infolist():\n"
                       "  d=src.read(i.filename)\n"
                       "  if i.filename=='notes/readme.txt': d=b'jello'\n"
                       "  dst.writestr(i, d)\n"
                       "dst.close()\" '" +
                       c.path.string() + "' '" + tampered.string() + "'");
    REQUIRE(r.status == 0);
    auto bad = protocols::verify_bundle(tampered, sample_trust());
    INFO(test::describe(bad));
    CHECK(!bad.holds());
    CHECK(has_check(bad, protocols::check_result::verdict::fails, "container signature",
                    "notes/readme.txt"));
    // One changed file is one failure, not every entry reported as left uncovered.
    CHECK(bad.count(protocols::check_result::verdict::fails) == 1);
    CHECK(bad.count(protocols::check_result::verdict::warning) ==
          report.count(protocols::check_result::verdict::warning));

    // Trusting another root, nothing holds.
    auto other = protocols::verify_bundle(c.path, corpus_trust());
    CHECK(!other.holds());
    CHECK(has_check(other, protocols::check_result::verdict::fails, "container signature",
                    "not trusted"));
}

TEST_CASE("the positive control a00 verifies against the seal certificate of the corpus",
          "[crypto][asic][hostile]") {
    auto report = protocols::verify_bundle(corpus("a00-positive-control.asice"), corpus_trust());
    INFO(test::describe(report));
    CHECK(report.holds());
    CHECK(has_check(report, protocols::check_result::verdict::holds, "container signature",
                    "test-erds-evidence-seal"));
    // It is only XAdES-B-B and holds no evidence: said, not hidden.
    CHECK(has_check(report, protocols::check_result::verdict::warning, "time-stamp"));
}

TEST_CASE("a compressed or misplaced mimetype is refused with a clear message",
          "[crypto][asic][hostile]") {
    CHECK(refusal(corpus("a01-mimetype-deflated.asice")) == crypto::errc::container_entry_refused);
    CHECK_THAT(refusal_message(corpus("a01-mimetype-deflated.asice")),
               Catch::Contains("mimetype is compressed"));
    CHECK(refusal(corpus("a02-mimetype-not-first.asice")) == crypto::errc::container_entry_refused);
    CHECK_THAT(refusal_message(corpus("a02-mimetype-not-first.asice")),
               Catch::Contains("not mimetype"));
}

TEST_CASE("entry names with .., absolute paths or backslashes are refused and nothing is written",
          "[crypto][asic][hostile]") {
    // The canaries the entries name; none may appear, even after verify reads the container.
    std::vector<std::filesystem::path> canaries = {"/tmp/lre-zipslip-canary.txt",
                                                   "/tmp/lre-absolute-canary.txt"};
    for (const auto& c : canaries)
        std::filesystem::remove(c);
    auto path = corpus("a04-zip-slip-entry-names.asice");
    CHECK(refusal(path) == crypto::errc::container_entry_refused);
    CHECK_THAT(refusal_message(path), Catch::Contains("climbs out"));
    auto report = protocols::verify_bundle(path, corpus_trust());
    CHECK(!report.holds());
    CHECK(report.checks.size() == 1);
    for (const auto& c : canaries)
        CHECK(!std::filesystem::exists(c));
}

TEST_CASE("duplicate entry names are refused", "[crypto][asic][hostile]") {
    auto path = corpus("a05-duplicate-entry-names.asice");
    CHECK(refusal(path) == crypto::errc::container_entry_refused);
    CHECK_THAT(refusal_message(path), Catch::Contains("same name"));
}

TEST_CASE("a file added after signing, in no manifest, fails verification",
          "[crypto][asic][hostile]") {
    auto path = corpus("a06-extra-file-not-signed-not-in-manifest.asice");
    CHECK(refusal(path) == crypto::errc{}); // the structure itself is sound
    auto report = protocols::verify_bundle(path, corpus_trust());
    INFO(test::describe(report));
    CHECK(!report.holds());
    CHECK(has_check(report, protocols::check_result::verdict::fails,
                    "annexe-ajoutee-apres-signature.txt", "neither signed nor in the manifest"));
    // Everything else is still checked and reported.
    CHECK(has_check(report, protocols::check_result::verdict::holds, "container signature"));
}

TEST_CASE("what is not a ZIP, or is cut short, is refused cleanly", "[crypto][asic]") {
    test::temp_dir dir;
    test::write_file(dir / "text.asice", "this is not a zip");
    CHECK(refusal(dir / "text.asice") == crypto::errc::container_malformed);

    written_container c;
    auto whole = test::read_file(c.path);
    test::write_file(dir / "cut.asice", whole.substr(0, whole.size() / 2));
    CHECK(refusal(dir / "cut.asice") == crypto::errc::container_malformed);
}
