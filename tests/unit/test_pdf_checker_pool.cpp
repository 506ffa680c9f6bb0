#include "protocols/pdf_checker_pool.hpp"
#include "support/fixtures.hpp"
#include "support/pdf_bomb.hpp"
#include "support/processes.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <future>
#include <set>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace sceau;
using protocols::pdf_checker_options;
using protocols::pdf_checker_pool;
using protocols::pdf_report;
using verdict = pdf_report::verdict;
using namespace std::chrono_literals;

namespace {

std::filesystem::path hostile(const std::string& name) {
    return test::source_path("tests/fixtures/hostile/pdf/" + name);
}

/// The gateway's own executable as the checking program.
pdf_checker_options real_checker(unsigned processes = 1, unsigned checks = 1000,
                                 std::chrono::seconds max_time = 30s,
                                 std::uint64_t max_memory_bytes = 1ull << 30) {
    return {SCEAU_BINARY, max_memory_bytes, max_time, processes, checks};
}

/// A stand-in for the checking program, in Python: it says it is ready, then for each
/// document it is passed (`fd`, on the socket `s`) runs `on_document`.
pdf_checker_options stand_in(const test::temp_dir& dir, const std::string& on_document,
                             std::chrono::seconds max_time = 10s) {
    auto program = dir / "checker.py";
    test::write_file(program, "#!/usr/bin/python3\n"
                              "import os, signal, socket, sys\n"
                              "s = socket.socket(fileno=3)\n"
                              "s.send(b'{\"ready\":true}')\n"
                              "while True:\n"
                              "    message, fds, flags, address = socket.recv_fds(s, 1, 1)\n"
                              "    if not message:\n"
                              "        sys.exit(0)\n"
                              "    fd = fds[0]\n"
                              "    " +
                                  on_document + "\n");
    std::filesystem::permissions(program, std::filesystem::perms::owner_all);
    return {program, 1ull << 30, max_time, 1, 1000};
}

std::filesystem::path time_bomb(const test::temp_dir& dir) {
    auto bomb = dir / "bomb.pdf";
    test::write_file(bomb, test::page_named_many_times(1'000'000)); // 6 MB
    return bomb;
}

std::vector<pid_t> zombies() {
    std::vector<pid_t> out;
    for (const auto& child : test::children_of(::getpid())) {
        if (child.state == 'Z')
            out.push_back(child.pid);
    }
    return out;
}

/// Waits until `pid` is no longer an unreaped child of this process.
bool reaped_within(pid_t pid, std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (test::is_child_of(pid, ::getpid())) {
        if (std::chrono::steady_clock::now() > deadline)
            return false;
        std::this_thread::sleep_for(10ms);
    }
    return true;
}

/// The pool's one process, once a process that was ended has been replaced.
pid_t only_process(const pdf_checker_pool& pool) {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    auto pids = pool.processes();
    while (pids.size() != 1 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(5ms);
        pids = pool.processes();
    }
    REQUIRE(pids.size() == 1);
    return pids.front();
}

/// Checks a plain PDF, so that the pool has a process: the process, once in service.
pid_t process_after_a_check(pdf_checker_pool& pool) {
    REQUIRE(pool.check(hostile("p00-positive-control.pdf")).outcome == verdict::ok);
    return only_process(pool);
}

std::size_t open_descriptors() {
    return static_cast<std::size_t>(
        std::distance(std::filesystem::directory_iterator("/proc/self/fd"),
                      std::filesystem::directory_iterator()));
}

} // namespace

TEST_CASE("the hostile PDFs get the same verdicts in the checking processes as in the gateway",
          "[protocols][pdf][pool][hostile]") {
    pdf_checker_pool pool(real_checker());
    for (auto name : {"p00-positive-control.pdf", "p01-openaction-javascript.pdf",
                      "p03-encrypted-user-password.pdf", "p05-truncated-mid-stream.pdf",
                      "p06-not-a-pdf-but-named-pdf.pdf"}) {
        INFO(name);
        auto here = protocols::check_pdf(hostile(name));
        auto there = pool.check(hostile(name));
        CHECK(there.outcome == here.outcome);
        CHECK(there.reason == here.reason);
        CHECK(there.pages == here.pages);
        CHECK(there.has_javascript == here.has_javascript);
        CHECK(there.has_embedded_files == here.has_embedded_files);
    }
    CHECK(pool.processes().size() == 1); // one process did all five
    CHECK_THROWS_AS(pool.check(hostile("missing.pdf")), std::runtime_error);
}

