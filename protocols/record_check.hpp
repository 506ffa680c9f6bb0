#pragma once

#include "crypto/tsp_client.hpp"
#include "crypto/xades_verifier.hpp"
#include "protocols/bundle_verifier.hpp"
#include "protocols/evidence.hpp"

#include <optional>
#include <string_view>
#include <vector>

namespace sceau::protocols {

/// What the checks of one sealed record found.
struct record_check {
    std::optional<evidence_view> view; ///< empty when the record cannot be read at all
    std::vector<check_result> checks;  ///< the seal, the signature and event time-stamps
    crypto::x509_ptr sealer;           ///< the seal certificate, when the seal holds

    bool holds() const;
};

/// Checks one evidence record as docs/evidence-profile.md describes it: the XAdES seal
/// against the trust anchors, the SignatureTimeStamp over the canonical SignatureValue,
/// and the event time-stamp over the imprint text rebuilt from the record, whose genTime
/// must be the EventTime. Every check is made and reported; none stops the others.
/// Thread-safe when the verifiers are (they are). With `describe_holds` false, checks that
/// hold carry no detail (an audit keeps only the others).
record_check check_record(std::string_view xml, const crypto::xades_verifier& seals,
                          const crypto::timestamp_verifier& stamps, bool describe_holds = true);

} // namespace sceau::protocols
