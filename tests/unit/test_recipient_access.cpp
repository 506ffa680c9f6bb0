#include "crypto/jws.hpp"
#include "crypto/random.hpp"
#include "protocols/notification.hpp"
#include "protocols/oidc.hpp"
#include "protocols/recipient_access.hpp"
#include "support/lifecycle_fixture.hpp"

#include <catch2/catch.hpp>

#include <regex>
#include <thread>

using namespace sceau;
using namespace sceau::protocols;
using test::lifecycle_fixture;
using outcome = transition_result::outcome;
using std::chrono::hours;

namespace {

/// Keeps what it is given, like a relay that accepts everything.
struct keeping_mailer final : mailer {
    std::vector<mail_message> sent;
    send_result send(const mail_message& m) override {
        sent.push_back(m);
        return {send_result::outcome::sent, "kept"};
    }
};

struct recipient_fixture : lifecycle_fixture {
    keeping_mailer mail;
    notification_options notice_options{"Sceau test provider",
                                        "Sceau <no-reply@sceau.test>",
                                        "https://lettres.sceau.test",
                                        std::chrono::seconds(60),
                                        hours(48),
                                        20};
    notification_service notices{*db, letters, mail, notice_options, clock};
    recipient_access access{*db, letters, mail, notices, {}, clock};

    /// A notified letter and the token of its link, as the notice carries it.
    std::pair<std::string, std::string> notified_link(const char* letter_json = ere_letter) {
        auto id = notified(letter_json);
        auto link = notices.new_link(id);
        return {id, link.substr(link.rfind('/') + 1)};
    }

    recipient_view session_on(const std::string& token) {
        auto letter = access.open_link(token);
        REQUIRE(letter);
        auto secret = access.start_session(letter->id);
        auto v = access.view(token, secret);
        REQUIRE(v);
        return *v;
    }

    std::string last_code() {
        REQUIRE(!mail.sent.empty());
        std::smatch m;
        REQUIRE(std::regex_search(mail.sent.back().text, m, std::regex(R"(code: (\d+))")));
        return m[1];
    }

    recipient_view identified_on(const std::string& token) {
        auto v = session_on(token);
        REQUIRE(access.send_code(v) == recipient_access::code_outcome::sent);
        REQUIRE(access.verify_code(v, last_code()).result ==
                recipient_access::verify_outcome::identified);
        return v;
    }

    storage::letter_record letter(const std::string& id) {
        auto l = db->letter_by_id(id);
        REQUIRE(l.has_value());
        return std::move(l).value();
    }

    std::string evidence_xml(const std::string& letter_id, std::string_view event) {
        for (const auto& e : letter(letter_id).evidence) {
            if (e.event == event)
                return db->evidence_by_id(e.id)->xml;
        }
        return {};
    }
};

} // namespace

TEST_CASE("a link opens its letter only while the choice is pending or after acceptance",
          "[protocols][recipient]") {
    recipient_fixture f;
    auto [id, token] = f.notified_link();
    CHECK(token.size() >= 43); // 256 bits in base64url
    REQUIRE(f.access.open_link(token));
    CHECK(f.access.open_link(token)->id == id);
    CHECK_FALSE(f.access.open_link("not-a-token"));
    CHECK_FALSE(f.access.open_link(""));
    CHECK_FALSE(f.access.open_link(std::string(4096, 'a')));

    SECTION("refused: the link is dead") {
        auto v = f.identified_on(token);
        REQUIRE(f.access.refuse(v) == recipient_access::choice_outcome::done);
        CHECK_FALSE(f.access.open_link(token));
    }
    SECTION("past the deadline, even before the expiry is recorded") {
        f.offset_hours = 24 * 17;
        CHECK_FALSE(f.access.open_link(token));
        CHECK(f.letters.expire_due() == 1);
        CHECK_FALSE(f.access.open_link(token));
    }
    SECTION("accepted: the link still opens, for the content") {
        auto v = f.identified_on(token);
        REQUIRE(f.access.accept(v) == recipient_access::choice_outcome::done);
        CHECK(f.access.open_link(token));
    }
}

