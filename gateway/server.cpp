#include "gateway/server.hpp"

#include "crypto/encoding.hpp"
#include "crypto/error.hpp"
#include "crypto/random.hpp"
#include "gateway/handlers.hpp"
#include "gateway/logging.hpp"
#include "gateway/multipart.hpp"
#include "gateway/recipient_pages.hpp"
#include "gateway/upload.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/file_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <thread>

namespace sceau::gateway {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using clock_type = std::chrono::steady_clock;

constexpr std::size_t small_body_limit = 64 << 10;
constexpr std::size_t read_size = 64 << 10; ///< bytes asked of the socket at a time

std::string trimmed_lower(std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t'))
        v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t'))
        v.remove_suffix(1);
    std::string out(v);
    for (char& c : out)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

/// RFC 9112 section 6.3: a message with both Content-Length and Transfer-Encoding, two
/// Content-Length fields, or a coding other than chunked cannot be framed safely. We
/// refuse rather than guess, and close the connection.
std::optional<std::string> framing_problem(const http::request_header<>& req) {
    auto lengths = req.count(http::field::content_length);
    auto codings = req.count(http::field::transfer_encoding);
    if (lengths > 1)
        return "more than one Content-Length";
    if (lengths == 1 && req[http::field::content_length].find(',') != std::string_view::npos)
        return "a list in Content-Length";
    if (lengths && codings)
        return "Content-Length together with Transfer-Encoding";
    if (codings > 1 ||
        (codings == 1 && trimmed_lower(req[http::field::transfer_encoding]) != "chunked"))
        return "a Transfer-Encoding other than chunked";
    return std::nullopt;
}

problem_kind problem_of_parse_error(const beast::error_code& ec) {
    if (ec == http::error::header_limit)
        return problem_kind::header_too_large;
    if (ec == http::error::body_limit || ec == http::error::buffer_overflow)
        return problem_kind::body_too_large;
    if (ec == http::error::bad_content_length || ec == http::error::bad_transfer_encoding)
        return problem_kind::bad_framing;
    return problem_kind::bad_request;
}

problem_kind problem_of_multipart(const multipart_error& e) {
    switch (e.which()) {
    case multipart_error::kind::too_many_parts:
        return problem_kind::too_many_parts;
    case multipart_error::kind::header_too_large:
        return problem_kind::body_too_large;
    case multipart_error::kind::malformed:
        break;
    }
    return problem_kind::malformed_multipart;
}

/// The Idempotency-Key header: 1 to 200 visible ASCII characters, or none.
std::string idempotency_key(const http::request_header<>& req) {
    auto it = req.find("Idempotency-Key");
    if (it == req.end())
        return {};
    std::string_view v = it->value();
    if (v.empty() || v.size() > 200 || req.count("Idempotency-Key") > 1)
        throw http_problem(problem_kind::invalid_parameter,
                           "Idempotency-Key: one value of 1 to 200 characters");
    for (char c : v) {
        if (c < 0x21 || c > 0x7e)
            throw http_problem(problem_kind::invalid_parameter,
                               "Idempotency-Key: visible ASCII characters only");
    }
    return std::string(v);
}

} // namespace

struct server::impl {
    app& app_;
    config cfg_;
    asio::io_context ioc_;
    tcp::acceptor acceptor_;
    asio::signal_set signals_;
    std::atomic<std::size_t> connections_{0};
    /// Where deposits are checked, sealed and stored: as many at once as there are I/O
    /// threads, none of them on an I/O thread.
    asio::thread_pool work_;

    impl(app& a, const config& cfg)
        : app_(a)
        , cfg_(cfg)
        , ioc_(static_cast<int>(threads()))
        , acceptor_(ioc_)
        , signals_(ioc_, SIGINT, SIGTERM)
        , work_(threads()) {}

    unsigned threads() const { return cfg_.server_threads(); }

