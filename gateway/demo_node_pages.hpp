#pragma once

#include "gateway/app.hpp"
#include "gateway/problem.hpp"
#include "gateway/router.hpp"

#include <map>
#include <string>
#include <string_view>

namespace sceau::gateway {

/// The pages of the built-in demo eIDAS node (saml.demo_node): at GET /demo/eidas/sso it
/// takes the gateway's AuthnRequest (HTTP-Redirect binding) and lets the demo user pick or
/// type an identity and a level; the POST answers with the signed Response in a form
/// posted to the ACS (HTTP-POST binding, a button instead of JavaScript). Every page says
/// it is a demonstration. When the demo node is off, they are
/// unknown paths (404 problem).
response handle_demo_node(app& a, operation op, std::string_view query,
                          const std::map<std::string, std::string>& form, unsigned version);

} // namespace sceau::gateway
