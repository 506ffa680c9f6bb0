#include "crypto/sha256.hpp"
#include "protocols/pdf_check.hpp"
#include "support/fixtures.hpp"

#include <catch2/catch.hpp>

#include <cstdio>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <string_view>
#include <sys/resource.h>
#include <unistd.h>
#include <vector>

using namespace sceau;
using protocols::check_pdf;
using protocols::pdf_limits;
using verdict = protocols::pdf_report::verdict;

namespace {

std::filesystem::path hostile(const std::string& name) {
    return test::source_path("tests/fixtures/hostile/pdf/" + name);
}

// Made by tests/fixtures/pdf-generated/make.sh with the qpdf command line tool.
std::filesystem::path generated(const std::string& name) {
    return test::source_path("tests/fixtures/pdf-generated/" + name);
}

verdict outcome_of(const std::string& bytes, const test::temp_dir& dir,
                   const pdf_limits& limits = {}) {
    // A new file each time: ext4 flushes a file truncated by a rewrite when it is closed.
    auto file = dir / "document.pdf";
    std::filesystem::remove(file);
    test::write_file(file, bytes);
    return check_pdf(file, limits).outcome;
}

// Lays out objects 1..n (each body ends with its own `endobj`, so a test may leave it out)
// with a cross-reference table that points at each of them: the table stays right whatever
// damage a test puts inside an object.
std::string assemble_pdf(const std::vector<std::string>& objects,
                         std::string_view trailer_extra = {}) {
    std::string pdf = "%PDF-1.7\n";
    std::vector<std::size_t> offsets;
    for (std::size_t i = 0; i < objects.size(); ++i) {
        offsets.push_back(pdf.size());
        pdf += std::to_string(i + 1) + " 0 obj\n" + objects[i] + "\n";
    }

    std::size_t xref = pdf.size();
    pdf += "xref\n0 " + std::to_string(objects.size() + 1) + "\n0000000000 65535 f \n";
    for (std::size_t offset : offsets) {
        char entry[32];
        std::snprintf(entry, sizeof entry, "%010zu 00000 n \n", offset);
        pdf += entry;
    }
    pdf += "trailer\n<< /Size " + std::to_string(objects.size() + 1) + " /Root 1 0 R " +
           std::string(trailer_extra) + " >>\nstartxref\n" + std::to_string(xref) + "\n%%EOF\n";
    return pdf;
}

const std::string catalog = "<< /Type /Catalog /Pages 2 0 R >>\nendobj";
const std::string page_tree = "<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj";
const std::string page = "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 400 200] /Contents 4 0 R "
                         ">>\nendobj";
const std::string text = "BT /F1 14 Tf 30 150 Td (FICTIONAL) Tj ET";
const std::string contents =
    "<< /Length " + std::to_string(text.size()) + " >>\nstream\n" + text + "\nendstream\nendobj";

// Sends standard output and standard error to a file for as long as it lives.
class output_capture {
public:
    explicit output_capture(const std::filesystem::path& file) {
        std::cout.flush();
        std::cerr.flush();
        std::fflush(nullptr);
        int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        REQUIRE(fd >= 0);
        saved_out_ = ::dup(STDOUT_FILENO);
        saved_err_ = ::dup(STDERR_FILENO);
        ::dup2(fd, STDOUT_FILENO);
        ::dup2(fd, STDERR_FILENO);
        ::close(fd);
    }

    ~output_capture() {
        std::cout.flush();
        std::cerr.flush();
        std::fflush(nullptr);
        ::dup2(saved_out_, STDOUT_FILENO);
        ::dup2(saved_err_, STDERR_FILENO);
        ::close(saved_out_);
        ::close(saved_err_);
    }

    output_capture(const output_capture&) = delete;
    output_capture& operator=(const output_capture&) = delete;

private:
    int saved_out_ = -1;
    int saved_err_ = -1;
};

long max_resident_kib() {
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    return usage.ru_maxrss;
}

} // namespace

TEST_CASE("A plain PDF is accepted with its page count", "[protocols][pdf]") {
    auto report = check_pdf(hostile("p00-positive-control.pdf"));
    CHECK(report.outcome == verdict::ok);
    CHECK(report.reason.empty());
    CHECK(report.pages == 1);
    CHECK_FALSE(report.has_javascript);
    CHECK_FALSE(report.has_embedded_files);

    auto three_pages = check_pdf(generated("plain-objstm.pdf"));
    CHECK(three_pages.outcome == verdict::ok);
    CHECK(three_pages.pages == 3);
    CHECK_FALSE(three_pages.has_javascript);
    CHECK_FALSE(three_pages.has_embedded_files);
}