TEST_CASE("a checking process sees its socket and /dev/null only, within its limits",
          "[protocols][pdf][pool]") {
    // A descriptor some other part of the gateway left inheritable.
    int careless = ::open(hostile("p00-positive-control.pdf").c_str(), O_RDONLY);
    REQUIRE(careless >= 0);
    pdf_checker_pool pool(real_checker(1, 1000, 7s, 512ull << 20));
    auto proc = "/proc/" + std::to_string(process_after_a_check(pool));
    ::close(careless);
    auto fds = proc + "/fd";

    std::set<std::string> seen;
    for (const auto& entry : std::filesystem::directory_iterator(fds)) {
        auto target = std::filesystem::read_symlink(entry.path()).string();
        auto fd = entry.path().filename().string();
        seen.insert(fd);
        INFO(fd << " -> " << target);
        if (fd == "3")
            CHECK(target.rfind("socket:", 0) == 0);
        else
            CHECK(target == "/dev/null");
    }
    CHECK(seen == std::set<std::string>{"0", "1", "2", "3"}); // the document was closed

    std::ifstream in(proc + "/limits");
    std::string limits((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK_THAT(limits, Catch::Matches("[\\s\\S]*Max core file size +0 +0 [\\s\\S]*"));
#ifndef __SANITIZE_ADDRESS__
    CHECK_THAT(limits,
               Catch::Matches("[\\s\\S]*Max address space +536870912 +536870912 [\\s\\S]*"));
#endif
    // One check's CPU time ahead of what it has spent, and a hard limit for its whole life.
    CHECK_THAT(limits, Catch::Matches("[\\s\\S]*Max cpu time +[0-9]+ +8008 +seconds[\\s\\S]*"));
}

TEST_CASE("a checking process killed while idle is reaped and replaced", "[protocols][pdf][pool]") {
    pdf_checker_pool pool(real_checker());
    pid_t first = process_after_a_check(pool);

    ::kill(first, SIGKILL);
    CHECK(reaped_within(first, 5s)); // not left a zombie until the next deposit
    auto report = pool.check(hostile("p01-openaction-javascript.pdf"));
    CHECK(report.outcome == verdict::ok);
    CHECK(report.has_javascript);
    CHECK(only_process(pool) != first);
    CHECK(zombies().empty());
}

TEST_CASE("a checking process killed during a check is replaced and the document checked again, "
          "and killed twice the document is too complex",
          "[protocols][pdf][pool]") {
    test::temp_dir dir;
    auto bomb = time_bomb(dir);
    pdf_checker_pool pool(real_checker(1, 1000, 30s, 4ull << 30));
    pid_t first = process_after_a_check(pool);

    // The process that holds the bomb open, once one other than `before` does.
    auto busy_process = [&](pid_t before) {
        auto deadline = std::chrono::steady_clock::now() + 20s;
        while (std::chrono::steady_clock::now() < deadline) {
            for (pid_t pid : pool.processes()) {
                std::error_code ec;
                auto fds = "/proc/" + std::to_string(pid) + "/fd";
                for (const auto& fd : std::filesystem::directory_iterator(fds, ec)) {
                    if (pid != before && std::filesystem::read_symlink(fd.path(), ec) == bomb)
                        return pid;
                }
            }
            std::this_thread::sleep_for(5ms);
        }
        FAIL("no checking process took the document");
        return pid_t{0};
    };

    // Killed once from outside: the next process checks the document again.
    auto start = std::chrono::steady_clock::now();
    auto slow = std::async(std::launch::async, [&] { return pool.check(bomb); });
    pid_t second = busy_process(0);
    CHECK(second == first);
    ::kill(second, SIGKILL);
    pid_t third = busy_process(second);
    REQUIRE(slow.wait_for(0s) == std::future_status::timeout); // checked again, still at it
    ::kill(third, SIGKILL);                                    // and killed again
    auto report = slow.get();
    CHECK(report.outcome == verdict::too_complex);
    CHECK_THAT(report.reason, Catch::Contains("killed twice"));
    CHECK(std::chrono::steady_clock::now() - start < 10s); // not the 30 s of the limit
    CHECK_FALSE(test::is_child_of(first, ::getpid()));
    CHECK_FALSE(test::is_child_of(third, ::getpid()));
    CHECK(process_after_a_check(pool) != third);
}

TEST_CASE("a checking process stopped from outside twice makes the check unavailable, never a "
          "rejection",
          "[protocols][pdf][pool][hostile]") {
    test::temp_dir dir;
    pdf_checker_pool pool(stand_in(dir, "os.kill(os.getpid(), signal.SIGTERM)"));
    CHECK_THROWS_AS(pool.check(hostile("p00-positive-control.pdf")),
                    protocols::pdf_check_unavailable);
    CHECK(zombies().empty());
}

TEST_CASE("a check over the time limit is too_complex, its process killed, and the pool goes "
          "on",
          "[protocols][pdf][pool][hostile]") {
    test::temp_dir dir;
    auto bomb = time_bomb(dir);
    pdf_checker_pool pool(real_checker(1, 1000, 1s, 4ull << 30));
    pid_t first = process_after_a_check(pool);

    auto start = std::chrono::steady_clock::now();
    auto report = pool.check(bomb);
    CHECK(std::chrono::steady_clock::now() - start < 5s);
    CHECK(report.outcome == verdict::too_complex);
    CHECK_THAT(report.reason, Catch::Contains("within 1 seconds"));
    CHECK_FALSE(test::is_child_of(first, ::getpid())); // killed and reaped

    CHECK(process_after_a_check(pool) != first);
}

#ifndef __SANITIZE_ADDRESS__ // no address-space limit under AddressSanitizer
TEST_CASE("a PDF that takes more memory than a checking process has is too_complex",
          "[protocols][pdf][pool][hostile]") {
    test::temp_dir dir;
    auto bomb = time_bomb(dir);
    pdf_checker_pool pool(real_checker(1, 1000, 60s, 256ull << 20));
    pid_t first = process_after_a_check(pool);

    auto report = pool.check(bomb);
    CHECK(report.outcome == verdict::too_complex);
    CHECK_THAT(report.reason, Catch::Contains("too large"));
    // Short of memory after that, the process is not given another document.
    CHECK(reaped_within(first, 5s));
    CHECK(process_after_a_check(pool) != first);
}
#endif

TEST_CASE("a checking process is replaced after its number of checks", "[protocols][pdf][pool]") {
    pdf_checker_pool pool(real_checker(1, 3));
    std::vector<pid_t> pids;
    for (int i = 0; i < 7; ++i) {
        REQUIRE(pool.check(hostile("p00-positive-control.pdf")).outcome == verdict::ok);
        pids.push_back(only_process(pool));
    }
    // Each third check ends its process: the one after it is a fresh process's first.
    CHECK(pids[0] == pids[1]);
    CHECK(pids[2] != pids[1]);
    CHECK(pids[2] == pids[4]);
    CHECK(pids[5] != pids[4]);
    CHECK(pids[5] == pids[6]);
    CHECK(reaped_within(pids[0], 5s));
    CHECK(reaped_within(pids[2], 5s));
}

TEST_CASE("checks from many threads at once each get their own document's verdict",
          "[protocols][pdf][pool]") {
    std::vector<std::filesystem::path> files = {
        hostile("p00-positive-control.pdf"), hostile("p01-openaction-javascript.pdf"),
        hostile("p03-encrypted-user-password.pdf"), hostile("p05-truncated-mid-stream.pdf"),
        hostile("p06-not-a-pdf-but-named-pdf.pdf")};
    std::vector<pdf_report> expected;
    for (const auto& f : files)
        expected.push_back(protocols::check_pdf(f));

    std::vector<pid_t> last;
    {
        // Fewer processes than threads, and recycled on the way.
        pdf_checker_pool pool(real_checker(3, 7));
        std::atomic<int> wrong{0};
        std::atomic<std::size_t> most_processes{0};
        std::vector<std::thread> threads;
        for (int t = 0; t < 8; ++t) {
            threads.emplace_back([&, t] {
                for (std::size_t i = 0; i < 12; ++i) {
                    auto which = (static_cast<std::size_t>(t) + i) % files.size();
                    auto report = pool.check(files[which]);
                    if (report.outcome != expected[which].outcome ||
                        report.reason != expected[which].reason ||
                        report.pages != expected[which].pages ||
                        report.has_javascript != expected[which].has_javascript)
                        ++wrong;
                    auto n = pool.processes().size();
                    auto seen = most_processes.load();
                    while (n > seen && !most_processes.compare_exchange_weak(seen, n)) {
                    }
                }
            });
        }
        for (auto& t : threads)
            t.join();
        CHECK(wrong == 0);
        CHECK(most_processes <= 3);
        last = pool.processes();
    }
    // Ending the pool ends and reaps every process.
    for (pid_t pid : last)
        CHECK_FALSE(test::is_child_of(pid, ::getpid()));
    CHECK(zombies().empty());
}

TEST_CASE("answers that are not a report are the gateway's trouble, never a pass",
          "[protocols][pdf][pool][hostile]") {
    test::temp_dir dir;
    auto pdf = hostile("p00-positive-control.pdf");
    auto fails = [&](const std::string& on_document) {
        INFO(on_document);
        pdf_checker_pool pool(stand_in(dir, on_document));
        CHECK_THROWS_AS(pool.check(pdf), std::runtime_error);
        CHECK(pool.processes().empty()); // that process was ended, not given another document
        CHECK(zombies().empty());
    };
    fails("s.send(b'not a report')");
    fails("s.send(b'{\"outcome\":1}')");
    fails("s.send(b'{\"outcome\":\"ok\",\"pages\":\"many\"}')");
    fails("s.send(b'{\"outcome\":\"ok\",\"reason\":\"' + b'x' * 70000 + b'\"}')"); // too long
    fails("sys.exit(0)");

    // A descriptor sent back is closed, not kept.
    auto before = open_descriptors();
    fails("socket.send_fds(s, [b'{\"outcome\":\"ok\",\"pages\":1}'], [fd])");
    CHECK(open_descriptors() == before);

    // The process is told nothing but the descriptor: what it reads there is the document.
    pdf_checker_pool pool(stand_in(dir, "s.send(b'{\"outcome\":\"ok\",\"pages\":1,\"reason\":\"' "
                                        "+ os.read(fd, 5) + b'\"}')"));
    auto report = pool.check(pdf);
    CHECK(report.outcome == verdict::ok);
    CHECK(report.reason == "%PDF-");
}

TEST_CASE("a checking process that crashes on a document makes it damaged",
          "[protocols][pdf][pool][hostile]") {
    test::temp_dir dir;
    pdf_checker_pool pool(stand_in(dir, "os.kill(os.getpid(), signal.SIGSEGV)"));
    auto report = pool.check(hostile("p00-positive-control.pdf"));
    CHECK(report.outcome == verdict::damaged);
    CHECK_THAT(report.reason, Catch::Contains("stopped on it twice"));
    CHECK(zombies().empty());
}

TEST_CASE("a checking program that cannot start makes checks unavailable, tried again later",
          "[protocols][pdf][pool]") {
    test::temp_dir dir;
    auto pdf = hostile("p00-positive-control.pdf");

    SECTION("missing") {
        pdf_checker_pool pool({dir / "missing", 1ull << 30, 10s, 1, 1000});
        CHECK_THROWS_AS(pool.check(pdf), protocols::pdf_check_unavailable);
    }
    SECTION("never ready") {
        auto program = dir / "slow.sh";
        auto starts = dir / "starts";
        test::write_file(program,
                         "#!/bin/sh\necho started >> " + starts.string() + "\nexec sleep 30\n");
        std::filesystem::permissions(program, std::filesystem::perms::owner_all);
        pdf_checker_pool pool({program, 1ull << 30, 1s, 1, 1000});

        auto start = std::chrono::steady_clock::now();
        try {
            pool.check(pdf);
            FAIL("a check passed without a checking process");
        } catch (const protocols::pdf_check_unavailable& e) {
            CHECK_THAT(e.what(), Catch::Contains("did not become ready within 1 seconds"));
            CHECK(e.retry_after() >= 1s);
        }
        CHECK(std::chrono::steady_clock::now() - start < 4s);
        CHECK(zombies().empty()); // the process that did not answer was killed and reaped

        // At once again: no new attempt, no wait.
        start = std::chrono::steady_clock::now();
        CHECK_THROWS_AS(pool.check(pdf), protocols::pdf_check_unavailable);
        CHECK(std::chrono::steady_clock::now() - start < 500ms);
        CHECK(test::read_file(starts) == "started\n");

        // After the delay, one more attempt.
        std::this_thread::sleep_for(1200ms);
        CHECK_THROWS_AS(pool.check(pdf), protocols::pdf_check_unavailable);
        CHECK(test::read_file(starts) == "started\nstarted\n");
    }
}
