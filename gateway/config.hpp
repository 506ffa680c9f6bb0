#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace sceau::gateway {

/// Every setting of the gateway. Each member's initialiser is its embedded default;
/// docs/configuration.md documents each key of the TOML file.
struct config {
    struct server_section {
        std::string listen = "127.0.0.1:8080";
        unsigned threads = 0;   ///< 0: twice the number of cores
        std::string public_url; ///< base of links sent to recipients; empty: http://LISTEN
        bool metrics = true;    ///< serve GET /metrics
    } server;

    struct storage_section {
        std::filesystem::path data_dir = "data";
        std::string database; ///< empty: sqlite:DATA_DIR/sceau.db
    } storage;

    struct limits_section {
        std::uint64_t max_body_bytes = 256ull << 20; ///< one deposit request
        std::uint64_t max_document_bytes = 256ull << 20;
        std::size_t max_documents = 20;
        std::size_t max_parts = 32;
        std::size_t max_letter_bytes = 64 << 10; ///< the `letter` JSON part
        std::size_t max_header_bytes = 16 << 10; ///< request line and headers
        std::size_t max_part_header_bytes = 8 << 10;
        std::chrono::seconds header_timeout{15};   ///< to receive the headers
        std::chrono::seconds idle_timeout{30};     ///< between two body reads
        std::chrono::seconds request_timeout{900}; ///< a whole request
        std::chrono::seconds keep_alive_timeout{60};
        std::size_t max_connections = 1024;
    } limits;

    struct provider_section {
        std::string name = "Sceau demo provider";
        std::vector<std::string> policies = {"urn:sceau:policy:erds:1"};
    } provider;

    struct seal_section {
        std::filesystem::path key;         ///< PEM; empty: the sample seal
        std::filesystem::path certificate; ///< PEM chain, seal first
        std::filesystem::path trust_anchor;
    } seal;

    struct tsa_section {
        std::string url; ///< empty: the built-in TSA
        std::chrono::milliseconds timeout{10000};
        std::string policy; ///< required TSA policy OID; empty: any
        std::filesystem::path trust_anchors;
        std::filesystem::path certificates; ///< known TSA certificates (tokens without)
        bool qualified = false;
        std::filesystem::path builtin_key; ///< empty: the sample TSA
        std::filesystem::path builtin_certificate;
        std::string builtin_policy = "2.25.264832184774882920688410953493971328165";
        unsigned retry_after_seconds = 30;
    } tsa;

    struct mail_section {
        std::string relay; ///< smtp://HOST:PORT or smtps://...; empty: the outbox
        std::string from = "Sceau demo provider <no-reply@sceau.invalid>";
        bool starttls = true;
        std::string username;
        std::string password;
        std::chrono::milliseconds timeout{30000};
        std::filesystem::path ca_file;
    } mail;

    struct lifecycle_section {
        std::vector<int> reminder_days = {7, 2};
        std::chrono::seconds worker_interval{5};
        std::chrono::seconds first_retry{60};
        std::chrono::hours give_up_after{48};
    } lifecycle;

    struct recipient_section {
        unsigned session_minutes = 30;
        unsigned code_minutes = 10;
        unsigned code_digits = 8;
        unsigned code_attempts = 5;
        unsigned codes_per_session = 3;
        unsigned codes_per_letter_per_hour = 10;
    } recipient;

    struct identification_section {
        std::string lre_level = "substantial"; ///< eIDAS level an lre needs: substantial or high
        unsigned request_minutes = 10;         ///< how long an identity provider may take
    } identification;

    struct saml_section {
        std::filesystem::path node_metadata;        ///< the eIDAS node's SAML metadata (XML)
        std::filesystem::path node_metadata_signer; ///< PEM: the metadata must be signed by it
        std::string node_entity_id;                 ///< which entity of the metadata; or with PEM
        std::string node_sso_url;                   ///< with node_certificate, instead of metadata
        std::filesystem::path node_certificate;
        std::string sp_entity_id;             ///< empty: PUBLIC_URL/auth/saml/metadata
        std::filesystem::path sp_key;         ///< empty: the seal's key
        std::filesystem::path sp_certificate; ///< empty: the seal's certificate
        unsigned clock_skew_seconds = 60;
        std::size_t max_response_bytes = 256 << 10; ///< a SAMLResponse as posted (base64)
        std::string sp_type = "private";
        bool demo_node = false; ///< the built-in demo eIDAS node: sample keys, no other node
    } saml;

