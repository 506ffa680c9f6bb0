#pragma once
// A store (SQLite or PostgreSQL, support/database_fixture.hpp) with one letter whose
// evidence records fill the transparency log.

#include "support/database_fixture.hpp"

#include <memory>
#include <string>
#include <vector>

namespace sceau::test {

/// A store whose log holds `n` evidence records of one letter, each a different text.
struct log_fixture {
    test_database store;
    std::unique_ptr<storage::database> db = store.open(4);
    std::vector<std::string> records;

    void add_sender_and_letter() {
        db->insert_sender(
            {"snd_a", "A", "a@example.org", "", "test", "2026-01-01T00:00:00.000Z", "", "", ""},
            "hash-a");
        auto tx = db->begin();
        storage::letter_record l;
        l.id = "ltr_1";
        l.sender_id = "snd_a";
        l.kind = "ere";
        l.status = "deposited";
        l.created_at = "2026-12-03T10:00:00.000Z";
        l.recipient_json = "{}";
        tx.insert_letter(l);
        tx.commit();
    }

    /// Appends `n` records in one transaction.
    void append(int n) {
        auto tx = db->begin();
        for (int i = 0; i < n; ++i) {
            auto id = "evd_" + std::to_string(records.size());
            auto xml = "<Evidence n=\"" + std::to_string(records.size()) + "\"/>";
            tx.insert_evidence({id, "ltr_1", "SubmissionAcceptance", "t", "t", xml});
            records.push_back(xml);
        }
        tx.commit();
    }

    explicit log_fixture(int n) {
        add_sender_and_letter();
        append(n);
    }
};

} // namespace sceau::test
