#pragma once

#include "crypto/timestamp.hpp"
#include "crypto/xades.hpp"
#include "protocols/evidence.hpp"

#include <string>

namespace sceau::protocols {

/// A record ready to store: the sealed bytes and when the event happened.
struct sealed_evidence {
    std::string id;
    std::string event;
    std::string event_time; ///< genTime of the event time-stamp, RFC 3339
    std::string xml;        ///< exactly the sealed bytes
};

/// Turns a draft into a sealed record: time-stamps the event (its genTime becomes
/// EventTime), builds the EN 319 522-3 XML, seals it with XAdES-B-T. Thread-safe.
class evidence_sealer {
public:
    evidence_sealer(crypto::timestamp_authority& tsa, crypto::xades_signer& signer,
                    crypto::clock_fn clock);

    /// Throws crypto::error (tsa_* when no time-stamp can be had): nothing is sealed then.
    sealed_evidence seal(const evidence_draft& draft);

private:
    crypto::timestamp_authority& tsa_;
    crypto::xades_signer& signer_;
    crypto::clock_fn clock_;
};

} // namespace sceau::protocols
