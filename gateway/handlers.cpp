#include "gateway/handlers.hpp"

#include "gateway/recipient_pages.hpp"

#include <boost/beast/http/field.hpp>

#include <algorithm>
#include <charconv>
#include <set>

namespace sceau::gateway {
namespace {

namespace http = boost::beast::http;
using nlohmann::json;

constexpr std::string_view evidence_url_prefix = "/v1/evidence/";

std::vector<std::string> split_flags(const std::string& flags) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start < flags.size()) {
        auto comma = flags.find(',', start);
        if (comma == std::string::npos)
            comma = flags.size();
        if (comma > start)
            out.push_back(flags.substr(start, comma - start));
        start = comma + 1;
    }
    return out;
}

/// The delivery of one evidence event to the sender's webhook, or null if none was queued.
json webhook_json(const std::vector<storage::webhook_delivery>& deliveries,
                  const std::string& evidence_id) {
    auto it = std::find_if(deliveries.begin(), deliveries.end(),
                           [&](const auto& d) { return d.evidence_id == evidence_id; });
    if (it == deliveries.end())
        return nullptr;
    return {{"state", it->state},
            {"attempts", it->attempts},
            {"last_status", it->last_status ? json(it->last_status) : json(nullptr)},
            {"delivered_at", it->delivered_at.empty() ? json(nullptr) : json(it->delivered_at)}};
}

response get_letter(app& a, const std::string& sender_id, const std::string& id, unsigned version,
                    request_context& ctx) {
    auto letter = a.db().letter(sender_id, id);
    // Another sender's letter is indistinguishable from none (no existence oracle).
    if (!letter)
        throw http_problem(problem_kind::not_found, "no such letter");
    ctx.letter_id = letter->id;
    auto deliveries = a.db().webhooks_of_letter(letter->id);
    return make_json(200, letter_json(*letter, &deliveries), version);
}

response list_letters(app& a, const std::string& sender_id, std::string_view query,
                      unsigned version) {
    auto params = parse_query(query);
    storage::letter_filter filter;
    for (const auto& [key, value] : params) {
        if (key == "status") {
            static const std::set<std::string> statuses = {"deposited", "notified", "accepted",
                                                           "refused",   "expired",  "undeliverable",
                                                           "rejected"};
            if (!statuses.count(value))
                throw http_problem(problem_kind::invalid_parameter, "status: unknown status");
            filter.status = value;
        } else if (key == "reference") {
            if (value.size() > 200)
                throw http_problem(problem_kind::invalid_parameter, "reference: too long");
            filter.reference = value;
        } else if (key == "limit") {
            int n = 0;
            auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
            if (ec != std::errc{} || p != value.data() + value.size() || n < 1 || n > 200)
                throw http_problem(problem_kind::invalid_parameter,
                                   "limit: an integer from 1 to 200");
            filter.limit = n;
        } else if (key == "after") {
            filter.after = value;
        } else {
            throw http_problem(problem_kind::invalid_parameter, key + ": unknown parameter");
        }
    }

    storage::letter_page page;
    try {
        page = a.db().letters(sender_id, filter);
    } catch (const std::invalid_argument& e) {
        throw http_problem(problem_kind::invalid_parameter, e.what());
    }
    json data = json::array();
    for (const auto& l : page.letters)
        data.push_back(letter_json(l));
    json body = {
        {"data", data},
        {"next_cursor", page.next_cursor.empty() ? json(nullptr) : json(page.next_cursor)}};
    return make_json(200, body, version);
}

response get_evidence(app& a, const std::string& sender_id, const std::string& id, unsigned version,
                      request_context& ctx) {
    auto evidence = a.db().evidence(sender_id, id);
    if (!evidence)
        throw http_problem(problem_kind::not_found, "no such evidence");
    ctx.letter_id = evidence->letter_id;
    // Exactly the sealed bytes: a verifier checks what we stored, not a re-serialisation.
    response res{http::status::ok, version};
    res.set(http::field::content_type, "application/xml");
    res.set(http::field::content_disposition, "attachment; filename=\"" + evidence->id + ".xml\"");
    res.body() = std::move(evidence->xml);
    res.prepare_payload();
    return res;
}

