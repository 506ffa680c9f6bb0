#pragma once

#include <chrono>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

namespace sceau::protocols {

/// One HTTP answer, read whole.
struct http_reply {
    int status = 0;
    std::string content_type; ///< as sent, parameters included
    std::string body;
};

/// No answer could be had: no connection, a time-out, a TLS failure, or an answer over
/// the size limit. The message names the cause, never a header or a body.
class fetch_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Outgoing requests of the relying party (discovery, keys, token, userinfo). An interface
/// so that the protocol code is tested without a network; the gateway uses libcurl.
class http_fetcher {
public:
    virtual ~http_fetcher() = default;

    /// GET `url` with the given header lines ("Name: value"). Throws fetch_error.
    virtual http_reply get(const std::string& url, const std::vector<std::string>& headers) = 0;

    /// POST an application/x-www-form-urlencoded `body`. Throws fetch_error.
    virtual http_reply post_form(const std::string& url, const std::string& body,
                                 const std::vector<std::string>& headers) = 0;
};

/// libcurl: http and https only, no redirect followed, certificates checked against the
/// system's store, the whole exchange within `timeout`, answers at most `max_bytes`.
class curl_http_fetcher final : public http_fetcher {
public:
    curl_http_fetcher(std::chrono::milliseconds timeout, std::size_t max_bytes);

    http_reply get(const std::string& url, const std::vector<std::string>& headers) override;
    http_reply post_form(const std::string& url, const std::string& body,
                         const std::vector<std::string>& headers) override;

private:
    http_reply perform(const std::string& url, const std::string* body,
                       const std::vector<std::string>& headers);

    std::chrono::milliseconds timeout_;
    std::size_t max_bytes_;
};

} // namespace sceau::protocols
