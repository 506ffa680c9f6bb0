#include "protocols/pdf_check.hpp"

#include <qpdf/Constants.h>
#include <qpdf/Pipeline.hh>
#include <qpdf/QPDF.hh>
#include <qpdf/QPDFExc.hh>
#include <qpdf/QPDFObjectHandle.hh>
#include <qpdf/QPDFXRefEntry.hh>

#include <cerrno>
#include <cstdio>
#include <fcntl.h>
#include <map>
#include <memory>
#include <new>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <system_error>
#include <unistd.h>
#include <utility>
#include <vector>

namespace sceau::protocols {
namespace {

using verdict = pdf_report::verdict;

struct file_closer {
    void operator()(std::FILE* file) const noexcept { std::fclose(file); }
};
using file_ptr = std::unique_ptr<std::FILE, file_closer>;

[[noreturn]] void throw_io_error(const std::filesystem::path& path, int error) {
    throw std::filesystem::filesystem_error("cannot read the PDF", path,
                                            std::error_code(error, std::generic_category()));
}

// Ends the check early with a verdict other than ok.
struct refusal {
    verdict outcome;
    std::string reason;
};

pdf_report refused(verdict outcome, std::string reason) {
    pdf_report report;
    report.outcome = outcome;
    report.reason = std::move(reason);
    return report;
}

std::string damaged_reason(const QPDFExc& problem) {
    std::string reason = "the PDF file is damaged or incomplete: " + problem.getMessageDetail();

    std::string where = problem.getObject();
    if (problem.getFilePosition() > 0) {
        where += (where.empty() ? "" : ", ") + std::string("byte ") +
                 std::to_string(problem.getFilePosition());
    }
    if (!where.empty()) {
        reason += " (" + where + ")";
    }
    return reason;
}

// With recovery off, qpdf still turns some problems into warnings and carries on, most
// notably an object that fails to parse, which then reads as null. Any of them refuses.
void refuse_on_warnings(QPDF& pdf) {
    if (pdf.anyWarnings()) {
        throw refusal{verdict::damaged, damaged_reason(pdf.getWarnings().front())};
    }
}

// Discards decoded object-stream bytes, counting them against a budget shared by all the
// object streams of the document.
class budget_pipeline final : public Pipeline {
public:
    explicit budget_pipeline(std::size_t& remaining)
        : Pipeline("object stream budget", nullptr)
        , remaining_(remaining) {}

    void write(unsigned char const*, std::size_t length) override {
        if (length > remaining_) {
            exceeded_ = true;
            remaining_ = 0;
            throw std::length_error("object stream budget exceeded");
        }
        remaining_ -= length;
    }

    void finish() override {}

