#include "gateway/multipart.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <string_view>
#include <vector>

using namespace sceau::gateway;
using kind = multipart_error::kind;
using namespace std::string_literals;

namespace {

struct recorded_part {
    std::string name;
    std::optional<std::string> filename;
    std::string content_type;
    std::string data;

    bool operator==(const recorded_part&) const = default;
};

// Keeps every part and checks that the handler is called in order.
class recorder : public multipart_parser::handler {
public:
    std::vector<recorded_part> parts;
    bool open = false;
    std::size_t delivered = 0;
    std::size_t largest_span = 0;

    void on_part_begin(const part_header& h) override {
        REQUIRE_FALSE(open);
        open = true;
        parts.push_back({h.name, h.filename, h.content_type, {}});
    }
    void on_part_data(std::span<const char> data) override {
        REQUIRE(open);
        REQUIRE_FALSE(data.empty());
        parts.back().data.append(data.data(), data.size());
        delivered += data.size();
        largest_span = std::max(largest_span, data.size());
    }
    void on_part_end() override {
        REQUIRE(open);
        open = false;
    }
};

std::span<const char> as_span(std::string_view s) {
    return {s.data(), s.size()};
}

// Parses `body` cut into pieces whose sizes `next_size` picks in turn.
template <typename Sizes>
std::vector<recorded_part> parse(const std::string& boundary, std::string_view body,
                                 Sizes next_size, multipart_parser::limits l = {}) {
    recorder r;
    multipart_parser p(boundary, r, l);
    while (!body.empty()) {
        auto n = std::min<std::size_t>(next_size(), body.size());
        p.feed(as_span(body.substr(0, n)));
        body.remove_prefix(n);
    }
    p.finish();
    CHECK_FALSE(r.open);
    CHECK(p.parts() == r.parts.size());
    return r.parts;
}

std::vector<recorded_part> parse_whole(const std::string& boundary, std::string_view body,
                                       multipart_parser::limits l = {}) {
    return parse(
        boundary, body, [&] { return body.size(); }, l);
}

std::vector<recorded_part> parse_by(const std::string& boundary, std::string_view body,
                                    std::size_t chunk) {
    return parse(boundary, body, [=] { return chunk; });
}

// The kind of multipart_error that parsing `body` whole throws.
std::optional<kind> failure_of(const std::string& boundary, std::string_view body,
                               multipart_parser::limits l = {}) {
    try {
        parse_whole(boundary, body, l);
    } catch (const multipart_error& e) {
        return e.which();
    }
    return std::nullopt;
}

// The kind of multipart_error that feeding `body` throws, before any call to finish.
std::optional<kind> feed_failure_of(const std::string& boundary, std::string_view body) {
    recorder r;
    multipart_parser p(boundary, r);
    try {
        p.feed(as_span(body));
    } catch (const multipart_error& e) {
        return e.which();
    }
    return std::nullopt;
}

std::string part(std::string_view boundary, std::string_view headers, std::string_view data) {
    return "--" + std::string(boundary) + "\r\n" + std::string(headers) + "\r\n" +
           std::string(data) + "\r\n";
}

std::string field(std::string_view name, std::string_view extra = "") {
    return "Content-Disposition: form-data; name=\"" + std::string(name) + "\"" +
           std::string(extra) + "\r\n";
}

const std::string two_part_boundary = "----sceauTestBoundary42";

const std::string two_part_body =
    "This is a preamble, to be ignored.\r\n" +
    part(two_part_boundary, field("subject"), "Mise en demeure") +
    part(two_part_boundary,
         field("document", "; filename=\"lettre.pdf\"") + "Content-Type: application/pdf\r\n",
         "%PDF-1.7\n\r\nbinary\r\n-- not a boundary\n") +
    "--" + two_part_boundary + "--\r\nAn epilogue, also ignored.\r\n";

const std::vector<recorded_part> two_parts = {
    {"subject", std::nullopt, "text/plain", "Mise en demeure"},
    {"document", "lettre.pdf", "application/pdf", "%PDF-1.7\n\r\nbinary\r\n-- not a boundary\n"},
};

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    REQUIRE(in);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

} // namespace

