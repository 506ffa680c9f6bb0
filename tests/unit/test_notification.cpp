#include "protocols/mail.hpp"
#include "protocols/notification.hpp"
#include "support/lifecycle_fixture.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <regex>

using namespace sceau;
using namespace sceau::protocols;
using std::chrono::hours;
using test::lifecycle_fixture;

namespace {

/// A relay whose next answers the test chooses; it keeps what it accepted.
struct scripted_mailer final : mailer {
    std::vector<send_result::outcome> answers; ///< consumed from the front; then: sent
    std::vector<mail_message> accepted;
    int calls = 0;
    send_result send(const mail_message& m) override {
        ++calls;
        auto answer = send_result::outcome::sent;
        if (!answers.empty()) {
            answer = answers.front();
            answers.erase(answers.begin());
        }
        if (answer == send_result::outcome::sent)
            accepted.push_back(m);
        return {answer, answer == send_result::outcome::sent ? "250 ok" : "451 try later"};
    }
};

struct notification_fixture : lifecycle_fixture {
    scripted_mailer mail;
    notification_options options{"Sceau test provider",
                                 "Sceau <no-reply@sceau.test>",
                                 "https://lettres.sceau.test",
                                 std::chrono::seconds(60),
                                 hours(48),
                                 20};
    notification_service notices{*db, letters, mail, options, clock};

    std::string status(const std::string& id) { return db->letter_by_id(id).value().status; }
};

} // namespace

TEST_CASE("the notice names the provider, the deadline and a link, and nothing of the sender",
          "[protocols][notification]") {
    notification_fixture f;
    auto id = f.deposit();
    CHECK(f.notices.run_once() == 1);
    REQUIRE(f.mail.accepted.size() == 1);
    const auto& m = f.mail.accepted[0];
    CHECK(m.to == "claire@example.org");
    CHECK(m.text.find("Sceau test provider") != std::string::npos);
    CHECK(m.text.find("Un envoi recommandé électronique vous attend") != std::string::npos);
    CHECK(m.text.find("A registered electronic delivery awaits you") != std::string::npos);

    std::smatch link;
    REQUIRE(std::regex_search(m.text, link,
                              std::regex(R"(https://lettres\.sceau\.test/r/([A-Za-z0-9_-]+))")));
    CHECK(link[1].length() >= 22); // at least 128 bits in base64url
    CHECK(f.db->letter_of_link(token_hash(link[1])) == id);

    auto letter = f.db->letter_by_id(id).value();
    CHECK(letter.status == "notified");
    auto deadline = crypto::parse_utc(letter.accept_deadline);
    CHECK(m.text.find(last_day_text(deadline, "fr")) != std::string::npos);
    CHECK(m.text.find(last_day_text(deadline, "en")) != std::string::npos);

    for (const auto& secret :
         {"Durand", "durand.example", "Étude", "Objet secret", "dossier 77", "snd_t"}) {
        INFO(secret);
        CHECK(m.text.find(secret) == std::string::npos);
        CHECK(m.subject.find(secret) == std::string::npos);
        CHECK(m.from.find(secret) == std::string::npos);
    }
    // Sent once: the queue entry is closed with the evidence.
    CHECK(f.notices.run_once() == 0);
    CHECK(f.mail.calls == 1);
}

TEST_CASE("an lre is announced as a lettre recommandee electronique, an ere as an envoi, each "
          "sentence agreeing with its noun",
          "[protocols][notification]") {
    notification_options o;
    o.provider_name = "Sceau test provider";
    auto deadline = std::chrono::system_clock::now() + std::chrono::hours(24 * 16);
    auto lre = notice_message(o, kind_words::of("lre"), "a@b.example", deadline, "L", false);
    CHECK(lre.subject.rfind("Une lettre recommandée électronique vous attend / "
                            "A registered electronic letter awaits you",
                            0) == 0);
    for (auto words :
         {"la refuser", "elle sera enregistrée comme non réclamée", "l'aurez acceptée"})
        CHECK_THAT(lre.text, Catch::Contains(words));

    auto ere = notice_message(o, kind_words::of("ere"), "a@b.example", deadline, "L", true);
    CHECK(ere.subject.rfind("Rappel : un envoi recommandé électronique vous attend / "
                            "Reminder: a registered electronic delivery awaits you",
                            0) == 0);
    for (auto words : {"le refuser", "il sera enregistré comme non réclamé.", "l'aurez accepté."})
        CHECK_THAT(ere.text, Catch::Contains(words));
    CHECK_THAT(ere.text, !Catch::Contains("lettre recommandée"));
}

TEST_CASE("a temporary failure is retried later from the queue, then notifies",
          "[protocols][notification]") {
    notification_fixture f;
    auto id = f.deposit();
    f.mail.answers = {send_result::outcome::temporary_failure,
                      send_result::outcome::temporary_failure};
    CHECK(f.notices.run_once() == 1);
    CHECK(f.status(id) == "deposited");
    CHECK(f.notices.run_once() == 0); // not due before its back-off
    auto due = f.db->due_mail("9999-01-01T00:00:00.000Z", 10);
    REQUIRE(due.size() == 1);
    CHECK(due[0].attempts == 1);
    CHECK(due[0].last_error == "451 try later");
    CHECK(due[0].next_attempt_at > crypto::format_utc(f.clock() + std::chrono::seconds(59)));

    f.offset_hours = 1;
    CHECK(f.notices.run_once() == 1); // second failure, longer back-off
    CHECK(f.status(id) == "deposited");
    f.offset_hours = 2;
    CHECK(f.notices.run_once() == 1);
    CHECK(f.status(id) == "notified");
    CHECK(f.mail.calls == 3);
    auto events = f.events(id);
    CHECK(std::count(events.begin(), events.end(), "NotificationForAcceptance") == 1);
}