TEST_CASE("JavaScript run on open is flagged and the file is left as it was", "[protocols][pdf]") {
    auto file = hostile("p01-openaction-javascript.pdf");
    auto before = crypto::sha256::of(test::read_file(file));
    auto modified = std::filesystem::last_write_time(file);

    auto report = check_pdf(file);
    CHECK(report.outcome == verdict::ok);
    CHECK(report.has_javascript);
    CHECK(report.pages == 1);

    CHECK(crypto::sha256::of(test::read_file(file)) == before);
    CHECK(std::filesystem::last_write_time(file) == modified);
}

TEST_CASE("A PDF that needs a user password is refused as encrypted", "[protocols][pdf]") {
    for (auto file : {hostile("p03-encrypted-user-password.pdf"), generated("user-password.pdf")}) {
        INFO(file);
        auto report = check_pdf(file);
        CHECK(report.outcome == verdict::encrypted);
        CHECK(report.reason.find("user password") != std::string::npos);
    }
}

TEST_CASE("A PDF with only an owner password is accepted", "[protocols][pdf]") {
    auto file = generated("owner-password-only.pdf");
    auto before = crypto::sha256::of(test::read_file(file));

    auto report = check_pdf(file);
    CHECK(report.outcome == verdict::ok);
    CHECK(report.pages == 3);
    CHECK_FALSE(report.has_javascript);
    CHECK(crypto::sha256::of(test::read_file(file)) == before);
}

TEST_CASE("An encryption qpdf cannot open is refused as encrypted", "[protocols][pdf]") {
    test::temp_dir dir;
    auto certificates =
        "<< /Filter /Adobe.PubSec /SubFilter /adbe.pkcs7.s5 /V 4 /R 4 /Recipients [<00>] >>\n"
        "endobj";
    auto pdf = assemble_pdf({catalog, page_tree, page, contents, certificates},
                            "/Encrypt 5 0 R /ID [<0011> <0011>]");
    CHECK(outcome_of(pdf, dir) == verdict::encrypted);
}

TEST_CASE("A PDF truncated in the middle of a stream is refused as damaged", "[protocols][pdf]") {
    auto report = check_pdf(hostile("p05-truncated-mid-stream.pdf"));
    CHECK(report.outcome == verdict::damaged);
    CHECK_FALSE(report.reason.empty());
}

TEST_CASE("A file that does not start with the PDF header is refused", "[protocols][pdf]") {
    auto report = check_pdf(hostile("p06-not-a-pdf-but-named-pdf.pdf"));
    CHECK(report.outcome == verdict::not_pdf);
    CHECK_FALSE(report.reason.empty());

    test::temp_dir dir;
    CHECK(outcome_of("", dir) == verdict::not_pdf);
    CHECK(outcome_of("%PDF", dir) == verdict::not_pdf);
    // qpdf would accept leading junk; the check does not.
    CHECK(outcome_of(" " + test::read_file(hostile("p00-positive-control.pdf")), dir) ==
          verdict::not_pdf);
}

TEST_CASE("A header alone is refused as damaged", "[protocols][pdf]") {
    test::temp_dir dir;
    CHECK(outcome_of("%PDF-1.7\n", dir) == verdict::damaged);
    CHECK(outcome_of("%PDF-1.7\n%%EOF\n", dir) == verdict::damaged);
}

TEST_CASE("A PDF cut at any offset is refused", "[protocols][pdf]") {
    test::temp_dir dir;
    for (auto file : {hostile("p00-positive-control.pdf"), generated("plain-objstm.pdf"),
                      generated("owner-password-only-js.pdf")}) {
        INFO(file);
        std::string whole = test::read_file(file);
        REQUIRE(outcome_of(whole, dir) == verdict::ok);

        // Everything up to the end of the last %%EOF; only the line break after it may go.
        std::size_t end = whole.rfind("%%EOF") + 5;
        std::vector<std::size_t> not_refused;
        for (std::size_t length = 0; length < end; ++length) {
            verdict expected = length < 5 ? verdict::not_pdf : verdict::damaged;
            if (outcome_of(whole.substr(0, length), dir) != expected) {
                not_refused.push_back(length);
            }
        }
        CHECK(not_refused.empty());
        CHECK(outcome_of(whole.substr(0, end), dir) == verdict::ok);
    }
}