TEST_CASE("a two-part body gives the same parts whole, byte by byte and in every chunk size",
          "[gateway][multipart]") {
    CHECK(parse_whole(two_part_boundary, two_part_body) == two_parts);
    for (std::size_t chunk = 1; chunk <= 64; ++chunk) {
        INFO("chunk size " << chunk);
        CHECK(parse_by(two_part_boundary, two_part_body, chunk) == two_parts);
    }
}

TEST_CASE("part data may hold CRLF, dashes and near-boundaries", "[gateway][multipart]") {
    const std::string b = "xyzzy";
    const std::string data =
        "\0\r\n--xyzz\r\n--xyzzY\r\r\n-\r\n\n--xyzzy--\r--xyzzy\r\n\r\n\r\n-\r"s;
    const std::string body = part(b, field("blob"), data) + part(b, field("empty"), "") +
                             part(b, field("cr"), "\r") + "--xyzzy--";

    const std::vector<recorded_part> expected = {{"blob", {}, "text/plain", data},
                                                 {"empty", {}, "text/plain", ""},
                                                 {"cr", {}, "text/plain", "\r"}};
    for (std::size_t chunk = 1; chunk <= body.size(); ++chunk) {
        INFO("chunk size " << chunk);
        CHECK(parse_by(b, body, chunk) == expected);
    }
}

TEST_CASE("a delimiter is found wherever the chunks cut it", "[gateway][multipart]") {
    for (const std::string b : {"q", "-", "----lreFICTIONALboundary7MA4YWxk"}) {
        const std::string body = "pre--" + b + "\r\n" + part(b, field("a"), "one\r\n-") +
                                 part(b, field("b"), "x--" + b) + "--" + b + "--";
        const std::vector<recorded_part> expected = {{"a", {}, "text/plain", "one\r\n-"},
                                                     {"b", {}, "text/plain", "x--" + b}};

        // Every pair of cuts, so that every piece of every delimiter is split both ways.
        for (std::size_t i = 0; i <= body.size(); ++i) {
            for (std::size_t j = i; j <= body.size(); ++j) {
                recorder r;
                multipart_parser p(b, r);
                p.feed(as_span(std::string_view(body).substr(0, i)));
                p.feed(as_span(std::string_view(body).substr(i, j - i)));
                p.feed(as_span(std::string_view(body).substr(j)));
                p.finish();
                INFO("boundary " << b << ", cuts at " << i << " and " << j);
                CHECK(r.parts == expected);
            }
        }
    }
}

TEST_CASE("part data is handed over as it arrives", "[gateway][multipart]") {
    const std::string b = "stream";
    const std::string head = "--stream\r\n" + field("document") + "\r\n";
    const std::size_t size = 1 << 20;
    const std::string body = head + std::string(size, '\r') + "\r\n--stream--";

    recorder r;
    multipart_parser p(b, r);
    const std::size_t chunk = 4096;
    const std::size_t held_back = std::string("\r\n--stream").size() - 1;
    for (std::size_t fed = 0; fed < body.size(); fed += chunk) {
        p.feed(as_span(std::string_view(body).substr(fed, chunk)));
        auto data_fed = std::clamp(fed + chunk, head.size(), head.size() + size) - head.size();
        CHECK(r.delivered <= data_fed);
        CHECK(r.delivered + held_back >= data_fed);
    }
    p.finish();
    CHECK(r.parts.at(0).data == std::string(size, '\r'));
    CHECK(r.largest_span <= chunk + held_back);
}

