#pragma once

#include "crypto/sha256.hpp"
#include "gateway/multipart.hpp"
#include "protocols/deposit.hpp"
#include "storage/blob_store.hpp"

#include <optional>
#include <string>
#include <vector>

namespace sceau::gateway {

/// Receives the parts of a deposit from the multipart parser: the `letter` JSON into
/// memory (bounded), each `document` straight to a temporary file while it is hashed.
/// Throws http_problem for parts that break the API's rules.
class upload_collector final : public multipart_parser::handler {
public:
    struct limits {
        std::size_t max_letter_bytes;
        std::uint64_t max_document_bytes;
        std::size_t max_documents;
    };

    upload_collector(storage::blob_store& blobs, limits l);

    void on_part_begin(const part_header& header) override;
    void on_part_data(std::span<const char> data) override;
    void on_part_end() override;

    /// The letter part; throws http_problem(invalid_letter) when there was none.
    std::string take_letter();
    std::vector<protocols::staged_document> take_documents() { return std::move(documents_); }

private:
    enum class part { none, letter, document };

    storage::blob_store& blobs_;
    limits limits_;
    part current_ = part::none;
    std::optional<std::string> letter_;
    std::vector<protocols::staged_document> documents_;
    crypto::sha256 hash_;
};

/// The media type of a part's Content-Type, lower case, parameters dropped;
/// application/octet-stream when it is not of the form type/subtype.
std::string media_type_of(std::string_view content_type);

} // namespace sceau::gateway
