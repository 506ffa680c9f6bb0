#include "crypto/encoding.hpp"
#include "crypto/error.hpp"
#include "crypto/xml.hpp"
#include "crypto/xmldsig.hpp"
#include "protocols/matching.hpp"
#include "protocols/saml.hpp"
#include "protocols/saml_demo_node.hpp"
#include "support/database_fixture.hpp"
#include "support/fixtures.hpp"

#include <catch2/catch.hpp>
#include <openssl/ecdsa.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <set>
#include <thread>
#include <zlib.h>

using namespace sceau;
using namespace std::chrono_literals;
using protocols::saml::refusal;
namespace saml = protocols::saml;
namespace loa = protocols::loa;

namespace Catch {
template <>
struct StringMaker<refusal> {
    static std::string convert(refusal r) { return std::string(saml::to_string(r)); }
};
} // namespace Catch

namespace {

// What the hostile corpus's genuine response carries (tests/fixtures/hostile/saml/s00).
constexpr const char* sp_entity = "https://lre.example.test/sp";
constexpr const char* acs = "https://lre.example.test/saml/acs";
constexpr const char* node_entity = "https://eidas-node.example.test/metadata";
constexpr const char* request_id = "_req-4c21";

std::chrono::system_clock::time_point at(const std::string& utc) {
    return crypto::parse_utc(utc);
}

// The corpus README: check the SAML files as of this instant.
const auto corpus_now = at("2025-03-14T10:16:00Z");

std::string fixture(const std::string& relative) {
    return test::read_file(test::source_path("tests/fixtures/" + relative));
}

std::vector<crypto::x509_ptr> pem_certificates(const std::string& relative) {
    return crypto::certificates_from_pem(fixture(relative));
}

saml::sp_config corpus_config(const std::string& signer = "seal") {
    saml::sp_config c;
    c.entity_id = sp_entity;
    c.acs_url = acs;
    c.node.entity_id = node_entity;
    c.node.sso_redirect_url = "https://eidas-node.example.test/sso/redirect";
    c.node.sso_post_url = "https://eidas-node.example.test/sso/post";
    c.node.signing_certificates = pem_certificates("hostile/keys/idp-cert.pem");
    c.signer = test::sample_identity(signer);
    return c;
}

/// Sceau as the SP of the corpus's node, on a clock the test sets, with a store of its own
/// for the replay cache.
class corpus_sp {
public:
    explicit corpus_sp(saml::sp_config config = corpus_config())
        : db_(store_.open())
        , replays_(*db_, [this] { return now; })
        , sp_(std::move(config), replays_, [this] { return now; }) {}

    std::chrono::system_clock::time_point now = corpus_now;

    saml::verification verify_text(const std::string& xml, std::string in_response_to = request_id,
                                   std::string_view level = loa::substantial) {
        auto v =
            sp_.verify_response(crypto::to_base64(crypto::as_bytes(xml)), in_response_to, level);
        UNSCOPED_INFO((v ? std::string("accepted") : v.message()));
        return v;
    }

    saml::verification verify(const std::string& file, std::string in_response_to = request_id,
                              std::string_view level = loa::substantial) {
        return verify_text(fixture(file), std::move(in_response_to), level);
    }

    saml::service_provider& sp() { return sp_; }

private:
    test::test_database store_;
    std::unique_ptr<storage::database> db_;
    saml::stored_replay_cache replays_;
    saml::service_provider sp_;
};

bool has(const saml::verification& v, refusal r) {
    for (const auto& f : v.findings) {
        if (f.reason == r)
            return true;
    }
    return false;
}

void check_genuine_recipient(const saml::verified_identity& id) {
    CHECK(id.person_identifier == "XX/FR/8F2C1A90B7");
    CHECK(id.family_name == "Marchand");
    CHECK(id.given_names == "Élodie");
    CHECK(id.birth_date == "1985-04-03");
    CHECK(id.issuer == node_entity);
}

crypto::errc signature_check(const std::string& file, const std::string& trusted) {
    auto doc = crypto::parse_xml(fixture(file));
    try {
        crypto::verify_enveloped_signature(doc.get(), xmlDocGetRootElement(doc.get()), "ID",
                                           pem_certificates(trusted));
        return crypto::errc{};
    } catch (const crypto::error& e) {
        UNSCOPED_INFO(e.what());
        return static_cast<crypto::errc>(e.code().value());
    }
}

std::string percent_decode(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size()) {
            out.push_back(
                static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
            i += 2;
        } else {
            out.push_back(s[i]);
        }
    }
    return out;
}

std::map<std::string, std::string> query_of(const std::string& url) {
    std::map<std::string, std::string> out;
    auto query = url.substr(url.find('?') + 1);
    std::size_t start = 0;
    while (start <= query.size()) {
        auto end = query.find('&', start);
        auto pair = query.substr(start, end == std::string::npos ? std::string::npos : end - start);
        auto eq = pair.find('=');
        out[pair.substr(0, eq)] = percent_decode(pair.substr(eq + 1));
        if (end == std::string::npos)
            break;
        start = end + 1;
    }
    return out;
}