TEST_CASE("more parts than the limit are refused", "[gateway][multipart]") {
    const std::string b = "b";
    std::string three;
    for (auto name : {"a", "b", "c"}) {
        three += part(b, field(name), "x");
    }
    multipart_parser::limits l;
    l.max_parts = 3;

    CHECK(parse_whole(b, three + "--b--", l).size() == 3);
    CHECK(failure_of(b, three + part(b, field("d"), "x") + "--b--", l) == kind::too_many_parts);

    std::string many = "preamble\r\n";
    for (int i = 0; i < 33; ++i) {
        many += part(b, field("f" + std::to_string(i)), "");
    }
    CHECK(failure_of(b, many + "--b--") == kind::too_many_parts); // the default limit is 32
}

TEST_CASE("a header block over its limit is refused", "[gateway][multipart]") {
    const std::string b = "b";
    multipart_parser::limits l;
    l.max_header_bytes = 100;
    // With its closing empty line, this header block is exactly 100 bytes.
    const std::string exact =
        field("a") + "X-Pad: " + std::string(100 - 4 - field("a").size() - 7, 'p') + "\r\n";
    REQUIRE(exact.size() + 2 == 100);

    CHECK(parse_whole(b, part(b, exact, "ok") + "--b--", l).size() == 1);
    const std::string one_over = exact.substr(0, exact.size() - 2) + "p\r\n";
    CHECK(failure_of(b, part(b, one_over, "ok") + "--b--", l) == kind::header_too_large);
    CHECK(failure_of(b, part(b, exact + "X: y\r\n", "ok") + "--b--", l) == kind::header_too_large);

    // A header block that never ends fails at the limit, not at the end of the body.
    recorder r;
    multipart_parser p(b, r, l);
    p.feed(as_span("--b\r\nX-Endless: "));
    std::string endless(10, 'a');
    auto feed_endless = [&] {
        for (int i = 0; i < 100; ++i) {
            p.feed(as_span(endless));
        }
    };
    try {
        feed_endless();
        FAIL("no error");
    } catch (const multipart_error& e) {
        CHECK(e.which() == kind::header_too_large);
    }
}

TEST_CASE("a body without its close delimiter is refused at finish", "[gateway][multipart]") {
    const std::string b = "b";
    for (std::string body : {"", "preamble only", "--b", "--b\r\n", "--b\r\nContent-Dispo",
                             "--b\r\nContent-Disposition: form-data; name=a\r\n\r\nhalf a docu",
                             "--b\r\nContent-Disposition: form-data; name=a\r\n\r\ndata\r\n--b",
                             "--b\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n--b-"}) {
        INFO(body);
        recorder r;
        multipart_parser p(b, r);
        p.feed(as_span(body));
        try {
            p.finish();
            FAIL("finish accepted a truncated body");
        } catch (const multipart_error& e) {
            CHECK(e.which() == kind::malformed);
        }
    }
}

