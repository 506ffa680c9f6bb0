#include "protocols/saml_demo_node.hpp"

#include "crypto/encoding.hpp"
#include "crypto/error.hpp"
#include "crypto/random.hpp"
#include "crypto/sha256.hpp"
#include "crypto/xml.hpp"
#include "crypto/xmldsig.hpp"
#include "protocols/saml.hpp"
#include "protocols/saml_xml.hpp"
#include "protocols/text_rules.hpp"

#include <stdexcept>
#include <zlib.h>

namespace sceau::protocols::saml {
namespace {

using namespace detail;

constexpr std::size_t max_request_base64 = 16 * 1024;
constexpr std::size_t max_request_xml = 64 * 1024;

/// Raw INFLATE (RFC 1951) of the HTTP-Redirect binding, refused past `limit` bytes.
std::string inflate_raw(const crypto::bytes& data, std::size_t limit) {
    z_stream z{};
    if (inflateInit2(&z, -15) != Z_OK)
        throw std::runtime_error("inflate initialisation failed");
    std::string out(limit + 1, '\0');
    z.next_in = const_cast<Bytef*>(data.data());
    z.avail_in = static_cast<uInt>(data.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    int rc = inflate(&z, Z_FINISH);
    out.resize(z.total_out);
    inflateEnd(&z);
    if (rc != Z_STREAM_END || out.size() > limit)
        throw std::invalid_argument("SAMLRequest is not a DEFLATE stream of at most 64 KiB");
    return out;
}

void check_person(const demo_person& who) {
    auto fits = [](const std::string& s) { return s.size() <= 200; };
    if (who.family_name.empty() || who.given_names.empty())
        throw std::invalid_argument("a family name and a given name are needed");
    if (!is_calendar_date(who.birth_date))
        throw std::invalid_argument("the birth date must be a real date, YYYY-MM-DD");
    if (!fits(who.family_name) || !fits(who.given_names) || !fits(who.person_identifier) ||
        !fits(who.legal_name) || !fits(who.legal_person_identifier))
        throw std::invalid_argument("a value is longer than 200 characters");
    if (who.legal_name.empty() != who.legal_person_identifier.empty())
        throw std::invalid_argument("a legal person needs both its name and its identifier");
    // What is typed goes into a signed XML answer: only text that XML and pages hold.
    for (const auto* value : {&who.family_name, &who.given_names, &who.person_identifier,
                              &who.legal_name, &who.legal_person_identifier}) {
        if (auto fault = text_fault(*value))
            throw std::invalid_argument("a value " + std::string(*fault));
    }
}

/// eIDAS PersonIdentifier shape (issuing country / receiving country / value), stable for
/// one typed identity so that a second visit is the same person.
std::string derived_identifier(const demo_person& who) {
    auto digest =
        crypto::sha256::of(who.family_name + "\n" + who.given_names + "\n" + who.birth_date);
    return "FR/FR/DEMO-" + crypto::to_hex(digest).substr(0, 16);
}

} // namespace

demo_node::demo_node(options o, crypto::signer_identity signer, crypto::clock_fn clock)
    : options_(std::move(o))
    , signer_(std::move(signer))
    , clock_(clock ? std::move(clock) : crypto::clock_fn(std::chrono::system_clock::now)) {
    crypto::xml_library_init();
    if (options_.entity_id.empty() || options_.sso_url.empty() || options_.sp_entity_id.empty() ||
        options_.sp_acs_url.empty())
        throw std::invalid_argument("demo node: its entity ID and URLs and the SP's are needed");
    if (!signer_.key || signer_.chain.empty())
        throw std::invalid_argument("demo node: a signing key and certificate are needed");
}

std::string demo_node::metadata() const {
    crypto::xml_doc_ptr doc(xmlNewDoc(x("1.0")));
    xmlNode* root = xmlNewDocNode(doc.get(), nullptr, x("EntityDescriptor"), nullptr);
    xmlDocSetRootElement(doc.get(), root);
    xmlNs* md = declare(root, ns::metadata, "md");
    xmlNs* ds = declare(root, ns::dsig, "ds");
    xmlSetNs(root, md);
    crypto::set_attribute(root, "entityID", options_.entity_id);

    // SAML metadata section 2.4.3: the signing key and the redirect SSO service.
    xmlNode* idp = crypto::add_element(root, md, "IDPSSODescriptor");
    crypto::set_attribute(idp, "WantAuthnRequestsSigned", "true");
    crypto::set_attribute(idp, "protocolSupportEnumeration", ns::protocol);
    xmlNode* key = crypto::add_element(idp, md, "KeyDescriptor");
    crypto::set_attribute(key, "use", "signing");
    xmlNode* data = crypto::add_element(crypto::add_element(key, ds, "KeyInfo"), ds, "X509Data");
    crypto::add_text_element(data, ds, "X509Certificate",
                             crypto::to_base64(crypto::to_der(signer_.certificate())));
    crypto::add_text_element(idp, md, "NameIDFormat", persistent);
    xmlNode* sso = crypto::add_element(idp, md, "SingleSignOnService");
    crypto::set_attribute(sso, "Binding", binding_redirect);
    crypto::set_attribute(sso, "Location", options_.sso_url);
    return crypto::serialize(doc.get());
}

demo_request demo_node::read_request(std::string_view saml_request) const {
    if (saml_request.empty() || saml_request.size() > max_request_base64)
        throw std::invalid_argument("SAMLRequest is empty or too long");
    crypto::bytes deflated;
    try {
        deflated = crypto::from_base64(saml_request);
    } catch (const crypto::error&) {
        throw std::invalid_argument("SAMLRequest is not base64");
    }
    auto xml = inflate_raw(deflated, max_request_xml);
    crypto::xml_doc_ptr doc;
    try {
        doc = crypto::parse_xml(xml);
    } catch (const crypto::error& e) {
        throw std::invalid_argument(std::string("SAMLRequest: ") + e.what());
    }

    xmlNode* root = xmlDocGetRootElement(doc.get());
    if (!is(root, ns::protocol, "AuthnRequest") || attr(root, "Version") != "2.0")
        throw std::invalid_argument("SAMLRequest is not a SAML 2.0 AuthnRequest");
    if (plain_text(only_child(root, ns::assertion, "Issuer")) != options_.sp_entity_id)
        throw std::invalid_argument("the AuthnRequest is not from " + options_.sp_entity_id);
    if (attr(root, "AssertionConsumerServiceURL").value_or(options_.sp_acs_url) !=
        options_.sp_acs_url)
        throw std::invalid_argument("the AuthnRequest names another ACS than " +
                                    options_.sp_acs_url);
    if (attr(root, "Destination").value_or(options_.sso_url) != options_.sso_url)
        throw std::invalid_argument("the AuthnRequest is for another node");

    demo_request out;
    out.id = attr(root, "ID").value_or("");
    if (out.id.empty() || out.id.size() > 128)
        throw std::invalid_argument("the AuthnRequest has no usable ID");
    xmlNode* context = only_child(root, ns::protocol, "RequestedAuthnContext");
    out.level = plain_text(only_child(context, ns::assertion, "AuthnContextClassRef")).value_or("");
    if (loa::rank(out.level) == 0)
        throw std::invalid_argument("the AuthnRequest asks for no eIDAS level");
    xmlNode* extensions = only_child(root, ns::protocol, "Extensions");
    for (xmlNode* a : children(only_child(extensions, ns::eidas, "RequestedAttributes"), ns::eidas,
                               "RequestedAttribute")) {
        if (attr(a, "Name") == attribute::legal_name)
            out.legal_person = true;
    }
    return out;
}

std::string demo_node::respond(const demo_request& request, const demo_person& who,
                               std::string_view level) const {
    if (loa::rank(level) == 0)
        throw std::invalid_argument("unknown level of assurance " + std::string(level));
    check_person(who);
    auto identifier =
        who.person_identifier.empty() ? derived_identifier(who) : who.person_identifier;
    auto now = clock_();
    auto issued = whole_seconds(now);
    auto until = whole_seconds(now + options_.lifetime);

    crypto::xml_doc_ptr doc(xmlNewDoc(x("1.0")));
    xmlNode* response = xmlNewDocNode(doc.get(), nullptr, x("Response"), nullptr);
    xmlDocSetRootElement(doc.get(), response);
    xmlNs* samlp = declare(response, ns::protocol, "samlp");
    xmlNs* saml = declare(response, ns::assertion, "saml");
    xmlSetNs(response, samlp);

    // SAML core sections 3.2.2 and 2.3.3, elements in schema order.
    crypto::set_attribute(response, "ID", crypto::random_id("_demo-", 20));
    crypto::set_attribute(response, "Version", "2.0");
    crypto::set_attribute(response, "IssueInstant", issued);
    crypto::set_attribute(response, "Destination", options_.sp_acs_url);
    crypto::set_attribute(response, "InResponseTo", request.id);
    xmlNode* response_issuer =
        crypto::add_text_element(response, saml, "Issuer", options_.entity_id);
    xmlNode* status = crypto::add_element(response, samlp, "Status");
    crypto::set_attribute(crypto::add_element(status, samlp, "StatusCode"), "Value",
                          status_success);

    xmlNode* assertion = crypto::add_element(response, saml, "Assertion");
    crypto::set_attribute(assertion, "ID", crypto::random_id("_demo-", 20));
    crypto::set_attribute(assertion, "Version", "2.0");
    crypto::set_attribute(assertion, "IssueInstant", issued);
    xmlNode* assertion_issuer =
        crypto::add_text_element(assertion, saml, "Issuer", options_.entity_id);

    // SAML profiles section 4.1.4.2: one bearer confirmation for the ACS and the request.
    xmlNode* subject = crypto::add_element(assertion, saml, "Subject");
    xmlNode* name_id = crypto::add_text_element(subject, saml, "NameID", identifier);
    crypto::set_attribute(name_id, "Format", persistent);
    xmlNode* confirmation = crypto::add_element(subject, saml, "SubjectConfirmation");
    crypto::set_attribute(confirmation, "Method", bearer);
    xmlNode* data = crypto::add_element(confirmation, saml, "SubjectConfirmationData");
    crypto::set_attribute(data, "InResponseTo", request.id);
    crypto::set_attribute(data, "NotOnOrAfter", until);
    crypto::set_attribute(data, "Recipient", options_.sp_acs_url);

    xmlNode* conditions = crypto::add_element(assertion, saml, "Conditions");
    crypto::set_attribute(conditions, "NotBefore", issued);
    crypto::set_attribute(conditions, "NotOnOrAfter", until);
    crypto::add_text_element(crypto::add_element(conditions, saml, "AudienceRestriction"), saml,
                             "Audience", options_.sp_entity_id);

    xmlNode* authn = crypto::add_element(assertion, saml, "AuthnStatement");
    crypto::set_attribute(authn, "AuthnInstant", issued);
    crypto::add_text_element(crypto::add_element(authn, saml, "AuthnContext"), saml,
                             "AuthnContextClassRef", level);

    // eIDAS SAML attribute profile: the natural person's minimum data set, and the legal
    // person's when it was asked for and given.
    xmlNode* statement = crypto::add_element(assertion, saml, "AttributeStatement");
    auto add = [&](std::string_view name, std::string_view friendly, const std::string& value) {
        xmlNode* a = crypto::add_element(statement, saml, "Attribute");
        crypto::set_attribute(a, "Name", name);
        crypto::set_attribute(a, "NameFormat", name_format_uri);
        crypto::set_attribute(a, "FriendlyName", friendly);
        crypto::add_text_element(a, saml, "AttributeValue", value);
    };
    add(attribute::person_identifier, "PersonIdentifier", identifier);
    add(attribute::family_name, "FamilyName", who.family_name);
    add(attribute::given_name, "FirstName", who.given_names);
    add(attribute::birth_date, "DateOfBirth", who.birth_date);
    if (request.legal_person && !who.legal_name.empty()) {
        add(attribute::legal_person_identifier, "LegalPersonIdentifier",
            who.legal_person_identifier);
        add(attribute::legal_name, "LegalName", who.legal_name);
    }

    // The Assertion first, then the Response over it, each signature after its Issuer
    // (SAML core section 5.4.1).
    crypto::sign_enveloped(doc.get(), assertion, "ID", assertion_issuer, signer_);
    crypto::sign_enveloped(doc.get(), response, "ID", response_issuer, signer_);
    return crypto::to_base64(crypto::as_bytes(crypto::serialize(doc.get())));
}

} // namespace sceau::protocols::saml
