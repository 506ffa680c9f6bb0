#include "protocols/pdf_sandbox.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <iostream>
#include <poll.h>
#include <spawn.h>
#include <stdexcept>
#include <string>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

extern char** environ;

namespace sceau::protocols {
namespace {

using verdict = pdf_report::verdict;
using steady = std::chrono::steady_clock;

/// A report is a few hundred bytes; more is not a report.
constexpr std::size_t max_report_bytes = 64 << 10;

constexpr std::array<std::pair<verdict, std::string_view>, 5> verdict_names{{
    {verdict::ok, "ok"},
    {verdict::not_pdf, "not_pdf"},
    {verdict::damaged, "damaged"},
    {verdict::encrypted, "encrypted"},
    {verdict::too_complex, "too_complex"},
}};

std::string_view name_of(verdict v) {
    for (const auto& [value, name] : verdict_names) {
        if (value == v)
            return name;
    }
    return "damaged";
}

std::optional<verdict> verdict_named(std::string_view name) {
    for (const auto& [value, n] : verdict_names) {
        if (n == name)
            return value;
    }
    return std::nullopt;
}

std::optional<pdf_report> report_of(const std::string& text) {
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (!j.is_object() || !j.contains("outcome") || !j["outcome"].is_string())
        return std::nullopt;
    auto outcome = verdict_named(j["outcome"].get<std::string>());
    if (!outcome)
        return std::nullopt;
    pdf_report r;
    r.outcome = *outcome;
    r.reason = j.value("reason", "");
    r.has_javascript = j.value("javascript", false);
    r.has_embedded_files = j.value("embedded_files", false);
    r.pages = j.value("pages", 0);
    return r;
}

pdf_report refused(verdict outcome, std::string reason) {
    pdf_report r;
    r.outcome = outcome;
    r.reason = std::move(reason);
    return r;
}

struct fd_closer {
    int fd = -1;
    ~fd_closer() {
        if (fd >= 0)
            ::close(fd);
    }
};

struct spawn_actions {
    posix_spawn_file_actions_t actions;
    spawn_actions() { posix_spawn_file_actions_init(&actions); }
    ~spawn_actions() { posix_spawn_file_actions_destroy(&actions); }
};

[[noreturn]] void fail(const std::string& what, int error) {
    throw std::runtime_error("the PDF check: " + what + ": " + std::strerror(error));
}

/// Reads the child's standard output until it closes it or `deadline` passes. False when
/// the time ran out or the output is too long to be a report.
bool read_until(int fd, steady::time_point deadline, std::string& out) {
    char buffer[4096];
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
        if (left.count() <= 0)
            return false;
        pollfd p{fd, POLLIN, 0};
        int ready = ::poll(&p, 1, static_cast<int>(left.count()));
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready <= 0)
            return false;
        auto n = ::read(fd, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return true;
        out.append(buffer, static_cast<std::size_t>(n));
        if (out.size() > max_report_bytes)
            return false;
    }
}

/// The child's status once it has ended, waiting until `deadline` at most.
std::optional<int> wait_until(pid_t pid, steady::time_point deadline) {
    for (;;) {
        int status = 0;
        pid_t done = ::waitpid(pid, &status, WNOHANG);
        if (done == pid)
            return status;
        if (done < 0 && errno != EINTR)
            fail("waitpid", errno);
        if (steady::now() >= deadline)
            return std::nullopt;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
}

} // namespace

pdf_report check_pdf_in_child(const std::filesystem::path& file, const pdf_sandbox& sandbox) {
    int ends[2];
    if (::pipe2(ends, O_CLOEXEC) != 0)
        fail("pipe", errno);
    fd_closer reading{ends[0]};
    fd_closer writing{ends[1]};

    // The child sees the file, a pipe for its report and /dev/null: none of the gateway's
    // sockets or files.
    spawn_actions a;
    posix_spawn_file_actions_addopen(&a.actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&a.actions, ends[1], 1);
    posix_spawn_file_actions_addopen(&a.actions, 2, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addclosefrom_np(&a.actions, 3);

    std::vector<std::string> args = {sandbox.program.string(),
                                     "check-pdf",
                                     "--max-memory-bytes",
                                     std::to_string(sandbox.max_memory_bytes),
                                     "--max-seconds",
                                     std::to_string(sandbox.max_time.count()),
                                     "--",
                                     file.string()};
    std::vector<char*> argv;
    for (auto& arg : args)
        argv.push_back(arg.data());
    argv.push_back(nullptr);

    auto deadline = steady::now() + sandbox.max_time;
    pid_t pid = -1;
    int spawned =
        ::posix_spawn(&pid, sandbox.program.c_str(), &a.actions, nullptr, argv.data(), environ);
    if (spawned != 0)
        fail("cannot start " + sandbox.program.string(), spawned);
    ::close(std::exchange(writing.fd, -1)); // the child holds the only writing end now

    std::string output;
    bool complete = read_until(reading.fd, deadline, output);
    auto status = complete ? wait_until(pid, deadline) : std::nullopt;
    if (!status) {
        ::kill(pid, SIGKILL);
        status = wait_until(pid, steady::time_point::max());
        if (complete) // a report, then no exit: the time ran out all the same
            output.clear();
    }

    if (WIFSIGNALED(*status)) {
        int signal = WTERMSIG(*status);
        // Killed by us at the deadline, or by the kernel at the CPU limit.
        if (signal == SIGKILL || signal == SIGXCPU)
            return refused(verdict::too_complex, "the document could not be checked within " +
                                                     std::to_string(sandbox.max_time.count()) +
                                                     " seconds, more than the gateway accepts");
        return refused(verdict::damaged,
                       "the PDF file is damaged: the PDF reader stopped on it (signal " +
                           std::to_string(signal) + ")");
    }
    if (!WIFEXITED(*status) || WEXITSTATUS(*status) != 0)
        throw std::runtime_error("the PDF check could not read the document (exit status " +
                                 std::to_string(WEXITSTATUS(*status)) + ")");
    auto report = report_of(output);
    if (!report)
        throw std::runtime_error("the PDF check wrote no report");
    return *report;
}

int run_pdf_check(const std::filesystem::path& file, std::uint64_t max_memory_bytes,
                  std::chrono::seconds max_time) {
    // Dies with the gateway; never leaves a core file holding a document's bytes.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    rlimit none{0, 0};
    ::setrlimit(RLIMIT_CORE, &none);
    auto seconds = static_cast<rlim_t>(max_time.count());
    rlimit cpu{seconds, seconds + 1};
    ::setrlimit(RLIMIT_CPU, &cpu);
#ifndef __SANITIZE_ADDRESS__ // AddressSanitizer reserves far more address space than it uses
    rlimit memory{static_cast<rlim_t>(max_memory_bytes), static_cast<rlim_t>(max_memory_bytes)};
    if (::setrlimit(RLIMIT_AS, &memory) != 0)
        return 3;
#else
    (void)max_memory_bytes;
#endif

    pdf_report report;
    try {
        report = check_pdf(file);
    } catch (const std::exception&) {
        return 2; // the file could not be read: not the document's fault
    }
    nlohmann::json out = {{"outcome", name_of(report.outcome)},
                          {"reason", report.reason},
                          {"javascript", report.has_javascript},
                          {"embedded_files", report.has_embedded_files},
                          {"pages", report.pages}};
    std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
    return std::cout ? 0 : 2;
}

} // namespace sceau::protocols
