#include "protocols/letter.hpp"

#include <catch2/catch.hpp>

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

TEST_CASE("the LRE policy needs consent from non-professionals", "[protocols][letter][policy]") {
    letter_request l;
    l.kind = letter_kind::lre;
    l.recipient.email = "a@b.example";
    l.recipient.family_name = "X";
    auto v = check_policy(l);
    REQUIRE(v.size() == 1);
    CHECK(v[0].code == reason::consent_missing);

    l.recipient.professional = true;
    CHECK(check_policy(l).empty());
    l.recipient.professional = false;
    l.kind = letter_kind::ere;
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
