#include "protocols/pdf_checker_pool.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <mutex>
#include <new>
#include <optional>
#include <poll.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <utility>

extern char** environ;

namespace sceau::protocols {
namespace {

using verdict = pdf_report::verdict;
using steady = std::chrono::steady_clock;

// The protocol, over a SOCK_SEQPACKET socket pair, one message at a time: the process says
// it is ready; then each request is one byte with the document's descriptor beside it
// (SCM_RIGHTS), and each answer one JSON object, a report or {"error": ...}.
constexpr std::string_view ready_message = R"({"ready":true})";
constexpr char request_byte = 'c';
/// A report is a few hundred bytes; more is not a report.
constexpr std::size_t max_answer_bytes = 64 << 10;

/// Exit statuses of the checking process, besides 0.
constexpr int cannot_bound_status = 2;  ///< its limits could not be set
constexpr int out_of_memory_status = 3; ///< memory ran out outside check_pdf()
constexpr int protocol_status = 4;      ///< a request it did not understand, or a lost socket

/// The longest wait before another attempt to start a process that would not start.
constexpr std::chrono::seconds max_backoff{30};
/// How often the pool looks for idle processes that died.
constexpr std::chrono::seconds sweep_interval{1};

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

std::string answer_of(const pdf_report& report) {
    nlohmann::json out = {{"outcome", name_of(report.outcome)},
                          {"reason", report.reason},
                          {"javascript", report.has_javascript},
                          {"embedded_files", report.has_embedded_files},
                          {"pages", report.pages}};
    return out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::optional<pdf_report> report_of(const nlohmann::json& j) {
    if (!j.is_object() || !j.contains("outcome") || !j["outcome"].is_string())
        return std::nullopt;
    auto outcome = verdict_named(j["outcome"].get<std::string>());
    if (!outcome)
        return std::nullopt;
    pdf_report r;
    try {
        r.outcome = *outcome;
        r.reason = j.value("reason", "");
        r.has_javascript = j.value("javascript", false);
        r.has_embedded_files = j.value("embedded_files", false);
        r.pages = j.value("pages", 0);
    } catch (const nlohmann::json::exception&) {
        return std::nullopt; // a member of the wrong type
    }
    return r;
}

pdf_report out_of_time(std::chrono::seconds max_time) {
    return {verdict::too_complex, "the document could not be checked within " +
                                      std::to_string(max_time.count()) +
                                      " seconds, more than the gateway accepts"};
}

[[noreturn]] void fail(const std::string& what, int error) {
    throw std::runtime_error("the PDF check: " + what + ": " + std::strerror(error));
}

class unique_fd {
public:
    unique_fd() = default;
    explicit unique_fd(int fd)
        : fd_(fd) {}
    unique_fd(unique_fd&& other) noexcept
        : fd_(std::exchange(other.fd_, -1)) {}
    unique_fd& operator=(unique_fd&& other) noexcept {
        reset(std::exchange(other.fd_, -1));
        return *this;
    }
    ~unique_fd() { reset(); }

    int get() const noexcept { return fd_; }
    void reset(int fd = -1) noexcept {
        if (fd_ >= 0)
            ::close(fd_);
        fd_ = fd;
    }

private:
    int fd_ = -1;
};

struct spawn_actions {
    posix_spawn_file_actions_t actions;
    spawn_actions() { posix_spawn_file_actions_init(&actions); }
    ~spawn_actions() { posix_spawn_file_actions_destroy(&actions); }
};

/// One socket message: a buffer, and room for a few descriptors beside it (SCM_RIGHTS).
struct socket_message {
    iovec data;
    alignas(cmsghdr) char control[CMSG_SPACE(4 * sizeof(int))] = {};
    msghdr header{};

    socket_message(void* bytes, std::size_t size)
        : data{bytes, size} {
        header.msg_iov = &data;
        header.msg_iovlen = 1;
        header.msg_control = control;
        header.msg_controllen = sizeof control;
    }
    socket_message(const socket_message&) = delete; // points into itself
    socket_message& operator=(const socket_message&) = delete;
};

/// Closes every descriptor a message carried: what a checking process sends is never ours.
void close_passed(msghdr& message) {
    for (cmsghdr* c = CMSG_FIRSTHDR(&message); c; c = CMSG_NXTHDR(&message, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (std::size_t i = 0; i < count; ++i) {
            int fd;
            std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
            ::close(fd);
        }
    }
}

struct received {
    enum class kind { message, closed, timed_out, garbled } what;
    std::string text;
};

/// The next message on `socket`, waiting until `deadline` at most.
received receive(int socket, steady::time_point deadline) {
    std::string buffer(max_answer_bytes, '\0');
    for (;;) {
        auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - steady::now());
        if (left.count() <= 0)
            return {received::kind::timed_out, {}};
        pollfd p{socket, POLLIN, 0};
        int ready = ::poll(&p, 1, static_cast<int>(left.count()));
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready < 0)
            fail("poll", errno);
        if (ready == 0)
            return {received::kind::timed_out, {}};

        socket_message m(buffer.data(), buffer.size());
        msghdr& message = m.header;
        auto n = ::recvmsg(socket, &message, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n < 0 && errno == ECONNRESET)
            return {received::kind::closed, {}};
        if (n < 0)
            fail("recvmsg", errno);
        bool carried = message.msg_controllen > 0;
        close_passed(message);
        if (n == 0 && !carried)
            return {received::kind::closed, {}};
        if (carried || (message.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))
            return {received::kind::garbled, {}};
        buffer.resize(static_cast<std::size_t>(n));
        return {received::kind::message, std::move(buffer)};
    }
}

/// Whether an idle process is still there and silent: one that died, or that speaks out
/// of turn, is not to be given a document.
bool listening(int socket) {
    pollfd p{socket, POLLIN, 0};
    int ready;
    do {
        ready = ::poll(&p, 1, 0);
    } while (ready < 0 && errno == EINTR);
    return ready == 0;
}

/// Passes the document to the process. False when the process is gone.
bool send_request(int socket, int document) {
    char byte = request_byte;
    socket_message m(&byte, 1);
    msghdr& message = m.header;
    message.msg_controllen = CMSG_SPACE(sizeof(int));
    cmsghdr* c = CMSG_FIRSTHDR(&message);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &document, sizeof document);
    for (;;) {
        auto n = ::sendmsg(socket, &message, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        return n == 1;
    }
}

struct worker {
    pid_t pid = -1;
    unique_fd socket;
    unsigned checks = 0;
};

/// Kills the process and reaps it: its wait status.
int end(worker& w) {
    w.socket.reset();
    ::kill(w.pid, SIGKILL);
    int status = 0;
    while (::waitpid(w.pid, &status, 0) < 0 && errno == EINTR) {
    }
    return status;
}

/// The status of a process that closed its socket, once it has ended; killed if it has
/// not by `deadline`.
int collect(worker& w, steady::time_point deadline) {
    w.socket.reset();
    for (;;) {
        int status = 0;
        pid_t done = ::waitpid(w.pid, &status, WNOHANG);
        if (done == w.pid)
            return status;
        if (done < 0 && errno != EINTR)
            fail("waitpid", errno);
        if (steady::now() >= deadline)
            return end(w);
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
}

/// Whether a process that ended on `status` before answering should be given the
/// document's check again, on a fresh process: an end on a signal the gateway did not
/// send, which one more try tells apart from the document's own doing. The kernel's
/// signal at the CPU limit the gateway set is the document's doing at once.
bool worth_another_try(int status) {
    return WIFSIGNALED(status) && WTERMSIG(status) != SIGXCPU;
}

/// The verdict on a document whose process ended before it answered, after the second
/// try when worth_another_try(): a signal that ends two processes on one document is the
/// document's doing only if it is one a reader's failure raises.
pdf_report verdict_of_end(int status, std::chrono::seconds max_time) {
    if (WIFSIGNALED(status)) {
        int signal = WTERMSIG(status);
        if (signal == SIGXCPU) // the kernel, at the CPU limit
            return out_of_time(max_time);
        if (signal == SIGKILL) // the kernel's out-of-memory killer, twice
            return {verdict::too_complex, "checking the document was killed twice, short of "
                                          "memory: it is more than the gateway accepts"};
        if (signal == SIGSEGV || signal == SIGBUS || signal == SIGABRT || signal == SIGFPE ||
            signal == SIGILL)
            return {verdict::damaged, "the PDF file is damaged: the PDF reader stopped on it "
                                      "twice (signal " +
                                          std::to_string(signal) + ")"};
        throw pdf_check_unavailable("the PDF checking processes were stopped from outside "
                                    "(signal " +
                                        std::to_string(signal) + ")",
                                    std::chrono::seconds(5));
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == out_of_memory_status)
        return {verdict::too_complex, "the document is too large to be checked"};
    throw std::runtime_error("the PDF check ended without a report (exit status " +
                             std::to_string(WEXITSTATUS(status)) + ")");
}

/// Starts one checking process and waits until it says it is ready.
worker start(const pdf_checker_options& options) {
    int ends[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ends) != 0)
        fail("socketpair", errno);
    unique_fd ours(ends[0]);
    unique_fd theirs(ends[1]);

    // The process sees its socket and /dev/null: none of the gateway's sockets or files.
    // The socket is moved first, in case it is 0, 1 or 2; dup2 onto itself, should it be 3
    // already, clears close-on-exec all the same.
    spawn_actions a;
    posix_spawn_file_actions_adddup2(&a.actions, theirs.get(), 3);
    posix_spawn_file_actions_addopen(&a.actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&a.actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&a.actions, 2, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addclosefrom_np(&a.actions, 4);

    std::vector<std::string> args = {options.program.string(),
                                     "pdf-checker",
                                     "--max-memory-bytes",
                                     std::to_string(options.max_memory_bytes),
                                     "--max-seconds",
                                     std::to_string(options.max_time.count()),
                                     "--checks",
                                     std::to_string(options.checks_per_process)};
    std::vector<char*> argv;
    for (auto& arg : args)
        argv.push_back(arg.data());
    argv.push_back(nullptr);

    worker w;
    int spawned =
        ::posix_spawn(&w.pid, options.program.c_str(), &a.actions, nullptr, argv.data(), environ);
    if (spawned != 0)
        fail("cannot start " + options.program.string(), spawned);
    w.socket = std::move(ours);
    theirs.reset(); // the process holds the only other end now

    std::optional<received> hello;
    try {
        hello = receive(w.socket.get(), steady::now() + options.max_time);
    } catch (...) {
        end(w);
        throw;
    }
    if (hello->what != received::kind::message || hello->text != ready_message) {
        int status = end(w);
        std::string how = WIFEXITED(status) ? "exit status " + std::to_string(WEXITSTATUS(status))
                          : WIFSIGNALED(status) ? "signal " + std::to_string(WTERMSIG(status))
                                                : "no status";
        throw std::runtime_error("the PDF checking process " + options.program.string() +
                                 " did not become ready within " +
                                 std::to_string(options.max_time.count()) + " seconds (" + how +
                                 ")");
    }
    return w;
}

} // namespace

struct pdf_checker_pool::impl {
    pdf_checker_options options;

