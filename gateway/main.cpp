// sceau: the gateway's one executable. `serve` runs the HTTP API; `sender` manages the
// senders' accounts and webhooks; `auditor` the auditors' keys; `checkpoint` signs a
// checkpoint of the transparency log now; `version` prints the versions of the libraries
// linked in.

#include "crypto/random.hpp"
#include "crypto/xml.hpp"
#include "gateway/app.hpp"
#include "gateway/audit_client.hpp"
#include "gateway/config.hpp"
#include "gateway/logging.hpp"
#include "gateway/server.hpp"
#include "gateway/worker.hpp"
#include "protocols/audit.hpp"
#include "protocols/bundle_verifier.hpp"
#include "protocols/pdf_checker_pool.hpp"
#include "protocols/text_rules.hpp"
#include "protocols/transparency_log.hpp"
#include "protocols/webhooks.hpp"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <unistd.h>

using namespace sceau;
using namespace sceau::gateway;

namespace {

struct common_options {
    std::string config_file;
    std::string data_dir;
};

void add_common(CLI::App* cmd, common_options& o) {
    cmd->add_option("--config", o.config_file, "TOML configuration file (default: none)")
        ->check(CLI::ExistingFile);
    cmd->add_option("--data", o.data_dir, "data directory (overrides storage.data_dir)");
}

config load_config(const common_options& o) {
    config c = o.config_file.empty() ? config::defaults() : config::load(o.config_file);
    if (!o.data_dir.empty())
        c.storage.data_dir = o.data_dir;
    return c;
}

std::string now_text() {
    return crypto::format_utc(std::chrono::system_clock::now());
}

/// The fields of `sender add`: they are sealed in every evidence record of the sender's
/// letters and shown to its recipients, so they follow the rules of a letter's fields.
/// Throws std::invalid_argument naming the option.
void check_sender(const storage::sender_record& s) {
    auto check = [](std::string_view option, const std::string& value, std::size_t limit) {
        if (value.size() > limit)
            throw std::invalid_argument(std::string(option) + ": longer than " +
                                        std::to_string(limit) + " bytes");
        if (auto fault = protocols::text_fault(value))
            throw std::invalid_argument(std::string(option) + ": " + std::string(*fault));
    };
    if (s.name.empty())
        throw std::invalid_argument("--name: must not be empty");
    check("--name", s.name, 200);
    check("--company", s.company, 200);
    check("--identified-by", s.identified_by, 500);
    if (!protocols::is_mailbox(s.email))
        throw std::invalid_argument("--email: not an e-mail address");
}

int serve(const common_options& o, const std::string& listen, const std::string& ready_file,
          long long clock_offset) {
    auto cfg = load_config(o);
    if (!listen.empty()) {
        split_listen(listen);
        cfg.server.listen = listen;
    }
    setup_logging(cfg.log.level, cfg.log.format);
    auto versions = library_versions();
    versions.insert(versions.begin(), {"version", SCEAU_VERSION});
    log_event(log_level::info, "starting", versions);

    auto a = app::open(cfg, std::chrono::seconds(clock_offset));
    a->sweep_uploads();
    if (clock_offset != 0)
        log_event(log_level::warn, "clock-offset",
                  {{"seconds", std::to_string(clock_offset)},
                   {"message", "the clock is shifted: for end-to-end tests only"}});
    log_event(log_level::info, "store",
              {{"backend", a->db().backend_version()},
               {"schema", std::to_string(a->db().schema_version())},
               {"data", cfg.storage.data_dir.string()}});
    if (a->sample_keys())
        log_event(log_level::warn, "sample-keys",
                  {{"message", "running on the SAMPLE keys of certs-sample: for tests and demos "
                               "only; every evidence record is marked as not qualified"}});
    if (cfg.tsa.url.empty())
        log_event(log_level::warn, "builtin-tsa",
                  {{"message", "time-stamps come from the built-in TSA, which is not qualified"}});

    server s(*a, cfg);
    s.bind();
    auto [host, _] = split_listen(cfg.server.listen);
    auto where = (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
                 std::to_string(s.port());
    log_event(log_level::info, "listening", {{"address", where}});
    a->set_public_base(cfg.server.public_url.empty() ? "http://" + where : cfg.server.public_url);
    if (a->demo_node())
        log_event(log_level::warn, "demo-node",
                  {{"message", "the built-in demo eIDAS node is on at /demo/eidas/sso: it vouches "
                               "for whatever identity is typed; for demonstrations only"}});
    worker background(*a, cfg.lifecycle.worker_interval);
    background.start();
    if (!ready_file.empty()) {
        // Written once listening, renamed into place so that readers never see half of it.
        auto temporary = ready_file + ".tmp";
        std::ofstream(temporary) << where << "\n";
        std::filesystem::rename(temporary, ready_file);
    }
    s.run();
    background.stop();
    log_event(log_level::info, "stopped", {});
    return 0;
}

std::vector<crypto::x509_ptr> anchors_of(const std::vector<std::string>& files) {
    std::vector<crypto::x509_ptr> out;
    for (const auto& f : files) {
        for (auto& c : crypto::certificates_from_pem(crypto::read_small_file(f)))
            out.push_back(std::move(c));
    }
    return out;
}

/// `sceau verify`: a verdict per check, then the overall one; 0 only when all hold.
int verify(const std::string& bundle, const std::vector<std::string>& trust_files, bool json) {
    crypto::xml_library_init();
    protocols::bundle_verify_options options;
    options.anchors = anchors_of(trust_files);
    auto report = protocols::verify_bundle(bundle, options);
    using verdict = protocols::check_result::verdict;
    auto failures = report.count(verdict::fails);
    auto warnings = report.count(verdict::warning);
    if (json) {
        nlohmann::json checks = nlohmann::json::array();
        for (const auto& c : report.checks)
            checks.push_back({{"item", c.item},
                              {"verdict", protocols::to_string(c.outcome)},
                              {"detail", c.detail}});
        nlohmann::json out = {{"bundle", bundle},
                              {"verdict", report.holds() ? "holds" : "fails"},
                              {"failures", failures},
                              {"warnings", warnings},
                              {"checks", checks}};
        std::cout << out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    } else {
        for (const auto& c : report.checks) {
            std::string mark = c.outcome == verdict::holds   ? "HOLDS  "
                               : c.outcome == verdict::fails ? "FAILS  "
                                                             : "WARNING";
            std::cout << mark << "  " << c.item << ": " << c.detail << "\n";
        }
        std::cout << "\n"
                  << (report.holds() ? "VERDICT: the bundle holds" : "VERDICT: the bundle FAILS")
                  << " (" << report.checks.size() << " checks, " << failures << " failed, "
                  << warnings << " warnings)\n";
    }
    return report.holds() ? 0 : 1;
}

struct audit_request {
    std::string url;      ///< the audit API, or empty for the data directory
    std::string key_file; ///< the auditor's key, for the API
    std::vector<std::string> trust_files;
    std::string previous; ///< a checkpoint note kept from an earlier audit
    unsigned threads = 0;
    bool json = false;
    bool cross_check = false;
};

/// `sceau audit`: every finding with what and where, a summary; exit status 1 on any error.
int audit(const common_options& o, const audit_request& r) {
    crypto::xml_library_init();
    protocols::audit_options options;
    options.anchors = anchors_of(r.trust_files);
    options.threads = r.threads;
    options.cross_check = r.cross_check;
    if (!r.previous.empty())
        options.previous_checkpoint = crypto::read_small_file(r.previous, 64 << 10);

    // A bar on a terminal only: a pipe or a file gets the report alone.
    bool terminal = ::isatty(STDOUT_FILENO) && ::isatty(STDERR_FILENO);
    if (terminal) {
        options.progress = [](std::int64_t done, std::int64_t total) {
            int width = 40;
            int filled = total > 0 ? static_cast<int>(width * done / total) : width;
            std::cerr << "\r[" << std::string(static_cast<std::size_t>(filled), '#')
                      << std::string(static_cast<std::size_t>(width - filled), '.') << "] " << done
                      << "/" << total << " log entries" << std::flush;
        };
    }

    std::unique_ptr<storage::database> db;
    std::unique_ptr<storage::blob_store> blobs;
    std::unique_ptr<protocols::audit_source> source;
    if (!r.url.empty()) {
        auto key = crypto::read_small_file(r.key_file, 4096);
        while (!key.empty() && (key.back() == '\n' || key.back() == '\r'))
            key.pop_back();
        source = audit_api_source(r.url, key, std::chrono::seconds(120));
    } else {
        // The store as it is: opened without migrating, so that the audit changes nothing.
        auto cfg = load_config(o);
        if (!std::filesystem::exists(cfg.storage.data_dir))
            throw std::invalid_argument("no data directory " + cfg.storage.data_dir.string());
        db = storage::database::open(cfg.database_url(), 2, protocols::rfc9162_tree_hasher());
        blobs = std::make_unique<storage::blob_store>(cfg.storage.data_dir / "blobs");
        source = protocols::data_directory_source(*db, *blobs, cfg.storage.data_dir.string());
    }

    auto report = protocols::run_audit(*source, options);
    if (terminal)
        std::cerr << "\n";
    using verdict = protocols::check_result::verdict;
    auto failures = report.findings.count(verdict::fails);
    auto warnings = report.findings.count(verdict::warning);
    double rate = report.seconds > 0 ? report.records / report.seconds : 0;
    if (r.json) {
        nlohmann::json list = nlohmann::json::array();
        for (const auto& c : report.findings.checks)
            list.push_back({{"severity", c.outcome == verdict::fails ? "error" : "warning"},
                            {"where", c.item},
                            {"what", c.detail}});
        nlohmann::json out = {{"source", source->describe()},
                              {"verdict", report.clean() ? "clean" : "findings"},
                              {"errors", failures},
                              {"warnings", warnings},
                              {"records", report.records},
                              {"log_entries", report.log_entries},
                              {"checkpoints", report.checkpoints},
                              {"letters", report.letters},
                              {"documents", report.documents},
                              {"seconds", report.seconds},
                              {"records_per_second", rate},
                              {"findings", list}};
        std::cout << out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    } else {
        for (const auto& c : report.findings.checks)
            std::cout << (c.outcome == verdict::fails ? "ERROR    " : "WARNING  ") << c.item << ": "
                      << c.detail << "\n";
        std::cout << (report.clean() ? "CLEAN: " : "FINDINGS: ") << source->describe() << ": "
                  << report.records << " records, " << report.log_entries << " log entries, "
                  << report.checkpoints << " checkpoints, " << report.letters << " letters, "
                  << report.documents << " documents checked in " << std::fixed
                  << std::setprecision(2) << report.seconds << std::defaultfloat << " s ("
                  << static_cast<long long>(rate) << " records/s); " << failures << " errors, "
                  << warnings << " warnings\n";
    }
    return report.clean() ? 0 : 1;
}

/// `sceau auditor add|list|revoke`: one of `name` (add), `list`, `revoke_id` is set.
int manage_auditors(storage::database& db, const std::string& name, bool list, bool as_json,
                    const std::string& revoke_id) {
    if (!name.empty()) {
        if (name.size() > 200)
            throw std::invalid_argument("the auditor's name is at most 200 characters");
        storage::auditor_record a{crypto::random_id("aud_"), name, now_text(), ""};
        auto key = new_api_key("ak_");
        db.insert_auditor(a, api_key_hash(key));
        std::cerr << "created auditor " << a.id << "; its API key is shown once:\n";
        std::cout << key << std::endl; // only the key on standard output
        return 0;
    }
    if (list) {
        auto all = db.auditors();
        if (as_json) {
            nlohmann::json out = nlohmann::json::array();
            for (const auto& a : all)
                out.push_back(
                    {{"id", a.id},
                     {"name", a.name},
                     {"created_at", a.created_at},
                     {"revoked_at", a.revoked_at.empty() ? nlohmann::json(nullptr)
                                                         : nlohmann::json(a.revoked_at)}});
            std::cout << out.dump(2) << "\n";
        } else {
            for (const auto& a : all)
                std::cout << a.id << "\t" << a.name << "\t"
                          << (a.revoked_at.empty() ? "active" : "revoked " + a.revoked_at) << "\n";
        }
        return 0;
    }
    if (!db.revoke_auditor(revoke_id, now_text())) {
        auto all = db.auditors();
        bool known =
            std::any_of(all.begin(), all.end(), [&](const auto& a) { return a.id == revoke_id; });
        std::cerr << (known ? "auditor " + revoke_id + " was already revoked\n"
                            : "no auditor " + revoke_id + "\n");
        return known ? 0 : 1;
    }
    std::cerr << "revoked " << revoke_id << "\n";
    return 0;
}

/// `sceau checkpoint`: what the scheduler does at its interval, now.
int make_checkpoint(const common_options& o) {
    auto cfg = load_config(o);
    setup_logging("warn", cfg.log.format);
    auto a = app::open(cfg);
    auto latest = a->checkpoints().checkpoint_now();
    if (!latest) {
        std::cerr << "the log is empty: no checkpoint\n";
        return 0;
    }
    std::cerr << "checkpoint of " << latest->tree_size << " entries, time-stamped "
              << latest->stamped_at << ":\n";
    std::cout << latest->note;
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    CLI::App cli{"Sceau: electronic registered delivery gateway"};
    cli.require_subcommand(1);
    common_options common;

    auto* serve_cmd = cli.add_subcommand("serve", "run the HTTP API");
    add_common(serve_cmd, common);
    std::string listen, ready_file;
    serve_cmd->add_option("--listen", listen, "HOST:PORT to listen on (overrides server.listen)");
    serve_cmd->add_option("--ready-file", ready_file,
                          "write the bound HOST:PORT to this file once listening");
    long long clock_offset = 0;
    serve_cmd->add_option("--clock-offset", clock_offset,
                          "shift the clock by SECONDS (tests only: refused unless on the "
                          "sample keys and the built-in TSA)");

    auto* sender_cmd = cli.add_subcommand("sender", "manage senders and their API keys");
    sender_cmd->require_subcommand(1);
    auto* add_cmd = sender_cmd->add_subcommand("add", "create a sender; prints only its API key");
    add_common(add_cmd, common);
    std::string name, email, company, identified_by = "unspecified";
    add_cmd->add_option("--name", name, "the sender's name")->required();
    add_cmd->add_option("--email", email, "the sender's e-mail address")->required();
    add_cmd->add_option("--company", company, "the sender's company");
    add_cmd->add_option("--identified-by", identified_by,
                        "how the operator identified the sender (recorded in evidence)");
    auto* list_cmd = sender_cmd->add_subcommand("list", "list senders");
    add_common(list_cmd, common);
    bool as_json = false;
    list_cmd->add_flag("--json", as_json, "print JSON");
    auto* revoke_cmd = sender_cmd->add_subcommand("revoke", "revoke a sender's API key");
    add_common(revoke_cmd, common);
    std::string revoke_id;
    revoke_cmd->add_option("id", revoke_id, "the sender id (snd_...)")->required();
    auto* webhook_cmd = sender_cmd->add_subcommand(
        "webhook", "set a sender's webhook URL with a new secret (prints only the secret), or "
                   "remove it");
    add_common(webhook_cmd, common);
    std::string webhook_id, webhook_url;
    bool webhook_clear = false;
    webhook_cmd->add_option("--id", webhook_id, "the sender id (snd_...)")->required();
    auto* url_option = webhook_cmd->add_option(
        "--url", webhook_url, "where each new evidence event is POSTed (http or https)");
    webhook_cmd
        ->add_flag("--clear", webhook_clear, "remove the webhook; queued events are then skipped")
        ->excludes(url_option);

    auto* auditor_cmd = cli.add_subcommand("auditor", "manage auditors' API keys (audit routes)");
    auditor_cmd->require_subcommand(1);
    auto* auditor_add_cmd =
        auditor_cmd->add_subcommand("add", "create an auditor; prints only its API key");
    add_common(auditor_add_cmd, common);
    std::string auditor_name;
    auditor_add_cmd->add_option("--name", auditor_name, "who the auditor is (body and person)")
        ->required();
    auto* auditor_list_cmd = auditor_cmd->add_subcommand("list", "list auditors");
    add_common(auditor_list_cmd, common);
    auditor_list_cmd->add_flag("--json", as_json, "print JSON");
    auto* auditor_revoke_cmd = auditor_cmd->add_subcommand("revoke", "revoke an auditor's key");
    add_common(auditor_revoke_cmd, common);
    std::string auditor_id;
    auditor_revoke_cmd->add_option("id", auditor_id, "the auditor id (aud_...)")->required();

    auto* checkpoint_cmd = cli.add_subcommand(
        "checkpoint", "sign and time-stamp a checkpoint of the transparency log if it grew; "
                      "prints the latest signed checkpoint");
    add_common(checkpoint_cmd, common);

    auto* version_cmd = cli.add_subcommand("version", "print versions");

    auto* verify_cmd = cli.add_subcommand(
        "verify", "check a proof bundle offline: a verdict per item, then "
                  "overall; exit status 0 unless a check fails (warnings do not)");
    std::string bundle_path;
    std::vector<std::string> trust_files;
    bool verify_json = false;
    verify_cmd->add_option("bundle", bundle_path, "the bundle (.asice)")
        ->required()
        ->check(CLI::ExistingFile);
    verify_cmd
        ->add_option("--trust", trust_files,
                     "PEM file of trust anchors for the seal and the time-stamps (repeatable); "
                     "default: the bundle's own, with a warning")
        ->check(CLI::ExistingFile);
    verify_cmd->add_flag("--json", verify_json, "print a JSON report");

    auto* audit_cmd = cli.add_subcommand(
        "audit", "check the whole archive: seals, time-stamps, the log and its checkpoints, "
                 "letters and documents; exit status 1 on any error (warnings do not)");
    add_common(audit_cmd, common);
    audit_request audit_args;
    audit_cmd->add_option("--url", audit_args.url,
                          "a running gateway's base URL: audit its API instead of a data "
                          "directory");
    audit_cmd
        ->add_option("--key-file", audit_args.key_file,
                     "file holding an auditor's API key (with --url)")
        ->check(CLI::ExistingFile);
    audit_cmd
        ->add_option("--trust", audit_args.trust_files,
                     "PEM file of trust anchors for the seal and the time-stamps (repeatable)")
        ->required()
        ->check(CLI::ExistingFile);
    audit_cmd
        ->add_option("--previous", audit_args.previous,
                     "a signed checkpoint kept from an earlier audit: the log must extend it")
        ->check(CLI::ExistingFile);
    audit_cmd->add_option("--threads", audit_args.threads, "verifying threads (default: cores)");
    audit_cmd->add_flag("--cross-check", audit_args.cross_check,
                        "verify every record again with xmlsec1 and OpenSSL's PKCS#7 code, and "
                        "report where they disagree with the audit's own verification");
    audit_cmd->add_flag("--json", audit_args.json, "print a JSON report");

    // The gateway runs itself this way to check deposited PDFs in bounded processes.
    auto* checker_cmd = cli.add_subcommand(
        "pdf-checker", "check the PDFs passed on descriptor 3 (started by serve)");
    checker_cmd->group(""); // not for operators: hidden from the help
    std::uint64_t checker_memory = 0;
    long long checker_seconds = 0;
    unsigned checker_checks = 0;
    checker_cmd->add_option("--max-memory-bytes", checker_memory)->required();
    checker_cmd->add_option("--max-seconds", checker_seconds)
        ->required()
        ->check(CLI::Range(1ll, 3600ll));
    checker_cmd->add_option("--checks", checker_checks)
        ->required()
        ->check(CLI::Range(1u, 1'000'000u));

    CLI11_PARSE(cli, argc, argv);

    if (checker_cmd->parsed())
        return protocols::serve_pdf_checks(3, checker_memory, std::chrono::seconds(checker_seconds),
                                           checker_checks);

    try {
        if (serve_cmd->parsed())
            return serve(common, listen, ready_file, clock_offset);

        if (verify_cmd->parsed())
            return verify(bundle_path, trust_files, verify_json);

        if (audit_cmd->parsed()) {
            if (!audit_args.url.empty() && audit_args.key_file.empty())
                throw std::invalid_argument("--url needs --key-file with an auditor's key");
            return audit(common, audit_args);
        }

        if (version_cmd->parsed()) {
            std::cout << "sceau " << SCEAU_VERSION << "\n";
            for (const auto& [lib, v] : library_versions())
                std::cout << lib << " " << v << "\n";
            return 0;
        }

        if (checkpoint_cmd->parsed())
            return make_checkpoint(common);

        auto cfg = load_config(common);
        auto db = app::open_database(cfg);
        if (auditor_cmd->parsed())
            return manage_auditors(*db, auditor_add_cmd->parsed() ? auditor_name : "",
                                   auditor_list_cmd->parsed(), as_json,
                                   auditor_revoke_cmd->parsed() ? auditor_id : "");
        if (add_cmd->parsed()) {
            storage::sender_record s;
            s.id = crypto::random_id("snd_");
            s.name = name;
            s.email = email;
            s.company = company;
            s.identified_by = identified_by;
            s.created_at = now_text();
            check_sender(s);
            if (add_cmd->count("--identified-by") == 0)
                std::cerr << "sceau: warning: no --identified-by: the sender's evidence will say "
                             "their identity was checked in an unspecified way\n";
            auto key = new_api_key();
            try {
                db->insert_sender(s, api_key_hash(key));
            } catch (const storage::storage_error& e) {
                if (e.which() != storage::storage_error::kind::conflict)
                    throw;
                std::cerr << "sceau: a sender with this e-mail address already exists\n";
                return 1;
            }
            std::cerr << "created sender " << s.id << "; its API key is shown once:\n";
            std::cout << key << std::endl; // only the key on standard output
            return 0;
        }
        if (list_cmd->parsed()) {
            auto all = db->senders();
            if (as_json) {
                nlohmann::json out = nlohmann::json::array();
                for (const auto& s : all)
                    out.push_back(
                        {{"id", s.id},
                         {"name", s.name},
                         {"email", s.email},
                         {"company", s.company},
                         {"identified_by", s.identified_by},
                         {"created_at", s.created_at},
                         {"revoked_at", s.revoked_at.empty() ? nlohmann::json(nullptr)
                                                             : nlohmann::json(s.revoked_at)},
                         {"webhook_url", s.webhook_url.empty() ? nlohmann::json(nullptr)
                                                               : nlohmann::json(s.webhook_url)}});
                std::cout << out.dump(2) << "\n";
            } else {
                for (const auto& s : all)
                    std::cout << s.id << "\t" << s.name << "\t" << s.email << "\t"
                              << (s.revoked_at.empty() ? "active" : "revoked " + s.revoked_at)
                              << "\t" << (s.webhook_url.empty() ? "no webhook" : "webhook") << "\n";
            }
            return 0;
        }
        if (revoke_cmd->parsed()) {
            if (!db->sender_by_id(revoke_id)) {
                std::cerr << "no sender " << revoke_id << "\n";
                return 1;
            }
            if (!db->revoke_sender(revoke_id, now_text()))
                std::cerr << "sender " << revoke_id << " was already revoked\n";
            else
                std::cerr << "revoked " << revoke_id << "\n";
            return 0;
        }
        if (webhook_cmd->parsed()) {
            if (!webhook_clear && webhook_url.empty())
                throw std::invalid_argument("give --url URL, or --clear to remove the webhook");
            if (!webhook_clear)
                protocols::check_webhook_url(webhook_url);
            if (!db->sender_by_id(webhook_id)) {
                std::cerr << "no sender " << webhook_id << "\n";
                return 1;
            }
            if (webhook_clear) {
                db->set_webhook(webhook_id, "", "");
                std::cerr << "removed the webhook of " << webhook_id
                          << "; events still queued for it will be skipped\n";
                return 0;
            }
            // A new URL always comes with a new secret, which also signs the events queued.
            auto secret = protocols::new_webhook_secret();
            db->set_webhook(webhook_id, webhook_url, secret);
            std::cerr << "webhook of " << webhook_id << " set; its signing secret is shown once:\n";
            std::cout << secret << std::endl; // only the secret on standard output
            return 0;
        }
    } catch (const std::exception& e) {
        std::cerr << "sceau: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