std::string inflate_raw(const crypto::bytes& data) {
    z_stream z{};
    REQUIRE(inflateInit2(&z, -15) == Z_OK);
    std::string out(1 << 16, '\0');
    z.next_in = const_cast<Bytef*>(data.data());
    z.avail_in = static_cast<uInt>(data.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    int rc = inflate(&z, Z_FINISH);
    out.resize(z.total_out);
    inflateEnd(&z);
    REQUIRE(rc == Z_STREAM_END);
    return out;
}

/// xmllint with the SAML schemas of the opensaml-schemas package, their W3C imports
/// pointed at tests/fixtures/standards so that nothing is fetched (--nonet).
test::command_result schema_check(const test::temp_dir& dir, const std::string& schema,
                                  const std::string& file) {
    auto standards = test::source_path("tests/fixtures/standards").string();
    std::string catalog = "<?xml version=\"1.0\"?>\n<catalog "
                          "xmlns=\"urn:oasis:names:tc:entity:xmlns:xml:catalog\">\n";
    for (auto [remote, local] : std::map<std::string, std::string>{
             {"http://www.w3.org/TR/2002/REC-xmldsig-core-20020212/xmldsig-core-schema.xsd",
              "xmldsig-core-schema.xsd"},
             {"http://www.w3.org/TR/2002/REC-xmlenc-core-20021210/xenc-schema.xsd",
              "xenc-schema.xsd"},
             {"http://www.w3.org/2001/xml.xsd", "xml.xsd"}}) {
        catalog += "<system systemId=\"" + remote + "\" uri=\"file://" + standards + "/" + local +
                   "\"/>\n<uri name=\"" + remote + "\" uri=\"file://" + standards + "/" + local +
                   "\"/>\n";
    }
    catalog += "</catalog>\n";
    test::write_file(dir / "catalog.xml", catalog);
    return test::run("XML_CATALOG_FILES='" + (dir / "catalog.xml").string() +
                     "' xmllint --noout --nonet --schema /usr/share/xml/opensaml/" + schema + " '" +
                     file + "'");
}

} // namespace

TEST_CASE("the genuine eIDAS response is accepted and identifies Élodie Marchand",
          "[saml][hostile]") {
    corpus_sp sp;
    auto v = sp.verify("hostile/saml/s00-positive-control.xml");
    REQUIRE(v);
    CHECK(v.findings.empty());
    const auto& id = *v.identity;
    check_genuine_recipient(id);
    CHECK(id.legal_person_identifier.empty());
    CHECK(id.loa == loa::substantial);
    CHECK(id.assertion_id == "_assert-e1");
    CHECK(crypto::format_utc(id.authn_instant) == "2025-03-14T10:15:29.000Z");
    CHECK(crypto::format_utc(id.not_on_or_after) == "2025-03-14T10:20:30.000Z");

    // What the evidence records, and what the matching compares.
    auto who = id.to_identification();
    CHECK(who.method == saml::identification_method);
    CHECK(who.level == loa::substantial);
    CHECK(who.provider == node_entity);
    CHECK(who.time == "2025-03-14T10:15:29.000Z");
    std::map<std::string, std::string> attributes(who.attributes.begin(), who.attributes.end());
    CHECK(attributes.size() == 4);
    CHECK(attributes[std::string(protocols::attribute::person_identifier)] == "XX/FR/8F2C1A90B7");
    CHECK(attributes[std::string(protocols::attribute::family_name)] == "Marchand");
    CHECK(attributes[std::string(protocols::attribute::given_name)] == "Élodie");
    CHECK(attributes[std::string(protocols::attribute::birth_date)] == "1985-04-03");

    protocols::person_claim declared{"MARCHAND", "Élodie", "1985-04-03", ""};
    CHECK(protocols::match_person(declared, id.to_person_claim()) ==
          protocols::match_outcome::match);
    protocols::person_claim victim{"Martin", "Claire", "1979-11-22", "XX/FR/0000VICTIM1"};
    CHECK(protocols::match_person(victim, id.to_person_claim()) ==
          protocols::match_outcome::no_match);
}

TEST_CASE("every hostile SAML and XML-DSig case is refused for its own reason", "[saml][hostile]") {
    const std::map<std::string, refusal> expected{
        // The extract is not what an ACS receives (and its signature no longer holds,
        // see the XML-DSig test below).
        {"saml/s01-assertion-lifted-out-of-response.xml", refusal::not_a_response},
        {"saml/s02-xsw-unsigned-assertion-after-signed.xml", refusal::assertion_count},
        {"saml/s04-xsw-signed-in-extensions-forged-duplicate-id.xml", refusal::duplicate_id},
        // ds:Object carries the decoy; no SAML signature has one.
        {"saml/s05-xsw-signed-error-response-plus-decoy.xml", refusal::forbidden_content},
        {"saml/s05b-signed-error-response-only.xml", refusal::status_not_success},
        {"saml/s07-comment-splits-family-name.xml", refusal::attribute_malformed},
        {"saml/s09-doctype-external-entity.xml", refusal::doctype_forbidden},
        {"saml/s10-doctype-internal-entity-in-name.xml", refusal::doctype_forbidden},
        {"saml/s12-signed-by-attacker-cert-in-keyinfo.xml", refusal::signature_invalid},
        {"saml/s14-no-signature-anywhere.xml", refusal::signature_missing},
        {"saml/s15-tampered-after-signing.xml", refusal::signature_invalid},
        {"saml/s16-loa-low-genuinely-signed.xml", refusal::loa_too_low},
        // The digest fails before the date is read; g03 reaches the date parser.
        {"saml/s18-malformed-datetime.xml", refusal::signature_invalid},
        {"saml/s20-encryptedassertion-cbc-cipherreference-retrievalmethod-xslt.xml",
         refusal::forbidden_content},
        // Bare assertions: see the XML-DSig test below for their signatures.
        {"xmldsig/x01-xpath-transform-selects-nothing.xml", refusal::not_a_response},
        {"xmldsig/x01b-same-after-rewriting-subject.xml", refusal::not_a_response},
        {"xmldsig/x04-rsa-sha1-genuinely-signed.xml", refusal::not_a_response},
    };

    // Every file of both folders has its verdict here: a new case cannot be skipped.
    std::set<std::string> files;
    for (auto folder : {"saml", "xmldsig"}) {
        for (const auto& entry : std::filesystem::directory_iterator(
                 test::source_path(std::string("tests/fixtures/hostile/") + folder))) {
            if (entry.path().extension() == ".xml")
                files.insert(std::string(folder) + "/" + entry.path().filename().string());
        }
    }
    files.erase("saml/s00-positive-control.xml");
    std::set<std::string> listed;
    for (const auto& [file, reason] : expected)
        listed.insert(file);
    CHECK(files == listed);

    for (const auto& [file, reason] : expected) {
        INFO(file);
        corpus_sp sp;
        auto v = sp.verify("hostile/" + file);
        CHECK_FALSE(v);
        REQUIRE_FALSE(v.findings.empty());
        CHECK(v.reason() == reason);
        CHECK_FALSE(v.message().empty());
    }
}

