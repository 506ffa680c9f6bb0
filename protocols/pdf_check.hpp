#pragma once

#include <cstddef>
#include <filesystem>
#include <string>

namespace sceau::protocols {

/// What the check of a deposited PDF found. Only `outcome` decides whether the deposit is
/// accepted; the flags describe an accepted document and are shown on the letter.
struct pdf_report {
    enum class verdict {
        ok,         ///< readable, possibly with active content (see the flags)
        not_pdf,    ///< does not start with the `%PDF-` header
        damaged,    ///< truncated, unreadable objects or cross-reference data, no pages
        encrypted,  ///< needs a user password, or uses an encryption qpdf cannot open
        too_complex ///< beyond the limits of pdf_limits
    };

    verdict outcome = verdict::ok;
    std::string reason;          ///< a sentence for the sender when outcome != ok
    bool has_javascript = false; ///< flagged on the letter, never removed
    bool has_embedded_files = false;
    int pages = 0;
};

/// Bounds on the work the check does for one document.
struct pdf_limits {
    /// Indirect objects in the cross-reference data.
    std::size_t max_objects = 200'000;
    /// Decompressed bytes of all object streams together: the compressed dictionaries must
    /// be inflated to be inspected, and this caps what a compression bomb can cost.
    std::size_t max_object_stream_bytes = 64 * 1024 * 1024;
};

/// Checks a PDF file on disk with qpdf, without changing it (the file is opened read-only).
///
/// The file must start with `%PDF-` (no leading junk, although qpdf would tolerate some)
/// and end with `%%EOF` followed by white-space only, so that a cut anywhere is refused.
/// qpdf opens it with recovery off and every object of the cross-reference data is parsed,
/// those inside object streams included: any error or warning makes the document damaged,
/// and so does a document without pages. Stream data is not read, except that of object
/// streams, so a large document costs about the size of its dictionaries. Contents of other
/// streams (page contents, images) are not decoded and their corruption is not detected.
///
/// A document that opens with the empty password is accepted even if it is encrypted (an
/// owner password only restricts printing or copying in viewers); one that needs a user
/// password is refused, since the recipient could not read it.
///
/// JavaScript is flagged wherever a dictionary has a /JS key, an action type
/// /S /JavaScript or a /JavaScript name tree; embedded files wherever a dictionary has an
/// /EmbeddedFiles name tree, an /EF file stream entry or /Type /EmbeddedFile.
///
/// Never throws for a bad document; throws std::filesystem::filesystem_error when the file
/// cannot be opened, or its first or last kilobyte cannot be read.
pdf_report check_pdf(const std::filesystem::path& file, const pdf_limits& limits = {});

/// check_pdf() on the file open for reading on `fd`, from its first byte whatever the
/// descriptor's offset. The descriptor stays open; its offset moves.
pdf_report check_pdf(int fd, const pdf_limits& limits = {});

} // namespace sceau::protocols
