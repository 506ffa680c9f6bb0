#include "protocols/deposit.hpp"

#include "crypto/encoding.hpp"
#include "crypto/random.hpp"
#include "crypto/sha256.hpp"
#include "protocols/lifecycle.hpp"
#include "protocols/pdf_check.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace sceau::protocols {
namespace {

party sender_party(const storage::sender_record& s, const std::string& when) {
    party p;
    p.attributes.emplace_back(attribute::common_name, s.name);
    if (!s.company.empty())
        p.attributes.emplace_back(attribute::legal_name, s.company);
    p.email = s.email;
    // The operator identified the sender when it created the account (CPCE R.53-1);
    // the sender then authenticated this deposit with its API key.
    p.assurance_level = "urn:sceau:sender:identified-by-operator";
    p.assurance_policy = s.identified_by;
    p.authentication_method = "urn:sceau:authn:api-key";
    p.authentication_time = when;
    return p;
}

std::string join(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& i : items)
        out += (out.empty() ? "" : ",") + i;
    return out;
}

} // namespace

std::string recipient_json(const recipient& r) {
    nlohmann::json j = {{"email", r.email},
                        {"given_name", r.given_name},
                        {"family_name", r.family_name},
                        {"birth_date", r.birth_date},
                        {"professional", r.professional},
                        {"legal_name", r.legal_name},
                        {"person_identifier", r.person_identifier}};
    for (auto it = j.begin(); it != j.end();) {
        if (it->is_string() && it->get<std::string>().empty())
            it = j.erase(it);
        else
            ++it;
    }
    return j.dump();
}

deposit_service::deposit_service(storage::database& db, storage::blob_store& blobs,
                                 evidence_sealer& sealer, provider_info provider,
                                 deposit_policy policy, crypto::clock_fn clock)
    : db_(db)
    , blobs_(blobs)
    , sealer_(sealer)
    , provider_(std::move(provider))
    , policy_(std::move(policy))
    , clock_(std::move(clock)) {}

std::string request_fingerprint(const deposit_request& request) {
    crypto::sha256 h;
    auto field = [&h](std::string_view label, std::string_view value) {
        // Length-prefixed, so that no two different requests give one text.
        h.update(label);
        h.update(std::to_string(value.size()) + ":");
        h.update(value);
    };
    field("letter", request.letter_json);
    for (const auto& doc : request.documents) {
        field("name", doc.name);
        field("type", doc.media_type);
        field("sha256", doc.sha256_hex);
    }
    return crypto::to_hex(h.finish());
}

std::optional<deposit_result> deposit_service::replay(const deposit_request& request,
                                                      const std::string& fingerprint) {
    if (request.idempotency_key.empty())
        return std::nullopt;
    auto seen = db_.idempotency(request.sender.id, request.idempotency_key);
    if (!seen)
        return std::nullopt;
    if (seen->fingerprint != fingerprint)
        throw idempotency_conflict("this Idempotency-Key was used with another request body");
    auto letter = db_.letter(request.sender.id, seen->letter_id);
    if (!letter)
        throw storage::storage_error(storage::storage_error::kind::corrupt,
                                     "idempotency key names a missing letter");
    deposit_result out;
    out.result = deposit_result::outcome::replayed;
    out.letter = std::move(*letter);
    return out;
}

std::vector<policy_violation> deposit_service::check_documents(deposit_request& request,
                                                               std::vector<std::string>& flags) {
    std::vector<policy_violation> out;
    for (std::size_t i = 0; i < request.documents.size(); ++i) {
        auto& doc = request.documents[i];
        std::string which = "document " + std::to_string(i + 1) + " (" + doc.name + ")";
        const auto& allowed = policy_.allowed_media_types;
        if (std::find(allowed.begin(), allowed.end(), doc.media_type) == allowed.end()) {
            out.push_back({std::string(reason::invalid_content),
                           which + ": media type " + doc.media_type + " is not accepted"});
            continue;
        }
        if (doc.media_type != "application/pdf")
            continue;

        doc.file.close();
        auto report = policy_.pdf_checker ? policy_.pdf_checker->check(doc.file.path())
                                          : check_pdf(doc.file.path());
        if (report.outcome != pdf_report::verdict::ok) {
            out.push_back({std::string(reason::invalid_content), which + ": " + report.reason});
            continue;
        }
        // Accepted unchanged; the flags tell sender and recipient what the file holds.
        std::vector<std::string> found;
        if (report.has_javascript)
            found.emplace_back("javascript");
        if (report.has_embedded_files)
            found.emplace_back("embedded-files");
        flags[i] = join(found);
    }
    return out;
}

