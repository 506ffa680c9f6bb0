#include "gateway/audit_client.hpp"

#include "crypto/encoding.hpp"

#include <curl/curl.h>
#include <nlohmann/json.hpp>

#include <stdexcept>

namespace sceau::gateway {
namespace {

using nlohmann::json;

constexpr std::size_t max_answer_bytes = 256u << 20;

struct curl_deleter {
    void operator()(CURL* c) const noexcept { curl_easy_cleanup(c); }
};
struct slist_deleter {
    void operator()(curl_slist* l) const noexcept { curl_slist_free_all(l); }
};

std::size_t collect(char* data, std::size_t size, std::size_t n, void* out) {
    auto* body = static_cast<std::string*>(out);
    if (body->size() + size * n > max_answer_bytes)
        return 0; // aborts the transfer
    body->append(data, size * n);
    return size * n;
}

storage::log_hash hash_of(const json& value) {
    auto raw = crypto::from_base64(value.get<std::string>());
    if (raw.size() != 32)
        throw std::runtime_error("the audit API sent a hash that is not 32 bytes");
    storage::log_hash h{};
    std::copy(raw.begin(), raw.end(), h.begin());
    return h;
}

class api_source final : public protocols::audit_source {
public:
    api_source(std::string base, std::string key, std::chrono::seconds timeout)
        : base_(std::move(base))
        , key_(std::move(key))
        , timeout_(timeout) {
        while (!base_.empty() && base_.back() == '/')
            base_.pop_back();
        curl_global_init(CURL_GLOBAL_DEFAULT);
    }

    std::string describe() const override { return base_ + "/v1/audit"; }

    std::int64_t log_end() override {
        return get("/v1/audit/entries?start=0&count=1").at("tree_size").get<std::int64_t>();
    }

    std::vector<storage::audited_entry> log_entries(std::int64_t start, int count) override {
        std::vector<storage::audited_entry> out;
        std::int64_t at = start;
        while (at < start + count) {
            auto page =
                get("/v1/audit/entries?start=" + std::to_string(at) + "&count=" +
                    std::to_string(std::min<std::int64_t>(page_limit_, start + count - at)));
            const auto& entries = page.at("entries");
            if (entries.empty())
                break;
            for (const auto& e : entries) {
                storage::audited_entry a;
                a.entry.leaf_index = e.at("leaf_index").get<std::int64_t>();
                a.entry.leaf_hash = hash_of(e.at("leaf_hash"));
                a.entry.evidence_id = e.at("evidence_id").get<std::string>();
                a.evidence = storage::evidence_record{a.entry.evidence_id,
                                                      e.at("letter_id").get<std::string>(),
                                                      e.at("event").get<std::string>(),
                                                      e.at("event_time").get<std::string>(),
                                                      e.at("created_at").get<std::string>(),
                                                      e.at("xml").get<std::string>()};
                at = a.entry.leaf_index + 1;
                if (a.entry.leaf_index < start + count)
                    out.push_back(std::move(a));
            }
            // The server may serve fewer per page than asked: ask again from where it ended.
            page_limit_ = std::max<std::int64_t>(1, static_cast<std::int64_t>(entries.size()));
        }
        return out;
    }

    std::vector<storage::checkpoint_record> checkpoints() override {
        long status = 0;
        auto body = get("/v1/audit/checkpoint", &status);
        if (status == 404)
            return {};
        storage::checkpoint_record c;
        c.tree_size = body.at("tree_size").get<std::int64_t>();
        c.root_hash = hash_of(body.at("root_hash"));
        c.note = body.at("note").get<std::string>();
        c.timestamp_token = body.at("timestamp_token").get<std::string>();
        c.stamped_at = body.value("stamped_at", std::string());
        return {c};
    }

    std::optional<std::vector<storage::evidence_record>> unlogged_records() override {
        return std::nullopt;
    }
    std::optional<std::vector<storage::letter_record>> letters() override { return std::nullopt; }
    std::optional<std::string> document_digest(const std::string&) override { return std::nullopt; }
    std::vector<std::string> unknown_files() override { return {}; }

private:
    /// GET of an audit route; throws unless 200 (or 404 when `status` is given).
    json get(const std::string& path, long* status = nullptr) {
        std::unique_ptr<CURL, curl_deleter> curl(curl_easy_init());
        if (!curl)
            throw std::runtime_error("libcurl handle");
        std::string auth = "Authorization: Bearer " + key_;
        std::unique_ptr<curl_slist, slist_deleter> headers(
            curl_slist_append(nullptr, auth.c_str()));
        std::string url = base_ + path, body;
        curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
        curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, headers.get());
        curl_easy_setopt(curl.get(), CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT, static_cast<long>(timeout_.count()));
        curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &body);
        auto rc = curl_easy_perform(curl.get());
        if (rc != CURLE_OK)
            throw std::runtime_error(base_ + ": " + curl_easy_strerror(rc));
        long code = 0;
        curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &code);
        if (status)
            *status = code;
        if (code != 200 && !(status && code == 404))
            throw std::runtime_error(path + " answered HTTP " + std::to_string(code) +
                                     (code == 401 ? ": the auditor key is not accepted" : ""));
        return code == 200 ? json::parse(body) : json();
    }

    std::string base_;
    std::string key_;
    std::chrono::seconds timeout_;
    std::int64_t page_limit_ = 100; // audit.max_entries by default; a server may serve fewer
};

} // namespace

std::unique_ptr<protocols::audit_source>
audit_api_source(std::string base_url, std::string auditor_key, std::chrono::seconds timeout) {
    return std::make_unique<api_source>(std::move(base_url), std::move(auditor_key), timeout);
}

} // namespace sceau::gateway
