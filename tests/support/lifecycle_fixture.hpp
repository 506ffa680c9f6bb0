#pragma once

// A store on the sample keys with a deposit service and the lifecycle, on a clock the
// test moves: what the lifecycle, notification and recipient tests share.

#include "crypto/encoding.hpp"
#include "crypto/sha256.hpp"
#include "crypto/xml.hpp"
#include "protocols/deposit.hpp"
#include "protocols/lifecycle.hpp"
#include "protocols/window.hpp"
#include "support/database_fixture.hpp"
#include "support/fixtures.hpp"

#include <catch2/catch.hpp>

#include <atomic>

namespace sceau::test {

using namespace sceau::protocols;
using std::chrono::hours;

/// A store, the sample keys, a deposited letter, and a clock the test moves forward.
struct lifecycle_fixture {
    using outcome = transition_result::outcome;
    test::temp_dir dir;
    std::atomic<long long> offset_hours{0};
    std::atomic<long long> offset_seconds{0};
    std::atomic<long long> offset_ms{0};
    /// Frozen, the clock stands at `start` plus the offsets: for exact comparisons of times.
    std::atomic<bool> frozen{false};
    const std::chrono::system_clock::time_point start =
        std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
    crypto::clock_fn clock = [this] {
        auto base = frozen ? start : std::chrono::system_clock::now();
        return base + hours(offset_hours.load()) + std::chrono::seconds(offset_seconds.load()) +
               std::chrono::milliseconds(offset_ms.load());
    };
    test::test_database store; ///< SQLite, or PostgreSQL in the suite's second run
    std::unique_ptr<storage::database> db = store.open(4);
    storage::blob_store blobs{dir / "blobs"};
    crypto::builtin_tsa tsa{test::sample_identity("tsa"), "2.25.1", clock};
    crypto::xades_signer signer{test::sample_identity("seal"), tsa};
    evidence_sealer sealer{tsa, signer, clock};
    provider_info provider{"Sceau test provider", {"urn:sceau:policy:test"}, false};
    deposit_service deposits{*db, blobs, sealer, provider, {}, clock};
    lifecycle letters{*db, sealer, provider, clock};
    storage::sender_record sender{"snd_t",
                                  "Maître Durand",
                                  "contact@durand.example",
                                  "Étude Durand",
                                  "test",
                                  "2026-01-01T00:00:00.000Z",
                                  "",
                                  "",
                                  ""};
    identification who{std::string(identification_method::email_code),
                       std::string(loa::low),
                       "mail",
                       "2026-12-03T10:00:00.000Z",
                       {}};

    lifecycle_fixture() {
        db->migrate();
        db->insert_sender(sender, "hash");
    }

    static constexpr const char* ere_letter =
        R"({"kind":"ere","recipient":{"email":"claire@example.org",)"
        R"("family_name":"Martin"},"subject":"Objet secret","reference":"dossier 77"})";
    static constexpr const char* lre_letter =
        R"({"kind":"lre","recipient":{"email":"claire@example.org","family_name":"Martin",)"
        R"("given_name":"Claire","birth_date":"1985-02-17","professional":false},)"
        R"("consent_reference":"consent-2026-118",)"
        R"("subject":"Objet secret"})";

    std::string deposit(const char* letter_json = ere_letter) {
        deposit_request r;
        r.sender = db->sender_by_id(sender.id).value(); // as the sender is now
        r.letter_json = letter_json;
        auto file = blobs.create();
        auto pdf = test::read_file(
            test::source_path("tests/fixtures/hostile/pdf/p00-positive-control.pdf"));
        file.write(pdf);
        r.documents.push_back(
            {"a.pdf", "application/pdf", crypto::to_hex(crypto::sha256::of(pdf)), std::move(file)});
        return deposits.deposit(r).letter.id;
    }

    std::string notified(const char* letter_json = ere_letter) {
        auto id = deposit(letter_json);
        auto deadline = acceptance_deadline(clock());
        REQUIRE(letters.notification_sent(id, deadline).result == outcome::done);
        return id;
    }

    std::vector<std::string> events(const std::string& id) {
        std::vector<std::string> out;
        auto letter = db->letter_by_id(id);
        for (const auto& e : letter->evidence)
            out.push_back(e.event);
        return out;
    }
};

} // namespace sceau::test
