#include "crypto/encoding.hpp"
#include "crypto/sha256.hpp"
#include "crypto/timestamp.hpp"
#include "crypto/xades.hpp"
#include "protocols/evidence.hpp"
#include "protocols/identification.hpp"
#include "support/fixtures.hpp"

#include <catch2/catch.hpp>

using namespace sceau;

namespace {

protocols::evidence_draft sample_draft() {
    protocols::evidence_draft d;
    d.id = "evd_unittest";
    d.event = std::string(protocols::event::submission_acceptance);
    d.letter_id = "ltr_unittest";
    d.issuer.attributes = {{std::string(protocols::attribute::legal_name), "Sceau demo provider"}};
    d.sender.attributes = {
        {std::string(protocols::attribute::common_name), "Maître Durand"},
        {std::string(protocols::attribute::legal_name), "Étude Durand & Associés"}};
    d.sender.email = "contact@durand.example";
    protocols::recipient r;
    r.email = "claire.martin@example.org";
    r.given_name = "Claire";
    r.family_name = "Martin";
    r.birth_date = "1985-02-17";
    d.recipient = protocols::recipient_party(r);
    d.parts = {{"1/mise-en-demeure.pdf", "application/pdf",
                crypto::to_hex(crypto::sha256::of(std::string_view("%PDF-1.7 test")))}};
    d.consent_reference = "signed-consent-2026-03-02";
    return d;
}

struct sealed_sample {
    std::string xml;
    std::string event_time;
};

sealed_sample seal_sample() {
    crypto::builtin_tsa tsa(test::sample_identity("tsa"), "2.25.1");
    crypto::xades_signer signer(test::sample_identity("seal"), tsa);
    auto draft = sample_draft();
    auto stamp = tsa.stamp(crypto::sha256::of(protocols::event_imprint_text(draft)));
    auto when = crypto::format_utc(stamp.time);
    auto doc = protocols::build_evidence(draft, when, stamp.der);
    return {signer.seal(doc.get(), draft.id, std::chrono::system_clock::now()).bytes, when};
}

} // namespace

TEST_CASE("sealed evidence is valid EN 319 522-3 and verifies with xmlsec1 against the root",
          "[evidence][xades][tools]") {
    test::temp_dir dir;
    auto sealed = seal_sample();
    test::write_file(dir / "evidence.xml", sealed.xml);

    auto schema = test::source_path("tests/fixtures/standards/etsi-en-319522-3-evidence.xsd");
    auto valid = test::run("xmllint --noout --nonet --schema '" + schema.string() + "' '" +
                           (dir / "evidence.xml").string() + "'");
    INFO(valid.output);
    CHECK(valid.status == 0);

    auto verified = test::run("xmlsec1 --verify --trusted-pem '" +
                              test::source_path("certs-sample/root-ca.pem").string() + "' '" +
                              (dir / "evidence.xml").string() + "'");
    INFO(verified.output);
    CHECK(verified.status == 0);

    // One byte of the sealed content changed: the seal no longer holds.
    auto tampered = sealed.xml;
    auto at = tampered.find("claire.martin@example.org");
    REQUIRE(at != std::string::npos);
    tampered[at] = 'C';
    test::write_file(dir / "tampered.xml", tampered);
    auto refused = test::run("xmlsec1 --verify --trusted-pem '" +
                             test::source_path("certs-sample/root-ca.pem").string() + "' '" +
                             (dir / "tampered.xml").string() + "'");
    CHECK(refused.status != 0);
}

TEST_CASE("the evidence carries the items of a French proof of deposit", "[evidence]") {
    auto sealed = seal_sample();
    const auto& xml = sealed.xml;
    CHECK(xml.find("Maître Durand") != std::string::npos);
    CHECK(xml.find("contact@durand.example") != std::string::npos);
    CHECK(xml.find("claire.martin@example.org") != std::string::npos);
    CHECK(xml.find("<ev:MessageIdentifier>ltr_unittest</ev:MessageIdentifier>") !=
          std::string::npos);
    CHECK(xml.find("<EventTime>" + sealed.event_time + "</EventTime>") != std::string::npos);
    CHECK(xml.find("SignatureTimeStamp") != std::string::npos);
    CHECK(xml.find("SigningCertificateV2") != std::string::npos);
    CHECK(xml.find("http://uri.etsi.org/19522/Event/SubmissionAcceptance") != std::string::npos);
}