deposit_result deposit_service::deposit(deposit_request& request) {
    auto fingerprint = request_fingerprint(request);
    if (auto replayed = replay(request, fingerprint))
        return std::move(*replayed);

    // 1. Parse and check: malformed input is a 400 with nothing stored.
    auto letter = parse_letter(request.letter_json);
    if (request.documents.empty())
        throw invalid_letter("document: at least one document part is required");

    // 2. Policy: a well-formed deposit that breaks a rule gets SubmissionRejection.
    auto reasons = check_policy(letter);
    std::vector<std::string> flags(request.documents.size());
    auto content_reasons = check_documents(request, flags);
    reasons.insert(reasons.end(), content_reasons.begin(), content_reasons.end());
    bool rejected = !reasons.empty();

    // 3. Evidence, sealed and time-stamped before anything is stored.
    storage::letter_record record;
    record.id = crypto::random_id("ltr_");
    record.sender_id = request.sender.id;
    record.kind = std::string(to_string(letter.kind));
    record.status = rejected ? "rejected" : "deposited";
    record.reference = letter.reference;
    record.subject = letter.subject;
    record.recipient_json = recipient_json(letter.recipient);
    record.consent_reference = letter.consent_reference;
    record.qualified = provider_.qualified;

    for (std::size_t i = 0; i < request.documents.size(); ++i) {
        const auto& doc = request.documents[i];
        storage::document_record d;
        d.position = static_cast<int>(i + 1);
        d.name = doc.name;
        d.media_type = doc.media_type;
        d.size = static_cast<std::int64_t>(doc.file.size());
        d.sha256 = doc.sha256_hex;
        d.flags = flags[i];
        d.stored = !rejected; // a refused deposit keeps digests, never bytes
        record.documents.push_back(std::move(d));
    }

    auto draft = draft_for(record, request.sender, provider_,
                           rejected ? event::submission_rejection : event::submission_acceptance);
    draft.reasons = reasons;
    // The sender authenticated now; the evidence's own time is the time-stamp's.
    draft.sender = sender_party(request.sender, crypto::format_utc(clock_()));
    auto sealed = sealer_.seal(draft);
    record.created_at = sealed.event_time;

    storage::evidence_record evidence{sealed.id,         record.id,         sealed.event,
                                      sealed.event_time, sealed.event_time, sealed.xml};

    // 4. Bytes at rest before the rows that name them; rows in one transaction.
    std::vector<std::string> published;
    auto release_all = [&](bool committed) {
        for (const auto& sha : published) {
            bool referenced = true; // when in doubt, keep the file
            if (!committed) {
                try {
                    referenced = db_.blob_known(sha);
                } catch (const storage::storage_error&) {
                }
            }
            blobs_.release(sha, committed, referenced);
        }
    };

    try {
        if (!rejected) {
            for (auto& doc : request.documents) {
                blobs_.publish(doc.file, doc.sha256_hex);
                published.push_back(doc.sha256_hex);
            }
        }
        auto tx = db_.begin();
        tx.insert_letter(record);
        for (const auto& d : record.documents) {
            tx.insert_document(record.id, d);
            if (d.stored)
                tx.insert_blob({d.sha256, d.size}, sealed.event_time);
        }
        tx.insert_evidence(evidence);
        queue_webhook(tx, request.sender, evidence, record.status, sealed.event_time);
        if (!rejected) // the notice leaves from the durable queue (notifier)
            tx.insert_mail_job({crypto::random_id("mail_"), record.id, "notice", "pending", 0,
                                sealed.event_time, "", ""},
                               sealed.event_time);
        if (!request.idempotency_key.empty())
            tx.insert_idempotency(
                {request.sender.id, request.idempotency_key, fingerprint, record.id},
                sealed.event_time);
        tx.commit();
    } catch (const storage::storage_error& e) {
        release_all(false);
        // Two requests with one Idempotency-Key raced: the other one won.
        if (e.which() == storage::storage_error::kind::conflict) {
            if (auto replayed = replay(request, fingerprint))
                return std::move(*replayed);
        }
        throw;
    } catch (...) {
        release_all(false);
        throw;
    }
    release_all(true);

    deposit_result out;
    out.result = rejected ? deposit_result::outcome::rejected : deposit_result::outcome::created;
    evidence.xml.clear();
    record.evidence.push_back(std::move(evidence));
    out.letter = std::move(record);
    out.reasons = std::move(reasons);
    return out;
}

} // namespace sceau::protocols
