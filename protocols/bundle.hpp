#pragma once

#include "crypto/timestamp.hpp"
#include "crypto/xades.hpp"
#include "protocols/transparency_log.hpp"
#include "storage/blob_store.hpp"
#include "storage/database.hpp"

#include <filesystem>
#include <string>
#include <vector>

namespace sceau::protocols {

/// Names inside a proof bundle (docs/bundle.md).
namespace bundle_entry {
inline constexpr std::string_view index = "bundle.json";
inline constexpr std::string_view summary = "summary.html";
inline constexpr std::string_view seal_chain = "certificates/seal-chain.pem";
inline constexpr std::string_view tsa_certificates = "certificates/tsa.pem";
inline constexpr std::string_view trust_anchors = "certificates/trust-anchors.pem";
inline constexpr std::string_view checkpoint = "log/checkpoint.txt";
inline constexpr std::string_view checkpoint_timestamp = "log/checkpoint.tst";
inline constexpr std::string_view verifier_key = "log/verifier-key.txt";
inline constexpr std::string_view format = "sceau-bundle-1";
} // namespace bundle_entry

/// What the gateway publishes for verifiers (GET /v1/trust), copied into each bundle.
struct bundle_sources {
    std::string provider_name;
    std::vector<std::string> seal_chain_pem;
    std::vector<std::string> tsa_pem;
    std::vector<std::string> anchors_pem;
    bool qualified = false;
};

/// Writes the proof bundle of a letter: an ASiC-E container (ETSI EN 319 162-1) holding
/// the documents when the reader is entitled to them and they are still kept, every
/// evidence record exactly as sealed, each record's two time-stamp tokens with the bytes
/// they stamp, the certificates of GET /v1/trust, a summary page in French and English,
/// an index, the manifest, and a detached XAdES-B-T signature of the gateway over every
/// file; and from the transparency log, a checkpoint that covers every record (made on
/// demand if the latest does not) with the inclusion proof of each record in it.
/// Documents are read from their files as the container is written.
class bundle_builder {
public:
    bundle_builder(storage::database& db, storage::blob_store& blobs, crypto::xades_signer& signer,
                   checkpointer& log, bundle_sources sources, crypto::clock_fn clock);

    /// `letter` as the store returns it with its documents and evidence list. Throws
    /// crypto::error (tsa_* when the container signature cannot be time-stamped),
    /// storage::storage_error; `path` is then not written.
    void write(const storage::letter_record& letter, const std::filesystem::path& path,
               bool with_documents);

private:
    storage::database& db_;
    storage::blob_store& blobs_;
    crypto::xades_signer& signer_;
    checkpointer& log_;
    bundle_sources sources_;
    crypto::clock_fn clock_;
};

/// The name of a document inside the bundle: `documents/N-` and its name reduced to
/// ASCII letters, digits, `.`, `-` and `_`.
std::string document_entry_name(int position, const std::string& name);

} // namespace sceau::protocols