    asio::awaitable<void> accept_loop();
    asio::awaitable<void> session(tcp::socket socket);
    asio::awaitable<response> deposit(beast::tcp_stream& stream, beast::flat_buffer& buffer,
                                      http::request_parser<http::empty_body>& header_parser,
                                      request_context& ctx, bool& body_read,
                                      clock_type::time_point deadline);
    response deposit_answer(const protocols::deposit_result& result, unsigned version);
};

asio::awaitable<void> server::impl::accept_loop() {
    for (;;) {
        beast::error_code ec;
        tcp::socket socket =
            co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
        if (ec == asio::error::operation_aborted)
            co_return;
        if (ec)
            continue; // e.g. too many open files: try the next one
        if (connections_.load() >= cfg_.limits.max_connections) {
            socket.close(ec); // shed load rather than queue without bound
            continue;
        }
        asio::co_spawn(acceptor_.get_executor(), session(std::move(socket)), asio::detached);
    }
}

asio::awaitable<void> server::impl::session(tcp::socket socket) {
    ++connections_;
    struct leave {
        std::atomic<std::size_t>& n;
        ~leave() { --n; }
    } on_exit{connections_};

    beast::tcp_stream stream(std::move(socket));
    const auto& limits = cfg_.limits;
    // Beast keeps a line it has not finished parsing in this buffer: a chunk header with an
    // endless extension, or trailers, would grow it without end. Bounded, such a request
    // fails with buffer_overflow (413) instead. Room for the headers and one read.
    beast::flat_buffer buffer(limits.max_header_bytes + read_size);
    bool first = true;

    for (;;) {
        http::request_parser<http::empty_body> parser;
        parser.header_limit(static_cast<std::uint32_t>(limits.max_header_bytes));
        parser.body_limit(limits.max_body_bytes);

        beast::error_code ec;
        if (!first && buffer.size() == 0) {
            // Between requests a connection may idle; once the next request begins, its
            // headers get the same time as a first request's, not the idle time.
            stream.expires_after(limits.keep_alive_timeout);
            auto n = co_await stream.async_read_some(buffer.prepare(read_size),
                                                     asio::redirect_error(asio::use_awaitable, ec));
            buffer.commit(n);
            if (ec)
                break; // gone or idle: nothing to answer
        }
        first = false;
        stream.expires_after(limits.header_timeout);
        co_await http::async_read_header(stream, buffer, parser,
                                         asio::redirect_error(asio::use_awaitable, ec));
        auto started = clock_type::now();
        request_context ctx;
        ctx.id = crypto::random_id("req_", 8);
        ctx.route = "-";

        response res;
        std::optional<file_download> download;
        bool body_read = false; // whether the connection is positioned at the next request
        unsigned version = 11;
        bool client_keep_alive = false;
        std::string method = "-";

        if (ec) {
            if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
                ec == asio::error::connection_reset || ec == asio::error::eof)
                break; // the client went away or idled: nothing to answer
            res = make_problem(problem_of_parse_error(ec), ec.message(), version);
        } else {
            auto& req = parser.get();
            std::optional<http::request_parser<http::string_body>> rest;
            version = req.version();
            client_keep_alive = req.keep_alive(); // read now: the deposit moves the parser
            method = std::string(req.method_string());
            std::string_view target = req.target();
            auto question = target.find('?');
            auto path = target.substr(0, question);
            auto query = question == std::string_view::npos ? std::string_view()
                                                            : target.substr(question + 1);
            auto deadline = started + limits.request_timeout;
            bool recipient_page = false;

            try {
                if (auto framing = framing_problem(req))
                    throw http_problem(problem_kind::bad_framing, *framing);
                auto m = match_route(req.method(), path);
                if (m.matched) {
                    ctx.route = std::string(m.matched->pattern);
                    recipient_page = is_recipient_page(m.matched->op);
                }

                if (m.matched && m.matched->op == operation::create_letter) {
                    res = co_await deposit(stream, buffer, parser, ctx, body_read, deadline);
                } else {
                    // Small requests: a body, if any, is read and ignored within a limit. The
                    // eIDAS node's answer at the ACS may be as large as the SP accepts.
                    auto body_limit = small_body_limit;
                    if (m.matched && m.matched->op == operation::saml_acs && app_.saml())
                        body_limit = std::max(body_limit, app_.saml()->max_form_bytes());
                    if (parser.content_length().value_or(0) > body_limit ||
                        (parser.chunked() && !m.matched))
                        throw http_problem(problem_kind::body_too_large,
                                           "this request takes no large body");
                    if (!parser.is_done()) {
                        if (trimmed_lower(req[http::field::expect]) == "100-continue") {
                            http::response<http::empty_body> go_on{http::status::continue_,
                                                                   version};
                            co_await http::async_write(
                                stream, go_on, asio::redirect_error(asio::use_awaitable, ec));
                            if (ec)
                                throw http_problem(problem_kind::bad_request, "connection lost");
                        }
                        rest.emplace(std::move(parser));
                        rest->body_limit(body_limit);
                        stream.expires_after(limits.idle_timeout);
                        co_await http::async_read(stream, buffer, *rest,
                                                  asio::redirect_error(asio::use_awaitable, ec));
                        if (ec)
                            throw http_problem(problem_of_parse_error(ec), ec.message());
                    }
                    body_read = true;
                    // The header now lives in whichever parser read the message last.
                    const http::request_header<>& head =
                        rest ? static_cast<const http::request_header<>&>(rest->get()) : req;
                    static const std::string no_body;
                    const std::string& body = rest ? rest->get().body() : no_body;
                    if (!m.matched && m.path_known) {
                        res = make_problem(problem_kind::method_not_allowed, "allowed: " + m.allow,
                                           version);
                        res.set(http::field::allow, m.allow);
                    } else if (!m.matched) {
                        res = make_problem(problem_kind::not_found, "no such resource", version);
                    } else if (is_recipient_page(m.matched->op)) {
                        res = handle_recipient(app_, m, head, query, body, ctx, download);
                    } else {
                        res = handle_simple(app_, m, head, query, body, ctx, download);
                    }
                }
            } catch (const http_problem& p) {
                if (recipient_page && p.kind() == problem_kind::body_too_large)
                    res = too_large_page(
                        app_, rest ? static_cast<const http::request_header<>&>(rest->get()) : req,
                        query);
                else
                    res = make_problem(p.kind(), p.what(), version, p.extra());
            } catch (const storage::storage_error& e) {
                log_event(log_level::error, "storage-error",
                          {{"request", ctx.id}, {"error", e.what()}});
                res = e.which() == storage::storage_error::kind::conflict
                          ? make_problem(problem_kind::conflict, "a concurrent change won; retry",
                                         version)
                          : make_problem(problem_kind::storage_unavailable,
                                         "the store is unavailable; retry later", version);
                if (res.result_int() == 503)
                    res.set(http::field::retry_after, "5");
            } catch (const std::exception& e) {
                log_event(log_level::error, "internal-error",
                          {{"request", ctx.id}, {"error", e.what()}});
                res = make_problem(problem_kind::internal, "internal error", version);
            }
        }

        // A request whose body was not read leaves the stream mid-message: close it.
        bool keep_alive = body_read && !ec && client_keep_alive && res.result_int() < 500;
        res.keep_alive(keep_alive);
        res.set(http::field::server, "Sceau");
        res.set("X-Request-Id", ctx.id);
        res.set(http::field::cache_control, "no-store");
        res.set("X-Content-Type-Options", "nosniff");
        if (res.result_int() == 401)
            res.set(http::field::www_authenticate, "Bearer");

        if (method == "HEAD") {
            // RFC 9110 section 9.3.2: the headers of GET, never a body.
            auto length = res.body().size();
            res.body().clear();
            res.content_length(length);
        }

        beast::error_code write_ec;
        stream.expires_after(limits.idle_timeout);
        bool sent = false;
        if (download) {
            // A recipient's document: streamed from its file, never held in memory.
            http::response<http::file_body> file{http::status::ok, version};
            beast::error_code open_ec;
            file.body().open(download->path.c_str(), beast::file_mode::scan, open_ec);
            if (download->temporary) {
                std::error_code ignored; // the open file stays readable
                std::filesystem::remove(download->path, ignored);
            }
            if (!open_ec) {
                for (const auto& field : res.base())
                    file.set(field.name_string(), field.value());
                file.set(http::field::content_type, download->media_type);
                file.set(http::field::content_disposition, attachment_disposition(download->name));
                file.keep_alive(keep_alive);
                file.prepare_payload();
                // A large document may take longer than one idle period to write.
                stream.expires_after(limits.request_timeout);
                co_await http::async_write(stream, file,
                                           asio::redirect_error(asio::use_awaitable, write_ec));
                sent = true;
            } else {
                log_event(log_level::error, "document-missing", {{"request", ctx.id}});
                res = make_problem(problem_kind::internal, "internal error", version);
                res.keep_alive(keep_alive = false);
            }
        }
        if (!sent)
            co_await http::async_write(stream, res,
                                       asio::redirect_error(asio::use_awaitable, write_ec));

        auto micros =
            std::chrono::duration_cast<std::chrono::microseconds>(clock_type::now() - started);
        app_.metrics().count_request(method, ctx.route, res.result_int(), micros);
        log_event(res.result_int() >= 500 ? log_level::warn : log_level::info, "request",
                  {{"id", ctx.id},
                   {"method", method},
                   {"route", ctx.route},
                   {"status", std::to_string(res.result_int())},
                   {"duration_ms", std::to_string(micros.count() / 1000.0)},
                   {"sender", ctx.sender_id.empty() ? "-" : ctx.sender_id},
                   {"auditor", ctx.auditor_id.empty() ? "-" : ctx.auditor_id},
                   {"letter", ctx.letter_id.empty() ? "-" : ctx.letter_id}});
        if (write_ec || !keep_alive)
            break;
    }

    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

asio::awaitable<response>
server::impl::deposit(beast::tcp_stream& stream, beast::flat_buffer& buffer,
                      http::request_parser<http::empty_body>& header_parser, request_context& ctx,
                      bool& body_read, clock_type::time_point deadline) {
    const auto& limits = cfg_.limits;
    auto& req = header_parser.get();
    unsigned version = req.version();

    // 1. Everything that needs no body first: size, identity, type.
    if (header_parser.content_length() && *header_parser.content_length() > limits.max_body_bytes)
        throw http_problem(problem_kind::body_too_large, "the body is larger than " +
                                                             std::to_string(limits.max_body_bytes) +
                                                             " bytes");
    auto sender = authenticate(app_, req);
    ctx.sender_id = sender.id;
    auto boundary = boundary_of(req[http::field::content_type]);
    if (!boundary)
        throw http_problem(problem_kind::unsupported_media_type,
                           "a deposit is multipart/form-data with a boundary");
    auto key = idempotency_key(req);

    // 2. Only now invite the body (RFC 9110 section 10.1.1).
    beast::error_code ec;
    if (trimmed_lower(req[http::field::expect]) == "100-continue") {
        http::response<http::empty_body> go_on{http::status::continue_, version};
        co_await http::async_write(stream, go_on, asio::redirect_error(asio::use_awaitable, ec));
        if (ec)
            throw http_problem(problem_kind::bad_request, "connection lost");
    }

    // 3. Stream the body: multipart parts to temporary files, hashed on the way.
    upload_collector collector(
        app_.blobs(), {limits.max_letter_bytes, limits.max_document_bytes, limits.max_documents});
    multipart_parser multipart(*boundary, collector,
                               {limits.max_parts, limits.max_part_header_bytes});
    http::request_parser<http::buffer_body> parser(std::move(header_parser));
    parser.body_limit(limits.max_body_bytes);
    std::vector<char> chunk(read_size);
    // The connection's buffer holds what the header read left: grow it for the upload so
    // that each read takes up to 64 KiB, and give the memory back afterwards.
    buffer.reserve(read_size);
    struct shrink_after {
        beast::flat_buffer& b;
        ~shrink_after() { b.shrink_to_fit(); }
    } give_back{buffer};

    try {
        while (!parser.is_done()) {
            auto now = clock_type::now();
            if (now >= deadline)
                throw http_problem(problem_kind::request_timeout, "the upload took too long");
            auto budget = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                std::min<clock_type::duration>(limits.idle_timeout, deadline - now));
            parser.get().body().data = chunk.data();
            parser.get().body().size = chunk.size();
            stream.expires_after(budget);
            co_await http::async_read_some(stream, buffer, parser,
                                           asio::redirect_error(asio::use_awaitable, ec));
            if (ec == http::error::need_buffer)
                ec = {};
            if (ec == beast::error::timeout)
                throw http_problem(problem_kind::request_timeout, "the upload stalled");
            if (ec)
                throw http_problem(problem_of_parse_error(ec), ec.message());
            std::size_t n = chunk.size() - parser.get().body().size;
            if (n > 0) {
                multipart.feed({chunk.data(), n});
            }
        }
        body_read = true;
        multipart.finish();
    } catch (const multipart_error& e) {
        throw http_problem(problem_of_multipart(e), e.what());
    }

