#pragma once

// What the SAML service provider and the demo node share to read and write SAML with
// libxml2's tree. Internal to protocols/: not part of the SAML interface.

#include <libxml/tree.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sceau::protocols::saml::detail {

namespace ns {
inline constexpr std::string_view protocol = "urn:oasis:names:tc:SAML:2.0:protocol";
inline constexpr std::string_view assertion = "urn:oasis:names:tc:SAML:2.0:assertion";
inline constexpr std::string_view metadata = "urn:oasis:names:tc:SAML:2.0:metadata";
inline constexpr std::string_view dsig = "http://www.w3.org/2000/09/xmldsig#";
inline constexpr std::string_view eidas = "http://eidas.europa.eu/saml-extensions";
inline constexpr std::string_view xenc = "http://www.w3.org/2001/04/xmlenc#";
inline constexpr std::string_view xenc11 = "http://www.w3.org/2009/xmlenc11#";
inline constexpr std::string_view xslt = "http://www.w3.org/1999/XSL/Transform";
inline constexpr std::string_view dsig_filter2 = "http://www.w3.org/2002/06/xmldsig-filter2";
inline constexpr std::string_view xml = "http://www.w3.org/XML/1998/namespace";
} // namespace ns

inline constexpr std::string_view status_success = "urn:oasis:names:tc:SAML:2.0:status:Success";
inline constexpr std::string_view bearer = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
inline constexpr std::string_view binding_post = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
inline constexpr std::string_view binding_redirect =
    "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
inline constexpr std::string_view name_format_uri =
    "urn:oasis:names:tc:SAML:2.0:attrname-format:uri";
inline constexpr std::string_view persistent =
    "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent";

const xmlChar* x(const char* s);
std::string_view text_of(const xmlChar* s);
std::string_view ns_of(const xmlNode* n);

/// Whether `n` is the element `local` of namespace `in_ns`.
bool is(const xmlNode* n, std::string_view in_ns, std::string_view local);
std::vector<xmlNode*> children(xmlNode* parent, std::string_view in_ns, std::string_view local);
/// The child of that name when there is exactly one, else null.
xmlNode* only_child(xmlNode* parent, std::string_view in_ns, std::string_view local);
/// An attribute in no namespace, when present.
std::optional<std::string> attr(xmlNode* n, const char* name);

/// The whole text of an element whose content is text only. A comment, processing
/// instruction, entity reference or child element makes it unreadable, so that no
/// reader can take "Martin" for "Martin<!-- -->ez" (CVE-2017-11427 and kin).
std::optional<std::string> plain_text(xmlNode* n);

xmlNs* declare(xmlNode* n, std::string_view uri, const char* prefix);

/// xsd:dateTime in UTC to the second, as SAML messages carry it: 2026-12-03T10:15:02Z.
std::string whole_seconds(std::chrono::system_clock::time_point t);

/// xsd:dateTime as SAML core section 1.3.3 restricts it: UTC with "Z", every field in
/// range, an optional fraction of up to nine digits.
std::optional<std::chrono::system_clock::time_point> parse_time(std::string_view s);

/// A real calendar date written YYYY-MM-DD.
bool is_calendar_date(std::string_view s);

} // namespace sceau::protocols::saml::detail
