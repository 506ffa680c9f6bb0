// The audit routes: the transparency log's checkpoint, proofs and entries (docs/audit.md).

#include "crypto/encoding.hpp"
#include "crypto/signed_note.hpp"
#include "gateway/handlers.hpp"

#include <charconv>

namespace sceau::gateway {
namespace {

using nlohmann::json;

/// The largest tree size or index a parameter may name: far beyond any log, well inside
/// every integer type on the way.
constexpr std::int64_t max_log_integer = std::int64_t(1) << 48;

std::string b64(const storage::log_hash& h) {
    return crypto::to_base64(h);
}

json hashes(const std::vector<storage::log_hash>& path) {
    json out = json::array();
    for (const auto& h : path)
        out.push_back(b64(h));
    return out;
}

/// Only the parameters a route knows, each at most once (parse_query refuses repeats).
std::map<std::string, std::string> params_of(std::string_view query,
                                             std::initializer_list<std::string_view> known) {
    auto params = parse_query(query);
    for (const auto& [key, value] : params) {
        if (std::find(known.begin(), known.end(), key) == known.end())
            throw http_problem(problem_kind::invalid_parameter, key + ": unknown parameter");
    }
    return params;
}

/// A decimal integer parameter from `min` to `max`; `fallback` when absent.
std::int64_t integer_param(const std::map<std::string, std::string>& params, const char* name,
                           std::int64_t min, std::int64_t max,
                           std::optional<std::int64_t> fallback) {
    auto it = params.find(name);
    if (it == params.end()) {
        if (!fallback)
            throw http_problem(problem_kind::invalid_parameter, std::string(name) + ": required");
        return *fallback;
    }
    const auto& v = it->second;
    std::int64_t n = 0;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (v.empty() || v.size() > 16 || ec != std::errc{} || end != v.data() + v.size() || n < min ||
        n > max)
        throw http_problem(problem_kind::invalid_parameter,
                           std::string(name) + ": an integer from " + std::to_string(min) + " to " +
                               std::to_string(max));
    return n;
}

response checkpoint(app& a, unsigned version) {
    auto latest = a.db().latest_checkpoint();
    if (!latest)
        throw http_problem(problem_kind::not_found, "no checkpoint yet: the log is empty");
    // The origin the note was signed under; the key that verifies it is today's seal, the
    // note having been signed before a change of seal key otherwise (docs/audit.md).
    auto signed_under = crypto::parse_checkpoint(crypto::parse_signed_note(latest->note).text);
    const auto& signer = a.checkpoints().signer();
    json body = {
        {"origin", signed_under.origin},         {"tree_size", latest->tree_size},
        {"root_hash", b64(latest->root_hash)},   {"note", latest->note},
        {"verifier_key", signer.verifier_key()}, {"timestamp_token", latest->timestamp_token},
        {"stamped_at", latest->stamped_at}};
    return make_json(200, body, version);
}

response inclusion(app& a, const std::string& evidence_id, std::string_view query,
                   unsigned version) {
    auto params = params_of(query, {"tree_size"});
    if (evidence_id.size() > 100)
        throw http_problem(problem_kind::not_found, "no such evidence in the log");
    auto entry = a.db().log_entry_of(evidence_id);
    if (!entry)
        throw http_problem(problem_kind::not_found, "no such evidence in the log");

    // By default the tree of the latest checkpoint, so that the proof verifies against
    // what GET /v1/audit/checkpoint serves.
    auto latest = a.db().latest_checkpoint();
    if (!latest && !params.count("tree_size"))
        throw http_problem(problem_kind::not_in_tree,
                           "no checkpoint yet: give tree_size, or wait for the first checkpoint",
                           {{"leaf_index", entry->leaf_index}, {"tree_size", nullptr}});
    auto tree_size =
        integer_param(params, "tree_size", 1, a.db().log_size(),
                      latest ? std::optional<std::int64_t>(latest->tree_size) : std::nullopt);
    if (entry->leaf_index >= tree_size)
        throw http_problem(problem_kind::not_in_tree,
                           "the evidence was logged after that tree: ask with a larger "
                           "tree_size, or after the next checkpoint",
                           {{"leaf_index", entry->leaf_index}, {"tree_size", tree_size}});

    auto proof = a.db().log_inclusion(entry->leaf_index, tree_size);
    json body = {{"evidence_id", evidence_id},
                 {"leaf_index", proof.leaf_index},
                 {"tree_size", proof.tree_size},
                 {"leaf_hash", b64(proof.leaf_hash)},
                 {"inclusion_path", hashes(proof.path)}};
    return make_json(200, body, version);
}

response consistency(app& a, std::string_view query, unsigned version) {
    auto params = params_of(query, {"first", "second"});
    auto size = a.db().log_size();
    if (size == 0)
        throw http_problem(problem_kind::invalid_parameter, "the log is empty");
    auto second = integer_param(params, "second", 1, std::min(size, max_log_integer), {});
    auto first = integer_param(params, "first", 1, second, {});
    auto proof = a.db().log_consistency(first, second);
    json body = {
        {"first", proof.first}, {"second", proof.second}, {"consistency_path", hashes(proof.path)}};
    return make_json(200, body, version);
}

response entries(app& a, std::string_view query, unsigned version) {
    auto params = params_of(query, {"start", "count"});
    auto limit = static_cast<std::int64_t>(a.settings().audit.max_entries);
    auto start = integer_param(params, "start", 0, max_log_integer, {});
    auto count = integer_param(params, "count", 1, limit, limit);
    auto size = a.db().log_size();

    json data = json::array();
    for (const auto& r : a.db().log_records(start, static_cast<int>(count))) {
        data.push_back({{"leaf_index", r.entry.leaf_index},
                        {"leaf_hash", b64(r.entry.leaf_hash)},
                        {"evidence_id", r.evidence.id},
                        {"letter_id", r.evidence.letter_id},
                        {"event", r.evidence.event},
                        {"event_time", r.evidence.event_time},
                        {"created_at", r.evidence.created_at},
                        {"xml", r.evidence.xml}});
    }
    json body = {{"tree_size", size}, {"start", start}, {"entries", data}};
    return make_json(200, body, version);
}

} // namespace

response handle_audit(app& a, const route_match& m, std::string_view query, unsigned version) {
    switch (m.matched->op) {
    case operation::audit_checkpoint:
        return checkpoint(a, version);
    case operation::audit_inclusion:
        return inclusion(a, m.params.at("id"), query, version);
    case operation::audit_consistency:
        return consistency(a, query, version);
    case operation::audit_entries:
        return entries(a, query, version);
    default:
        throw http_problem(problem_kind::internal, "unrouted audit operation");
    }
}

} // namespace sceau::gateway