TEST_CASE("the e-mail code identifies an ere recipient, its attempts and lifetime are limited",
          "[protocols][recipient]") {
    recipient_fixture f;
    auto [id, token] = f.notified_link();
    auto v = f.session_on(token);
    CHECK_FALSE(v.identified);
    CHECK_FALSE(v.may_decide);
    CHECK(v.masked_email == "c***e@example.org");

    REQUIRE(f.access.send_code(v) == recipient_access::code_outcome::sent);
    REQUIRE(f.mail.sent.size() == 1);
    CHECK(f.mail.sent[0].to == "claire@example.org");
    auto code = f.last_code();
    CHECK(code.size() == 8);
    // The code mail, like the notice, says nothing of the sender or the letter.
    for (const auto& secret : {"Durand", "durand.example", "Objet secret", "dossier 77"}) {
        CHECK(f.mail.sent[0].text.find(secret) == std::string::npos);
        CHECK(f.mail.sent[0].subject.find(secret) == std::string::npos);
    }
    // The store keeps only a hash of it.
    CHECK(f.db->session(v.session.id_hash)->code_hash.find(code) == std::string::npos);

    SECTION("the right code identifies the session, once") {
        auto wrong = code == "00000000" ? "11111111" : "00000000";
        auto r = f.access.verify_code(v, wrong);
        CHECK(r.result == recipient_access::verify_outcome::wrong);
        CHECK(r.attempts_left == 4);
        CHECK(f.access.verify_code(v, code.substr(0, 4) + " " + code.substr(4)).result ==
              recipient_access::verify_outcome::identified);
        CHECK(v.identified);
        CHECK(v.may_decide);
        CHECK(f.access.verify_code(v, code).result == recipient_access::verify_outcome::no_code);
    }
    SECTION("five wrong codes void it: then even the right one fails") {
        auto wrong = code == "00000000" ? "11111111" : "00000000";
        for (int i = 0; i < 4; ++i)
            CHECK(f.access.verify_code(v, wrong).result == recipient_access::verify_outcome::wrong);
        CHECK(f.access.verify_code(v, wrong).result == recipient_access::verify_outcome::locked);
        CHECK(f.access.verify_code(v, code).result == recipient_access::verify_outcome::locked);
        CHECK_FALSE(v.identified);
    }
    SECTION("an old code fails") {
        f.offset_hours = 1;
        CHECK(f.access.verify_code(v, code).result == recipient_access::verify_outcome::expired);
        CHECK_FALSE(v.identified);
    }
    SECTION("a session asks for three codes at most") {
        CHECK(f.access.send_code(v) == recipient_access::code_outcome::sent);
        CHECK(f.access.send_code(v) == recipient_access::code_outcome::sent);
        CHECK(f.access.send_code(v) == recipient_access::code_outcome::too_many);
        CHECK(f.mail.sent.size() == 3);
        // Only the newest code counts.
        if (code != f.last_code())
            CHECK(f.access.verify_code(v, code).result == recipient_access::verify_outcome::wrong);
    }
    SECTION("many sessions cannot flood the recipient's mailbox") {
        for (int i = 0; i < 12; ++i) {
            auto other = f.session_on(token);
            f.access.send_code(other);
        }
        CHECK(f.mail.sent.size() == 10);
    }
}

TEST_CASE("a session is bound to its letter and expires", "[protocols][recipient]") {
    recipient_fixture f;
    auto [a, token_a] = f.notified_link();
    auto [b, token_b] = f.notified_link();
    auto secret = f.access.start_session(a);
    CHECK(f.access.view(token_a, secret));
    CHECK_FALSE(f.access.view(token_b, secret)); // another letter's link
    CHECK_FALSE(f.access.view(token_a, ""));

    f.offset_hours = 1; // sessions last 30 minutes
    CHECK_FALSE(f.access.view(token_a, secret));
    CHECK(f.access.sweep_sessions() == 1);
    CHECK(f.access.sweep_sessions() == 0);
}