TEST_CASE("the XML-DSig cases fail the pinned signature check for what they sign with",
          "[saml][xmldsig][hostile]") {
    const std::string node = "hostile/keys/idp-cert.pem";
    CHECK(signature_check("hostile/xmldsig/x01-xpath-transform-selects-nothing.xml", node) ==
          crypto::errc::signature_transform_refused);
    CHECK(signature_check("hostile/xmldsig/x01b-same-after-rewriting-subject.xml", node) ==
          crypto::errc::signature_transform_refused);
    CHECK(signature_check("hostile/xmldsig/x04-rsa-sha1-genuinely-signed.xml", node) ==
          crypto::errc::signature_algorithm_refused);

    // The lifted assertion lost the namespace declarations it was signed with.
    CHECK(signature_check("hostile/saml/s01-assertion-lifted-out-of-response.xml", node) ==
          crypto::errc::signature_invalid);
}

TEST_CASE("only the configured key decides: s12 holds for the attacker's key alone",
          "[saml][xmldsig][hostile]") {
    auto doc =
        crypto::parse_xml(fixture("hostile/saml/s12-signed-by-attacker-cert-in-keyinfo.xml"));
    xmlNode* assertion = nullptr;
    for (xmlNode* n = xmlDocGetRootElement(doc.get())->children; n; n = n->next) {
        if (n->type == XML_ELEMENT_NODE &&
            std::string_view(reinterpret_cast<const char*>(n->name)) == "Assertion")
            assertion = n;
    }
    REQUIRE(assertion);
    CHECK_THROWS_AS(crypto::verify_enveloped_signature(
                        doc.get(), assertion, "ID", pem_certificates("hostile/keys/idp-cert.pem")),
                    crypto::error);
    // The same signature is genuine for the attacker's key: the node's pinned key, not
    // the certificate in KeyInfo with the node's subject name, is what refuses it.
    CHECK_NOTHROW(crypto::verify_enveloped_signature(
        doc.get(), assertion, "ID", pem_certificates("hostile/keys/attacker-cert.pem")));
}

TEST_CASE("a comment inside a name is never read as a prefix of it", "[saml][hostile]") {
    corpus_sp sp;
    auto v = sp.verify("hostile/saml/s07-comment-splits-family-name.xml");
    REQUIRE_FALSE(v);
    CHECK(v.reason() == refusal::attribute_malformed);
    CHECK_THAT(v.message(), Catch::Matchers::Contains("CurrentFamilyName"));
    CHECK_THAT(v.message(), !Catch::Matchers::Contains("Martin"));
}

TEST_CASE("s16 is refused for its level alone: it passes when low is required",
          "[saml][hostile][loa]") {
    corpus_sp sp;
    auto low = sp.verify("hostile/saml/s16-loa-low-genuinely-signed.xml", request_id, loa::low);
    REQUIRE(low);
    check_genuine_recipient(*low.identity);
    CHECK(low.identity->loa == loa::low);

    corpus_sp fresh;
    auto substantial = fresh.verify("hostile/saml/s16-loa-low-genuinely-signed.xml");
    REQUIRE_FALSE(substantial);
    CHECK(substantial.findings.size() == 1);
    CHECK(substantial.reason() == refusal::loa_too_low);
}

TEST_CASE("high satisfies substantial, substantial does not satisfy high, unknown levels fail",
          "[saml][loa]") {
    corpus_sp sp;
    auto high = sp.verify("saml-generated/g09-loa-high-signed.xml");
    REQUIRE(high);
    CHECK(high.identity->loa == loa::high);

    CHECK(sp.verify("hostile/saml/s00-positive-control.xml", request_id, loa::high).reason() ==
          refusal::loa_too_low);
    CHECK(sp.verify("saml-generated/g07-unknown-loa-signed.xml").reason() == refusal::loa_unknown);
    CHECK(sp.verify("hostile/saml/s00-positive-control.xml", request_id, "urn:example:loa:gold")
              .reason() == refusal::loa_too_low);
}

TEST_CASE("a replayed assertion is refused the second time", "[saml][replay]") {
    corpus_sp sp;
    REQUIRE(sp.verify("hostile/saml/s00-positive-control.xml"));
    auto again = sp.verify("hostile/saml/s00-positive-control.xml");
    REQUIRE_FALSE(again);
    CHECK(again.reason() == refusal::replayed);

    // A refused response consumes nothing: the genuine one still passes afterwards.
    corpus_sp other;
    REQUIRE_FALSE(other.verify("hostile/saml/s00-positive-control.xml", "_req-other"));
    CHECK(other.verify("hostile/saml/s00-positive-control.xml"));
}

TEST_CASE("the stored replay cache is shared by instances, one first use wins, expired IDs go",
          "[saml][replay][storage]") {
    test::test_database store;
    auto one = store.open(), two = store.open(); // two gateway instances on one store
    auto now = corpus_now;
    saml::stored_replay_cache first(*one, [&] { return now; }), second(*two, [&] { return now; });
    CHECK(first.first_use(node_entity, "_a", now + 5min));
    CHECK_FALSE(second.first_use(node_entity, "_a", now + 5min)); // a replay on the other one
    CHECK(second.first_use("https://other.example/node", "_a", now + 1min)); // another issuer
    CHECK(first.first_use(node_entity, "_b", now + 5min));
    // The length prefix keeps issuer and ID apart: (".../metadata", "_ab") is not
    // (".../metadata_a", "b").
    CHECK(first.first_use(node_entity, "_ab", now + 5min));
    CHECK(first.first_use(std::string(node_entity) + "_a", "b", now + 5min));

    now += 2min; // the other issuer's entry expired: its ID may serve again, not the others
    CHECK(first.first_use("https://other.example/node", "_a", now + 1min));
    CHECK_FALSE(first.first_use(node_entity, "_a", now + 5min));
    now += 10min; // everything expired: dropped as the next answer is recorded
    CHECK(second.first_use(node_entity, "_a", now + 5min)); // the node reissued it
    auto rows = store.sql("SELECT 'rows=' || COUNT(*) FROM saml_replays");
    INFO(rows.output);
    CHECK(rows.output.find("rows=1") != std::string::npos);

    // Of many instances racing with one answer, exactly one consumes it.
    std::vector<std::unique_ptr<storage::database>> pools;
    for (int i = 0; i < 6; ++i)
        pools.push_back(store.open());
    std::atomic<int> winners{0};
    std::vector<std::thread> racers;
    for (auto& db : pools) {
        racers.emplace_back([&, d = db.get()] {
            saml::stored_replay_cache cache(*d, [&] { return now; });
            if (cache.first_use(node_entity, "_race", now + 5min))
                ++winners;
        });
    }
    for (auto& t : racers)
        t.join();
    CHECK(winners == 1);
}