response get_trust(app& a, unsigned version) {
    json body = {
        {"seal", {{"certificate", a.seal_chain_pem().front()}, {"chain", a.seal_chain_pem()}}},
        {"tsa",
         {{"certificates", a.tsa_certificates_pem()}, {"builtin", a.settings().tsa.url.empty()}}},
        {"trust_anchors", a.trust_anchors_pem()},
        {"qualified", a.qualified()},
        {"sample_keys", a.sample_keys()}};
    return make_json(200, body, version);
}

response readyz(app& a, unsigned version) {
    bool db = a.db().ping();
    std::error_code ec;
    auto space = std::filesystem::space(a.settings().storage.data_dir, ec);
    bool disk = !ec && space.available > (64u << 20);
    json body = {{"status", db && disk ? "ready" : "not-ready"},
                 {"database", db ? "ok" : "unavailable"},
                 {"disk", disk ? "ok" : "low"}};
    return make_json(db && disk ? 200 : 503, body, version);
}

} // namespace

namespace {

/// The API key of a Bearer Authorization header. Throws http_problem(unauthorized).
std::string bearer_key(const http::fields& headers) {
    auto it = headers.find(http::field::authorization);
    if (it == headers.end())
        throw http_problem(problem_kind::unauthorized,
                           "Authorization: Bearer <api key> is required");
    std::string_view value = it->value();
    constexpr std::string_view scheme = "Bearer ";
    if (value.size() > 256)
        throw http_problem(problem_kind::unauthorized, "the Authorization header is too long");
    if (value.size() <= scheme.size() ||
        !std::equal(scheme.begin(), scheme.end(), value.begin(),
                    [](char x, char y) { return std::tolower(x) == std::tolower(y); }))
        throw http_problem(problem_kind::unauthorized, "Authorization must use the Bearer scheme");
    return std::string(value.substr(scheme.size()));
}

} // namespace

storage::sender_record authenticate(app& a, const http::fields& headers) {
    auto sender = a.db().sender_by_key_hash(api_key_hash(bearer_key(headers)));
    if (!sender || !sender->revoked_at.empty())
        throw http_problem(problem_kind::unauthorized, "unknown or revoked API key");
    return *sender;
}

storage::auditor_record authenticate_auditor(app& a, const http::fields& headers) {
    auto auditor = a.db().auditor_by_key_hash(api_key_hash(bearer_key(headers)));
    if (!auditor || !auditor->revoked_at.empty())
        throw http_problem(problem_kind::unauthorized, "unknown or revoked auditor key");
    return *auditor;
}

json letter_json(const storage::letter_record& l,
                 const std::vector<storage::webhook_delivery>* webhooks) {
    json documents = json::array();
    for (const auto& d : l.documents) {
        documents.push_back({{"name", d.name},
                             {"media_type", d.media_type},
                             {"size", d.size},
                             {"sha256", d.sha256},
                             {"flags", split_flags(d.flags)},
                             {"stored", d.stored}});
    }
    json evidence = json::array();
    json timeline = json::array();
    for (const auto& e : l.evidence) {
        evidence.push_back({{"id", e.id},
                            {"event", e.event},
                            {"time", e.event_time},
                            {"url", std::string(evidence_url_prefix) + e.id}});
        json entry = {{"time", e.event_time}, {"event", e.event}, {"evidence_id", e.id}};
        if (webhooks)
            entry["webhook"] = webhook_json(*webhooks, e.id);
        timeline.push_back(std::move(entry));
    }
    json recipient = json::parse(l.recipient_json, nullptr, false);
    return {
        {"id", l.id},
        {"kind", l.kind},
        {"status", l.status},
        {"created_at", l.created_at},
        {"reference", l.reference.empty() ? json(nullptr) : json(l.reference)},
        {"subject", l.subject.empty() ? json(nullptr) : json(l.subject)},
        {"recipient", recipient.is_discarded() ? json(nullptr) : recipient},
        {"consent_reference",
         l.consent_reference.empty() ? json(nullptr) : json(l.consent_reference)},
        {"documents", documents},
        {"accept_deadline", l.accept_deadline.empty() ? json(nullptr) : json(l.accept_deadline)},
        {"qualified", l.qualified},
        {"evidence", evidence},
        {"timeline", timeline}};
}

