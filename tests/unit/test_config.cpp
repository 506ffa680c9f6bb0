#include "gateway/config.hpp"
#include "support/fixtures.hpp"

#include <catch2/catch.hpp>

using namespace sceau;
using gateway::config;

TEST_CASE("a configuration file overrides defaults and resolves relative paths",
          "[gateway][config]") {
    test::temp_dir dir;
    test::write_file(dir / "s.toml", R"(
[server]
listen = "[::1]:9090"
[storage]
data_dir = "var"
[limits]
max_documents = 3
idle_timeout_seconds = 5
[provider]
name = "Poste Exemple"
policies = ["urn:example:policy"]
)");
    auto c = config::load(dir / "s.toml");
    CHECK(c.server.listen == "[::1]:9090");
    CHECK(c.storage.data_dir == dir / "var");
    CHECK(c.database_url() == "sqlite:" + (dir / "var" / "sceau.db").string());
    CHECK(c.limits.max_documents == 3);
    CHECK(c.limits.idle_timeout == std::chrono::seconds(5));
    CHECK(c.limits.max_body_bytes == config::defaults().limits.max_body_bytes);
    CHECK(c.provider.policies == std::vector<std::string>{"urn:example:policy"});
    CHECK(gateway::split_listen(c.server.listen) ==
          std::pair<std::string, unsigned short>{"::1", 9090});
}

TEST_CASE("the mail, lifecycle and recipient sections are read", "[gateway][config]") {
    test::temp_dir dir;
    test::write_file(dir / "m.toml", R"(
[mail]
relay = "smtp://127.0.0.1:2525"
starttls = false
from = "Poste Exemple <avis@poste.example>"
[lifecycle]
worker_interval_seconds = 1
reminder_days = [3]
[recipient]
code_attempts = 2
)");
    auto c = config::load(dir / "m.toml");
    CHECK(c.mail.relay == "smtp://127.0.0.1:2525");
    CHECK_FALSE(c.mail.starttls);
    CHECK(c.mail.from == "Poste Exemple <avis@poste.example>");
    CHECK(c.lifecycle.worker_interval == std::chrono::seconds(1));
    CHECK(c.lifecycle.reminder_days == std::vector<int>{3});
    CHECK(c.recipient.code_attempts == 2);
    CHECK(c.recipient.code_digits == config::defaults().recipient.code_digits);
}

TEST_CASE("mistakes in a configuration file are errors, not silent defaults", "[gateway][config]") {
    test::temp_dir dir;
    auto refused = [&](const std::string& text) {
        INFO(text);
        test::write_file(dir / "bad.toml", text);
        CHECK_THROWS_AS(config::load(dir / "bad.toml"), gateway::config_error);
    };
    refused("[limits]\nmax_document = 3\n"); // typo in a key
    refused("[limit]\nmax_documents = 3\n"); // typo in a section
    refused("[limits]\nmax_documents = -1\n");
    refused("[limits]\nidle_timeout_seconds = 0\n");
    refused("[server]\nlisten = \"8080\"\n");
    refused("[server]\nlisten = \"127.0.0.1:99999\"\n");
    refused("[seal]\nkey = \"k.pem\"\n");              // key without certificate
    refused("[tsa]\nurl = \"http://tsa.example/\"\n"); // external TSA without trust anchors
    refused("[deposit]\nallowed_media_types = \"application/pdf\"\n");
    refused("[mail]\nrelais = \"smtp://127.0.0.1:25\"\n");
    refused("[lifecycle]\nworker_interval_seconds = 0\n");
    refused("[recipient]\ncode_digits = 4\n");
    refused("not toml at all = = =");
    refused("[webhooks]\ngive_up_after_hours = 47\n"); // under the 48 hours promised
    refused("[webhooks]\nbatch = 0\n");
    refused("[webhooks]\nretries = 5\n");
    refused("[webhooks]\ntimeout_ms = 0\n");
    refused("[saml]\nmax_response_bytes = 1023\n");
    refused("[saml]\nmax_response_bytes = 4194305\n");
}

