// The identified person against the person the sender named: the hostile corpus's
// matching cases, and the rules behind them.

#include "protocols/matching.hpp"
#include "protocols/transparency_log.hpp"
#include "storage/database.hpp"
#include "support/fixtures.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace sceau;
using namespace sceau::protocols;
using nlohmann::json;

namespace {

json corpus() {
    return json::parse(
        test::read_file(test::source_path("tests/fixtures/hostile/identity/matching-cases.json")));
}

person_claim claim_of(const json& j) {
    return {j.at("family").get<std::string>(), j.at("given").get<std::string>(),
            j.at("dob").get<std::string>(), j.value("identifier", "")};
}

} // namespace

TEST_CASE("every name and birth date case of the corpus gives its expected outcome",
          "[protocols][matching]") {
    auto cases = corpus().at("names_and_dob");
    REQUIRE(cases.size() >= 7);
    for (const auto& c : cases) {
        auto id = c.at("id").get<std::string>();
        auto expect = c.at("expect").get<std::string>();
        INFO(id << ": " << c.at("why").get<std::string>());
        auto declared = claim_of(c.at("declared"));
        auto asserted = claim_of(c.at("asserted"));
        if (expect == "reject-input") {
            CHECK_THROWS_AS(match_person(declared, asserted), unmatchable_claim);
            continue;
        }
        CHECK(to_string(match_person(declared, asserted)) == expect);
    }
}

TEST_CASE("every e-mail case of the corpus links accounts as expected", "[protocols][matching]") {
    auto cases = corpus().at("emails");
    REQUIRE(cases.size() >= 4);
    for (const auto& c : cases) {
        INFO(c.at("id").get<std::string>() << ": " << c.at("why").get<std::string>());
        auto expect = c.at("expect").get<std::string>();
        if (c.contains("incoming_pair")) {
            // Two registrations whose linkage forms collide: the store refuses the second.
            auto pair = c.at("incoming_pair");
            CHECK(expect == "unique-violation");
            test::temp_dir dir;
            auto db = storage::database::open("sqlite:" + (dir / "t.db").string(), 1,
                                              protocols::rfc9162_tree_hasher());
            db->migrate();
            storage::sender_record s{"snd_1", "Claire", pair[0].get<std::string>(),
                                     "",      "test",   "2026-12-03T10:00:00.000Z",
                                     "",      "",       ""};
            db->insert_sender(s, "hash-1");
            s.id = "snd_2";
            s.email = pair[1].get<std::string>();
            try {
                db->insert_sender(s, "hash-2");
                FAIL("the second registration was stored");
            } catch (const storage::storage_error& e) {
                CHECK(e.which() == storage::storage_error::kind::conflict);
            }
            CHECK(db->senders().size() == 1);
            continue;
        }
        bool same = storage::email_key(c.at("stored").get<std::string>()) ==
                    storage::email_key(c.at("incoming").get<std::string>());
        CHECK(same == (expect == "same-account"));
    }
}

TEST_CASE("names compare after normalisation, never by prefix, accents or look-alikes",
          "[protocols][matching]") {
    person_claim elodie{"Marchand", "Élodie", "1985-04-03", ""};
    auto with = [&](std::string family, std::string given, std::string dob = "1985-04-03") {
        return match_person(elodie, {std::move(family), std::move(given), std::move(dob), ""});
    };
    CHECK(with("marchand", "élodie") == match_outcome::match);
    CHECK(with("Marchand", "E\xcc\x81lodie") == match_outcome::match); // combining acute
    CHECK(with("Marchand\xc2\xa0", "\xe2\x80\x83\xc3\x89lodie") == match_outcome::match);
    CHECK(with("Mar chand", "Élodie") == match_outcome::no_match);
    CHECK(with("Marchan", "Élodie") == match_outcome::no_match);
    CHECK(with("Marchand", "Élodie", "1985-03-04") == match_outcome::no_match);
    CHECK(with("Marchand", "Élodie", "03/04/1985") == match_outcome::no_match);
    CHECK(with("MARCHAND", "ELODIE") == match_outcome::review);
    // Cyrillic а (U+0430) in place of Latin a: a different name, not a review.
    CHECK(with("M\xd0\xb0rchand", "Élodie") == match_outcome::no_match);
    CHECK(with("", "Élodie") == match_outcome::no_match);

    CHECK(comparable_name("  Jean \t Pierre ") == "jean pierre");
    CHECK(comparable_name("Großmann") == comparable_name("GROSSMANN"));
}

TEST_CASE("a PersonIdentifier given by the sender decides alone", "[protocols][matching]") {
    person_claim declared{"Marchand", "Élodie", "1985-04-03", "XX/FR/8F2C1A90B7"};
    CHECK(match_person(declared, {"Marchand", "Élodie", "1985-04-03", "XX/FR/8F2C1A90B7"}) ==
          match_outcome::match);
    CHECK(match_person(declared, {"Marchand", "Élodie", "1985-04-03", "XX/FR/77AB12CD34"}) ==
          match_outcome::no_match);
    CHECK(match_person(declared, {"Marchand", "Élodie", "1985-04-03", ""}) ==
          match_outcome::no_match);
}
