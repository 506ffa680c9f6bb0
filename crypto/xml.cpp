#include "crypto/xml.hpp"

#include "crypto/error.hpp"
#include "crypto/timestamp.hpp"

#include <libxml/c14n.h>
#include <libxml/chvalid.h>
#include <libxml/parser.h>
#include <libxml/xmlsave.h>
#include <xmlsec/crypto.h>
#include <xmlsec/errors.h>
#include <xmlsec/io.h>
#include <xmlsec/xmlsec.h>

#include <algorithm>
#include <ctime>
#include <mutex>

namespace sceau::crypto {
namespace {

using xml_output_ptr = std::unique_ptr<xmlOutputBuffer, c_deleter<xmlOutputBufferClose>>;

/// Refuses any DOCTYPE as soon as the parser sees it, before entities exist.
void on_internal_subset(void* ctx, const xmlChar*, const xmlChar*, const xmlChar*) {
    auto* parser = static_cast<xmlParserCtxtPtr>(ctx);
    static_cast<bool*>(parser->_private)[0] = true;
    xmlStopParser(parser);
}

/// XML 1.0 section 2.2: a text of Char only, in UTF-8. libxml2 would otherwise write what
/// it is given, and a sealed record with a control character or a stray byte in it is no
/// longer XML that anyone can parse, nor verify; a NUL would cut the text short.
std::string checked_text(std::string_view text, std::string_view where) {
    const auto* p = reinterpret_cast<const xmlChar*>(text.data());
    std::size_t left = text.size();
    while (left > 0) {
        int length = static_cast<int>(std::min<std::size_t>(left, 4));
        int c = xmlGetUTF8Char(p, &length);
        if (c < 0 || length <= 0 || !xmlIsCharQ(c))
            throw error(errc::bad_encoding, std::string(where) + ": not XML 1.0 characters");
        p += length;
        left -= static_cast<std::size_t>(length);
    }
    return std::string(text);
}

void no_generic_errors(void*, const char*, ...) {}
void no_structured_errors(void*, xmlErrorPtr) {}

int digest_write(void* context, const char* data, int size) {
    return EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(context), data,
                            static_cast<std::size_t>(size)) == 1
               ? size
               : -1;
}

int digest_close(void*) {
    return 0;
}

/// While it lives, the document's tree holds only what a canonical form covers, so that
/// libxml2 canonicalises it whole, without a visibility callback: it would otherwise walk
/// every node of the document, the invisible ones at nearly the cost of the others. For
/// a subtree, the document's children are the node alone; for the rest, the node's parent
/// skips it. Only links are changed (the node keeps its parent, so the namespaces in
/// scope resolve as before), and they are put back as they were.
class c14n_view {
public:
    c14n_view(xmlDoc* doc, xmlNode* node, c14n_scope scope)
        : doc_(doc)
        , node_(node)
        , scope_(scope)
        , doc_children_(doc->children)
        , doc_last_(doc->last)
        , prev_(node->prev)
        , next_(node->next) {
        if (scope_ == c14n_scope::subtree) {
            doc->children = doc->last = node;
            node->prev = node->next = nullptr;
            return;
        }
        // The parent is an element or the document, whose links are laid out alike.
        xmlNode* parent = node->parent;
        parent_children_ = parent->children;
        parent_last_ = parent->last;
        (prev_ ? prev_->next : parent->children) = next_;
        (next_ ? next_->prev : parent->last) = prev_;
    }

    ~c14n_view() {
        if (scope_ == c14n_scope::subtree) {
            doc_->children = doc_children_;
            doc_->last = doc_last_;
            node_->prev = prev_;
            node_->next = next_;
            return;
        }
        xmlNode* parent = node_->parent;
        if (prev_)
            prev_->next = node_;
        if (next_)
            next_->prev = node_;
        parent->children = parent_children_;
        parent->last = parent_last_;
    }

