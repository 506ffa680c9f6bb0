#include "gateway/config.hpp"

#include "protocols/mail.hpp"
#include "protocols/retention.hpp"
#include "protocols/text_rules.hpp"
#include "protocols/webhooks.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <set>
#include <thread>
#include <utility>

namespace sceau::gateway {
namespace {

using namespace std::string_literals;

constexpr std::chrono::hours max_duration{24 * 366 * 100};

/// Reads one section, remembering which keys it consumed so that leftovers are errors.
class section_reader {
public:
    section_reader(const toml::table& root, std::string name, std::string prefix = {})
        : name_(std::move(name))
        , prefix_(std::move(prefix)) {
        if (auto* node = root.get(name_)) {
            table_ = node->as_table();
            if (!table_)
                throw config_error("[" + prefix_ + name_ + "] must be a table");
        }
    }

    ~section_reader() noexcept(false) {
        if (!table_ || std::uncaught_exceptions() > 0)
            return;
        for (const auto& [key, value] : *table_) {
            if (!seen_.count(std::string(key.str())))
                throw config_error("unknown key " + prefix_ + name_ + "." + std::string(key.str()));
        }
    }

    template <typename T>
    void read(const char* key, T& out) {
        seen_.insert(key);
        if (!table_)
            return;
        auto* node = table_->get(key);
        if (!node)
            return;
        if constexpr (std::is_same_v<T, std::string>) {
            auto v = node->value<std::string>();
            if (!v)
                fail(key, "a string");
            out = *v;
        } else if constexpr (std::is_same_v<T, std::filesystem::path>) {
            auto v = node->value<std::string>();
            if (!v)
                fail(key, "a path string");
            out = *v;
        } else if constexpr (std::is_same_v<T, bool>) {
            auto v = node->value<bool>();
            if (!v)
                fail(key, "true or false");
            out = *v;
        } else if constexpr (std::is_same_v<T, std::vector<int>>) {
            auto* array = node->as_array();
            if (!array)
                fail(key, "an array of integers");
            out.clear();
            for (const auto& item : *array) {
                auto v = item.value<std::int64_t>();
                if (!v || *v < 0 || *v > 365)
                    fail(key, "an array of integers from 0 to 365");
                out.push_back(static_cast<int>(*v));
            }
        } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
            auto* array = node->as_array();
            if (!array)
                fail(key, "an array of strings");
            out.clear();
            for (const auto& item : *array) {
                auto v = item.value<std::string>();
                if (!v)
                    fail(key, "an array of strings");
                out.push_back(*v);
            }
        } else if constexpr (std::is_integral_v<T>) {
            // A value the setting's type cannot hold would otherwise wrap: 4294967302 digits
            // of code would be 6.
            auto v = node->value<std::int64_t>();
            if (!v || *v < 0 || !std::in_range<T>(*v))
                fail(key, "a non-negative integer that fits the setting");
            out = static_cast<T>(*v);
        } else {
            // std::chrono durations, written as integers in their unit; past a century,
            // adding one to the clock would overflow.
            auto v = node->value<std::int64_t>();
            if (!v || *v <= 0 || T(*v) > max_duration)
                fail(key, "a positive integer, at most a hundred years");
            out = T(*v);
        }
    }

private:
    [[noreturn]] void fail(const char* key, const char* what) {
        throw config_error(prefix_ + name_ + "." + key + " must be " + what);
    }

    std::string name_;
    std::string prefix_; ///< of a nested table: "oidc."

