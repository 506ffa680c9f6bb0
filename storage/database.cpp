#include "storage/database.hpp"

#include "storage/log_tree.hpp"
#include "storage/migrations.hpp"

#include <soci/connection-pool.h>
#include <soci/postgresql/soci-postgresql.h>
#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>

#include <algorithm>
#include <map>
#include <span>
#include <sqlite3.h>
#include <utility>

namespace sceau::storage {
namespace {

/// Maps a backend error to the kind callers act on; adds what we were doing.
} // namespace

std::string email_key(std::string_view address) {
    auto begin = address.find_first_not_of(" \t\r\n");
    auto end = address.find_last_not_of(" \t\r\n");
    std::string out(begin == std::string_view::npos ? std::string_view()
                                                    : address.substr(begin, end - begin + 1));
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z')
            c = static_cast<char>(c - 'A' + 'a');
    }
    return out;
}

namespace {

[[noreturn]] void rethrow(const soci::soci_error& e, std::string_view doing) {
    auto kind = storage_error::kind::unavailable;
    if (auto* lite = dynamic_cast<const soci::sqlite3_soci_error*>(&e)) {
        int primary = lite->result() & 0xff;
        if (primary == SQLITE_CONSTRAINT)
            kind = storage_error::kind::conflict;
        else if (primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB)
            kind = storage_error::kind::corrupt;
    } else if (auto* pg = dynamic_cast<const soci::postgresql_soci_error*>(&e)) {
        if (pg->sqlstate().rfind("23", 0) == 0) // integrity constraint violation
            kind = storage_error::kind::conflict;
    }
    throw storage_error(kind, std::string(doing) + ": " + e.get_error_message());
}

std::string hex_of(std::span<const std::uint8_t> data) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    out.reserve(2 * data.size());
    for (auto c : data) {
        out.push_back(hex[c >> 4]);
        out.push_back(hex[c & 15]);
    }
    return out;
}

