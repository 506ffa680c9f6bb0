#pragma once

#include "crypto/byte_source.hpp"
#include "crypto/openssl.hpp"

#include <libxml/tree.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

namespace sceau::crypto {

using xml_doc_ptr = std::unique_ptr<xmlDoc, c_deleter<xmlFreeDoc>>;

/// A string libxml2 allocated (xmlGetProp, xmlNodeListGetString...). xmlFree is a
/// function pointer variable, so it cannot be a c_deleter argument.
struct xml_string_deleter {
    void operator()(xmlChar* p) const noexcept { xmlFree(p); }
};
using xml_string_ptr = std::unique_ptr<xmlChar, xml_string_deleter>;

/// Initialises libxml2, xmlsec1 and its OpenSSL back-end once per process. Call it from
/// the main thread before any other thread touches XML. libxml2 keeps its error handlers
/// per thread: the silent ones are also made the default of threads started later.
void xml_library_init();

/// While it lives, xmlsec1 on this thread can read exactly these detached objects, by
/// their URIs, and nothing else. Outside such a scope xmlsec1 opens no file and no URL at
/// all: xml_library_init() removes its file, HTTP and FTP handlers.
class detached_objects_scope {
public:
    explicit detached_objects_scope(const std::vector<detached_object>& objects);
    ~detached_objects_scope();
    detached_objects_scope(const detached_objects_scope&) = delete;
    detached_objects_scope& operator=(const detached_objects_scope&) = delete;

private:
    const std::vector<detached_object>* previous_;
};

/// Parses XML the safe way: no network, no DTD loading, no entity substitution, and any
/// DOCTYPE refused outright (error xml_forbidden_construct). Comments are kept as nodes;
/// callers that read identity values must read whole text. Size-limited by the caller.
xml_doc_ptr parse_xml(std::string_view data);

/// parse_xml() for many documents one after the other: one libxml2 context, and its
/// dictionary of names, serves them all rather than one made and freed for each. The
/// documents share that dictionary, which libxml2 does not lock: the parser and its
/// documents belong to one thread at a time.
class xml_parser {
public:
    xml_parser();
    xml_doc_ptr parse(std::string_view data);

private:
    std::unique_ptr<xmlParserCtxt, c_deleter<xmlFreeParserCtxt>> ctxt_;
};

/// The document as UTF-8 bytes with an XML declaration, exactly as later served.
std::string serialize(xmlDoc* doc);

/// Exclusive XML canonicalisation 1.0 (without comments) of `node` and its descendants.
/// Like exclusive_c14n_digest(), it rearranges the tree's links for the time of the call:
/// no other thread may read the document meanwhile.
std::string exclusive_c14n(xmlDoc* doc, xmlNode* node);

/// What of a document a canonical form covers.
enum class c14n_scope {
    subtree,             ///< the node and its descendants ("#id", SignedInfo)
    all_but_the_subtree, ///< the whole document without them (URI "" then the
                         ///< enveloped-signature transform, XML-DSig section 6.6.4)
};

/// Feeds the exclusive canonical form (without comments) of what `scope` selects around
/// `node` into `digest`, an initialised context, without building it in memory. Throws
/// error(xml_malformed).
void exclusive_c14n_digest(xmlDoc* doc, xmlNode* node, c14n_scope scope, EVP_MD_CTX* digest);

/// Text helpers for building documents with the tree API.
xmlNode* add_element(xmlNode* parent, xmlNs* ns, std::string_view name);
xmlNode* add_text_element(xmlNode* parent, xmlNs* ns, std::string_view name, std::string_view text);
void set_attribute(xmlNode* node, std::string_view name, std::string_view value);

/// An RFC 3339 / xsd:dateTime text in UTC with milliseconds: 2026-12-03T10:15:02.113Z.
std::string format_utc(std::chrono::system_clock::time_point t);

/// Parses what format_utc() writes (and RFC 3339 UTC times with fewer fraction digits).
/// Throws error(bad_encoding).
std::chrono::system_clock::time_point parse_utc(std::string_view text);

} // namespace sceau::crypto
