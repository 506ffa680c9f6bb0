#pragma once

#include <cstdint>
#include <string>
#include <vector>

/// Plain rows of the store. Times are RFC 3339 UTC text with milliseconds, so that they
/// sort as text on every backend.
namespace sceau::storage {

struct sender_record {
    std::string id;
    std::string name;
    std::string email;
    std::string company;
    std::string identified_by; ///< how the operator identified the sender
    std::string created_at;
    std::string revoked_at; ///< empty while the key is valid
};

struct document_record {
    int position = 0;
    std::string name; ///< sanitised display name, never a path
    std::string media_type;
    std::int64_t size = 0;
    std::string sha256; ///< lower-case hex
    std::string flags;  ///< comma-separated, e.g. "javascript"
    bool stored = true; ///< false when only the digest is kept (refused deposit)
};

struct evidence_record {
    std::string id;
    std::string letter_id;
    std::string event; ///< EN 319 522 event name, e.g. SubmissionAcceptance
    std::string event_time;
    std::string created_at;
    std::string xml; ///< exactly the sealed bytes
};

struct letter_record {
    std::string id;
    std::string sender_id;
    std::string kind;
    std::string status;
    std::string created_at;
    std::string reference;
    std::string subject;
    std::string recipient_json;
    std::string consent_reference;
    std::string accept_deadline; ///< empty until notified
    bool qualified = false;
    std::vector<document_record> documents;
    std::vector<evidence_record> evidence; ///< without xml when listed
};

struct idempotency_record {
    std::string sender_id;
    std::string key;
    std::string fingerprint; ///< protocols::request_fingerprint() of the first request
    std::string letter_id;
};

struct blob_record {
    std::string sha256;
    std::int64_t size = 0;
};

} // namespace sceau::storage
