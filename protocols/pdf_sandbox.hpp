#pragma once

#include "protocols/pdf_check.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>

namespace sceau::protocols {

/// Where and within which bounds a deposited PDF is checked: in a process of its own, so
/// that a document on which qpdf spends all memory (a page tree that names one page a
/// million times, a dictionary of millions of keys), loops or crashes costs that process
/// only, never the gateway.
struct pdf_sandbox {
    /// An executable that, run as `PROGRAM check-pdf --max-memory-bytes N --max-seconds S
    /// -- FILE`, calls run_pdf_check(): the gateway's own.
    std::filesystem::path program;
    /// Address space of the checking process.
    std::uint64_t max_memory_bytes = 1ull << 30;
    /// Wall-clock time of one check, and CPU time as a backstop.
    std::chrono::seconds max_time{60};
};

/// check_pdf() in a child process bounded by `sandbox`. A check that runs out of memory or
/// time gives verdict::too_complex, one that ends on a signal verdict::damaged; either way
/// the reason says so. Throws std::runtime_error when the child cannot be started or
/// cannot read the file, as check_pdf() would throw.
pdf_report check_pdf_in_child(const std::filesystem::path& file, const pdf_sandbox& sandbox);

/// The child's side: bounds this process (address space, CPU time, no core file, killed
/// with its parent), runs check_pdf() on `file` and writes the report on standard output
/// as one JSON object. Returns the exit status: 0 once the report is written.
int run_pdf_check(const std::filesystem::path& file, std::uint64_t max_memory_bytes,
                  std::chrono::seconds max_time);

} // namespace sceau::protocols
