#include "gateway/problem.hpp"

namespace sceau::gateway {

const problem_info& info(problem_kind kind) {
    static const problem_info table[] = {
        {"bad-request", 400, "The request is not valid HTTP"},
        {"bad-framing", 400, "Ambiguous message framing"},
        {"malformed-multipart", 400, "The multipart body is malformed"},
        {"invalid-letter", 400, "The letter is not well-formed"},
        {"invalid-parameter", 400, "A parameter is not valid"},
        {"unauthorized", 401, "A valid API key is required"},
        {"not-found", 404, "Not found"},
        {"not-in-tree", 404, "Not in the log's tree of that size"},
        {"method-not-allowed", 405, "Method not allowed"},
        {"request-timeout", 408, "The request took too long"},
        {"idempotency-conflict", 409, "Idempotency-Key reused with another request"},
        {"conflict", 409, "The request conflicts with the current state"},
        {"body-too-large", 413, "The request body is too large"},
        {"document-too-large", 413, "A document is too large"},
        {"too-many-parts", 413, "Too many parts or documents"},
        {"unsupported-media-type", 415, "Unsupported media type"},
        {"deposit-rejected", 422, "The deposit was refused"},
        {"header-too-large", 431, "Request headers too large"},
        {"internal", 500, "Internal error"},
        {"storage-unavailable", 503, "The store is unavailable"},
        {"tsa-unavailable", 503, "No time-stamp could be obtained"},
        {"pdf-check-unavailable", 503, "The documents cannot be checked now"},
        {"share-gone", 410, "The share link expired or was revoked"},
    };
    return table[static_cast<std::size_t>(kind)];
}

response make_problem(problem_kind kind, std::string_view detail, unsigned version,
                      const nlohmann::json& extra) {
    const auto& i = info(kind);
    nlohmann::json body = {{"type", "urn:sceau:problem:" + std::string(i.name)},
                           {"title", i.title},
                           {"status", i.status},
                           {"detail", detail}};
    if (extra.is_object()) {
        for (const auto& [k, v] : extra.items())
            body[k] = v;
    }
    response res{static_cast<boost::beast::http::status>(i.status), version};
    res.set(boost::beast::http::field::content_type, "application/problem+json");
    // Replace invalid UTF-8 rather than fail: details may quote client input.
    res.body() = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    res.prepare_payload();
    return res;
}

response make_json(unsigned status, const nlohmann::json& body, unsigned version) {
    response res{static_cast<boost::beast::http::status>(status), version};
    res.set(boost::beast::http::field::content_type, "application/json");
    res.body() = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    res.prepare_payload();
    return res;
}

} // namespace sceau::gateway
