#pragma once

#include "protocols/audit.hpp"

#include <chrono>
#include <memory>
#include <string>

namespace sceau::gateway {

/// A running gateway's audit API (GET /v1/audit/checkpoint and /v1/audit/entries, with an
/// auditor's key) as a source for protocols::run_audit: the log's entries with their
/// records, and the latest checkpoint. Letters, documents and records outside the log are
/// not served there, and the audit says so.
std::unique_ptr<protocols::audit_source>
audit_api_source(std::string base_url, std::string auditor_key, std::chrono::seconds timeout);

} // namespace sceau::gateway