    c14n_view(const c14n_view&) = delete;
    c14n_view& operator=(const c14n_view&) = delete;

private:
    xmlDoc* doc_;
    xmlNode* node_;
    c14n_scope scope_;
    xmlNode* doc_children_;
    xmlNode* doc_last_;
    xmlNode* prev_;
    xmlNode* next_;
    xmlNode* parent_children_ = nullptr;
    xmlNode* parent_last_ = nullptr;
};

/// Exclusive C14N 1.0 without comments of what `scope` selects, into `out`.
bool canonicalise(xmlDoc* doc, xmlNode* node, c14n_scope scope, xmlOutputBuffer* out) {
    c14n_view view(doc, node, scope);
    return xmlC14NExecute(doc, nullptr, nullptr, XML_C14N_EXCLUSIVE_1_0, nullptr, 0, out) >= 0;
}

// The detached objects xmlsec1 may read on this thread (detached_objects_scope).
thread_local const std::vector<detached_object>* current_objects = nullptr;

const detached_object* object_named(const char* uri) {
    if (!current_objects || !uri)
        return nullptr;
    for (const auto& o : *current_objects) {
        if (o.uri == uri)
            return &o;
    }
    return nullptr;
}

int io_match(const char* uri) {
    return object_named(uri) ? 1 : 0;
}

void* io_open(const char* uri) {
    const detached_object* o = object_named(uri);
    if (!o)
        return nullptr;
    try {
        return o->open().release(); // io_close deletes it
    } catch (...) {
        return nullptr;
    }
}

int io_read(void* context, char* buffer, int size) {
    try {
        auto n = static_cast<byte_source*>(context)->read(reinterpret_cast<std::uint8_t*>(buffer),
                                                          static_cast<std::size_t>(size));
        return static_cast<int>(n);
    } catch (...) {
        return -1;
    }
}

int io_close(void* context) {
    delete static_cast<byte_source*>(context);
    return 0;
}

} // namespace

detached_objects_scope::detached_objects_scope(const std::vector<detached_object>& objects)
    : previous_(current_objects) {
    current_objects = &objects;
}

detached_objects_scope::~detached_objects_scope() {
    current_objects = previous_;
}

void xml_library_init() {
    static std::once_flag once;
    std::call_once(once, [] {
        xmlInitParser();
        // Never print library diagnostics: errors travel as exceptions.
        xmlSetGenericErrorFunc(nullptr, no_generic_errors);
        xmlSetStructuredErrorFunc(nullptr, no_structured_errors);
        xmlThrDefSetGenericErrorFunc(nullptr, no_generic_errors);
        xmlThrDefSetStructuredErrorFunc(nullptr, no_structured_errors);
        xmlSecErrorsDefaultCallbackEnableOutput(0);
        if (xmlSecInit() < 0 || xmlSecCheckVersion() != 1 || xmlSecCryptoAppInit(nullptr) < 0 ||
            xmlSecCryptoInit() < 0)
            throw error(errc::openssl_failure, "xmlsec1 initialisation failed");
        // References outside the document resolve only to the objects given to a
        // detached_objects_scope: never to a file or a URL named by the document.
        xmlSecIOCleanupCallbacks();
        if (xmlSecIORegisterCallbacks(io_match, io_open, io_read, io_close) < 0)
            throw error(errc::openssl_failure, "xmlsec1 input callbacks");
    });
}

xml_doc_ptr parse_xml(std::string_view data) {
    return xml_parser().parse(data);
}

xml_parser::xml_parser()
    : ctxt_(xmlNewParserCtxt()) {
    if (!ctxt_)
        throw error(errc::xml_malformed, "no parser context");
    ctxt_->sax->internalSubset = on_internal_subset;
}

xml_doc_ptr xml_parser::parse(std::string_view data) {
    bool saw_doctype = false;
    ctxt_->_private = &saw_doctype; // read by on_internal_subset during this parse only

    // XML_PARSE_NONET: no network; without XML_PARSE_NOENT/DTDLOAD entities stay
    // unexpanded and no external subset is read. The DOCTYPE hook refuses the rest.
    // xmlCtxtReadMemory resets the context first.
    int options = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING;
    xml_doc_ptr doc(xmlCtxtReadMemory(ctxt_.get(), data.data(), static_cast<int>(data.size()),
                                      nullptr, nullptr, options));
    ctxt_->_private = nullptr;
    if (saw_doctype)
        throw error(errc::xml_forbidden_construct, "a DOCTYPE is not allowed");
    if (!doc || !ctxt_->wellFormed)
        throw error(errc::xml_malformed, "not well-formed XML");
    return doc;
}