TEST_CASE("values a setting cannot hold, or that would harm the gateway, are errors",
          "[gateway][config][hostile]") {
    test::temp_dir dir;
    auto refused = [&](const std::string& text, const char* key) {
        INFO(text);
        test::write_file(dir / "bad.toml", text);
        CHECK_THROWS_WITH(config::load(dir / "bad.toml"), Catch::Contains(key));
    };
    // 2^32 + 6 would wrap to 6 digits; 2^32 + 1 threads to one.
    refused("[recipient]\ncode_digits = 4294967302\n", "recipient.code_digits");
    refused("[server]\nthreads = 4294967297\n", "server.threads");
    refused("[server]\nthreads = 100000\n", "server.threads");
    refused("[limits]\nmax_header_bytes = 4294967296\n", "limits.max_header_bytes");
    refused("[limits]\nmax_letter_bytes = 1099511627776\n", "limits.max_letter_bytes");
    refused("[limits]\nidle_timeout_seconds = 9223372036854775807\n", "idle_timeout_seconds");
    refused("[webhooks]\ngive_up_after_hours = 9000000000000\n", "give_up_after_hours");
    // Each checking process may take pdf_check_memory_mib; each lives for so many checks.
    refused("[deposit]\npdf_checkers = 1025\n", "deposit.pdf_checkers");
    refused("[deposit]\npdf_checks_per_checker = 0\n", "deposit.pdf_checks_per_checker");
    refused("[deposit]\npdf_checks_per_checker = 1000001\n", "deposit.pdf_checks_per_checker");
    refused("[deposit]\npdf_check_timeout_seconds = 3601\n", "deposit.pdf_check_timeout_seconds");
    // Texts sealed into every record, written into every mail.
    refused("[provider]\nname = \"Evil\\u001b[31m\"\n", "provider.name");
    refused("[provider]\nname = \"\"\n", "provider.name");
    refused("[provider]\nname = \"Prov\\u202eider\"\n", "provider.name");
    refused("[mail]\nfrom = \"Sceau <no-reply@sceau.example>\\r\\nBcc: x@evil.example\"\n",
            "mail.from");
    refused("[mail]\nfrom = \"no address\"\n", "mail.from");
    refused("[server]\npublic_url = \"javascript:alert(1)\"\n", "server.public_url");
    refused("[server]\npublic_url = \"https://lre.example/\\\"><x\"\n", "server.public_url");

    test::write_file(dir / "checkers.toml",
                     "[server]\nthreads = 3\n[deposit]\npdf_checkers = 1024\n"
                     "pdf_checks_per_checker = 1\n");
    auto checkers = config::load(dir / "checkers.toml");
    CHECK(checkers.deposit.pdf_checkers == 1024);
    CHECK(checkers.deposit.pdf_checks_per_checker == 1);
    CHECK(checkers.server_threads() == 3);
    CHECK(config::defaults().deposit.pdf_checkers == 0); // one per deposit work thread
    CHECK(config::defaults().server_threads() >= 2);

    test::write_file(dir / "good.toml", "[provider]\nname = \"Étude Durand – LRE\"\n"
                                        "[mail]\nfrom = \"Étude <lre@étude.example>\"\n"
                                        "[server]\npublic_url = \"https://lre.example\"\n");
    auto c = config::load(dir / "good.toml");
    CHECK(c.provider.name == "Étude Durand – LRE");
}

TEST_CASE("the webhooks, mail and lifecycle sections are read", "[gateway][config]") {
    test::temp_dir dir;
    test::write_file(dir / "w.toml", R"(
[mail]
relay = "smtp://relay.example:587"
[lifecycle]
reminder_days = [3]
[webhooks]
timeout_ms = 2500
connect_timeout_ms = 1000
first_retry_seconds = 30
give_up_after_hours = 96
batch = 5
)");
    auto c = config::load(dir / "w.toml");
    CHECK(c.mail.relay == "smtp://relay.example:587");
    CHECK(c.lifecycle.reminder_days == std::vector<int>{3});
    CHECK(c.webhooks.timeout == std::chrono::milliseconds(2500));
    CHECK(c.webhooks.connect_timeout == std::chrono::milliseconds(1000));
    CHECK(c.webhooks.first_retry == std::chrono::seconds(30));
    CHECK(c.webhooks.give_up_after == std::chrono::hours(96));
    CHECK(c.webhooks.batch == 5);

    auto d = config::defaults().webhooks;
    CHECK(d.timeout == std::chrono::seconds(10));
    CHECK(d.give_up_after == std::chrono::hours(72));
}

TEST_CASE("the demo eIDAS node is off by default and never stands next to a real node",
          "[gateway][config][saml]") {
    CHECK_FALSE(config::defaults().saml.demo_node);
    test::temp_dir dir;
    test::write_file(dir / "demo.toml", "[saml]\ndemo_node = true\n");
    CHECK(config::load(dir / "demo.toml").saml.demo_node);
    test::write_file(dir / "node.toml", "[saml]\nnode_metadata = \"node.xml\"\n"
                                        "node_metadata_signer = \"federation.pem\"\n");
    auto signed_node = config::load(dir / "node.toml");
    CHECK_FALSE(signed_node.saml.demo_node);
    CHECK(signed_node.saml.node_metadata_signer == dir / "federation.pem");
    CHECK(signed_node.saml.max_response_bytes == 256u << 10);
    test::write_file(dir / "large.toml",
                     "[saml]\ndemo_node = true\nmax_response_bytes = 1048576\n");
    CHECK(config::load(dir / "large.toml").saml.max_response_bytes == 1u << 20);
    for (auto node : {"node_metadata = \"node.xml\"", "node_certificate = \"node.pem\""}) {
        test::write_file(dir / "both.toml", std::string("[saml]\ndemo_node = true\n") + node +
                                                "\nnode_entity_id = \"https://node.example\"\n");
        CHECK_THROWS_AS(config::load(dir / "both.toml"), gateway::config_error);
    }
}