TEST_CASE("malformed parts and delimiters are refused", "[gateway][multipart]") {
    const std::string b = "b";
    auto with_headers = [&](std::string_view headers) { return part(b, headers, "x") + "--b--"; };

    CHECK(failure_of(b, with_headers("Content-Type: text/plain\r\n")) == kind::malformed);
    CHECK(failure_of(b, with_headers("Content-Disposition: form-data\r\n")) == kind::malformed);
    CHECK(failure_of(b, with_headers("Content-Disposition: form-data; name=\"\"\r\n")) ==
          kind::malformed);
    CHECK(failure_of(b, with_headers("Content-Disposition: attachment; name=a\r\n")) ==
          kind::malformed);
    CHECK(failure_of(b, with_headers(field("a") + field("b"))) == kind::malformed);
    CHECK(failure_of(b, with_headers("Content-Disposition: form-data; name=a; name=b\r\n")) ==
          kind::malformed);
    CHECK(failure_of(b, with_headers("Content-Disposition: form-data; name=\"a\r\n")) ==
          kind::malformed);
    CHECK(failure_of(b, with_headers(field("a") + "Content-Type: a/b\r\nContent-Type: c/d\r\n")) ==
          kind::malformed);
    CHECK(failure_of(b, with_headers(field("a") + "Content-Transfer-Encoding: base64\r\n")) ==
          kind::malformed);
    CHECK(failure_of(b, with_headers(field("a") + "No colon\r\n")) == kind::malformed);
    CHECK(failure_of(b, with_headers(field("a") + "Bad name : x\r\n")) == kind::malformed);
    CHECK(failure_of(b, with_headers(field("a") + " folded\r\n")) == kind::malformed);
    CHECK(failure_of(b, with_headers("")) == kind::malformed);
    CHECK(feed_failure_of(b, "--b\r\n\r\nx") == kind::malformed); // refused at the empty line

    // Header lines end in CRLF, never in a bare LF or CR; feed() refuses them at once.
    for (std::string bad : {"--b\r\nContent-Disposition: form-data; name=a\n\r\nx\r\n--b--",
                            "--b\r\nContent-Disposition: form-data; name=a\n\nx\r\n--b--",
                            "--b\r\nContent-Disposition: form-data; name=a\r\n\nx\r\n--b--",
                            "--b\r\n\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n--b--",
                            "--b\r\nContent-Disposition: form-data;\r name=a\r\n\r\nx\r\n--b--"}) {
        INFO(bad);
        CHECK(feed_failure_of(b, bad) == kind::malformed);
    }

    // After a boundary: "--", or transport padding then CRLF, and nothing else.
    CHECK(failure_of(b, "--bx\r\n" + field("a") + "\r\nx\r\n--b--") == kind::malformed);
    CHECK(failure_of(b, "--b \t x\r\n" + field("a") + "\r\nx\r\n--b--") == kind::malformed);
    CHECK(failure_of(b, "--b\n" + field("a") + "\r\nx\r\n--b--") == kind::malformed);
    CHECK(failure_of(b, "--b\r" + field("a") + "\r\nx\r\n--b--") == kind::malformed);
    CHECK(failure_of(b, part(b, field("a"), "x") + "--b-x") == kind::malformed);
    CHECK(failure_of(b, "--b--\r\n") == kind::malformed); // no part at all
    CHECK(parse_whole(b, "--b \t\r\n" + field("a") + "\r\nx\r\n--b  \r\n" + field("c") +
                             "\r\ny\r\n--b--  trailing words") ==
          std::vector<recorded_part>{{"a", {}, "text/plain", "x"}, {"c", {}, "text/plain", "y"}});

    recorder r;
    CHECK_THROWS_AS(multipart_parser("", r), std::invalid_argument);
    CHECK_THROWS_AS(multipart_parser("bad\r\n", r), std::invalid_argument);
    CHECK_THROWS_AS(multipart_parser("trailing space ", r), std::invalid_argument);
    CHECK_THROWS_AS(multipart_parser(std::string(71, 'b'), r), std::invalid_argument);
}

TEST_CASE("an error leaves the parser spent", "[gateway][multipart]") {
    recorder r;
    multipart_parser p("b", r);
    CHECK_THROWS_AS(p.feed(as_span("--bogus")), multipart_error);
    CHECK_THROWS_AS(p.feed(as_span("\r\n")), multipart_error);
    CHECK_THROWS_AS(p.finish(), multipart_error);
}

TEST_CASE("filename* is percent-decoded and wins over filename", "[gateway][multipart]") {
    const std::string b = "b";
    auto name_of = [&](std::string_view parameters) {
        auto parts = parse_whole(b, part(b, field("f", parameters), "x") + "--b--");
        return parts.at(0).filename;
    };

    CHECK(name_of("; filename*=UTF-8''%C3%A9t%C3%A9%20r%c3%a9sum%C3%A9.pdf") ==
          "\xC3\xA9t\xC3\xA9 r\xC3\xA9sum\xC3\xA9.pdf");
    CHECK(name_of("; filename=\"plain.pdf\"; filename*=utf-8'fr'vrai.pdf") == "vrai.pdf");
    CHECK(name_of("; filename*=UTF-8''vrai.pdf; filename=\"plain.pdf\"") == "vrai.pdf");
    CHECK(name_of("; FileName*=UTF-8''..%2F..%2Fetc%2Fpasswd") == "../../etc/passwd");
    CHECK(name_of("; filename*=UTF-8''%41") == "A");
    CHECK(name_of("") == std::nullopt);

    for (std::string bad :
         {"; filename*=ISO-8859-1''caf%E9", "; filename*=UTF-8''a%2", "; filename*=UTF-8''a%zz",
          "; filename*=UTF-8'a%41", "; filename*=UTF-8''a\"b\"", "; filename*=\"UTF-8''a b\""}) {
        INFO(bad);
        CHECK(failure_of(b, part(b, field("f", bad), "x") + "--b--") == kind::malformed);
    }
}

