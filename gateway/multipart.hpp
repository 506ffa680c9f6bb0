#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

namespace sceau::gateway {

/// The header fields of one part of a multipart/form-data body (RFC 7578 section 4).
struct part_header {
    /// The `name` parameter of Content-Disposition; never empty.
    std::string name;
    /// The decoded `filename*` or, failing that, `filename` parameter, exactly as sent:
    /// it may hold paths, control characters or invalid UTF-8. See sanitise_filename().
    std::optional<std::string> filename;
    /// The Content-Type field as sent, or "text/plain" when the part has none.
    std::string content_type;
};

/// Why a multipart body was refused.
class multipart_error : public std::runtime_error {
public:
    enum class kind {
        malformed,        ///< the body breaks RFC 2046 or RFC 7578, or ended too early
        too_many_parts,   ///< more parts than multipart_parser::limits::max_parts
        header_too_large, ///< a part's header block over limits::max_header_bytes
    };

    multipart_error(kind k, const std::string& what)
        : std::runtime_error(what)
        , kind_(k) {}

    kind which() const noexcept { return kind_; }

private:
    kind kind_;
};

/// Bounds on what one multipart body may make the parser hold or report.
struct multipart_limits {
    /// Parts allowed in one body; the next one throws multipart_error::kind::too_many_parts.
    std::size_t max_parts = 32;
    /// Bytes allowed in one part's header block, its closing empty line included.
    std::size_t max_header_bytes = 8192;
};

/// A push parser for multipart/form-data bodies (RFC 7578 over RFC 2046 section 5.1).
///
/// The body may arrive in chunks of any size. Part data is handed to the handler as it
/// arrives: the parser keeps back only the bytes that could start a delimiter, so it holds
/// at most one header block and never a whole part.
///
/// It is strict where leniency would let two parsers read one body differently: header
/// lines must end in CRLF (a bare CR or LF in a header block is malformed), folded header
/// lines are refused, and only CRLF "--" boundary delimits a part; a bare LF in part data
/// is data. The preamble and the epilogue are ignored. A body must hold at least one part.
///
/// After any exception, including one thrown by the handler, the parser is spent: every
/// further call throws.
class multipart_parser {
public:
    using limits = multipart_limits;

    /// Receives the parts in order: begin, data any number of times, end.
    struct handler {
        virtual ~handler() = default;
        virtual void on_part_begin(const part_header& header) = 0;
        /// Part data, in order; never empty. The span is valid only during the call.
        virtual void on_part_data(std::span<const char> data) = 0;
        virtual void on_part_end() = 0;
    };

    /// Throws std::invalid_argument unless `boundary` is valid by RFC 2046 section 5.1.1
    /// (as boundary_of() returns it).
    multipart_parser(std::string boundary, handler& h, limits l = {});

    /// Parses the next bytes of the body. Throws multipart_error.
    void feed(std::span<const char> chunk);

    /// Declares the end of the body. Throws multipart_error::kind::malformed unless the
    /// close delimiter was seen.
    void finish();

    /// The parts begun so far.
    std::size_t parts() const noexcept { return parts_; }

private:
    enum class state {
        preamble,     // before the first delimiter
        boundary_end, // right after the boundary of a delimiter
        close_dash,   // one '-' of a close delimiter
        padding,      // transport padding after a delimiter
        padding_cr,   // the CR ending a delimiter line
        headers,      // a part's header block
        body,         // a part's data
        epilogue,     // after the close delimiter
    };

    std::size_t scan(std::span<const char> chunk, std::size_t from);
    void deliver(const char* data, std::size_t size);
    void step_delimiter_line(char c);
    std::size_t read_headers(std::span<const char> chunk, std::size_t from);

    std::string delimiter_;
    handler& handler_;
    limits limits_;
    state state_ = state::preamble;
    std::size_t matched_; // bytes of delimiter_ read and held back, in the preamble or a body
    std::string header_block_;
    std::size_t parts_ = 0;
    bool failed_ = false;
};

/// The boundary parameter of a multipart/form-data Content-Type, quoted or not, if it has
/// 1 to 70 characters of the set RFC 2046 section 5.1.1 allows. nullopt when the type is
/// not multipart/form-data or the boundary is missing, repeated or invalid.
std::optional<std::string> boundary_of(std::string_view content_type);

/// A file name fit to keep as metadata only, never as a path: the last component after
/// '/' or '\\'; invalid UTF-8 replaced by U+FFFD; what protocols::is_hidden_control()
/// names (controls, bidirectional formatting, line separators) removed; leading dots and spaces
/// removed; trailing dots and spaces trimmed; at most 200 bytes, never cutting a UTF-8 sequence;
/// "document" when nothing is left. No Unicode normalisation is done.
std::string sanitise_filename(std::string_view raw);

} // namespace sceau::gateway