TEST_CASE("the form token is compared whole", "[protocols][recipient]") {
    storage::recipient_session s;
    s.csrf = "abcdefgh";
    CHECK(recipient_access::csrf_matches(s, "abcdefgh"));
    CHECK_FALSE(recipient_access::csrf_matches(s, "abcdefgX"));
    CHECK_FALSE(recipient_access::csrf_matches(s, "abcdefg"));
    CHECK_FALSE(recipient_access::csrf_matches(s, ""));
}

TEST_CASE("acceptance and refusal evidence record how the recipient was identified",
          "[protocols][recipient]") {
    recipient_fixture f;
    auto [id, token] = f.notified_link();
    auto v = f.identified_on(token);
    bool accepting = GENERATE(true, false);
    auto r = accepting ? f.access.accept(v) : f.access.refuse(v);
    REQUIRE(r == recipient_access::choice_outcome::done);
    auto xml = f.evidence_xml(id, accepting ? "ConsignmentAcceptance" : "ConsignmentRejection");
    REQUIRE(!xml.empty());
    CHECK(xml.find("AssuranceLevelsDetails") != std::string::npos);
    CHECK(xml.find(std::string(email_control_loa)) != std::string::npos);
    CHECK(xml.find(std::string(identification_method::email_code)) != std::string::npos);
    CHECK(f.letter(id).status == (accepting ? "accepted" : "refused"));
}

TEST_CASE("an lre letter cannot be accepted or refused with the e-mail code, consent is kept",
          "[protocols][recipient]") {
    recipient_fixture f;
    auto [id, token] = f.notified_link(lifecycle_fixture::lre_letter);
    auto v = f.session_on(token);
    CHECK(f.access.send_code(v) == recipient_access::code_outcome::not_allowed);
    CHECK(f.mail.sent.empty());

    // Even a session that holds an e-mail identification cannot decide.
    identification by_mail{std::string(identification_method::email_code),
                           std::string(email_control_loa),
                           "mail",
                           "2026-12-03T10:00:00.000Z",
                           {}};
    f.access.identified(v, by_mail);
    CHECK_FALSE(v.may_decide);
    CHECK(f.access.accept(v) == recipient_access::choice_outcome::level_too_low);
    CHECK(f.access.refuse(v) == recipient_access::choice_outcome::level_too_low);
    CHECK(f.letter(id).status == "notified");

    // eIDAS substantial (as the SAML and OIDC methods will give) may.
    identification eidas{"urn:sceau:identification:test-eidas",
                         std::string(loa::substantial),
                         "test node",
                         "2026-12-03T10:00:00.000Z",
                         {}};
    f.access.identified(v, eidas);
    CHECK(v.may_decide);
    CHECK(f.access.accept(v) == recipient_access::choice_outcome::done);
    auto xml = f.evidence_xml(id, "ConsignmentAcceptance");
    CHECK(xml.find(std::string(loa::substantial)) != std::string::npos);
    // The recipient's consent to LRE (CPCE R.53-1) is carried by every record.
    CHECK(xml.find("consent-2026-118") != std::string::npos);
}

TEST_CASE("levels of assurance: high satisfies substantial, the e-mail code only itself",
          "[protocols][recipient]") {
    CHECK(level_satisfies(loa::high, loa::substantial));
    CHECK(level_satisfies(loa::substantial, loa::substantial));
    CHECK_FALSE(level_satisfies(loa::low, loa::substantial));
    CHECK_FALSE(level_satisfies(email_control_loa, loa::substantial));
    CHECK_FALSE(level_satisfies("http://eidas.europa.eu/LoA/unknown", loa::substantial));
    CHECK(level_satisfies(email_control_loa, email_control_loa));
    CHECK(level_satisfies(loa::substantial, email_control_loa));
    CHECK(required_level("lre") == loa::substantial);
    CHECK(required_level("ere") == email_control_loa);

    // As the configuration names them; nothing else is a level.
    CHECK(loa::named("high") == loa::high);
    CHECK(loa::named("low") == loa::low);
    CHECK(loa::named("medium").empty());
    CHECK(loa::named("").empty());
    CHECK(loa::rank(loa::named("substantial")) == 2);
}