TEST_CASE("a quoted filename unescapes quotes and keeps other backslashes",
          "[gateway][multipart]") {
    const std::string b = "b";
    auto name_of = [&](std::string_view parameters) {
        return parse_whole(b, part(b, field("f", parameters), "x") + "--b--").at(0).filename;
    };

    CHECK(name_of(R"(; filename="say \"hello\".txt")") == "say \"hello\".txt");
    CHECK(name_of(R"(; filename="back\\slash")") == "back\\slash");
    CHECK(name_of(R"(; filename="C:\Users\claire\lettre.pdf")") == R"(C:\Users\claire\lettre.pdf)");
    CHECK(name_of(R"(; filename="a;b=c.pdf")") == "a;b=c.pdf");
    CHECK(name_of("; filename=token.pdf") == "token.pdf");
    CHECK(name_of("; filename=\"\"") == "");
}

TEST_CASE("header names are case-insensitive and Content-Type defaults to text/plain",
          "[gateway][multipart]") {
    const std::string b = "b";
    const std::string body =
        part(b, "content-DISPOSITION:Form-Data ;NAME=a ; filename = \"f.txt\"\r\n", "1") +
        part(b, field("b") + "CONTENT-TYPE: image/png\r\nX-Other: ignored\r\n", "2") +
        part(b, field("c") + "Content-Transfer-Encoding: BINARY\r\n", "3") + "--b--";

    CHECK(parse_whole(b, body) == std::vector<recorded_part>{{"a", "f.txt", "text/plain", "1"},
                                                             {"b", {}, "image/png", "2"},
                                                             {"c", {}, "text/plain", "3"}});
}

TEST_CASE("boundary_of reads quoted and unquoted boundaries of form-data only",
          "[gateway][multipart]") {
    CHECK(boundary_of("multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW") ==
          "----WebKitFormBoundary7MA4YWxkTrZu0gW");
    CHECK(boundary_of("Multipart/Form-Data;BOUNDARY=\"a b:c=d?(e)\"") == "a b:c=d?(e)");
    CHECK(boundary_of("multipart/form-data; charset=utf-8; boundary=abc") == "abc");
    CHECK(boundary_of("multipart/form-data; boundary=\"" + std::string(70, 'x') + "\"") ==
          std::string(70, 'x'));

    CHECK(boundary_of("multipart/form-data") == std::nullopt);
    CHECK(boundary_of("multipart/mixed; boundary=abc") == std::nullopt);
    CHECK(boundary_of("text/plain; boundary=abc") == std::nullopt);
    CHECK(boundary_of("multipart/form-data; boundary=\"\"") == std::nullopt);
    CHECK(boundary_of("multipart/form-data; boundary=\"abc \"") == std::nullopt);
    CHECK(boundary_of("multipart/form-data; boundary=\"a@b\"") == std::nullopt);
    CHECK(boundary_of("multipart/form-data; boundary=\"abc") == std::nullopt);
    CHECK(boundary_of("multipart/form-data; boundary=" + std::string(71, 'x')) == std::nullopt);
    CHECK(boundary_of("multipart/form-data; boundary=a; boundary=b") == std::nullopt);
    CHECK(boundary_of("multipart/form-data; boundary=a b") == std::nullopt);
    CHECK(boundary_of("multipart/form-data; boundary=a\r\n") == std::nullopt);
}

