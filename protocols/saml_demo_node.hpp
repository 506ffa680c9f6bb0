#pragma once

#include "crypto/certificate.hpp"
#include "crypto/timestamp.hpp"

#include <chrono>
#include <string>
#include <string_view>

namespace sceau::protocols::saml {

/// A person as the demo node vouches for them: whoever the demo user says they are.
struct demo_person {
    std::string family_name;
    std::string given_names;
    std::string birth_date;        ///< YYYY-MM-DD
    std::string person_identifier; ///< empty: one derived from the three above
    std::string legal_name;        ///< with legal_person_identifier, or neither
    std::string legal_person_identifier;
};

/// What the demo node read from an AuthnRequest.
struct demo_request {
    std::string id;            ///< what the answer's InResponseTo names
    std::string level;         ///< the minimum level asked for (an eIDAS level URI)
    bool legal_person = false; ///< the legal person's attributes were asked for
};

/// A demonstration eIDAS node, so that a whole LRE can be shown without a real one. It
/// answers the gateway's own service provider only, and vouches for any identity at any
/// level it is told: it proves nothing, and is for the sample keys only. Its answers are
/// genuine SAML 2.0 Responses, the Response and its Assertion each signed with an
/// enveloped signature by the crypto layer, so that the service provider checks them as
/// it checks a real node's, trusting the key from this node's metadata alone.
class demo_node {
public:
    struct options {
        std::string entity_id;              ///< this node's, by convention the URL of its metadata
        std::string sso_url;                ///< its single sign-on service (HTTP-Redirect binding)
        std::string sp_entity_id;           ///< the one service provider it answers
        std::string sp_acs_url;             ///< where that service provider takes answers
        std::chrono::seconds lifetime{300}; ///< of an answer, from its issue
    };

    /// Throws std::invalid_argument when an URL or the key is missing.
    demo_node(options o, crypto::signer_identity signer, crypto::clock_fn clock = {});

    /// The node's SAML metadata: IDPSSODescriptor, its signing certificate, the SSO URL.
    std::string metadata() const;

    /// Reads `SAMLRequest` as the HTTP-Redirect binding carries it (raw DEFLATE, base64;
    /// SAML bindings section 3.4.4.1): an AuthnRequest of the registered service provider
    /// for its registered ACS. Throws std::invalid_argument saying what is wrong. The
    /// query signature is not checked: the demo node vouches for anyone anyway.
    demo_request read_request(std::string_view saml_request) const;

    /// The Response to `request` for `who` authenticated at `level`, base64 as the
    /// HTTP-POST binding sends it to sp_acs_url. Throws std::invalid_argument for a level
    /// that is not an eIDAS one, or a person without names or with a malformed birth date.
    std::string respond(const demo_request& request, const demo_person& who,
                        std::string_view level) const;

    const options& settings() const { return options_; }

private:
    options options_;
    crypto::signer_identity signer_;
    crypto::clock_fn clock_;
};

} // namespace sceau::protocols::saml
