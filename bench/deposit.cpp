// sceau_bench_deposit: a closed-loop load generator for POST /v1/letters.
//
// N connections, each kept alive, each sending one deposit, waiting for the answer and
// sending the next. Answers that arrive during the warm-up are not counted; the ones that
// arrive during the measured window give the rate and the latency percentiles. The
// document is a valid one-page PDF made here, so that the gateway's PDF check sees what a
// sender would send. See bench/README.md.

// Boost 1.74's asio/awaitable.hpp uses std::exchange without including <utility>.
#include <utility>

// The client: Asio coroutines, Beast's HTTP/1.1.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <sys/resource.h>
#include <thread>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using clock_type = std::chrono::steady_clock;

constexpr std::string_view boundary = "sceau-bench-7f3a9c1e5b";
constexpr std::string_view nonce_label = "% sceau-bench nonce ";
constexpr std::size_t nonce_digits = 16;

// ---------------------------------------------------------------------------------------
// The document: ISO 32000-1 7.5, a header, four objects, a cross-reference table whose
// entries are exactly 20 bytes (7.5.4), a trailer, startxref and %%EOF. The one page's
// content stream is filled with path-drawing operators (8.5.2, 8.5.3) up to the size asked.

using sink = std::function<void(std::string_view)>;

struct pdf_layout {
    std::string head;         ///< header, objects 1 to 3, object 4 up to `stream` and its EOL
    std::string tail;         ///< EOL, endstream, the xref table, trailer, %%EOF
    std::size_t content_size; ///< bytes between head and tail
    std::size_t nonce_offset; ///< file offset of the nonce's first hex digit
};

pdf_layout layout_for(std::size_t content_size) {
    pdf_layout l;
    l.content_size = content_size;
    std::vector<std::size_t> offsets;
    auto object = [&l, &offsets](std::string_view text) {
        offsets.push_back(l.head.size());
        l.head += text;
    };

    // A binary comment on the second line tells transfer tools the file is binary (7.5.2).
    l.head = "%PDF-1.7\n%\xE2\xE3\xCF\xD3\n";
    object("1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n");
    object("2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n");
    object("3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << >> "
           "/Contents 4 0 R >>\nendobj\n");
    object("4 0 obj\n<< /Length " + std::to_string(content_size) + " >>\nstream\n");
    l.nonce_offset = l.head.size() + nonce_label.size();

    std::size_t xref_offset =
        l.head.size() + content_size + std::string_view("\nendstream\nendobj\n").size();
    l.tail = "\nendstream\nendobj\nxref\n0 5\n0000000000 65535 f \n";
    for (auto offset : offsets) {
        std::array<char, 32> entry{};
        std::snprintf(entry.data(), entry.size(), "%010zu 00000 n \n", offset);
        l.tail += entry.data();
    }
    l.tail += "trailer\n<< /Size 5 /Root 1 0 R >>\nstartxref\n" + std::to_string(xref_offset) +
              "\n%%EOF\n";
    return l;
}

/// The layout whose whole file is exactly `file_size` bytes. The content size changes the
/// digits of /Length and of the offsets after it, so a few rounds settle it.
pdf_layout layout_of_size(std::size_t file_size) {
    pdf_layout l = layout_for(0);
    std::size_t minimum = l.head.size() + l.tail.size() + nonce_label.size() + nonce_digits + 64;
    if (file_size < minimum)
        throw std::invalid_argument("a PDF of at least " + std::to_string(minimum) +
                                    " bytes is needed");
    for (int round = 0; round < 8; ++round) {
        std::size_t overhead = l.head.size() + l.tail.size();
        if (overhead + l.content_size == file_size)
            return l;
        l = layout_for(file_size - overhead);
    }
    throw std::logic_error("the PDF layout does not settle");
}