TEST_CASE("OpenID Connect providers are read one table each, and checked", "[gateway][config]") {
    test::temp_dir dir;
    test::write_file(dir / "o.toml", R"(
[oidc.franceconnect]
label = "FranceConnect+"
issuer = "https://auth.fcp.example"
client_id = "client-1"
client_secret = "secret-1"
token_auth_method = "client_secret_post"
algorithms = ["ES256"]
usage_name_claim = "preferred_username"
scopes = ["openid", "given_name", "family_name", "birthdate", "preferred_username"]
timeout_ms = 5000

[oidc.other]
issuer = "https://op.example"
client_id = "client-2"
client_secret = "secret-2"
acr_values = ["loa-2", "loa-3"]
acr_levels = ["substantial", "high"]
)");
    auto c = config::load(dir / "o.toml");
    REQUIRE(c.oidc.size() == 2);
    const auto& fc = c.oidc[0].name == "franceconnect" ? c.oidc[0] : c.oidc[1];
    const auto& other = c.oidc[0].name == "franceconnect" ? c.oidc[1] : c.oidc[0];
    CHECK(fc.label == "FranceConnect+");
    CHECK(fc.token_auth_method == "client_secret_post");
    CHECK(fc.algorithms == std::vector<std::string>{"ES256"});
    CHECK(fc.acr_values == std::vector<std::string>{"eidas1", "eidas2", "eidas3"});
    CHECK(fc.timeout == std::chrono::milliseconds(5000));
    CHECK(fc.usage_name_claim == "preferred_username");
    CHECK(other.acr_levels == std::vector<std::string>{"substantial", "high"});
    CHECK(other.token_auth_method == "client_secret_basic");
    CHECK(config::defaults().oidc.empty());

    auto refused = [&](const std::string& text, const std::string& says) {
        INFO(text);
        test::write_file(dir / "bad.toml", text);
        try {
            config::load(dir / "bad.toml");
            FAIL("accepted");
        } catch (const gateway::config_error& e) {
            CHECK_THAT(e.what(), Catch::Contains(says));
        }
    };
    const std::string base = "issuer = \"https://op.example\"\nclient_id = \"c\"\n"
                             "client_secret = \"s\"\n";
    refused("[oidc.fc]\n" + base + "scope = [\"openid\"]\n", "unknown key oidc.fc.scope");
    refused("[oidc.fc]\nissuer = \"https://op.example\"\n", "client_id");
    refused("[oidc.FC]\n" + base, "a provider's name");
    refused("[oidc.fc]\n" + base + "acr_values = [\"a\", \"b\"]\n", "one level per acr");
    refused("[oidc.fc]\n" + base + "acr_levels = [\"low\", \"substantial\", \"highest\"]\n",
            "highest");
    refused("[oidc]\nissuer = \"https://op.example\"\n", "[oidc.NAME]");
    refused("[oidc.fc]\n" + base + "clock_skew_seconds = 601\n", "at most 600");
}

TEST_CASE("the audit section names the log and bounds its pages", "[gateway][config]") {
    test::temp_dir dir;
    test::write_file(dir / "a.toml", R"(
[storage]
database = "host=db.example dbname=sceau"
[audit]
origin = "lettres.example/sceau-log"
checkpoint_interval_seconds = 60
max_entries = 50
)");
    auto c = config::load(dir / "a.toml");
    CHECK(c.database_url() == "host=db.example dbname=sceau");
    CHECK(c.audit.origin == "lettres.example/sceau-log");
    CHECK(c.audit.checkpoint_interval == std::chrono::seconds(60));
    CHECK(c.audit.max_entries == 50);
    CHECK(config::defaults().audit.origin == "sceau.invalid/log");
    CHECK(config::defaults().audit.checkpoint_interval == std::chrono::seconds(300));

    // The origin becomes a note key name: no space, no '+', printable ASCII.
    for (const char* bad :
         {"origin = \"a log\"", "origin = \"a+b\"", "origin = \"\"", "origin = \"journal-é\"",
          "max_entries = 0", "max_entries = 1001", "checkpoint_interval_seconds = 0"}) {
        INFO(bad);
        test::write_file(dir / "bad.toml", std::string("[audit]\n") + bad + "\n");
        CHECK_THROWS_AS(config::load(dir / "bad.toml"), gateway::config_error);
    }
}
