#pragma once
// A real HTTP receiver for webhook tests on a free loopback port, and an HMAC computed by
// OpenSSL's command line, independent of the code under test.

#include "support/fixtures.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace sceau::test {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using asio::ip::tcp;
using namespace std::chrono_literals;

/// One request as the receiver got it.
struct received {
    std::string method;
    std::string target;
    std::map<std::string, std::string> headers; ///< names in lower case
    std::string body;
};

/// An HTTP server on a free loopback port, one thread per connection, that records each
/// request and then answers with the status it was told, or hangs without answering.
class receiver {
public:
    receiver()
        : acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}) {
        port_ = acceptor_.local_endpoint().port();
        accepting_ = std::thread([this] { accept_loop(); });
    }

    ~receiver() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        changed_.notify_all();
        // A connection of our own wakes the blocked accept.
        boost::system::error_code ignored;
        tcp::socket wake(io_);
        wake.connect(acceptor_.local_endpoint(), ignored);
        accepting_.join();
        for (auto& t : connections_)
            t.join();
    }

    receiver(const receiver&) = delete;
    receiver& operator=(const receiver&) = delete;

    void answer(int status, std::string body = {}, std::string location = {}) {
        std::lock_guard lock(mutex_);
        hang_ = false;
        status_ = status;
        reply_body_ = std::move(body);
        location_ = std::move(location);
    }

    void hang() {
        std::lock_guard lock(mutex_);
        hang_ = true;
    }

    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/hooks/sceau"; }

    std::vector<received> requests() const {
        std::lock_guard lock(mutex_);
        return requests_;
    }

private:
    void accept_loop() {
        for (;;) {
            tcp::socket socket(io_);
            boost::system::error_code ec;
            acceptor_.accept(socket, ec);
            std::lock_guard lock(mutex_);
            if (stopping_)
                return;
            if (!ec)
                connections_.emplace_back(
                    [this, s = std::move(socket)]() mutable { serve(std::move(s)); });
        }
    }

    void serve(tcp::socket socket) {
        boost::beast::flat_buffer buffer;
        http::request<http::string_body> request;
        boost::system::error_code ec;
        http::read(socket, buffer, request, ec);
        if (ec)
            return;

        received r{std::string(request.method_string()),
                   std::string(request.target()),
                   {},
                   request.body()};
        for (const auto& field : request) {
            std::string name(field.name_string());
            for (char& c : name)
                c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            r.headers[name] = std::string(field.value());
        }

        std::unique_lock lock(mutex_);
        requests_.push_back(std::move(r));
        if (hang_) {
            // Holds the connection, silent, until the test ends: the client must time out.
            changed_.wait_for(lock, 60s, [this] { return stopping_; });
            return;
        }
        http::response<http::string_body> response{static_cast<http::status>(status_), 11};
        response.body() = reply_body_;
        if (!location_.empty())
            response.set(http::field::location, location_);
        lock.unlock();

        response.prepare_payload();
        http::write(socket, response, ec);
        socket.shutdown(tcp::socket::shutdown_both, ec);
    }

    asio::io_context io_;
    tcp::acceptor acceptor_;
    unsigned short port_ = 0;
    std::thread accepting_;
    std::vector<std::thread> connections_;

    mutable std::mutex mutex_;
    std::condition_variable changed_;
    bool stopping_ = false;
    bool hang_ = false;
    int status_ = 200;
    std::string reply_body_;
    std::string location_;
    std::vector<received> requests_;
};

/// A loopback port that nothing listens on: connections are refused.
inline unsigned short closed_port() {
    asio::io_context io;
    tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
    return a.local_endpoint().port(); // closed when `a` goes
}

/// HMAC-SHA256 by OpenSSL's command line, independent of the code under test.
inline std::string openssl_hmac(const std::filesystem::path& dir, const std::string& key,
                                const std::string& data) {
    auto file = dir / "signed-text";
    test::write_file(file, data);
    // Secrets are base64url: safe between single quotes.
    auto r = test::run("openssl dgst -sha256 -hmac '" + key + "' '" + file.string() + "'");
    REQUIRE(r.status == 0);
    auto out = r.output;
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r'))
        out.pop_back();
    return out.substr(out.rfind(' ') + 1);
}

} // namespace sceau::test