    const toml::table* table_ = nullptr;
    std::set<std::string> seen_;
};

config::oidc_provider_section read_oidc_provider(const toml::table& providers,
                                                 const std::string& name) {
    if (name.empty() || name.size() > 32 ||
        name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") != std::string::npos)
        throw config_error("[oidc." + name + "]: a provider's name is 1 to 32 of a-z, 0-9, '-'");
    config::oidc_provider_section o;
    o.name = name;
    section_reader s(providers, name, "oidc.");
    s.read("label", o.label);
    s.read("issuer", o.issuer);
    s.read("client_id", o.client_id);
    s.read("client_secret", o.client_secret);
    s.read("token_auth_method", o.token_auth_method);
    s.read("redirect_base", o.redirect_base);
    s.read("algorithms", o.algorithms);
    s.read("acr_values", o.acr_values);
    s.read("acr_levels", o.acr_levels);
    s.read("scopes", o.scopes);
    s.read("claims", o.claims);
    s.read("usage_name_claim", o.usage_name_claim);
    s.read("authorization_endpoint", o.authorization_endpoint);
    s.read("token_endpoint", o.token_endpoint);
    s.read("userinfo_endpoint", o.userinfo_endpoint);
    s.read("jwks_uri", o.jwks_uri);
    s.read("clock_skew_seconds", o.clock_skew_seconds);
    s.read("timeout_ms", o.timeout);
    s.read("max_response_bytes", o.max_response_bytes);
    s.read("keys_refresh_seconds", o.keys_refresh_seconds);
    s.read("metadata_lifetime_seconds", o.metadata_lifetime_seconds);
    auto where = "oidc." + name + ": ";
    if (o.issuer.empty() || o.client_id.empty() || o.client_secret.empty())
        throw config_error(where + "issuer, client_id and client_secret are required");
    if (o.acr_values.empty() || o.acr_values.size() != o.acr_levels.size())
        throw config_error(where + "acr_values and acr_levels name one level per acr");
    for (const auto& level : o.acr_levels) {
        if (level != "low" && level != "substantial" && level != "high")
            throw config_error(where + "acr_levels are low, substantial or high, not " + level);
    }
    if (o.clock_skew_seconds > 600)
        throw config_error(where + "clock_skew_seconds: at most 600");
    if (o.max_response_bytes < 1024 || o.max_response_bytes > (4u << 20))
        throw config_error(where + "max_response_bytes: from 1024 to 4194304");
    if (o.metadata_lifetime_seconds < 60)
        throw config_error(where + "metadata_lifetime_seconds: at least 60");
    return o;
}

/// Settings whose extreme values would harm the gateway itself, and texts that go into
/// every evidence record, mail and page.
void check_bounds_and_texts(const config& c) {
    if (c.server.threads > 1024)
        throw config_error("server.threads: at most 1024");
    const auto& l = c.limits;
    if (l.max_header_bytes < 1024 || l.max_header_bytes > (1u << 20))
        throw config_error("limits.max_header_bytes: from 1024 to 1048576");
    if (l.max_part_header_bytes < 256 || l.max_part_header_bytes > (1u << 20))
        throw config_error("limits.max_part_header_bytes: from 256 to 1048576");
    if (l.max_letter_bytes < 1024 || l.max_letter_bytes > (16u << 20))
        throw config_error("limits.max_letter_bytes: from 1024 to 16777216");

    if (auto fault = protocols::text_fault(c.provider.name); fault || c.provider.name.empty())
        throw config_error("provider.name: " + std::string(fault ? *fault : "must not be empty"));
    for (const auto& policy : c.provider.policies) {
        if (auto fault = protocols::text_fault(policy))
            throw config_error("provider.policies: " + std::string(*fault));
    }
    if (protocols::text_fault(c.mail.from) ||
        !protocols::is_mailbox(protocols::address_of(c.mail.from)))
        throw config_error("mail.from: NAME <ADDRESS> or ADDRESS, on one line");
    const auto& url = c.server.public_url;
    if (!url.empty() &&
        ((url.rfind("https://", 0) != 0 && url.rfind("http://", 0) != 0) ||
         protocols::text_fault(url) || url.find_first_of(" \"<>") != std::string::npos))
        throw config_error("server.public_url: an http:// or https:// URL");
}

} // namespace

config config::load(const std::filesystem::path& file) {
    toml::table root;
    try {
        root = toml::parse_file(file.string());
    } catch (const toml::parse_error& e) {
        throw config_error(file.string() + ": " + std::string(e.description()));
    }
    static const std::set<std::string> sections = {
        "server",    "storage",   "limits",         "provider", "seal", "tsa",      "mail",
        "lifecycle", "recipient", "identification", "saml",     "oidc", "webhooks", "deposit",
        "audit",     "log",       "retention",      "bundle"};
    for (const auto& [key, value] : root) {
        if (!sections.count(std::string(key.str())))
            throw config_error("unknown section [" + std::string(key.str()) + "]");
    }

    config c;
    {
        section_reader s(root, "server");
        s.read("listen", c.server.listen);
        s.read("threads", c.server.threads);
        s.read("public_url", c.server.public_url);
        s.read("metrics", c.server.metrics);
    }
    {
        section_reader s(root, "storage");
        s.read("data_dir", c.storage.data_dir);
        s.read("database", c.storage.database);
    }
    {
        section_reader s(root, "limits");
        auto& l = c.limits;
        s.read("max_body_bytes", l.max_body_bytes);
        s.read("max_document_bytes", l.max_document_bytes);
        s.read("max_documents", l.max_documents);
        s.read("max_parts", l.max_parts);
        s.read("max_letter_bytes", l.max_letter_bytes);
        s.read("max_header_bytes", l.max_header_bytes);
        s.read("max_part_header_bytes", l.max_part_header_bytes);
        s.read("header_timeout_seconds", l.header_timeout);
        s.read("idle_timeout_seconds", l.idle_timeout);
        s.read("request_timeout_seconds", l.request_timeout);
        s.read("keep_alive_timeout_seconds", l.keep_alive_timeout);
        s.read("max_connections", l.max_connections);
    }
    {
        section_reader s(root, "provider");
        s.read("name", c.provider.name);
        s.read("policies", c.provider.policies);
    }
    {
        section_reader s(root, "seal");
        s.read("key", c.seal.key);
        s.read("certificate", c.seal.certificate);
        s.read("trust_anchor", c.seal.trust_anchor);
    }
    {
        section_reader s(root, "tsa");
        auto& t = c.tsa;
        s.read("url", t.url);
        s.read("timeout_ms", t.timeout);
        s.read("policy", t.policy);
        s.read("trust_anchors", t.trust_anchors);
        s.read("certificates", t.certificates);
        s.read("qualified", t.qualified);
        s.read("builtin_key", t.builtin_key);
        s.read("builtin_certificate", t.builtin_certificate);
        s.read("builtin_policy", t.builtin_policy);
        s.read("retry_after_seconds", t.retry_after_seconds);
    }
    {
        section_reader s(root, "mail");
        s.read("relay", c.mail.relay);
        s.read("from", c.mail.from);
        s.read("starttls", c.mail.starttls);
        s.read("username", c.mail.username);
        s.read("password", c.mail.password);
        s.read("timeout_ms", c.mail.timeout);
        s.read("ca_file", c.mail.ca_file);
    }
    {
        section_reader s(root, "lifecycle");
        s.read("reminder_days", c.lifecycle.reminder_days);
        s.read("worker_interval_seconds", c.lifecycle.worker_interval);
        s.read("first_retry_seconds", c.lifecycle.first_retry);
        s.read("give_up_after_hours", c.lifecycle.give_up_after);
    }
    {
        section_reader s(root, "recipient");
        auto& r = c.recipient;
        s.read("session_minutes", r.session_minutes);
        s.read("code_minutes", r.code_minutes);
        s.read("code_digits", r.code_digits);
        s.read("code_attempts", r.code_attempts);
        s.read("codes_per_session", r.codes_per_session);
        s.read("codes_per_letter_per_hour", r.codes_per_letter_per_hour);
        if (r.code_digits < 6 || r.code_digits > 12)
            throw config_error("recipient.code_digits: from 6 to 12");
        if (r.session_minutes < 1 || r.code_minutes < 1 || r.code_attempts < 1 ||
            r.codes_per_session < 1 || r.codes_per_letter_per_hour < 1)
            throw config_error("recipient: every limit is at least 1");
    }
    {
        section_reader s(root, "identification");
        s.read("lre_level", c.identification.lre_level);
        s.read("request_minutes", c.identification.request_minutes);
        if (c.identification.lre_level != "substantial" && c.identification.lre_level != "high")
            throw config_error("identification.lre_level must be \"substantial\" or \"high\"");
        if (c.identification.request_minutes < 1 || c.identification.request_minutes > 60)
            throw config_error("identification.request_minutes: from 1 to 60");
    }
    {
        section_reader s(root, "saml");
        auto& m = c.saml;
        s.read("node_metadata", m.node_metadata);
        s.read("node_metadata_signer", m.node_metadata_signer);
        s.read("node_entity_id", m.node_entity_id);
        s.read("node_sso_url", m.node_sso_url);
        s.read("node_certificate", m.node_certificate);
        s.read("sp_entity_id", m.sp_entity_id);
        s.read("sp_key", m.sp_key);
        s.read("sp_certificate", m.sp_certificate);
        s.read("clock_skew_seconds", m.clock_skew_seconds);
        s.read("max_response_bytes", m.max_response_bytes);
        s.read("sp_type", m.sp_type);
        s.read("demo_node", m.demo_node);
        if (m.clock_skew_seconds > 600)
            throw config_error("saml.clock_skew_seconds: at most 600");
        if (m.max_response_bytes < 1024 || m.max_response_bytes > (4u << 20))
            throw config_error("saml.max_response_bytes: from 1024 to 4194304");
        if (m.sp_type != "private" && m.sp_type != "public")
            throw config_error("saml.sp_type must be \"private\" or \"public\"");
        if (m.demo_node && (!m.node_metadata.empty() || !m.node_certificate.empty()))
            throw config_error("saml.demo_node stands in for an eIDAS node: it cannot be on "
                               "together with saml.node_metadata or saml.node_certificate");
    }
    if (auto* node = root.get("oidc")) {
        auto* providers = node->as_table();
        if (!providers)
            throw config_error("[oidc] must hold one table per provider: [oidc.NAME]");
        for (const auto& [key, value] : *providers) {
            if (!value.is_table())
                throw config_error("[oidc] holds one table per provider, [oidc.NAME]; " +
                                   std::string(key.str()) + " is not one");
            c.oidc.push_back(read_oidc_provider(*providers, std::string(key.str())));
        }
    }
    {
        section_reader s(root, "webhooks");
        auto& w = c.webhooks;
        s.read("timeout_ms", w.timeout);
        s.read("connect_timeout_ms", w.connect_timeout);
        s.read("first_retry_seconds", w.first_retry);
        s.read("give_up_after_hours", w.give_up_after);
        s.read("batch", w.batch);
    }
    {
        section_reader s(root, "deposit");
        s.read("allowed_media_types", c.deposit.allowed_media_types);
        s.read("pdf_check_memory_mib", c.deposit.pdf_check_memory_mib);
        s.read("pdf_check_timeout_seconds", c.deposit.pdf_check_timeout);
        s.read("pdf_checkers", c.deposit.pdf_checkers);
        s.read("pdf_checks_per_checker", c.deposit.pdf_checks_per_checker);
        if (c.deposit.pdf_check_memory_mib < 256 || c.deposit.pdf_check_memory_mib > (1u << 20))
            throw config_error("deposit.pdf_check_memory_mib: from 256 to 1048576");
        if (c.deposit.pdf_check_timeout > std::chrono::hours(1))
            throw config_error("deposit.pdf_check_timeout_seconds: at most 3600");
        if (c.deposit.pdf_checkers > 1024)
            throw config_error("deposit.pdf_checkers: at most 1024");
        if (c.deposit.pdf_checks_per_checker < 1 || c.deposit.pdf_checks_per_checker > 1'000'000)
            throw config_error("deposit.pdf_checks_per_checker: from 1 to 1000000");
    }
    {
        section_reader s(root, "retention");
        s.read("documents_days", c.retention.documents_days);
        s.read("purge_batch", c.retention.purge_batch);
        if (c.retention.documents_days < protocols::minimum_retention_days)
            throw config_error("retention.documents_days must be at least " +
                               std::to_string(protocols::minimum_retention_days) +
                               ": every proof is kept at least a year");
        if (c.retention.purge_batch < 1 || c.retention.purge_batch > 10000)
            throw config_error("retention.purge_batch must be from 1 to 10000");
    }
    {
        section_reader s(root, "bundle");
        s.read("share_default_days", c.bundle.share_default_days);
        s.read("share_max_days", c.bundle.share_max_days);
        if (c.bundle.share_max_days < 1 || c.bundle.share_max_days > 3650 ||
            c.bundle.share_default_days < 1 ||
            c.bundle.share_default_days > c.bundle.share_max_days)
            throw config_error("bundle: 1 <= share_default_days <= share_max_days <= 3650");
    }
    {
        section_reader s(root, "audit");
        s.read("origin", c.audit.origin);
        s.read("checkpoint_interval_seconds", c.audit.checkpoint_interval);
        s.read("max_entries", c.audit.max_entries);
        const auto& origin = c.audit.origin;
        if (origin.empty() || origin.size() > 200 ||
            std::any_of(origin.begin(), origin.end(),
                        [](char ch) { return ch <= ' ' || ch >= 0x7f || ch == '+'; }))
            throw config_error("audit.origin: printable ASCII, without spaces or '+'");
        if (c.audit.max_entries < 1 || c.audit.max_entries > 1000)
            throw config_error("audit.max_entries: from 1 to 1000");
    }
    {
        section_reader s(root, "log");
        s.read("level", c.log.level);
        s.read("format", c.log.format);
    }

    // Paths in the file are relative to the file.
    auto base = file.parent_path();
    for (auto* p :
         {&c.storage.data_dir, &c.seal.key, &c.seal.certificate, &c.seal.trust_anchor,
          &c.tsa.trust_anchors, &c.tsa.certificates, &c.tsa.builtin_key, &c.tsa.builtin_certificate,
          &c.mail.ca_file, &c.saml.node_metadata, &c.saml.node_metadata_signer,
          &c.saml.node_certificate, &c.saml.sp_key, &c.saml.sp_certificate}) {
        if (!p->empty() && p->is_relative())
            *p = base / *p;
    }
    check_bounds_and_texts(c);
    if (c.seal.key.empty() != c.seal.certificate.empty())
        throw config_error("seal.key and seal.certificate go together");
    if (c.tsa.builtin_key.empty() != c.tsa.builtin_certificate.empty())
        throw config_error("tsa.builtin_key and tsa.builtin_certificate go together");
    if (!c.tsa.url.empty() && c.tsa.trust_anchors.empty())
        throw config_error("tsa.url needs tsa.trust_anchors");
    if (c.webhooks.give_up_after < protocols::minimum_give_up_after)
        throw config_error("webhooks.give_up_after_hours must be at least " +
                           std::to_string(protocols::minimum_give_up_after.count()));
    if (c.webhooks.batch < 1 || c.webhooks.batch > 1000)
        throw config_error("webhooks.batch must be from 1 to 1000");
    if (c.webhooks.first_retry > std::chrono::hours(1))
        throw config_error("webhooks.first_retry_seconds must be at most 3600");
    split_listen(c.server.listen);
    return c;
}

unsigned config::server_threads() const {
    return server.threads ? server.threads : 2 * std::max(1u, std::thread::hardware_concurrency());
}

std::string config::database_url() const {
    if (!storage.database.empty())
        return storage.database;
    return "sqlite:" + (storage.data_dir / "sceau.db").string();
}

std::string config::recipient_base_url() const {
    auto base = server.public_url.empty() ? "http://" + server.listen : server.public_url;
    while (!base.empty() && base.back() == '/')
        base.pop_back();
    return base;
}

std::pair<std::string, unsigned short> split_listen(const std::string& listen) {
    auto colon = listen.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == listen.size())
        throw config_error("listen must be HOST:PORT, not \"" + listen + "\"");
    auto host = listen.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    unsigned long port = 0;
    try {
        std::size_t used = 0;
        port = std::stoul(listen.substr(colon + 1), &used);
        if (used != listen.size() - colon - 1)
            throw std::invalid_argument("port");
    } catch (const std::exception&) {
        throw config_error("listen port is not a number: \"" + listen + "\"");
    }
    if (port > 65535)
        throw config_error("listen port is out of range");
    return {host, static_cast<unsigned short>(port)};
}

} // namespace sceau::gateway