TEST_CASE("a permanent refusal, or failures past the limit, make the letter undeliverable",
          "[protocols][notification]") {
    notification_fixture f;
    auto id = f.deposit();
    SECTION("the relay refuses the address") {
        f.mail.answers = {send_result::outcome::permanent_failure};
        f.notices.run_once();
    }
    SECTION("the relay keeps failing for two days") {
        f.mail.answers.assign(100, send_result::outcome::temporary_failure);
        for (int h = 0; h <= 50 && f.status(id) == "deposited"; ++h) {
            f.offset_hours = h;
            f.notices.run_once();
        }
    }
    CHECK(f.status(id) == "undeliverable");
    auto events = f.events(id);
    CHECK(std::count(events.begin(), events.end(), "NotificationForAcceptanceFailure") == 1);
    CHECK(f.mail.accepted.empty());
    f.offset_hours = 100;
    CHECK(f.notices.run_once() == 0);
}

TEST_CASE("reminders leave before the deadline, without evidence, and stop once decided",
          "[protocols][notification]") {
    notification_fixture f;
    auto id = f.deposit();
    f.notices.run_once();
    REQUIRE(f.status(id) == "notified");
    auto evidence_before = f.events(id).size();

    f.offset_hours = 24 * 10; // the 7-days reminder is due around day 8 or 9
    CHECK(f.notices.run_once() == 1);
    REQUIRE(f.mail.accepted.size() == 2);
    CHECK(f.mail.accepted[1].subject.find("Rappel") != std::string::npos);
    CHECK(f.mail.accepted[1].text.find("Durand") == std::string::npos);
    CHECK(f.events(id).size() == evidence_before);

    // Refused before the second reminder: it is never sent.
    f.letters.refuse(id, f.who);
    f.offset_hours = 24 * 15;
    CHECK(f.notices.run_once() == 0);
    CHECK(f.mail.accepted.size() == 2);
}

TEST_CASE("mail is rendered as RFC 5322 and refuses header injection", "[protocols][mail]") {
    mail_message m{"Sceau <no-reply@sceau.test>", "claire@example.org", "Objet accentué é",
                   "Bonjour,\nligne deux\n"};
    auto when = crypto::parse_utc("2026-12-03T10:15:00.000Z");
    auto text = render_rfc5322(m, "msg_1@sceau.test", when);
    CHECK(text.find("Date: Thu, 03 Dec 2026 10:15:00 +0000\r\n") == 0);
    CHECK(text.find("To: <claire@example.org>\r\n") != std::string::npos);
    CHECK(text.find("Subject: =?UTF-8?B?") != std::string::npos);
    CHECK(text.find("Content-Transfer-Encoding: base64\r\n") != std::string::npos);
    CHECK(text.find("\r\n\r\n") != std::string::npos);
    // No bare line feed anywhere: every line ends in CRLF.
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\n')
            REQUIRE((i > 0 && text[i - 1] == '\r'));
    }

    auto injected = m;
    injected.subject = "hello\r\nBcc: victim@example.org";
    CHECK_THROWS_AS(render_rfc5322(injected, "msg_2@sceau.test", when), std::invalid_argument);
    injected = m;
    injected.to = "claire@example.org\nBcc: victim@example.org";
    CHECK_THROWS_AS(render_rfc5322(injected, "msg_3@sceau.test", when), std::invalid_argument);
}

TEST_CASE("the outbox holds one complete message per file", "[protocols][mail]") {
    test::temp_dir dir;
    std::filesystem::create_directories(dir / "outbox");
    outbox_mailer outbox(dir / "outbox");
    mail_message m{"Sceau <no-reply@sceau.test>", "claire@example.org", "Sujet", "Texte\n"};
    REQUIRE(outbox.send(m).result == send_result::outcome::sent);
    REQUIRE(outbox.send(m).result == send_result::outcome::sent);
    int files = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir / "outbox")) {
        ++files;
        CHECK(entry.path().extension() == ".eml");
        auto s = test::read_file(entry.path());
        CHECK(s.find("From: \"Sceau\" <no-reply@sceau.test>\r\n") != std::string::npos);
        CHECK(s.find("\r\n\r\nVGV4dGU") != std::string::npos); // "Texte" in base64
    }
    CHECK(files == 2);
}

TEST_CASE("a message that can never be written is a permanent failure, not an error",
          "[protocols][mail][hostile]") {
    test::temp_dir dir;
    outbox_mailer outbox(dir / "outbox");
    smtp_mailer relay({"smtp://127.0.0.1:9", false, "", "", std::chrono::milliseconds(500), ""});
    mail_message m{"Sceau <no-reply@sceau.test>", "claire@example.org\r\nBcc: x@example.net",
                   "Sujet", "Texte\n"};
    for (mailer* via : std::initializer_list<mailer*>{&outbox, &relay}) {
        auto sent = via->send(m);
        CHECK(sent.result == send_result::outcome::permanent_failure);
        CHECK_THAT(sent.detail, Catch::Contains("line break"));
    }
    CHECK(std::filesystem::is_empty(dir / "outbox"));
}

TEST_CASE("moments are shown to the recipient in Paris time, summer and winter",
          "[protocols][notification]") {
    auto winter = crypto::parse_utc("2026-12-04T08:32:41.067Z");
    CHECK(moment_text(winter, "fr") == "4 décembre 2026, 09:32");
    CHECK(moment_text(winter, "en") == "4 December 2026, 09:32");
    CHECK(moment_text(crypto::parse_utc("2026-07-01T22:05:00Z"), "fr") == "2 juillet 2026, 00:05");
}
