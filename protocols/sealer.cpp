#include "protocols/sealer.hpp"

#include "crypto/sha256.hpp"

namespace sceau::protocols {

evidence_sealer::evidence_sealer(crypto::timestamp_authority& tsa, crypto::xades_signer& signer,
                                 crypto::clock_fn clock)
    : tsa_(tsa)
    , signer_(signer)
    , clock_(std::move(clock)) {}

sealed_evidence evidence_sealer::seal(const evidence_draft& draft) {
    // The event's time is attested, not read from our clock: a time-stamp over the
    // record's identity and content digests (docs/evidence-profile.md).
    auto event_stamp = tsa_.stamp(crypto::sha256::of(event_imprint_text(draft)));
    auto event_time = crypto::format_utc(event_stamp.time);

    auto doc = build_evidence(draft, event_time, event_stamp.der);
    auto sealed = signer_.seal(doc.get(), draft.id, clock_());
    return {draft.id, draft.event, event_time, std::move(sealed.bytes)};
}

} // namespace sceau::protocols
