// XAdES verification against trust anchors only (the xades/ cases of the hostile corpus and
// Sceau's own seals), and time-stamp tokens read back from stored evidence.

#include "crypto/encoding.hpp"
#include "crypto/error.hpp"
#include "crypto/sha256.hpp"
#include "crypto/tsp_client.hpp"
#include "crypto/xades.hpp"
#include "crypto/xades_verifier.hpp"
#include "protocols/evidence.hpp"
#include "protocols/record_check.hpp"
#include "support/fixtures.hpp"

#include <catch2/catch.hpp>

#include <cctype>

using namespace sceau;

namespace {

std::vector<crypto::x509_ptr> pem_file(const std::string& relative) {
    return crypto::certificates_from_pem(test::read_file(test::source_path(relative)));
}

crypto::errc code_of(const crypto::error& e) {
    return static_cast<crypto::errc>(e.code().value());
}

/// The corpus' XAdES file verified with its seal certificate as the only anchor.
crypto::xades_verified verify_corpus(const std::string& name) {
    crypto::xades_verifier v(pem_file("tests/fixtures/hostile/keys/erds-seal-cert.pem"));
    auto doc = crypto::parse_xml(
        test::read_file(test::source_path("tests/fixtures/hostile/xades/" + name)));
    return v.verify_enveloped(doc.get());
}

std::string refusal(const std::string& name) {
    try {
        verify_corpus(name);
    } catch (const crypto::error& e) {
        return e.what();
    }
    return "accepted";
}

/// A record sealed by the sample seal and TSA, as the gateway seals one.
struct sealed_record {
    crypto::builtin_tsa tsa{test::sample_identity("tsa"), "2.25.1"};
    crypto::xades_signer signer{test::sample_identity("seal"), tsa};
    std::string xml;

    sealed_record() {
        protocols::evidence_draft d;
        d.id = "evd_verifytest";
        d.event = std::string(protocols::event::submission_acceptance);
        d.letter_id = "ltr_verifytest";
        d.parts = {{"1/a.pdf", "application/pdf",
                    crypto::to_hex(crypto::sha256::of(std::string_view("%PDF-1.7")))}};
        auto stamp = tsa.stamp(crypto::sha256::of(protocols::event_imprint_text(d)));
        auto doc = protocols::build_evidence(d, crypto::format_utc(stamp.time), stamp.der);
        xml = signer.seal(doc.get(), d.id, std::chrono::system_clock::now()).bytes;
    }
};

/// The verifiers of an audit on each verification path, with the sample root as anchor.
struct both_paths {
    crypto::xades_verifier direct_seals{pem_file("certs-sample/root-ca.pem"),
                                        crypto::verification_path::direct};
    crypto::xades_verifier library_seals{pem_file("certs-sample/root-ca.pem"),
                                         crypto::verification_path::library};
    crypto::timestamp_verifier direct_stamps{{pem_file("certs-sample/root-ca.pem"), {}, {}},
                                             crypto::verification_path::direct};
    crypto::timestamp_verifier library_stamps{{pem_file("certs-sample/root-ca.pem"), {}, {}},
                                              crypto::verification_path::library};

    /// Each check of the record and whether it holds ("seal holds", "event time-stamp
    /// fails"...), as both paths find it; a test fails where they differ.
    std::vector<std::string> judge(const std::string& xml) const {
        auto direct = outcomes(protocols::check_record(xml, direct_seals, direct_stamps, false));
        auto library = outcomes(protocols::check_record(xml, library_seals, library_stamps, false));
        CHECK(direct == library);
        return library;
    }

    static std::vector<std::string> outcomes(const protocols::record_check& checked) {
        std::vector<std::string> out;
        for (const auto& c : checked.checks)
            out.push_back(
                c.item.substr(0, c.item.find(" of ")) +
                (c.outcome == protocols::check_result::verdict::holds ? " holds" : " fails"));
        return out;
    }
};

/// `xml` with the first `from` replaced by `to`.
std::string with(std::string xml, std::string_view from, std::string_view to) {
    auto at = xml.find(from);
    REQUIRE(at != std::string::npos);
    return xml.replace(at, from.size(), to);
}

} // namespace