TEST_CASE("the content is handed over only after acceptance, and recorded once",
          "[protocols][recipient]") {
    recipient_fixture f;
    auto [id, token] = f.notified_link();
    auto v = f.identified_on(token);
    CHECK_FALSE(f.access.hand_over(v, 1)); // not accepted yet

    SECTION("accepted") {
        REQUIRE(f.access.accept(v) == recipient_access::choice_outcome::done);
        // The session's view is re-read after acceptance, as each request does.
        v.letter = f.letter(id);
        CHECK_FALSE(f.access.hand_over(v, 0));
        CHECK_FALSE(f.access.hand_over(v, 2));
        auto doc = f.access.hand_over(v, 1);
        REQUIRE(doc);
        CHECK(f.blobs.exists(doc->sha256));
        v.letter = f.letter(id);
        CHECK(f.access.hand_over(v, 1));
        auto events = f.events(id);
        CHECK(std::count(events.begin(), events.end(), "ContentHandover") == 1);
    }
    SECTION("refused: never") {
        REQUIRE(f.access.refuse(v) == recipient_access::choice_outcome::done);
        v.letter = f.letter(id);
        CHECK_FALSE(f.access.hand_over(v, 1));
        auto events = f.events(id);
        CHECK(std::count(events.begin(), events.end(), "ContentHandover") == 0);
    }
}

TEST_CASE("accept and refuse from two sessions at once: one winner, one evidence",
          "[protocols][recipient]") {
    recipient_fixture f;
    for (int round = 0; round < 3; ++round) {
        auto [id, token] = f.notified_link();
        auto first = f.identified_on(token);
        auto second = f.identified_on(token);
        recipient_access::choice_outcome a{}, b{};
        std::thread t1([&] { a = f.access.accept(first); });
        std::thread t2([&] { b = f.access.refuse(second); });
        t1.join();
        t2.join();
        using c = recipient_access::choice_outcome;
        CHECK(((a == c::done && b == c::conflict) || (a == c::conflict && b == c::done)));
        auto events = f.events(id);
        auto decisions = std::count(events.begin(), events.end(), "ConsignmentAcceptance") +
                         std::count(events.begin(), events.end(), "ConsignmentRejection");
        CHECK(decisions == 1);
        CHECK(f.letter(id).status == (a == c::done ? "accepted" : "refused"));
    }
}