/// Writes the content stream: the nonce comment, then lines of strokes and filled
/// rectangles from a fixed pseudo-random sequence, then one comment padding to the size.
void write_content(std::size_t size, const sink& out) {
    std::string buffer;
    buffer.reserve(70 << 10);
    buffer += nonce_label;
    buffer.append(nonce_digits, '0');
    buffer += "\n0.4 w\n";
    std::size_t written = 0;
    std::minstd_rand rng(20240611);
    auto coordinate = [&rng](int limit) { return std::to_string(static_cast<int>(rng() % limit)); };

    constexpr std::size_t longest_line = 64;
    while (written + buffer.size() + longest_line < size) {
        switch (rng() % 3) {
        case 0:
            buffer += coordinate(595) + " " + coordinate(842) + " m " + coordinate(595) + " " +
                      coordinate(842) + " l S\n";
            break;
        case 1:
            buffer += "0." + coordinate(10) + " 0." + coordinate(10) + " 0." + coordinate(10) +
                      " rg " + coordinate(560) + " " + coordinate(800) + " " + coordinate(35) +
                      " " + coordinate(40) + " re f\n";
            break;
        default:
            buffer += coordinate(595) + " " + coordinate(842) + " m " + coordinate(595) + " " +
                      coordinate(842) + " " + coordinate(595) + " " + coordinate(842) + " " +
                      coordinate(595) + " " + coordinate(842) + " c S\n";
            break;
        }
        if (buffer.size() >= (64 << 10)) {
            out(buffer);
            written += buffer.size();
            buffer.clear();
        }
    }

    // The rest: a comment line of spaces (7.2.4), or a lone EOL when one byte is left.
    std::size_t rest = size - written - buffer.size();
    if (rest >= 2) {
        buffer += '%';
        buffer.append(rest - 2, ' ');
    }
    buffer += '\n';
    out(buffer);
}

/// Writes a whole PDF of `file_size` bytes; returns the nonce's offset in it.
std::size_t write_pdf(std::size_t file_size, const sink& out) {
    auto l = layout_of_size(file_size);
    out(l.head);
    write_content(l.content_size, out);
    out(l.tail);
    return l.nonce_offset;
}

// ---------------------------------------------------------------------------------------
// The load.

struct settings {
    std::string host = "127.0.0.1";
    std::string port;
    std::string key;
    std::size_t connections = 16;
    double warmup_seconds = 3;
    double duration_seconds = 20;
    std::size_t pdf_bytes = 100 << 10;
    unsigned threads = 1;
    bool same_document = false;
    std::string write_pdf_to;
};

/// What one connection saw. Each is touched only by its own coroutine.
struct connection_stats {
    std::vector<std::uint32_t> latencies_us; ///< answers with 201 in the window
    std::size_t created = 0;
    std::size_t failed = 0; ///< other statuses and I/O errors in the window
    std::size_t failed_outside_window = 0;
    std::size_t connects = 0;            ///< successful connections, the first ones included
    std::map<int, std::size_t> statuses; ///< non-201 answers, any time
    std::map<std::string, std::size_t> io_errors;
    std::string first_failure;
};

struct run_plan {
    clock_type::time_point window_start;
    clock_type::time_point window_end;
};

class connection {
public:
    connection(const settings& s, const run_plan& plan, const std::string& body,
               std::size_t nonce_offset, std::uint64_t nonce_base, connection_stats& stats)
        : settings_(s)
        , plan_(plan)
        , nonce_offset_(nonce_offset)
        , nonce_(nonce_base)
        , stats_(stats) {
        request_.method(http::verb::post);
        request_.target("/v1/letters");
        request_.version(11);
        request_.set(http::field::host, s.host + ":" + s.port);
        request_.set(http::field::authorization, "Bearer " + s.key);
        request_.set(http::field::content_type,
                     "multipart/form-data; boundary=" + std::string(boundary));
        request_.set(http::field::user_agent, "sceau-bench-deposit");
        request_.keep_alive(true);
        request_.body() = body; // one copy per connection; the nonce is patched in place
        request_.prepare_payload();
    }

    asio::awaitable<void> run();

private:
    void next_nonce();
    void record(clock_type::time_point sent, clock_type::time_point answered, int status,
                std::string_view detail);
    void record_io_error(const beast::error_code& ec);

