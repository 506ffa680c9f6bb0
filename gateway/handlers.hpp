#pragma once

#include "gateway/app.hpp"
#include "gateway/problem.hpp"
#include "gateway/recipient_pages.hpp"
#include "gateway/router.hpp"

#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

namespace sceau::gateway {

/// What one request carries through the layers, and what its log line says.
struct request_context {
    std::string id;         ///< X-Request-Id of the answer
    std::string route;      ///< the matched pattern, or "-"
    std::string sender_id;  ///< once authenticated
    std::string auditor_id; ///< once authenticated, on the audit routes
    std::string letter_id;  ///< when the request names or creates a letter
};

/// The sender whose API key the Authorization header carries. Throws
/// http_problem(unauthorized) when it is missing, unknown or revoked.
storage::sender_record authenticate(app& a, const boost::beast::http::fields& headers);

/// The auditor whose API key the Authorization header carries. Throws
/// http_problem(unauthorized) when it is missing, unknown or revoked. Sender keys are not
/// auditor keys, nor the reverse.
storage::auditor_record authenticate_auditor(app& a, const boost::beast::http::fields& headers);

/// Answers the audit routes (docs/audit.md), the caller authenticated already.
response handle_audit(app& a, const route_match& m, std::string_view query, unsigned version);

/// Answers the requests that carry no document: everything but the deposit and the
/// recipient's pages. A proof bundle is answered by filling `download`.
response handle_simple(app& a, const route_match& m,
                       const boost::beast::http::request_header<>& request, std::string_view query,
                       const std::string& body, request_context& ctx,
                       std::optional<file_download>& download);

/// A letter as the API shows it to its sender. Given the letter's webhook deliveries, each
/// timeline entry also tells what became of its event's delivery (null: none was queued,
/// the sender had no webhook then); without them, entries carry no `webhook` member.
nlohmann::json letter_json(const storage::letter_record& letter,
                           const std::vector<storage::webhook_delivery>* webhooks = nullptr);

/// Decodes one application/x-www-form-urlencoded query into key/value pairs. Throws
/// http_problem(invalid_parameter) on bad percent-encoding or a repeated key.
std::map<std::string, std::string> parse_query(std::string_view query);

} // namespace sceau::gateway