TEST_CASE("the response must answer our request, at our ACS, for our SP, from our node", "[saml]") {
    const std::string s00 = "hostile/saml/s00-positive-control.xml";
    SECTION("another request") {
        corpus_sp sp;
        auto v = sp.verify(s00, "_req-other");
        REQUIRE_FALSE(v);
        CHECK(v.reason() == refusal::in_response_to_mismatch);
        CHECK(v.findings.size() == 2); // the Response and the subject confirmation
    }
    SECTION("no request at all") {
        corpus_sp sp;
        CHECK(sp.verify(s00, "").reason() == refusal::in_response_to_mismatch);
    }
    SECTION("another audience") {
        auto config = corpus_config();
        config.entity_id = "https://other-provider.example.test/sp";
        corpus_sp sp(std::move(config));
        auto v = sp.verify(s00);
        REQUIRE_FALSE(v);
        CHECK(v.reason() == refusal::audience_mismatch);
    }
    SECTION("another ACS") {
        auto config = corpus_config();
        config.acs_url = "https://lre.example.test/other/acs";
        corpus_sp sp(std::move(config));
        auto v = sp.verify(s00);
        REQUIRE_FALSE(v);
        CHECK(v.reason() == refusal::destination_mismatch);
        CHECK(has(v, refusal::recipient_mismatch));
    }
    SECTION("another node") {
        auto config = corpus_config();
        config.node.entity_id = "https://other-node.example.test/metadata";
        corpus_sp sp(std::move(config));
        auto v = sp.verify(s00);
        REQUIRE_FALSE(v);
        CHECK(v.reason() == refusal::issuer_mismatch);
    }
    SECTION("another node key") {
        auto config = corpus_config();
        config.node.signing_certificates = pem_certificates("hostile/keys/attacker-cert.pem");
        corpus_sp sp(std::move(config));
        CHECK(sp.verify(s00).reason() == refusal::signature_invalid);
    }
    SECTION("a key rollover: the old and the new key configured") {
        auto config = corpus_config();
        config.node.signing_certificates = pem_certificates("hostile/keys/attacker-cert.pem");
        config.node.signing_certificates.push_back(
            std::move(pem_certificates("hostile/keys/idp-cert.pem").front()));
        corpus_sp sp(std::move(config));
        CHECK(sp.verify(s00));
    }
}

TEST_CASE("times hold within the configured skew and not beyond it", "[saml][time]") {
    const std::string s00 = "hostile/saml/s00-positive-control.xml";
    // NotOnOrAfter 10:20:30 (conditions and confirmation); issued 10:15:30.
    struct edge {
        const char* now;
        std::optional<refusal> verdict;
    };
    for (auto [now, verdict] : {edge{"2025-03-14T10:21:29Z", std::nullopt},
                                edge{"2025-03-14T10:21:30Z", refusal::expired},
                                edge{"2025-03-14T10:14:30Z", std::nullopt},
                                edge{"2025-03-14T10:14:29Z", refusal::not_yet_valid}}) {
        INFO(now);
        corpus_sp sp;
        sp.now = at(now);
        auto v = sp.verify(s00);
        CHECK(bool(v) == !verdict);
        if (verdict)
            CHECK(v.reason() == *verdict);
    }

    for (auto [now, verdict] : {edge{"2025-03-14T10:20:29Z", std::nullopt},
                                edge{"2025-03-14T10:20:30Z", refusal::expired},
                                edge{"2025-03-14T10:15:30Z", std::nullopt},
                                edge{"2025-03-14T10:15:29Z", refusal::not_yet_valid}}) {
        INFO(now);
        auto config = corpus_config();
        config.clock_skew = 0s;
        corpus_sp exact(std::move(config));
        exact.now = at(now);
        auto v = exact.verify(s00);
        CHECK(bool(v) == !verdict);
        if (verdict)
            CHECK(v.reason() == *verdict);
    }
}

TEST_CASE("a malformed dateTime under a valid signature is a clean refusal", "[saml][time]") {
    corpus_sp sp;
    auto v = sp.verify("saml-generated/g03-malformed-datetime-signed.xml");
    REQUIRE_FALSE(v);
    CHECK(v.reason() == refusal::malformed_time);
    CHECK_THAT(v.message(), Catch::Matchers::Contains("2025-02-30T25:61:99+99:99"));
}

TEST_CASE("a response signed whole, or signed twice, is accepted and its assertion read",
          "[saml]") {
    for (auto file : {"saml-generated/g01-response-signed.xml",
                      "saml-generated/g02-response-and-assertion-signed.xml"}) {
        INFO(file);
        corpus_sp sp;
        auto v = sp.verify(file);
        REQUIRE(v);
        check_genuine_recipient(*v.identity);
    }
}

TEST_CASE("signatures that reference another element or use SHA-1 are refused", "[saml]") {
    corpus_sp sp;
    CHECK(sp.verify("saml-generated/g04-assertion-signature-references-response.xml").reason() ==
          refusal::signature_reference_mismatch);
    CHECK(sp.verify("saml-generated/g05-rsa-sha1-signed.xml").reason() ==
          refusal::signature_algorithm_refused);
}

