#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

namespace sceau::crypto {

/// Bytes read once from the start, in pieces: a file, a buffer, a container entry.
class byte_source {
public:
    virtual ~byte_source() = default;

    /// Up to `size` bytes into `out`; 0 at the end. Throws std::runtime_error on failure.
    virtual std::size_t read(std::uint8_t* out, std::size_t size) = 0;
};

/// Opens a fresh source each time it is called (a verifier may read an object twice).
using source_opener = std::function<std::unique_ptr<byte_source>()>;

/// A source over bytes the caller keeps alive.
std::unique_ptr<byte_source> memory_source(const std::string& data);

/// A source over a file, read as it is consumed.
std::unique_ptr<byte_source> file_source(const std::filesystem::path& path);

/// A file that is not signed inside a document but next to it: an entry of a container
/// referenced by a detached signature (XML-DSig section 4.4.3.1, ETSI EN 319 162-1).
struct detached_object {
    std::string uri;        ///< as the ds:Reference names it: the entry's path in the container
    std::string media_type; ///< for the XAdES DataObjectFormat
    source_opener open;
};

} // namespace sceau::crypto
