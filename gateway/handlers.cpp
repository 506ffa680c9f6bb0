#include "gateway/handlers.hpp"

#include "crypto/encoding.hpp"
#include "crypto/error.hpp"
#include "crypto/random.hpp"
#include "crypto/sha256.hpp"
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

storage::letter_record senders_letter(app& a, const std::string& sender_id, const std::string& id,
                                      request_context& ctx) {
    auto letter = a.db().letter(sender_id, id);
    // Another sender's letter is indistinguishable from none (no existence oracle).
    if (!letter)
        throw http_problem(problem_kind::not_found, "no such letter");
    ctx.letter_id = letter->id;
    return std::move(*letter);
}

response get_letter(app& a, const std::string& sender_id, const std::string& id, unsigned version,
                    request_context& ctx) {
    auto letter = senders_letter(a, sender_id, id, ctx);
    auto deliveries = a.db().webhooks_of_letter(letter.id);
    return make_json(200, letter_json(letter, &deliveries), version);
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

constexpr std::string_view bundle_media_type = "application/vnd.etsi.asic-e+zip";

/// Builds the bundle into a scratch file that the session streams, then removes.
file_download make_bundle(app& a, const storage::letter_record& letter, bool with_documents) {
    auto path = a.blobs().scratch_path(".asice");
    try {
        a.bundles().write(letter, path, with_documents);
    } catch (const crypto::error& e) {
        std::error_code ignored;
        std::filesystem::remove(path, ignored);
        if (crypto::is_tsa_failure(e))
            throw http_problem(problem_kind::tsa_unavailable,
                               "no time-stamp could be obtained for the bundle; retry later");
        throw;
    } catch (...) {
        std::error_code ignored;
        std::filesystem::remove(path, ignored);
        throw;
    }
    return {path, "proofs-" + letter.id + ".asice", std::string(bundle_media_type), true};
}

response get_bundle(app& a, const std::string& sender_id, const std::string& id, unsigned version,
                    request_context& ctx, std::optional<file_download>& download) {
    auto letter = senders_letter(a, sender_id, id, ctx);
    download = make_bundle(a, letter, true);
    return response{http::status::ok, version};
}

std::string share_token_hash(std::string_view token) {
    return crypto::to_hex(crypto::sha256::of(token));
}

json share_json(const storage::share_record& s) {
    json accesses = json::array();
    for (const auto& x : s.accesses)
        accesses.push_back({{"at", x.at}, {"outcome", x.outcome}, {"client", x.client}});
    return {{"id", s.id},
            {"letter_id", s.letter_id},
            {"label", s.label},
            {"documents", s.documents},
            {"created_at", s.created_at},
            {"expires_at", s.expires_at},
            {"revoked_at", s.revoked_at.empty() ? json(nullptr) : json(s.revoked_at)},
            {"accesses", accesses}};
}

response create_share(app& a, const std::string& sender_id, const std::string& id,
                      const std::string& body, unsigned version, request_context& ctx) {
    auto letter = senders_letter(a, sender_id, id, ctx);
    json request = body.empty() ? json::object() : json::parse(body, nullptr, false);
    if (request.is_discarded() || !request.is_object())
        throw http_problem(problem_kind::invalid_parameter, "the body must be a JSON object");
    const auto& limits = a.settings().bundle;
    storage::share_record share;
    int days = limits.share_default_days;
    for (const auto& [key, value] : request.items()) {
        if (key == "label" && value.is_string() && value.get<std::string>().size() <= 200) {
            share.label = value.get<std::string>();
        } else if (key == "expires_in_days" && value.is_number_integer() &&
                   value.get<long long>() >= 1 && value.get<long long>() <= limits.share_max_days) {
            days = value.get<int>();
        } else if (key == "documents" && value.is_boolean()) {
            share.documents = value.get<bool>();
        } else {
            throw http_problem(problem_kind::invalid_parameter,
                               key +
                                   ": not one of label (text, at most 200 characters), "
                                   "expires_in_days (1 to " +
                                   std::to_string(limits.share_max_days) +
                                   "), documents (true or false)");
        }
    }
    for (unsigned char c : share.label) {
        if (c < 0x20 || c == 0x7f)
            throw http_problem(problem_kind::invalid_parameter, "label: no control characters");
    }

    // 256 random bits; only the hash is stored, the link is shown once.
    auto token = crypto::to_base64url(crypto::random_bytes(32));
    auto now = a.now();
    share.id = crypto::random_id("shr_");
    share.letter_id = letter.id;
    share.sender_id = sender_id;
    share.created_at = crypto::format_utc(now);
    share.expires_at = crypto::format_utc(now + std::chrono::hours(24) * days);
    a.db().insert_share(share, share_token_hash(token));
    auto out = share_json(share);
    out["url"] = a.public_base() + "/v1/shares/" + token + "/bundle";
    auto res = make_json(201, out, version);
    res.set(http::field::location, "/v1/letters/" + letter.id + "/shares");
    return res;
}

response list_shares(app& a, const std::string& sender_id, const std::string& id, unsigned version,
                     request_context& ctx) {
    auto letter = senders_letter(a, sender_id, id, ctx);
    json data = json::array();
    for (const auto& s : a.db().shares_of_letter(letter.id))
        data.push_back(share_json(s));
    return make_json(200, {{"data", data}, {"next_cursor", nullptr}}, version);
}

response revoke_share(app& a, const std::string& sender_id, const std::string& id,
                      unsigned version) {
    auto outcome = a.db().revoke_share(sender_id, id, crypto::format_utc(a.now()));
    if (outcome == storage::database::revoke_outcome::not_found)
        throw http_problem(problem_kind::not_found, "no such share");
    // Revoking twice changes nothing and says so in the same way.
    response res{http::status::no_content, version};
    res.prepare_payload();
    return res;
}

std::string client_of(const http::request_header<>& request) {
    std::string out;
    for (char c : request[http::field::user_agent].substr(0, 200))
        out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
    return out;
}

response shared_bundle(app& a, const std::string& token, const http::request_header<>& request,
                       request_context& ctx, std::optional<file_download>& download) {
    auto share =
        token.size() > 100 ? std::nullopt : a.db().share_by_token_hash(share_token_hash(token));
    if (!share)
        throw http_problem(problem_kind::not_found, "no such share link");
    ctx.letter_id = share->letter_id;
    auto now = crypto::format_utc(a.now());
    storage::share_access access{crypto::random_id("acc_", 12), now, "served", client_of(request)};
    if (!share->revoked_at.empty())
        access.outcome = "revoked";
    else if (share->expires_at <= now)
        access.outcome = "expired";
    if (access.outcome != "served") {
        a.db().insert_share_access(share->id, access);
        throw http_problem(problem_kind::share_gone,
                           "this link " + std::string(access.outcome == "revoked"
                                                          ? "was revoked on " + share->revoked_at
                                                          : "expired on " + share->expires_at));
    }
    try {
        auto letter = a.db().letter_by_id(share->letter_id);
        if (!letter)
            throw http_problem(problem_kind::not_found, "no such share link");
        download = make_bundle(a, *letter, share->documents);
    } catch (...) {
        access.outcome = "failed";
        a.db().insert_share_access(share->id, access);
        throw;
    }
    a.db().insert_share_access(share->id, access);
    return response{http::status::ok, request.version()};
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
                       std::string_view query, const std::string& body, request_context& ctx,
                       std::optional<file_download>& download) {
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
    case operation::get_bundle:
        return get_bundle(a, sender_id, m.params.at("id"), version, ctx, download);
    case operation::create_share:
        return create_share(a, sender_id, m.params.at("id"), body, version, ctx);
    case operation::list_shares:
        return list_shares(a, sender_id, m.params.at("id"), version, ctx);
    case operation::revoke_share:
        return revoke_share(a, sender_id, m.params.at("id"), version);
    case operation::shared_bundle:
        return shared_bundle(a, m.params.at("token"), request, ctx, download);
    case operation::get_trust:
        return get_trust(a, version);
    case operation::healthz:
        return make_json(200, {{"status", "ok"}}, version);
    case operation::readyz:
        return readyz(a, version);
    case operation::metrics: {
        if (!a.settings().server.metrics)
            throw http_problem(problem_kind::not_found, "metrics are turned off");
        response res{http::status::ok, version};
        res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
        res.body() = a.metrics().render();
        res.prepare_payload();
        return res;
    }
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