namespace {

constexpr const char* claire_lre =
    R"({"kind":"lre","recipient":{"email":"claire@example.org","family_name":"Martin",)"
    R"("given_name":"Claire","birth_date":"1979-11-22","professional":false},)"
    R"("consent_reference":"consent-2026-118","subject":"Objet secret"})";
constexpr const char* elodie_lre =
    R"({"kind":"lre","recipient":{"email":"elodie@example.org","family_name":"Marchand",)"
    R"("given_name":"Élodie","birth_date":"1985-04-03","professional":false},)"
    R"("consent_reference":"consent-2026-119","subject":"Objet secret"})";

/// The hostile corpus's genuine ID token (Claire Martin, acr substantial), verified as of
/// the corpus's clock.
oidc::verified_identity corpus_oidc_identity() {
    oidc::provider_config p;
    p.id = "corpus";
    p.issuer = "https://op.example.test";
    p.client_id = "lre-client-FICTIF";
    p.algorithms = {"RS256"};
    p.acr_levels = {{std::string(loa::substantial), std::string(loa::substantial)}};
    auto keys = crypto::jws::key_set::parse(
        test::read_file(test::source_path("tests/fixtures/oidc-generated/corpus-jwks.json")));
    auto token = test::read_file(
        test::source_path("tests/fixtures/hostile/oidc/o04-positive-control-rs256.jwt"));
    token.erase(token.find_last_not_of("\r\n") + 1);
    auto v = oidc::verify_id_token(
        token, p, keys,
        {"n-4c21", std::string(loa::substantial), crypto::parse_utc("2025-03-14T10:15:00Z")},
        crypto::parse_utc("2025-03-14T10:16:00Z"));
    REQUIRE(v);
    return *v.identity;
}

/// A session on a new link to `letter_json` that has begun an OpenID Connect
/// identification, and the request as the provider's answer takes it back.
std::pair<std::string, storage::identification_request> oidc_request(recipient_fixture& f,
                                                                     const char* letter_json) {
    auto [id, token] = f.notified_link(letter_json);
    auto v = f.session_on(token);
    auto state = crypto::random_id("st-");
    f.access.remember_request(v, token, "oidc", state, std::string(loa::substantial),
                              {{"nonce", "n-4c21"}});
    auto pending = f.access.take_request(state, "oidc");
    REQUIRE(pending);
    CHECK(pending->secrets.at("nonce") == "n-4c21");
    CHECK(pending->return_path == "/r/" + token);
    CHECK_FALSE(f.access.take_request(state, "oidc")); // once
    return {id, pending->request};
}

} // namespace

TEST_CASE("the corpus's genuine OIDC identity opens the letter of Claire Martin and records how",
          "[protocols][recipient][oidc]") {
    recipient_fixture f;
    auto [id, request] = oidc_request(f, claire_lre);
    auto who = corpus_oidc_identity();
    REQUIRE(f.access.complete(request, who.to_identification(), who.to_person_claims()) ==
            recipient_access::identity_outcome::identified);
    CHECK(f.db->identification_attempts(id).empty());

    auto session = f.db->session(request.session_hash);
    REQUIRE(session);
    recipient_view v;
    v.letter = f.letter(id);
    v.session = *session;
    v.identified = true;
    REQUIRE(f.access.accept(v) == recipient_access::choice_outcome::done);

    // AssuranceLevelsDetails: the level, who vouched, when, how; the asserted attributes.
    auto xml = f.evidence_xml(id, "ConsignmentAcceptance");
    for (auto expected :
         {"<AssuranceLevel>http://eidas.europa.eu/LoA/substantial</AssuranceLevel>",
          "<PolicyIDDetails>identified by https://op.example.test</PolicyIDDetails>",
          "<AuthenticationTime>2025-03-14T10:15:30.000Z</AuthenticationTime>",
          "<AuthenticationMethod>urn:sceau:identification:oidc</AuthenticationMethod>",
          "Name=\"urn:sceau:attribute:oidc:sub\"", ">op-user-0001</saml:AttributeValue>",
          ">1979-11-22</saml:AttributeValue>"})
        CHECK(xml.find(expected) != std::string::npos);
}

TEST_CASE("an OIDC identity of someone else opens nothing and is recorded",
          "[protocols][recipient][oidc]") {
    recipient_fixture f;
    auto [id, request] = oidc_request(f, elodie_lre);
    auto who = corpus_oidc_identity();
    CHECK(f.access.complete(request, who.to_identification(), who.to_person_claims()) ==
          recipient_access::identity_outcome::no_match);
    auto attempts = f.db->identification_attempts(id);
    REQUIRE(attempts.size() == 1);
    CHECK(attempts[0].method == oidc::identification_method);
    CHECK(attempts[0].provider == "https://op.example.test");
    CHECK(attempts[0].outcome == "no-match");
    CHECK(f.db->session(request.session_hash)->identified_method.empty());
    CHECK(f.letter(id).status == "notified");
}