    const settings& settings_;
    const run_plan& plan_;
    std::size_t nonce_offset_;
    std::uint64_t nonce_;
    connection_stats& stats_;
    http::request<http::string_body> request_;
};

void connection::next_nonce() {
    if (settings_.same_document)
        return;
    static constexpr char hex[] = "0123456789abcdef";
    ++nonce_;
    auto& body = request_.body();
    for (std::size_t i = 0; i < nonce_digits; ++i)
        body[nonce_offset_ + i] = hex[(nonce_ >> (4 * (nonce_digits - 1 - i))) & 15];
}

void connection::record(clock_type::time_point sent, clock_type::time_point answered, int status,
                        std::string_view detail) {
    bool in_window = answered >= plan_.window_start && answered < plan_.window_end;
    if (status != 201) {
        ++stats_.statuses[status];
        if (stats_.first_failure.empty())
            stats_.first_failure =
                std::to_string(status) + " " + std::string(detail.substr(0, 400));
    }
    if (!in_window) {
        if (status != 201)
            ++stats_.failed_outside_window;
        return;
    }
    if (status != 201) {
        ++stats_.failed;
        return;
    }
    ++stats_.created;
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(answered - sent).count();
    stats_.latencies_us.push_back(static_cast<std::uint32_t>(std::min<long long>(us, UINT32_MAX)));
}

void connection::record_io_error(const beast::error_code& ec) {
    ++stats_.io_errors[ec.message()];
    auto now = clock_type::now();
    if (now >= plan_.window_start && now < plan_.window_end)
        ++stats_.failed;
    else
        ++stats_.failed_outside_window;
    if (stats_.first_failure.empty())
        stats_.first_failure = "I/O: " + ec.message();
}

asio::awaitable<void> connection::run() {
    auto executor = co_await asio::this_coro::executor;
    tcp::resolver resolver(executor);
    beast::error_code ec;
    auto endpoints = co_await resolver.async_resolve(settings_.host, settings_.port,
                                                     asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
        record_io_error(ec);
        co_return;
    }

    while (clock_type::now() < plan_.window_end) {
        // Connect; after a failure, pause a little rather than spin.
        beast::tcp_stream stream(executor);
        stream.expires_after(std::chrono::seconds(10));
        co_await stream.async_connect(endpoints, asio::redirect_error(asio::use_awaitable, ec));
        if (ec) {
            record_io_error(ec);
            asio::steady_timer pause(executor, std::chrono::milliseconds(100));
            co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
            continue;
        }
        ++stats_.connects;

        // Deposits on this connection until the window closes or the server closes it.
        beast::flat_buffer buffer;
        while (clock_type::now() < plan_.window_end) {
            next_nonce();
            auto sent = clock_type::now();
            stream.expires_after(std::chrono::seconds(120));
            co_await http::async_write(stream, request_,
                                       asio::redirect_error(asio::use_awaitable, ec));
            if (ec) {
                record_io_error(ec);
                break;
            }

            http::response<http::string_body> response;
            co_await http::async_read(stream, buffer, response,
                                      asio::redirect_error(asio::use_awaitable, ec));
            if (ec) {
                record_io_error(ec);
                break;
            }
            record(sent, clock_type::now(), response.result_int(), response.body());
            if (!response.keep_alive())
                break;
        }

        stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    }
}

// ---------------------------------------------------------------------------------------
// Command line and report.

[[noreturn]] void usage(const std::string& problem) {
    std::cerr << "sceau_bench_deposit: " << problem << "\n"
              << "usage: sceau_bench_deposit --target HOST:PORT [--key KEY] [--connections N]\n"
                 "           [--duration S] [--warmup S] [--pdf-bytes N] [--threads N]\n"
                 "           [--same-document]\n"
                 "       sceau_bench_deposit --write-pdf FILE [--pdf-bytes N]\n"
                 "The API key may come from the environment variable SCEAU_BENCH_KEY instead.\n";
    std::exit(2);
}

template <typename T>
T number_of(std::string_view option, std::string_view text) {
    T value{};
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end != text.data() + text.size() || value < T{})
        usage(std::string(option) + ": not a number: " + std::string(text));
    return value;
}