std::string hex_of(std::string_view text) {
    return hex_of({reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
}

/// A hash as the log's tables hold it, 64 lower-case hex digits; anything else is damage.
log_hash hash_of_hex(const std::string& text) {
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9')
            return c - '0';
        if (c >= 'a' && c <= 'f')
            return c - 'a' + 10;
        return -1;
    };
    log_hash out{};
    bool ok = text.size() == 2 * out.size();
    for (std::size_t i = 0; ok && i < out.size(); ++i) {
        int hi = nibble(text[2 * i]), lo = nibble(text[2 * i + 1]);
        ok = hi >= 0 && lo >= 0;
        out[i] = static_cast<std::uint8_t>(hi * 16 + lo);
    }
    if (!ok)
        throw storage_error(storage_error::kind::corrupt, "a log hash is not 64 hex digits");
    return out;
}

// The cursor is the (created_at, id) of the last row of a page, opaque to clients.
std::string make_cursor(const letter_record& last) {
    return hex_of(last.created_at + "|" + last.id);
}

bool read_cursor(const std::string& cursor, std::string& created_at, std::string& id) {
    if (cursor.size() % 2 != 0 || cursor.size() > 400)
        return false;
    std::string raw;
    for (std::size_t i = 0; i < cursor.size(); i += 2) {
        auto nibble = [](char c) -> int {
            if (c >= '0' && c <= '9')
                return c - '0';
            if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
            return -1;
        };
        int hi = nibble(cursor[i]), lo = nibble(cursor[i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        raw.push_back(static_cast<char>(hi * 16 + lo));
    }
    auto bar = raw.find('|');
    if (bar == std::string::npos)
        return false;
    created_at = raw.substr(0, bar);
    id = raw.substr(bar + 1);
    return true;
}

/// The PostgreSQL advisory lock that serialises appends to the log ("sceau" "log" as
/// bytes); documented in docs/operations.md for operators who look at pg_locks.
constexpr long long log_lock_key = 0x736365617500006cLL;
/// The one that serialises migrations ("sceau" "m").
constexpr long long migration_lock_key = 0x736365617500006dLL;

/// An integer column, whichever width the backend gives it (SQLite's INTEGER PRIMARY
/// KEY and literals, PostgreSQL's BIGINT).
long long integer_at(const soci::row& r, std::size_t i) {
    switch (r.get_properties(i).get_data_type()) {
    case soci::dt_integer:
        return r.get<int>(i);
    case soci::dt_long_long:
        return r.get<long long>(i);
    case soci::dt_unsigned_long_long:
        return static_cast<long long>(r.get<unsigned long long>(i));
    default:
        throw storage_error(storage_error::kind::corrupt, "a log index is not an integer");
    }
}

/// The stored hashes of the given complete subtrees, in one query: leaves (level 0) from
/// log_entries, larger subtrees from log_subtrees. A missing one is damage to the log.
std::map<log_tree::node, log_hash> read_nodes(soci::session& sql,
                                              const std::vector<log_tree::node>& nodes) {
    std::map<log_tree::node, log_hash> out;
    if (nodes.empty())
        return out;
    // The numbers are ours, computed from sizes already checked: no text from outside.
    std::string leaves, subtrees;
    for (const auto& n : nodes) {
        if (n.level == 0) {
            leaves += (leaves.empty() ? "" : ", ") + std::to_string(n.index);
        } else {
            subtrees +=
                (subtrees.empty() ? "" : " OR ") + ("(level = " + std::to_string(n.level) +
                                                    " AND idx = " + std::to_string(n.index) + ")");
        }
    }
    std::string query;
    if (!leaves.empty())
        query =
            "SELECT 0, leaf_index, leaf_hash FROM log_entries WHERE leaf_index IN (" + leaves + ")";
    if (!subtrees.empty())
        query += (query.empty() ? "" : " UNION ALL ") +
                 ("SELECT level, idx, hash FROM log_subtrees WHERE " + subtrees);

    // Typed columns, not rows: the backends type the literal level column differently.
    std::vector<long long> levels(nodes.size()), indexes(nodes.size());
    std::vector<std::string> hashes(nodes.size());
    sql << query, soci::into(levels), soci::into(indexes), soci::into(hashes);
    for (std::size_t i = 0; i < levels.size(); ++i) {
        log_tree::node n{static_cast<int>(levels[i]), static_cast<std::uint64_t>(indexes[i])};
        out[n] = hash_of_hex(hashes[i]);
    }
    for (const auto& n : nodes) {
        if (!out.count(n))
            throw storage_error(storage_error::kind::corrupt,
                                "the log misses the subtree of level " + std::to_string(n.level) +
                                    " at " + std::to_string(n.index));
    }
    return out;
}

/// MTH of a range of leaves that a proof names, from its stored subtrees.
log_hash range_hash(const tree_hasher& hasher, const std::map<log_tree::node, log_hash>& known,
                    log_tree::range range) {
    auto parts = log_tree::cover(range);
    log_hash out = known.at(parts.back());
    for (auto it = parts.rbegin() + 1; it != parts.rend(); ++it)
        out = hasher.node(known.at(*it), out);
    return out;
}

/// The proof whose elements are MTH of `ranges`, read with one query.
std::vector<log_hash> proof_of(soci::session& sql, const tree_hasher& hasher,
                               const std::vector<log_tree::range>& ranges, int& rows_read) {
    std::vector<log_tree::node> nodes;
    for (const auto& r : ranges) {
        for (const auto& n : log_tree::cover(r)) {
            if (std::find(nodes.begin(), nodes.end(), n) == nodes.end())
                nodes.push_back(n);
        }
    }
    auto known = read_nodes(sql, nodes);
    rows_read = static_cast<int>(known.size());
    std::vector<log_hash> out;
    for (const auto& r : ranges)
        out.push_back(range_hash(hasher, known, r));
    return out;
}

long long committed_log_size(soci::session& sql) {
    long long size = 0;
    sql << "SELECT COALESCE(MAX(leaf_index) + 1, 0) FROM log_entries", soci::into(size);
    return size;
}

checkpoint_record checkpoint_from_row(const soci::row& r) {
    checkpoint_record c;
    c.tree_size = integer_at(r, 0);
    c.root_hash = hash_of_hex(r.get<std::string>(1));
    c.note = r.get<std::string>(2);
    c.timestamp_token = r.get<std::string>(3);
    c.stamped_at = r.get<std::string>(4);
    c.created_at = r.get<std::string>(5);
    return c;
}

constexpr const char* checkpoint_columns =
    "tree_size, root_hash, note, timestamp_token, stamped_at, created_at";

constexpr const char* letter_columns =
    "id, sender_id, kind, status, created_at, reference, subject, recipient, "
    "consent_reference, accept_deadline, qualified, notified_at, decided_at, handed_over_at";

std::string optional_text(const soci::row& r, std::size_t i) {
    return r.get_indicator(i) == soci::i_ok ? r.get<std::string>(i) : std::string();
}

letter_record letter_from_row(const soci::row& r) {
    letter_record l;
    l.id = r.get<std::string>(0);
    l.sender_id = r.get<std::string>(1);
    l.kind = r.get<std::string>(2);
    l.status = r.get<std::string>(3);
    l.created_at = r.get<std::string>(4);
    l.reference = r.get<std::string>(5);
    l.subject = r.get<std::string>(6);
    l.recipient_json = r.get<std::string>(7);
    l.consent_reference = r.get<std::string>(8);
    l.accept_deadline = optional_text(r, 9);
    l.qualified = r.get<int>(10) != 0;
    l.notified_at = optional_text(r, 11);
    l.decided_at = optional_text(r, 12);
    l.handed_over_at = optional_text(r, 13);
    return l;
}

sender_record sender_from_row(const soci::row& r) {
    sender_record s;
    s.id = r.get<std::string>(0);
    s.name = r.get<std::string>(1);
    s.email = r.get<std::string>(2);
    s.company = r.get<std::string>(3);
    s.identified_by = r.get<std::string>(4);
    s.created_at = r.get<std::string>(5);
    s.revoked_at = optional_text(r, 6);
    s.webhook_url = r.get<std::string>(7);
    s.webhook_secret = r.get<std::string>(8);
    return s;
}

constexpr const char* sender_columns =
    "id, name, email, company, identified_by, created_at, revoked_at, webhook_url, "
    "webhook_secret";

constexpr const char* session_columns =
    "id_hash, letter_id, csrf, created_at, expires_at, code_hash, code_expires_at, "
    "code_attempts, codes_sent, identified_method, identified_loa, identified_by, "
    "identified_at, identity";

recipient_session session_from_row(const soci::row& r) {
    recipient_session s;
    s.id_hash = r.get<std::string>(0);
    s.letter_id = r.get<std::string>(1);
    s.csrf = r.get<std::string>(2);
    s.created_at = r.get<std::string>(3);
    s.expires_at = r.get<std::string>(4);
    s.code_hash = r.get<std::string>(5);
    s.code_expires_at = r.get<std::string>(6);
    s.code_attempts = r.get<int>(7);
    s.codes_sent = r.get<int>(8);
    s.identified_method = r.get<std::string>(9);
    s.identified_loa = r.get<std::string>(10);
    s.identified_by = r.get<std::string>(11);
    s.identified_at = r.get<std::string>(12);
    s.identity = r.get<std::string>(13);
    return s;
}

constexpr const char* webhook_columns =
    "id, sender_id, letter_id, evidence_id, payload, state, attempts, next_attempt_at, "
    "last_status, last_error, created_at, delivered_at";

webhook_delivery webhook_from_row(const soci::row& r) {
    webhook_delivery w;
    w.id = r.get<std::string>(0);
    w.sender_id = r.get<std::string>(1);
    w.letter_id = r.get<std::string>(2);
    w.evidence_id = r.get<std::string>(3);
    w.payload = r.get<std::string>(4);
    w.state = r.get<std::string>(5);
    w.attempts = r.get<int>(6);
    w.next_attempt_at = r.get<std::string>(7);
    w.last_status = r.get<int>(8);
    w.last_error = r.get<std::string>(9);
    w.created_at = r.get<std::string>(10);
    w.delivered_at = optional_text(r, 11);
    return w;
}

} // namespace

database::database(backend b, std::unique_ptr<soci::connection_pool> pool, std::size_t size,
                   tree_hasher hasher)
    : backend_(b)
    , pool_(std::move(pool))
    , pool_size_(size)
    , hasher_(hasher) {}

database::~database() = default;

std::unique_ptr<database> database::open(const std::string& connection, std::size_t pool_size,
                                         tree_hasher hasher) {
    if (!hasher.leaf || !hasher.node)
        throw std::invalid_argument("the store needs the log's leaf and node hash functions");
    if (pool_size == 0)
        pool_size = 1;
    auto pool = std::make_unique<soci::connection_pool>(pool_size);
    bool sqlite = connection.rfind("sqlite:", 0) == 0;
    try {
        for (std::size_t i = 0; i < pool_size; ++i) {
            auto& sql = pool->at(i);
            if (sqlite) {
                sql.open(soci::sqlite3, "db=\"" + connection.substr(7) + "\" timeout=30");
                // WAL for concurrent readers; FULL so that a commit survives power loss.
                sql << "PRAGMA journal_mode=WAL";
                sql << "PRAGMA synchronous=FULL";
                sql << "PRAGMA foreign_keys=ON";
                sql << "PRAGMA busy_timeout=30000";
            } else {
                sql.open(soci::postgresql, connection);
            }
        }
    } catch (const soci::soci_error& e) {
        throw storage_error(storage_error::kind::unavailable,
                            "opening the database: " + std::string(e.get_error_message()));
    }
    return std::unique_ptr<database>(new database(sqlite ? backend::sqlite : backend::postgresql,
                                                  std::move(pool), pool_size, hasher));
}

int database::schema_version() {
    try {
        soci::session sql(*pool_);
        int version = 0;
        soci::indicator ind = soci::i_null;
        sql << "SELECT MAX(version) FROM schema_migrations", soci::into(version, ind);
        return ind == soci::i_ok ? version : 0;
    } catch (const soci::soci_error&) {
        return 0; // no table yet
    }
}

int database::migrate() {
    // Instances sharing a PostgreSQL database may start together: one migrates at a time,
    // and the others then find each step done. (SQLite's writer lock does this already.)
    auto lock_migrations = [this](soci::session& sql) {
        if (backend_ == backend::postgresql)
            sql << "SELECT pg_advisory_xact_lock(" << migration_lock_key << ")";
    };
    {
        auto tx = begin();
        lock_migrations(*tx.session_);
        *tx.session_ << "CREATE TABLE IF NOT EXISTS schema_migrations ("
                        "version INTEGER PRIMARY KEY, description TEXT NOT NULL, "
                        "applied_at TEXT NOT NULL)";
        tx.commit();
    }
    for (const auto& m : migrations()) {
        auto tx = begin();
        auto& sql = *tx.session_;
        lock_migrations(sql);
        int done = 0;
        sql << "SELECT COUNT(*) FROM schema_migrations WHERE version = :v", soci::into(done),
            soci::use(m.version);
        if (done)
            continue;
        try {
            for (auto statement : backend_ == backend::sqlite ? m.sqlite : m.postgresql)
                sql << std::string(statement);
            std::string description(m.description);
            sql << "INSERT INTO schema_migrations (version, description, applied_at) "
                   "VALUES (:v, :d, CURRENT_TIMESTAMP)",
                soci::use(m.version), soci::use(description);
        } catch (const soci::soci_error& e) {
            rethrow(e, "migration " + std::to_string(m.version));
        }
        tx.commit();
    }
    return schema_version();
}

std::string database::backend_version() {
    soci::session sql(*pool_);
    std::string version;
    if (backend_ == backend::sqlite)
        sql << "SELECT 'SQLite ' || sqlite_version()", soci::into(version);
    else
        sql << "SELECT version()", soci::into(version);
    return version;
}

bool database::ping() {
    try {
        soci::session sql(*pool_);
        int one = 0;
        sql << "SELECT 1", soci::into(one);
        return one == 1;
    } catch (const soci::soci_error&) {
        return false;
    }
}

void database::insert_sender(const sender_record& s, const std::string& api_key_hash) {
    try {
        soci::session sql(*pool_);
        std::unique_lock lock(write_mutex_, std::defer_lock);
        if (backend_ == backend::sqlite)
            lock.lock();
        auto key = email_key(s.email);
        sql << "INSERT INTO senders (id, name, email, company, identified_by, api_key_hash, "
               "created_at, email_key) VALUES (:id, :name, :email, :company, :by, :hash, :at, "
               ":key)",
            soci::use(s.id), soci::use(s.name), soci::use(s.email), soci::use(s.company),
            soci::use(s.identified_by), soci::use(api_key_hash), soci::use(s.created_at),
            soci::use(key);
    } catch (const soci::soci_error& e) {
        rethrow(e, "adding a sender");
    }
}

std::optional<sender_record> database::sender_by_key_hash(const std::string& api_key_hash) {
    try {
        soci::session sql(*pool_);
        soci::rowset<soci::row> rows =
            (sql.prepare << "SELECT " << sender_columns << " FROM senders WHERE api_key_hash = :h",
             soci::use(api_key_hash));
        for (const auto& r : rows)
            return sender_from_row(r);
        return std::nullopt;
    } catch (const soci::soci_error& e) {
        rethrow(e, "looking up an API key");
    }
}

std::optional<sender_record> database::sender_by_id(const std::string& id) {
    try {
        soci::session sql(*pool_);
        soci::rowset<soci::row> rows =
            (sql.prepare << "SELECT " << sender_columns << " FROM senders WHERE id = :id",
             soci::use(id));
        for (const auto& r : rows)
            return sender_from_row(r);
        return std::nullopt;
    } catch (const soci::soci_error& e) {
        rethrow(e, "reading a sender");
    }
}

std::vector<sender_record> database::senders() {
    try {
        soci::session sql(*pool_);
        soci::rowset<soci::row> rows =
            (sql.prepare << "SELECT " << sender_columns << " FROM senders ORDER BY created_at, id");
        std::vector<sender_record> out;
        for (const auto& r : rows)
            out.push_back(sender_from_row(r));
        return out;
    } catch (const soci::soci_error& e) {
        rethrow(e, "listing senders");
    }
}

bool database::revoke_sender(const std::string& id, const std::string& when) {
    return revoke_key("senders", id, when);
}

bool database::revoke_key(const char* table, const std::string& id, const std::string& when) {
    try {
        soci::session sql(*pool_);
        std::unique_lock lock(write_mutex_, std::defer_lock);
        if (backend_ == backend::sqlite)
            lock.lock();
        soci::statement st = (sql.prepare << "UPDATE " << table
                                          << " SET revoked_at = :t WHERE id = :id "
                                             "AND revoked_at IS NULL",
                              soci::use(when), soci::use(id));
        st.execute(true);
        return st.get_affected_rows() > 0;
    } catch (const soci::soci_error& e) {
        rethrow(e, std::string("revoking a key of ") + table);
    }
}

void database::fill_details(soci::session& sql, letter_record& letter) {
    soci::rowset<soci::row> docs =
        (sql.prepare << "SELECT d.position, d.name, d.media_type, d.size, d.sha256, d.flags, "
                        "d.stored, b.purged_at FROM documents d "
                        "LEFT JOIN blobs b ON b.sha256 = d.sha256 "
                        "WHERE d.letter_id = :id ORDER BY d.position",
         soci::use(letter.id));
    for (const auto& r : docs) {
        document_record d;
        d.position = r.get<int>(0);
        d.name = r.get<std::string>(1);
        d.media_type = r.get<std::string>(2);
        d.size = r.get<long long>(3);
        d.sha256 = r.get<std::string>(4);
        d.flags = r.get<std::string>(5);
        d.stored = r.get<int>(6) != 0;
        d.purged_at = optional_text(r, 7);
        letter.documents.push_back(std::move(d));
    }
    soci::rowset<soci::row> evidence =
        (sql.prepare << "SELECT id, event, event_time, created_at FROM evidence "
                        "WHERE letter_id = :id ORDER BY created_at, id",
         soci::use(letter.id));
    for (const auto& r : evidence) {
        evidence_record e;
        e.id = r.get<std::string>(0);
        e.letter_id = letter.id;
        e.event = r.get<std::string>(1);
        e.event_time = r.get<std::string>(2);
        e.created_at = r.get<std::string>(3);
        letter.evidence.push_back(std::move(e));
    }
}

std::optional<letter_record> database::letter(const std::string& sender_id, const std::string& id) {
    try {
        soci::session sql(*pool_);
        soci::rowset<soci::row> rows =
            (sql.prepare << "SELECT " << letter_columns
                         << " FROM letters WHERE id = :id AND sender_id = :s",
             soci::use(id), soci::use(sender_id));
        std::optional<letter_record> out;
        for (const auto& r : rows)
            out = letter_from_row(r);
        if (out)
            fill_details(sql, *out);
        return out;
    } catch (const soci::soci_error& e) {
        rethrow(e, "reading a letter");
    }
}

letter_page database::letters(const std::string& sender_id, const letter_filter& filter) {
    std::string after_time, after_id;
    bool has_cursor = !filter.after.empty();
    if (has_cursor && !read_cursor(filter.after, after_time, after_id))
        throw std::invalid_argument("after: not a cursor of this API");
    int limit = filter.limit;

    try {
        soci::session sql(*pool_);
        // Newest first; the (created_at, id) pair orders rows made in the same millisecond.
        std::string query = std::string("SELECT ") + letter_columns +
                            " FROM letters WHERE sender_id = :s"
                            " AND (:st = '' OR status = :st2)"
                            " AND (:rf = '' OR reference = :rf2)"
                            " AND (:c = '' OR created_at < :c2 OR (created_at = :c3 AND id < :i))"
                            " ORDER BY created_at DESC, id DESC LIMIT :n";
        int fetch = limit + 1;
        soci::rowset<soci::row> rows =
            (sql.prepare << query, soci::use(sender_id), soci::use(filter.status),
             soci::use(filter.status), soci::use(filter.reference), soci::use(filter.reference),
             soci::use(after_time), soci::use(after_time), soci::use(after_time),
             soci::use(after_id), soci::use(fetch));
        letter_page page;
        for (const auto& r : rows)
            page.letters.push_back(letter_from_row(r));
        if (static_cast<int>(page.letters.size()) > limit) {
            page.letters.pop_back();
            page.next_cursor = make_cursor(page.letters.back());
        }
        for (auto& l : page.letters)
            fill_details(sql, l);
        return page;
    } catch (const soci::soci_error& e) {
        rethrow(e, "listing letters");
    }
}

std::optional<evidence_record> database::evidence(const std::string& sender_id,
                                                  const std::string& id) {
    try {
        soci::session sql(*pool_);
        soci::rowset<soci::row> rows =
            (sql.prepare << "SELECT e.id, e.letter_id, e.event, e.event_time, e.created_at, e.xml "
                            "FROM evidence e JOIN letters l ON l.id = e.letter_id "
                            "WHERE e.id = :id AND l.sender_id = :s",
             soci::use(id), soci::use(sender_id));
        for (const auto& r : rows) {
            evidence_record e;
            e.id = r.get<std::string>(0);
            e.letter_id = r.get<std::string>(1);
            e.event = r.get<std::string>(2);
            e.event_time = r.get<std::string>(3);
            e.created_at = r.get<std::string>(4);
            e.xml = r.get<std::string>(5);
            return e;
        }
        return std::nullopt;
    } catch (const soci::soci_error& e) {
        rethrow(e, "reading evidence");
    }
}

std::optional<idempotency_record> database::idempotency(const std::string& sender_id,
                                                        const std::string& key) {
    try {
        soci::session sql(*pool_);
        idempotency_record r;
        sql << "SELECT fingerprint, letter_id FROM idempotency_keys "
               "WHERE sender_id = :s AND key = :k",
            soci::into(r.fingerprint), soci::into(r.letter_id), soci::use(sender_id),
            soci::use(key);
        if (!sql.got_data())
            return std::nullopt;
        r.sender_id = sender_id;
        r.key = key;
        return r;
    } catch (const soci::soci_error& e) {
        rethrow(e, "reading an idempotency key");
    }
}

bool database::blob_known(const std::string& sha256) {
    try {
        soci::session sql(*pool_);
        int n = 0;
        sql << "SELECT COUNT(*) FROM blobs WHERE sha256 = :h", soci::into(n), soci::use(sha256);
        return n > 0;
    } catch (const soci::soci_error& e) {
        rethrow(e, "looking up a document");
    }
}

std::int64_t database::count(const std::string& table) {
    static const char* allowed[] = {
        "senders",          "letters",        "documents",      "blobs",           "evidence",
        "idempotency_keys", "log_entries",    "log_subtrees",   "log_checkpoints", "auditors",
        "shares",           "share_accesses", "document_purges"};
    bool ok = false;
    for (auto* t : allowed)
        ok = ok || table == t;
    if (!ok)
        throw std::invalid_argument("unknown table " + table);
    try {
        soci::session sql(*pool_);
        long long n = 0;
        sql << "SELECT COUNT(*) FROM " + table, soci::into(n);
        return n;
    } catch (const soci::soci_error& e) {
        rethrow(e, "counting " + table);
    }
}

bool database::first_use(const std::string& key, const std::string& keep_until,
                         const std::string& now) {
    try {
        soci::session sql(*pool_);
        // Two statements: the unique key alone decides who is first; the purge only
        // removes what expired, never a key another call is inserting.
        sql << "DELETE FROM saml_replays WHERE keep_until <= :now", soci::use(now);
        soci::statement st = (sql.prepare << "INSERT INTO saml_replays (key, keep_until) "
                                             "VALUES (:k, :u) ON CONFLICT (key) DO NOTHING",
                              soci::use(key), soci::use(keep_until));
        st.execute(true);
        return st.get_affected_rows() == 1;
    } catch (const soci::soci_error& e) {
        rethrow(e, "recording a used assertion");
    }
}

operational_figures database::operational(const std::string& now,
                                          const std::string& overdue_before) {
    try {
        soci::session sql(*pool_);
        operational_figures f;
        // Each count reads an index: letters_by_deadline, mail_queue_due, webhook_due.
        std::string status;
        long long n = 0;
        soci::statement statuses =
            (sql.prepare << "SELECT status, COUNT(*) FROM letters GROUP BY status ORDER BY status",
             soci::into(status), soci::into(n));
        statuses.execute();
        while (statuses.fetch())
            f.letters_by_status.emplace_back(status, n);
        sql << "SELECT COUNT(*) FROM letters WHERE status = 'notified' AND accept_deadline < :t",
            soci::into(n), soci::use(overdue_before);
        f.letters_overdue = n;
        for (auto [table, pending, due] :
             {std::tuple{"mail_queue", &f.mail_pending, &f.mail_due},
              std::tuple{"webhook_deliveries", &f.webhooks_pending, &f.webhooks_due}}) {
            std::string from = std::string(" FROM ") + table + " WHERE state = 'pending'";
            sql << "SELECT COUNT(*)" + from, soci::into(n);
            *pending = n;
            sql << "SELECT COUNT(*)" + from + " AND next_attempt_at <= :now", soci::into(n),
                soci::use(now);
            *due = n;
        }
        f.log_entries = committed_log_size(sql);
        soci::indicator got = soci::i_null;
        long long size = 0;
        std::string stamped;
        sql << "SELECT tree_size, stamped_at FROM log_checkpoints ORDER BY tree_size DESC LIMIT 1",
            soci::into(size), soci::into(stamped, got);
        if (sql.got_data() && got == soci::i_ok) {
            f.checkpoint_tree_size = size;
            f.checkpoint_stamped_at = stamped;
        }
        return f;
    } catch (const soci::soci_error& e) {
        rethrow(e, "reading the operational figures");
    }
}

std::int64_t database::log_size() {
    try {
        soci::session sql(*pool_);
        return committed_log_size(sql);
    } catch (const soci::soci_error& e) {
        rethrow(e, "reading the log's size");
    }
}

std::optional<log_entry> database::log_entry_of(const std::string& evidence_id) {
    try {
        soci::session sql(*pool_);
        long long index = 0;
        std::string hash;
        sql << "SELECT leaf_index, leaf_hash FROM log_entries WHERE evidence_id = :e",
            soci::into(index), soci::into(hash), soci::use(evidence_id);
        if (!sql.got_data())
            return std::nullopt;
        return log_entry{index, evidence_id, hash_of_hex(hash)};
    } catch (const soci::soci_error& e) {
        rethrow(e, "reading a log entry");
    }
}

std::vector<log_record> database::log_records(std::int64_t start, int count) {
    std::vector<log_record> out;
    for (auto& a : audit_log_entries(start, count)) {
        if (a.evidence)
            out.push_back({a.entry, std::move(*a.evidence)});
    }
    return out;
}

log_hash database::log_root(std::int64_t tree_size) {
    try {
        soci::session sql(*pool_);
        if (tree_size < 1 || tree_size > committed_log_size(sql))
            throw std::invalid_argument("tree_size: from 1 to the log's size");
        auto size = static_cast<std::uint64_t>(tree_size);
        log_tree::range all{0, size};
        return range_hash(hasher_, read_nodes(sql, log_tree::cover(all)), all);
    } catch (const soci::soci_error& e) {
        rethrow(e, "reading the log's root");
    }
}

inclusion_proof database::log_inclusion(std::int64_t leaf_index, std::int64_t tree_size) {
    try {
        soci::session sql(*pool_);
        if (leaf_index < 0 || leaf_index >= tree_size || tree_size > committed_log_size(sql))
            throw std::invalid_argument("an inclusion proof needs leaf < tree_size <= log size");
        inclusion_proof out;
        out.leaf_index = leaf_index;
        out.tree_size = tree_size;
        auto leaf = static_cast<std::uint64_t>(leaf_index);
        auto ranges = log_tree::inclusion_ranges(leaf, static_cast<std::uint64_t>(tree_size));
        ranges.push_back({leaf, leaf + 1}); // the leaf's own hash, read in the same query
        out.path = proof_of(sql, hasher_, ranges, out.rows_read);
        out.leaf_hash = out.path.back();
        out.path.pop_back();
        return out;
    } catch (const soci::soci_error& e) {
        rethrow(e, "building an inclusion proof");
    }
}

consistency_proof database::log_consistency(std::int64_t first, std::int64_t second) {
    try {
        soci::session sql(*pool_);
        if (first < 1 || first > second || second > committed_log_size(sql))
            throw std::invalid_argument(
                "a consistency proof needs 0 < first <= second <= log size");
        consistency_proof out;
        out.first = first;
        out.second = second;
        auto ranges = log_tree::consistency_ranges(static_cast<std::uint64_t>(first),
                                                   static_cast<std::uint64_t>(second));
        out.path = proof_of(sql, hasher_, ranges, out.rows_read);
        return out;
    } catch (const soci::soci_error& e) {
        rethrow(e, "building a consistency proof");
    }
}

bool database::insert_checkpoint(const checkpoint_record& c) {
    try {
        auto tx = begin();
        auto& sql = *tx.session_;
        if (backend_ == backend::postgresql)
            sql << "SELECT pg_advisory_xact_lock(" << log_lock_key << ")";
        if (c.tree_size < 1 || c.tree_size > committed_log_size(sql))
            throw std::invalid_argument("a checkpoint's size is from 1 to the log's size");
        long long latest = 0;
        sql << "SELECT COALESCE(MAX(tree_size), 0) FROM log_checkpoints", soci::into(latest);
        if (latest >= c.tree_size)
            return false;
        long long size = c.tree_size;
        auto root = hex_of(c.root_hash);
        sql << "INSERT INTO log_checkpoints (tree_size, root_hash, note, timestamp_token, "
               "stamped_at, created_at) VALUES (:s, :r, :n, :t, :a, :c)",
            soci::use(size), soci::use(root), soci::use(c.note), soci::use(c.timestamp_token),
            soci::use(c.stamped_at), soci::use(c.created_at);
        tx.commit();
        return true;
    } catch (const soci::soci_error& e) {
        rethrow(e, "storing a checkpoint");
    }
}

std::optional<checkpoint_record> database::latest_checkpoint() {
    try {
        soci::session sql(*pool_);
        soci::rowset<soci::row> rows =
            (sql.prepare << "SELECT " << checkpoint_columns
                         << " FROM log_checkpoints ORDER BY tree_size DESC LIMIT 1");
        for (const auto& r : rows)
            return checkpoint_from_row(r);
        return std::nullopt;
    } catch (const soci::soci_error& e) {
        rethrow(e, "reading the latest checkpoint");
    }
}

std::optional<checkpoint_record> database::checkpoint_at(std::int64_t tree_size) {
    try {
        soci::session sql(*pool_);
        long long size = tree_size;
        soci::rowset<soci::row> rows = (sql.prepare << "SELECT " << checkpoint_columns
                                                    << " FROM log_checkpoints WHERE tree_size = :s",
                                        soci::use(size));
        for (const auto& r : rows)
            return checkpoint_from_row(r);
        return std::nullopt;
    } catch (const soci::soci_error& e) {
        rethrow(e, "reading a checkpoint");
    }
}

std::vector<checkpoint_record> database::checkpoints() {
    try {
        soci::session sql(*pool_);
        soci::rowset<soci::row> rows = (sql.prepare << "SELECT " << checkpoint_columns
                                                    << " FROM log_checkpoints ORDER BY tree_size");
        std::vector<checkpoint_record> out;
        for (const auto& r : rows)
            out.push_back(checkpoint_from_row(r));
        return out;
    } catch (const soci::soci_error& e) {
        rethrow(e, "reading checkpoints");
    }
}

void database::insert_auditor(const auditor_record& a, const std::string& api_key_hash) {
    try {
        soci::session sql(*pool_);
        std::unique_lock lock(write_mutex_, std::defer_lock);
        if (backend_ == backend::sqlite)
            lock.lock();
        sql << "INSERT INTO auditors (id, name, api_key_hash, created_at) "
               "VALUES (:id, :name, :hash, :at)",
            soci::use(a.id), soci::use(a.name), soci::use(api_key_hash), soci::use(a.created_at);
    } catch (const soci::soci_error& e) {
        rethrow(e, "adding an auditor");
    }
}

namespace {

auditor_record auditor_from_row(const soci::row& r) {
    return {r.get<std::string>(0), r.get<std::string>(1), r.get<std::string>(2),
            optional_text(r, 3)};
}

} // namespace

std::optional<auditor_record> database::auditor_by_key_hash(const std::string& api_key_hash) {
    try {
        soci::session sql(*pool_);
        soci::rowset<soci::row> rows =
            (sql.prepare << "SELECT id, name, created_at, revoked_at FROM auditors "
                            "WHERE api_key_hash = :h",
             soci::use(api_key_hash));
        for (const auto& r : rows)
            return auditor_from_row(r);
        return std::nullopt;
    } catch (const soci::soci_error& e) {
        rethrow(e, "looking up an auditor's key");
    }
}

std::vector<auditor_record> database::auditors() {
    try {
        soci::session sql(*pool_);
        soci::rowset<soci::row> rows = (sql.prepare << "SELECT id, name, created_at, revoked_at "
                                                       "FROM auditors ORDER BY created_at, id");
        std::vector<auditor_record> out;
        for (const auto& r : rows)
            out.push_back(auditor_from_row(r));
        return out;
    } catch (const soci::soci_error& e) {
        rethrow(e, "listing auditors");
    }
}

bool database::revoke_auditor(const std::string& id, const std::string& when) {
    return revoke_key("auditors", id, when);
}

std::optional<letter_record> database::letter_by_id(const std::string& id) {
    try {
        soci::session sql(*pool_);
        soci::rowset<soci::row> rows =
            (sql.prepare << "SELECT " << letter_columns << " FROM letters WHERE id = :id",
             soci::use(id));
        std::optional<letter_record> out;
        for (const auto& r : rows)
            out = letter_from_row(r);
        if (out)
            fill_details(sql, *out);
        return out;
    } catch (const soci::soci_error& e) {
        rethrow(e, "reading a letter");
    }
}

std::optional<std::string> database::letter_of_link(const std::string& token_hash) {
    try {
        soci::session sql(*pool_);
        std::string id;
        sql << "SELECT letter_id FROM recipient_links WHERE token_hash = :h", soci::into(id),
            soci::use(token_hash);
        if (!sql.got_data())
            return std::nullopt;
        return id;
    } catch (const soci::soci_error& e) {
        rethrow(e, "reading a recipient link");
    }
}

std::vector<std::string> database::letters_past_deadline(const std::string& now, int limit) {
    try {
        soci::session sql(*pool_);
        soci::rowset<std::string> rows =
            (sql.prepare << "SELECT id FROM letters WHERE status = 'notified' "
                            "AND accept_deadline <= :now ORDER BY accept_deadline LIMIT :n",
             soci::use(now), soci::use(limit));
        return {rows.begin(), rows.end()};
    } catch (const soci::soci_error& e) {
        rethrow(e, "finding letters past their deadline");
    }
}

std::vector<mail_job> database::due_mail(const std::string& now, int limit) {
    try {
        soci::session sql(*pool_);
        soci::rowset<soci::row> rows =
            (sql.prepare << "SELECT id, letter_id, purpose, state, attempts, next_attempt_at, "
                            "last_error, created_at FROM mail_queue WHERE state = 'pending' "
                            "AND next_attempt_at <= :now ORDER BY next_attempt_at LIMIT :n",
             soci::use(now), soci::use(limit));
        std::vector<mail_job> out;
        for (const auto& r : rows) {
            mail_job j;
            j.id = r.get<std::string>(0);
            j.letter_id = r.get<std::string>(1);
            j.purpose = r.get<std::string>(2);
            j.state = r.get<std::string>(3);
            j.attempts = r.get<int>(4);
            j.next_attempt_at = r.get<std::string>(5);
            j.last_error = r.get<std::string>(6);
            j.created_at = r.get<std::string>(7);
            out.push_back(std::move(j));
        }
        return out;
    } catch (const soci::soci_error& e) {
        rethrow(e, "reading the mail queue");
    }
}

void database::update_mail_job(const mail_job& job, const std::string& sent_at) {
    try {
        soci::session sql(*pool_);
        std::unique_lock lock(write_mutex_, std::defer_lock);
        if (backend_ == backend::sqlite)
            lock.lock();
        soci::indicator sent = sent_at.empty() ? soci::i_null : soci::i_ok;
        sql << "UPDATE mail_queue SET state = :s, attempts = :a, next_attempt_at = :n, "
               "last_error = :e, sent_at = :t WHERE id = :id",
            soci::use(job.state), soci::use(job.attempts), soci::use(job.next_attempt_at),
            soci::use(job.last_error), soci::use(sent_at, sent), soci::use(job.id);
    } catch (const soci::soci_error& e) {
        rethrow(e, "updating the mail queue");
    }
}

bool database::claim_mail_job(const std::string& id, const std::string& seen,
                              const std::string& lease_until) {
    try {
        soci::session sql(*pool_);
        std::unique_lock lock(write_mutex_, std::defer_lock);
        if (backend_ == backend::sqlite)
            lock.lock();
        soci::statement st =
            (sql.prepare << "UPDATE mail_queue SET next_attempt_at = :l WHERE id = :id "
                            "AND state = 'pending' AND next_attempt_at = :seen",
             soci::use(lease_until), soci::use(id), soci::use(seen));
        st.execute(true);
        return st.get_affected_rows() == 1;
    } catch (const soci::soci_error& e) {
        rethrow(e, "taking a mail job");
    }
}

std::optional<recipient_session> database::session(const std::string& id_hash) {
    try {
        soci::session sql(*pool_);
        soci::rowset<soci::row> rows =
            (sql.prepare << "SELECT " << session_columns
                         << " FROM recipient_sessions WHERE id_hash = :h",
             soci::use(id_hash));
        for (const auto& r : rows)
            return session_from_row(r);
        return std::nullopt;
    } catch (const soci::soci_error& e) {
        rethrow(e, "reading a session");
    }
}

void database::insert_session(const recipient_session& s) {
    try {
        soci::session sql(*pool_);
        std::unique_lock lock(write_mutex_, std::defer_lock);
        if (backend_ == backend::sqlite)
            lock.lock();
        sql << "INSERT INTO recipient_sessions (id_hash, letter_id, csrf, created_at, "
               "expires_at) VALUES (:h, :l, :c, :t, :e)",
            soci::use(s.id_hash), soci::use(s.letter_id), soci::use(s.csrf),
            soci::use(s.created_at), soci::use(s.expires_at);
    } catch (const soci::soci_error& e) {
        rethrow(e, "creating a session");
    }
}

int database::codes_sent_since(const std::string& letter_id, const std::string& since) {
    try {
        soci::session sql(*pool_);
        long long n = 0; // SUM is a bigint on PostgreSQL
        soci::indicator ind = soci::i_ok;
        sql << "SELECT SUM(codes_sent) FROM recipient_sessions WHERE letter_id = :l "
               "AND created_at >= :s",
            soci::into(n, ind), soci::use(letter_id), soci::use(since);
        return ind == soci::i_ok ? static_cast<int>(n) : 0;
    } catch (const soci::soci_error& e) {
        rethrow(e, "counting one-time codes");
    }
}

int database::delete_expired_sessions(const std::string& now) {
    try {
        soci::session sql(*pool_);
        std::unique_lock lock(write_mutex_, std::defer_lock);
        if (backend_ == backend::sqlite)
            lock.lock();
        soci::statement st =
            (sql.prepare << "DELETE FROM recipient_sessions WHERE expires_at < :n", soci::use(now));
        st.execute(true);
        return static_cast<int>(st.get_affected_rows());
    } catch (const soci::soci_error& e) {
        rethrow(e, "removing expired sessions");
    }
}

void database::insert_identification_request(const identification_request& r) {
    try {
        soci::session sql(*pool_);
        std::unique_lock lock(write_mutex_, std::defer_lock);
        if (backend_ == backend::sqlite)
            lock.lock();
        sql << "INSERT INTO identification_requests (id, session_hash, letter_id, method, "
               "secrets, required_loa, created_at, expires_at) VALUES (:i, :s, :l, :m, :x, :q, "
               ":c, :e)",
            soci::use(r.id), soci::use(r.session_hash), soci::use(r.letter_id), soci::use(r.method),
            soci::use(r.secrets), soci::use(r.required_loa), soci::use(r.created_at),
            soci::use(r.expires_at);
    } catch (const soci::soci_error& e) {
        rethrow(e, "recording an identification request");
    }
}

std::optional<identification_request>
database::take_identification_request(const std::string& id, const std::string& method,
                                      const std::string& now) {
    try {
        soci::session sql(*pool_);
        std::unique_lock lock(write_mutex_, std::defer_lock);
        if (backend_ == backend::sqlite)
            lock.lock();
        identification_request r;
        soci::indicator used = soci::i_ok;
        std::string used_at;
        sql << "SELECT id, session_hash, letter_id, method, secrets, required_loa, created_at, "
               "expires_at, used_at FROM identification_requests WHERE id = :i AND method = :m",
            soci::into(r.id), soci::into(r.session_hash), soci::into(r.letter_id),
            soci::into(r.method), soci::into(r.secrets), soci::into(r.required_loa),
            soci::into(r.created_at), soci::into(r.expires_at), soci::into(used_at, used),
            soci::use(id), soci::use(method);
        if (!sql.got_data() || used != soci::i_null || r.expires_at <= now)
            return std::nullopt;
        // Used once, and its secrets (the return link among them) gone from the store.
        soci::statement take =
            (sql.prepare << "UPDATE identification_requests SET used_at = :n, secrets = '' "
                            "WHERE id = :i AND method = :m AND used_at IS NULL",
             soci::use(now), soci::use(id), soci::use(method));
        take.execute(true);
        if (take.get_affected_rows() != 1)
            return std::nullopt; // a concurrent answer took it first
        return r;
    } catch (const soci::soci_error& e) {
        rethrow(e, "taking an identification request");
    }
}

int database::delete_expired_identification_requests(const std::string& now) {
    try {
        soci::session sql(*pool_);
        std::unique_lock lock(write_mutex_, std::defer_lock);
        if (backend_ == backend::sqlite)
            lock.lock();
        soci::statement st = (sql.prepare << "DELETE FROM identification_requests WHERE "
                                             "expires_at < :n",
                              soci::use(now));
        st.execute(true);
        return static_cast<int>(st.get_affected_rows());
    } catch (const soci::soci_error& e) {
        rethrow(e, "removing expired identification requests");
    }
}

void database::insert_identification_attempt(const identification_attempt& a) {
    try {
        soci::session sql(*pool_);
        std::unique_lock lock(write_mutex_, std::defer_lock);
        if (backend_ == backend::sqlite)
            lock.lock();
        sql << "INSERT INTO identification_attempts (id, letter_id, method, provider, outcome, "
               "asserted, at) VALUES (:i, :l, :m, :p, :o, :a, :t)",
            soci::use(a.id), soci::use(a.letter_id), soci::use(a.method), soci::use(a.provider),
            soci::use(a.outcome), soci::use(a.asserted), soci::use(a.at);
    } catch (const soci::soci_error& e) {
        rethrow(e, "recording an identification attempt");
    }
}

std::vector<identification_attempt>
database::identification_attempts(const std::string& letter_id) {
    try {
        soci::session sql(*pool_);
        soci::rowset<soci::row> rows =
            (sql.prepare << "SELECT id, letter_id, method, provider, outcome, asserted, at FROM "
                            "identification_attempts WHERE letter_id = :l ORDER BY at, id",
             soci::use(letter_id));
        std::vector<identification_attempt> out;
        for (const auto& r : rows)
            out.push_back({r.get<std::string>(0), r.get<std::string>(1), r.get<std::string>(2),
                           r.get<std::string>(3), r.get<std::string>(4), r.get<std::string>(5),
                           r.get<std::string>(6)});
        return out;
    } catch (const soci::soci_error& e) {
        rethrow(e, "reading identification attempts");
    }
}

void database::update_session(const recipient_session& s) {
    try {
        soci::session sql(*pool_);
        std::unique_lock lock(write_mutex_, std::defer_lock);
        if (backend_ == backend::sqlite)
            lock.lock();
        sql << "UPDATE recipient_sessions SET code_hash = :ch, code_expires_at = :ce, "
               "code_attempts = :ca, codes_sent = :cs, identified_method = :im, "
               "identified_loa = :il, identified_by = :ib, identified_at = :ia, identity = :id "
               "WHERE id_hash = :h",
            soci::use(s.code_hash), soci::use(s.code_expires_at), soci::use(s.code_attempts),
            soci::use(s.codes_sent), soci::use(s.identified_method), soci::use(s.identified_loa),
            soci::use(s.identified_by), soci::use(s.identified_at), soci::use(s.identity),
            soci::use(s.id_hash);
    } catch (const soci::soci_error& e) {
        rethrow(e, "updating a session");
    }
}

std::vector<webhook_delivery> database::due_webhooks(const std::string& now, int limit) {
    try {
        soci::session sql(*pool_);
        soci::rowset<soci::row> rows =
            (sql.prepare << "SELECT " << webhook_columns
                         << " FROM webhook_deliveries WHERE state = 'pending' "
                            "AND next_attempt_at <= :now ORDER BY next_attempt_at LIMIT :n",
             soci::use(now), soci::use(limit));
        std::vector<webhook_delivery> out;
        for (const auto& r : rows)
            out.push_back(webhook_from_row(r));
        return out;
    } catch (const soci::soci_error& e) {
        rethrow(e, "reading the webhook queue");
    }
}

std::vector<webhook_delivery> database::webhooks_of_letter(const std::string& letter_id) {
    try {
        soci::session sql(*pool_);
        soci::rowset<soci::row> rows =
            (sql.prepare << "SELECT " << webhook_columns
                         << " FROM webhook_deliveries WHERE letter_id = :l "
                            "ORDER BY created_at, id",
             soci::use(letter_id));
        std::vector<webhook_delivery> out;
        for (const auto& r : rows)
            out.push_back(webhook_from_row(r));
        return out;
    } catch (const soci::soci_error& e) {
        rethrow(e, "reading webhook deliveries");
    }
}

void database::update_webhook(const webhook_delivery& w) {
    try {
        soci::session sql(*pool_);
        std::unique_lock lock(write_mutex_, std::defer_lock);
        if (backend_ == backend::sqlite)
            lock.lock();
        soci::indicator delivered = w.delivered_at.empty() ? soci::i_null : soci::i_ok;
        sql << "UPDATE webhook_deliveries SET state = :s, attempts = :a, next_attempt_at = :n, "
               "last_status = :st, last_error = :e, delivered_at = :d WHERE id = :id",
            soci::use(w.state), soci::use(w.attempts), soci::use(w.next_attempt_at),
            soci::use(w.last_status), soci::use(w.last_error), soci::use(w.delivered_at, delivered),
            soci::use(w.id);
    } catch (const soci::soci_error& e) {
        rethrow(e, "updating a webhook delivery");
    }
}

bool database::claim_webhook(const webhook_delivery& w, int attempts_seen) {
    try {
        soci::session sql(*pool_);
        std::unique_lock lock(write_mutex_, std::defer_lock);
        if (backend_ == backend::sqlite)
            lock.lock();
        soci::statement st =
            (sql.prepare << "UPDATE webhook_deliveries SET attempts = :a, next_attempt_at = :n "
                            "WHERE id = :id AND state = 'pending' AND attempts = :seen",
             soci::use(w.attempts), soci::use(w.next_attempt_at), soci::use(w.id),
             soci::use(attempts_seen));
        st.execute(true);
        return st.get_affected_rows() == 1;
    } catch (const soci::soci_error& e) {
        rethrow(e, "taking a webhook delivery");
    }
}

bool database::set_webhook(const std::string& sender_id, const std::string& url,
                           const std::string& secret) {
    try {
        soci::session sql(*pool_);
        std::unique_lock lock(write_mutex_, std::defer_lock);
        if (backend_ == backend::sqlite)
            lock.lock();
        soci::statement st = (sql.prepare << "UPDATE senders SET webhook_url = :u, "
                                             "webhook_secret = :s WHERE id = :id",
                              soci::use(url), soci::use(secret), soci::use(sender_id));
        st.execute(true);
        return st.get_affected_rows() > 0;
    } catch (const soci::soci_error& e) {
        rethrow(e, "setting a webhook");
    }
}

void database::insert_share(const share_record& share, const std::string& token_hash) {
    try {
        soci::session sql(*pool_);
        std::unique_lock lock(write_mutex_, std::defer_lock);
        if (backend_ == backend::sqlite)
            lock.lock();
        int documents = share.documents ? 1 : 0;
        sql << "INSERT INTO shares (id, letter_id, token_hash, label, documents, created_at, "
               "expires_at) VALUES (:id, :l, :h, :label, :d, :c, :e)",
            soci::use(share.id), soci::use(share.letter_id), soci::use(token_hash),
            soci::use(share.label), soci::use(documents), soci::use(share.created_at),
            soci::use(share.expires_at);
    } catch (const soci::soci_error& e) {
        rethrow(e, "storing a share link");
    }
}

namespace {

constexpr const char* share_columns = "s.id, s.letter_id, l.sender_id, s.label, s.documents, "
                                      "s.created_at, s.expires_at, s.revoked_at";

share_record share_from_row(const soci::row& r) {
    share_record s;
    s.id = r.get<std::string>(0);
    s.letter_id = r.get<std::string>(1);
    s.sender_id = r.get<std::string>(2);
    s.label = r.get<std::string>(3);
    s.documents = r.get<int>(4) != 0;
    s.created_at = r.get<std::string>(5);
    s.expires_at = r.get<std::string>(6);
    s.revoked_at = optional_text(r, 7);
    return s;
}

} // namespace

std::optional<share_record> database::share_by_token_hash(const std::string& token_hash) {
    try {
        soci::session sql(*pool_);
        soci::rowset<soci::row> rows =
            (sql.prepare << "SELECT " << share_columns
                         << " FROM shares s JOIN letters l ON l.id = s.letter_id "
                            "WHERE s.token_hash = :h",
             soci::use(token_hash));
        for (const auto& r : rows)
            return share_from_row(r);
        return std::nullopt;
    } catch (const soci::soci_error& e) {
        rethrow(e, "reading a share link");
    }
}

std::vector<share_record> database::shares_of_letter(const std::string& letter_id) {
    try {
        soci::session sql(*pool_);
        soci::rowset<soci::row> rows =
            (sql.prepare << "SELECT " << share_columns
                         << " FROM shares s JOIN letters l ON l.id = s.letter_id "
                            "WHERE s.letter_id = :l ORDER BY s.created_at DESC, s.id DESC",
             soci::use(letter_id));
        std::vector<share_record> out;
        for (const auto& r : rows)
            out.push_back(share_from_row(r));
        for (auto& share : out) {
            soci::rowset<soci::row> accesses =
                (sql.prepare << "SELECT id, at, outcome, client FROM share_accesses "
                                "WHERE share_id = :s ORDER BY at, id",
                 soci::use(share.id));
            for (const auto& a : accesses)
                share.accesses.push_back({a.get<std::string>(0), a.get<std::string>(1),
                                          a.get<std::string>(2), a.get<std::string>(3)});
        }
        return out;
    } catch (const soci::soci_error& e) {
        rethrow(e, "listing share links");
    }
}

database::revoke_outcome database::revoke_share(const std::string& sender_id, const std::string& id,
                                                const std::string& when) {
    try {
        soci::session sql(*pool_);
        std::unique_lock lock(write_mutex_, std::defer_lock);
        if (backend_ == backend::sqlite)
            lock.lock();
        soci::indicator revoked = soci::i_null;
        std::string revoked_at;
        sql << "SELECT s.revoked_at FROM shares s JOIN letters l ON l.id = s.letter_id "
               "WHERE s.id = :id AND l.sender_id = :s",
            soci::into(revoked_at, revoked), soci::use(id), soci::use(sender_id);
        if (!sql.got_data())
            return revoke_outcome::not_found;
        if (revoked == soci::i_ok)
            return revoke_outcome::already_revoked;
        sql << "UPDATE shares SET revoked_at = :t WHERE id = :id AND revoked_at IS NULL",
            soci::use(when), soci::use(id);
        return revoke_outcome::revoked;
    } catch (const soci::soci_error& e) {
        rethrow(e, "revoking a share link");
    }
}

void database::insert_share_access(const std::string& share_id, const share_access& a) {
    try {
        soci::session sql(*pool_);
        std::unique_lock lock(write_mutex_, std::defer_lock);
        if (backend_ == backend::sqlite)
            lock.lock();
        sql << "INSERT INTO share_accesses (id, share_id, at, outcome, client) "
               "VALUES (:id, :s, :t, :o, :c)",
            soci::use(a.id), soci::use(share_id), soci::use(a.at), soci::use(a.outcome),
            soci::use(a.client);
    } catch (const soci::soci_error& e) {
        rethrow(e, "recording a share access");
    }
}

std::vector<purge_candidate> database::documents_to_purge(const std::string& cutoff, int limit) {
    try {
        soci::session sql(*pool_);
        // Bytes are shared by digest: a blob goes only when no letter still within its
        // retention holds it.
        soci::rowset<soci::row> rows =
            (sql.prepare << "SELECT d.letter_id, d.position, d.sha256 FROM documents d "
                            "JOIN letters l ON l.id = d.letter_id "
                            "JOIN blobs b ON b.sha256 = d.sha256 "
                            "WHERE d.stored = 1 AND b.purged_at IS NULL AND l.created_at < :c "
                            "AND NOT EXISTS (SELECT 1 FROM documents d2 "
                            "JOIN letters l2 ON l2.id = d2.letter_id "
                            "WHERE d2.sha256 = d.sha256 AND d2.stored = 1 "
                            "AND l2.created_at >= :c2) "
                            "ORDER BY l.created_at, d.letter_id, d.position LIMIT :n",
             soci::use(cutoff), soci::use(cutoff), soci::use(limit));
        std::vector<purge_candidate> out;
        for (const auto& r : rows)
            out.push_back({r.get<std::string>(0), r.get<int>(1), r.get<std::string>(2)});
        return out;
    } catch (const soci::soci_error& e) {
        rethrow(e, "finding documents past their retention");
    }
}

bool database::record_purge(const std::string& sha256, const std::string& when,
                            int retention_days) {
    auto tx = begin();
    try {
        auto& sql = *tx.session_;
        soci::statement mark = (sql.prepare << "UPDATE blobs SET purged_at = :t "
                                               "WHERE sha256 = :h AND purged_at IS NULL",
                                soci::use(when), soci::use(sha256));
        mark.execute(true);
        if (mark.get_affected_rows() != 1)
            return false;
        sql << "INSERT INTO document_purges (letter_id, position, sha256, purged_at, "
               "retention_days) SELECT letter_id, position, sha256, :t, :r FROM documents "
               "WHERE sha256 = :h AND stored = 1",
            soci::use(when), soci::use(retention_days), soci::use(sha256);
    } catch (const soci::soci_error& e) {
        rethrow(e, "recording a purge");
    }
    tx.commit();
    return true;
}

std::int64_t database::audit_log_end() {
    try {
        soci::session sql(*pool_);
        long long last = -1;
        soci::indicator ind = soci::i_null;
        sql << "SELECT MAX(leaf_index) FROM log_entries", soci::into(last, ind);
        return ind == soci::i_ok ? last + 1 : 0;
    } catch (const soci::soci_error& e) {
        rethrow(e, "reading the log's extent");
    }
}

std::vector<audited_entry> database::audit_log_entries(std::int64_t start, int count) {
    try {
        soci::session sql(*pool_);
        long long first = start;
        long long end = start + count;
        soci::rowset<soci::row> rows =
            (sql.prepare << "SELECT l.leaf_index, l.leaf_hash, l.evidence_id, e.id, e.letter_id, "
                            "e.event, e.event_time, e.created_at, e.xml FROM log_entries l "
                            "LEFT JOIN evidence e ON e.id = l.evidence_id "
                            "WHERE l.leaf_index >= :s AND l.leaf_index < :e ORDER BY l.leaf_index",
             soci::use(first), soci::use(end));
        std::vector<audited_entry> out;
        for (const auto& r : rows) {
            audited_entry a;
            a.entry.leaf_index = integer_at(r, 0);
            a.entry.leaf_hash = hash_of_hex(r.get<std::string>(1));
            a.entry.evidence_id = r.get<std::string>(2);
            if (r.get_indicator(3) == soci::i_ok) {
                a.evidence = evidence_record{r.get<std::string>(3), r.get<std::string>(4),
                                             r.get<std::string>(5), r.get<std::string>(6),
                                             r.get<std::string>(7), r.get<std::string>(8)};
            }
            out.push_back(std::move(a));
        }
        return out;
    } catch (const soci::soci_error& e) {
        rethrow(e, "reading log entries");
    }
}

std::vector<evidence_record> database::audit_unlogged_evidence() {
    try {
        soci::session sql(*pool_);
        soci::rowset<soci::row> rows =
            (sql.prepare << "SELECT e.id, e.letter_id, e.event, e.event_time, e.created_at, e.xml "
                            "FROM evidence e LEFT JOIN log_entries l ON l.evidence_id = e.id "
                            "WHERE l.evidence_id IS NULL ORDER BY e.created_at, e.id");
        std::vector<evidence_record> out;
        for (const auto& r : rows)
            out.push_back({r.get<std::string>(0), r.get<std::string>(1), r.get<std::string>(2),
                           r.get<std::string>(3), r.get<std::string>(4), r.get<std::string>(5)});
        return out;
    } catch (const soci::soci_error& e) {
        rethrow(e, "finding records outside the log");
    }
}

std::vector<letter_record> database::audit_letters() {
    try {
        soci::session sql(*pool_);
        std::vector<letter_record> out;
        std::map<std::string, std::size_t> at;
        soci::rowset<soci::row> letters =
            (sql.prepare << "SELECT " << letter_columns << " FROM letters ORDER BY id");
        for (const auto& r : letters) {
            out.push_back(letter_from_row(r));
            at[out.back().id] = out.size() - 1;
        }
        soci::rowset<soci::row> docs =
            (sql.prepare << "SELECT d.letter_id, d.position, d.name, d.media_type, d.size, "
                            "d.sha256, d.flags, d.stored, b.purged_at FROM documents d "
                            "LEFT JOIN blobs b ON b.sha256 = d.sha256 "
                            "ORDER BY d.letter_id, d.position");
        for (const auto& r : docs) {
            auto it = at.find(r.get<std::string>(0));
            if (it == at.end())
                continue; // a document of no letter: the foreign key forbids it
            document_record d;
            d.position = r.get<int>(1);
            d.name = r.get<std::string>(2);
            d.media_type = r.get<std::string>(3);
            d.size = r.get<long long>(4);
            d.sha256 = r.get<std::string>(5);
            d.flags = r.get<std::string>(6);
            d.stored = r.get<int>(7) != 0;
            d.purged_at = optional_text(r, 8);
            out[it->second].documents.push_back(std::move(d));
        }
        soci::rowset<soci::row> evidence =
            (sql.prepare << "SELECT id, letter_id, event, event_time, created_at FROM evidence "
                            "ORDER BY letter_id, created_at, id");
        for (const auto& r : evidence) {
            evidence_record e{r.get<std::string>(0), r.get<std::string>(1), r.get<std::string>(2),
                              r.get<std::string>(3), r.get<std::string>(4), {}};
            auto it = at.find(e.letter_id);
            if (it == at.end()) {
                letter_record orphan; // evidence of a letter the store lacks: kept visible
                orphan.id = e.letter_id;
                out.push_back(std::move(orphan));
                it = at.emplace(e.letter_id, out.size() - 1).first;
            }
            out[it->second].evidence.push_back(std::move(e));
        }
        return out;
    } catch (const soci::soci_error& e) {
        rethrow(e, "reading every letter");
    }
}

std::vector<std::string> database::audit_known_digests() {
    try {
        soci::session sql(*pool_);
        soci::rowset<std::string> rows =
            (sql.prepare << "SELECT sha256 FROM blobs UNION SELECT sha256 FROM documents");
        return {rows.begin(), rows.end()};
    } catch (const soci::soci_error& e) {
        rethrow(e, "reading the known digests");
    }
}

std::optional<evidence_record> database::evidence_by_id(const std::string& id) {
    try {
        soci::session sql(*pool_);
        soci::rowset<soci::row> rows =
            (sql.prepare << "SELECT id, letter_id, event, event_time, created_at, xml "
                            "FROM evidence WHERE id = :id",
             soci::use(id));
        for (const auto& r : rows) {
            evidence_record e;
            e.id = r.get<std::string>(0);
            e.letter_id = r.get<std::string>(1);
            e.event = r.get<std::string>(2);
            e.event_time = r.get<std::string>(3);
            e.created_at = r.get<std::string>(4);
            e.xml = r.get<std::string>(5);
            return e;
        }
        return std::nullopt;
    } catch (const soci::soci_error& e) {
        rethrow(e, "reading evidence");
    }
}

database::transaction database::begin() {
    return transaction(*this);
}

database::transaction::transaction(database& db)
    : db_(&db)
    , write_lock_(db.write_mutex_, std::defer_lock) {
    try {
        session_ = std::make_unique<soci::session>(*db.pool_);
        if (db.backend_ == backend::sqlite) {
            write_lock_.lock();
            *session_ << "BEGIN IMMEDIATE";
        } else {
            *session_ << "BEGIN";
        }
        open_ = true;
    } catch (const soci::soci_error& e) {
        rethrow(e, "starting a transaction");
    }
}

database::transaction::transaction(transaction&& other) noexcept
    : db_(other.db_)
    , session_(std::move(other.session_))
    , write_lock_(std::move(other.write_lock_))
    , open_(std::exchange(other.open_, false)) {}

database::transaction::~transaction() {
    if (open_) {
        try {
            *session_ << "ROLLBACK";
        } catch (...) {
            // The connection is gone; the backend discards the transaction itself.
        }
    }
}

void database::transaction::insert_letter(const letter_record& l) {
    try {
        int qualified = l.qualified ? 1 : 0;
        soci::indicator deadline = l.accept_deadline.empty() ? soci::i_null : soci::i_ok;
        *session_ << "INSERT INTO letters (id, sender_id, kind, status, created_at, reference, "
                     "subject, recipient, consent_reference, accept_deadline, qualified) VALUES "
                     "(:id, :s, :k, :st, :c, :r, :sub, :rec, :con, :d, :q)",
            soci::use(l.id), soci::use(l.sender_id), soci::use(l.kind), soci::use(l.status),
            soci::use(l.created_at), soci::use(l.reference), soci::use(l.subject),
            soci::use(l.recipient_json), soci::use(l.consent_reference),
            soci::use(l.accept_deadline, deadline), soci::use(qualified);
    } catch (const soci::soci_error& e) {
        rethrow(e, "storing a letter");
    }
}

void database::transaction::insert_document(const std::string& letter_id,
                                            const document_record& d) {
    try {
        int stored = d.stored ? 1 : 0;
        long long size = d.size;
        *session_ << "INSERT INTO documents (letter_id, position, name, media_type, size, "
                     "sha256, flags, stored) VALUES (:l, :p, :n, :m, :s, :h, :f, :st)",
            soci::use(letter_id), soci::use(d.position), soci::use(d.name), soci::use(d.media_type),
            soci::use(size), soci::use(d.sha256), soci::use(d.flags), soci::use(stored);
    } catch (const soci::soci_error& e) {
        rethrow(e, "storing a document");
    }
}

void database::transaction::insert_blob(const blob_record& b, const std::string& when) {
    try {
        long long size = b.size;
        *session_ << "INSERT INTO blobs (sha256, size, stored_at) VALUES (:h, :s, :t) "
                     "ON CONFLICT (sha256) DO NOTHING",
            soci::use(b.sha256), soci::use(size), soci::use(when);
    } catch (const soci::soci_error& e) {
        rethrow(e, "storing a document's bytes");
    }
}

void database::transaction::insert_evidence(const evidence_record& e) {
    try {
        *session_ << "INSERT INTO evidence (id, letter_id, event, event_time, created_at, xml) "
                     "VALUES (:id, :l, :e, :t, :c, :x)",
            soci::use(e.id), soci::use(e.letter_id), soci::use(e.event), soci::use(e.event_time),
            soci::use(e.created_at), soci::use(e.xml);
    } catch (const soci::soci_error& ex) {
        rethrow(ex, "storing evidence");
    }
    append_to_log(e);
}

void database::transaction::append_to_log(const evidence_record& e) {
    try {
        auto& sql = *session_;
        // One appender at a time across every instance on the database; SQLite already has
        // one writer. Held until this transaction ends, so the index read below is the
        // next one when it commits.
        if (db_->backend_ == backend::postgresql)
            sql << "SELECT pg_advisory_xact_lock(" << log_lock_key << ")";
        long long size = committed_log_size(sql);
        auto leaf = static_cast<std::uint64_t>(size);

        auto hash = db_->hasher_.leaf(e.xml);
        auto hex = hex_of(hash);
        sql << "INSERT INTO log_entries (leaf_index, evidence_id, leaf_hash) VALUES (:i, :e, :h)",
            soci::use(size), soci::use(e.id), soci::use(hex);

        // The leaf completes one subtree per trailing one bit of its index.
        auto siblings = log_tree::completed_by(leaf);
        auto known = read_nodes(sql, siblings);
        for (const auto& sibling : siblings) {
            hash = db_->hasher_.node(known.at(sibling), hash);
            int level = sibling.level + 1;
            long long index = static_cast<long long>(sibling.index >> 1);
            hex = hex_of(hash);
            sql << "INSERT INTO log_subtrees (level, idx, hash) VALUES (:l, :i, :h)",
                soci::use(level), soci::use(index), soci::use(hex);
        }
    } catch (const soci::soci_error& ex) {
        rethrow(ex, "appending to the transparency log");
    }
}

void database::transaction::insert_idempotency(const idempotency_record& r,
                                               const std::string& when) {
    try {
        *session_ << "INSERT INTO idempotency_keys (sender_id, key, fingerprint, letter_id, "
                     "created_at) VALUES (:s, :k, :h, :l, :t)",
            soci::use(r.sender_id), soci::use(r.key), soci::use(r.fingerprint),
            soci::use(r.letter_id), soci::use(when);
    } catch (const soci::soci_error& e) {
        rethrow(e, "storing an idempotency key");
    }
}

void database::transaction::insert_mail_job(const mail_job& j, const std::string& when) {
    try {
        *session_ << "INSERT INTO mail_queue (id, letter_id, purpose, state, next_attempt_at, "
                     "created_at) VALUES (:id, :l, :p, :s, :n, :t)",
            soci::use(j.id), soci::use(j.letter_id), soci::use(j.purpose), soci::use(j.state),
            soci::use(j.next_attempt_at), soci::use(when);
    } catch (const soci::soci_error& e) {
        rethrow(e, "queueing mail");
    }
}

void database::transaction::insert_recipient_link(const std::string& token_hash,
                                                  const std::string& letter_id,
                                                  const std::string& when) {
    try {
        *session_ << "INSERT INTO recipient_links (token_hash, letter_id, created_at) "
                     "VALUES (:h, :l, :t)",
            soci::use(token_hash), soci::use(letter_id), soci::use(when);
    } catch (const soci::soci_error& e) {
        rethrow(e, "storing a recipient link");
    }
}

void database::transaction::insert_webhook(const webhook_delivery& w) {
    try {
        *session_ << "INSERT INTO webhook_deliveries (id, sender_id, letter_id, evidence_id, "
                     "payload, state, next_attempt_at, created_at) VALUES "
                     "(:id, :s, :l, :e, :p, :st, :n, :t)",
            soci::use(w.id), soci::use(w.sender_id), soci::use(w.letter_id),
            soci::use(w.evidence_id), soci::use(w.payload), soci::use(w.state),
            soci::use(w.next_attempt_at), soci::use(w.created_at);
    } catch (const soci::soci_error& e) {
        rethrow(e, "queueing a webhook");
    }
}

bool database::transaction::change_status(const std::string& letter_id, const std::string& from,
                                          const std::string& to, const letter_record& c) {
    try {
        soci::statement st =
            (session_->prepare << "UPDATE letters SET status = :to, "
                                  "accept_deadline = COALESCE(NULLIF(:d, ''), accept_deadline), "
                                  "notified_at = COALESCE(NULLIF(:n, ''), notified_at), "
                                  "decided_at = COALESCE(NULLIF(:dc, ''), decided_at) "
                                  "WHERE id = :id AND status = :from",
             soci::use(to), soci::use(c.accept_deadline), soci::use(c.notified_at),
             soci::use(c.decided_at), soci::use(letter_id), soci::use(from));
        st.execute(true);
        return st.get_affected_rows() == 1;
    } catch (const soci::soci_error& e) {
        rethrow(e, "changing a letter's status");
    }
}

bool database::transaction::mark_handed_over(const std::string& letter_id,
                                             const std::string& when) {
    try {
        soci::statement st =
            (session_->prepare << "UPDATE letters SET handed_over_at = :t WHERE id = :id "
                                  "AND status = 'accepted' AND handed_over_at IS NULL",
             soci::use(when), soci::use(letter_id));
        st.execute(true);
        return st.get_affected_rows() == 1;
    } catch (const soci::soci_error& e) {
        rethrow(e, "recording the content handover");
    }
}

void database::transaction::cancel_mail(const std::string& letter_id) {
    try {
        *session_ << "UPDATE mail_queue SET state = 'cancelled' WHERE letter_id = :l "
                     "AND state = 'pending'",
            soci::use(letter_id);
    } catch (const soci::soci_error& e) {
        rethrow(e, "cancelling mail");
    }
}

void database::transaction::close_mail(const std::string& letter_id, const std::string& purpose,
                                       const std::string& state, const std::string& when) {
    try {
        *session_ << "UPDATE mail_queue SET state = :s, sent_at = :t WHERE letter_id = :l "
                     "AND purpose = :p AND state = 'pending'",
            soci::use(state), soci::use(when), soci::use(letter_id), soci::use(purpose);
    } catch (const soci::soci_error& e) {
        rethrow(e, "closing queued mail");
    }
}

void database::transaction::commit() {
    try {
        *session_ << "COMMIT";
        open_ = false;
        write_lock_ = {};
    } catch (const soci::soci_error& e) {
        rethrow(e, "committing");
    }
}

} // namespace sceau::storage
