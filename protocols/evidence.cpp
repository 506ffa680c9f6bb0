#include "protocols/evidence.hpp"

#include "crypto/encoding.hpp"
#include "crypto/error.hpp"
#include "protocols/identification.hpp"

namespace sceau::protocols {
namespace {

using crypto::add_element;
using crypto::add_text_element;
using crypto::set_attribute;

const xmlChar* x(std::string_view s) {
    return reinterpret_cast<const xmlChar*>(s.data());
}

struct namespaces {
    xmlNs* ev;
    xmlNs* saml;
    xmlNs* ds;
    xmlNs* sc;
};

void add_identity(xmlNode* parent, const namespaces& ns, const party& p) {
    if (p.attributes.empty() && p.asserted_attributes.empty())
        return;
    xmlNode* identity = add_element(parent, ns.ev, "Identity");
    auto add = [&](const std::string& name, const std::string& value) {
        xmlNode* attribute = add_element(identity, ns.saml, "Attribute");
        set_attribute(attribute, "Name", name);
        set_attribute(attribute, "NameFormat", "urn:oasis:names:tc:SAML:2.0:attrname-format:uri");
        add_text_element(attribute, ns.saml, "AttributeValue", value);
        return attribute;
    };
    for (const auto& [name, value] : p.attributes)
        add(name, value);
    // saml:AttributeType allows attributes of other namespaces (SAML core section 2.7.3.1).
    for (const auto& [name, value] : p.asserted_attributes)
        xmlSetNsProp(add(name, value), ns.sc, x("AssertedBy"), x(p.asserted_by.c_str()));
}

// UserDetailsType: Identity?, Identifier?, AssuranceLevelsDetails? (EN 319 522-3).
void add_user(xmlNode* parent, const namespaces& ns, std::string_view element, const party& p) {
    xmlNode* details = add_element(parent, ns.ev, element);
    add_identity(details, ns, p);
    if (!p.email.empty()) {
        xmlNode* id = add_text_element(details, nullptr, "Identifier", p.email);
        set_attribute(id, "IdentifierSchemeName", "mailto");
    }
    if (!p.assurance_level.empty()) {
        xmlNode* levels = add_element(details, nullptr, "AssuranceLevelsDetails");
        xmlNode* global = add_element(levels, nullptr, "GlobalAssuranceLevel");
        add_text_element(global, nullptr, "AssuranceLevel", p.assurance_level);
        if (!p.assurance_policy.empty())
            add_text_element(global, nullptr, "PolicyIDDetails", p.assurance_policy);
        xmlNode* authn = add_element(levels, ns.ev, "AuthenticationDetails");
        add_text_element(authn, nullptr, "AuthenticationTime", p.authentication_time);
        add_text_element(authn, nullptr, "AuthenticationMethod", p.authentication_method);
    }
}

xmlNode* add_extension(xmlNode* extensions, const namespaces& ns, std::string_view name,
                       std::string_view value) {
    xmlNode* extension = add_element(extensions, ns.ev, "Extension");
    set_attribute(extension, "isCritical", "false");
    return add_text_element(extension, ns.sc, name, value);
}

std::string imprint_text(const std::string& id, std::string_view event_uri,
                         const std::string& letter_id, const std::vector<evidence_part>& parts) {
    std::string text = "sceau-event-v1\n";
    text += "evidence " + id + "\n";
    text += "event " + std::string(event_uri) + "\n";
    text += "letter " + letter_id + "\n";
    for (std::size_t i = 0; i < parts.size(); ++i)
        text += "part " + std::to_string(i + 1) + " " + parts[i].sha256_hex + "\n";
    return text;
}

} // namespace

std::string event_imprint_text(const evidence_draft& d) {
    return imprint_text(d.id, std::string(uri::event_prefix) + d.event, d.letter_id, d.parts);
}

std::string event_imprint_text(const evidence_view& r) {
    return imprint_text(r.id, r.event_uri, r.letter_id, r.parts);
}

namespace {

bool named(const xmlNode* n, std::string_view ns, std::string_view local) {
    if (!n || n->type != XML_ELEMENT_NODE || local != reinterpret_cast<const char*>(n->name))
        return false;
    if (ns.empty())
        return n->ns == nullptr;
    return n->ns && ns == reinterpret_cast<const char*>(n->ns->href);
}

xmlNode* child(xmlNode* parent, std::string_view ns, std::string_view local) {
    for (xmlNode* c = parent ? parent->children : nullptr; c; c = c->next) {
        if (named(c, ns, local))
            return c;
    }
    return nullptr;
}

std::string content(xmlNode* n) {
    crypto::xml_string_ptr text(xmlNodeGetContent(n));
    return text ? reinterpret_cast<const char*>(text.get()) : "";
}

std::string required(xmlNode* parent, std::string_view ns, std::string_view local) {
    xmlNode* n = child(parent, ns, local);
    if (!n)
        throw crypto::error(crypto::errc::xml_malformed, "the record has no " + std::string(local));
    return content(n);
}

} // namespace

evidence_view read_evidence(xmlDoc* doc) {
    xmlNode* root = xmlDocGetRootElement(doc);
    if (!named(root, uri::evidence_ns, "Evidence"))
        throw crypto::error(crypto::errc::xml_malformed, "not an EN 319 522-3 Evidence");
    evidence_view v;
    v.id = required(root, uri::evidence_ns, "EvidenceIdentifier");
    v.event_uri = required(root, uri::evidence_ns, "ERDSEventId");
    if (v.event_uri.rfind(uri::event_prefix, 0) != 0)
        throw crypto::error(crypto::errc::xml_malformed, "an event URI not of EN 319 522");
    v.event = v.event_uri.substr(uri::event_prefix.size());
    v.event_time = required(root, "", "EventTime");
    v.letter_id = required(root, uri::evidence_ns, "MessageIdentifier");

    xmlNode* parts =
        child(child(root, uri::evidence_ns, "UserContentInfo"), uri::evidence_ns, "PartsInfo");
    for (xmlNode* p = parts ? parts->children : nullptr; p; p = p->next) {
        if (!named(p, uri::evidence_ns, "PartInfo"))
            continue;
        evidence_part part;
        part.identifier = required(p, "", "Identifier");
        part.content_type = required(p, "", "ContentType");
        xmlNode* method = child(p, "http://www.w3.org/2000/09/xmldsig#", "DigestMethod");
        crypto::xml_string_ptr algorithm(method ? xmlGetNoNsProp(method, x("Algorithm")) : nullptr);
        if (!algorithm || uri::sha256 != reinterpret_cast<const char*>(algorithm.get()))
            throw crypto::error(crypto::errc::xml_malformed, "a part digest is not SHA-256");
        part.sha256_hex = crypto::to_hex(
            crypto::from_base64(required(p, "http://www.w3.org/2000/09/xmldsig#", "DigestValue")));
        v.parts.push_back(std::move(part));
    }

    xmlNode* extensions = child(root, uri::evidence_ns, "Extensions");
    for (xmlNode* e = extensions ? extensions->children : nullptr; e; e = e->next) {
        if (xmlNode* stamp = child(e, uri::sceau_ns, "EventTimeStamp"))
            v.event_timestamp = crypto::from_base64(content(stamp));
    }
    if (v.event_timestamp.empty())
        throw crypto::error(crypto::errc::xml_malformed, "the record has no EventTimeStamp");
    return v;
}

crypto::xml_doc_ptr build_evidence(const evidence_draft& d, const std::string& event_time,
                                   const std::vector<std::uint8_t>& event_timestamp_der) {
    crypto::xml_doc_ptr doc(xmlNewDoc(x("1.0")));
    xmlNode* root = xmlNewDocNode(doc.get(), nullptr, x("Evidence"), nullptr);
    xmlDocSetRootElement(doc.get(), root);

    // Global elements are qualified, local children are not (the schema has no
    // elementFormDefault): hence ns.ev on some elements and nullptr on others.
    namespaces ns{};
    ns.ev = xmlNewNs(root, x(uri::evidence_ns), x("ev"));
    ns.saml = xmlNewNs(root, x(uri::saml_ns), x("saml"));
    ns.ds = xmlNewNs(root, x("http://www.w3.org/2000/09/xmldsig#"), x("ds"));
    ns.sc = xmlNewNs(root, x(uri::sceau_ns), x("sc"));
    xmlSetNs(root, ns.ev);
    set_attribute(root, "version", "EN319522v1.2.1");
    set_attribute(root, "Id", "evidence-" + d.id);

    add_text_element(root, ns.ev, "EvidenceIdentifier", d.id);
    add_text_element(root, ns.ev, "ERDSEventId", std::string(uri::event_prefix) + d.event);

    if (!d.reasons.empty()) {
        xmlNode* reasons = add_element(root, ns.ev, "EventReasons");
        for (const auto& r : d.reasons) {
            xmlNode* reason = add_element(reasons, ns.ev, "EventReason");
            add_text_element(reason, nullptr, "Code", r.code);
            add_text_element(reason, nullptr, "Details", r.details);
        }
    }

    add_text_element(root, nullptr, "EventTime", event_time);

    if (!d.policies.empty()) {
        xmlNode* policy = add_element(root, ns.ev, "EvidenceIssuerPolicyID");
        for (const auto& p : d.policies)
            add_text_element(policy, nullptr, "PolicyID", p);
    }

    xmlNode* issuer = add_element(root, ns.ev, "EvidenceIssuerDetails");
    add_identity(issuer, ns, d.issuer);

    add_user(root, ns, "SenderDetails", d.sender);
    add_user(root, ns, "RecipientDetails", d.recipient);

    if (d.event == event::submission_acceptance || d.event == event::submission_rejection)
        add_text_element(root, ns.ev, "SubmissionTime", event_time);
    add_text_element(root, ns.ev, "MessageIdentifier", d.letter_id);

    if (!d.parts.empty()) {
        xmlNode* content = add_element(root, ns.ev, "UserContentInfo");
        add_text_element(content, nullptr, "ComposingParts", std::to_string(d.parts.size()));
        xmlNode* parts = add_element(content, ns.ev, "PartsInfo");
        for (const auto& p : d.parts) {
            xmlNode* part = add_element(parts, ns.ev, "PartInfo");
            add_text_element(part, nullptr, "Identifier", p.identifier);
            add_text_element(part, nullptr, "ContentType", p.content_type);
            xmlNode* method = add_element(part, ns.ds, "DigestMethod");
            set_attribute(method, "Algorithm", uri::sha256);
            auto raw = crypto::from_hex(p.sha256_hex);
            add_text_element(part, ns.ds, "DigestValue", crypto::to_base64(raw));
        }
    }

    xmlNode* extensions = add_element(root, ns.ev, "Extensions");
    xmlNode* stamp =
        add_extension(extensions, ns, "EventTimeStamp", crypto::to_base64(event_timestamp_der));
    set_attribute(stamp, "Imprint", "sceau-event-v1");
    add_extension(extensions, ns, "Qualified", d.qualified ? "true" : "false");
    add_extension(extensions, ns, "ConsignmentMode", uri::consent_mode);
    if (!d.consent_reference.empty())
        add_extension(extensions, ns, "ConsentReference", d.consent_reference);
    for (const auto& [part, flag] : d.part_flags) {
        xmlNode* f = add_extension(extensions, ns, "ContentFlag", flag);
        set_attribute(f, "Part", part);
    }
    return doc;
}

party recipient_party(const recipient& r) {
    party p;
    if (!r.family_name.empty())
        p.attributes.emplace_back(attribute::family_name, r.family_name);
    if (!r.given_name.empty())
        p.attributes.emplace_back(attribute::given_name, r.given_name);
    if (!r.birth_date.empty())
        p.attributes.emplace_back(attribute::birth_date, r.birth_date);
    if (!r.person_identifier.empty())
        p.attributes.emplace_back(attribute::person_identifier, r.person_identifier);
    if (!r.legal_name.empty())
        p.attributes.emplace_back(attribute::legal_name, r.legal_name);
    p.email = r.email;
    return p;
}

} // namespace sceau::protocols
