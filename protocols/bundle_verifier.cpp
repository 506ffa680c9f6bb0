#include "protocols/bundle_verifier.hpp"

#include "crypto/asic.hpp"
#include "crypto/certificate.hpp"
#include "crypto/encoding.hpp"
#include "crypto/error.hpp"
#include "crypto/merkle.hpp"
#include "crypto/signed_note.hpp"
#include "crypto/tsp_client.hpp"
#include "crypto/xades_verifier.hpp"
#include "crypto/xml.hpp"
#include "protocols/bundle.hpp"
#include "protocols/evidence.hpp"
#include "protocols/record_check.hpp"

#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <set>

namespace sceau::protocols {
namespace {

using nlohmann::json;
using verdict = check_result::verdict;

constexpr std::uint64_t max_xml_bytes = 16u << 20;
constexpr const char* dsig_ns = "http://www.w3.org/2000/09/xmldsig#";

const xmlChar* x(std::string_view s) {
    return reinterpret_cast<const xmlChar*>(s.data());
}

bool is(const xmlNode* n, std::string_view ns, std::string_view local) {
    return n && n->type == XML_ELEMENT_NODE && n->ns &&
           ns == reinterpret_cast<const char*>(n->ns->href) &&
           local == reinterpret_cast<const char*>(n->name);
}

std::string when(std::chrono::system_clock::time_point t) {
    return crypto::format_utc(t);
}

bool starts_with(std::string_view s, std::string_view prefix) {
    return s.substr(0, prefix.size()) == prefix;
}

bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

/// The names the manifest lists, or nothing when there is no manifest.
std::optional<std::set<std::string>> manifest_paths(const crypto::asic_reader& container,
                                                    verification_report& report) {
    if (!container.find(crypto::asic::manifest_entry))
        return std::nullopt;
    std::set<std::string> out;
    try {
        auto doc = crypto::parse_xml(container.read(crypto::asic::manifest_entry, max_xml_bytes));
        xmlNode* root = xmlDocGetRootElement(doc.get());
        if (!is(root, crypto::asic::manifest_ns, "manifest"))
            throw crypto::error(crypto::errc::xml_malformed, "not an OpenDocument manifest");
        std::string ns(crypto::asic::manifest_ns);
        for (xmlNode* e = root->children; e; e = e->next) {
            if (!is(e, crypto::asic::manifest_ns, "file-entry"))
                continue;
            crypto::xml_string_ptr path(xmlGetNsProp(e, x("full-path"), x(ns)));
            if (path && std::string_view(reinterpret_cast<const char*>(path.get())) != "/")
                out.insert(reinterpret_cast<const char*>(path.get()));
        }
    } catch (const crypto::error& e) {
        report.fails("manifest", e.what());
    }
    return out;
}

/// The container signature; returns the entries it covers, and who signed it.
/// The entries the container signature covers; nothing when it does not hold, so that one
/// changed file is reported once, by its own check, not as every entry left uncovered.
std::optional<std::set<std::string>>
check_container_signature(const crypto::asic_reader& container, const crypto::xades_verifier& seals,
                          const crypto::timestamp_verifier& stamps, verification_report& report,
                          crypto::x509_ptr& signer) {
    std::set<std::string> covered;
    const std::string item = "container signature";
    if (!container.find(crypto::asic::signature_entry)) {
        report.fails(item, "no META-INF/signatures0.xml: the container is not signed");
        return covered; // an unsigned container: no entry is covered
    }
    try {
        auto doc = crypto::parse_xml(container.read(crypto::asic::signature_entry, max_xml_bytes));
        xmlNode* root = xmlDocGetRootElement(doc.get());
        if (!is(root, crypto::asic::signatures_ns, "XAdESSignatures"))
            throw crypto::error(crypto::errc::signature_malformed,
                                "META-INF/signatures0.xml is not an asic:XAdESSignatures");
        std::vector<xmlNode*> signatures;
        for (xmlNode* c = root->children; c; c = c->next) {
            if (c->type == XML_ELEMENT_NODE) {
                if (!is(c, dsig_ns, "Signature"))
                    throw crypto::error(crypto::errc::signature_malformed,
                                        "asic:XAdESSignatures holds something else than "
                                        "ds:Signature");
                signatures.push_back(c);
            }
        }
        if (signatures.size() != 1)
            throw crypto::error(crypto::errc::signature_malformed,
                                "META-INF/signatures0.xml must hold exactly one signature");

        std::vector<crypto::detached_object> objects;
        for (auto& o : container.objects()) {
            if (o.uri != crypto::asic::signature_entry)
                objects.push_back(std::move(o));
        }
        auto result = seals.verify_detached(doc.get(), signatures.front(), objects);
        covered.insert(result.references.begin(), result.references.end());
        signer = crypto::clone(result.signer.get());
        report.holds(item, "sealed by " + crypto::subject_text(result.signer.get()) + " at " +
                               when(result.signing_time) + "; covers " +
                               std::to_string(covered.size()) + " files");
        if (result.signature_timestamp.empty()) {
            report.warns(item + " time-stamp",
                         "none: the signature is XAdES-B-B, its time is only claimed");
        } else {
            try {
                auto token = stamps.verify(result.signature_timestamp, result.timestamp_imprint);
                report.holds(item + " time-stamp", "genTime " + when(token.time));
            } catch (const crypto::error& e) {
                report.fails(item + " time-stamp", e.what());
            }
        }
    } catch (const crypto::error& e) {
        report.fails(item, e.what() + std::string("; the checks below show what changed"));
        return std::nullopt;
    }
    return covered;
}

struct record_result {
    evidence_view view;
    std::string entry;
    std::string xml;
};

/// One evidence record: its seal and its two time-stamps.
std::optional<record_result> read_record(const crypto::asic_reader& container,
                                         const std::string& entry,
                                         const crypto::xades_verifier& seals,
                                         const crypto::timestamp_verifier& stamps,
                                         verification_report& report) {
    record_result out;
    out.entry = entry;
    try {
        out.xml = container.read(entry, max_xml_bytes);
    } catch (const crypto::error& e) {
        report.fails("record " + entry, e.what());
        return std::nullopt;
    }
    auto checked = check_record(out.xml, seals, stamps);
    for (auto& c : checked.checks) {
        if (!checked.view)
            c.item += " " + entry;
        report.checks.push_back(std::move(c));
    }
    if (!checked.view)
        return std::nullopt;
    out.view = std::move(*checked.view);
    return out;
}

/// The log's checkpoint, signed with the key of the certificate that sealed the bundle and
/// time-stamped, and each record's inclusion proof against it (RFC 9162 section 2.1.3.2).
void check_log(const crypto::asic_reader& container, const std::vector<record_result>& records,
               X509* sealer, const crypto::timestamp_verifier& stamps,
               verification_report& report) {
    if (!container.find(bundle_entry::checkpoint)) {
        if (!records.empty())
            report.warns("transparency log", "the bundle holds no checkpoint: the records' "
                                             "place in the log is not shown");
        return;
    }
    const std::string item = "log checkpoint";
    crypto::checkpoint checkpoint;
    try {
        auto note = container.read(bundle_entry::checkpoint, crypto::note_max_bytes);
        checkpoint = crypto::parse_checkpoint(crypto::parse_signed_note(note).text);
        if (!sealer) {
            // Its key is the one that signed the container, whose signature does not hold.
            report.warns(item, "not checked: the container signature, whose certificate "
                               "signs the checkpoint too, does not hold");
            return;
        }
        crypto::evp_pkey_ptr key(X509_get_pubkey(sealer));
        crypto::note_verifier verifier(checkpoint.origin, std::move(key));
        verifier.open(note);
        report.holds(item, std::to_string(checkpoint.tree_size) + " entries, root " +
                               crypto::to_base64(checkpoint.root_hash) +
                               ", signed by the seal key as " + checkpoint.origin);
        try {
            auto token = container.read(bundle_entry::checkpoint_timestamp, 1 << 20);
            auto checked = stamps.verify(crypto::as_bytes(token), crypto::sha256::of(note));
            report.holds(item + " time-stamp", "genTime " + when(checked.time));
        } catch (const std::exception& e) {
            report.fails(item + " time-stamp", e.what());
        }
    } catch (const std::exception& e) {
        report.fails(item, e.what());
        return;
    }

    for (const auto& r : records) {
        std::string name = "inclusion of " + r.view.id + " in the log";
        auto entry = "log/" + r.view.id + "-inclusion.json";
        try {
            auto proof = json::parse(container.read(entry, 1 << 20));
            auto leaf = crypto::merkle::leaf_hash(r.xml);
            std::vector<crypto::merkle::hash> path;
            for (const auto& h : proof.at("inclusion_path")) {
                auto raw = crypto::from_base64(h.get<std::string>());
                if (raw.size() != 32)
                    throw std::runtime_error("a hash of the path is not 32 bytes");
                path.emplace_back();
                std::copy(raw.begin(), raw.end(), path.back().begin());
            }
            auto index = proof.at("leaf_index").get<std::uint64_t>();
            auto size = proof.at("tree_size").get<std::uint64_t>();
            if (crypto::from_base64(proof.at("leaf_hash").get<std::string>()) !=
                std::vector<std::uint8_t>(leaf.begin(), leaf.end()))
                report.fails(name, "the proof is for another leaf than this record's bytes");
            else if (size != checkpoint.tree_size)
                report.fails(name, "the proof is for a tree of " + std::to_string(size) +
                                       " entries, the checkpoint's has " +
                                       std::to_string(checkpoint.tree_size));
            else if (!crypto::merkle::verify_inclusion(index, size, leaf, path,
                                                       checkpoint.root_hash))
                report.fails(name, "the inclusion proof does not lead to the checkpoint's root");
            else
                report.holds(name, "leaf " + std::to_string(index) + " of the checkpoint's " +
                                       std::to_string(size));
        } catch (const std::exception& e) {
            report.fails(name, std::string("no usable inclusion proof: ") + e.what());
        }
    }
}

std::string digest_of(const crypto::asic_reader& container, const std::string& entry) {
    auto source = container.open(entry);
    crypto::sha256 hash;
    std::vector<std::uint8_t> buffer(1 << 16);
    while (std::size_t n = source->read(buffer.data(), buffer.size()))
        hash.update(std::span<const std::uint8_t>(buffer.data(), n));
    return crypto::to_hex(hash.finish());
}

} // namespace

std::string_view to_string(verdict v) noexcept {
    switch (v) {
    case verdict::holds:
        return "holds";
    case verdict::fails:
        return "fails";
    case verdict::warning:
        return "warning";
    }
    return "?";
}

void verification_report::holds(std::string item, std::string detail) {
    checks.push_back({std::move(item), verdict::holds, std::move(detail)});
}

void verification_report::fails(std::string item, std::string detail) {
    checks.push_back({std::move(item), verdict::fails, std::move(detail)});
}

void verification_report::warns(std::string item, std::string detail) {
    checks.push_back({std::move(item), verdict::warning, std::move(detail)});
}

bool verification_report::holds() const {
    return count(verdict::fails) == 0;
}

std::size_t verification_report::count(verdict v) const {
    return static_cast<std::size_t>(std::count_if(
        checks.begin(), checks.end(), [v](const check_result& c) { return c.outcome == v; }));
}

verification_report verify_bundle(const std::filesystem::path& path,
                                  const bundle_verify_options& options) {
    crypto::xml_library_init();
    verification_report report;

    // 1. The container: a hostile one stops here, with the reason.
    std::unique_ptr<crypto::asic_reader> container;
    try {
        container = std::make_unique<crypto::asic_reader>(path);
    } catch (const crypto::error& e) {
        report.fails("container", std::string("refused: ") + e.what());
        return report;
    }
    report.holds("container", "ASiC-E with " + std::to_string(container->entries().size()) +
                                  " entries, mimetype first and stored");

    // 2. Whom to trust.
    std::vector<crypto::x509_ptr> anchors;
    for (const auto& a : options.anchors)
        anchors.push_back(crypto::clone(a.get()));
    if (anchors.empty()) {
        try {
            anchors = crypto::certificates_from_pem(
                container->read(bundle_entry::trust_anchors, 1 << 20));
            std::string fingerprints;
            for (const auto& a : anchors)
                fingerprints +=
                    (fingerprints.empty() ? "" : ", ") + crypto::fingerprint_sha256(a.get());
            report.warns("trust anchor",
                         "taken from the bundle itself (SHA-256 " + fingerprints +
                             "): compare it with the provider's published one, or give --trust");
        } catch (const std::exception&) {
            report.fails("trust anchor", "none given and none in the bundle");
            return report;
        }
    }
    crypto::tsp_trust tsa;
    for (const auto& a : anchors)
        tsa.anchors.push_back(crypto::clone(a.get()));
    if (container->find(bundle_entry::tsa_certificates)) {
        try {
            tsa.known_tsa_certificates = crypto::certificates_from_pem(
                container->read(bundle_entry::tsa_certificates, 1 << 20));
        } catch (const std::exception&) {
            // Only a help for tokens without their certificate; the checks below say more.
        }
    }
    // A bundle holds a few records: they are checked with xmlsec1 and OpenSSL's PKCS#7 code,
    // the libraries' own verification, which an audit's verification of a whole archive is
    // compared with (sceau audit --cross-check).
    crypto::xades_verifier seals(std::move(anchors), crypto::verification_path::library);
    crypto::timestamp_verifier stamps(std::move(tsa), crypto::verification_path::library);

    // 3. The container signature, and that it covers every entry.
    crypto::x509_ptr sealer;
    auto signed_entries = check_container_signature(*container, seals, stamps, report, sealer);
    auto listed = manifest_paths(*container, report);
    // Which entries a failed signature covers is not known: the checks below say what changed.
    if (signed_entries) {
        const auto& covered = *signed_entries;
        for (const auto& e : container->entries()) {
            bool signature_file =
                starts_with(e.name, "META-INF/") && e.name.find("signatures") != std::string::npos;
            if (signature_file)
                continue;
            bool in_manifest = !listed || listed->count(e.name) || starts_with(e.name, "META-INF/");
            if (!covered.count(e.name) && e.name == crypto::asic::manifest_entry)
                report.warns("entry " + e.name,
                             "the manifest is not signed (EN 319 162-1 allows it): it is only read "
                             "for the list of files");
            else if (!covered.count(e.name))
                report.fails("entry " + e.name,
                             in_manifest ? "not covered by the container signature"
                                         : "neither signed nor in the manifest: added afterwards?");
            else if (!in_manifest)
                report.warns("entry " + e.name, "signed but not listed in the manifest");
        }
    } else if (listed) {
        for (const auto& e : container->entries()) {
            if (!starts_with(e.name, "META-INF/") && !listed->count(e.name))
                report.fails("entry " + e.name, "not in the manifest: added afterwards?");
        }
    }
    if (listed) {
        for (const auto& p : *listed) {
            if (!container->find(p))
                report.fails("manifest", "lists " + p + ", which the container lacks");
        }
    }

    // 4. The evidence records.
    std::vector<record_result> records;
    for (const auto& e : container->entries()) {
        if (starts_with(e.name, "evidence/") && ends_with(e.name, ".xml")) {
            if (auto r = read_record(*container, e.name, seals, stamps, report))
                records.push_back(std::move(*r));
        }
    }
    if (records.empty())
        report.warns("evidence", "no evidence record: only the container signature was checked");
    std::set<std::string> letters;
    for (const auto& r : records)
        letters.insert(r.view.letter_id);
    if (letters.size() > 1)
        report.fails("evidence",
                     "the records are of " + std::to_string(letters.size()) + " different letters");

    check_log(*container, records, sealer.get(), stamps, report);

    // 5. The index, the copies of the time-stamps, and each document against the records.
    json index;
    if (container->find(bundle_entry::index)) {
        index = json::parse(container->read(bundle_entry::index, max_xml_bytes), nullptr, false);
        if (index.is_discarded() || !index.is_object()) {
            report.fails("index", "bundle.json is not a JSON object");
            index = json();
        }
    }
    if (index.is_object() && index.value("evidence", json()).is_array()) {
        for (const auto& listed_record : index["evidence"]) {
            if (!listed_record.is_object())
                continue;
            auto entry = listed_record.value("entry", std::string());
            auto it = std::find_if(records.begin(), records.end(),
                                   [&](const record_result& r) { return r.entry == entry; });
            if (it == records.end()) {
                report.fails("record " + entry, "listed in bundle.json but not in the bundle");
                continue;
            }
            auto copy = listed_record.value("event_timestamp", std::string());
            if (!copy.empty() && container->find(copy) &&
                container->read(copy, 1 << 20) !=
                    std::string(it->view.event_timestamp.begin(), it->view.event_timestamp.end()))
                report.fails("entry " + copy, "is not the event time-stamp of its record");
        }
    }

    std::map<std::string, int> positions; // document entry -> position, from the index
    if (index.is_object() && index.value("documents", json()).is_array()) {
        for (const auto& d : index["documents"]) {
            if (!d.is_object())
                continue;
            if (d.value("entry", json()).is_string())
                positions[d["entry"].get<std::string>()] = d.value("position", 0);
            else
                report.warns("document " + d.value("name", std::string("?")),
                             "not in the bundle: " + d.value("missing", std::string("?")) +
                                 "; its digest " + d.value("sha256", std::string()) +
                                 " stays in the evidence");
        }
    }
    for (const auto& e : container->entries()) {
        if (!starts_with(e.name, "documents/") || records.empty())
            continue;
        std::string item = "document " + e.name;
        std::string digest;
        try {
            digest = digest_of(*container, e.name);
        } catch (const std::exception& ex) {
            report.fails(item, ex.what());
            continue;
        }
        auto at = positions.find(e.name);
        std::vector<std::string> agreeing, disagreeing;
        for (const auto& r : records) {
            for (std::size_t i = 0; i < r.view.parts.size(); ++i) {
                bool same_place = at == positions.end() || static_cast<int>(i + 1) == at->second;
                if (!same_place)
                    continue;
                if (r.view.parts[i].sha256_hex == digest)
                    agreeing.push_back(r.view.id);
                else if (at != positions.end())
                    disagreeing.push_back(r.view.id);
            }
        }
        if (!disagreeing.empty())
            report.fails(item, "SHA-256 " + digest + " differs from the digest in " +
                                   disagreeing.front() +
                                   (disagreeing.size() > 1 ? " and others" : ""));
        else if (agreeing.empty())
            report.fails(item, "SHA-256 " + digest + " is in no evidence record");
        else
            report.holds(item, "SHA-256 " + digest + " as in " + std::to_string(agreeing.size()) +
                                   " record(s), first " + agreeing.front());
    }
    return report;
}

} // namespace sceau::protocols
