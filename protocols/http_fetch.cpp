#include "protocols/http_fetch.hpp"

#include "crypto/openssl.hpp"

#include <curl/curl.h>

#include <memory>

namespace sceau::protocols {
namespace {

using curl_ptr = std::unique_ptr<CURL, crypto::c_deleter<curl_easy_cleanup>>;
using curl_slist_ptr = std::unique_ptr<curl_slist, crypto::c_deleter<curl_slist_free_all>>;

struct reply_buffer {
    std::string body;
    std::size_t limit = 0;
    bool over = false;
};

std::size_t keep(char* data, std::size_t size, std::size_t count, void* user) {
    auto* buffer = static_cast<reply_buffer*>(user);
    if (buffer->body.size() + size * count > buffer->limit) {
        buffer->over = true;
        return 0; // libcurl stops with CURLE_WRITE_ERROR
    }
    buffer->body.append(data, size * count);
    return size * count;
}

template <typename T>
void set_option(CURL* curl, CURLoption option, T value) {
    if (curl_easy_setopt(curl, option, value) != CURLE_OK)
        throw fetch_error("libcurl refused an option");
}

} // namespace

curl_http_fetcher::curl_http_fetcher(std::chrono::milliseconds timeout, std::size_t max_bytes)
    : timeout_(timeout)
    , max_bytes_(max_bytes) {
    // Once per process, before any handle exists (not thread-safe before libcurl 7.84).
    static const CURLcode init = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (init != CURLE_OK)
        throw fetch_error("libcurl initialisation failed");
}

http_reply curl_http_fetcher::get(const std::string& url, const std::vector<std::string>& headers) {
    return perform(url, nullptr, headers);
}

http_reply curl_http_fetcher::post_form(const std::string& url, const std::string& body,
                                        const std::vector<std::string>& headers) {
    return perform(url, &body, headers);
}

http_reply curl_http_fetcher::perform(const std::string& url, const std::string* body,
                                      const std::vector<std::string>& headers) {
    curl_ptr curl(curl_easy_init());
    if (!curl)
        throw fetch_error("libcurl handle");
    curl_slist_ptr list;
    auto add_header = [&](const std::string& line) {
        curl_slist* longer = curl_slist_append(list.get(), line.c_str());
        if (!longer)
            throw fetch_error("libcurl header list");
        list.release(); // now the head of `longer`
        list.reset(longer);
    };
    for (const auto& h : headers)
        add_header(h);
    if (body) {
        add_header("Content-Type: application/x-www-form-urlencoded");
        add_header("Expect:");
    }

    reply_buffer buffer;
    buffer.limit = max_bytes_;
    char message[CURL_ERROR_SIZE] = {};
    CURL* h = curl.get();
    set_option(h, CURLOPT_URL, url.c_str());
    set_option(h, CURLOPT_PROTOCOLS_STR, "http,https");
    set_option(h, CURLOPT_FOLLOWLOCATION, 0L);
    set_option(h, CURLOPT_NOSIGNAL, 1L);
    set_option(h, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_.count()));
    set_option(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(timeout_.count()));
    set_option(h, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(max_bytes_));
    set_option(h, CURLOPT_USERAGENT, "Sceau-OIDC");
    set_option(h, CURLOPT_HTTPHEADER, list.get());
    set_option(h, CURLOPT_WRITEFUNCTION, &keep);
    set_option(h, CURLOPT_WRITEDATA, &buffer);
    set_option(h, CURLOPT_ERRORBUFFER, message);
    if (body) {
        set_option(h, CURLOPT_POST, 1L);
        set_option(h, CURLOPT_POSTFIELDS, body->data());
        set_option(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body->size()));
    }

    CURLcode code = curl_easy_perform(h);
    if (buffer.over || code == CURLE_FILESIZE_EXCEEDED)
        throw fetch_error("the answer is over " + std::to_string(max_bytes_) + " bytes");
    if (code != CURLE_OK)
        throw fetch_error(message[0] ? message : curl_easy_strerror(code));
    http_reply reply;
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    reply.status = static_cast<int>(status);
    char* type = nullptr;
    if (curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &type) == CURLE_OK && type)
        reply.content_type = type;
    reply.body = std::move(buffer.body);
    return reply;
}

} // namespace sceau::protocols
