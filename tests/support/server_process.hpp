#pragma once
// Starts the real `sceau serve` on a free port in a fresh data directory, and stops it.

#include "support/fixtures.hpp"

#include <chrono>
#include <fstream>
#include <signal.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace sceau::test {

class server_process {
public:
    /// `config_toml`, when not empty, is written to a file passed with --config.
    explicit server_process(const std::string& config_toml = {}) {
        if (!config_toml.empty()) {
            config_ = dir_ / "sceau.toml";
            write_file(config_, config_toml);
        }
        start();
    }

    ~server_process() { stop(); }
    server_process(const server_process&) = delete;
    server_process& operator=(const server_process&) = delete;

    void start() {
        std::filesystem::remove(dir_ / "ready");
        pid_ = ::fork();
        if (pid_ == 0) {
            std::string log = (dir_ / "server.log").string();
            std::freopen(log.c_str(), "a", stderr);
            std::freopen("/dev/null", "w", stdout);
            std::string data = (dir_ / "data").string();
            std::string ready = (dir_ / "ready").string();
            std::vector<std::string> args = {SCEAU_BINARY, "serve",       "--data",       data,
                                             "--listen",   "127.0.0.1:0", "--ready-file", ready};
            if (!config_.empty()) {
                args.push_back("--config");
                args.push_back(config_.string());
            }
            args.insert(args.end(), extra_args_.begin(), extra_args_.end());
            std::vector<char*> argv;
            for (auto& a : args)
                argv.push_back(a.data());
            argv.push_back(nullptr);
            ::execv(SCEAU_BINARY, argv.data());
            std::_Exit(127);
        }
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        while (!std::filesystem::exists(dir_ / "ready")) {
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                throw std::runtime_error("the server exited at start:\n" + log());
            }
            if (std::chrono::steady_clock::now() > deadline)
                throw std::runtime_error("the server did not start:\n" + log());
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        std::ifstream in(dir_ / "ready");
        std::getline(in, address_);
    }

    void stop() {
        if (pid_ <= 0)
            return;
        ::kill(pid_, SIGTERM);
        int status = 0;
        for (int i = 0; i < 200 && ::waitpid(pid_, &status, WNOHANG) == 0; ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(25));
        if (::waitpid(pid_, &status, WNOHANG) == 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, &status, 0);
        }
        pid_ = -1;
    }

    /// Arguments added to `sceau serve` from the next start() on, e.g. a clock offset.
    void set_extra_args(std::vector<std::string> args) { extra_args_ = std::move(args); }

    /// Kills the process at once, as a crash or a power cut would, and reaps it.
    void crash() {
        if (pid_ <= 0)
            return;
        ::kill(pid_, SIGKILL);
        int status = 0;
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
    }

    pid_t pid() const { return pid_; }

    /// Whether the process is still running (it must survive every bad request).
    bool alive() const { return pid_ > 0 && ::kill(pid_, 0) == 0 && !exited(); }

    /// Creates a sender with the CLI and returns its API key.
    std::string add_sender(const std::string& name, const std::string& email,
                           const std::string& company = {}) {
        std::string cmd = std::string(SCEAU_BINARY) + " sender add --data '" +
                          (dir_ / "data").string() + "' --name '" + name + "' --email '" + email +
                          "'" + (company.empty() ? "" : " --company '" + company + "'") +
                          " --identified-by 'test fixture'";
        auto r = run(cmd);
        if (r.status != 0)
            throw std::runtime_error("sender add failed: " + r.output);
        // run() merges standard error: the key is the last line, alone on standard output.
        auto key = r.output;
        while (!key.empty() && (key.back() == '\n' || key.back() == '\r'))
            key.pop_back();
        return key.substr(key.rfind('\n') + 1);
    }

    std::string url(const std::string& path) const { return "http://" + address_ + path; }
    const std::string& address() const { return address_; }
    std::filesystem::path data_dir() const { return dir_ / "data"; }
    std::filesystem::path dir() const { return dir_.path(); }
    std::string log() const {
        std::error_code ec;
        return std::filesystem::exists(dir_ / "server.log", ec) ? read_file(dir_ / "server.log")
                                                                : std::string();
    }
    /// The log once it holds `lines` request lines, or as it is after `timeout`: the
    /// server writes a request's line just after sending its answer.
    std::string
    log_with_requests(std::size_t lines,
                      std::chrono::milliseconds timeout = std::chrono::seconds(5)) const {
        auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            auto text = log();
            std::size_t found = 0;
            for (auto at = text.find(" request id="); at != std::string::npos;
                 at = text.find(" request id=", at + 1))
                ++found;
            if (found >= lines || std::chrono::steady_clock::now() > deadline)
                return text;
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    }

private:
    bool exited() const {
        int status = 0;
        return ::waitpid(pid_, &status, WNOHANG) == pid_;
    }

    temp_dir dir_;
    std::filesystem::path config_;
    std::vector<std::string> extra_args_;
    pid_t pid_ = -1;
    std::string address_;
};

} // namespace sceau::test
