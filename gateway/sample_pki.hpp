#pragma once

#include <string_view>

/// The sample PKI of certs-sample/, compiled into the gateway. Public, for tests and the
/// demo only: evidence sealed with it is marked as not qualified.
namespace sceau::gateway::sample_pki {

std::string_view root_certificate();
std::string_view seal_certificate();
std::string_view seal_key();
std::string_view tsa_certificate();
std::string_view tsa_key();
std::string_view tls_certificate();
std::string_view tls_key();
std::string_view idp_certificate();
std::string_view idp_key();

} // namespace sceau::gateway::sample_pki
