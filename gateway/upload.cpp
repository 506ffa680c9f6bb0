#include "gateway/upload.hpp"

#include "crypto/encoding.hpp"
#include "gateway/problem.hpp"

namespace sceau::gateway {

std::string media_type_of(std::string_view content_type) {
    auto semicolon = content_type.find(';');
    auto type = content_type.substr(0, semicolon);
    while (!type.empty() && (type.back() == ' ' || type.back() == '\t'))
        type.remove_suffix(1);
    while (!type.empty() && (type.front() == ' ' || type.front() == '\t'))
        type.remove_prefix(1);

    // RFC 6838 section 4.2: restricted-name "/" restricted-name.
    auto slash = type.find('/');
    bool ok = slash != std::string_view::npos && slash > 0 && slash + 1 < type.size() &&
              type.size() <= 127;
    std::string out;
    for (char c : type) {
        bool allowed = std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '!' ||
                       c == '#' || c == '$' || c == '&' || c == '-' || c == '^' || c == '_' ||
                       c == '.' || c == '+';
        ok = ok && allowed;
        out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
    if (!ok || type.find('/', slash + 1) != std::string_view::npos)
        return "application/octet-stream";
    return out;
}

upload_collector::upload_collector(storage::blob_store& blobs, limits l)
    : blobs_(blobs)
    , limits_(l) {}

void upload_collector::on_part_begin(const part_header& header) {
    if (header.name == "letter") {
        if (letter_)
            throw http_problem(problem_kind::invalid_letter, "more than one letter part");
        letter_.emplace();
        current_ = part::letter;
        return;
    }
    if (header.name != "document")
        throw http_problem(problem_kind::malformed_multipart,
                           "unexpected part; the parts are \"letter\" and \"document\"");
    if (documents_.size() >= limits_.max_documents)
        throw http_problem(problem_kind::too_many_parts,
                           "more than " + std::to_string(limits_.max_documents) + " documents");

    // The client's file name is metadata only; the bytes go to a generated temporary
    // name, then to their content address.
    auto name = header.filename ? sanitise_filename(*header.filename)
                                : "document-" + std::to_string(documents_.size() + 1);
    documents_.push_back(
        {std::move(name), media_type_of(header.content_type), {}, blobs_.create()});
    current_ = part::document;
}

void upload_collector::on_part_data(std::span<const char> data) {
    if (current_ == part::letter) {
        if (letter_->size() + data.size() > limits_.max_letter_bytes)
            throw http_problem(problem_kind::body_too_large,
                               "the letter part is larger than " +
                                   std::to_string(limits_.max_letter_bytes) + " bytes");
        letter_->append(data.data(), data.size());
        return;
    }
    auto& doc = documents_.back();
    if (doc.file.size() + data.size() > limits_.max_document_bytes)
        throw http_problem(problem_kind::document_too_large,
                           "a document is larger than " +
                               std::to_string(limits_.max_document_bytes) + " bytes");
    hash_.update(crypto::as_bytes(std::string_view(data.data(), data.size())));
    doc.file.write(data);
}

void upload_collector::on_part_end() {
    if (current_ == part::document) {
        auto& doc = documents_.back();
        doc.sha256_hex = crypto::to_hex(hash_.finish());
        doc.file.close();
    }
    current_ = part::none;
}

std::string upload_collector::take_letter() {
    if (!letter_)
        throw http_problem(problem_kind::invalid_letter, "the letter part is missing");
    return std::move(*letter_);
}

} // namespace sceau::gateway