TEST_CASE("Damage behind an intact cross-reference table is refused", "[protocols][pdf]") {
    test::temp_dir dir;
    REQUIRE(outcome_of(assemble_pdf({catalog, page_tree, page, contents}), dir) == verdict::ok);

    auto short_stream = "<< /Length 64 >>\nstream\n" + text + "\nendstream\nendobj";
    auto cut_stream = "<< /Length " + std::to_string(text.size()) + " >>\nstream\nBT /F1 14";
    auto offset_past_end = assemble_pdf({catalog, page_tree, page, contents});
    offset_past_end.replace(offset_past_end.find("0000000009 00000 n"), 10, "0000099999");

    struct damage {
        std::string what;
        std::string pdf;
    };
    std::vector<damage> cases{
        {"stream shorter than its /Length", assemble_pdf({catalog, page_tree, page, short_stream})},
        {"last object cut inside its stream", assemble_pdf({catalog, page_tree, page, cut_stream})},
        {"last object cut inside its dictionary",
         assemble_pdf({catalog, page_tree, page, contents, "<< /Type /Font /Subtype"})},
        {"endobj missing", assemble_pdf({catalog, page_tree, page, contents, "<< /A 1 >>"})},
        {"unreferenced object broken",
         assemble_pdf({catalog, page_tree, page, contents, "<< /A [1 2 >>\nendobj"})},
        {"nesting too deep",
         assemble_pdf({catalog, page_tree, page, contents,
                       std::string(5000, '[') + std::string(5000, ']') + "\nendobj"})},
        {"offset past the end of the file", offset_past_end},
        {"page tree with a loop",
         assemble_pdf({catalog, "<< /Type /Pages /Kids [2 0 R] /Count 1 >>\nendobj"})},
        {"no pages", assemble_pdf({catalog, "<< /Type /Pages /Kids [] /Count 0 >>\nendobj"})},
        {"incremental update cut after an earlier %%EOF",
         test::read_file(hostile("p00-positive-control.pdf")) + "1 0 obj\n<< /Type /Catalog"},
    };
    for (const auto& [what, pdf] : cases) {
        INFO(what);
        auto file = dir / "damaged.pdf";
        test::write_file(file, pdf);
        auto report = check_pdf(file);
        CHECK(report.outcome == verdict::damaged);
        CHECK_FALSE(report.reason.empty());
        CHECK(report.reason.find(dir.path().string()) == std::string::npos);
    }
}

TEST_CASE("White-space after the end-of-file marker is accepted", "[protocols][pdf]") {
    test::temp_dir dir;
    std::string p00 = test::read_file(hostile("p00-positive-control.pdf"));
    CHECK(outcome_of(p00 + std::string("\r\n\0\0\0 ", 6), dir) == verdict::ok);
}

TEST_CASE("JavaScript inside compressed object streams is found", "[protocols][pdf]") {
    for (auto name :
         {"annotation-js-objstm.pdf", "names-js-objstm.pdf", "owner-password-only-js.pdf"}) {
        INFO(name);
        // No byte search could find it: the dictionaries are compressed (and encrypted).
        REQUIRE(test::read_file(generated(name)).find("JavaScript") == std::string::npos);

        auto report = check_pdf(generated(name));
        CHECK(report.outcome == verdict::ok);
        CHECK(report.has_javascript);
        CHECK_FALSE(report.has_embedded_files);
        CHECK(report.pages == 3);
    }
}

TEST_CASE("JavaScript written with escaped names or nested in arrays is found",
          "[protocols][pdf]") {
    test::temp_dir dir;
    auto escaped = "<< /Type /Catalog /Pages 2 0 R /OpenAction << /S /Java#53cript /J#53 (1) >> "
                   ">>\nendobj";
    auto nested = "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 400 200] /Contents 4 0 R /Annots "
                  "[<< /Subtype /Widget /AA << /O << /S /JavaScript >> >> >>] >>\nendobj";

    for (const auto& pdf : {assemble_pdf({escaped, page_tree, page, contents}),
                            assemble_pdf({catalog, page_tree, nested, contents})}) {
        auto file = dir / "active.pdf";
        test::write_file(file, pdf);
        auto report = check_pdf(file);
        CHECK(report.outcome == verdict::ok);
        CHECK(report.has_javascript);
    }
}

TEST_CASE("Embedded files are flagged", "[protocols][pdf]") {
    auto file = generated("attachment-objstm.pdf");
    REQUIRE(test::read_file(file).find("EmbeddedFiles") == std::string::npos);

    auto report = check_pdf(file);
    CHECK(report.outcome == verdict::ok);
    CHECK(report.has_embedded_files);
    CHECK_FALSE(report.has_javascript);
    CHECK(report.pages == 3);
}