TEST_CASE("the genuine XAdES signature of the corpus verifies with its seal certificate",
          "[crypto][xades][hostile]") {
    auto r = verify_corpus("xa00-positive-control.xml");
    CHECK(crypto::subject_text(r.signer.get()).find("test-erds-evidence-seal") !=
          std::string::npos);
    CHECK(crypto::format_utc(r.signing_time) == "2025-03-14T10:15:30.000Z");
    CHECK(r.references == std::vector<std::string>{""});
    CHECK(r.signature_timestamp.empty()); // B-B: no time-stamp

    // The same with xmlsec1 checking the digests and the signature value.
    crypto::xades_verifier library(pem_file("tests/fixtures/hostile/keys/erds-seal-cert.pem"),
                                   crypto::verification_path::library);
    auto doc = crypto::parse_xml(test::read_file(
        test::source_path("tests/fixtures/hostile/xades/xa00-positive-control.xml")));
    CHECK(crypto::format_utc(library.verify_enveloped(doc.get()).signing_time) ==
          "2025-03-14T10:15:30.000Z");
}

TEST_CASE("an unreferenced QualifyingProperties placed first is refused, not read",
          "[crypto][xades][hostile]") {
    CHECK_THAT(refusal("xa01-unreferenced-qualifyingproperties-first.xml"),
               Catch::Contains("more than one QualifyingProperties"));
}

TEST_CASE("a SignedProperties reference without its Type is not conformant XAdES",
          "[crypto][xades][hostile]") {
    CHECK_THAT(refusal("xa02-signedproperties-reference-without-type.xml"),
               Catch::Contains("is not typed"));
}

TEST_CASE("a SigningTime with two time zones is not an xsd:dateTime", "[crypto][xades][hostile]") {
    CHECK_THAT(refusal("xa04-signingtime-double-timezone.xml"),
               Catch::Contains("SigningTime is not an xsd:dateTime"));
    CHECK_THROWS_AS(crypto::parse_xsd_datetime("2025-03-14T10:15:30Z+01:00"), crypto::error);
    CHECK(crypto::format_utc(crypto::parse_xsd_datetime("2025-03-14T11:15:30.5+01:00")) ==
          "2025-03-14T10:15:30.500Z");
}

TEST_CASE("a seal of the gateway verifies with only the sample root, and a change is found",
          "[crypto][xades]") {
    sealed_record s;
    crypto::xades_verifier v(pem_file("certs-sample/root-ca.pem"));
    auto doc = crypto::parse_xml(s.xml);
    auto r = v.verify_enveloped(doc.get());
    CHECK(crypto::subject_text(r.signer.get()).find("Sceau Sample Evidence Seal") !=
          std::string::npos);
    REQUIRE(!r.signature_timestamp.empty());

    // The signature time-stamp covers the canonical SignatureValue the verifier reports.
    crypto::timestamp_verifier stamps({pem_file("certs-sample/root-ca.pem"), {}, {}});
    CHECK_NOTHROW(stamps.verify(r.signature_timestamp, r.timestamp_imprint));

    // One changed character of the content.
    auto changed = s.xml;
    changed.replace(changed.find("ltr_verifytest"), 14, "ltr_verifytesu");
    auto bad = crypto::parse_xml(changed);
    try {
        v.verify_enveloped(bad.get());
        FAIL("a changed record verified");
    } catch (const crypto::error& e) {
        CHECK(code_of(e) == crypto::errc::signature_invalid);
    }

    // Another anchor: the same record is not trusted.
    crypto::xades_verifier other(pem_file("tests/fixtures/hostile/keys/tsa-ca-cert.pem"));
    auto again = crypto::parse_xml(s.xml);
    CHECK_THROWS_AS(other.verify_enveloped(again.get()), crypto::error);
}

TEST_CASE("a detached signature covers its objects, each read through the scope only",
          "[crypto][xades]") {
    sealed_record s;
    std::string a = "first object", b = "second object";
    std::vector<crypto::detached_object> objects = {
        {"documents/1-a.pdf", "application/pdf", [&] { return crypto::memory_source(a); }},
        {"Élodie/b c.txt", "text/plain", [&] { return crypto::memory_source(b); }},
    };
    auto sealed = s.signer.seal_detached(objects, "d1", std::chrono::system_clock::now());
    CHECK(sealed.bytes.find("URI=\"%C3%89lodie/b%20c.txt\"") != std::string::npos);

    crypto::xades_verifier v(pem_file("certs-sample/root-ca.pem"));
    auto verify = [&](const std::vector<crypto::detached_object>& given) {
        auto doc = crypto::parse_xml(sealed.bytes);
        xmlNode* sig = xmlDocGetRootElement(doc.get())->children;
        return v.verify_detached(doc.get(), sig, given);
    };
    auto r = verify(objects);
    CHECK(r.references == std::vector<std::string>{"documents/1-a.pdf", "Élodie/b c.txt"});

    b = "second objecT";
    CHECK_THROWS_AS(verify(objects), crypto::error);
    b = "second object";
    CHECK_THROWS_AS(verify({objects[0]}), crypto::error); // an object not given is not read
}

