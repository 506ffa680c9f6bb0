#include "gateway/multipart.hpp"

#include "protocols/text_rules.hpp"

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

namespace sceau::gateway {

namespace {

using error_kind = multipart_error::kind;

[[noreturn]] void fail(error_kind k, const std::string& what) {
    throw multipart_error(k, "multipart: " + what);
}

[[noreturn]] void malformed(const std::string& what) {
    fail(error_kind::malformed, what);
}

char lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                              [](char x, char y) { return lower(x) == lower(y); });
}

bool is_alnum(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// RFC 9110 section 5.6.2: tchar.
bool is_tchar(char c) {
    return is_alnum(c) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// RFC 2046 section 5.1.1: bcharsnospace.
bool is_bchar_nospace(char c) {
    return is_alnum(c) || std::string_view("'()+_,-./:=?").find(c) != std::string_view::npos;
}

// RFC 2046 section 5.1.1: boundary := 0*69<bchars> bcharsnospace, bchars adding the space.
bool valid_boundary(std::string_view b) {
    if (b.empty() || b.size() > 70 || b.back() == ' ') {
        return false;
    }
    return std::all_of(b.begin(), b.end(), [](char c) { return c == ' ' || is_bchar_nospace(c); });
}

bool is_ows(char c) {
    return c == ' ' || c == '\t';
}

std::string_view trim_ows(std::string_view s) {
    while (!s.empty() && is_ows(s.front())) {
        s.remove_prefix(1);
    }
    while (!s.empty() && is_ows(s.back())) {
        s.remove_suffix(1);
    }
    return s;
}

struct parameter {
    std::string name; // lower case
    std::string value;
};

// A media type or disposition: the leading value, then `; name=value` parameters (RFC 9110
// section 5.6.6, RFC 6266 section 4.1), with whitespace around '=' and empty parameters
// tolerated. Values are tokens or quoted-strings. nullopt on a syntax error.
//
// In a quoted-string a backslash escapes only '"' and '\\' and is kept before anything else:
// browsers send file names unescaped (WHATWG HTML, multipart/form-data encoding), so that
// a Windows path such as ..\..\x reaches sanitise_filename() with its separators.
struct field_value {
    std::string_view value;
    std::vector<parameter> parameters;
};

std::optional<field_value> parse_field_value(std::string_view s) {
    field_value out;
    auto pos = s.find(';');
    out.value = trim_ows(s.substr(0, pos));
    if (pos == std::string_view::npos) {
        return out;
    }

    auto skip_ows = [&] {
        while (pos < s.size() && is_ows(s[pos])) {
            ++pos;
        }
    };
    while (true) {
        skip_ows();
        if (pos == s.size()) {
            return out;
        }
        if (s[pos] != ';') {
            return std::nullopt;
        }
        ++pos;
        skip_ows();
        if (pos == s.size() || s[pos] == ';') {
            continue;
        }

        parameter p;
        while (pos < s.size() && is_tchar(s[pos])) {
            p.name.push_back(lower(s[pos++]));
        }
        skip_ows();
        if (p.name.empty() || pos == s.size() || s[pos] != '=') {
            return std::nullopt;
        }
        ++pos;
        skip_ows();

        if (pos < s.size() && s[pos] == '"') {
            ++pos;
            bool closed = false;
            while (pos < s.size() && !closed) {
                char c = s[pos++];
                if (c == '"') {
                    closed = true;
                } else if (c == '\\' && pos < s.size() && (s[pos] == '"' || s[pos] == '\\')) {
                    p.value.push_back(s[pos++]);
                } else {
                    p.value.push_back(c);
                }
            }
            if (!closed) {
                return std::nullopt;
            }
        } else {
            while (pos < s.size() && is_tchar(s[pos])) {
                p.value.push_back(s[pos++]);
            }
            if (p.value.empty()) {
                return std::nullopt;
            }
        }
        out.parameters.push_back(std::move(p));
    }
}

int hex_digit(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c = lower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

// RFC 8187 section 3.2.1: ext-value = charset "'" [ language ] "'" value-chars. Only UTF-8,
// the charset every recipient must support, is accepted.
std::optional<std::string> decode_ext_value(std::string_view v) {
    auto first = v.find('\'');
    auto second = first == std::string_view::npos ? first : v.find('\'', first + 1);
    if (second == std::string_view::npos || !iequals(v.substr(0, first), "UTF-8")) {
        return std::nullopt;
    }

    std::string out;
    for (auto i = second + 1; i < v.size(); ++i) {
        char c = v[i];
        if (c == '%') {
            int hi = i + 2 < v.size() ? hex_digit(v[i + 1]) : -1;
            int lo = i + 2 < v.size() ? hex_digit(v[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                return std::nullopt;
            }
            out.push_back(static_cast<char>(hi * 16 + lo));
            i += 2;
        } else if (is_alnum(c) ||
                   std::string_view("!#$&+-.^_`|~").find(c) != std::string_view::npos) {
            out.push_back(c); // attr-char
        } else {
            return std::nullopt;
        }
    }
    return out;
}

// RFC 7578 section 4.2: Content-Disposition is "form-data" with a "name" parameter, and an
// optional "filename". Section 4.2 forbids senders to use "filename*", but some do; when
// present it is preferred, as RFC 6266 section 4.3 asks of recipients.
void read_disposition(std::string_view value, part_header& out) {
    auto field = parse_field_value(value);
    if (!field || !iequals(field->value, "form-data")) {
        malformed("Content-Disposition is not form-data");
    }

    std::optional<std::string> name, filename, filename_ext;
    for (auto& p : field->parameters) {
        auto* slot = p.name == "name"        ? &name
                     : p.name == "filename"  ? &filename
                     : p.name == "filename*" ? &filename_ext
                                             : nullptr;
        if (slot == nullptr) {
            continue;
        }
        if (*slot) {
            malformed("repeated Content-Disposition parameter " + p.name);
        }
        *slot = std::move(p.value);
    }

    if (!name || name->empty()) {
        malformed("a part has no name");
    }
    out.name = std::move(*name);
    if (filename_ext) {
        out.filename = decode_ext_value(*filename_ext);
        if (!out.filename) {
            malformed("filename* is not UTF-8''percent-encoded");
        }
    } else {
        out.filename = std::move(filename);
    }
}

// `block` holds CRLF-terminated lines, the last one empty (checked by read_headers).
part_header parse_part_header(std::string_view block) {
    part_header out;
    bool have_disposition = false;
    bool have_type = false;

    for (auto end = block.find("\r\n"); end != 0; end = block.find("\r\n")) {
        auto line = block.substr(0, end);
        block.remove_prefix(end + 2);

        // RFC 9110 section 5.5 obsoletes line folding; a field name is a token with no
        // whitespace before the colon (RFC 9112 section 5.1).
        auto colon = line.find(':');
        if (colon == std::string_view::npos || colon == 0 ||
            !std::all_of(line.begin(), line.begin() + colon, is_tchar)) {
            malformed("bad header line in a part");
        }
        auto name = line.substr(0, colon);
        auto value = trim_ows(line.substr(colon + 1));

        if (iequals(name, "Content-Disposition")) {
            if (std::exchange(have_disposition, true)) {
                malformed("repeated Content-Disposition");
            }
            read_disposition(value, out);
        } else if (iequals(name, "Content-Type")) {
            if (std::exchange(have_type, true) || value.empty()) {
                malformed("repeated or empty Content-Type");
            }
            out.content_type = value;
        } else if (iequals(name, "Content-Transfer-Encoding")) {
            // RFC 7578 section 4.7 deprecates it; an encoding we would not undo is refused
            // rather than stored as if it were the document.
            if (!iequals(value, "binary") && !iequals(value, "8bit") && !iequals(value, "7bit")) {
                malformed("unsupported Content-Transfer-Encoding");
            }
        }
        // Other fields are ignored (RFC 7578 section 4.8).
    }

    if (!have_disposition) {
        malformed("a part has no Content-Disposition");
    }
    if (!have_type) {
        out.content_type = "text/plain"; // RFC 7578 section 4.4
    }
    return out;
}

constexpr char32_t replacement_character = 0xFFFD;

// The next code point of `s` from `i`, or U+FFFD for an ill-formed sequence, skipping its
// maximal subpart (Unicode 15, section 3.9, table 3-7 and U+FFFD substitution).
char32_t next_code_point(std::string_view s, std::size_t& i) {
    auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    unsigned char lead = byte(i);
    if (lead < 0x80) {
        ++i;
        return lead;
    }

    std::size_t length = 0;
    char32_t cp = 0;
    unsigned char low = 0x80, high = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) {
        length = 2;
        cp = lead & 0x1F;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
        length = 3;
        cp = lead & 0x0F;
        low = lead == 0xE0 ? 0xA0 : 0x80;  // no overlong forms
        high = lead == 0xED ? 0x9F : 0xBF; // no surrogates
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        length = 4;
        cp = lead & 0x07;
        low = lead == 0xF0 ? 0x90 : 0x80;  // no overlong forms
        high = lead == 0xF4 ? 0x8F : 0xBF; // nothing past U+10FFFF
    } else {
        ++i;
        return replacement_character;
    }

    for (std::size_t k = 1; k < length; ++k) {
        if (i + k == s.size() || byte(i + k) < low || byte(i + k) > high) {
            i += k;
            return replacement_character;
        }
        cp = (cp << 6) | (byte(i + k) & 0x3F);
        low = 0x80;
        high = 0xBF;
    }
    i += length;
    return cp;
}

void append_utf8(std::string& out, char32_t cp) {
    auto put = [&](char32_t v) { out.push_back(static_cast<char>(v)); };
    if (cp < 0x80) {
        put(cp);
    } else if (cp < 0x800) {
        put(0xC0 | (cp >> 6));
        put(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        put(0xE0 | (cp >> 12));
        put(0x80 | ((cp >> 6) & 0x3F));
        put(0x80 | (cp & 0x3F));
    } else {
        put(0xF0 | (cp >> 18));
        put(0x80 | ((cp >> 12) & 0x3F));
        put(0x80 | ((cp >> 6) & 0x3F));
        put(0x80 | (cp & 0x3F));
    }
}

} // namespace

multipart_parser::multipart_parser(std::string boundary, handler& h, limits l)
    : delimiter_("\r\n--" + boundary)
    , handler_(h)
    , limits_(l)
    // The first delimiter may open the body with no CRLF before it (RFC 2046 section 5.1.1,
    // dash-boundary): start as if a CRLF had just been read.
    , matched_(2) {
    // Besides RFC 2046, scan() relies on this: with no CR in the boundary, no prefix of the
    // delimiter ends with a shorter non-empty prefix of it, so a mismatch restarts from zero.
    if (!valid_boundary(boundary)) {
        throw std::invalid_argument("multipart: invalid boundary");
    }
}

void multipart_parser::feed(std::span<const char> chunk) {
    if (failed_) {
        malformed("parser used after an error");
    }
    failed_ = true; // until this chunk is through, so that a throw leaves the parser spent

    std::size_t i = 0;
    while (i < chunk.size()) {
        switch (state_) {
        case state::preamble:
        case state::body:
            i = scan(chunk, i);
            break;
        case state::headers:
            i = read_headers(chunk, i);
            break;
        case state::epilogue:
            i = chunk.size(); // RFC 2046 section 5.1.1: the epilogue is to be ignored
            break;
        default:
            step_delimiter_line(chunk[i++]);
            break;
        }
    }
    failed_ = false;
}

void multipart_parser::finish() {
    if (failed_) {
        malformed("parser used after an error");
    }
    if (state_ != state::epilogue) {
        failed_ = true;
        malformed("body ended before the close delimiter");
    }
}

// Finds the delimiter in chunk[from..) and hands the data before it to the handler (or
// drops it, in the preamble). The bytes that may begin a delimiter are held back; they are
// always the first `matched_` bytes of delimiter_, so holding them costs no copy.
std::size_t multipart_parser::scan(std::span<const char> chunk, std::size_t from) {
    const std::size_t held = matched_;
    const char* base = chunk.data();
    std::size_t i = from;
    bool found = false;

    while (i < chunk.size() && !found) {
        if (matched_ == 0) {
            auto* cr = static_cast<const char*>(std::memchr(base + i, '\r', chunk.size() - i));
            if (cr == nullptr) {
                i = chunk.size();
                break;
            }
            i = static_cast<std::size_t>(cr - base);
        }
        if (chunk[i] == delimiter_[matched_]) {
            ++i;
            found = ++matched_ == delimiter_.size();
        } else {
            matched_ = 0; // the same byte is tried again as the start of a delimiter
        }
    }

    // What was read is delimiter_[0, held) then chunk[from, i); all but its last matched_
    // bytes are data.
    const std::size_t data = held + (i - from) - matched_;
    deliver(delimiter_.data(), std::min(held, data));
    if (data > held) {
        deliver(base + from, data - held);
    }

    if (found) {
        matched_ = 0;
        if (state_ == state::body) {
            handler_.on_part_end();
        }
        state_ = state::boundary_end;
    }
    return i;
}

void multipart_parser::deliver(const char* data, std::size_t size) {
    if (state_ == state::body && size > 0) {
        handler_.on_part_data({data, size});
    }
}

// RFC 2046 section 5.1.1: delimiter transport-padding CRLF, or close-delimiter ("--").
// Transport padding is linear whitespace; anything else after a boundary is malformed.
void multipart_parser::step_delimiter_line(char c) {
    switch (state_) {
    case state::boundary_end:
        if (c == '-') {
            state_ = state::close_dash;
            return;
        }
        [[fallthrough]];
    case state::padding:
        if (is_ows(c)) {
            state_ = state::padding;
        } else if (c == '\r') {
            state_ = state::padding_cr;
        } else {
            malformed("garbage after a boundary");
        }
        return;
    case state::close_dash:
        if (c != '-') {
            malformed("garbage after a boundary");
        }
        if (parts_ == 0) {
            malformed("no part before the close delimiter"); // the grammar asks for one
        }
        state_ = state::epilogue;
        return;
    case state::padding_cr:
        if (c != '\n') {
            malformed("a delimiter line does not end in CRLF");
        }
        if (++parts_ > limits_.max_parts) {
            fail(error_kind::too_many_parts,
                 "more than " + std::to_string(limits_.max_parts) + " parts");
        }
        header_block_.clear();
        state_ = state::headers;
        return;
    default:
        return;
    }
}

// Collects a header block up to its empty line (RFC 2046 section 5.1.1, body-part), then
// opens the part. Lines must end in CRLF: a lone CR or LF is refused.
std::size_t multipart_parser::read_headers(std::span<const char> chunk, std::size_t from) {
    for (auto i = from; i < chunk.size(); ++i) {
        char c = chunk[i];
        if (header_block_.size() == limits_.max_header_bytes) {
            fail(error_kind::header_too_large,
                 "a part header block over " + std::to_string(limits_.max_header_bytes) + " bytes");
        }
        bool after_cr = !header_block_.empty() && header_block_.back() == '\r';
        if (after_cr != (c == '\n')) {
            malformed("a part header line does not end in CRLF");
        }
        header_block_.push_back(c);

        std::string_view block = header_block_;
        if (c == '\n' && (block.size() == 2 || block.ends_with("\r\n\r\n"))) {
            handler_.on_part_begin(parse_part_header(block));
            state_ = state::body;
            return i + 1;
        }
    }
    return chunk.size();
}

std::optional<std::string> boundary_of(std::string_view content_type) {
    auto field = parse_field_value(content_type);
    if (!field || !iequals(field->value, "multipart/form-data")) {
        return std::nullopt;
    }

    std::optional<std::string> boundary;
    for (auto& p : field->parameters) {
        if (p.name == "boundary") {
            if (boundary) {
                return std::nullopt;
            }
            boundary = std::move(p.value);
        }
    }
    if (!boundary || !valid_boundary(*boundary)) {
        return std::nullopt;
    }
    return boundary;
}

std::string sanitise_filename(std::string_view raw) {
    // Code points, ill-formed UTF-8 replaced, from after the last separator of either kind.
    std::u32string name;
    for (std::size_t i = 0; i < raw.size();) {
        char32_t cp = next_code_point(raw, i);
        if (cp == '/' || cp == '\\') {
            name.clear();
        } else if (!protocols::is_hidden_control(cp)) {
            name.push_back(cp);
        }
    }

    // No leading dot, so no hidden file and no "..".
    auto first = name.find_first_not_of(U". ");
    name.erase(0, first == std::u32string::npos ? name.size() : first);

    std::string out;
    for (char32_t cp : name) {
        std::size_t before = out.size();
        append_utf8(out, cp);
        if (out.size() > 200) {
            out.resize(before); // the whole sequence goes, or none of it
            break;
        }
    }

    // Windows drops trailing dots and spaces, so "a.pdf." would open as "a.pdf".
    auto last = out.find_last_not_of(". ");
    out.erase(last == std::string::npos ? 0 : last + 1);
    return out.empty() ? "document" : out;
}

} // namespace sceau::gateway