std::string serialize(xmlDoc* doc) {
    xmlChar* data = nullptr;
    int size = 0;
    xmlDocDumpMemoryEnc(doc, &data, &size, "UTF-8");
    if (!data)
        throw error(errc::xml_malformed, "serialising XML");
    std::string out(reinterpret_cast<const char*>(data), static_cast<std::size_t>(size));
    xmlFree(data);
    return out;
}

std::string exclusive_c14n(xmlDoc* doc, xmlNode* node) {
    xml_output_ptr out(xmlAllocOutputBuffer(nullptr));
    if (!out)
        throw error(errc::xml_malformed, "c14n buffer");
    if (!canonicalise(doc, node, c14n_scope::subtree, out.get()))
        throw error(errc::xml_malformed, "exclusive canonicalisation failed");
    xmlOutputBufferFlush(out.get());
    const xmlChar* content = xmlOutputBufferGetContent(out.get());
    return std::string(reinterpret_cast<const char*>(content), xmlOutputBufferGetSize(out.get()));
}

void exclusive_c14n_digest(xmlDoc* doc, xmlNode* node, c14n_scope scope, EVP_MD_CTX* digest) {
    // The output buffer owns nothing of `digest`; closing it only flushes.
    xml_output_ptr out(xmlOutputBufferCreateIO(digest_write, digest_close, digest, nullptr));
    if (!out)
        throw error(errc::xml_malformed, "c14n buffer");
    if (!canonicalise(doc, node, scope, out.get()) || xmlOutputBufferClose(out.release()) < 0)
        throw error(errc::xml_malformed, "exclusive canonicalisation failed");
}

xmlNode* add_element(xmlNode* parent, xmlNs* ns, std::string_view name) {
    // Not xmlNewChild: with a null namespace it would inherit the parent's, and local
    // elements of unqualified schemas must stay in no namespace.
    std::string n(name);
    xmlNode* node =
        xmlNewDocNode(parent->doc, ns, reinterpret_cast<const xmlChar*>(n.c_str()), nullptr);
    if (!node)
        throw error(errc::xml_malformed, "creating element " + n);
    return xmlAddChild(parent, node);
}

xmlNode* add_text_element(xmlNode* parent, xmlNs* ns, std::string_view name,
                          std::string_view text) {
    auto t = checked_text(text, name);
    xmlNode* node = add_element(parent, ns, name);
    // A text node holds the characters as they are; serialisation escapes them.
    xmlNodeAddContent(node, reinterpret_cast<const xmlChar*>(t.c_str()));
    return node;
}

void set_attribute(xmlNode* node, std::string_view name, std::string_view value) {
    std::string n(name), v = checked_text(value, name);
    xmlSetProp(node, reinterpret_cast<const xmlChar*>(n.c_str()),
               reinterpret_cast<const xmlChar*>(v.c_str()));
}

std::string format_utc(std::chrono::system_clock::time_point t) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
    std::time_t seconds = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&seconds, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(ms % 1000));
    return buf;
}

std::chrono::system_clock::time_point parse_utc(std::string_view text) {
    // YYYY-MM-DDThh:mm:ss[.fff]Z: the GeneralizedTime parser does the checking.
    if (text.size() < 20 || text[4] != '-' || text[7] != '-' || text[10] != 'T' ||
        text[13] != ':' || text[16] != ':')
        throw error(errc::bad_encoding, "not an RFC 3339 UTC time");
    std::string compact;
    for (std::size_t i = 0; i < 19; ++i) {
        if (i != 4 && i != 7 && i != 10 && i != 13 && i != 16)
            compact.push_back(text[i]);
    }
    compact.append(text.substr(19));
    try {
        return parse_generalized_time(compact);
    } catch (const error&) {
        throw error(errc::bad_encoding, "not an RFC 3339 UTC time");
    }
}

} // namespace sceau::crypto