TEST_CASE("sanitise_filename keeps a harmless last component", "[gateway][multipart]") {
    CHECK(sanitise_filename(R"(..\..\..\var\lib\lre\evidence.sqlite)") == "evidence.sqlite");
    CHECK(sanitise_filename("/etc/cron.d/lre-FICTIF") == "lre-FICTIF");
    CHECK(sanitise_filename("../../srv/lre/static/index.html") == "index.html");
    CHECK(sanitise_filename(std::string("facture\0.pdf.exe", 16)) == "facture.pdf.exe");
    CHECK(sanitise_filename("a\tb\x1b[31m\x1f\x7f\xC2\x85\xC2\x9F.txt") == "ab[31m.txt");
    CHECK(sanitise_filename("invoice\xE2\x80\xAE"
                            "fdp.exe") == "invoicefdp.exe");
    CHECK(sanitise_filename("\xE2\x80\x8F\xE2\x81\xA6x\xE2\x81\xA9\xD8\x9C.pdf") == "x.pdf");
    CHECK(sanitise_filename("Lettre-de-mise-en-demeure-\xC3\xA9.pdf") ==
          "Lettre-de-mise-en-demeure-\xC3\xA9.pdf");

    // Ill-formed UTF-8: stray, overlong, surrogate, truncated.
    CHECK(sanitise_filename("a\xFF"
                            "b") == "a\xEF\xBF\xBD"
                                    "b");
    CHECK(sanitise_filename("\xC0\xAF.pdf") == "\xEF\xBF\xBD\xEF\xBF\xBD.pdf");
    CHECK(sanitise_filename("x\xED\xA0\x80") == "x\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
    CHECK(sanitise_filename("x\xE2\x82") == "x\xEF\xBF\xBD");

    // Dots and spaces, and what is left of nothing.
    CHECK(sanitise_filename(".htaccess") == "htaccess");
    CHECK(sanitise_filename(" . .profile") == "profile");
    CHECK(sanitise_filename("lettre.pdf. . ") == "lettre.pdf");
    CHECK(sanitise_filename("..") == "document");
    CHECK(sanitise_filename("") == "document");
    CHECK(sanitise_filename("dir/") == "document");
    CHECK(sanitise_filename("\x01\x02") == "document");

    // At most 200 bytes, never half a character, never a trailing dot.
    CHECK(sanitise_filename(std::string(300, 'a')) == std::string(200, 'a'));
    CHECK(sanitise_filename(std::string(199, 'a') + "\xC3\xA9") == std::string(199, 'a'));
    CHECK(sanitise_filename(std::string(198, 'a') + "\xC3\xA9") ==
          std::string(198, 'a') + "\xC3\xA9");
    CHECK(sanitise_filename(std::string(199, 'a') + ".pdf") == std::string(199, 'a'));
}

TEST_CASE("the hostile upload fixture parses into six parts with their raw file names",
          "[gateway][multipart]") {
    const auto request = read_file(
        SCEAU_SOURCE_DIR "/tests/fixtures/hostile/http/h08-multipart-hostile-filenames.http");
    const auto head_end = request.find("\r\n\r\n");
    REQUIRE(head_end != std::string::npos);
    const std::string_view head(request.data(), head_end);
    const std::string_view body = std::string_view(request).substr(head_end + 4);

    const std::string_view marker = "\r\nContent-Type: ";
    const auto type_at = head.find(marker) + marker.size();
    const auto boundary = boundary_of(head.substr(type_at, head.find("\r\n", type_at) - type_at));
    REQUIRE(boundary == "----lreFICTIONALboundary7MA4YWxk");

    const std::vector<std::pair<std::string, std::string>> expected = {
        {"document", R"(..\..\..\var\lib\lre\evidence.sqlite)"},
        {"annex1", "/etc/cron.d/lre-FICTIF"},
        {"annex2", "../../srv/lre/static/index.html"},
        {"annex3", std::string("facture\0.pdf.exe", 16)},
        {"annex4", "Lettre-de-mise-en-demeure-\xC3\xA9.pdf"},
        {"annex5", "Lettre-de-mise-en-demeure-e\xCC\x81.pdf"},
    };
    const std::vector<std::string> sanitised = {
        "evidence.sqlite",
        "lre-FICTIF",
        "index.html",
        "facture.pdf.exe",
        "Lettre-de-mise-en-demeure-\xC3\xA9.pdf",
        "Lettre-de-mise-en-demeure-e\xCC\x81.pdf",
    };

    for (std::size_t chunk : {body.size(), std::size_t{1}, std::size_t{7}, std::size_t{64}}) {
        INFO("chunk size " << chunk);
        auto parts = parse_by(*boundary, body, chunk);
        REQUIRE(parts.size() == 6);
        for (std::size_t i = 0; i < parts.size(); ++i) {
            CHECK(parts[i].name == expected[i].first);
            CHECK(parts[i].filename == expected[i].second);
            CHECK(parts[i].content_type == "application/pdf");
            CHECK(sanitise_filename(*parts[i].filename) == sanitised[i]);
        }
        CHECK(parts[0].data == "%PDF-1.4 fictional\n");
        CHECK(parts[2].data == "<script>/*fictional*/</script>\n");
    }
}

TEST_CASE("random bodies cut at random give back exactly their parts", "[gateway][multipart]") {
    std::mt19937 rng(20250314);
    auto below = [&](std::size_t n) {
        return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng);
    };
    const std::string bchars = "0123456789abcXYZ'()+_,-./:=? ";

    for (int round = 0; round < 400; ++round) {
        std::string b;
        for (auto n = 1 + below(below(2) == 0 ? 3 : 70); b.size() < n;) {
            b.push_back(bchars[below(bchars.size() - (b.size() + 1 == n ? 1 : 0))]);
        }
        const std::string delimiter = "\r\n--" + b;

        // Random bytes, many of them pieces of the delimiter, never the whole delimiter.
        auto random_bytes = [&](std::size_t max) {
            std::string s;
            do {
                s.clear();
                for (auto n = below(max + 1); s.size() < n;) {
                    switch (below(4)) {
                    case 0:
                        s += delimiter.substr(below(3), below(delimiter.size()));
                        break;
                    case 1:
                        s.push_back("\r\n-"[below(3)]);
                        break;
                    default:
                        s.push_back(static_cast<char>(below(256)));
                    }
                }
            } while ((s + delimiter).find(delimiter) != s.size() ||
                     ("\r\n" + s + delimiter).find(delimiter) != s.size() + 2);
            return s;
        };

        std::vector<recorded_part> expected;
        std::string preamble = random_bytes(40);
        std::string body = preamble.empty() ? "" : preamble + "\r\n";
        for (auto n = 1 + below(5); expected.size() < n;) {
            recorded_part p{"field" + std::to_string(expected.size()), std::nullopt, "text/plain",
                            random_bytes(below(2) == 0 ? 20 : 400)};
            std::string headers = "Content-Disposition: form-data; name=\"" + p.name + "\"";
            if (below(2) == 0) {
                auto stem = "f" + std::to_string(below(1000));
                p.filename = stem + "\".bin";
                headers += "; filename=\"" + stem + "\\\".bin\"";
            }
            headers += "\r\n";
            if (below(2) == 0) {
                p.content_type = "application/octet-stream";
                headers += "Content-Type: application/octet-stream\r\n";
            }
            body += part(b, headers, p.data);
            expected.push_back(std::move(p));
        }
        body += "--" + b + "--" + random_bytes(20);

        auto max_chunk = 1 + below(below(2) == 0 ? 8 : body.size());
        INFO("round " << round << ", boundary '" << b << "', chunks up to " << max_chunk);
        CHECK(parse(b, body, [&] { return 1 + below(max_chunk); }) == expected);
    }
}