TEST_CASE("a legal person is read with its representative, a missing attribute refuses",
          "[saml][attributes]") {
    corpus_sp sp;
    auto v = sp.verify("saml-generated/g06-legal-person-signed.xml");
    REQUIRE(v);
    check_genuine_recipient(*v.identity);
    CHECK(v.identity->legal_person_identifier == "XX/FR/LEGAL0042");
    CHECK(v.identity->legal_name == "Marchand Conseil SARL");
    CHECK(v.identity->to_identification().attributes.size() == 6);

    auto missing = sp.verify("saml-generated/g08-no-birth-date-signed.xml");
    REQUIRE_FALSE(missing);
    CHECK(missing.reason() == refusal::attribute_missing);
    CHECK_THAT(missing.message(), Catch::Matchers::Contains("DateOfBirth"));

    // Signed by the node, but a name that would read backwards on a page and in evidence.
    auto bidi = sp.verify("saml-generated/g10-bidi-override-in-name-signed.xml");
    REQUIRE_FALSE(bidi);
    CHECK(bidi.reason() == refusal::attribute_malformed);
    CHECK_THAT(bidi.message(), Catch::Matchers::Contains("CurrentGivenName") &&
                                   Catch::Matchers::Contains("bidirectional"));
}

TEST_CASE("malformed messages are refused cleanly", "[saml]") {
    corpus_sp sp;
    auto check = [&](std::string_view message, refusal reason) {
        auto v = sp.sp().verify_response(message, request_id, loa::substantial);
        CHECK_FALSE(v);
        CHECK(v.reason() == reason);
    };
    check("", refusal::malformed_message);
    check("not base64 at all!", refusal::malformed_message);
    check(std::string(300 * 1024, 'A'), refusal::malformed_message);
    check(crypto::to_base64(crypto::as_bytes("<samlp:Response")), refusal::malformed_xml);
    check(crypto::to_base64(crypto::as_bytes("<Response xmlns=\"urn:example\" Version=\"2.0\"/>")),
          refusal::not_a_response);
    check(crypto::to_base64(crypto::as_bytes(
              "<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" ID=\"_r\" "
              "Version=\"2.0\"/>")),
          refusal::signature_missing);
}

TEST_CASE("node metadata gives the signing certificate and the single sign-on URLs",
          "[saml][metadata]") {
    auto node = saml::read_node_metadata(fixture("saml-generated/node-metadata.xml"));
    CHECK(node.entity_id == node_entity);
    CHECK(node.sso_redirect_url == "https://eidas-node.example.test/sso/redirect");
    CHECK(node.sso_post_url == "https://eidas-node.example.test/sso/post");
    // The encryption key (the attacker's certificate here) is not a signing key.
    REQUIRE(node.signing_certificates.size() == 1);
    CHECK(crypto::fingerprint_sha256(node.signing_certificates.front().get()) ==
          crypto::fingerprint_sha256(pem_certificates("hostile/keys/idp-cert.pem").front().get()));

    auto signed_md = fixture("saml-generated/node-metadata-signed.xml");
    CHECK(saml::read_node_metadata(signed_md, node_entity,
                                   pem_certificates("hostile/keys/idp-cert.pem"))
              .signing_certificates.size() == 1);
    CHECK_THROWS_AS(saml::read_node_metadata(signed_md, node_entity,
                                             pem_certificates("hostile/keys/attacker-cert.pem")),
                    std::invalid_argument);
    CHECK_THROWS_AS(saml::read_node_metadata(fixture("saml-generated/node-metadata.xml"),
                                             node_entity,
                                             pem_certificates("hostile/keys/idp-cert.pem")),
                    std::invalid_argument);
    CHECK_THROWS_AS(saml::read_node_metadata(fixture("saml-generated/node-metadata.xml"),
                                             "https://other-node.example.test/metadata"),
                    std::invalid_argument);
    CHECK_THROWS_AS(saml::read_node_metadata("<!DOCTYPE x [<!ENTITY a \"b\">]><x/>"),
                    std::invalid_argument);

    // The metadata is all a configured SP needs from the node.
    auto config = corpus_config();
    config.node = std::move(node);
    corpus_sp sp(std::move(config));
    CHECK(sp.verify("hostile/saml/s00-positive-control.xml"));
}

TEST_CASE("a node may be configured from a plain PEM certificate instead of metadata",
          "[saml][metadata]") {
    auto config = corpus_config();
    config.node = saml::node_from_pem(node_entity, "https://eidas-node.example.test/sso/redirect",
                                      fixture("hostile/keys/idp-cert.pem"));
    corpus_sp sp(std::move(config));
    CHECK(sp.verify("hostile/saml/s00-positive-control.xml"));
    CHECK(sp.sp()
              .make_authn_request(loa::substantial, "")
              .signed_xml.find("Destination=\"https://eidas-node.example.test/sso/redirect\"") !=
          std::string::npos);
    CHECK_THROWS_AS(saml::node_from_pem(node_entity, "https://node.example.test/sso", "not a PEM"),
                    std::invalid_argument);
}

