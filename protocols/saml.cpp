#include "protocols/saml.hpp"

#include "crypto/encoding.hpp"
#include "crypto/error.hpp"
#include "crypto/random.hpp"
#include "crypto/sha256.hpp"
#include "crypto/xml.hpp"
#include "crypto/xmldsig.hpp"
#include "protocols/saml_xml.hpp"
#include "protocols/text_rules.hpp"

#include <openssl/x509.h>

#include <algorithm>
#include <ctime>
#include <functional>
#include <set>
#include <stdexcept>
#include <zlib.h>

namespace sceau::protocols::saml {
namespace {

using time_point = std::chrono::system_clock::time_point;
using crypto::xml_string_ptr;
using namespace detail;

void walk(xmlNode* n, const std::function<void(xmlNode*)>& visit) {
    for (; n; n = n->next) {
        visit(n);
        if (n->type == XML_ELEMENT_NODE)
            walk(n->children, visit);
    }
}

/// Anything that would make a verifier decrypt, fetch, or run a transform language.
std::optional<std::string> forbidden_construct(xmlNode* n) {
    if (n->type != XML_ELEMENT_NODE)
        return std::nullopt;
    auto where = ns_of(n);
    auto name = std::string(text_of(n->name));
    if (where == ns::xenc || where == ns::xenc11)
        return "encrypted data (" + name + ")";
    if (where == ns::xslt || where == ns::dsig_filter2)
        return "a transform program (" + name + ")";
    if (where == ns::assertion && name.rfind("Encrypted", 0) == 0)
        return "an encrypted SAML element (" + name + ")";
    if (where == ns::protocol && name == "NewEncryptedID")
        return "an encrypted SAML element (" + name + ")";
    if (where == ns::dsig && (name == "RetrievalMethod" || name == "Object" || name == "Manifest" ||
                              name == "XPath" || name == "XSLT"))
        return "ds:" + name;
    return std::nullopt;
}

refusal from_signature_error(const crypto::error& e) {
    switch (static_cast<crypto::errc>(e.code().value())) {
    case crypto::errc::signature_missing:
        return refusal::signature_missing;
    case crypto::errc::signature_malformed:
        return refusal::signature_malformed;
    case crypto::errc::signature_algorithm_refused:
        return refusal::signature_algorithm_refused;
    case crypto::errc::signature_transform_refused:
        return refusal::signature_transform_refused;
    case crypto::errc::signature_reference_mismatch:
        return refusal::signature_reference_mismatch;
    default:
        return refusal::signature_invalid;
    }
}

verification refused(refusal reason, std::string message) {
    verification v;
    v.findings.push_back({reason, std::move(message)});
    return v;
}

using crypto::percent_encode;

/// Raw DEFLATE (RFC 1951) as the HTTP-Redirect binding wants it (SAML bindings 3.4.4.1).
std::string deflate_raw(std::string_view data) {
    z_stream z{};
    if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        throw std::runtime_error("deflate initialisation failed");
    std::string out(deflateBound(&z, static_cast<uLong>(data.size())), '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    z.avail_in = static_cast<uInt>(data.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    int rc = deflate(&z, Z_FINISH);
    out.resize(z.total_out);
    deflateEnd(&z);
    if (rc != Z_STREAM_END)
        throw std::runtime_error("deflate failed");
    return out;
}

std::string certificate_base64(X509* cert) {
    return crypto::to_base64(crypto::to_der(cert));
}

/// The refusals checked on the Assertion once its signature holds; every one is kept.
class assertion_checks {
public:
    assertion_checks(const sp_config& config, time_point now, std::string_view expected_irt)
        : config_(config)
        , now_(now)
        , expected_irt_(expected_irt) {}

    std::vector<finding> findings;

    void add(refusal r, std::string message) { findings.push_back({r, std::move(message)}); }

    /// A required time; nothing (and a finding) when absent or malformed.
    std::optional<time_point> time(xmlNode* n, const char* name, std::string_view where) {
        auto text = attr(n, name);
        if (!text) {
            add(refusal::malformed_time, std::string(where) + " has no " + name);
            return std::nullopt;
        }
        auto t = parse_time(*text);
        if (!t)
            add(refusal::malformed_time,
                std::string(where) + " " + name + " is not a UTC xsd:dateTime: " + *text);
        return t;
    }

    void not_before(xmlNode* n, std::string_view where) {
        if (!attr(n, "NotBefore"))
            return;
        if (auto t = time(n, "NotBefore", where); t && now_ + config_.clock_skew < *t)
            add(refusal::not_yet_valid,
                std::string(where) + " is not valid before " + *attr(n, "NotBefore"));
    }

    std::optional<time_point> not_on_or_after(xmlNode* n, std::string_view where) {
        auto t = time(n, "NotOnOrAfter", where);
        if (t && now_ - config_.clock_skew >= *t)
            add(refusal::expired, std::string(where) + " expired at " + *attr(n, "NotOnOrAfter"));
        return t;
    }

    void issued(xmlNode* n, std::string_view where) {
        if (auto t = time(n, "IssueInstant", where); t && now_ + config_.clock_skew < *t)
            add(refusal::not_yet_valid, std::string(where) + " is issued in the future");
    }

    void issuer(xmlNode* parent, bool required, std::string_view where) {
        auto issuers = children(parent, ns::assertion, "Issuer");
        if (issuers.empty() && !required)
            return;
        auto value = issuers.size() == 1 ? plain_text(issuers.front()) : std::nullopt;
        if (!value || *value != config_.node.entity_id)
            add(refusal::issuer_mismatch, std::string(where) + " issuer is not " +
                                              config_.node.entity_id +
                                              (value ? ": " + *value : std::string()));
    }

    void in_response_to(xmlNode* n, std::string_view where) {
        auto irt = attr(n, "InResponseTo");
        if (!irt || expected_irt_.empty() || *irt != expected_irt_)
            add(refusal::in_response_to_mismatch, std::string(where) + " answers " +
                                                      irt.value_or("no request") + ", not " +
                                                      std::string(expected_irt_));
    }

    /// SAML profiles section 4.1.4.2 and 4.1.4.3: one bearer confirmation for our ACS,
    /// our request, not expired, without NotBefore.
    void subject(xmlNode* assertion) {
        xmlNode* subject = only_child(assertion, ns::assertion, "Subject");
        std::vector<xmlNode*> bearers;
        for (xmlNode* c : children(subject, ns::assertion, "SubjectConfirmation")) {
            if (attr(c, "Method") == bearer)
                bearers.push_back(c);
        }
        xmlNode* data = bearers.size() == 1
                            ? only_child(bearers.front(), ns::assertion, "SubjectConfirmationData")
                            : nullptr;
        if (!data) {
            add(refusal::subject_confirmation_invalid,
                "the assertion needs exactly one bearer SubjectConfirmation with its data");
            return;
        }
        if (attr(data, "Recipient") != config_.acs_url)
            add(refusal::recipient_mismatch, "the subject confirmation is for " +
                                                 attr(data, "Recipient").value_or("no one") +
                                                 ", not " + config_.acs_url);
        in_response_to(data, "the subject confirmation");
        if (attr(data, "NotBefore"))
            add(refusal::subject_confirmation_invalid,
                "a bearer confirmation must not carry NotBefore");
        not_on_or_after(data, "the subject confirmation");
    }

    /// SAML core section 2.5: every AudienceRestriction names us; nothing unknown.
    std::optional<time_point> conditions(xmlNode* assertion) {
        xmlNode* conditions = only_child(assertion, ns::assertion, "Conditions");
        if (!conditions) {
            add(refusal::audience_mismatch, "the assertion has no Conditions");
            return std::nullopt;
        }
        not_before(conditions, "the assertion");
        auto until = not_on_or_after(conditions, "the assertion");

        int restrictions = 0;
        for (xmlNode* c = conditions->children; c; c = c->next) {
            if (c->type != XML_ELEMENT_NODE)
                continue;
            if (is(c, ns::assertion, "AudienceRestriction")) {
                ++restrictions;
                bool ours = false;
                for (xmlNode* a : children(c, ns::assertion, "Audience"))
                    ours = ours || plain_text(a) == config_.entity_id;
                if (!ours)
                    add(refusal::audience_mismatch,
                        "an audience restriction does not name " + config_.entity_id);
            } else if (!is(c, ns::assertion, "OneTimeUse") &&
                       !is(c, ns::assertion, "ProxyRestriction")) {
                add(refusal::condition_unsupported,
                    "unknown condition " + std::string(text_of(c->name)));
            }
        }
        if (restrictions == 0)
            add(refusal::audience_mismatch, "the assertion names no audience");
        return until;
    }

    struct authn {
        time_point instant{};
        std::string loa;
    };

    std::optional<authn> authn_statement(xmlNode* assertion, std::string_view required_loa) {
        xmlNode* statement = only_child(assertion, ns::assertion, "AuthnStatement");
        xmlNode* context = only_child(statement, ns::assertion, "AuthnContext");
        auto ref = plain_text(only_child(context, ns::assertion, "AuthnContextClassRef"));
        if (!statement || !ref) {
            add(refusal::loa_unknown, "the assertion needs one AuthnStatement with a level");
            return std::nullopt;
        }
        auto instant = time(statement, "AuthnInstant", "the authentication");
        if (instant && now_ + config_.clock_skew < *instant)
            add(refusal::not_yet_valid, "the authentication is dated in the future");
        if (loa::rank(*ref) == 0) {
            add(refusal::loa_unknown, "unknown level of assurance " + *ref);
            return std::nullopt;
        }
        if (loa::rank(required_loa) == 0 || !level_satisfies(*ref, required_loa)) {
            add(refusal::loa_too_low,
                "level " + *ref + " is below the required " + std::string(required_loa));
            return std::nullopt;
        }
        if (!instant)
            return std::nullopt;
        return authn{*instant, *ref};
    }

    /// The eIDAS attributes of the assertion's own AttributeStatements, one plain-text
    /// value each.
    void attributes(xmlNode* assertion, verified_identity& id) {
        std::map<std::string, std::string*> wanted{
            {std::string(attribute::person_identifier), &id.person_identifier},
            {std::string(attribute::family_name), &id.family_name},
            {std::string(attribute::given_name), &id.given_names},
            {std::string(attribute::birth_date), &id.birth_date},
            {std::string(attribute::legal_person_identifier), &id.legal_person_identifier},
            {std::string(attribute::legal_name), &id.legal_name},
        };
        std::set<std::string> seen;
        for (xmlNode* statement : children(assertion, ns::assertion, "AttributeStatement")) {
            for (xmlNode* a : children(statement, ns::assertion, "Attribute")) {
                auto name = attr(a, "Name").value_or("");
                auto target = wanted.find(name);
                if (target == wanted.end())
                    continue;
                auto values = children(a, ns::assertion, "AttributeValue");
                auto value = values.size() == 1 ? plain_text(values.front()) : std::nullopt;
                if (!seen.insert(name).second || !value || value->empty()) {
                    add(refusal::attribute_malformed,
                        name + " must be given once, as one plain-text value");
                    continue;
                }
                if (auto fault = text_fault(*value)) { // it would be sealed and shown
                    add(refusal::attribute_malformed, name + " " + std::string(*fault));
                    continue;
                }
                *target->second = *value;
                id.attributes.emplace_back(name, *value);
            }
        }

        for (auto name : {attribute::person_identifier, attribute::family_name,
                          attribute::given_name, attribute::birth_date}) {
            if (!seen.count(std::string(name)))
                add(refusal::attribute_missing, "the assertion lacks " + std::string(name));
        }
        bool legal_id = seen.count(std::string(attribute::legal_person_identifier)) > 0;
        bool legal_name = seen.count(std::string(attribute::legal_name)) > 0;
        if (legal_id != legal_name)
            add(refusal::attribute_missing,
                "a legal person needs both LegalPersonIdentifier and LegalName");
        if (!id.birth_date.empty() && !is_calendar_date(id.birth_date))
            add(refusal::attribute_malformed, "DateOfBirth is not a YYYY-MM-DD date");
    }

private:
    const sp_config& config_;
    time_point now_;
    std::string_view expected_irt_;
};

} // namespace

std::string_view to_string(refusal r) noexcept {
    switch (r) {
    case refusal::malformed_message:
        return "malformed_message";
    case refusal::malformed_xml:
        return "malformed_xml";
    case refusal::doctype_forbidden:
        return "doctype_forbidden";
    case refusal::not_a_response:
        return "not_a_response";
    case refusal::forbidden_content:
        return "forbidden_content";
    case refusal::duplicate_id:
        return "duplicate_id";
    case refusal::assertion_count:
        return "assertion_count";
    case refusal::assertion_misplaced:
        return "assertion_misplaced";
    case refusal::signature_missing:
        return "signature_missing";
    case refusal::signature_malformed:
        return "signature_malformed";
    case refusal::signature_algorithm_refused:
        return "signature_algorithm_refused";
    case refusal::signature_transform_refused:
        return "signature_transform_refused";
    case refusal::signature_reference_mismatch:
        return "signature_reference_mismatch";
    case refusal::signature_invalid:
        return "signature_invalid";
    case refusal::status_not_success:
        return "status_not_success";
    case refusal::issuer_mismatch:
        return "issuer_mismatch";
    case refusal::destination_mismatch:
        return "destination_mismatch";
    case refusal::recipient_mismatch:
        return "recipient_mismatch";
    case refusal::in_response_to_mismatch:
        return "in_response_to_mismatch";
    case refusal::audience_mismatch:
        return "audience_mismatch";
    case refusal::subject_confirmation_invalid:
        return "subject_confirmation_invalid";
    case refusal::condition_unsupported:
        return "condition_unsupported";
    case refusal::malformed_time:
        return "malformed_time";
    case refusal::not_yet_valid:
        return "not_yet_valid";
    case refusal::expired:
        return "expired";
    case refusal::loa_unknown:
        return "loa_unknown";
    case refusal::loa_too_low:
        return "loa_too_low";
    case refusal::attribute_missing:
        return "attribute_missing";
    case refusal::attribute_malformed:
        return "attribute_malformed";
    case refusal::replayed:
        return "replayed";
    }
    return "unknown";
}

refusal verification::reason() const {
    if (findings.empty())
        throw std::logic_error("an accepted response has no refusal reason");
    return findings.front().reason;
}

std::string verification::message() const {
    std::string out;
    for (const auto& f : findings) {
        if (!out.empty())
            out += "; ";
        out += std::string(to_string(f.reason)) + ": " + f.message;
    }
    return out;
}

identification verified_identity::to_identification() const {
    identification who;
    who.method = std::string(identification_method);
    who.level = loa;
    who.provider = issuer;
    who.time = crypto::format_utc(authn_instant);
    who.attributes = attributes;
    return who;
}

person_claim verified_identity::to_person_claim() const {
    return {family_name, given_names, birth_date, person_identifier};
}

stored_replay_cache::stored_replay_cache(storage::database& db, crypto::clock_fn clock)
    : db_(db)
    , clock_(clock ? std::move(clock) : crypto::clock_fn(std::chrono::system_clock::now)) {}

bool stored_replay_cache::first_use(const std::string& issuer, const std::string& assertion_id,
                                    time_point keep_until) {
    // The length prefix keeps ("ab", "c") and ("a", "bc") apart; the hash bounds the key.
    auto key = crypto::to_hex(
        crypto::sha256::of(std::to_string(issuer.size()) + ":" + issuer + assertion_id));
    return db_.first_use(key, crypto::format_utc(keep_until), crypto::format_utc(clock_()));
}

node_metadata read_node_metadata(std::string_view xml, std::string_view entity_id,
                                 const std::vector<crypto::x509_ptr>& metadata_signers) {
    crypto::xml_doc_ptr doc;
    try {
        doc = crypto::parse_xml(xml);
    } catch (const crypto::error& e) {
        throw std::invalid_argument(std::string("node metadata: ") + e.what());
    }
    xmlNode* root = xmlDocGetRootElement(doc.get());
    if (!metadata_signers.empty()) {
        try {
            crypto::verify_enveloped_signature(doc.get(), root, "ID", metadata_signers);
        } catch (const crypto::error& e) {
            throw std::invalid_argument(std::string("node metadata signature: ") + e.what());
        }
    }

    xmlNode* entity = nullptr;
    if (is(root, ns::metadata, "EntityDescriptor")) {
        entity = root;
    } else if (is(root, ns::metadata, "EntitiesDescriptor")) {
        for (xmlNode* e : children(root, ns::metadata, "EntityDescriptor")) {
            if (attr(e, "entityID") == entity_id)
                entity = e;
        }
    }
    if (!entity)
        throw std::invalid_argument("node metadata: no EntityDescriptor for the node");

    node_metadata out;
    out.entity_id = attr(entity, "entityID").value_or("");
    if (out.entity_id.empty() || (!entity_id.empty() && out.entity_id != entity_id))
        throw std::invalid_argument("node metadata: the entity ID is not " +
                                    std::string(entity_id));
    xmlNode* idp = only_child(entity, ns::metadata, "IDPSSODescriptor");
    if (!idp)
        throw std::invalid_argument("node metadata: no IDPSSODescriptor");

    for (xmlNode* kd : children(idp, ns::metadata, "KeyDescriptor")) {
        auto use = attr(kd, "use");
        if (use && *use != "signing")
            continue;
        for (xmlNode* data : children(only_child(kd, ns::dsig, "KeyInfo"), ns::dsig, "X509Data")) {
            for (xmlNode* c : children(data, ns::dsig, "X509Certificate")) {
                auto text = plain_text(c);
                crypto::bytes der;
                try {
                    der = crypto::from_base64(text.value_or(""));
                } catch (const crypto::error&) {
                    throw std::invalid_argument("node metadata: a certificate is not base64");
                }
                const unsigned char* p = der.data();
                crypto::x509_ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
                if (!cert || p != der.data() + der.size())
                    throw std::invalid_argument("node metadata: a certificate is not DER");
                out.signing_certificates.push_back(std::move(cert));
            }
        }
    }
    for (xmlNode* sso : children(idp, ns::metadata, "SingleSignOnService")) {
        auto binding = attr(sso, "Binding");
        if (binding == binding_redirect)
            out.sso_redirect_url = attr(sso, "Location").value_or("");
        else if (binding == binding_post)
            out.sso_post_url = attr(sso, "Location").value_or("");
    }
    if (out.signing_certificates.empty())
        throw std::invalid_argument("node metadata: no signing certificate");
    return out;
}

node_metadata node_from_pem(std::string entity_id, std::string sso_redirect_url,
                            std::string_view certificates_pem) {
    node_metadata out;
    out.entity_id = std::move(entity_id);
    out.sso_redirect_url = std::move(sso_redirect_url);
    try {
        out.signing_certificates = crypto::certificates_from_pem(certificates_pem);
    } catch (const crypto::error& e) {
        throw std::invalid_argument(std::string("node certificate: ") + e.what());
    }
    if (out.entity_id.empty() || out.sso_redirect_url.empty())
        throw std::invalid_argument("node: the entity ID and single sign-on URL are required");
    return out;
}

service_provider::service_provider(sp_config config, replay_cache& replays, crypto::clock_fn clock)
    : config_(std::move(config))
    , replays_(replays)
    , clock_(clock ? std::move(clock) : crypto::clock_fn(std::chrono::system_clock::now)) {
    crypto::xml_library_init();
    if (config_.entity_id.empty() || config_.acs_url.empty())
        throw std::invalid_argument("SAML: the SP entity ID and ACS URL are required");
    if (config_.node.entity_id.empty() || config_.node.signing_certificates.empty())
        throw std::invalid_argument(
            "SAML: the node's entity ID and signing certificate are required");
    if (config_.node.sso_redirect_url.empty() && config_.node.sso_post_url.empty())
        throw std::invalid_argument("SAML: the node's single sign-on URL is required");
    if (!config_.signer.key || config_.signer.chain.empty())
        throw std::invalid_argument("SAML: the SP signing key and certificate are required");
    if (config_.sp_type != "public" && config_.sp_type != "private")
        throw std::invalid_argument("SAML: SPType is public or private");
    if (config_.clock_skew < std::chrono::seconds(0) ||
        config_.clock_skew > std::chrono::minutes(10))
        throw std::invalid_argument("SAML: the clock skew must be between 0 and 10 minutes");
}

std::size_t service_provider::max_form_bytes() const {
    return 3 * (config_.max_response_bytes + 80) +
           std::string_view("SAMLResponse=&RelayState=").size();
}

authn_request service_provider::make_authn_request(std::string_view required_loa,
                                                   std::string_view relay_state,
                                                   bool legal_person) const {
    if (loa::rank(required_loa) == 0)
        throw std::invalid_argument("SAML: unknown level of assurance " +
                                    std::string(required_loa));
    if (relay_state.size() > 80)
        throw std::invalid_argument("SAML: RelayState is limited to 80 bytes");

    authn_request out;
    out.id = crypto::random_id("_", 20);
    out.issue_instant = whole_seconds(clock_());

    // SAML core section 3.4.1 in schema order, with the eIDAS extensions (eIDAS SAML
    // message format: SPType, RequestedAttributes) and the level as minimum.
    auto build = [&](const std::string& destination) {
        crypto::xml_doc_ptr doc(xmlNewDoc(x("1.0")));
        xmlNode* root = xmlNewDocNode(doc.get(), nullptr, x("AuthnRequest"), nullptr);
        xmlDocSetRootElement(doc.get(), root);
        xmlNs* samlp = declare(root, ns::protocol, "samlp");
        xmlNs* saml = declare(root, ns::assertion, "saml");
        xmlNs* eidas = declare(root, ns::eidas, "eidas");
        xmlSetNs(root, samlp);
        crypto::set_attribute(root, "ID", out.id);
        crypto::set_attribute(root, "Version", "2.0");
        crypto::set_attribute(root, "IssueInstant", out.issue_instant);
        crypto::set_attribute(root, "Destination", destination);
        crypto::set_attribute(root, "ForceAuthn", "true");
        crypto::set_attribute(root, "IsPassive", "false");
        crypto::set_attribute(root, "ProtocolBinding", binding_post);
        crypto::set_attribute(root, "AssertionConsumerServiceURL", config_.acs_url);
        crypto::set_attribute(root, "ProviderName", config_.provider_name);

        xmlNode* issuer = crypto::add_text_element(root, saml, "Issuer", config_.entity_id);
        xmlNode* extensions = crypto::add_element(root, samlp, "Extensions");
        crypto::add_text_element(extensions, eidas, "SPType", config_.sp_type);
        xmlNode* requested = crypto::add_element(extensions, eidas, "RequestedAttributes");
        auto ask = [&](std::string_view name, bool required) {
            xmlNode* a = crypto::add_element(requested, eidas, "RequestedAttribute");
            crypto::set_attribute(a, "Name", name);
            crypto::set_attribute(a, "NameFormat", name_format_uri);
            crypto::set_attribute(a, "isRequired", required ? "true" : "false");
        };
        ask(attribute::person_identifier, true);
        ask(attribute::family_name, true);
        ask(attribute::given_name, true);
        ask(attribute::birth_date, true);
        // Asked for, not required: the natural person named by the sender is who must
        // match; a node that cannot vouch for a representation still identifies them.
        if (legal_person) {
            ask(attribute::legal_person_identifier, false);
            ask(attribute::legal_name, false);
        }

        xmlNode* policy = crypto::add_element(root, samlp, "NameIDPolicy");
        crypto::set_attribute(policy, "Format", persistent);
        crypto::set_attribute(policy, "AllowCreate", "true");
        xmlNode* context = crypto::add_element(root, samlp, "RequestedAuthnContext");
        crypto::set_attribute(context, "Comparison", "minimum");
        crypto::add_text_element(context, saml, "AuthnContextClassRef", required_loa);
        return std::make_pair(std::move(doc), issuer);
    };

    if (!config_.node.sso_redirect_url.empty()) {
        auto [doc, issuer] = build(config_.node.sso_redirect_url);
        out.xml = crypto::serialize(doc.get());

        // SAML bindings section 3.4.4.1: the signature covers the encoded query string
        // SAMLRequest=...&RelayState=...&SigAlg=..., in that order; the XML is unsigned.
        std::string query =
            "SAMLRequest=" +
            percent_encode(crypto::to_base64(crypto::as_bytes(deflate_raw(out.xml))));
        if (!relay_state.empty())
            query += "&RelayState=" + percent_encode(relay_state);
        query +=
            "&SigAlg=" + percent_encode(crypto::signature_method_for(config_.signer.key.get()));
        auto signature = crypto::sign_detached_bytes(config_.signer.key.get(), query);
        const auto& base = config_.node.sso_redirect_url;
        out.redirect_url = base + (base.find('?') == std::string::npos ? "?" : "&") + query +
                           "&Signature=" + percent_encode(crypto::to_base64(signature));
    }

    auto [doc, issuer] = build(config_.node.sso_post_url.empty() ? config_.node.sso_redirect_url
                                                                 : config_.node.sso_post_url);
    if (out.xml.empty())
        out.xml = crypto::serialize(doc.get());
    // SAML core section 5.4.1 and the schema: the signature comes right after Issuer.
    crypto::sign_enveloped(doc.get(), xmlDocGetRootElement(doc.get()), "ID", issuer,
                           config_.signer);
    out.signed_xml = crypto::serialize(doc.get());
    return out;
}

std::string service_provider::metadata() const {
    crypto::xml_doc_ptr doc(xmlNewDoc(x("1.0")));
    xmlNode* root = xmlNewDocNode(doc.get(), nullptr, x("EntityDescriptor"), nullptr);
    xmlDocSetRootElement(doc.get(), root);
    xmlNs* md = declare(root, ns::metadata, "md");
    xmlNs* ds = declare(root, ns::dsig, "ds");
    xmlNs* eidas = declare(root, ns::eidas, "eidas");
    xmlSetNs(root, md);
    crypto::set_attribute(root, "ID", crypto::random_id("_", 20));
    crypto::set_attribute(root, "entityID", config_.entity_id);

    xmlNode* extensions = crypto::add_element(root, md, "Extensions");
    crypto::add_text_element(extensions, eidas, "SPType", config_.sp_type);

    // SAML metadata section 2.4.4: signed requests, signed assertions wanted, POST ACS.
    xmlNode* sp = crypto::add_element(root, md, "SPSSODescriptor");
    crypto::set_attribute(sp, "AuthnRequestsSigned", "true");
    crypto::set_attribute(sp, "WantAssertionsSigned", "true");
    crypto::set_attribute(sp, "protocolSupportEnumeration", ns::protocol);
    xmlNode* key = crypto::add_element(sp, md, "KeyDescriptor");
    crypto::set_attribute(key, "use", "signing");
    xmlNode* data = crypto::add_element(crypto::add_element(key, ds, "KeyInfo"), ds, "X509Data");
    crypto::add_text_element(data, ds, "X509Certificate",
                             certificate_base64(config_.signer.certificate()));
    crypto::add_text_element(sp, md, "NameIDFormat", persistent);
    xmlNode* acs = crypto::add_element(sp, md, "AssertionConsumerService");
    crypto::set_attribute(acs, "Binding", binding_post);
    crypto::set_attribute(acs, "Location", config_.acs_url);
    crypto::set_attribute(acs, "index", "0");
    crypto::set_attribute(acs, "isDefault", "true");

    crypto::sign_enveloped(doc.get(), root, "ID", nullptr, config_.signer);
    return crypto::serialize(doc.get());
}

verification service_provider::verify_response(std::string_view saml_response,
                                               std::string_view expected_in_response_to,
                                               std::string_view required_loa) {
    // 1. The message: bounded, base64, well-formed, no DOCTYPE (parse_xml stops at the
    //    DOCTYPE before any entity exists).
    if (saml_response.empty() || saml_response.size() > config_.max_response_bytes)
        return refused(refusal::malformed_message, "empty or over the size limit");
    crypto::bytes raw;
    try {
        raw = crypto::from_base64(saml_response);
    } catch (const crypto::error&) {
        return refused(refusal::malformed_message, "SAMLResponse is not base64");
    }
    crypto::xml_doc_ptr doc;
    try {
        doc = crypto::parse_xml(
            std::string_view(reinterpret_cast<const char*>(raw.data()), raw.size()));
    } catch (const crypto::error& e) {
        return refused(e.code() == crypto::errc::xml_forbidden_construct
                           ? refusal::doctype_forbidden
                           : refusal::malformed_xml,
                       e.what());
    }

    // 2. The shape, before anything is believed: a Response, nothing encrypted or
    //    indirect, no ID twice, one Assertion and it a child of the Response.
    xmlNode* response = xmlDocGetRootElement(doc.get());
    if (!is(response, ns::protocol, "Response") || attr(response, "Version") != "2.0")
        return refused(refusal::not_a_response, "the message is not a SAML 2.0 Response");

    std::optional<std::string> forbidden;
    std::set<std::string> ids;
    std::optional<std::string> duplicate;
    std::vector<xmlNode*> assertions;
    walk(response, [&](xmlNode* n) {
        if (n->type != XML_ELEMENT_NODE)
            return;
        if (!forbidden)
            forbidden = forbidden_construct(n);
        if (is(n, ns::assertion, "Assertion"))
            assertions.push_back(n);
        for (xmlAttr* a = n->properties; a; a = a->next) {
            auto name = text_of(a->name);
            bool id_like = a->ns ? text_of(a->ns->href) == ns::xml && name == "id"
                                 : name == "ID" || name == "Id" || name == "id";
            if (!id_like)
                continue;
            xml_string_ptr value(xmlNodeListGetString(doc.get(), a->children, 1));
            if (!ids.insert(std::string(text_of(value.get()))).second && !duplicate)
                duplicate = std::string(text_of(value.get()));
        }
    });
    if (forbidden)
        return refused(refusal::forbidden_content, *forbidden + " is not accepted");
    if (duplicate)
        return refused(refusal::duplicate_id, "the ID " + *duplicate + " is used twice");
    if (assertions.size() > 1)
        return refused(refusal::assertion_count,
                       std::to_string(assertions.size()) + " assertions: exactly one is accepted");
    xmlNode* assertion = assertions.empty() ? nullptr : assertions.front();
    if (assertion && assertion->parent != response)
        return refused(refusal::assertion_misplaced,
                       "the assertion is not a child of the Response");

    // 3. Signatures, where SAML puts them and nowhere else, with the node's keys only.
    //    Each signature present must hold; together they must cover the Assertion, which
    //    they do: it is the Response's child, or signed itself.
    bool response_signed = !children(response, ns::dsig, "Signature").empty();
    bool assertion_signed = assertion && !children(assertion, ns::dsig, "Signature").empty();
    if (!response_signed && !assertion_signed)
        return refused(refusal::signature_missing,
                       "neither the Response nor the Assertion is signed");
    for (auto [signed_element, what] :
         {std::pair{response_signed ? response : nullptr, "Response"},
          std::pair{assertion_signed ? assertion : nullptr, "Assertion"}}) {
        if (!signed_element)
            continue;
        try {
            crypto::verify_enveloped_signature(doc.get(), signed_element, "ID",
                                               config_.node.signing_certificates);
        } catch (const crypto::error& e) {
            return refused(from_signature_error(e), std::string(what) + ": " + e.what());
        }
    }

    // 4. The node's answer. An error, signed or not, is a failure (SAML core 3.2.2.2).
    xmlNode* status = only_child(response, ns::protocol, "Status");
    xmlNode* code = only_child(status, ns::protocol, "StatusCode");
    if (attr(code, "Value") != status_success) {
        std::string detail = attr(code, "Value").value_or("no status");
        if (auto second = attr(only_child(code, ns::protocol, "StatusCode"), "Value"))
            detail += " / " + *second;
        if (auto text = plain_text(only_child(status, ns::protocol, "StatusMessage")))
            detail += ": " + *text;
        return refused(refusal::status_not_success, "the node answered " + detail);
    }
    if (!assertion)
        return refused(refusal::assertion_count, "a successful Response without an assertion");

    // 5. What the verified elements say, every finding kept.
    assertion_checks check(config_, clock_(), expected_in_response_to);
    if (attr(response, "Destination") != config_.acs_url)
        check.add(refusal::destination_mismatch,
                  "the Response is for " + attr(response, "Destination").value_or("no one") +
                      ", not " + config_.acs_url);
    check.in_response_to(response, "the Response");
    check.issuer(response, false, "the Response");
    check.issued(response, "the Response");
    check.issuer(assertion, true, "the assertion");
    check.issued(assertion, "the assertion");
    if (attr(assertion, "Version") != "2.0")
        check.add(refusal::not_a_response, "the assertion is not SAML 2.0");
    check.subject(assertion);
    auto until = check.conditions(assertion);
    auto authn = check.authn_statement(assertion, required_loa);

    verified_identity id;
    check.attributes(assertion, id);
    if (!check.findings.empty() || !until || !authn) {
        verification v;
        v.findings = std::move(check.findings);
        if (v.findings.empty())
            v.findings.push_back({refusal::malformed_time, "the assertion has no usable times"});
        return v;
    }

    // 6. Consumed once: the ID is kept until the assertion could no longer be accepted.
    id.assertion_id = attr(assertion, "ID").value_or("");
    id.issuer = config_.node.entity_id;
    id.loa = authn->loa;
    id.authn_instant = authn->instant;
    id.not_on_or_after = *until;
    if (!replays_.first_use(id.issuer, id.assertion_id, *until + config_.clock_skew))
        return refused(refusal::replayed, "the assertion " + id.assertion_id + " was already used");

    verification v;
    v.identity = std::move(id);
    return v;
}

} // namespace sceau::protocols::saml