TEST_CASE("a time-stamp token holds only for what it stamps and for a trusted TSA",
          "[crypto][tsp]") {
    crypto::builtin_tsa tsa(test::sample_identity("tsa"), "2.25.1");
    auto digest = crypto::sha256::of(std::string_view("stamped bytes"));
    auto token = tsa.stamp(digest);

    crypto::timestamp_verifier stamps({pem_file("certs-sample/root-ca.pem"), {}, {}});
    auto checked = stamps.verify(token.der, digest);
    CHECK(checked.time == token.time);
    CHECK(checked.serial == token.serial);
    // A second token of the same TSA: its certificate's path is remembered, not rebuilt.
    CHECK_NOTHROW(stamps.verify(tsa.stamp(digest).der, digest));

    try {
        stamps.verify(token.der, crypto::sha256::of(std::string_view("other bytes")));
        FAIL("a token verified for bytes it does not stamp");
    } catch (const crypto::error& e) {
        CHECK(code_of(e) == crypto::errc::tsa_imprint_mismatch);
    }

    crypto::timestamp_verifier strangers(
        {pem_file("tests/fixtures/hostile/keys/tsa-ca-cert.pem"), {}, {}});
    try {
        strangers.verify(token.der, digest);
        FAIL("a token verified against another anchor");
    } catch (const crypto::error& e) {
        CHECK(code_of(e) == crypto::errc::tsa_signer_untrusted);
    }

    auto damaged = token.der;
    damaged[damaged.size() - 10] ^= 0x01; // inside the signature value
    CHECK_THROWS_AS(stamps.verify(damaged, digest), crypto::error);
}

TEST_CASE("both verification paths judge a sealed record and its variants alike, as XML-DSig "
          "with exclusive C14N defines them",
          "[crypto][xades][tsp]") {
    sealed_record s;
    both_paths paths;
    using list = std::vector<std::string>;
    const list all_hold{"seal holds", "signature time-stamp holds", "event time-stamp holds"};
    auto seal_of = [&](const std::string& xml) { return paths.judge(xml).front(); };

    CHECK(paths.judge(s.xml) == all_hold);

    // What canonicalisation leaves as it was (W3C exc-c14n section 3, C14N 1.0 section 2):
    // comments, character references, CDATA sections, the quotes around attribute values,
    // a namespace declaration nothing uses, and one already in scope.
    CHECK(seal_of(with(s.xml, "<ev:MessageIdentifier>", "<ev:MessageIdentifier><!-- x -->")) ==
          "seal holds");
    CHECK(seal_of(with(s.xml, "<ds:SignatureMethod", "<!-- x --><ds:SignatureMethod")) ==
          "seal holds");
    CHECK(seal_of(with(s.xml, ">ltr_verifytest<", ">ltr_&#118;erifytest<")) == "seal holds");
    CHECK(seal_of(with(s.xml, ">ltr_verifytest<", "><![CDATA[ltr_verifytest]]><")) == "seal holds");
    CHECK(seal_of(with(s.xml, "isCritical=\"false\"", "isCritical='false'")) == "seal holds");
    CHECK(seal_of(with(s.xml, "<ev:Evidence ", "<ev:Evidence xmlns:unused=\"urn:x\" ")) ==
          "seal holds");
    // ds is declared on the root too: SignedInfo and SignedProperties take it from there.
    CHECK(seal_of(with(s.xml, "<ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"",
                       "<ds:Signature")) == "seal holds");

    // What it keeps: a processing instruction, an element's prefix (in the same namespace),
    // one character.
    CHECK(seal_of(with(s.xml, "<ev:Evidence ", "<?sceau x?><ev:Evidence ")) == "seal fails");
    CHECK(seal_of(with(s.xml, "<ds:SignatureMethod", "<?sceau x?><ds:SignatureMethod")) ==
          "seal fails");
    CHECK(seal_of(with(with(s.xml, "<ev:MessageIdentifier>",
                            "<e:MessageIdentifier xmlns:e=\"http://uri.etsi.org/19522/v1#\">"),
                       "</ev:MessageIdentifier>", "</e:MessageIdentifier>")) == "seal fails");
    CHECK(seal_of(with(s.xml, ">ltr_verifytest<", ">ltr_verifytesu<")) == "seal fails");

    // The SignatureValue's line breaks are its base64's, not the signature's; the
    // SignatureTimeStamp covers its canonical form, line breaks included.
    auto value = s.xml.find("<ds:SignatureValue>") + 19;
    auto spaced = s.xml;
    spaced.insert(value + 8, "\n");
    CHECK(paths.judge(spaced) ==
          list{"seal holds", "signature time-stamp fails", "event time-stamp holds"});
    auto shorter = s.xml;
    shorter.erase(value, 4); // r and s no longer the size of the group order, twice over
    CHECK(seal_of(shorter) == "seal fails");

    // A SignedProperties reference without its transform would be canonicalised inclusively
    // (XML-DSig section 4.4.3.2): a seal Sceau never makes, refused before any digest.
    auto properties = s.xml.find("#SignedProperties\"");
    REQUIRE(properties != std::string::npos);
    auto from = s.xml.find("<ds:Transforms>", properties);
    auto to = s.xml.find("</ds:Transforms>", properties) + 16;
    auto untransformed = s.xml;
    untransformed.erase(from, to - from);
    CHECK(seal_of(untransformed) == "seal fails");
}

