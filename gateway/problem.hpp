#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <nlohmann/json.hpp>

#include <stdexcept>
#include <string>
#include <string_view>

namespace sceau::gateway {

using response = boost::beast::http::response<boost::beast::http::string_body>;

/// Every kind of error the API answers, each with a stable problem type URI
/// (`urn:sceau:problem:<name>`, RFC 9457) and one HTTP status.
enum class problem_kind {
    bad_request,
    bad_framing,
    malformed_multipart,
    invalid_letter,
    invalid_parameter,
    unauthorized,
    not_found,
    not_in_tree,
    method_not_allowed,
    request_timeout,
    idempotency_conflict,
    conflict,
    body_too_large,
    document_too_large,
    too_many_parts,
    unsupported_media_type,
    deposit_rejected,
    header_too_large,
    internal,
    storage_unavailable,
    tsa_unavailable,
    pdf_check_unavailable,
    share_gone,
};

struct problem_info {
    std::string_view name; ///< the last part of the type URI
    unsigned status;
    std::string_view title;
};

const problem_info& info(problem_kind kind);

/// Thrown by handlers; the session turns it into an answer.
class http_problem : public std::runtime_error {
public:
    http_problem(problem_kind kind, const std::string& detail, nlohmann::json extra = {})
        : std::runtime_error(detail)
        , kind_(kind)
        , extra_(std::move(extra)) {}

    problem_kind kind() const noexcept { return kind_; }
    const nlohmann::json& extra() const noexcept { return extra_; }

private:
    problem_kind kind_;
    nlohmann::json extra_;
};

/// An application/problem+json answer. `extra` members are added to the object.
response make_problem(problem_kind kind, std::string_view detail, unsigned version,
                      const nlohmann::json& extra = {});

/// A JSON answer.
response make_json(unsigned status, const nlohmann::json& body, unsigned version);

} // namespace sceau::gateway
