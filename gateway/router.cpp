#include "gateway/router.hpp"

namespace sceau::gateway {
namespace {

using boost::beast::http::verb;

std::vector<std::string_view> segments(std::string_view path) {
    std::vector<std::string_view> out;
    std::size_t start = 1;
    while (start <= path.size()) {
        auto slash = path.find('/', start);
        if (slash == std::string_view::npos)
            slash = path.size();
        out.push_back(path.substr(start, slash - start));
        start = slash + 1;
    }
    return out;
}

bool matches(std::string_view pattern, std::string_view path,
             std::map<std::string, std::string>& params) {
    auto want = segments(pattern);
    auto got = segments(path);
    if (want.size() != got.size())
        return false;
    std::map<std::string, std::string> captured;
    for (std::size_t i = 0; i < want.size(); ++i) {
        if (want[i].size() > 2 && want[i].front() == '{' && want[i].back() == '}') {
            if (got[i].empty())
                return false;
            captured.emplace(std::string(want[i].substr(1, want[i].size() - 2)),
                             std::string(got[i]));
        } else if (want[i] != got[i]) {
            return false;
        }
    }
    params = std::move(captured);
    return true;
}

} // namespace

const std::vector<route>& routes() {
    static const std::vector<route> table = {
        {verb::post, "/v1/letters", operation::create_letter, true},
        {verb::get, "/v1/letters", operation::list_letters, true},
        {verb::get, "/v1/letters/{id}", operation::get_letter, true},
        {verb::get, "/v1/evidence/{id}", operation::get_evidence, true},
        {verb::get, "/v1/letters/{id}/bundle", operation::get_bundle, true},
        {verb::post, "/v1/letters/{id}/shares", operation::create_share, true},
        {verb::get, "/v1/letters/{id}/shares", operation::list_shares, true},
        {verb::delete_, "/v1/shares/{id}", operation::revoke_share, true},
        {verb::get, "/v1/shares/{token}/bundle", operation::shared_bundle, false},
        {verb::get, "/v1/trust", operation::get_trust, false},
        {verb::get, "/healthz", operation::healthz, false},
        {verb::get, "/readyz", operation::readyz, false},
        {verb::get, "/metrics", operation::metrics, false},
        {verb::get, "/r/{token}", operation::recipient_landing, false},
        {verb::post, "/r/{token}/code", operation::recipient_send_code, false},
        {verb::post, "/r/{token}/verify", operation::recipient_verify_code, false},
        {verb::post, "/r/{token}/accept", operation::recipient_accept, false},
        {verb::post, "/r/{token}/refuse", operation::recipient_refuse, false},
        {verb::get, "/r/{token}/letter", operation::recipient_letter, false},
        {verb::get, "/r/{token}/documents/{n}", operation::recipient_document, false},
        {verb::get, "/r/{token}/auth/saml", operation::recipient_saml_start, false},
        {verb::get, "/r/{token}/auth/oidc/{provider}", operation::recipient_oidc_start, false},
        {verb::get, "/assets/recipient.css", operation::recipient_stylesheet, false},
        {verb::post, "/auth/saml/acs", operation::saml_acs, false},
        {verb::get, "/auth/saml/complete", operation::saml_complete, false},
        {verb::get, "/auth/saml/metadata", operation::saml_metadata, false},
        {verb::get, "/v1/audit/checkpoint", operation::audit_checkpoint, false},
        {verb::get, "/v1/audit/inclusion/{id}", operation::audit_inclusion, false, true},
        {verb::get, "/v1/audit/consistency", operation::audit_consistency, false, true},
        {verb::get, "/v1/audit/entries", operation::audit_entries, false, true},
        {verb::get, "/auth/oidc/callback", operation::oidc_callback, false},
        {verb::get, "/demo/eidas/sso", operation::demo_node_sign_in, false},
        {verb::post, "/demo/eidas/sso", operation::demo_node_answer, false},
        {verb::get, "/demo/eidas/metadata", operation::demo_node_metadata, false},
    };
    return table;
}

bool is_recipient_page(operation op) noexcept {
    switch (op) {
    case operation::recipient_landing:
    case operation::recipient_send_code:
    case operation::recipient_verify_code:
    case operation::recipient_accept:
    case operation::recipient_refuse:
    case operation::recipient_letter:
    case operation::recipient_document:
    case operation::recipient_saml_start:
    case operation::recipient_oidc_start:
    case operation::saml_acs:
    case operation::saml_complete:
    case operation::oidc_callback:
    case operation::demo_node_sign_in:
    case operation::demo_node_answer:
        return true;
    default:
        return false;
    }
}

route_match match_route(verb method, std::string_view path) {
    route_match out;
    if (path.empty() || path.front() != '/')
        return out;
    for (const auto& r : routes()) {
        std::map<std::string, std::string> params;
        if (!matches(r.pattern, path, params))
            continue;
        out.path_known = true;
        out.allow += (out.allow.empty() ? "" : ", ") + std::string(to_string(r.method));
        // HEAD is GET without the body (the session drops it).
        if (r.method == method || (method == verb::head && r.method == verb::get)) {
            out.matched = &r;
            out.params = std::move(params);
        }
    }
    return out;
}

} // namespace sceau::gateway
