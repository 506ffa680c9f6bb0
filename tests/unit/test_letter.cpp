#include "protocols/letter.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace sceau::protocols;

TEST_CASE("a well-formed letter parses with every field", "[protocols][letter]") {
    auto l = parse_letter(R"({"kind":"lre","recipient":{"email":"claire.martin@example.org",
        "given_name":"Claire","family_name":"Martin","birth_date":"1985-02-17",
        "professional":false,"legal_name":null,"person_identifier":null},
        "consent_reference":"c-1","subject":"Mise en demeure","reference":"dossier 4521"})");
    CHECK(l.kind == letter_kind::lre);
    CHECK(l.recipient.email == "claire.martin@example.org");
    CHECK(l.recipient.family_name == "Martin");
    CHECK(l.recipient.birth_date == "1985-02-17");
    CHECK_FALSE(l.recipient.professional);
    CHECK(l.consent_reference == "c-1");
    CHECK(check_policy(l).empty());
}

TEST_CASE("malformed letters are refused with the field named", "[protocols][letter]") {
    auto refused = [](const char* json, const char* field) {
        INFO(json);
        try {
            parse_letter(json);
            FAIL("accepted");
        } catch (const invalid_letter& e) {
            CHECK(std::string(e.what()).find(field) != std::string::npos);
        }
    };
    refused("[]", "letter");
    refused(R"({"recipient":{"email":"a@b.example","family_name":"X"}})", "kind");
    refused(R"({"kind":"lre","recipient":{"email":"a@b","family_name":"X"}})", "recipient.email");
    refused(R"({"kind":"lre","recipient":{"email":"a b@c.example","family_name":"X"}})",
            "recipient.email");
    refused(R"({"kind":"lre","recipient":{"email":"a@b.example"}})", "recipient");
    refused(R"({"kind":"lre","recipient":{"email":"a@b.example","family_name":7}})",
            "recipient.family_name");
    refused(
        R"({"kind":"lre","recipient":{"email":"a@b.example","family_name":"X","nickname":"Y"}})",
        "recipient.nickname");
    refused(R"({"kind":"lre","recipient":{"email":"a@b.example","family_name":"X\u0085"}})",
            "control");
    refused("{\"kind\":\"lre\",\"recipient\":{\"email\":\"a@b.example\",\"family_name\":\"\xff\"}}",
            "JSON");
    std::string long_subject(600, 'x');
    refused((R"({"kind":"ere","recipient":{"email":"a@b.example","family_name":"X"},"subject":")" +
             long_subject + "\"}")
                .c_str(),
            "subject");
}

TEST_CASE("a letter that two parsers could read differently is refused, never half-read",
          "[protocols][letter][hostile]") {
    auto refused = [](const std::string& json, const char* words) {
        INFO(json);
        try {
            parse_letter(json);
            FAIL("accepted");
        } catch (const invalid_letter& e) {
            CHECK_THAT(e.what(), Catch::Contains(words));
        }
    };
    // The sender's software may have checked the first address; the last one would win.
    refused(R"({"kind":"ere","recipient":{"email":"claire.martin@example.org",
        "email":"mallory@example.net","family_name":"Martin"}})",
            "twice");
    refused(R"({"kind":"ere","kind":"lre","recipient":{"email":"a@b.example","family_name":"X"}})",
            "twice");
    // Numbers no double holds: the JSON library throws something other than a parse error.
    refused(R"({"kind":"ere","recipient":{"email":"a@b.example","family_name":"X",
        "professional":1e999}})",
            "JSON");
    refused(R"({"kind":"ere","recipient":{"email":"a@b.example","family_name":"X"},"n":-1e400})",
            "JSON");
    refused(R"({"kind":"ere","recipient":{"email":"a@b.example","family_name":"X"},
        "subject":[[[[[[["deep"]]]]]]]})",
            "deeper");
}