    mutable std::mutex mutex;
    std::condition_variable changed; ///< any change below; waited on by checks and the keeper
    std::vector<worker> idle;
    std::vector<worker> retiring; ///< for the keeper to end
    std::vector<pid_t> alive;     ///< in service: idle or busy
    unsigned busy = 0;            ///< lent to checks
    unsigned starting = 0;
    unsigned waiting = 0;  ///< checks waiting for a process
    unsigned wanted = 0;   ///< the most processes checks have needed at once
    unsigned failures = 0; ///< starts failed in a row
    steady::time_point retry_at{};
    std::string start_failure;
    bool stopping = false;
    /// Starts and ends the processes, so that they live as long as the pool: a process is
    /// killed when the thread that started it ends (PR_SET_PDEATHSIG).
    std::thread keeper;

    explicit impl(pdf_checker_options o)
        : options(std::move(o)) {}

    void keep();
    worker borrow();
    void give_back(worker w, bool reusable);
    void forget(const worker& w);
};

void pdf_checker_pool::impl::keep() {
    std::unique_lock lock(mutex);
    for (;;) {
        if (!retiring.empty()) {
            worker w = std::move(retiring.back());
            retiring.pop_back();
            lock.unlock();
            end(w);
            lock.lock();
            changed.notify_all();
            continue;
        }
        if (stopping) {
            if (busy == 0)
                return;
            changed.wait(lock);
            continue;
        }

        bool short_of_processes = idle.size() + busy + starting < wanted;
        if (short_of_processes && steady::now() >= retry_at) {
            ++starting;
            lock.unlock();
            std::optional<worker> fresh;
            std::string why;
            try {
                fresh = start(options);
            } catch (const std::exception& e) {
                why = e.what();
            }
            lock.lock();
            --starting;
            if (fresh) {
                failures = 0;
                alive.push_back(fresh->pid);
                idle.push_back(std::move(*fresh));
            } else {
                ++failures;
                auto delay = std::min<steady::duration>(
                    std::chrono::seconds(1ll << std::min(failures - 1, 5u)), max_backoff);
                retry_at = steady::now() + delay;
                start_failure = std::move(why);
            }
            changed.notify_all();
            continue;
        }

        if (short_of_processes) {
            changed.wait_until(lock, retry_at);
        } else if (changed.wait_for(lock, sweep_interval) == std::cv_status::timeout) {
            // An idle process killed from outside is reaped here, not at the next check.
            for (auto it = idle.begin(); it != idle.end();) {
                if (listening(it->socket.get())) {
                    ++it;
                    continue;
                }
                std::erase(alive, it->pid);
                retiring.push_back(std::move(*it));
                it = idle.erase(it);
            }
        }
    }
}

worker pdf_checker_pool::impl::borrow() {
    std::unique_lock lock(mutex);
    ++waiting;
    wanted = std::max(wanted, std::min(options.processes, busy + waiting));
    changed.notify_all();
    struct leave {
        unsigned& waiting;
        ~leave() { --waiting; }
    } on_exit{waiting};

    // Bounded: a busy process answers or is killed within max_time, a start takes as long.
    auto give_up = steady::now() + 2 * options.max_time + std::chrono::seconds(1);
    for (;;) {
        if (stopping)
            throw pdf_check_unavailable("the gateway is stopping", std::chrono::seconds(1));
        if (!idle.empty()) {
            worker w = std::move(idle.back());
            idle.pop_back();
            ++busy;
            return w;
        }
        auto now = steady::now();
        if (busy == 0 && starting == 0 && now < retry_at) {
            auto wait = std::chrono::ceil<std::chrono::seconds>(retry_at - now);
            throw pdf_check_unavailable(
                "no PDF checking process could be started: " + start_failure, wait);
        }
        if (changed.wait_until(lock, give_up) == std::cv_status::timeout && idle.empty())
            throw pdf_check_unavailable("no PDF checking process became free in time",
                                        std::chrono::seconds(1));
    }
}

void pdf_checker_pool::impl::give_back(worker w, bool reusable) {
    std::lock_guard lock(mutex);
    --busy;
    if (reusable && !stopping) {
        idle.push_back(std::move(w));
    } else {
        std::erase(alive, w.pid);
        retiring.push_back(std::move(w));
    }
    changed.notify_all();
}

void pdf_checker_pool::impl::forget(const worker& w) {
    std::lock_guard lock(mutex);
    --busy;
    std::erase(alive, w.pid);
    changed.notify_all();
}

pdf_checker_pool::pdf_checker_pool(pdf_checker_options options)
    : impl_(std::make_unique<impl>(std::move(options))) {
    if (impl_->options.processes == 0 || impl_->options.checks_per_process == 0 ||
        impl_->options.max_time.count() <= 0)
        throw std::invalid_argument("a PDF checker pool needs processes, checks and time");
    impl_->keeper = std::thread([p = impl_.get()] { p->keep(); });
}

pdf_checker_pool::~pdf_checker_pool() {
    {
        std::lock_guard lock(impl_->mutex);
        impl_->stopping = true;
        impl_->changed.notify_all();
    }
    impl_->keeper.join(); // once no check runs and the retired processes are reaped
    for (auto& w : impl_->idle)
        end(w);
}

std::vector<pid_t> pdf_checker_pool::processes() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->alive;
}

pdf_report pdf_checker_pool::check(const std::filesystem::path& file) {
    unique_fd document(::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
    if (document.get() < 0)
        fail("cannot open the document", errno);
    auto& pool = *impl_;

    // A process lent to this check: given back or ended on every path out.
    struct loan {
        impl& pool;
        worker w;
        bool settled = false;
        ~loan() {
            if (!settled) {
                end(w);
                pool.forget(w);
            }
        }
        void give_back(bool reusable) {
            settled = true;
            pool.give_back(std::move(w), reusable);
        }
        void ended() {
            settled = true;
            pool.forget(w);
        }
    };

    // Idle processes that died are replaced; the next one is asked. A process that dies
    // during the check gets one successor for the same document.
    bool tried_again = false;
    for (unsigned attempt = 0; attempt <= pool.options.processes + 1; ++attempt) {
        loan lent{pool, pool.borrow()};
        int socket = lent.w.socket.get();
        if (!listening(socket) || !send_request(socket, document.get()))
            continue; // the loan ends it

        auto deadline = steady::now() + pool.options.max_time;
        auto answer = receive(socket, deadline);
        switch (answer.what) {
        case received::kind::timed_out:
            end(lent.w);
            lent.ended();
            return out_of_time(pool.options.max_time);
        case received::kind::closed: {
            int status = collect(lent.w, deadline);
            lent.ended();
            if (!tried_again && worth_another_try(status)) {
                tried_again = true;
                continue;
            }
            return verdict_of_end(status, pool.options.max_time);
        }
        case received::kind::garbled:
            break;
        case received::kind::message: {
            auto j = nlohmann::json::parse(answer.text, nullptr, false);
            if (j.is_object() && j.size() == 1 && j.contains("error") && j["error"].is_string()) {
                lent.give_back(true);
                throw std::runtime_error("the PDF check could not read the document");
            }
            auto report = report_of(j);
            if (!report)
                break;
            // After a document too complex to check, the process may be short of memory
            // or CPU time: a fresh one takes the next.
            ++lent.w.checks;
            lent.give_back(report->outcome != verdict::too_complex &&
                           lent.w.checks < pool.options.checks_per_process);
            return *report;
        }
        }
        throw std::runtime_error("the PDF check answered something that is not a report");
    }
    throw std::runtime_error("the PDF check found no checking process that took the document");
}

namespace {

/// The next document's descriptor; -1 when the socket closed, -2 on anything else.
int receive_document(int socket) {
    char byte = 0;
    socket_message m(&byte, 1);
    msghdr& message = m.header;
    ssize_t n;
    do {
        n = ::recvmsg(socket, &message, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n == 0 && message.msg_controllen == 0)
        return -1;

    cmsghdr* c = n == 1 ? CMSG_FIRSTHDR(&message) : nullptr;
    bool one_descriptor = c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
                          c->cmsg_len == CMSG_LEN(sizeof(int)) && !CMSG_NXTHDR(&message, c) &&
                          !(message.msg_flags & MSG_CTRUNC);
    if (!one_descriptor || byte != request_byte) {
        close_passed(message);
        return -2;
    }
    int fd;
    std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
    return fd;
}

bool send_answer(int socket, std::string_view text) {
    ssize_t n;
    do {
        n = ::send(socket, text.data(), text.size(), MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n == static_cast<ssize_t>(text.size());
}

/// RLIMIT_CPU counts the process's whole life: before each check the soft limit is moved to
/// what was spent so far plus one check's time, so that SIGXCPU ends a check that runs away
/// even should the gateway fail to kill it.
void limit_cpu_of_next_check(std::chrono::seconds max_time) {
    rusage used{};
    ::getrusage(RUSAGE_SELF, &used);
    auto spent = static_cast<rlim_t>(used.ru_utime.tv_sec + used.ru_stime.tv_sec + 1);
    rlimit cpu{};
    ::getrlimit(RLIMIT_CPU, &cpu);
    cpu.rlim_cur = spent + static_cast<rlim_t>(max_time.count());
    if (cpu.rlim_max != RLIM_INFINITY)
        cpu.rlim_cur = std::min(cpu.rlim_cur, cpu.rlim_max);
    ::setrlimit(RLIMIT_CPU, &cpu);
}

} // namespace

int serve_pdf_checks(int socket, std::uint64_t max_memory_bytes, std::chrono::seconds max_time,
                     unsigned checks) {
    // Dies with the gateway's thread that started it; never leaves a core file holding a
    // document's bytes. Should the gateway be gone already, the socket reads as closed.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    rlimit none{0, 0};
    if (::setrlimit(RLIMIT_CORE, &none) != 0)
        return cannot_bound_status;
    // The CPU time of all its checks, each within max_time (plus start-up): the hard limit,
    // which this process cannot raise again.
    rlimit cpu{};
    ::getrlimit(RLIMIT_CPU, &cpu);
    auto lifetime = (static_cast<rlim_t>(checks) + 1) * static_cast<rlim_t>(max_time.count() + 1);
    if (cpu.rlim_max == RLIM_INFINITY || cpu.rlim_max > lifetime)
        cpu.rlim_max = lifetime;
    cpu.rlim_cur = cpu.rlim_max;
    if (::setrlimit(RLIMIT_CPU, &cpu) != 0)
        return cannot_bound_status;
#ifndef __SANITIZE_ADDRESS__ // AddressSanitizer reserves far more address space than it uses
    rlimit memory{static_cast<rlim_t>(max_memory_bytes), static_cast<rlim_t>(max_memory_bytes)};
    if (::setrlimit(RLIMIT_AS, &memory) != 0)
        return cannot_bound_status;
#else
    (void)max_memory_bytes;
#endif

    if (!send_answer(socket, ready_message))
        return protocol_status;
    for (unsigned done = 0; done < checks; ++done) {
        int document = receive_document(socket);
        if (document == -1)
            return 0;
        if (document < 0)
            return protocol_status;
        unique_fd owned(document);

        limit_cpu_of_next_check(max_time);
        bool too_complex = false;
        std::string answer;
        try {
            auto report = check_pdf(document);
            too_complex = report.outcome == verdict::too_complex;
            answer = answer_of(report);
        } catch (const std::bad_alloc&) {
            return out_of_memory_status; // in no state to go on
        } catch (const std::exception&) {
            answer = R"({"error":"the document could not be read"})";
        }
        owned.reset();
        if (!send_answer(socket, answer))
            return protocol_status;
        if (too_complex)
            return 0; // possibly short of memory or CPU time: a fresh process takes the next
    }
    return 0;
}

} // namespace sceau::protocols
