#pragma once

#include "crypto/certificate.hpp"
#include "crypto/timestamp.hpp"
#include "crypto/xades.hpp"
#include "gateway/config.hpp"
#include "gateway/metrics.hpp"
#include "protocols/bundle.hpp"
#include "protocols/deposit.hpp"
#include "protocols/lifecycle.hpp"
#include "protocols/mail.hpp"
#include "protocols/notification.hpp"
#include "protocols/oidc.hpp"
#include "protocols/recipient_access.hpp"
#include "protocols/retention.hpp"
#include "protocols/saml.hpp"
#include "protocols/saml_demo_node.hpp"
#include "protocols/sealer.hpp"
#include "protocols/transparency_log.hpp"
#include "protocols/webhooks.hpp"
#include "storage/blob_store.hpp"
#include "storage/database.hpp"

#include <memory>
#include <string>
#include <vector>

namespace sceau::gateway {

/// Everything a running gateway holds: the store, the keys, the services. Built once at
/// start; handlers read it from every thread.
class app {
public:
    /// Opens the data directory and the database (running migrations), loads the keys,
    /// and checks them. Throws with a clear message on any problem.
    /// `clock_offset` moves the gateway's clock (time-stamps, deadlines, expiry) for
    /// end-to-end tests; it is refused unless the gateway runs on the sample keys and the
    /// built-in TSA, so no evidence that could pass for real ever carries a shifted time.
    static std::unique_ptr<app> open(const config& cfg,
                                     std::chrono::seconds clock_offset = std::chrono::seconds(0));

    /// Only the database, migrated: what `sceau sender` needs.
    static std::unique_ptr<storage::database> open_database(const config& cfg);

    const config& settings() const { return config_; }
    storage::database& db() { return *db_; }
    storage::blob_store& blobs() { return *blobs_; }
    protocols::deposit_service& deposits() { return *deposits_; }
    protocols::lifecycle& letters() { return *lifecycle_; }
    protocols::notification_service& notifications() { return *notifications_; }
    protocols::recipient_access& recipients() { return *recipients_; }
    protocols::bundle_builder& bundles() { return *bundles_; }
    protocols::retention& retention() { return *retention_; }

    /// Removes what crashed uploads left in the blob store. Call once, before serving: not
    /// from a command that runs beside a serving gateway.
    void sweep_uploads();

    /// Once the listening address is known: where links and identity providers point
    /// (server.public_url, else http://ADDRESS), and the identification methods that
    /// depend on it. Call once, before serving.
    void set_public_base(const std::string& base_url);
    const std::string& public_base() const { return public_base_; }

    /// The eIDAS SAML service provider; null when no node is configured.
    protocols::saml::service_provider* saml() { return saml_.get(); }
    /// The built-in demo eIDAS node (saml.demo_node, sample keys only); null when off.
    const protocols::saml::demo_node* demo_node() const { return demo_node_.get(); }
    /// The OpenID Connect providers, in the configuration's order; empty when none.
    const std::vector<std::unique_ptr<protocols::oidc::relying_party>>& oidc() const {
        return oidc_;
    }
    /// The provider configured as `[oidc.NAME]`, or null.
    protocols::oidc::relying_party* oidc_provider(std::string_view name);
    crypto::timestamp_authority& tsa() { return *tsa_; }
    std::chrono::system_clock::time_point now() const { return clock_(); }
    /// Signs and time-stamps the transparency log's checkpoints.
    protocols::checkpointer& checkpoints() { return *checkpoints_; }
    /// Delivers the senders' webhooks; a worker calls run_once() now and then.
    protocols::webhook_dispatcher& webhooks() { return *webhooks_; }
    /// The counters and figures of GET /metrics.
    gateway::metrics& metrics() { return *metrics_; }

    /// True when the seal is the sample one: evidence is then marked not qualified.
    bool sample_keys() const { return sample_keys_; }
    bool qualified() const { return qualified_; }

    /// PEM texts for GET /v1/trust.
    const std::vector<std::string>& seal_chain_pem() const { return seal_chain_pem_; }
    const std::vector<std::string>& tsa_certificates_pem() const { return tsa_pem_; }
    const std::vector<std::string>& trust_anchors_pem() const { return anchors_pem_; }

private:
    app() = default;

    config config_;
    std::unique_ptr<storage::database> db_;
    std::unique_ptr<storage::blob_store> blobs_;
    std::unique_ptr<crypto::timestamp_authority> tsa_;
    std::unique_ptr<crypto::xades_signer> signer_;
    std::unique_ptr<protocols::evidence_sealer> sealer_;
    std::unique_ptr<protocols::pdf_checker_pool> pdf_checker_; ///< before its user, deposits_
    std::unique_ptr<protocols::deposit_service> deposits_;
    std::unique_ptr<protocols::lifecycle> lifecycle_;
    std::unique_ptr<protocols::mailer> mailer_;
    std::unique_ptr<protocols::notification_service> notifications_;
    std::unique_ptr<protocols::recipient_access> recipients_;
    std::unique_ptr<protocols::bundle_builder> bundles_;
    std::unique_ptr<protocols::retention> retention_;
    crypto::clock_fn clock_;
    std::string public_base_;
    std::unique_ptr<protocols::saml::replay_cache> saml_replays_;
    std::unique_ptr<protocols::saml::service_provider> saml_;
    std::unique_ptr<protocols::saml::demo_node> demo_node_;
    std::vector<std::unique_ptr<protocols::http_fetcher>> oidc_http_;
    std::vector<std::unique_ptr<protocols::oidc::relying_party>> oidc_;
    std::unique_ptr<protocols::webhook_dispatcher> webhooks_;
    std::unique_ptr<crypto::note_signer> note_signer_;
    std::unique_ptr<protocols::checkpointer> checkpoints_;
    std::unique_ptr<gateway::metrics> metrics_;
    bool sample_keys_ = false;
    bool qualified_ = false;
    std::vector<std::string> seal_chain_pem_;
    std::vector<std::string> tsa_pem_;
    std::vector<std::string> anchors_pem_;
};

/// Hash under which an API key is stored: SHA-256, hex. Keys are 256-bit random, so a
/// fast hash is enough; the key itself is never stored or logged.
std::string api_key_hash(const std::string& key);

/// A new API key: `prefix` ("sk_" for senders, "ak_" for auditors) and 32 random bytes in
/// base64url.
std::string new_api_key(std::string_view prefix = "sk_");

} // namespace sceau::gateway
