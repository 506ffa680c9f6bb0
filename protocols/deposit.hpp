#pragma once

#include "protocols/letter.hpp"
#include "protocols/pdf_checker_pool.hpp"
#include "protocols/sealer.hpp"
#include "storage/blob_store.hpp"
#include "storage/database.hpp"

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace sceau::protocols {

/// Who runs the gateway, as evidence names it.
struct provider_info {
    std::string name;                  ///< legal name, in EvidenceIssuerDetails
    std::vector<std::string> policies; ///< EvidenceIssuerPolicyID values
    bool qualified = false;            ///< false on sample keys or the built-in TSA
};

struct deposit_policy {
    std::vector<std::string> allowed_media_types = {"application/pdf"};
    /// Where PDFs are checked: in the pool's bounded processes, or, without one, in this
    /// process (tests of the domain only). Not owned; outlives the deposit service.
    pdf_checker_pool* pdf_checker = nullptr;
};

/// A document received and written to a temporary file, hashed on the way.
struct staged_document {
    std::string name; ///< sanitised, metadata only
    std::string media_type;
    std::string sha256_hex;
    storage::blob_store::writer file;
};

struct deposit_request {
    storage::sender_record sender;
    std::string letter_json;
    std::vector<staged_document> documents;
    std::string idempotency_key; ///< empty when the client sent none
};

/// What "the same request" means for Idempotency-Key: SHA-256 over the letter part's
/// bytes and each document's name, media type and digest, so that a client retrying
/// with a fresh multipart boundary is recognised.
std::string request_fingerprint(const deposit_request& request);

struct deposit_result {
    enum class outcome { created, replayed, rejected };
    outcome result = outcome::created;
    storage::letter_record letter;
    std::vector<policy_violation> reasons; ///< why, when rejected
};

/// The same Idempotency-Key was used with another body: 409.
class idempotency_conflict : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// The deposit of one letter, from staged bytes to committed evidence:
/// parse, check, seal, time-stamp, store, in that order; nothing is stored unless all of
/// it is (design, Storage).
class deposit_service {
public:
    deposit_service(storage::database& db, storage::blob_store& blobs, evidence_sealer& sealer,
                    provider_info provider, deposit_policy policy, crypto::clock_fn clock);

    /// Throws invalid_letter (400), idempotency_conflict (409), crypto::error with a
    /// tsa_* code (503), pdf_check_unavailable (503), storage::storage_error.
    deposit_result deposit(deposit_request& request);

private:
    std::vector<policy_violation> check_documents(deposit_request& request,
                                                  std::vector<std::string>& flags);
    std::optional<deposit_result> replay(const deposit_request& request,
                                         const std::string& fingerprint);

    storage::database& db_;
    storage::blob_store& blobs_;
    evidence_sealer& sealer_;
    provider_info provider_;
    deposit_policy policy_;
    crypto::clock_fn clock_;
};

/// The recipient as stored with the letter (JSON text).
std::string recipient_json(const recipient& r);

} // namespace sceau::protocols