TEST_CASE("a usage name given besides the birth name matches the name the sender knows",
          "[protocols][recipient][oidc]") {
    recipient_fixture f;
    auto who = corpus_oidc_identity();
    who.family_name = "Dupont"; // born Dupont, uses Martin
    who.usage_name = "Martin";
    auto [id, request] = oidc_request(f, claire_lre);
    CHECK(f.access.complete(request, who.to_identification(), who.to_person_claims()) ==
          recipient_access::identity_outcome::identified);

    // Neither name is the sender's: no match.
    who.usage_name = "Durand";
    auto [other, second] = oidc_request(f, claire_lre);
    CHECK(f.access.complete(second, who.to_identification(), who.to_person_claims()) ==
          recipient_access::identity_outcome::no_match);
}

TEST_CASE("an identification request is taken by its own method only, and knows its browser",
          "[protocols][recipient][binding]") {
    recipient_fixture f;
    auto [id, token] = f.notified_link(claire_lre);
    auto v = f.session_on(token);
    auto browser = f.access.remember_request(v, token, "saml", "_relay-2",
                                             std::string(loa::substantial), {{"k", "v"}});
    auto other =
        f.access.remember_request(v, token, "saml", "_relay-3", std::string(loa::substantial), {});
    CHECK(browser.size() >= 43); // 256 bits
    CHECK(browser != other);

    // Another method's answer naming it changes nothing.
    CHECK_FALSE(f.access.take_request("_relay-2", "oidc"));
    CHECK_FALSE(f.access.take_answer("_relay-2", "saml"));
    auto pending = f.access.take_request("_relay-2", "saml");
    REQUIRE(pending);
    CHECK(pending->secrets == nlohmann::json{{"k", "v"}}); // neither the link nor the hash
    CHECK(recipient_access::same_browser(*pending, browser));
    CHECK_FALSE(recipient_access::same_browser(*pending, other));
    CHECK_FALSE(recipient_access::same_browser(*pending, ""));
    CHECK_FALSE(recipient_access::same_browser(*pending, browser + "x"));
}

TEST_CASE("an answer held for completion is taken once, for its method, with its verdict",
          "[protocols][recipient][binding]") {
    recipient_fixture f;
    auto [id, token] = f.notified_link(claire_lre);
    auto v = f.session_on(token);
    auto browser =
        f.access.remember_request(v, token, "saml", "_relay-4", std::string(loa::high), {});
    auto pending = f.access.take_request("_relay-4", "saml");
    REQUIRE(pending);

    auto refused = f.access.hold_answer(*pending, {std::nullopt, {}, "loa_too_low"});
    CHECK_FALSE(f.access.take_request(refused, "saml")); // not a request to answer again
    CHECK_FALSE(f.access.take_answer(refused, "oidc"));
    auto held = f.access.take_answer(refused, "saml");
    REQUIRE(held);
    CHECK_FALSE(held->answer.who);
    CHECK(held->answer.refusal == "loa_too_low");
    CHECK(held->pending.request.session_hash == v.session.id_hash);
    CHECK(held->pending.request.letter_id == id);
    CHECK(held->pending.request.required_loa == loa::high);
    CHECK(held->pending.return_path == "/r/" + token);
    CHECK(recipient_access::same_browser(held->pending, browser));
    CHECK_FALSE(f.access.take_answer(refused, "saml")); // once

    identification who{"m", "l", "p", "t", {{"a", "1"}, {"b", "2"}}};
    auto identified = f.access.hold_answer(
        *pending,
        {who, {{"Martin", "Claire", "1985-02-17", ""}, {"Dupont", "Claire", "", ""}}, ""});
    held = f.access.take_answer(identified, "saml");
    REQUIRE(held);
    REQUIRE(held->answer.who);
    CHECK(held->answer.who->method == "m");
    CHECK(held->answer.who->level == "l");
    CHECK(held->answer.who->provider == "p");
    CHECK(held->answer.who->time == "t");
    CHECK(held->answer.who->attributes == who.attributes);
    REQUIRE(held->answer.asserted.size() == 2);
    CHECK(held->answer.asserted[1].family_name == "Dupont");
    CHECK(held->answer.asserted[0].birth_date == "1985-02-17");
}