TEST_CASE("the AuthnRequest asks for the level, is schema-valid and verifies with xmlsec1",
          "[saml][authn-request][tools]") {
    test::temp_dir dir;
    corpus_sp sp;
    auto request = sp.sp().make_authn_request(loa::substantial, "lt_3f9a");
    CHECK(request.id.size() > 20);
    CHECK(request.id.front() == '_');
    CHECK(request.issue_instant == "2025-03-14T10:16:00Z");

    for (const auto& xml : {request.xml, request.signed_xml}) {
        CHECK_THAT(xml, Catch::Matchers::Contains("ID=\"" + request.id + "\""));
        CHECK_THAT(xml,
                   Catch::Matchers::Contains("<samlp:RequestedAuthnContext Comparison=\"minimum\">"
                                             "<saml:AuthnContextClassRef>"
                                             "http://eidas.europa.eu/LoA/substantial"));
        CHECK_THAT(xml, Catch::Matchers::Contains("AssertionConsumerServiceURL=\"" +
                                                  std::string(acs) + "\""));
        CHECK_THAT(xml, Catch::Matchers::Contains("<saml:Issuer>" + std::string(sp_entity)));
        CHECK_THAT(xml, Catch::Matchers::Contains(std::string(protocols::attribute::birth_date)));
    }
    CHECK_THAT(request.xml, !Catch::Matchers::Contains("Signature"));
    CHECK_THAT(request.xml, Catch::Matchers::Contains(
                                "Destination=\"https://eidas-node.example.test/sso/redirect\""));
    CHECK_THAT(request.signed_xml, Catch::Matchers::Contains(
                                       "Destination=\"https://eidas-node.example.test/sso/post\""));

    test::write_file(dir / "request.xml", request.xml);
    test::write_file(dir / "signed.xml", request.signed_xml);
    for (auto file : {"request.xml", "signed.xml"}) {
        auto valid = schema_check(dir, "saml-schema-protocol-2.0.xsd", (dir / file).string());
        INFO(valid.output);
        CHECK(valid.status == 0);
    }

    // Pinned to the SP certificate; the certificate in KeyInfo is not read.
    auto verified = test::run("xmlsec1 --verify --enabled-key-data key-name --pubkey-cert-pem '" +
                              test::source_path("certs-sample/seal.pem").string() +
                              "' --id-attr:ID urn:oasis:names:tc:SAML:2.0:protocol:AuthnRequest '" +
                              (dir / "signed.xml").string() + "'");
    INFO(verified.output);
    CHECK(verified.status == 0);
    auto other_key =
        test::run("xmlsec1 --verify --enabled-key-data key-name --pubkey-cert-pem '" +
                  test::source_path("certs-sample/tsa.pem").string() +
                  "' --id-attr:ID urn:oasis:names:tc:SAML:2.0:protocol:AuthnRequest '" +
                  (dir / "signed.xml").string() + "'");
    CHECK(other_key.status != 0);

    CHECK(sp.sp().make_authn_request(loa::high, "").xml.find("LoA/high") != std::string::npos);
    CHECK_THAT(sp.sp().make_authn_request(loa::substantial, "", true).xml,
               Catch::Matchers::Contains(std::string(protocols::attribute::legal_name)));
    CHECK_THROWS_AS(sp.sp().make_authn_request("urn:example:loa:gold", ""), std::invalid_argument);
    CHECK_THROWS_AS(sp.sp().make_authn_request(loa::substantial, std::string(81, 'r')),
                    std::invalid_argument);
}

TEST_CASE("the redirect binding signs the query string, and openssl verifies it",
          "[saml][authn-request][tools]") {
    test::temp_dir dir;
    corpus_sp sp(corpus_config("idp")); // an RSA SP key
    auto request = sp.sp().make_authn_request(loa::substantial, "lt_3f9a");
    const auto& url = request.redirect_url;
    REQUIRE(url.rfind("https://eidas-node.example.test/sso/redirect?SAMLRequest=", 0) == 0);

    auto query = query_of(url);
    CHECK(query["RelayState"] == "lt_3f9a");
    CHECK(query["SigAlg"] == crypto::dsig_algorithms::rsa_sha256);
    CHECK(inflate_raw(crypto::from_base64(query["SAMLRequest"])) == request.xml);

    // SAML bindings 3.4.4.1: the signed octets are the query up to "&Signature=", as sent.
    auto start = url.find('?') + 1;
    auto signed_part = url.substr(start, url.find("&Signature=") - start);
    test::write_file(dir / "signed.txt", signed_part);
    auto signature = crypto::from_base64(query["Signature"]);
    test::write_file(
        dir / "signature.bin",
        std::string_view(reinterpret_cast<const char*>(signature.data()), signature.size()));
    auto openssl = [&](const std::string& cert) {
        return test::run("openssl x509 -in '" + test::source_path(cert).string() +
                         "' -pubkey -noout > '" + (dir / "key.pem").string() +
                         "' && openssl dgst -sha256 -verify '" + (dir / "key.pem").string() +
                         "' -signature '" + (dir / "signature.bin").string() + "' '" +
                         (dir / "signed.txt").string() + "'");
    };
    auto verified = openssl("certs-sample/idp.pem");
    INFO(verified.output);
    CHECK(verified.status == 0);
    CHECK(openssl("certs-sample/seal.pem").status != 0);
}

TEST_CASE("an ECDSA SP key signs the redirect query as r and s, as XML-DSig does",
          "[saml][authn-request]") {
    corpus_sp sp; // the sample seal, ECDSA P-256
    auto request = sp.sp().make_authn_request(loa::substantial, "");
    auto url = request.redirect_url;
    auto query = query_of(url);
    CHECK(query.count("RelayState") == 0);
    CHECK(query["SigAlg"] == crypto::dsig_algorithms::ecdsa_sha256);
    auto raw = crypto::from_base64(query["Signature"]);
    REQUIRE(raw.size() == 64);

    // r || s back to DER, checked by OpenSSL against the SP certificate.
    std::unique_ptr<ECDSA_SIG, crypto::c_deleter<ECDSA_SIG_free>> sig(ECDSA_SIG_new());
    REQUIRE(ECDSA_SIG_set0(sig.get(), BN_bin2bn(raw.data(), 32, nullptr),
                           BN_bin2bn(raw.data() + 32, 32, nullptr)) == 1);
    unsigned char* der = nullptr;
    int der_size = i2d_ECDSA_SIG(sig.get(), &der);
    REQUIRE(der_size > 0);
    auto start = url.find('?') + 1;
    auto signed_part = url.substr(start, url.find("&Signature=") - start);
    auto cert =
        crypto::certificates_from_pem(test::read_file(test::source_path("certs-sample/seal.pem")));
    crypto::evp_md_ctx_ptr ctx(EVP_MD_CTX_new());
    REQUIRE(EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr,
                                 X509_get0_pubkey(cert.front().get())) == 1);
    CHECK(EVP_DigestVerify(ctx.get(), der, static_cast<std::size_t>(der_size),
                           reinterpret_cast<const unsigned char*>(signed_part.data()),
                           signed_part.size()) == 1);
    OPENSSL_free(der);
}