settings parse_arguments(int argc, char** argv) {
    settings s;
    std::string target;
    for (int i = 1; i < argc; ++i) {
        std::string_view option = argv[i];
        auto value = [&]() -> std::string_view {
            if (i + 1 >= argc)
                usage(std::string(option) + " needs a value");
            return argv[++i];
        };
        if (option == "--target")
            target = value();
        else if (option == "--key")
            s.key = value();
        else if (option == "--connections")
            s.connections = number_of<std::size_t>(option, value());
        else if (option == "--duration")
            s.duration_seconds = number_of<double>(option, value());
        else if (option == "--warmup")
            s.warmup_seconds = number_of<double>(option, value());
        else if (option == "--pdf-bytes")
            s.pdf_bytes = number_of<std::size_t>(option, value());
        else if (option == "--threads")
            s.threads = number_of<unsigned>(option, value());
        else if (option == "--same-document")
            s.same_document = true;
        else if (option == "--write-pdf")
            s.write_pdf_to = value();
        else
            usage("unknown option " + std::string(option));
    }
    if (!s.write_pdf_to.empty())
        return s;

    auto colon = target.rfind(':');
    if (target.empty() || colon == std::string::npos || colon + 1 == target.size())
        usage("--target HOST:PORT is required");
    s.host = target.substr(0, colon);
    if (s.host.size() > 2 && s.host.front() == '[' && s.host.back() == ']')
        s.host = s.host.substr(1, s.host.size() - 2);
    s.port = target.substr(colon + 1);
    if (s.key.empty()) {
        const char* from_environment = std::getenv("SCEAU_BENCH_KEY");
        s.key = from_environment ? from_environment : "";
    }
    if (s.key.empty())
        usage("no API key: give --key or set SCEAU_BENCH_KEY");
    if (s.connections == 0 || s.threads == 0 || s.duration_seconds <= 0)
        usage("--connections, --threads and --duration must be positive");
    return s;
}

std::string multipart_head() {
    std::string b = "--" + std::string(boundary) + "\r\n";
    b += "Content-Disposition: form-data; name=\"letter\"\r\n";
    b += "Content-Type: application/json\r\n\r\n";
    b += R"({"kind":"ere","subject":"Benchmark deposit",)"
         R"("recipient":{"email":"claire.martin@example.org","family_name":"Martin"}})";
    b += "\r\n--" + std::string(boundary) + "\r\n";
    b += "Content-Disposition: form-data; name=\"document\"; filename=\"bench.pdf\"\r\n";
    b += "Content-Type: application/pdf\r\n\r\n";
    return b;
}

double percentile_ms(const std::vector<std::uint32_t>& sorted, double p) {
    if (sorted.empty())
        return 0;
    // Nearest rank: the smallest value with at least p of the samples at or below it.
    auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size())));
    return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1] / 1000.0;
}

double cpu_seconds_used() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
    return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

int write_pdf_file(const settings& s) {
    std::ofstream file(s.write_pdf_to, std::ios::binary | std::ios::trunc);
    if (!file)
        usage("cannot write " + s.write_pdf_to);
    write_pdf(s.pdf_bytes, [&file](std::string_view part) {
        file.write(part.data(), static_cast<std::streamsize>(part.size()));
    });
    file.close();
    if (!file) {
        std::cerr << "sceau_bench_deposit: writing " << s.write_pdf_to << " failed\n";
        return 1;
    }
    std::cerr << "wrote a PDF of " << s.pdf_bytes << " bytes to " << s.write_pdf_to << "\n";
    return 0;
}