    // 4. The domain does the rest: check, seal, stamp, store. A PDF check or a time-stamp
    // may take seconds: off the I/O threads, which serve the other connections meanwhile.
    protocols::deposit_request request{sender, collector.take_letter(), collector.take_documents(),
                                       key};
    try {
        auto result = co_await asio::co_spawn(
            work_,
            [&]() -> asio::awaitable<protocols::deposit_result> {
                co_return app_.deposits().deposit(request);
            },
            asio::use_awaitable);
        ctx.letter_id = result.letter.id;
        co_return deposit_answer(result, version);
    } catch (const protocols::invalid_letter& e) {
        throw http_problem(problem_kind::invalid_letter, e.what());
    } catch (const protocols::idempotency_conflict& e) {
        throw http_problem(problem_kind::idempotency_conflict, e.what());
    } catch (const protocols::pdf_check_unavailable& e) {
        log_event(log_level::error, "pdf-check-unavailable",
                  {{"request", ctx.id}, {"error", e.what()}});
        auto res = make_problem(problem_kind::pdf_check_unavailable,
                                "the documents cannot be checked now; nothing was stored", version);
        res.set(http::field::retry_after, std::to_string(e.retry_after().count()));
        co_return res;
    } catch (const crypto::error& e) {
        if (!crypto::is_tsa_failure(e))
            throw;
        log_event(log_level::error, "tsa-failure", {{"request", ctx.id}, {"error", e.what()}});
        auto res = make_problem(problem_kind::tsa_unavailable,
                                "no time-stamp could be obtained; nothing was stored", version);
        res.set(http::field::retry_after, std::to_string(cfg_.tsa.retry_after_seconds));
        co_return res;
    }
}

