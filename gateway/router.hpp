#pragma once

#include <boost/beast/http/verb.hpp>

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sceau::gateway {

/// The operations the gateway serves.
enum class operation {
    create_letter,
    list_letters,
    get_letter,
    get_evidence,
    get_bundle,
    create_share,
    list_shares,
    revoke_share,
    shared_bundle,
    get_trust,
    healthz,
    readyz,
    metrics,
    recipient_landing,
    recipient_send_code,
    recipient_verify_code,
    recipient_accept,
    recipient_refuse,
    recipient_letter,
    recipient_document,
    recipient_saml_start,
    recipient_oidc_start,
    recipient_stylesheet,
    saml_acs,
    saml_complete,
    saml_metadata,
    audit_checkpoint,
    audit_inclusion,
    audit_consistency,
    audit_entries,
    oidc_callback,
    demo_node_sign_in,
    demo_node_answer,
    demo_node_metadata,
};

/// Whether the operation is one of the recipient's pages (HTML, never problem+json).
bool is_recipient_page(operation op) noexcept;

struct route {
    boost::beast::http::verb method;
    std::string_view pattern; ///< segments, `{name}` captures one
    operation op;
    bool sender_auth;          ///< needs a sender's API key
    bool auditor_auth = false; ///< needs an auditor's API key
};

/// Every route of the server. docs/openapi.json must describe each (a test checks).
const std::vector<route>& routes();

struct route_match {
    const route* matched = nullptr; ///< null: no such path, or wrong method
    bool path_known = false;        ///< the path exists under another method
    std::string allow;              ///< methods allowed for the path
    std::map<std::string, std::string> params;
};

route_match match_route(boost::beast::http::verb method, std::string_view path);

} // namespace sceau::gateway