TEST_CASE("an eIDAS identification is recorded with its level, node, time and the asserted "
          "attributes, kept apart from the sender's naming",
          "[protocols][recipient][evidence]") {
    recipient_fixture f;
    auto [id, token] = f.notified_link(
        R"({"kind":"lre","recipient":{"email":"claire@example.org","family_name":"Martin",)"
        R"("given_name":"Claire","birth_date":"1985-02-17"},"consent_reference":"c-1"})");
    auto v = f.session_on(token);

    // As the gateway does it: the request remembered at the start, taken by the ACS with
    // the node's answer, whose verdict is held for the completion in the same browser.
    auto browser =
        f.access.remember_request(v, token, "saml", "_relay-1", std::string(loa::substantial),
                                  {{"authn_request_id", "_authn-1"}});
    auto pending = f.access.take_request("_relay-1", "saml");
    REQUIRE(pending);
    CHECK(pending->secrets.value("authn_request_id", "") == "_authn-1");
    CHECK(pending->return_path == "/r/" + token);
    CHECK_FALSE(f.access.take_request("_relay-1", "saml")); // once

    const std::string node = "https://eidas-node.example.test/metadata";
    identification who{"urn:sceau:identification:eidas-saml",
                       std::string(loa::substantial),
                       node,
                       "2026-12-03T10:15:29.000Z",
                       {{std::string(attribute::family_name), "MARTIN"},
                        {std::string(attribute::given_name), "Claire"},
                        {std::string(attribute::birth_date), "1985-02-17"},
                        {std::string(attribute::person_identifier), "FR/FR/12345"}}};
    auto held_id = f.access.hold_answer(
        *pending, {who, {{"MARTIN", "Claire", "1985-02-17", "FR/FR/12345"}}, ""});
    auto held = f.access.take_answer(held_id, "saml");
    REQUIRE(held);
    REQUIRE(recipient_access::same_browser(held->pending, browser));
    REQUIRE(held->answer.who);
    REQUIRE(f.access.complete(held->pending.request, *held->answer.who, held->answer.asserted) ==
            recipient_access::identity_outcome::identified);
    auto session = f.db->session(v.session.id_hash); // as the next page reads it

    REQUIRE(session);
    v.session = *session;
    v.identified = true;
    REQUIRE(f.access.accept(v) == recipient_access::choice_outcome::done);

    auto xml = f.evidence_xml(id, "ConsignmentAcceptance");
    REQUIRE_NOTHROW(crypto::parse_xml(xml));
    auto text = [&](const char* element) {
        auto start = xml.find(std::string("<") + element + ">");
        REQUIRE(start != std::string::npos);
        start = xml.find('>', start) + 1;
        return xml.substr(start, xml.find('<', start) - start);
    };
    CHECK(text("AssuranceLevel") == loa::substantial);
    CHECK(text("AuthenticationMethod") == "urn:sceau:identification:eidas-saml");
    CHECK(text("AuthenticationTime") == "2026-12-03T10:15:29.000Z");
    CHECK(text("PolicyIDDetails") == "identified by " + node);
    // The sender's naming plain, the node's assertion marked with who asserted it.
    CHECK_THAT(xml, Catch::Matchers::Contains(
                        "CurrentFamilyName\" NameFormat=\"urn:oasis:names:tc:SAML:2.0:attrname-"
                        "format:uri\"><saml:AttributeValue>Martin<"));
    CHECK_THAT(xml, Catch::Matchers::Contains(
                        "CurrentFamilyName\" NameFormat=\"urn:oasis:names:tc:SAML:2.0:attrname-"
                        "format:uri\" sc:AssertedBy=\"" +
                        node + "\"><saml:AttributeValue>MARTIN<"));
    CHECK_THAT(xml, Catch::Matchers::Contains("sc:AssertedBy=\"" + node +
                                              "\"><saml:AttributeValue>FR/FR/12345<"));
}
