#pragma once

#include <array>
#include <cstdint>
#include <optional>
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
    std::string revoked_at;     ///< empty while the key is valid
    std::string webhook_url;    ///< empty: no webhook
    std::string webhook_secret; ///< HMAC key of the webhook signatures
};

struct document_record {
    int position = 0;
    std::string name; ///< sanitised display name, never a path
    std::string media_type;
    std::int64_t size = 0;
    std::string sha256;    ///< lower-case hex
    std::string flags;     ///< comma-separated, e.g. "javascript"
    bool stored = true;    ///< false when only the digest is kept (refused deposit)
    std::string purged_at; ///< when retention removed the bytes; empty while kept
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
    std::string notified_at;
    std::string decided_at;     ///< accepted, refused or expired
    std::string handed_over_at; ///< first download of the content
    std::vector<document_record> documents;
    std::vector<evidence_record> evidence; ///< without xml when listed
};

struct idempotency_record {
    std::string sender_id;
    std::string key;
    std::string fingerprint; ///< protocols::request_fingerprint() of the first request
    std::string letter_id;
};

/// A mail to a recipient in the durable queue.
struct mail_job {
    std::string id;
    std::string letter_id;
    std::string purpose; ///< "notice" or "reminder-N"
    std::string state;   ///< pending, sent, failed, cancelled
    int attempts = 0;
    std::string next_attempt_at;
    std::string last_error;
    std::string created_at;
};

/// A recipient's browser session on the pages of one letter.
struct recipient_session {
    std::string id_hash;
    std::string letter_id;
    std::string csrf;
    std::string created_at;
    std::string expires_at;
    std::string code_hash; ///< the pending one-time code, hashed
    std::string code_expires_at;
    int code_attempts = 0;
    int codes_sent = 0;
    std::string identified_method; ///< empty until identified
    std::string identified_loa;
    std::string identified_by; ///< the identity provider or mail system
    std::string identified_at;
    std::string identity; ///< JSON of the asserted attributes
};

/// An identification begun at an identity provider, waiting for its answer. The answer
/// comes back from another site, without the session's cookie: this row ties it to the
/// session. Taken once.
struct identification_request {
    std::string id;           ///< what comes back: the SAML request ID or the OIDC state
    std::string session_hash; ///< the recipient session that began it
    std::string letter_id;
    std::string method;       ///< e.g. "saml", "oidc"
    std::string secrets;      ///< kept server-side only (OIDC nonce, PKCE verifier), JSON
    std::string required_loa; ///< the level asked for
    std::string created_at;
    std::string expires_at;
};

/// An identification that did not open the letter (`no-match`, `review`), kept so that
/// a person can look at it; never shown to the recipient.
struct identification_attempt {
    std::string id;
    std::string letter_id;
    std::string method;
    std::string provider;
    std::string outcome;  ///< no-match or review
    std::string asserted; ///< JSON of the asserted attributes
    std::string at;
};

/// An evidence event waiting for, or delivered to, a sender's webhook.
struct webhook_delivery {
    std::string id;
    std::string sender_id;
    std::string letter_id;
    std::string evidence_id;
    std::string payload;
    std::string state; ///< pending, delivered, failed
    int attempts = 0;
    std::string next_attempt_at;
    int last_status = 0;
    std::string last_error;
    std::string created_at;
    std::string delivered_at;
};

/// One use of a share link.
struct share_access {
    std::string id; ///< acc_...
    std::string at;
    std::string outcome; ///< served, expired, revoked, failed
    std::string client;  ///< the User-Agent, shortened
};

/// A read-only link to a letter's proof bundle, given by its sender to a lawyer. Only the
/// hash of its token is stored.
struct share_record {
    std::string id; ///< shr_...
    std::string letter_id;
    std::string sender_id; ///< the letter's
    std::string label;
    bool documents = true; ///< whether the bundle carries the documents
    std::string created_at;
    std::string expires_at;
    std::string revoked_at; ///< empty while valid
    std::vector<share_access> accesses;
};

/// A stored document whose retention has ended.
struct purge_candidate {
    std::string letter_id;
    int position = 0;
    std::string sha256;
};

/// A SHA-256 hash of the transparency log's tree: a leaf or a subtree.
using log_hash = std::array<std::uint8_t, 32>;

/// One leaf of the transparency log: an evidence record, at the next index when stored.
struct log_entry {
    std::int64_t leaf_index = 0;
    std::string evidence_id;
    log_hash leaf_hash{}; ///< SHA-256(0x00 || the sealed XML bytes)
};

/// A leaf with the evidence record it logs, xml included: what an auditor re-hashes.
struct log_record {
    log_entry entry;
    evidence_record evidence;
};

/// An inclusion proof (RFC 9162 section 2.1.3.1) as read from the stored subtrees.
struct inclusion_proof {
    std::int64_t leaf_index = 0;
    std::int64_t tree_size = 0;
    log_hash leaf_hash{};
    std::vector<log_hash> path; ///< lowest level first
    int rows_read = 0;          ///< rows of the store read for the path
};

/// A consistency proof (RFC 9162 section 2.1.4.1) as read from the stored subtrees.
struct consistency_proof {
    std::int64_t first = 0;
    std::int64_t second = 0;
    std::vector<log_hash> path;
    int rows_read = 0;
};

/// What an operator watches of the store: counts read from indexes, for `/metrics`.
struct operational_figures {
    std::vector<std::pair<std::string, std::int64_t>> letters_by_status;
    std::int64_t letters_overdue = 0; ///< still notified past their deadline
    std::int64_t mail_pending = 0, mail_due = 0;
    std::int64_t webhooks_pending = 0, webhooks_due = 0;
    std::int64_t log_entries = 0;
    std::int64_t checkpoint_tree_size = 0; ///< 0: no checkpoint yet
    std::string checkpoint_stamped_at;     ///< RFC 3339; empty: no checkpoint yet
};

/// A signed, time-stamped checkpoint of the log (docs/audit.md).
struct checkpoint_record {
    std::int64_t tree_size = 0;
    log_hash root_hash{};
    std::string note;            ///< the C2SP signed note, exactly as signed and served
    std::string timestamp_token; ///< RFC 3161 TimeStampToken over SHA-256(note), base64 DER
    std::string stamped_at;      ///< the token's genTime, RFC 3339
    std::string created_at;
};

/// A leaf of the log as an audit reads it, with its record if the archive still has one.
struct audited_entry {
    log_entry entry;
    std::optional<evidence_record> evidence; ///< empty: the log names a record that is gone
};

/// An auditor's account: an API key for the audit routes, nothing else.
struct auditor_record {
    std::string id;
    std::string name;
    std::string created_at;
    std::string revoked_at; ///< empty while the key is valid
};

struct blob_record {
    std::string sha256;
    std::int64_t size = 0;
};

} // namespace sceau::storage