TEST_CASE("Documents beyond the limits are refused as too complex", "[protocols][pdf]") {
    pdf_limits few_objects;
    few_objects.max_objects = 4;
    CHECK(check_pdf(hostile("p00-positive-control.pdf"), few_objects).outcome ==
          verdict::too_complex);

    pdf_limits small_object_streams;
    small_object_streams.max_object_stream_bytes = 64;
    auto report = check_pdf(generated("plain-objstm.pdf"), small_object_streams);
    CHECK(report.outcome == verdict::too_complex);
    CHECK_FALSE(report.reason.empty());
}

TEST_CASE("A large stream is neither read nor kept in memory", "[protocols][pdf]") {
    test::temp_dir dir;
    auto file = dir / "large.pdf";
    constexpr std::size_t image_size = 300u << 20;

    // A page drawing one 300 MiB image. The image bytes are a hole in a sparse file: writing
    // them would cost more than the check.
    std::string start = "%PDF-1.7\n";
    std::vector<std::size_t> offsets;
    auto add = [&start, &offsets](const std::string& object) {
        offsets.push_back(start.size());
        start += std::to_string(offsets.size()) + " 0 obj\n" + object + "\nendobj\n";
    };
    add("<< /Type /Catalog /Pages 2 0 R >>");
    add("<< /Type /Pages /Kids [3 0 R] /Count 1 >>");
    add("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 400 200] /Resources << /XObject << /Im 4 "
        "0 R >> >> >>");
    offsets.push_back(start.size());
    start += "4 0 obj\n<< /Type /XObject /Subtype /Image /Width " + std::to_string(image_size) +
             " /Height 1 /ColorSpace /DeviceGray /BitsPerComponent 8 /Length " +
             std::to_string(image_size) + " >>\nstream\n";
    test::write_file(file, start);
    std::filesystem::resize_file(file, start.size() + image_size);

    std::string end = "\nendstream\nendobj\n";
    std::size_t xref = start.size() + image_size + end.size();
    end += "xref\n0 5\n0000000000 65535 f \n";
    for (std::size_t offset : offsets) {
        char entry[32];
        std::snprintf(entry, sizeof entry, "%010zu 00000 n \n", offset);
        end += entry;
    }
    end += "trailer\n<< /Size 5 /Root 1 0 R >>\nstartxref\n" + std::to_string(xref) + "\n%%EOF\n";
    std::ofstream(file, std::ios::binary | std::ios::app) << end;

    // The peak can only grow, so this cannot fail wrongly; it misses a regression only if an
    // earlier test already used that much memory.
    long peak_before = max_resident_kib();
    auto report = check_pdf(file);
    CHECK(report.outcome == verdict::ok);
    CHECK(report.pages == 1);
    CHECK(max_resident_kib() - peak_before < 64 * 1024);
}

TEST_CASE("The check prints nothing, even for damaged documents", "[protocols][pdf]") {
    test::temp_dir dir;
    auto printed = dir / "printed.txt";
    {
        output_capture capture(printed);
        check_pdf(hostile("p05-truncated-mid-stream.pdf"));
        check_pdf(hostile("p03-encrypted-user-password.pdf"));
        auto file = dir / "damaged.pdf";
        test::write_file(file, assemble_pdf({catalog, page_tree, page, contents, "<< /A 1 >>"}));
        check_pdf(file);
        test::write_file(file, assemble_pdf({catalog, page_tree, page, contents, "<< /A [1 >>"}));
        check_pdf(file);
    }
    CHECK(test::read_file(printed).empty());
}

TEST_CASE("A file that cannot be opened is an error, not a verdict", "[protocols][pdf]") {
    test::temp_dir dir;
    CHECK_THROWS_AS(check_pdf(dir / "missing.pdf"), std::filesystem::filesystem_error);
}

TEST_CASE("A PDF open on a descriptor is checked from its first byte and left open",
          "[protocols][pdf]") {
    int fd = ::open(hostile("p01-openaction-javascript.pdf").c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    ::lseek(fd, 100, SEEK_SET); // wherever the descriptor stands, the header is read
    auto report = check_pdf(fd);
    CHECK(report.outcome == verdict::ok);
    CHECK(report.has_javascript);
    CHECK(check_pdf(fd).outcome == verdict::ok); // still open: checked again
    ::close(fd);

    fd = ::open(hostile("p06-not-a-pdf-but-named-pdf.pdf").c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    CHECK(check_pdf(fd).outcome == verdict::not_pdf);
    ::close(fd);
    CHECK_THROWS_AS(check_pdf(fd), std::filesystem::filesystem_error); // closed
}
