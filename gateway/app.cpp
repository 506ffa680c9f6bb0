#include "gateway/app.hpp"

#include "crypto/encoding.hpp"
#include "crypto/error.hpp"
#include "crypto/random.hpp"
#include "crypto/sha256.hpp"
#include "crypto/tsp_client.hpp"
#include "crypto/xml.hpp"
#include "gateway/logging.hpp"
#include "gateway/sample_pki.hpp"
#include "protocols/lifecycle.hpp"

namespace sceau::gateway {
namespace {

std::string pem_of(const std::filesystem::path& path, std::string_view fallback) {
    return path.empty() ? std::string(fallback) : crypto::read_small_file(path);
}

std::vector<crypto::x509_ptr> certificates_of(const std::filesystem::path& path) {
    return crypto::certificates_from_pem(crypto::read_small_file(path));
}

} // namespace

std::string api_key_hash(const std::string& key) {
    return crypto::to_hex(crypto::sha256::of(key));
}

std::string new_api_key(std::string_view prefix) {
    return std::string(prefix) + crypto::to_base64url(crypto::random_bytes(32));
}

std::unique_ptr<storage::database> app::open_database(const config& cfg) {
    std::filesystem::create_directories(cfg.storage.data_dir);
    auto db = storage::database::open(cfg.database_url(), cfg.server_threads() + 2,
                                      protocols::rfc9162_tree_hasher());
    db->migrate();
    return db;
}

std::unique_ptr<app> app::open(const config& cfg, std::chrono::seconds clock_offset) {
    crypto::xml_library_init();
    std::unique_ptr<app> a(new app());
    a->config_ = cfg;
    a->db_ = open_database(cfg);
    a->blobs_ = std::make_unique<storage::blob_store>(cfg.storage.data_dir / "blobs");

    // The seal. Without a configured one, the sample's: loudly not qualified.
    auto root_pem = std::string(sample_pki::root_certificate());
    auto seal = crypto::signer_identity::from_pem(
        pem_of(cfg.seal.key, sample_pki::seal_key()),
        pem_of(cfg.seal.certificate, sample_pki::seal_certificate()));
    auto sample_root = crypto::certificates_from_pem(root_pem);
    auto sample_fingerprint = crypto::fingerprint_sha256(sample_root.front().get());
    a->sample_keys_ = cfg.seal.key.empty();
    for (const auto& c : seal.chain)
        a->sample_keys_ = a->sample_keys_ ||
                          crypto::fingerprint_sha256(c.get()) == sample_fingerprint ||
                          X509_check_issued(sample_root.front().get(), c.get()) == X509_V_OK;

    // The demo node vouches for whoever asks: never next to a seal whose evidence counts.
    if (cfg.saml.demo_node && !a->sample_keys_)
        throw std::runtime_error(
            "saml.demo_node is on, but the seal is not the sample one: the demo eIDAS node "
            "vouches for anyone and runs only on the sample keys; turn it off");

    std::vector<crypto::x509_ptr> anchors;
    if (!cfg.seal.trust_anchor.empty())
        anchors = certificates_of(cfg.seal.trust_anchor);
    else
        anchors = crypto::certificates_from_pem(root_pem);
    for (const auto& c : seal.chain)
        a->seal_chain_pem_.push_back(crypto::to_pem(c.get()));
    for (const auto& c : anchors)
        a->anchors_pem_.push_back(crypto::to_pem(c.get()));

    // The time-stamping authority: external when configured, else the built-in one.
    if (clock_offset.count() != 0 && (!a->sample_keys_ || !cfg.tsa.url.empty()))
        throw std::runtime_error("a clock offset is only accepted on the sample keys with the "
                                 "built-in TSA");
    crypto::clock_fn clock = [clock_offset] {
        return std::chrono::system_clock::now() + clock_offset;
    };
    a->clock_ = clock;
    if (!cfg.tsa.url.empty()) {
        crypto::rfc3161_client::options o;
        o.url = cfg.tsa.url;
        o.timeout = cfg.tsa.timeout;
        o.trust.anchors = certificates_of(cfg.tsa.trust_anchors);
        if (!cfg.tsa.certificates.empty())
            o.trust.known_tsa_certificates = certificates_of(cfg.tsa.certificates);
        o.trust.policy_oid = cfg.tsa.policy;
        o.qualified = cfg.tsa.qualified;
        a->tsa_ = std::make_unique<crypto::rfc3161_client>(std::move(o));
    } else {
        auto identity = crypto::signer_identity::from_pem(
            pem_of(cfg.tsa.builtin_key, sample_pki::tsa_key()),
            pem_of(cfg.tsa.builtin_certificate, sample_pki::tsa_certificate()));
        a->tsa_ = std::make_unique<crypto::builtin_tsa>(std::move(identity), cfg.tsa.builtin_policy,
                                                        clock);
    }
    for (const auto& c : a->tsa_->certificates())
        a->tsa_pem_.push_back(crypto::to_pem(c.get()));
    a->qualified_ = !a->sample_keys_ && a->tsa_->qualified();

    a->signer_ = std::make_unique<crypto::xades_signer>(seal, *a->tsa_);
    a->sealer_ = std::make_unique<protocols::evidence_sealer>(*a->tsa_, *a->signer_, clock);

    protocols::provider_info provider;
    provider.name = cfg.provider.name;
    provider.policies = cfg.provider.policies;
    if (a->sample_keys_)
        provider.policies.emplace_back("urn:sceau:policy:sample-keys:not-qualified");
    provider.qualified = a->qualified_;
    protocols::deposit_policy policy;
    policy.allowed_media_types = cfg.deposit.allowed_media_types;
    // PDFs are checked by this same executable, run again as `sceau pdf-checker`: by default
    // one process for each deposit work thread, so that no deposit waits for one.
    const auto& d = cfg.deposit;
    a->pdf_checker_ = std::make_unique<protocols::pdf_checker_pool>(protocols::pdf_checker_options{
        "/proc/self/exe", d.pdf_check_memory_mib << 20, d.pdf_check_timeout,
        d.pdf_checkers ? d.pdf_checkers : cfg.server_threads(), d.pdf_checks_per_checker});
    policy.pdf_checker = a->pdf_checker_.get();
    a->deposits_ = std::make_unique<protocols::deposit_service>(*a->db_, *a->blobs_, *a->sealer_,
                                                                provider, std::move(policy), clock);
    a->lifecycle_ = std::make_unique<protocols::lifecycle>(*a->db_, *a->sealer_, provider, clock,
                                                           cfg.lifecycle.reminder_days);

    // Mail: through the relay when one is configured, else into the outbox directory.
    if (cfg.mail.relay.empty()) {
        a->mailer_ = std::make_unique<protocols::outbox_mailer>(cfg.storage.data_dir / "outbox");
    } else {
        protocols::smtp_mailer::options m;
        m.url = cfg.mail.relay;
        m.starttls = cfg.mail.starttls;
        m.username = cfg.mail.username;
        m.password = cfg.mail.password;
        m.timeout = cfg.mail.timeout;
        m.ca_file = cfg.mail.ca_file.string();
        a->mailer_ = std::make_unique<protocols::smtp_mailer>(std::move(m));
    }
    protocols::notification_options n;
    n.provider_name = cfg.provider.name;
    n.from = cfg.mail.from;
    n.base_url = cfg.recipient_base_url();
    n.first_retry = cfg.lifecycle.first_retry;
    n.give_up_after = cfg.lifecycle.give_up_after;
    a->notifications_ = std::make_unique<protocols::notification_service>(
        *a->db_, *a->lifecycle_, *a->mailer_, std::move(n), clock);

    const auto& r = cfg.recipient;
    protocols::recipient_access_options ro;
    ro.session_lifetime = std::chrono::minutes(r.session_minutes);
    ro.code_lifetime = std::chrono::minutes(r.code_minutes);
    ro.code_digits = static_cast<int>(r.code_digits);
    ro.code_attempts = static_cast<int>(r.code_attempts);
    ro.codes_per_session = static_cast<int>(r.codes_per_session);
    ro.codes_per_letter_per_hour = static_cast<int>(r.codes_per_letter_per_hour);
    ro.lre_level = std::string(protocols::loa::named(cfg.identification.lre_level));
    a->recipients_ = std::make_unique<protocols::recipient_access>(
        *a->db_, *a->lifecycle_, *a->mailer_, *a->notifications_, ro, clock);

    protocols::bundle_sources sources;
    sources.provider_name = cfg.provider.name;
    sources.seal_chain_pem = a->seal_chain_pem_;
    sources.tsa_pem = a->tsa_pem_;
    sources.anchors_pem = a->anchors_pem_;
    sources.qualified = a->qualified_;
    a->retention_ = std::make_unique<protocols::retention>(*a->db_, *a->blobs_,
                                                           cfg.retention.documents_days, clock);

    protocols::webhook_options hooks;
    hooks.timeout = cfg.webhooks.timeout;
    hooks.connect_timeout = cfg.webhooks.connect_timeout;
    hooks.first_retry = cfg.webhooks.first_retry;
    hooks.give_up_after = cfg.webhooks.give_up_after;
    hooks.batch = cfg.webhooks.batch;
    a->webhooks_ = std::make_unique<protocols::webhook_dispatcher>(*a->db_, hooks, clock);

    // The log's checkpoints are signed with the seal key, under the log's origin.
    try {
        a->note_signer_ = std::make_unique<crypto::note_signer>(cfg.audit.origin, seal.key.get());
    } catch (const crypto::error& e) {
        throw std::runtime_error(std::string("the seal key signs the log's checkpoints: ") +
                                 e.what());
    }
    a->checkpoints_ =
        std::make_unique<protocols::checkpointer>(*a->db_, *a->note_signer_, *a->tsa_, clock);
    a->bundles_ = std::make_unique<protocols::bundle_builder>(
        *a->db_, *a->blobs_, *a->signer_, *a->checkpoints_, std::move(sources), clock);

    std::vector<std::pair<std::string, std::string>> build = {{"version", SCEAU_VERSION}};
    for (const auto& [name, version] : library_versions())
        build.emplace_back(name, version);
    auto* db = a->db_.get();
    a->metrics_ = std::make_unique<gateway::metrics>(std::move(build), a->qualified_, [db, clock] {
        auto now = clock();
        return db->operational(crypto::format_utc(now),
                               crypto::format_utc(now - std::chrono::hours(24)));
    });
    return a;
}

protocols::oidc::relying_party* app::oidc_provider(std::string_view name) {
    for (const auto& rp : oidc_) {
        if (rp->config().id == name)
            return rp.get();
    }
    return nullptr;
}

void app::sweep_uploads() {
    // Leftovers of uploads a crash cut short. On SQLite this instance is the only one: all
    // are dead. On PostgreSQL other instances may share the data directory: only uploads
    // idle for longer than a request may last are.
    blobs_->sweep_temporary(db_->kind() == storage::database::backend::sqlite
                                ? std::chrono::seconds(0)
                                : config_.limits.request_timeout + config_.limits.idle_timeout);
}

void app::set_public_base(const std::string& base_url) {
    public_base_ = base_url;
    while (!public_base_.empty() && public_base_.back() == '/')
        public_base_.pop_back();
    notifications_->set_base_url(public_base_);

    // OpenID Connect providers: nothing is fetched before a recipient needs one.
    for (const auto& o : config_.oidc) {
        protocols::oidc::provider_config p;
        p.id = o.name;
        p.label = o.label.empty() ? o.name : o.label;
        p.issuer = o.issuer;
        p.client_id = o.client_id;
        p.client_secret = o.client_secret;
        p.token_auth_method = o.token_auth_method;
        auto redirect_base = o.redirect_base.empty() ? public_base_ : o.redirect_base;
        while (!redirect_base.empty() && redirect_base.back() == '/')
            redirect_base.pop_back();
        p.redirect_uri = redirect_base + "/auth/oidc/callback";
        p.algorithms = o.algorithms;
        p.acr_levels.clear();
        for (std::size_t i = 0; i < o.acr_values.size(); ++i)
            p.acr_levels.emplace_back(o.acr_values[i],
                                      std::string(protocols::loa::named(o.acr_levels[i])));
        p.scopes = o.scopes;
        p.claims = o.claims;
        p.usage_name_claim = o.usage_name_claim;
        p.endpoints.authorization_endpoint = o.authorization_endpoint;
        p.endpoints.token_endpoint = o.token_endpoint;
        p.endpoints.userinfo_endpoint = o.userinfo_endpoint;
        p.endpoints.jwks_uri = o.jwks_uri;
        p.clock_skew = std::chrono::seconds(o.clock_skew_seconds);
        p.keys_refresh_interval = std::chrono::seconds(o.keys_refresh_seconds);
        p.metadata_lifetime = std::chrono::seconds(o.metadata_lifetime_seconds);
        oidc_http_.push_back(
            std::make_unique<protocols::curl_http_fetcher>(o.timeout, o.max_response_bytes));
        try {
            oidc_.push_back(std::make_unique<protocols::oidc::relying_party>(
                std::move(p), *oidc_http_.back(), clock_));
        } catch (const std::invalid_argument& e) {
            throw config_error("oidc." + o.name + ": " + e.what());
        }
    }

    // eIDAS SAML: a node from its metadata, or from its certificate and SSO URL, or the
    // demo node, trusted like any node through its metadata.
    const auto& c = config_.saml;
    auto sp_entity_id =
        c.sp_entity_id.empty() ? public_base_ + "/auth/saml/metadata" : c.sp_entity_id;
    auto acs_url = public_base_ + "/auth/saml/acs";
    protocols::saml::node_metadata node;
    if (c.demo_node) {
        protocols::saml::demo_node::options demo;
        demo.entity_id = public_base_ + "/demo/eidas/metadata";
        demo.sso_url = public_base_ + "/demo/eidas/sso";
        demo.sp_entity_id = sp_entity_id;
        demo.sp_acs_url = acs_url;
        demo_node_ = std::make_unique<protocols::saml::demo_node>(
            std::move(demo),
            crypto::signer_identity::from_pem(sample_pki::idp_key(), sample_pki::idp_certificate()),
            clock_);
        node = protocols::saml::read_node_metadata(demo_node_->metadata(),
                                                   demo_node_->settings().entity_id);
    } else if (!c.node_metadata.empty()) {
        std::vector<crypto::x509_ptr> signers;
        if (!c.node_metadata_signer.empty())
            signers = certificates_of(c.node_metadata_signer);
        node = protocols::saml::read_node_metadata(crypto::read_small_file(c.node_metadata),
                                                   c.node_entity_id, signers);
    } else if (!c.node_certificate.empty()) {
        node = protocols::saml::node_from_pem(c.node_entity_id, c.node_sso_url,
                                              crypto::read_small_file(c.node_certificate));
    } else {
        return; // no node: SAML is not offered
    }
    protocols::saml::sp_config sp;
    sp.entity_id = sp_entity_id;
    sp.acs_url = acs_url;
    sp.provider_name = config_.provider.name;
    sp.sp_type = c.sp_type;
    sp.node = std::move(node);
    sp.signer = crypto::signer_identity::from_pem(
        pem_of(c.sp_key.empty() ? config_.seal.key : c.sp_key, sample_pki::seal_key()),
        pem_of(c.sp_key.empty() ? config_.seal.certificate : c.sp_certificate,
               sample_pki::seal_certificate()));
    sp.clock_skew = std::chrono::seconds(c.clock_skew_seconds);
    sp.max_response_bytes = c.max_response_bytes;
    saml_replays_ = std::make_unique<protocols::saml::stored_replay_cache>(*db_, clock_);
    saml_ =
        std::make_unique<protocols::saml::service_provider>(std::move(sp), *saml_replays_, clock_);
}

} // namespace sceau::gateway
