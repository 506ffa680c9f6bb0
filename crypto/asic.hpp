#pragma once

#include "crypto/byte_source.hpp"

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct zip;

namespace sceau::crypto {

/// Names of ETSI EN 319 162-1 (ASiC) that Sceau's containers use.
namespace asic {
inline constexpr std::string_view mime_type = "application/vnd.etsi.asic-e+zip";
inline constexpr std::string_view mimetype_entry = "mimetype";
inline constexpr std::string_view manifest_entry = "META-INF/manifest.xml";
inline constexpr std::string_view signature_entry = "META-INF/signatures0.xml";
inline constexpr std::string_view manifest_ns =
    "urn:oasis:names:tc:opendocument:xmlns:manifest:1.0";
inline constexpr std::string_view signatures_ns = "http://uri.etsi.org/02918/v1.2.1#";
} // namespace asic

/// Why an entry name cannot be used, or nothing when it can: empty, too long, absolute,
/// with a backslash, a `.` or `..` segment, an empty segment, a control character, or
/// not UTF-8. The writer and the reader apply the same rule.
std::optional<std::string> entry_name_problem(std::string_view name, std::size_t max_bytes = 512);

/// Writes an ASiC-E container (EN 319 162-1 clause 4.4, Annex A) with libzip: `mimetype`
/// first, stored, without extra field; then the entries in the order added. Document
/// bytes are read from their files when the container is written, never held in memory.
/// The file appears only once finish() succeeds; until then nothing is left behind.
class asic_writer {
public:
    explicit asic_writer(std::filesystem::path path);
    ~asic_writer();
    asic_writer(const asic_writer&) = delete;
    asic_writer& operator=(const asic_writer&) = delete;

    /// Adds an entry held in memory. Throws error(container_entry_refused) for a name
    /// entry_name_problem() refuses, or one already added.
    void add(const std::string& name, std::string data, const std::string& media_type);

    /// Adds an entry whose bytes are the file's.
    void add_file(const std::string& name, const std::filesystem::path& file,
                  const std::string& media_type);

    /// Adds META-INF/manifest.xml (OpenDocument manifest, EN 319 162-1 clause A.7) listing
    /// every entry added so far with its media type.
    void add_manifest();

    /// Every entry added so far, as a detached signature must reference it.
    std::vector<detached_object> objects() const;

    /// Adds META-INF/signatures0.xml and writes the container. Throws
    /// error(container_malformed) if libzip fails; the file is then not there.
    void finish(std::string signatures_xml);

private:
    struct entry {
        std::string name;
        std::string media_type;
        std::unique_ptr<std::string> data; ///< null for a file entry
        std::filesystem::path file;
    };
    void check_new(const std::string& name) const;

    std::filesystem::path path_;
    std::vector<entry> entries_;
    bool finished_ = false;
};

/// What a reader accepts before it reads any content.
struct container_limits {
    std::size_t max_entries = 10000;
    std::uint64_t max_entry_bytes = 1ull << 30; ///< one entry, uncompressed
    std::uint64_t max_total_bytes = 4ull << 30; ///< all entries, uncompressed
    std::size_t max_name_bytes = 512;
};

/// Reads an ASiC-E container that may be hostile. Opening checks the whole structure
/// before anything is read: libzip's consistency check (central directory against local
/// headers); `mimetype` first, stored, without extra field, holding the ASiC-E media
/// type; each name as entry_name_problem() says; no two names alike, even by ASCII case;
/// no encrypted entry; counts and sizes within the limits. Nothing is ever written to
/// disk: entries are read into memory or streamed. Not thread-safe.
class asic_reader {
public:
    struct entry {
        std::string name;
        std::uint64_t size = 0;  ///< uncompressed, as the central directory says
        std::uint64_t index = 0; ///< libzip's
    };

    /// Throws error(container_malformed) for what is not a readable ZIP,
    /// error(container_entry_refused) for a refused entry or a wrong `mimetype`, and
    /// error(container_too_large) beyond the limits.
    explicit asic_reader(const std::filesystem::path& path, container_limits limits = {});
    ~asic_reader();
    asic_reader(const asic_reader&) = delete;
    asic_reader& operator=(const asic_reader&) = delete;

    /// Every entry but `mimetype` and directories, in container order.
    const std::vector<entry>& entries() const { return entries_; }
    const entry* find(std::string_view name) const;

    /// The whole entry, checked against its CRC. Throws error(container_too_large) over
    /// `limit` bytes, error(container_malformed) when the data is damaged.
    std::string read(std::string_view name, std::uint64_t limit) const;

    /// The entry as a stream, for documents too large to hold; the CRC and the size are
    /// checked as it ends.
    std::unique_ptr<byte_source> open(std::string_view name) const;

    /// Every entry, as a detached signature references it.
    std::vector<detached_object> objects() const;

private:
    zip* archive_ = nullptr;
    std::vector<entry> entries_;
};

} // namespace sceau::crypto