    bool exceeded() const noexcept { return exceeded_; }

private:
    std::size_t& remaining_;
    bool exceeded_ = false;
};

struct active_content {
    bool javascript = false;
    bool embedded_files = false;
};

bool is_name(QPDFObjectHandle value, std::string_view name) {
    return value.isName() && value.getName() == name;
}

// The keys that reveal JavaScript or an embedded file (ISO 32000-2, 12.6.4.17 JavaScript
// actions, 7.7.4 the /JavaScript and /EmbeddedFiles name trees, 7.11.4 embedded file
// streams and the /EF entry of file specifications).
void note_key(const std::string& key, QPDFObjectHandle value, active_content& found) {
    if (key == "/JS" || key == "/JavaScript" || (key == "/S" && is_name(value, "/JavaScript"))) {
        found.javascript = true;
    }
    if (key == "/EmbeddedFiles" || key == "/EF" ||
        (key == "/Type" && is_name(value, "/EmbeddedFile"))) {
        found.embedded_files = true;
    }
}

// Scans one indirect object: its dictionary (a stream's dictionary, never its data) and the
// dictionaries and arrays written inside it. References to other indirect objects are not
// followed, since every indirect object is scanned on its own.
void scan(QPDFObjectHandle object, active_content& found) {
    std::vector<QPDFObjectHandle> pending{object.isStream() ? object.getDict() : object};
    auto push_direct_container = [&pending](QPDFObjectHandle value) {
        if (!value.isIndirect() && (value.isDictionary() || value.isArray())) {
            pending.push_back(value);
        }
    };

    while (!pending.empty()) {
        QPDFObjectHandle current = pending.back();
        pending.pop_back();

        if (current.isDictionary()) {
            for (auto item : current.ditems()) {
                note_key(item.first, item.second, found);
                push_direct_container(item.second);
            }
        } else if (current.isArray()) {
            for (auto item : current.aitems()) {
                push_direct_container(item);
            }
        }
    }
}

// Reads the first bytes through the handle qpdf will use, so that both see the same file.
bool starts_with_header(std::FILE* file, const std::filesystem::path& path) {
    static constexpr std::string_view header = "%PDF-";
    char start[header.size()] = {};
    std::size_t got = std::fread(start, 1, sizeof start, file);
    if (got < sizeof start && std::ferror(file)) {
        throw_io_error(path, EIO);
    }
    return got == sizeof start && std::string_view(start, got) == header;
}

// ISO 32000-2, 7.5.5: the last line of the file holds %%EOF; only white-space (7.2.3, which
// includes NUL) may follow. qpdf needs no more than a `startxref` near the end, so without this
// a file cut in its last line, or in an appended incremental update, would still open.
bool ends_with_eof_marker(std::FILE* file, const std::filesystem::path& path) {
    static constexpr std::string_view marker = "%%EOF";
    static constexpr off_t tail_size = 1024;
    std::string tail(tail_size, '\0');

    off_t size = ::fseeko(file, 0, SEEK_END) == 0 ? ::ftello(file) : -1;
    if (size < 0 || ::fseeko(file, size > tail_size ? size - tail_size : 0, SEEK_SET) != 0) {
        throw_io_error(path, errno);
    }
    tail.resize(std::fread(tail.data(), 1, tail.size(), file));
    if (std::ferror(file)) {
        throw_io_error(path, EIO);
    }
    std::size_t found = tail.rfind(marker);
    return found != std::string::npos &&
           tail.find_first_not_of(std::string_view("\0\t\n\f\r ", 6), found + marker.size()) ==
               std::string::npos;
}

void check_open_document(std::FILE* file, const pdf_limits& limits, pdf_report& report) {
    QPDF pdf;
    pdf.setSuppressWarnings(true);
    pdf.setAttemptRecovery(false);
    // qpdf borrows the read-only handle (close_file = false); we still own and close it.
    try {
        pdf.processFile("deposited PDF", file, false);
    } catch (const QPDFExc& problem) {
        // While opening, qpdf reports an unknown security handler (certificates, a plug-in)
        // or an unknown /V and /R pair of the standard one as unsupported.
        if (problem.getErrorCode() == qpdf_e_unsupported) {
            throw refusal{verdict::encrypted,
                          "the document is encrypted with a method the gateway cannot open (" +
                              problem.getMessageDetail() + "); the recipient might not open it"};
        }
        throw;
    }
    refuse_on_warnings(pdf);

    const std::map<QPDFObjGen, QPDFXRefEntry> objects = pdf.getXRefTable();
    if (objects.size() > limits.max_objects) {
        throw refusal{verdict::too_complex, "the document has more than " +
                                                std::to_string(limits.max_objects) +
                                                " objects, more than the gateway accepts"};
    }

    // Parse every uncompressed object (a stream only as far as its dictionary and the
    // position of `endstream`), and note the object streams holding the others.
    std::set<int> object_streams;
    for (const auto& [id, entry] : objects) {
        if (entry.getType() == 2) {
            object_streams.insert(entry.getObjStreamNumber());
        } else {
            pdf.getObject(id).getTypeCode();
        }
    }
    refuse_on_warnings(pdf);

    // Inflate each object stream once into a counter before qpdf keeps it in memory.
    std::size_t budget = limits.max_object_stream_bytes;
    for (int number : object_streams) {
        QPDFObjectHandle stream = pdf.getObject(number, 0);
        if (!stream.isStream()) {
            throw refusal{verdict::damaged, "the PDF file is damaged: object " +
                                                std::to_string(number) +
                                                " holds other objects but is not a stream"};
        }
        budget_pipeline counter(budget);
        bool decoded = stream.pipeStreamData(&counter, nullptr, 0, qpdf_dl_specialized);
        if (counter.exceeded()) {
            throw refusal{verdict::too_complex,
                          "the document's compressed objects inflate to more than " +
                              std::to_string(limits.max_object_stream_bytes) +
                              " bytes, more than the gateway accepts"};
        }
        refuse_on_warnings(pdf);
        if (!decoded) {
            throw refusal{verdict::damaged, "the PDF file is damaged: object stream " +
                                                std::to_string(number) + " cannot be decoded"};
        }
    }
    for (const auto& [id, entry] : objects) {
        if (entry.getType() == 2) {
            pdf.getObject(id).getTypeCode();
        }
    }
    refuse_on_warnings(pdf);

    std::size_t pages = pdf.getAllPages().size();
    refuse_on_warnings(pdf);
    if (pages == 0) {
        throw refusal{verdict::damaged, "the document has no pages"};
    }

    active_content found;
    scan(pdf.getTrailer(), found);
    for (const auto& entry : objects) {
        scan(pdf.getObject(entry.first), found);
    }
    refuse_on_warnings(pdf);

    report.pages = static_cast<int>(pages);
    report.has_javascript = found.javascript;
    report.has_embedded_files = found.embedded_files;
}

pdf_report check_open_file(std::FILE* file, const std::filesystem::path& path,
                           const pdf_limits& limits) {
    // ISO 32000-2, 7.5.2: the header is the first line. Readers tolerate leading junk, but
    // a file that needs that tolerance is not what the sender thinks it is.
    if (!starts_with_header(file, path)) {
        return refused(verdict::not_pdf,
                       "the document is not a PDF file: it does not start with %PDF-");
    }

    if (!ends_with_eof_marker(file, path)) {
        return refused(verdict::damaged,
                       "the PDF file is incomplete: it does not end with the %%EOF marker");
    }

    pdf_report report;
    try {
        check_open_document(file, limits, report);
    } catch (const refusal& stop) {
        return refused(stop.outcome, stop.reason);
    } catch (const QPDFExc& problem) {
        if (problem.getErrorCode() == qpdf_e_password) {
            return refused(verdict::encrypted, "the document is encrypted with a user password; "
                                               "the recipient could not open it");
        }
        return refused(verdict::damaged, damaged_reason(problem));
    } catch (const std::bad_alloc&) {
        return refused(verdict::too_complex, "the document is too large to be checked");
    } catch (const std::exception&) {
        // qpdf reports some damage as std::runtime_error or std::logic_error.
        return refused(verdict::damaged, "the PDF file is damaged and cannot be read");
    }
    return report;
}

} // namespace

pdf_report check_pdf(const std::filesystem::path& file, const pdf_limits& limits) {
    file_ptr handle(std::fopen(file.c_str(), "rbe")); // e: close-on-exec
    if (!handle) {
        throw_io_error(file, errno);
    }
    return check_open_file(handle.get(), file, limits);
}

pdf_report check_pdf(int fd, const pdf_limits& limits) {
    // A handle of our own on the same open file: the descriptor stays the caller's.
    int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    file_ptr handle(copy < 0 ? nullptr : ::fdopen(copy, "rb"));
    if (!handle) {
        int error = errno;
        if (copy >= 0) {
            ::close(copy);
        }
        throw_io_error({}, error);
    }
    if (::fseeko(handle.get(), 0, SEEK_SET) != 0) {
        throw_io_error({}, errno);
    }
    return check_open_file(handle.get(), {}, limits);
}

} // namespace sceau::protocols
