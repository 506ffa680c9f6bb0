#pragma once

#include "crypto/certificate.hpp"
#include "crypto/timestamp.hpp"
#include "protocols/identification.hpp"
#include "protocols/matching.hpp"
#include "storage/database.hpp"

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sceau::protocols::saml {

/// The identification method recorded for an eIDAS SAML identification.
inline constexpr std::string_view identification_method = "urn:sceau:identification:eidas-saml";

/// The eIDAS node as its SAML metadata describes it (SAML metadata section 2.4.3).
struct node_metadata {
    std::string entity_id;
    std::string sso_redirect_url; ///< SingleSignOnService, HTTP-Redirect binding
    std::string sso_post_url;     ///< SingleSignOnService, HTTP-POST binding
    std::vector<crypto::x509_ptr> signing_certificates; ///< KeyDescriptor use="signing" or none
};

/// Reads the node's EntityDescriptor (alone, or the one named `entity_id` in an
/// EntitiesDescriptor) with an IDPSSODescriptor. When `metadata_signers` is not empty,
/// the metadata must carry an enveloped signature by one of them. Throws
/// std::invalid_argument saying what is missing or wrong.
node_metadata read_node_metadata(std::string_view xml, std::string_view entity_id = {},
                                 const std::vector<crypto::x509_ptr>& metadata_signers = {});

/// The node described without metadata: its entity ID, its HTTP-Redirect single sign-on
/// URL and its signing certificate(s) as PEM. Throws std::invalid_argument.
node_metadata node_from_pem(std::string entity_id, std::string sso_redirect_url,
                            std::string_view certificates_pem);

/// What the gateway configures for Sceau as a service provider of one eIDAS node.
struct sp_config {
    std::string entity_id;                       ///< this SP, usually the URL of its metadata
    std::string acs_url;                         ///< https://HOST/auth/saml/acs, HTTP-POST binding
    std::string provider_name = "Sceau";         ///< shown by the node to the person
    std::string sp_type = "private";             ///< eidas:SPType: "public" or "private"
    node_metadata node;                          ///< trust comes from here and nowhere else
    crypto::signer_identity signer;              ///< signs AuthnRequests and the SP metadata
    std::chrono::seconds clock_skew{60};         ///< tolerated on every time condition
    std::size_t max_response_bytes = 256 * 1024; ///< base64 SAMLResponse as received
};

/// Remembers the assertions already consumed, until they expire.
class replay_cache {
public:
    virtual ~replay_cache() = default;

    /// Records `issuer` + `assertion_id` and returns true, or returns false when it was
    /// already recorded and has not expired. Must be atomic: of two concurrent calls
    /// with the same ID, one only returns true. A shared store (one per gateway cluster)
    /// implements it with an insert that fails on a duplicate key.
    virtual bool first_use(const std::string& issuer, const std::string& assertion_id,
                           std::chrono::system_clock::time_point keep_until) = 0;
};

/// The replay cache in the gateway's store, shared by every instance on it: an answer
/// consumed by one instance is a replay for all. Only answers whose signature held get
/// here, so the store grows with genuine traffic alone, and expired IDs are dropped.
class stored_replay_cache final : public replay_cache {
public:
    stored_replay_cache(storage::database& db, crypto::clock_fn clock);

    bool first_use(const std::string& issuer, const std::string& assertion_id,
                   std::chrono::system_clock::time_point keep_until) override;

private:
    storage::database& db_;
    crypto::clock_fn clock_;
};

/// Why a response was refused. The names are stable: logs, metrics and pages use them.
enum class refusal {
    malformed_message,            ///< not base64, empty or over the size limit
    malformed_xml,                ///< not well-formed XML
    doctype_forbidden,            ///< a DOCTYPE: no DTD and no entity, ever
    not_a_response,               ///< the root is not a SAML 2.0 samlp:Response
    forbidden_content,            ///< encrypted data, RetrievalMethod, ds:Object, XSLT, XPath...
    duplicate_id,                 ///< two nodes carry the same ID
    assertion_count,              ///< not exactly one Assertion in the whole document
    assertion_misplaced,          ///< the Assertion is not a child of the Response
    signature_missing,            ///< neither the Response nor the Assertion is signed
    signature_malformed,          ///< a signature not of the SAML shape (e.g. two on one element)
    signature_algorithm_refused,  ///< SHA-1 or any algorithm off the allow list
    signature_transform_refused,  ///< XPath, XSLT or any transform off the allow list
    signature_reference_mismatch, ///< the reference is not "#" + the signed element's ID
    signature_invalid,            ///< does not verify with the node's configured keys
    status_not_success,           ///< the node answered with an error status
    issuer_mismatch,              ///< not the configured node
    destination_mismatch,         ///< Response Destination is not our ACS
    recipient_mismatch,           ///< SubjectConfirmationData Recipient is not our ACS
    in_response_to_mismatch,      ///< not the answer to the request we sent
    audience_mismatch,            ///< the assertion is not for this SP
    subject_confirmation_invalid, ///< no single bearer confirmation with its data
    condition_unsupported,        ///< a condition this SP does not understand
    malformed_time,               ///< a time that is not an xsd:dateTime in UTC
    not_yet_valid,                ///< NotBefore in the future, beyond the skew
    expired,                      ///< NotOnOrAfter past, beyond the skew
    loa_unknown,                  ///< an AuthnContextClassRef that is not an eIDAS level
    loa_too_low,                  ///< a lower level than the one required
    attribute_missing,            ///< a mandatory eIDAS attribute is absent
    attribute_malformed,          ///< a value that is not plain text, repeated, or badly formed
    replayed,                     ///< this assertion was consumed before
};

std::string_view to_string(refusal r) noexcept;

/// One reason a response was refused, with a message for the operator's log. Messages
/// may quote the response; they never carry keys.
struct finding {
    refusal reason;
    std::string message;
};

/// The person the node vouched for, read only from the Assertion whose signature (or
/// whose Response's signature) was verified.
struct verified_identity {
    std::string person_identifier;
    std::string family_name;
    std::string given_names;
    std::string birth_date;              ///< YYYY-MM-DD
    std::string legal_person_identifier; ///< empty unless a legal person was asserted
    std::string legal_name;
    std::string loa;    ///< the eIDAS level URI the node returned
    std::string issuer; ///< the node's entity ID
    std::chrono::system_clock::time_point authn_instant;
    std::string assertion_id;
    std::chrono::system_clock::time_point not_on_or_after;       ///< of the assertion's conditions
    std::vector<std::pair<std::string, std::string>> attributes; ///< every value read, by URI

    /// As the acceptance or refusal evidence records it.
    identification to_identification() const;

    /// As match_person() compares it with the person the sender named.
    person_claim to_person_claim() const;
};

/// The verdict on one SAMLResponse: an identity, or the findings that refuse it.
struct verification {
    std::optional<verified_identity> identity;
    std::vector<finding> findings; ///< empty exactly when identity is set

    explicit operator bool() const noexcept { return identity.has_value(); }
    refusal reason() const;      ///< the first finding; std::logic_error when accepted
    std::string message() const; ///< every finding, joined
};

/// An AuthnRequest ready to be sent.
struct authn_request {
    std::string id; ///< keep it with the session: the answer's InResponseTo
    std::string issue_instant;
    std::string xml;          ///< unsigned, as deflated into the redirect
    std::string redirect_url; ///< HTTP-Redirect binding with SigAlg and Signature
    std::string signed_xml;   ///< enveloped-signed, for a node that needs HTTP-POST
};

/// Sceau as a SAML service provider of an eIDAS node. Thread-safe once built.
class service_provider {
public:
    /// Throws std::invalid_argument when the configuration cannot work (no node key, no
    /// ACS, no SSO URL for the redirect binding...).
    service_provider(sp_config config, replay_cache& replays, crypto::clock_fn clock = {});

    /// A fresh AuthnRequest asking for at least `required_loa` (RequestedAuthnContext,
    /// Comparison="minimum") and the natural person's minimum data set, plus the legal
    /// person's when `legal_person` is set. `relay_state` is at most 80 bytes (SAML
    /// bindings section 3.4.3). The redirect URL carries the request signed over the
    /// query string (SAML bindings section 3.4.4.1), so that no JavaScript is needed.
    authn_request make_authn_request(std::string_view required_loa, std::string_view relay_state,
                                     bool legal_person = false) const;

    /// This SP's metadata, signed: entity ID, signing key, ACS (HTTP-POST), SPType.
    std::string metadata() const;

    /// Verifies a base64 SAMLResponse as posted to the ACS (HTTP-POST binding) for the
    /// request `expected_in_response_to`, requiring `required_loa`. Checks, in order:
    /// size, XML (no DOCTYPE), shape (one Assertion, unique IDs, nothing encrypted or
    /// indirect), signatures with the node's keys, status, issuer, destination,
    /// InResponseTo, subject confirmation, audience, times, level, attributes, then
    /// records the assertion ID against replays.
    verification verify_response(std::string_view saml_response,
                                 std::string_view expected_in_response_to,
                                 std::string_view required_loa);

    /// The largest HTTP-POST binding form (SAML bindings section 3.5.4) that can carry a
    /// SAMLResponse of `max_response_bytes`: the response and a RelayState of 80 bytes with
    /// every byte percent-encoded (three bytes each, a form's worst case), and the names.
    std::size_t max_form_bytes() const;

    const sp_config& config() const { return config_; }

private:
    sp_config config_;
    replay_cache& replays_;
    crypto::clock_fn clock_;
};

} // namespace sceau::protocols::saml
