#pragma once

#include "crypto/openssl.hpp"

#include <filesystem>
#include <string>
#include <vector>

namespace sceau::protocols {

/// One check and what it found.
struct check_result {
    enum class verdict { holds, fails, warning };
    std::string item; ///< what was checked, e.g. "seal of evd_... (SubmissionAcceptance)"
    verdict outcome = verdict::holds;
    std::string detail;
};

std::string_view to_string(check_result::verdict v) noexcept;

/// Every finding of a verification, failures apart from warnings; nothing stops at the
/// first fault.
struct verification_report {
    std::vector<check_result> checks;

    void holds(std::string item, std::string detail);
    void fails(std::string item, std::string detail);
    void warns(std::string item, std::string detail);

    /// True when no check failed (warnings allowed).
    bool holds() const;
    std::size_t count(check_result::verdict v) const;
};

struct bundle_verify_options {
    /// Trust anchors for the seal and the time-stamps. Empty: the bundle's own
    /// certificates/trust-anchors.pem, with a warning that says so.
    std::vector<crypto::x509_ptr> anchors;
};

/// Checks a proof bundle offline (docs/bundle.md): the container's structure as
/// crypto::asic_reader checks it, the container signature and its time-stamp, that every
/// entry is signed, each record's seal, signature time-stamp and event time-stamp (whose
/// genTime must be the EventTime), that every record is of the same letter, and each
/// document's SHA-256 against the records that list it. A hostile container gets one
/// failing check saying why, and nothing in it is read further. Never writes a file.
verification_report verify_bundle(const std::filesystem::path& bundle,
                                  const bundle_verify_options& options);

} // namespace sceau::protocols