response server::impl::deposit_answer(const protocols::deposit_result& result, unsigned version) {
    const auto& letter = result.letter;
    if (letter.status == "rejected") {
        nlohmann::json reasons = nlohmann::json::array();
        for (const auto& r : result.reasons)
            reasons.push_back({{"code", r.code}, {"details", r.details}});
        nlohmann::json extra = {{"letter_id", letter.id}, {"letter", letter_json(letter)}};
        if (!reasons.empty())
            extra["reasons"] = reasons;
        std::string detail =
            "the deposit breaks the policy; SubmissionRejection evidence was issued";
        if (!result.reasons.empty())
            detail = result.reasons.front().details;
        return make_problem(problem_kind::deposit_rejected, detail, version, extra);
    }
    auto res = make_json(result.result == protocols::deposit_result::outcome::created ? 201 : 200,
                         letter_json(letter), version);
    res.set(http::field::location, "/v1/letters/" + letter.id);
    return res;
}

server::server(app& a, const config& cfg)
    : impl_(std::make_unique<impl>(a, cfg)) {}

server::~server() = default;

void server::bind() {
    auto [host, port] = split_listen(impl_->cfg_.server.listen);
    tcp::endpoint endpoint(asio::ip::make_address(host), port);
    auto& acceptor = impl_->acceptor_;
    acceptor.open(endpoint.protocol());
    acceptor.set_option(asio::socket_base::reuse_address(true));
    acceptor.bind(endpoint);
    acceptor.listen(asio::socket_base::max_listen_connections);
}

unsigned short server::port() const {
    return impl_->acceptor_.local_endpoint().port();
}

void server::run() {
    auto& i = *impl_;
    i.signals_.async_wait([this](const beast::error_code& ec, int) {
        if (!ec)
            stop();
    });
    asio::co_spawn(i.ioc_, i.accept_loop(), asio::detached);

    std::vector<std::thread> pool;
    for (unsigned n = 1; n < i.threads(); ++n)
        pool.emplace_back([&i] { i.ioc_.run(); });
    i.ioc_.run();
    for (auto& t : pool)
        t.join();
}

void server::stop() {
    asio::post(impl_->ioc_, [this] {
        beast::error_code ignored;
        impl_->acceptor_.close(ignored);
        impl_->signals_.cancel(ignored);
        impl_->ioc_.stop();
    });
}

} // namespace sceau::gateway