TEST_CASE("every changed letter or digit of a sealed record gets the same verdict on both "
          "verification paths, and none in the sealed content holds",
          "[crypto][xades][tsp][hostile]") {
    sealed_record s;
    both_paths paths;
    // Sealed: everything before the signature but the namespace declarations, which the
    // canonical form leaves out where nothing uses them.
    auto signature = s.xml.find("<ds:Signature");
    auto in_declaration = [&](std::size_t i) {
        auto start = s.xml.rfind(" xmlns", i);
        return start != std::string::npos && s.xml.find('"', s.xml.find('"', start) + 1) > i;
    };
    for (std::size_t i = 0; i < s.xml.size(); i += 2) {
        char c = s.xml[i];
        if (!std::isalnum(static_cast<unsigned char>(c)))
            continue;
        auto changed = s.xml;
        changed[i] = std::isdigit(static_cast<unsigned char>(c)) ? (c == '9' ? '0' : c + 1)
                     : c == 'z'                                  ? 'a'
                     : c == 'Z'                                  ? 'A'
                                                                 : c + 1;
        INFO("character " << i << ": " << c << " -> " << changed[i]);
        auto verdict = paths.judge(changed);
        if (i < signature && !in_declaration(i) && !verdict.empty())
            CHECK(verdict.front() != "seal holds");
    }
}

TEST_CASE("one parser refuses each DOCTYPE and malformed input, and reads the next document as "
          "a fresh one would",
          "[crypto][xml][hostile]") {
    sealed_record s;
    crypto::xml_parser parser;
    auto code_of_parse = [&](const std::string& text) {
        try {
            parser.parse(text);
            return crypto::errc{};
        } catch (const crypto::error& e) {
            return code_of(e);
        }
    };
    auto hostile = [](const std::string& name) {
        return test::read_file(test::source_path("tests/fixtures/hostile/saml/" + name));
    };

    for (int round = 0; round < 2; ++round) {
        CHECK(code_of_parse(hostile("s09-doctype-external-entity.xml")) ==
              crypto::errc::xml_forbidden_construct);
        CHECK(code_of_parse(hostile("s10-doctype-internal-entity-in-name.xml")) ==
              crypto::errc::xml_forbidden_construct);
        CHECK(code_of_parse("<a><b></a>") == crypto::errc::xml_malformed);
        CHECK(code_of_parse(s.xml.substr(0, s.xml.size() / 2)) == crypto::errc::xml_malformed);

        auto doc = parser.parse(s.xml);
        CHECK(crypto::serialize(doc.get()) == crypto::serialize(crypto::parse_xml(s.xml).get()));
        crypto::xades_verifier v(pem_file("certs-sample/root-ca.pem"));
        CHECK_NOTHROW(v.verify_enveloped(doc.get()));
    }
}