    /// One OpenID Connect provider, `[oidc.NAME]` in the file (NAME: a-z, 0-9, '-').
    struct oidc_provider_section {
        std::string name;   ///< the table's name: routes and logs
        std::string label;  ///< what the recipient's page offers; empty: the name
        std::string issuer; ///< exactly as the provider's `iss`
        std::string client_id;
        std::string client_secret;
        std::string token_auth_method = "client_secret_basic"; ///< or client_secret_post
        std::string redirect_base; ///< empty: the public URL; + /auth/oidc/callback
        std::vector<std::string> algorithms = {"ES256", "RS256"};
        std::vector<std::string> acr_values = {"eidas1", "eidas2", "eidas3"};
        std::vector<std::string> acr_levels = {"low", "substantial", "high"}; ///< one per acr
        std::vector<std::string> scopes = {"openid", "given_name", "family_name", "birthdate"};
        std::vector<std::string> claims;    ///< asked for as essential; empty: no claims parameter
        std::string usage_name_claim;       ///< e.g. preferred_username; empty: none
        std::string authorization_endpoint; ///< the endpoints: empty ones come from discovery
        std::string token_endpoint;
        std::string userinfo_endpoint;
        std::string jwks_uri;
        unsigned clock_skew_seconds = 60;
        std::chrono::milliseconds timeout{10000}; ///< each request to the provider
        std::size_t max_response_bytes = 256 << 10;
        unsigned keys_refresh_seconds = 60;
        unsigned metadata_lifetime_seconds = 86400;
    };
    std::vector<oidc_provider_section> oidc;

    struct webhooks_section {
        std::chrono::milliseconds timeout{10000};        ///< one whole attempt
        std::chrono::milliseconds connect_timeout{5000}; ///< the connection alone
        std::chrono::seconds first_retry{60};            ///< then doubling, at most an hour
        std::chrono::hours give_up_after{72};            ///< at least 48
        int batch = 20;                                  ///< deliveries per worker run
    } webhooks;

    struct deposit_section {
        std::vector<std::string> allowed_media_types = {"application/pdf"};
        std::uint64_t pdf_check_memory_mib = 1024;  ///< address space of one PDF checker
        std::chrono::seconds pdf_check_timeout{60}; ///< wall-clock time of one PDF check
        unsigned pdf_checkers = 0;                  ///< 0: as many as server_threads()
        unsigned pdf_checks_per_checker = 1000;     ///< then a fresh process takes over
    } deposit;

    struct retention_section {
        int documents_days = 3650; ///< documents' bytes are purged after; at least 365
        int purge_batch = 100;     ///< documents purged per worker run
    } retention;

    struct bundle_section {
        int share_default_days = 30; ///< a share link's life when the sender gives none
        int share_max_days = 365;    ///< the longest a share link may live
    } bundle;
    struct audit_section {
        /// The log's name: the checkpoint origin and the note key name. Unique per log.
        std::string origin = "sceau.invalid/log";
        std::chrono::seconds checkpoint_interval{300}; ///< between checkpoints, if it grew
        unsigned max_entries = 100;                    ///< records per /v1/audit/entries page
    } audit;

    struct log_section {
        std::string level = "info";
        std::string format = "text"; ///< text or json
    } log;

    /// Reads a TOML file over the defaults. Unknown keys are an error, so that a typo
    /// never silently leaves a default in place.
    static config load(const std::filesystem::path& file);

    /// The defaults.
    static config defaults() { return {}; }

    /// server.threads with the default resolved: the I/O threads, and as many deposit
    /// work threads.
    unsigned server_threads() const;

    /// The database connection string, with the default resolved.
    std::string database_url() const;

    /// The base URL of links to recipient pages, with the default resolved.
    std::string recipient_base_url() const;
};

class config_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Splits "HOST:PORT" (or "[v6]:PORT"). Throws config_error.
std::pair<std::string, unsigned short> split_listen(const std::string& listen);

} // namespace sceau::gateway
