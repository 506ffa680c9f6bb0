#include "protocols/record_check.hpp"

#include "crypto/certificate.hpp"
#include "crypto/error.hpp"
#include "crypto/xml.hpp"

namespace sceau::protocols {

bool record_check::holds() const {
    return view && std::none_of(checks.begin(), checks.end(), [](const check_result& c) {
               return c.outcome == check_result::verdict::fails;
           });
}

record_check check_record(std::string_view xml, const crypto::xades_verifier& seals,
                          const crypto::timestamp_verifier& stamps, bool describe_holds) {
    using verdict = check_result::verdict;
    record_check out;
    crypto::xml_doc_ptr doc;
    try {
        // The document lives and dies in this call, on this thread: the thread's parser
        // serves it.
        thread_local crypto::xml_parser parser;
        doc = parser.parse(xml);
        out.view = read_evidence(doc.get());
    } catch (const std::exception& e) {
        out.checks.push_back({"record", verdict::fails, std::string("unreadable: ") + e.what()});
        return out;
    }
    const auto& v = *out.view;
    auto name = v.id + " (" + v.event + ")";
    auto add = [&](std::string item, verdict outcome, std::string detail) {
        out.checks.push_back({std::move(item) + " of " + name, outcome, std::move(detail)});
    };

    try {
        auto seal = seals.verify_enveloped(doc.get());
        add("seal", verdict::holds,
            describe_holds ? "sealed by " + crypto::subject_text(seal.signer.get()) + " at " +
                                 crypto::format_utc(seal.signing_time)
                           : std::string());
        out.sealer = std::move(seal.signer);
        if (seal.signature_timestamp.empty()) {
            add("signature time-stamp", verdict::fails,
                "none: a record is sealed at level B-T at least");
        } else {
            try {
                auto token = stamps.verify(seal.signature_timestamp, seal.timestamp_imprint);
                add("signature time-stamp", verdict::holds,
                    describe_holds ? "genTime " + crypto::format_utc(token.time) : std::string());
            } catch (const std::exception& e) {
                add("signature time-stamp", verdict::fails, e.what());
            }
        }
    } catch (const std::exception& e) {
        add("seal", verdict::fails, e.what());
    }

    try {
        auto token = stamps.verify(v.event_timestamp, crypto::sha256::of(event_imprint_text(v)));
        auto gen_time = crypto::format_utc(token.time);
        if (gen_time != v.event_time)
            add("event time-stamp", verdict::fails,
                "genTime " + gen_time + " is not the EventTime " + v.event_time);
        else
            add("event time-stamp", verdict::holds,
                describe_holds ? "genTime " + gen_time + " is the EventTime" : std::string());
    } catch (const std::exception& e) {
        add("event time-stamp", verdict::fails, e.what());
    }
    return out;
}

} // namespace sceau::protocols