std::map<std::string, std::string> parse_query(std::string_view query) {
    auto decode = [](std::string_view s) {
        std::string out;
        for (std::size_t i = 0; i < s.size(); ++i) {
            if (s[i] == '+') {
                out.push_back(' ');
            } else if (s[i] == '%') {
                auto hex = [](char c) -> int {
                    if (c >= '0' && c <= '9')
                        return c - '0';
                    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
                    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
                };
                int hi = i + 2 < s.size() ? hex(s[i + 1]) : -1;
                int lo = i + 2 < s.size() ? hex(s[i + 2]) : -1;
                if (hi < 0 || lo < 0)
                    throw http_problem(problem_kind::invalid_parameter, "bad percent-encoding");
                out.push_back(static_cast<char>(hi * 16 + lo));
                i += 2;
            } else {
                out.push_back(s[i]);
            }
        }
        return out;
    };

    std::map<std::string, std::string> out;
    std::size_t start = 0;
    while (start < query.size()) {
        auto amp = query.find('&', start);
        if (amp == std::string_view::npos)
            amp = query.size();
        auto pair = query.substr(start, amp - start);
        start = amp + 1;
        if (pair.empty())
            continue;
        auto eq = pair.find('=');
        auto key = decode(pair.substr(0, eq));
        auto value = eq == std::string_view::npos ? std::string() : decode(pair.substr(eq + 1));
        if (!out.emplace(key, value).second)
            throw http_problem(problem_kind::invalid_parameter, key + ": given twice");
    }
    return out;
}

response handle_simple(app& a, const route_match& m, const http::request_header<>& request,
                       std::string_view query, request_context& ctx) {
    unsigned version = request.version();
    std::string sender_id;
    if (m.matched->sender_auth) {
        sender_id = authenticate(a, request).id;
        ctx.sender_id = sender_id;
    }
    if (m.matched->auditor_auth)
        ctx.auditor_id = authenticate_auditor(a, request).id;

    switch (m.matched->op) {
    case operation::get_letter:
        return get_letter(a, sender_id, m.params.at("id"), version, ctx);
    case operation::list_letters:
        return list_letters(a, sender_id, query, version);
    case operation::get_evidence:
        return get_evidence(a, sender_id, m.params.at("id"), version, ctx);
    case operation::get_trust:
        return get_trust(a, version);
    case operation::healthz:
        return make_json(200, {{"status", "ok"}}, version);
    case operation::readyz:
        return readyz(a, version);
    case operation::saml_metadata: {
        if (!a.saml())
            throw http_problem(problem_kind::not_found, "eIDAS SAML is not configured");
        response res{http::status::ok, version};
        res.set(http::field::content_type, "application/samlmetadata+xml");
        res.body() = a.saml()->metadata();
        res.prepare_payload();
        return res;
    }
    case operation::audit_checkpoint:
    case operation::audit_inclusion:
    case operation::audit_consistency:
    case operation::audit_entries:
        return handle_audit(a, m, query, version);
    case operation::demo_node_metadata: {
        if (!a.demo_node())
            throw http_problem(problem_kind::not_found, "the demo eIDAS node is off");
        response res{http::status::ok, version};
        res.set(http::field::content_type, "application/samlmetadata+xml");
        res.body() = a.demo_node()->metadata();
        res.prepare_payload();
        return res;
    }
    case operation::recipient_stylesheet: {
        response res{http::status::ok, version};
        res.set(http::field::content_type, "text/css; charset=utf-8");
        res.body() = std::string(recipient_stylesheet());
        res.prepare_payload();
        return res;
    }
    default:
        break; // the deposit is streamed by the session; the recipient's pages are HTML
    }
    throw http_problem(problem_kind::internal, "unrouted operation");
}

} // namespace sceau::gateway
