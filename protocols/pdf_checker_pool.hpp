#pragma once

#include "protocols/pdf_check.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <sys/types.h>
#include <vector>

namespace sceau::protocols {

/// Where and within which bounds deposited PDFs are checked: in processes of their own, so
/// that a document on which qpdf spends all memory (a page tree that names one page a
/// million times, a dictionary of millions of keys), loops or crashes costs that process
/// only, never the gateway.
struct pdf_checker_options {
    /// An executable that, run as `PROGRAM pdf-checker --max-memory-bytes N --max-seconds S
    /// --checks C` with a socket on descriptor 3, calls serve_pdf_checks(): the gateway's own.
    std::filesystem::path program;
    /// Address space of each checking process.
    std::uint64_t max_memory_bytes = 1ull << 30;
    /// Wall-clock time of one check, and CPU time as a backstop; also the time a process
    /// has to start.
    std::chrono::seconds max_time{60};
    /// Checking processes alive at most, idle or busy.
    unsigned processes = 1;
    /// Checks one process makes before a fresh one replaces it.
    unsigned checks_per_process = 1000;
};

/// No checking process could be started, or none became free in time: the document cannot
/// be checked now, through no fault of its own.
class pdf_check_unavailable : public std::runtime_error {
public:
    pdf_check_unavailable(const std::string& what, std::chrono::seconds retry_after)
        : std::runtime_error(what)
        , retry_after_(retry_after) {}

    /// When starting a process will be tried again.
    std::chrono::seconds retry_after() const noexcept { return retry_after_; }

private:
    std::chrono::seconds retry_after_;
};

/// A bounded pool of long-lived checking processes, shared by the threads that check
/// deposits. A check borrows an idle process, passes it the open document (the process never
/// opens a path) and waits for its one-line JSON report; it gives the process back, or ends
/// it when it cannot be trusted with another document.
///
/// Processes are started on demand, up to options.processes, by a thread of the pool, and
/// replaced when they end: after options.checks_per_process checks, after a document too
/// complex to check (it may have left the process short of memory), when they die or
/// answer out of turn, or when they miss the time limit. A process that cannot be started
/// is tried again after a delay that doubles up to 30 seconds; meanwhile checks that find
/// no process throw pdf_check_unavailable at once rather than wait.
class pdf_checker_pool {
public:
    explicit pdf_checker_pool(pdf_checker_options options);
    /// Waits for the checks under way, then ends and reaps every process.
    ~pdf_checker_pool();
    pdf_checker_pool(const pdf_checker_pool&) = delete;
    pdf_checker_pool& operator=(const pdf_checker_pool&) = delete;

    /// check_pdf() of `file` in one of the pool's processes, within the options' bounds. A
    /// check that runs out of memory or time gives verdict::too_complex, one on which the
    /// process crashes verdict::damaged; either way the reason says so. Throws
    /// pdf_check_unavailable when no process can be had, std::runtime_error when the file
    /// cannot be read or the process answers something that is not a report.
    pdf_report check(const std::filesystem::path& file);

    /// The checking processes in service now, idle or checking; not those being ended.
    std::vector<pid_t> processes() const;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

/// The checking process's side, run by `sceau pdf-checker`: bounds this process (address
/// space, CPU time, no core file, killed with the thread that started it), says it is ready
/// on `socket`, then for each descriptor received there runs check_pdf() and answers its
/// report, until the socket closes, `checks` checks are done, or a check finds the document
/// too complex. Returns the exit status.
int serve_pdf_checks(int socket, std::uint64_t max_memory_bytes, std::chrono::seconds max_time,
                     unsigned checks);

} // namespace sceau::protocols
