#pragma once
// A small HTTP client for tests on libcurl (not our code), plus raw socket exchanges for
// requests no well-behaved client would send.

#include <curl/curl.h>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <map>
#include <netinet/in.h>
#include <optional>
#include <stdexcept>
#include <string>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

namespace sceau::test {

struct http_response {
    long status = 0;
    std::string body;
    std::multimap<std::string, std::string> headers; ///< names in lower case

    std::string header(const std::string& name) const {
        auto it = headers.find(name);
        return it == headers.end() ? std::string() : it->second;
    }
    nlohmann::json json() const { return nlohmann::json::parse(body); }
};

/// One part of a multipart/form-data request.
struct form_part {
    std::string name;
    std::string data;     ///< in memory, or
    std::string file;     ///< a file to send
    std::string filename; ///< empty: none (unless `file` is set)
    std::string content_type;
};

class http_client {
public:
    http_client() {
        curl_ = curl_easy_init();
        if (!curl_)
            throw std::runtime_error("curl_easy_init");
    }
    ~http_client() { curl_easy_cleanup(curl_); }
    http_client(const http_client&) = delete;
    http_client& operator=(const http_client&) = delete;

    http_response get(const std::string& url, const std::vector<std::string>& headers = {}) {
        reset(url, headers);
        curl_easy_setopt(curl_, CURLOPT_HTTPGET, 1L);
        return perform();
    }

    http_response post_form(const std::string& url, const std::vector<form_part>& parts,
                            const std::vector<std::string>& headers = {}) {
        reset(url, headers);
        curl_mime* mime = curl_mime_init(curl_);
        for (const auto& p : parts) {
            curl_mimepart* part = curl_mime_addpart(mime);
            curl_mime_name(part, p.name.c_str());
            if (!p.file.empty())
                curl_mime_filedata(part, p.file.c_str());
            else
                curl_mime_data(part, p.data.data(), p.data.size());
            if (!p.filename.empty())
                curl_mime_filename(part, p.filename.c_str());
            if (!p.content_type.empty())
                curl_mime_type(part, p.content_type.c_str());
        }
        curl_easy_setopt(curl_, CURLOPT_MIMEPOST, mime);
        auto r = perform();
        curl_mime_free(mime);
        return r;
    }

    http_response post_body(const std::string& url, const std::string& body,
                            const std::vector<std::string>& headers) {
        reset(url, headers);
        curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, body.data());
        curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
        return perform();
    }

    http_response del(const std::string& url, const std::vector<std::string>& headers = {}) {
        reset(url, headers);
        curl_easy_setopt(curl_, CURLOPT_CUSTOMREQUEST, "DELETE");
        return perform();
    }

private:
    void reset(const std::string& url, const std::vector<std::string>& headers) {
        curl_easy_reset(curl_);
        curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
        curl_easy_setopt(curl_, CURLOPT_TIMEOUT, 120L);
        curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
        if (list_) {
            curl_slist_free_all(list_);
            list_ = nullptr;
        }
        for (const auto& h : headers)
            list_ = curl_slist_append(list_, h.c_str());
        list_ = curl_slist_append(list_, "Expect:");
        curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, list_);
    }

    static size_t on_body(char* data, size_t size, size_t n, void* out) {
        static_cast<std::string*>(out)->append(data, size * n);
        return size * n;
    }

    static size_t on_header(char* data, size_t size, size_t n, void* out) {
        std::string line(data, size * n);
        auto colon = line.find(':');
        if (colon != std::string::npos) {
            std::string name = line.substr(0, colon);
            for (char& c : name)
                c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            auto value = line.substr(colon + 1);
            while (!value.empty() && (value.front() == ' '))
                value.erase(0, 1);
            while (!value.empty() && (value.back() == '\r' || value.back() == '\n'))
                value.pop_back();
            static_cast<std::multimap<std::string, std::string>*>(out)->emplace(name, value);
        }
        return size * n;
    }

    http_response perform() {
        http_response r;
        curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &r.body);
        curl_easy_setopt(curl_, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(curl_, CURLOPT_HEADERDATA, &r.headers);
        CURLcode rc = curl_easy_perform(curl_);
        if (rc != CURLE_OK)
            throw std::runtime_error(std::string("HTTP request failed: ") + curl_easy_strerror(rc));
        curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &r.status);
        return r;
    }

    CURL* curl_ = nullptr;
    curl_slist* list_ = nullptr;
};

/// What a raw exchange produced: the bytes the server sent and whether it then closed.
struct raw_exchange {
    std::string received;
    bool closed = false;
};

/// A TCP connection to HOST:PORT (IPv4); the caller closes the descriptor.
inline int connect_to(const std::string& address) {
    auto colon = address.rfind(':');
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(std::stoi(address.substr(colon + 1))));
    ::inet_pton(AF_INET, address.substr(0, colon).c_str(), &sa.sin_addr);
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
        ::close(fd);
        throw std::runtime_error("connect failed");
    }
    return fd;
}

/// Sends `bytes` on a fresh connection to HOST:PORT and reads until the server closes or
/// `wait_ms` pass without data.
inline raw_exchange raw_send(const std::string& address, const std::string& bytes,
                             int wait_ms = 3000) {
    int fd = connect_to(address);
    timeval tv{wait_ms / 1000, (wait_ms % 1000) * 1000};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::size_t sent = 0;
    while (sent < bytes.size()) {
        auto n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
        if (n <= 0)
            break; // the server may close before reading everything
        sent += static_cast<std::size_t>(n);
    }
    raw_exchange out;
    char buffer[8192];
    for (;;) {
        auto n = ::recv(fd, buffer, sizeof buffer, 0);
        if (n == 0) {
            out.closed = true;
            break;
        }
        if (n < 0) {
            out.closed = errno == ECONNRESET;
            break;
        }
        out.received.append(buffer, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return out;
}

} // namespace sceau::test