TEST_CASE("hidden formatting and look-alike addresses are refused in every text field",
          "[protocols][letter][hostile]") {
    auto with = [](const std::string& field, const std::string& value) {
        nlohmann::json l = {{"kind", "ere"},
                            {"recipient", {{"email", "claire@example.org"}, {"family_name", "X"}}}};
        if (field.rfind("recipient.", 0) == 0)
            l["recipient"][field.substr(10)] = value;
        else
            l[field] = value;
        return l.dump();
    };
    for (const char* field :
         {"recipient.family_name", "recipient.given_name", "recipient.legal_name", "subject",
          "reference", "consent_reference"}) {
        for (const char* value : {"Mar\u202etin", "a\u2066b\u2069", "a\u2028b", "\u200fx"}) {
            INFO(field << " = " << value);
            CHECK_THROWS_WITH(parse_letter(with(field, value)), Catch::StartsWith(field));
        }
    }
    CHECK_THROWS_WITH(parse_letter(with("recipient.email", "claire@exаmple.org")),
                      Catch::StartsWith("recipient.email"));
    CHECK_THROWS_WITH(parse_letter(with("recipient.email", "claire(x)@example.org")),
                      Catch::StartsWith("recipient.email"));
    // Right-to-left names need no formatting characters, and stay accepted.
    CHECK(parse_letter(with("recipient.family_name", "الحسن")).recipient.family_name == "الحسن");
}

TEST_CASE("the LRE policy needs consent from non-professionals", "[protocols][letter][policy]") {
    letter_request l;
    l.kind = letter_kind::lre;
    l.recipient.email = "a@b.example";
    l.recipient.family_name = "X";
    l.recipient.birth_date = "1985-02-17";
    auto v = check_policy(l);
    REQUIRE(v.size() == 1);
    CHECK(v[0].code == reason::consent_missing);

    l.recipient.professional = true;
    CHECK(check_policy(l).empty());
    l.recipient.professional = false;
    l.kind = letter_kind::ere;
    CHECK(check_policy(l).empty());
}

TEST_CASE("an LRE names a person the gateway can identify, also when sent to a company",
          "[protocols][letter][policy]") {
    letter_request l;
    l.kind = letter_kind::lre;
    l.recipient.email = "contact@conseil.example";
    l.recipient.professional = true;
    l.recipient.legal_name = "Martin Conseil";
    auto v = check_policy(l);
    REQUIRE(v.size() == 1);
    CHECK(v[0].code == reason::invalid_recipient);
    CHECK_THAT(v[0].details, Catch::Contains("birth_date"));

    l.recipient.family_name = "Martin";
    CHECK(check_policy(l).size() == 1); // a name alone cannot be matched
    l.recipient.birth_date = "1985-02-17";
    CHECK(check_policy(l).empty());
    l.recipient.family_name.clear();
    l.recipient.birth_date.clear();
    l.recipient.person_identifier = "FR/FR/123456";
    CHECK(check_policy(l).empty());

    l.kind = letter_kind::ere; // opened with an e-mail code: an address is enough
    l.recipient.person_identifier.clear();
    CHECK(check_policy(l).empty());
}

TEST_CASE("birth dates must be real ISO 8601 calendar dates", "[protocols][letter][policy]") {
    CHECK(is_iso_date("1985-02-17"));
    CHECK(is_iso_date("2000-02-29"));
    CHECK_FALSE(is_iso_date("1900-02-29"));
    CHECK_FALSE(is_iso_date("1985-02-30"));
    CHECK_FALSE(is_iso_date("1985-13-01"));
    CHECK_FALSE(is_iso_date("17/02/1985"));
    CHECK_FALSE(is_iso_date("1985-2-17"));
    CHECK_FALSE(is_iso_date("19850217"));
    CHECK_FALSE(is_iso_date("1985-02-17T00:00"));

    letter_request l;
    l.kind = letter_kind::ere;
    l.recipient.birth_date = "1985-02-30";
    auto v = check_policy(l);
    REQUIRE(v.size() == 1);
    CHECK(v[0].code == reason::invalid_recipient);
    l.recipient.birth_date = "1850-01-01";
    CHECK(check_policy(l).size() == 1);
}