TEST_CASE("the SP metadata is schema-valid, signed, and names the ACS and the key",
          "[saml][metadata][tools]") {
    test::temp_dir dir;
    corpus_sp sp;
    auto metadata = sp.sp().metadata();
    auto doc = crypto::parse_xml(metadata);
    CHECK_THAT(metadata, Catch::Matchers::Contains("entityID=\"" + std::string(sp_entity) + "\""));
    CHECK_THAT(metadata, Catch::Matchers::Contains("Location=\"" + std::string(acs) + "\""));
    CHECK_THAT(metadata, Catch::Matchers::Contains("AuthnRequestsSigned=\"true\""));
    CHECK_THAT(metadata, Catch::Matchers::Contains("<eidas:SPType>private</eidas:SPType>"));

    test::write_file(dir / "metadata.xml", metadata);
    auto valid = schema_check(dir, "saml-schema-metadata-2.0.xsd", (dir / "metadata.xml").string());
    INFO(valid.output);
    CHECK(valid.status == 0);
    auto verified =
        test::run("xmlsec1 --verify --enabled-key-data key-name --pubkey-cert-pem '" +
                  test::source_path("certs-sample/seal.pem").string() +
                  "' --id-attr:ID urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor '" +
                  (dir / "metadata.xml").string() + "'");
    INFO(verified.output);
    CHECK(verified.status == 0);
}

TEST_CASE("a configuration that cannot work is refused at start", "[saml][config]") {
    test::test_database store;
    auto db = store.open();
    saml::stored_replay_cache cache(*db, {});
    auto without = [&](auto change) {
        auto config = corpus_config();
        change(config);
        return [&cache, c = std::make_shared<saml::sp_config>(std::move(config))] {
            saml::service_provider sp(std::move(*c), cache);
        };
    };
    CHECK_THROWS_AS(without([](auto& c) { c.acs_url.clear(); })(), std::invalid_argument);
    CHECK_THROWS_AS(without([](auto& c) { c.node.signing_certificates.clear(); })(),
                    std::invalid_argument);
    CHECK_THROWS_AS(without([](auto& c) {
                        c.node.sso_redirect_url.clear();
                        c.node.sso_post_url.clear();
                    })(),
                    std::invalid_argument);
    CHECK_THROWS_AS(without([](auto& c) { c.clock_skew = std::chrono::hours(1); })(),
                    std::invalid_argument);
    CHECK_NOTHROW(without([](auto&) {})());
}

namespace {

/// The built-in demo node as the gateway sets it up for the corpus's SP, on the sample
/// identity-provider key, and that SP trusting it through the node's metadata only.
struct demo_setup {
    saml::demo_node node;
    corpus_sp sp;

    static saml::demo_node::options options() {
        return {"https://lre.example.test/demo/eidas/metadata",
                "https://lre.example.test/demo/eidas/sso", sp_entity, acs};
    }

    static saml::sp_config trusting(const saml::demo_node& node) {
        auto c = corpus_config();
        c.node = saml::read_node_metadata(node.metadata(), node.settings().entity_id);
        return c;
    }

    explicit demo_setup(saml::demo_node::options o = options())
        : node(std::move(o), test::sample_identity("idp"), [] { return corpus_now; })
        , sp(trusting(node)) {}

    /// What the browser carries to the node: the redirect URL's SAMLRequest.
    std::string saml_request(std::string_view level, bool legal_person = false) {
        auto request = sp.sp().make_authn_request(level, "lt_demo", legal_person);
        last_request_id = request.id;
        return query_of(request.redirect_url)["SAMLRequest"];
    }

    std::string last_request_id;
};

const saml::demo_person claire{"Martin", "Claire", "1985-02-17", "", "", ""};

} // namespace

TEST_CASE("the demo node's answer passes the real verification and identifies who was picked",
          "[saml][demo-node]") {
    demo_setup demo;
    auto request = demo.node.read_request(demo.saml_request(loa::substantial));
    CHECK(request.id == demo.last_request_id);
    CHECK(request.level == loa::substantial);
    CHECK_FALSE(request.legal_person);

    auto response = demo.node.respond(request, claire, loa::substantial);
    auto v = demo.sp.sp().verify_response(response, demo.last_request_id, loa::substantial);
    INFO((v ? std::string("accepted") : v.message()));
    REQUIRE(v);
    CHECK(v.identity->family_name == "Martin");
    CHECK(v.identity->given_names == "Claire");
    CHECK(v.identity->birth_date == "1985-02-17");
    CHECK(v.identity->person_identifier.rfind("FR/FR/DEMO-", 0) == 0);
    CHECK(v.identity->issuer == demo.node.settings().entity_id);
    CHECK(v.identity->loa == loa::substantial);
    protocols::person_claim named{"Martin", "Claire", "1985-02-17", ""};
    CHECK(protocols::match_person(named, v.identity->to_person_claim()) ==
          protocols::match_outcome::match);

    // The same person typed twice is the same PersonIdentifier; a typed one is kept.
    auto again = demo.node.respond(request, claire, loa::high);
    auto second = demo.sp.sp().verify_response(again, demo.last_request_id, loa::substantial);
    REQUIRE(second);
    CHECK(second.identity->person_identifier == v.identity->person_identifier);
    CHECK(second.identity->loa == loa::high);
    auto typed = claire;
    typed.person_identifier = "FR/FR/123456789";
    auto third = demo.sp.sp().verify_response(demo.node.respond(request, typed, loa::substantial),
                                              demo.last_request_id, loa::substantial);
    REQUIRE(third);
    CHECK(third.identity->person_identifier == "FR/FR/123456789");

    // The answer is consumed once, like any node's.
    CHECK(demo.sp.sp().verify_response(response, demo.last_request_id, loa::substantial).reason() ==
          refusal::replayed);
}

