#include "protocols/bundle.hpp"

#include "crypto/asic.hpp"
#include "crypto/encoding.hpp"
#include "crypto/error.hpp"
#include "crypto/random.hpp"
#include "crypto/xml.hpp"
#include "protocols/evidence.hpp"
#include "protocols/html.hpp"
#include "protocols/lifecycle.hpp"

#include <nlohmann/json.hpp>
#include <xmlsec/xmltree.h>

#include <cstdio>

namespace sceau::protocols {
namespace {

using nlohmann::json;

struct event_label {
    std::string_view event, fr, en;
};

constexpr event_label labels[] = {
    {event::submission_acceptance, "Dépôt accepté", "Deposit accepted"},
    {event::submission_rejection, "Dépôt refusé", "Deposit refused"},
    {event::notification, "Destinataire avisé", "Recipient notified"},
    {event::notification_failure, "Destinataire injoignable", "Recipient unreachable"},
    {event::acceptance, "Lettre acceptée", "Letter accepted"},
    {event::rejection, "Lettre refusée", "Letter refused"},
    {event::expiry, "Délai écoulé sans réponse", "Window ended without a choice"},
    {event::handover, "Contenu remis au destinataire", "Content handed over"},
};

std::string label(std::string_view event, bool french) {
    for (const auto& l : labels) {
        if (l.event == event)
            return std::string(french ? l.fr : l.en);
    }
    return std::string(event);
}

std::string two_digits(std::size_t n) {
    char buffer[16];
    std::snprintf(buffer, sizeof buffer, "%02zu", n);
    return buffer;
}

std::string joined(const std::vector<std::string>& pems) {
    std::string out;
    for (const auto& p : pems)
        out += p;
    return out;
}

/// One record, as the bundle stores it and what its time-stamps cover.
struct record_files {
    storage::evidence_record record;
    evidence_view view;
    std::string entry;
    std::string signature_value_c14n; ///< what the SignatureTimeStamp stamps
    std::vector<std::uint8_t> signature_timestamp;
};

record_files read_record(storage::evidence_record record, std::size_t n) {
    record_files out;
    auto doc = crypto::parse_xml(record.xml);
    out.view = read_evidence(doc.get());
    xmlNode* value = xmlSecFindNode(
        xmlDocGetRootElement(doc.get()), reinterpret_cast<const xmlChar*>("SignatureValue"),
        reinterpret_cast<const xmlChar*>("http://www.w3.org/2000/09/xmldsig#"));
    xmlNode* token = xmlSecFindNode(xmlDocGetRootElement(doc.get()),
                                    reinterpret_cast<const xmlChar*>("EncapsulatedTimeStamp"),
                                    reinterpret_cast<const xmlChar*>(crypto::xades::ns));
    if (!value || !token)
        throw crypto::error(crypto::errc::signature_missing,
                            "record " + record.id + " is not sealed with a time-stamp");
    out.signature_value_c14n = crypto::exclusive_c14n(doc.get(), value);
    crypto::xml_string_ptr text(xmlNodeGetContent(token));
    out.signature_timestamp = crypto::from_base64(reinterpret_cast<const char*>(text.get()));
    out.entry = "evidence/" + two_digits(n) + "-" + record.event + "-" + record.id + ".xml";
    out.record = std::move(record);
    return out;
}

struct document_file {
    storage::document_record document;
    std::string entry;       ///< empty when not in the bundle
    std::string why_missing; ///< when not in the bundle
};

std::string summary_html(const storage::letter_record& letter,
                         const std::optional<storage::sender_record>& sender,
                         const std::vector<record_files>& records,
                         const std::vector<document_file>& documents, const bundle_sources& sources,
                         const std::string& generated_at) {
    auto e = [](std::string_view s) { return html_escape(s); };
    auto both = [&](std::string_view fr, std::string_view en) {
        return "<span lang=\"fr\">" + e(fr) + "</span> / <span lang=\"en\">" + e(en) + "</span>";
    };
    auto r = recipient_from_json(letter.recipient_json);
    std::string recipient_name = r.given_name + (r.given_name.empty() ? "" : " ") + r.family_name;
    if (!r.legal_name.empty())
        recipient_name += (recipient_name.empty() ? "" : ", ") + r.legal_name;

    std::string h = "<!DOCTYPE html>\n<html lang=\"fr\">\n<head>\n<meta charset=\"utf-8\">\n";
    h += "<title>Preuves / Proofs " + e(letter.id) + "</title>\n";
    h += "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;font-size:14px}"
         "table{border-collapse:collapse;width:100%}td,th{border:1px solid #999;padding:4px;"
         "text-align:left;vertical-align:top}code{font-size:12px;word-break:break-all}</style>\n";
    h += "</head>\n<body>\n";
    h += "<h1>" + both("Lettre recommandée électronique : preuves", "Registered letter: proofs") +
         "</h1>\n";
    h += "<p>" + e(sources.provider_name) + " — " + e(letter.id) + " (" + e(letter.kind) + ", " +
         e(letter.status) + ")</p>\n<table>\n";
    auto row = [&](std::string_view fr, std::string_view en, const std::string& value) {
        h += "<tr><th>" + both(fr, en) + "</th><td>" + e(value) + "</td></tr>\n";
    };
    if (sender)
        row("Expéditeur", "Sender",
            sender->name + (sender->company.empty() ? "" : ", " + sender->company) + " <" +
                sender->email + ">");
    row("Destinataire", "Recipient", recipient_name + " <" + r.email + ">");
    if (!letter.reference.empty())
        row("Référence", "Reference", letter.reference);
    row("Déposée le (UTC)", "Deposited at (UTC)", letter.created_at);
    if (!letter.accept_deadline.empty())
        row("Délai d'acceptation (UTC)", "Acceptance deadline (UTC)", letter.accept_deadline);
    row("Qualifié", "Qualified", sources.qualified ? "oui / yes" : "non / no");
    h += "</table>\n";

    h += "<h2>" + both("Chronologie", "Timeline") + "</h2>\n<table>\n<tr><th>" +
         both("Heure (UTC, horodatée)", "Time (UTC, time-stamped)") + "</th><th>" +
         both("Événement", "Event") + "</th><th>" + both("Preuve", "Evidence") + "</th></tr>\n";
    for (const auto& f : records) {
        h += "<tr><td>" + e(f.view.event_time) + "</td><td><span lang=\"fr\">" +
             e(label(f.view.event, true)) + "</span> / <span lang=\"en\">" +
             e(label(f.view.event, false)) + "</span></td><td><code>" + e(f.entry) +
             "</code></td></tr>\n";
    }
    h += "</table>\n";

    h += "<h2>" + both("Documents", "Documents") + "</h2>\n<table>\n<tr><th>" +
         both("Nom", "Name") + "</th><th>SHA-256</th><th>" +
         both("Dans ce paquet", "In this bundle") + "</th></tr>\n";
    for (const auto& d : documents) {
        h += "<tr><td>" + e(d.document.name) + "</td><td><code>" + e(d.document.sha256) +
             "</code></td><td>" +
             (d.entry.empty() ? e(d.why_missing) : "<code>" + e(d.entry) + "</code>") +
             "</td></tr>\n";
    }
    h += "</table>\n";

    h += "<h2>" + both("Vérifier", "How to check") + "</h2>\n";
    h += "<p lang=\"fr\">Chaque preuve est scellée (XAdES) et horodatée (RFC 3161) ; le paquet "
         "entier est signé dans <code>META-INF/signatures0.xml</code>. Vérification hors ligne : "
         "<code>sceau verify CE-FICHIER --trust ANCRE.pem</code>, ou avec xmlsec1 et openssl "
         "ts (docs/bundle.md).</p>\n";
    h += "<p lang=\"en\">Each record is sealed (XAdES) and time-stamped (RFC 3161); the whole "
         "bundle is signed in <code>META-INF/signatures0.xml</code>. Check it offline with "
         "<code>sceau verify THIS-FILE --trust ANCHOR.pem</code>, or with xmlsec1 and openssl ts "
         "(docs/bundle.md).</p>\n";
    h += "<p>" + both("Paquet produit le (UTC)", "Bundle made at (UTC)") + " " + e(generated_at) +
         "</p>\n</body>\n</html>\n";
    return h;
}

} // namespace

std::string document_entry_name(int position, const std::string& name) {
    std::string safe;
    for (char c : name) {
        bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '-' || c == '_';
        safe.push_back(keep ? c : '_');
        if (safe.size() == 100)
            break;
    }
    while (!safe.empty() && safe.front() == '.')
        safe.erase(safe.begin()); // no hidden files, no "." or ".."
    if (safe.empty())
        safe = "document";
    return "documents/" + std::to_string(position) + "-" + safe;
}

bundle_builder::bundle_builder(storage::database& db, storage::blob_store& blobs,
                               crypto::xades_signer& signer, checkpointer& log,
                               bundle_sources sources, crypto::clock_fn clock)
    : db_(db)
    , blobs_(blobs)
    , signer_(signer)
    , log_(log)
    , sources_(std::move(sources))
    , clock_(std::move(clock)) {}

void bundle_builder::write(const storage::letter_record& letter, const std::filesystem::path& path,
                           bool with_documents) {
    // 1. The records, exactly as sealed, and what their time-stamps cover.
    std::vector<record_files> records;
    for (const auto& listed : letter.evidence) {
        auto full = db_.evidence_by_id(listed.id);
        if (!full)
            throw storage::storage_error(storage::storage_error::kind::corrupt,
                                         "evidence " + listed.id + " is listed but missing");
        records.push_back(read_record(std::move(*full), records.size() + 1));
    }

    // 2. The documents the reader may have and the store still keeps.
    std::vector<document_file> documents;
    for (const auto& d : letter.documents) {
        document_file f{d, {}, {}};
        if (!d.stored)
            f.why_missing = "jamais conservé / never stored (deposit refused)";
        else if (!d.purged_at.empty())
            f.why_missing = "supprimé le / purged on " + d.purged_at + " (retention)";
        else if (!with_documents)
            f.why_missing = "non partagé / not shared";
        else if (!blobs_.exists(d.sha256))
            throw storage::storage_error(storage::storage_error::kind::corrupt,
                                         "the bytes of a document of " + letter.id +
                                             " are missing");
        else
            f.entry = document_entry_name(d.position, d.name);
        documents.push_back(std::move(f));
    }

    // 3. A checkpoint of the log that covers every record, and each record's place in it.
    std::int64_t last_leaf = -1;
    std::vector<storage::log_entry> leaves;
    for (const auto& f : records) {
        auto leaf = db_.log_entry_of(f.record.id);
        if (!leaf)
            throw storage::storage_error(storage::storage_error::kind::corrupt,
                                         "evidence " + f.record.id + " is not in the log");
        last_leaf = std::max(last_leaf, leaf->leaf_index);
        leaves.push_back(*leaf);
    }
    auto checkpoint = db_.latest_checkpoint();
    if (!checkpoint || checkpoint->tree_size <= last_leaf)
        checkpoint = log_.checkpoint_now();

    // 4. The container: every entry, then the manifest, then the signature over all.
    auto generated_at = crypto::format_utc(clock_());
    crypto::asic_writer container(path);
    json index = {{"format", bundle_entry::format},     {"letter", letter.id},
                  {"provider", sources_.provider_name}, {"generated_at", generated_at},
                  {"documents", json::array()},         {"evidence", json::array()}};
    for (const auto& f : documents) {
        index["documents"].push_back(
            {{"position", f.document.position},
             {"name", f.document.name},
             {"media_type", f.document.media_type},
             {"sha256", f.document.sha256},
             {"entry", f.entry.empty() ? json(nullptr) : json(f.entry)},
             {"missing", f.entry.empty() ? json(f.why_missing) : json(nullptr)}});
        if (!f.entry.empty())
            container.add_file(f.entry, blobs_.path_of(f.document.sha256), f.document.media_type);
    }
    for (const auto& f : records) {
        const auto& id = f.record.id;
        std::string stamps = "timestamps/" + id;
        index["evidence"].push_back({{"id", id},
                                     {"event", f.view.event},
                                     {"time", f.view.event_time},
                                     {"entry", f.entry},
                                     {"event_timestamp", stamps + "-event.tst"},
                                     {"event_imprint", stamps + "-event.txt"},
                                     {"signature_timestamp", stamps + "-signature.tst"},
                                     {"signature_value", stamps + "-signature.c14n"}});
        container.add(f.entry, f.record.xml, "text/xml");
        container.add(stamps + "-event.tst",
                      std::string(f.view.event_timestamp.begin(), f.view.event_timestamp.end()),
                      "application/timestamp-reply");
        container.add(stamps + "-event.txt", event_imprint_text(f.view), "text/plain");
        container.add(stamps + "-signature.tst",
                      std::string(f.signature_timestamp.begin(), f.signature_timestamp.end()),
                      "application/timestamp-reply");
        container.add(stamps + "-signature.c14n", f.signature_value_c14n, "text/xml");
    }
    if (checkpoint) {
        index["log"] = {{"checkpoint", bundle_entry::checkpoint},
                        {"checkpoint_timestamp", bundle_entry::checkpoint_timestamp},
                        {"verifier_key", bundle_entry::verifier_key},
                        {"tree_size", checkpoint->tree_size}};
        container.add(std::string(bundle_entry::checkpoint), checkpoint->note, "text/plain");
        auto token = crypto::from_base64(checkpoint->timestamp_token);
        container.add(std::string(bundle_entry::checkpoint_timestamp),
                      std::string(token.begin(), token.end()), "application/timestamp-reply");
        container.add(std::string(bundle_entry::verifier_key), log_.signer().verifier_key() + "\n",
                      "text/plain");
        for (std::size_t i = 0; i < records.size(); ++i) {
            auto proof = db_.log_inclusion(leaves[i].leaf_index, checkpoint->tree_size);
            json audit_path = json::array();
            for (const auto& h : proof.path)
                audit_path.push_back(crypto::to_base64(h));
            json inclusion = {{"evidence_id", records[i].record.id},
                              {"leaf_index", proof.leaf_index},
                              {"tree_size", proof.tree_size},
                              {"leaf_hash", crypto::to_base64(proof.leaf_hash)},
                              {"inclusion_path", audit_path}};
            auto entry = "log/" + records[i].record.id + "-inclusion.json";
            index["evidence"][i]["inclusion"] = entry;
            container.add(entry, inclusion.dump(2) + "\n", "application/json");
        }
    }
    container.add(std::string(bundle_entry::seal_chain), joined(sources_.seal_chain_pem),
                  "application/pem-certificate-chain");
    container.add(std::string(bundle_entry::tsa_certificates), joined(sources_.tsa_pem),
                  "application/pem-certificate-chain");
    container.add(std::string(bundle_entry::trust_anchors), joined(sources_.anchors_pem),
                  "application/pem-certificate-chain");
    container.add(std::string(bundle_entry::summary),
                  summary_html(letter, db_.sender_by_id(letter.sender_id), records, documents,
                               sources_, generated_at),
                  "text/html");
    container.add(std::string(bundle_entry::index), index.dump(2) + "\n", "application/json");
    container.add_manifest();

    auto signed_container =
        signer_.seal_detached(container.objects(), crypto::random_id("bnd_", 8), clock_());
    container.finish(std::move(signed_container.bytes));
}

} // namespace sceau::protocols