int run_load(const settings& s) {
    // The request body: the multipart head, the PDF, the closing delimiter (RFC 7578).
    std::string body = multipart_head();
    std::size_t pdf_start = body.size();
    std::size_t nonce_offset =
        pdf_start + write_pdf(s.pdf_bytes, [&body](std::string_view part) { body += part; });
    body += "\r\n--" + std::string(boundary) + "--\r\n";

    asio::io_context ioc(static_cast<int>(s.threads));
    auto start = clock_type::now();
    auto to_duration = [](double seconds) {
        return std::chrono::duration_cast<clock_type::duration>(
            std::chrono::duration<double>(seconds));
    };
    run_plan plan{start + to_duration(s.warmup_seconds),
                  start + to_duration(s.warmup_seconds + s.duration_seconds)};

    // Nonces differ between runs and connections, so that every deposit is a new document.
    std::uint64_t run_salt = std::random_device{}() & 0xffff;
    std::vector<connection_stats> stats(s.connections);
    std::vector<std::unique_ptr<connection>> connections;
    for (std::size_t i = 0; i < s.connections; ++i) {
        std::uint64_t base = (run_salt << 48) | (static_cast<std::uint64_t>(i) << 32);
        connections.push_back(
            std::make_unique<connection>(s, plan, body, nonce_offset, base, stats[i]));
        asio::co_spawn(ioc, connections.back()->run(), asio::detached);
    }

    double cpu_before = cpu_seconds_used();
    std::vector<std::thread> pool;
    for (unsigned t = 1; t < s.threads; ++t)
        pool.emplace_back([&ioc] { ioc.run(); });
    ioc.run();
    for (auto& t : pool)
        t.join();
    double cpu_used = cpu_seconds_used() - cpu_before;

    // Merge and report.
    connection_stats total;
    for (auto& c : stats) {
        total.latencies_us.insert(total.latencies_us.end(), c.latencies_us.begin(),
                                  c.latencies_us.end());
        total.created += c.created;
        total.failed += c.failed;
        total.failed_outside_window += c.failed_outside_window;
        total.connects += c.connects;
        for (const auto& [status, n] : c.statuses)
            total.statuses[status] += n;
        for (const auto& [message, n] : c.io_errors)
            total.io_errors[message] += n;
        if (total.first_failure.empty())
            total.first_failure = c.first_failure;
    }
    std::sort(total.latencies_us.begin(), total.latencies_us.end());
    double rate = static_cast<double>(total.created) / s.duration_seconds;
    double elapsed = std::chrono::duration<double>(clock_type::now() - start).count();

    std::printf("connections %zu\n", s.connections);
    std::printf("document_bytes %zu\n", s.pdf_bytes);
    std::printf("request_bytes %zu\n", body.size());
    std::printf("warmup_s %.1f\n", s.warmup_seconds);
    std::printf("window_s %.1f\n", s.duration_seconds);
    std::printf("deposits %zu\n", total.created);
    std::printf("deposits_per_s %.1f\n", rate);
    std::printf("latency_p50_ms %.2f\n", percentile_ms(total.latencies_us, 0.50));
    std::printf("latency_p90_ms %.2f\n", percentile_ms(total.latencies_us, 0.90));
    std::printf("latency_p99_ms %.2f\n", percentile_ms(total.latencies_us, 0.99));
    std::printf("latency_max_ms %.2f\n",
                total.latencies_us.empty() ? 0.0 : total.latencies_us.back() / 1000.0);
    std::printf("errors %zu\n", total.failed);
    std::printf("errors_outside_window %zu\n", total.failed_outside_window);
    std::printf("connects %zu\n", total.connects);
    std::printf("client_cpu_s %.2f\n", cpu_used);
    std::printf("client_elapsed_s %.2f\n", elapsed);
    for (const auto& [status, n] : total.statuses)
        std::printf("status_%d %zu\n", status, n);
    std::fflush(stdout);
    for (const auto& [message, n] : total.io_errors)
        std::cerr << "I/O error, " << n << " times: " << message << "\n";
    if (!total.first_failure.empty())
        std::cerr << "first failure: " << total.first_failure << "\n";
    return total.created > 0 ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
    try {
        auto s = parse_arguments(argc, argv);
        if (!s.write_pdf_to.empty())
            return write_pdf_file(s);
        return run_load(s);
    } catch (const std::exception& e) {
        std::cerr << "sceau_bench_deposit: " << e.what() << "\n";
        return 1;
    }
}