TEST_CASE("the demo node's chosen level is what the service provider judges", "[saml][demo-node]") {
    demo_setup demo;
    auto request = demo.node.read_request(demo.saml_request(loa::high));
    CHECK(request.level == loa::high);
    auto substantial = demo.node.respond(request, claire, loa::substantial);
    CHECK(demo.sp.sp().verify_response(substantial, demo.last_request_id, loa::high).reason() ==
          refusal::loa_too_low);
    auto low = demo.node.respond(request, claire, loa::low);
    CHECK(demo.sp.sp().verify_response(low, demo.last_request_id, loa::substantial).reason() ==
          refusal::loa_too_low);
    CHECK(demo.sp.sp().verify_response(demo.node.respond(request, claire, loa::high),
                                       demo.last_request_id, loa::high));
    CHECK_THROWS_AS(demo.node.respond(request, claire, "urn:example:loa:gold"),
                    std::invalid_argument);
}

TEST_CASE("a demo answer verifies with xmlsec1 against the sample identity-provider key only, "
          "and is schema-valid",
          "[saml][demo-node][tools]") {
    test::temp_dir dir;
    demo_setup demo;
    auto request = demo.node.read_request(demo.saml_request(loa::substantial));
    auto raw = crypto::from_base64(demo.node.respond(request, claire, loa::substantial));
    test::write_file(dir / "response.xml",
                     std::string_view(reinterpret_cast<const char*>(raw.data()), raw.size()));

    auto valid = schema_check(dir, "saml-schema-protocol-2.0.xsd", (dir / "response.xml").string());
    INFO(valid.output);
    CHECK(valid.status == 0);

    // Both signatures, each with the certificate given and nothing from KeyInfo.
    auto verify = [&](const std::string& cert, const std::string& element) {
        return test::run(
            "xmlsec1 --verify --enabled-key-data key-name --pubkey-cert-pem '" +
            test::source_path(cert).string() + "' --id-attr:ID " + element +
            " --node-xpath '//*[local-name()=\"" + element.substr(element.rfind(':') + 1) +
            "\"]/*[local-name()=\"Signature\"]' '" + (dir / "response.xml").string() + "'");
    };
    for (auto element : {"urn:oasis:names:tc:SAML:2.0:protocol:Response",
                         "urn:oasis:names:tc:SAML:2.0:assertion:Assertion"}) {
        auto verified = verify("certs-sample/idp.pem", element);
        INFO(verified.output);
        CHECK(verified.status == 0);
        CHECK(verify("certs-sample/seal.pem", element).status != 0);
    }
}

TEST_CASE("the demo node answers its own service provider only, for eIDAS levels and whole "
          "identities",
          "[saml][demo-node]") {
    demo_setup demo;
    CHECK_THROWS_AS(demo.node.read_request(""), std::invalid_argument);
    CHECK_THROWS_AS(demo.node.read_request("not base64 !"), std::invalid_argument);
    CHECK_THROWS_AS(demo.node.read_request(crypto::to_base64(crypto::as_bytes("<x/>"))),
                    std::invalid_argument); // not DEFLATE

    // Another service provider, or our SP pointing elsewhere, gets nothing.
    auto options = demo_setup::options();
    options.sp_entity_id = "https://other-sp.example.test/metadata";
    demo_setup other(options);
    auto saml_request = demo.saml_request(loa::substantial);
    CHECK_THROWS_AS(other.node.read_request(saml_request), std::invalid_argument);
    options = demo_setup::options();
    options.sp_acs_url = "https://lre.example.test/elsewhere";
    CHECK_THROWS_AS(demo_setup(options).node.read_request(saml_request), std::invalid_argument);

    auto request = demo.node.read_request(saml_request);
    auto without = [&](auto change) {
        auto who = claire;
        change(who);
        return [&demo, &request, who] { demo.node.respond(request, who, loa::substantial); };
    };
    CHECK_THROWS_AS(without([](auto& w) { w.family_name.clear(); })(), std::invalid_argument);
    CHECK_THROWS_AS(without([](auto& w) { w.birth_date = "1985-02-30"; })(), std::invalid_argument);
    CHECK_THROWS_AS(without([](auto& w) { w.birth_date = "17/02/1985"; })(), std::invalid_argument);
    CHECK_THROWS_AS(without([](auto& w) { w.legal_name = "Martin Conseil"; })(),
                    std::invalid_argument);
    CHECK_THROWS_AS(without([](auto& w) { w.given_names = std::string(201, 'a'); })(),
                    std::invalid_argument);
    // Typed text that no XML answer can hold is refused, not signed.
    CHECK_THROWS_AS(without([](auto& w) { w.family_name = "Evil\x1b[31m"; })(),
                    std::invalid_argument);
    CHECK_THROWS_AS(without([](auto& w) { w.given_names = "Bad\xff"; })(), std::invalid_argument);
    CHECK_THROWS_AS(without([](auto& w) { w.person_identifier = "XX/FR/\u202e1"; })(),
                    std::invalid_argument);
}

TEST_CASE("a company's letter asks for the legal person, which the demo node asserts when given",
          "[saml][demo-node]") {
    demo_setup demo;
    auto saml_request = demo.saml_request(loa::substantial, true);
    auto xml = inflate_raw(crypto::from_base64(saml_request));
    CHECK_THAT(xml, Catch::Matchers::Contains(std::string(protocols::attribute::legal_name) +
                                              "\" NameFormat=\"" +
                                              "urn:oasis:names:tc:SAML:2.0:attrname-format:uri" +
                                              "\" isRequired=\"false\""));
    auto request = demo.node.read_request(saml_request);
    CHECK(request.legal_person);
    auto representative = claire;
    representative.legal_name = "Martin Conseil";
    representative.legal_person_identifier = "FR/FR/SIREN-123456789";
    auto v = demo.sp.sp().verify_response(demo.node.respond(request, representative, loa::high),
                                          demo.last_request_id, loa::substantial);
    REQUIRE(v);
    CHECK(v.identity->legal_name == "Martin Conseil");
    CHECK(v.identity->legal_person_identifier == "FR/FR/SIREN-123456789");
    CHECK(v.identity->family_name == "Martin");
}
