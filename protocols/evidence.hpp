#pragma once

#include "crypto/xml.hpp"
#include "protocols/letter.hpp"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sceau::protocols {

/// URIs of ETSI EN 319 522 that evidence records use (attribute names: identification.hpp).
namespace uri {
inline constexpr std::string_view evidence_ns = "http://uri.etsi.org/19522/v1#";
inline constexpr std::string_view saml_ns = "urn:oasis:names:tc:SAML:2.0:assertion";
inline constexpr std::string_view event_prefix = "http://uri.etsi.org/19522/Event/";
inline constexpr std::string_view consent_mode =
    "http://uri.etsi.org/19522/v1#/consignment/consent";
/// Sceau's own extension elements inside ev:Extension.
inline constexpr std::string_view sceau_ns = "urn:sceau:evidence:1";
inline constexpr std::string_view sha256 = "http://www.w3.org/2001/04/xmlenc#sha256";
} // namespace uri

/// Evidence events of EN 319 522-2 that Sceau issues.
namespace event {
inline constexpr std::string_view submission_acceptance = "SubmissionAcceptance";
inline constexpr std::string_view submission_rejection = "SubmissionRejection";
inline constexpr std::string_view notification = "NotificationForAcceptance";
inline constexpr std::string_view notification_failure = "NotificationForAcceptanceFailure";
inline constexpr std::string_view acceptance = "ConsignmentAcceptance";
inline constexpr std::string_view rejection = "ConsignmentRejection";
inline constexpr std::string_view expiry = "AcceptanceRejectionExpiry";
inline constexpr std::string_view handover = "ContentHandover";
} // namespace event

/// Who a record names: identity attributes (name URI, value), an e-mail address, and
/// optionally how that party was authenticated.
struct party {
    std::vector<std::pair<std::string, std::string>> attributes; ///< as the sender named them
    /// As an identity provider asserted them on identification, each marked with
    /// sc:AssertedBy so that a reader never takes them for the sender's naming.
    std::vector<std::pair<std::string, std::string>> asserted_attributes;
    std::string asserted_by; ///< the identity provider (entity ID, issuer, mail domain)
    std::string email;
    std::string assurance_level;       ///< URI; empty when unknown
    std::string assurance_policy;      ///< free text describing how the level was reached
    std::string authentication_method; ///< URI
    std::string authentication_time;   ///< xsd:dateTime
};

struct evidence_part {
    std::string identifier; ///< position and sanitised name
    std::string content_type;
    std::string sha256_hex;
};

/// Everything a record says, before it is sealed.
struct evidence_draft {
    std::string id;    ///< evd_...
    std::string event; ///< an event:: name
    std::vector<policy_violation> reasons;
    std::vector<std::string> policies; ///< EvidenceIssuerPolicyID values
    party issuer;
    party sender;
    party recipient;
    std::string letter_id; ///< MessageIdentifier
    std::vector<evidence_part> parts;
    bool qualified = false;
    std::string consent_reference;
    std::vector<std::pair<std::string, std::string>> part_flags; ///< (identifier, flag)
};

/// The text whose SHA-256 the event time-stamp covers: it binds the record's id, event,
/// letter and document digests. Documented in docs/evidence-profile.md so that anyone
/// can recompute it from a record.
std::string event_imprint_text(const evidence_draft& draft);

/// What a verifier reads back from a sealed record (parsed with crypto::parse_xml).
struct evidence_view {
    std::string id;         ///< EvidenceIdentifier
    std::string event;      ///< the event name, e.g. SubmissionAcceptance
    std::string event_uri;  ///< ERDSEventId
    std::string event_time; ///< EventTime
    std::string letter_id;  ///< MessageIdentifier
    std::vector<evidence_part> parts;
    std::vector<std::uint8_t> event_timestamp; ///< the EventTimeStamp token, DER
};

/// Reads a record's fields. Throws crypto::error(xml_malformed) naming what is missing or
/// not as the profile says.
evidence_view read_evidence(xmlDoc* doc);

/// The event imprint text of a record read back (see event_imprint_text()).
std::string event_imprint_text(const evidence_view& record);

/// Builds the EN 319 522-3 Evidence element, without signature. `event_time` is the
/// genTime of `event_timestamp_der`, the token over event_imprint_text().
crypto::xml_doc_ptr build_evidence(const evidence_draft& draft, const std::string& event_time,
                                   const std::vector<std::uint8_t>& event_timestamp_der);

/// The party of a recipient as named by the sender.
party recipient_party(const recipient& r);

} // namespace sceau::protocols
