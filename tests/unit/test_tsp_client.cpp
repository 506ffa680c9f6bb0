#include "crypto/certificate.hpp"
#include "crypto/error.hpp"
#include "crypto/sha256.hpp"
#include "crypto/timestamp_verifier.hpp"
#include "crypto/tsp_client.hpp"
#include "support/fixtures.hpp"

#include <catch2/catch.hpp>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pkcs7.h>

#include <algorithm>
#include <arpa/inet.h>
#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <netinet/in.h>
#include <optional>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

using namespace sceau;
using namespace sceau::crypto;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;

namespace Catch {
template <>
struct StringMaker<std::error_code> {
    static std::string convert(const std::error_code& code) {
        return code ? code.message() : std::string("no error");
    }
};
} // namespace Catch

namespace {

// The hostile corpus (tests/fixtures/hostile/tsp, read its RESULTS.txt) and the replies
// tests/fixtures/tsp-generated/make.sh makes with the openssl tool.
bytes fixture(const std::string& relative) {
    auto text = test::read_file(test::source_path("tests/fixtures/" + relative));
    return bytes(text.begin(), text.end());
}

bytes hostile(const std::string& name) {
    return fixture("hostile/tsp/" + name);
}
bytes generated(const std::string& name) {
    return fixture("tsp-generated/" + name);
}

x509_ptr certificate(const std::string& relative) {
    auto pem = test::read_file(test::source_path("tests/fixtures/" + relative));
    return std::move(certificates_from_pem(pem).front());
}

// The corpus's TSA root; tsa-good-cert.pem known only when asked.
tsp_trust corpus_trust(bool know_tsa_good = false) {
    tsp_trust trust;
    trust.anchors.push_back(certificate("hostile/keys/tsa-ca-cert.pem"));
    if (know_tsa_good)
        trust.known_tsa_certificates.push_back(certificate("hostile/keys/tsa-good-cert.pem"));
    return trust;
}

// What verify_timestamp_response refuses with: an empty code when it accepts.
std::error_code refusal(const bytes& request, const bytes& response, const tsp_trust& trust) {
    try {
        verify_timestamp_response(request, response, trust);
        return {};
    } catch (const error& e) {
        UNSCOPED_INFO(e.what());
        return e.code();
    }
}

std::string refusal_text(const bytes& request, const bytes& response, const tsp_trust& trust) {
    try {
        verify_timestamp_response(request, response, trust);
        return "accepted";
    } catch (const error& e) {
        return e.what();
    }
}

// The DER OpenSSL's own encoder gives a value.
template <typename T>
bytes encode(const T* value, int (*i2d)(const T*, unsigned char**)) {
    int n = i2d(value, nullptr);
    REQUIRE(n > 0);
    bytes der(static_cast<std::size_t>(n));
    unsigned char* p = der.data();
    i2d(value, &p);
    return der;
}

ts_req_ptr decode(const bytes& der) {
    const unsigned char* p = der.data();
    ts_req_ptr request(d2i_TS_REQ(nullptr, &p, static_cast<long>(der.size())));
    REQUIRE(request);
    return request;
}

// q-ok.tsq with one field changed and the rest, the nonce above all, kept.
bytes q_ok_with(const std::function<void(TS_REQ*)>& change) {
    auto request = decode(hostile("q-ok.tsq"));
    change(request.get());
    return encode(request.get(), i2d_TS_REQ);
}

// A TSA built of OpenSSL's responder and the corpus's tsa-good key: what answers the client
// here owes nothing to the code under test.
class corpus_tsa {
public:
    corpus_tsa()
        : identity_(signer_identity::from_pem(
              test::read_file(test::source_path("tests/fixtures/hostile/keys/tsa-good-key.pem")),
              test::read_file(
                  test::source_path("tests/fixtures/hostile/keys/tsa-good-cert.pem")))) {}

    // Called from the HTTP responder's thread too: no Catch assertion in here. An empty
    // reply on failure makes the client's test fail.
    bytes answer(const bytes& request) const {
        ts_resp_ctx_ptr ctx(TS_RESP_CTX_new());
        asn1_object_ptr policy(OBJ_txt2obj("1.2.3.4.1", 1));
        if (!ctx || !policy ||
            TS_RESP_CTX_set_signer_cert(ctx.get(), identity_.certificate()) != 1 ||
            TS_RESP_CTX_set_signer_key(ctx.get(), identity_.key.get()) != 1 ||
            TS_RESP_CTX_set_def_policy(ctx.get(), policy.get()) != 1 ||
            TS_RESP_CTX_add_md(ctx.get(), EVP_sha256()) != 1 ||
            TS_RESP_CTX_set_ess_cert_id_digest(ctx.get(), EVP_sha256()) != 1)
            return {};

        bio_ptr in(BIO_new_mem_buf(request.data(), static_cast<int>(request.size())));
        ts_resp_ptr response(in ? TS_RESP_create_response(ctx.get(), in.get()) : nullptr);
        int n = response ? i2d_TS_RESP(response.get(), nullptr) : 0;
        if (n <= 0)
            return {};
        bytes der(static_cast<std::size_t>(n));
        unsigned char* p = der.data();
        i2d_TS_RESP(response.get(), &p);
        return der;
    }

private:
    signer_identity identity_;
};

std::string http_reply(const std::string& status, const std::string& type, const bytes& body) {
    std::string out = "HTTP/1.1 " + status + "\r\n";
    if (!type.empty())
        out += "Content-Type: " + type + "\r\n";
    out += "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
    return out + std::string(body.begin(), body.end());
}

// An HTTP/1.1 server on 127.0.0.1, one connection at a time, on a thread of its own. The
// handler gets the request head and body and returns the raw reply; nullopt keeps silent.
class http_responder {
public:
    using handler = std::function<std::optional<std::string>(const std::string&, const bytes&)>;

    explicit http_responder(handler h)
        : handler_(std::move(h)) {
        listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t length = sizeof address;
        auto* generic = reinterpret_cast<sockaddr*>(&address);
        REQUIRE(listener_ >= 0);
        REQUIRE(::bind(listener_, generic, sizeof address) == 0);
        REQUIRE(::listen(listener_, 4) == 0);
        REQUIRE(::getsockname(listener_, generic, &length) == 0);
        port_ = ntohs(address.sin_port);
        thread_ = std::thread([this] { serve(); });
    }

    ~http_responder() {
        stopping_ = true;
        thread_.join();
        ::close(listener_);
    }

    http_responder(const http_responder&) = delete;
    http_responder& operator=(const http_responder&) = delete;

    std::string url(const std::string& path = "/tsa") const {
        return "http://127.0.0.1:" + std::to_string(port_) + path;
    }

    int connections() const { return connections_; }

    std::string last_head() const {
        std::lock_guard lock(mutex_);
        return last_head_;
    }

private:
    // Waits for `fd` to become readable; false when stopping.
    bool readable(int fd) const {
        pollfd p{fd, POLLIN, 0};
        while (!stopping_) {
            if (::poll(&p, 1, 20) > 0)
                return true;
        }
        return false;
    }

    void serve() {
        while (readable(listener_)) {
            int client = ::accept(listener_, nullptr, nullptr);
            if (client < 0)
                continue;
            ++connections_;
            answer(client);
            ::close(client);
        }
    }

    void answer(int client) {
        std::string received;
        char buffer[4096];
        std::size_t head_end = std::string::npos;
        std::size_t body_size = 0;
        while (readable(client)) {
            ssize_t n = ::recv(client, buffer, sizeof buffer, 0);
            if (n <= 0)
                return;
            received.append(buffer, static_cast<std::size_t>(n));
            if (head_end == std::string::npos &&
                (head_end = received.find("\r\n\r\n")) != std::string::npos)
                body_size = content_length(received.substr(0, head_end));
            if (head_end != std::string::npos && received.size() >= head_end + 4 + body_size)
                break;
        }
        if (head_end == std::string::npos)
            return;

        std::string head = received.substr(0, head_end);
        bytes body(received.begin() + static_cast<long>(head_end) + 4, received.end());
        {
            std::lock_guard lock(mutex_);
            last_head_ = head;
        }
        auto reply = handler_(head, body);
        if (!reply) {
            while (readable(client) && ::recv(client, buffer, sizeof buffer, 0) > 0) {
            }
            return;
        }
        for (std::size_t sent = 0; sent < reply->size();) {
            ssize_t n = ::send(client, reply->data() + sent, reply->size() - sent, MSG_NOSIGNAL);
            if (n <= 0)
                return; // the client gave up
            sent += static_cast<std::size_t>(n);
        }
    }

    static std::size_t content_length(std::string head) {
        std::transform(head.begin(), head.end(), head.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        auto at = head.find("\r\ncontent-length:");
        return at == std::string::npos ? 0 : std::stoul(head.substr(at + 17));
    }

    handler handler_;
    int listener_ = -1;
    std::uint16_t port_ = 0;
    std::thread thread_;
    std::atomic<bool> stopping_{false};
    std::atomic<int> connections_{0};
    mutable std::mutex mutex_;
    std::string last_head_;
};

rfc3161_client::options client_options(const std::string& url) {
    rfc3161_client::options opts;
    opts.url = url;
    opts.timeout = 2s;
    opts.trust = corpus_trust();
    return opts;
}

sha256_digest data_digest() {
    return sha256::of(hostile("data.bin"));
}

template <typename F>
std::chrono::milliseconds time_of(F&& f) {
    auto start = std::chrono::steady_clock::now();
    f();
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                 start);
}

} // namespace

TEST_CASE("a genuine reply to the request it answers is accepted and read", "[crypto][tsp]") {
    auto response = hostile("t00-ok.tsr");
    auto token = verify_timestamp_response(hostile("q-ok.tsq"), response, corpus_trust());

    using namespace std::chrono;
    CHECK(token.time == sys_days{year{2026} / December / 3} + 19h + 14min + 40s);
    CHECK(token.policy == "1.2.3.4.1");
    CHECK(token.serial == "0e");
    // The token is kept byte for byte as the TSA sent it, the tail of its reply.
    REQUIRE(token.der.size() < response.size());
    CHECK(std::equal(token.der.begin(), token.der.end(), response.end() - token.der.size()));
}

TEST_CASE("a reply to another nonce is refused", "[crypto][tsp]") {
    auto trust = corpus_trust();
    CHECK(refusal(hostile("q-other-nonce.tsq"), hostile("t00-ok.tsr"), trust) ==
          errc::tsa_nonce_mismatch);
}

TEST_CASE("a reply that leaves out the nonce sent is refused", "[crypto][tsp]") {
    auto trust = corpus_trust();
    CHECK(refusal(hostile("q-ok.tsq"), hostile("t02-reply-without-nonce.tsr"), trust) ==
          errc::tsa_nonce_mismatch);
    CHECK_THAT(refusal_text(hostile("q-ok.tsq"), hostile("t02-reply-without-nonce.tsr"), trust),
               Contains("no nonce"));
}

TEST_CASE("a reply stamping other data is refused", "[crypto][tsp]") {
    // The request over other-data.bin keeps q-ok's nonce: only the imprint differs.
    auto other = sha256::of(hostile("other-data.bin"));
    auto request = q_ok_with([&](TS_REQ* r) {
        REQUIRE(TS_MSG_IMPRINT_set_msg(TS_REQ_get_msg_imprint(r), other.data(),
                                       static_cast<int>(other.size())) == 1);
    });
    CHECK(refusal(request, hostile("t00-ok.tsr"), corpus_trust()) == errc::tsa_imprint_mismatch);
}

TEST_CASE("a request without a nonce accepts any nonce in the reply", "[crypto][tsp]") {
    CHECK(refusal(hostile("q-no-nonce.tsq"), hostile("t00-ok.tsr"), corpus_trust()) ==
          std::error_code{});
}

TEST_CASE("a token without the TSA certificate needs the certificate to be known",
          "[crypto][tsp]") {
    auto request = hostile("q-no-certreq.tsq");
    auto response = hostile("t03-no-cert-in-token.tsr");
    CHECK(refusal(request, response, corpus_trust(true)) == std::error_code{});

    auto trust = corpus_trust(false);
    CHECK(refusal(request, response, trust) == errc::tsa_signer_unknown);
    CHECK_THAT(refusal_text(request, response, trust),
               Contains("does not carry the certificate of its signer") &&
                   Contains("CN=Test TSA Root") && Contains("no known TSA certificate"));
}

TEST_CASE("valid variants are accepted: ESS v1 with SHA-1, fractional genTime, "
          "grantedWithMods",
          "[crypto][tsp]") {
    auto request = hostile("q-ok.tsq");
    auto trust = corpus_trust();
    CHECK(refusal(request, hostile("t05-ess-signingcertificate-v1-sha1.tsr"), trust) ==
          std::error_code{});
    CHECK(refusal(request, hostile("t08-granted-with-mods-status1.tsr"), trust) ==
          std::error_code{});

    auto token = verify_timestamp_response(request, hostile("t07-gentime-fractional.tsr"), trust);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(token.time.time_since_epoch());
    CHECK(ms.count() % 1000 == 534);
}

TEST_CASE("a rejection is refused with the TSA's status and failure info", "[crypto][tsp]") {
    auto request = hostile("q-ok.tsq");
    auto response = hostile("t09-rejection-no-token.tsr");
    CHECK(refusal(request, response, corpus_trust()) == errc::tsa_not_granted);
    CHECK_THAT(refusal_text(request, response, corpus_trust()),
               Contains("rejection") && Contains("badAlg"));
}

TEST_CASE("a grant without a token is refused", "[crypto][tsp]") {
    CHECK(refusal(hostile("q-ok.tsq"), hostile("t10-granted-but-no-token.tsr"), corpus_trust()) ==
          errc::tsa_token_missing);
}

TEST_CASE("a TSA certificate without the timeStamping usage is refused", "[crypto][tsp]") {
    auto request = hostile("q-ok.tsq");
    auto trust = corpus_trust();
    auto response = hostile("t11-signed-by-cert-without-timestamping-eku.tsr");
    CHECK(refusal(request, response, trust) == errc::tsa_signer_usage_invalid);
    CHECK_THAT(refusal_text(request, response, trust), Contains("no extended key usage"));
}

TEST_CASE("a timeStamping usage that is not critical or not alone is refused", "[crypto][tsp]") {
    auto request = hostile("q-ok.tsq");
    auto trust = corpus_trust();

    // The positive control: the same construction, signed by tsa-good.
    CHECK(refusal(request, generated("g00-cms-good.tsr"), trust) == std::error_code{});

    CHECK(refusal(request, generated("g01-eku-not-critical.tsr"), trust) ==
          errc::tsa_signer_usage_invalid);
    CHECK_THAT(refusal_text(request, generated("g01-eku-not-critical.tsr"), trust),
               Contains("not marked critical"));

    CHECK(refusal(request, generated("g02-eku-timestamping-and-serverauth.tsr"), trust) ==
          errc::tsa_signer_usage_invalid);
    CHECK_THAT(refusal_text(request, generated("g02-eku-timestamping-and-serverauth.tsr"), trust),
               Contains("serverAuth"));
}

TEST_CASE("an ESSCertIDv2 over MD5 is refused", "[crypto][tsp]") {
    auto request = hostile("q-ok.tsq");
    CHECK(refusal(request, generated("g03-ess-v2-md5.tsr"), corpus_trust()) ==
          errc::tsa_ess_mismatch);
    CHECK_THAT(refusal_text(request, generated("g03-ess-v2-md5.tsr"), corpus_trust()),
               Contains("MD5"));
}

TEST_CASE("a known certificate with the signer's key, issuer and serial but another hash "
          "is refused",
          "[crypto][tsp]") {
    auto request = hostile("q-no-certreq.tsq");
    auto response = generated("g04-ess-twin-certificate.tsr");
    CHECK(refusal(request, response, corpus_trust(true)) == errc::tsa_ess_mismatch);

    // The control: the certificate it was really signed with.
    auto trust = corpus_trust();
    trust.known_tsa_certificates.push_back(certificate("tsp-generated/g04-twin-cert.pem"));
    CHECK(refusal(request, response, trust) == std::error_code{});
}

TEST_CASE("a token signed over a SHA-1 digest is refused", "[crypto][tsp]") {
    CHECK(refusal(hostile("q-ok.tsq"), generated("g05-signer-digest-sha1.tsr"), corpus_trust()) ==
          errc::tsa_signature_invalid);
}

TEST_CASE("a reply altered after signing is refused", "[crypto][tsp]") {
    auto request = hostile("q-ok.tsq");
    auto trust = corpus_trust();

    auto forged_signature = hostile("t00-ok.tsr");
    forged_signature.back() ^= 0x01;
    CHECK(refusal(request, forged_signature, trust) == errc::tsa_signature_invalid);

    auto later = hostile("t00-ok.tsr");
    std::string_view gen_time = "20261203191440Z";
    auto at = std::search(later.begin(), later.end(), gen_time.begin(), gen_time.end());
    REQUIRE(at != later.end());
    at[11] = '5'; // 19:15:40
    CHECK(refusal(request, later, trust) == errc::tsa_signature_invalid);
}

TEST_CASE("a TSA that does not chain to an anchor is refused", "[crypto][tsp]") {
    auto request = hostile("q-ok.tsq");
    auto response = hostile("t00-ok.tsr");

    tsp_trust other;
    other.anchors.push_back(certificate("hostile/keys/erds-seal-cert.pem"));
    CHECK(refusal(request, response, other) == errc::tsa_signer_untrusted);
    CHECK(refusal(request, response, tsp_trust{}) == errc::tsa_signer_untrusted);

    // An anchor need not be a root: the TSA certificate itself will do.
    tsp_trust pinned;
    pinned.anchors.push_back(certificate("hostile/keys/tsa-good-cert.pem"));
    CHECK(refusal(request, response, pinned) == std::error_code{});
}

TEST_CASE("a token naming another TSA than its signer is refused", "[crypto][tsp]") {
    auto request = hostile("q-ok.tsq");
    auto response = generated("g06-tsa-name-mismatch.tsr");
    CHECK(refusal(request, response, corpus_trust()) == errc::tsa_signer_untrusted);
    CHECK_THAT(refusal_text(request, response, corpus_trust()), Contains("tsa name mismatch"));
}

TEST_CASE("the TSA policy must be the required one and the requested one", "[crypto][tsp]") {
    auto response = hostile("t00-ok.tsr");
    auto trust = corpus_trust();
    trust.policy_oid = "1.2.3.4.1";
    CHECK(refusal(hostile("q-ok.tsq"), response, trust) == std::error_code{});

    trust.policy_oid = "1.2.3.4.5";
    CHECK(refusal(hostile("q-ok.tsq"), response, trust) == errc::tsa_policy_mismatch);

    auto asking_other = q_ok_with([](TS_REQ* r) {
        asn1_object_ptr policy(OBJ_txt2obj("1.2.3.4.5", 1));
        REQUIRE(TS_REQ_set_policy_id(r, policy.get()) == 1);
    });
    CHECK(refusal(asking_other, response, corpus_trust()) == errc::tsa_policy_mismatch);

    trust.policy_oid = "not an OID";
    CHECK(refusal(hostile("q-ok.tsq"), response, trust) == errc::bad_encoding);
}

TEST_CASE("malformed replies and requests are refused cleanly", "[crypto][tsp]") {
    auto request = hostile("q-ok.tsq");
    auto response = hostile("t00-ok.tsr");
    auto trust = corpus_trust();

    ERR_clear_error();
    CHECK(refusal(request, {}, trust) == errc::tsa_response_malformed);
    CHECK(refusal(request, bytes{'n', 'o', 't', ' ', 'D', 'E', 'R'}, trust) ==
          errc::tsa_response_malformed);

    auto truncated = response;
    truncated.resize(truncated.size() - 10);
    CHECK(refusal(request, truncated, trust) == errc::tsa_response_malformed);

    auto trailing = response;
    trailing.push_back(0);
    CHECK(refusal(request, trailing, trust) == errc::tsa_response_malformed);

    CHECK(refusal(bytes{0x30, 0x00}, response, trust) == errc::bad_encoding);
    CHECK(ERR_peek_error() == 0); // nothing left behind in OpenSSL's error queue
}

TEST_CASE("the client sends a SHA-256 request with a nonce and certReq and verifies the reply",
          "[crypto][tsp]") {
    corpus_tsa tsa;
    std::vector<bytes> sent;
    rfc3161_client client(client_options(""), [&](const bytes& request) {
        sent.push_back(request);
        return tsa.answer(request);
    });

    auto digest = data_digest();
    auto first = client.stamp(digest);
    auto second = client.stamp(digest);
    CHECK(first.policy == "1.2.3.4.1");
    CHECK(std::chrono::abs(first.time - std::chrono::system_clock::now()) < 1min);
    REQUIRE(sent.size() == 2);

    auto request = decode(sent[0]);
    TS_MSG_IMPRINT* imprint = TS_REQ_get_msg_imprint(request.get());
    const ASN1_OCTET_STRING* hashed = TS_MSG_IMPRINT_get_msg(imprint);
    CHECK(OBJ_obj2nid(TS_MSG_IMPRINT_get_algo(imprint)->algorithm) == NID_sha256);
    CHECK(bytes(ASN1_STRING_get0_data(hashed), ASN1_STRING_get0_data(hashed) + 32) ==
          bytes(digest.begin(), digest.end()));
    CHECK(TS_REQ_get_cert_req(request.get()) == 1);
    REQUIRE(TS_REQ_get_nonce(request.get()) != nullptr);
    CHECK(ASN1_INTEGER_cmp(TS_REQ_get_nonce(request.get()),
                           TS_REQ_get_nonce(decode(sent[1]).get())) != 0);
}

TEST_CASE("the client refuses a replayed reply", "[crypto][tsp]") {
    rfc3161_client client(client_options(""), [](const bytes&) { return hostile("t00-ok.tsr"); });
    try {
        client.stamp(data_digest()); // the data of t00, under a fresh nonce
        FAIL("a replayed reply was accepted");
    } catch (const error& e) {
        CHECK(e.code() == errc::tsa_nonce_mismatch);
    }
}

TEST_CASE("the client reports its certificates and whether it is qualified", "[crypto][tsp]") {
    auto opts = client_options("");
    opts.trust = corpus_trust(true);
    opts.qualified = true;
    rfc3161_client client(std::move(opts), [](const bytes& request) { return request; });
    auto certs = client.certificates();
    REQUIRE(certs.size() == 2);
    CHECK_THAT(subject_text(certs[0].get()), Contains("CN=tsa-good"));
    CHECK_THAT(subject_text(certs[1].get()), Contains("CN=Test TSA Root"));
    CHECK(client.qualified());
}

TEST_CASE("the client posts a timestamp-query over HTTP and verifies the reply",
          "[crypto][tsp][http]") {
    corpus_tsa tsa;
    http_responder server([&](const std::string&, const bytes& body) {
        return http_reply("200 OK", "application/timestamp-reply", tsa.answer(body));
    });
    rfc3161_client client(client_options(server.url()));

    auto token = client.stamp(data_digest());
    CHECK(token.policy == "1.2.3.4.1");
    CHECK_THAT(server.last_head(), Contains("POST /tsa HTTP/1.1") &&
                                       Contains("Content-Type: application/timestamp-query"));
}

TEST_CASE("an HTTP failure, a redirect or a silent TSA is tsa_unreachable", "[crypto][tsp][http]") {
    auto code_of = [](rfc3161_client& client) {
        try {
            client.stamp(data_digest());
            return std::error_code{};
        } catch (const error& e) {
            UNSCOPED_INFO(e.what());
            return e.code();
        }
    };

    SECTION("HTTP 503") {
        http_responder server([](const std::string&, const bytes&) {
            return http_reply("503 Service Unavailable", "text/plain", bytes{'b', 'u', 's', 'y'});
        });
        rfc3161_client client(client_options(server.url()));
        CHECK(code_of(client) == errc::tsa_unreachable);
    }
    SECTION("a redirect, not followed") {
        http_responder server([](const std::string&, const bytes&) {
            return std::string("HTTP/1.1 307 Temporary Redirect\r\nLocation: /elsewhere\r\n"
                               "Content-Length: 0\r\nConnection: close\r\n\r\n");
        });
        rfc3161_client client(client_options(server.url()));
        CHECK(code_of(client) == errc::tsa_unreachable);
        CHECK(server.connections() == 1);
    }
    SECTION("a TSA that accepts the connection and says nothing") {
        http_responder server([](const std::string&, const bytes&) { return std::nullopt; });
        auto opts = client_options(server.url());
        opts.timeout = 300ms;
        rfc3161_client client(std::move(opts));
        std::error_code code;
        CHECK(time_of([&] { code = code_of(client); }) < 2s);
        CHECK(code == errc::tsa_unreachable);
    }
}

TEST_CASE("a closed port is tsa_unreachable at once", "[crypto][tsp][http]") {
    // Bind a port, then close it: nothing listens there any more.
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    ::close(fd);

    rfc3161_client client(
        client_options("http://127.0.0.1:" + std::to_string(ntohs(address.sin_port)) + "/"));
    std::error_code code;
    auto took = time_of([&] {
        try {
            client.stamp(data_digest());
        } catch (const error& e) {
            code = e.code();
        }
    });
    CHECK(code == errc::tsa_unreachable);
    CHECK(took < 1s);

    // Credentials in the URL stay out of the message.
    rfc3161_client with_password(client_options(
        "http://sceau:s3cret@127.0.0.1:" + std::to_string(ntohs(address.sin_port)) + "/"));
    CHECK_THROWS_WITH(with_password.stamp(data_digest()), !Contains("s3cret"));
}

TEST_CASE("a reply that is not a timestamp-reply or is over 1 MiB is refused",
          "[crypto][tsp][http]") {
    SECTION("HTML") {
        http_responder server([](const std::string&, const bytes&) {
            return http_reply("200 OK", "text/html", bytes{'<', 'p', '>'});
        });
        rfc3161_client client(client_options(server.url()));
        CHECK_THROWS_MATCHES(client.stamp(data_digest()), error,
                             Catch::Matchers::Predicate<error>([](const error& e) {
                                 return e.code() == errc::tsa_response_malformed;
                             }));
    }
    SECTION("a declared length over the limit") {
        http_responder server([](const std::string&, const bytes&) {
            return http_reply("200 OK", "application/timestamp-reply", bytes((1 << 20) + 1, 0));
        });
        rfc3161_client client(client_options(server.url()));
        CHECK_THROWS_WITH(client.stamp(data_digest()), Contains("over 1 MiB"));
    }
    SECTION("an undeclared length over the limit") {
        http_responder server([](const std::string&, const bytes&) {
            std::string body((1 << 20) + 1, '\0');
            return "HTTP/1.1 200 OK\r\nContent-Type: application/timestamp-reply\r\n"
                   "Connection: close\r\n\r\n" +
                   body;
        });
        rfc3161_client client(client_options(server.url()));
        CHECK_THROWS_WITH(client.stamp(data_digest()), Contains("over 1 MiB"));
    }
}

TEST_CASE("the client takes http and https URLs only", "[crypto][tsp]") {
    for (const char* url : {"ftp://tsa.example/", "file:///etc/passwd", "tsa.example", ""}) {
        INFO(url);
        CHECK_THROWS_AS(rfc3161_client(client_options(url)), error);
    }
    CHECK_NOTHROW(rfc3161_client(client_options("https://tsa.example/tsr")));
}

namespace {

// The token of a reply, encoded by OpenSSL's own code (the same bytes for a DER reply).
bytes token_of(const bytes& reply) {
    const unsigned char* p = reply.data();
    ts_resp_ptr response(d2i_TS_RESP(nullptr, &p, static_cast<long>(reply.size())));
    REQUIRE(response);
    PKCS7* token = TS_RESP_get_token(response.get());
    REQUIRE(token);
    return encode(token, i2d_PKCS7);
}

// The stored-token verifier on each of its paths, with the same trust.
struct both_paths {
    timestamp_verifier direct;
    timestamp_verifier library;

    explicit both_paths(const std::function<tsp_trust()>& trust)
        : direct(trust(), verification_path::direct)
        , library(trust(), verification_path::library) {}
};

std::error_code stored_refusal(const timestamp_verifier& v, const bytes& token,
                               const sha256_digest& imprint) {
    try {
        v.verify(token, imprint);
        return {};
    } catch (const error& e) {
        UNSCOPED_INFO(e.what());
        return e.code();
    }
}

// What both paths say of a stored token; a test fails when they differ.
std::error_code agreed_refusal(const both_paths& paths, const bytes& token,
                               const sha256_digest& imprint) {
    auto direct = stored_refusal(paths.direct, token, imprint);
    auto library = stored_refusal(paths.library, token, imprint);
    CHECK(direct == library);
    return library;
}

} // namespace

TEST_CASE("stored tokens of the corpus get the same verdict on both verification paths",
          "[crypto][tsp][hostile]") {
    auto digest = data_digest();
    auto check = [&](const bytes& reply, bool know_tsa_good, std::error_code expected) {
        both_paths paths([&] { return corpus_trust(know_tsa_good); });
        CHECK(agreed_refusal(paths, token_of(reply), digest) == expected);
    };
    const std::error_code holds;

    check(hostile("t00-ok.tsr"), false, holds);
    check(hostile("t02-reply-without-nonce.tsr"), false, holds); // no request to answer here
    check(hostile("t03-no-cert-in-token.tsr"), true, holds);
    check(hostile("t03-no-cert-in-token.tsr"), false, errc::tsa_signer_unknown);
    check(hostile("t05-ess-signingcertificate-v1-sha1.tsr"), false, holds);
    check(hostile("t07-gentime-fractional.tsr"), false, holds);
    check(hostile("t08-granted-with-mods-status1.tsr"), false, holds);
    check(hostile("t11-signed-by-cert-without-timestamping-eku.tsr"), false,
          errc::tsa_signer_usage_invalid);
    check(generated("g00-cms-good.tsr"), false, holds);
    check(generated("g01-eku-not-critical.tsr"), false, errc::tsa_signer_usage_invalid);
    check(generated("g02-eku-timestamping-and-serverauth.tsr"), false,
          errc::tsa_signer_usage_invalid);
    check(generated("g03-ess-v2-md5.tsr"), false, errc::tsa_ess_mismatch);
    check(generated("g04-ess-twin-certificate.tsr"), true, errc::tsa_ess_mismatch);
    check(generated("g05-signer-digest-sha1.tsr"), false, errc::tsa_signature_invalid);

    both_paths paths([] { return corpus_trust(); });
    auto token = token_of(hostile("t00-ok.tsr"));
    CHECK(agreed_refusal(paths, token, sha256::of(hostile("other-data.bin"))) ==
          errc::tsa_imprint_mismatch);
    auto later = token;
    std::string_view gen_time = "20261203191440Z";
    auto at = std::search(later.begin(), later.end(), gen_time.begin(), gen_time.end());
    REQUIRE(at != later.end());
    at[11] = '5'; // 19:15:40, inside the signed TSTInfo
    CHECK(agreed_refusal(paths, later, digest) == errc::tsa_signature_invalid);

    // What both read of a token that holds.
    auto direct = paths.direct.verify(token, digest);
    auto library = paths.library.verify(token, digest);
    CHECK(direct.time == library.time);
    CHECK(direct.serial == "0e");
    CHECK(library.serial == "0e");
    CHECK(direct.policy == "1.2.3.4.1");
    CHECK(library.policy == "1.2.3.4.1");
    CHECK(direct.der == token);
}

TEST_CASE("every changed byte, cut or addition of a stored token gets the same verdict on both "
          "paths, and none inside what the TSA signed holds",
          "[crypto][tsp][hostile]") {
    auto digest = data_digest();
    auto token = token_of(hostile("t00-ok.tsr"));
    both_paths paths([] { return corpus_trust(); });
    REQUIRE(agreed_refusal(paths, token, digest) == std::error_code{});

    // Where the signed parts lie, found with OpenSSL's PKCS#7 code: the TSTInfo, the signed
    // attributes and the signature value; and the TSA's certificate.
    const unsigned char* p = token.data();
    pkcs7_ptr decoded(d2i_PKCS7(nullptr, &p, static_cast<long>(token.size())));
    REQUIRE(decoded);
    PKCS7_SIGNER_INFO* si = sk_PKCS7_SIGNER_INFO_value(PKCS7_get_signer_info(decoded.get()), 0);
    unsigned char* attributes = nullptr;
    int attributes_size = ASN1_item_i2d(reinterpret_cast<ASN1_VALUE*>(si->auth_attr), &attributes,
                                        ASN1_ITEM_rptr(PKCS7_ATTR_VERIFY));
    REQUIRE(attributes_size > 2);
    std::vector<std::pair<std::size_t, std::size_t>> signed_parts;
    auto locate = [&](const unsigned char* data, int size) {
        auto at = std::search(token.begin(), token.end(), data, data + size);
        REQUIRE(at != token.end());
        auto from = static_cast<std::size_t>(at - token.begin());
        signed_parts.emplace_back(from, from + static_cast<std::size_t>(size));
    };
    const ASN1_OCTET_STRING* tst = decoded->d.sign->contents->d.other->value.octet_string;
    locate(ASN1_STRING_get0_data(tst), ASN1_STRING_length(tst));
    locate(attributes + 2, attributes_size - 2); // after the SET's tag and one-octet length
    OPENSSL_free(attributes);
    locate(ASN1_STRING_get0_data(si->enc_digest), ASN1_STRING_length(si->enc_digest));
    auto tsa = to_der(certificate("hostile/keys/tsa-good-cert.pem").get());
    locate(tsa.data(), static_cast<int>(tsa.size()));
    auto is_signed = [&](std::size_t i) {
        return std::any_of(signed_parts.begin(), signed_parts.end(),
                           [&](const auto& part) { return i >= part.first && i < part.second; });
    };

    // What may change without notice is outside the signature and unused: the versions, the
    // signature algorithm's identifier, the TSA root the token carries (the anchor is the
    // verifier's own).
    for (std::size_t i = 0; i < token.size(); ++i) {
        for (std::uint8_t flip : {0x01, 0x80, 0xff}) {
            auto changed = token;
            changed[i] ^= flip;
            INFO("byte " << i << " ^ " << int(flip));
            if (!agreed_refusal(paths, changed, digest))
                CHECK(!is_signed(i));
        }
    }

    for (std::size_t n = 0; n < token.size(); ++n) {
        INFO("cut to " << n << " bytes");
        CHECK(agreed_refusal(paths, bytes(token.begin(), token.begin() + static_cast<long>(n)),
                             digest) == errc::tsa_response_malformed);
    }
    auto longer = token;
    longer.push_back(0);
    CHECK(agreed_refusal(paths, longer, digest) == errc::tsa_response_malformed);

    // The same token in BER, its ContentInfo of indefinite length: not DER, refused.
    REQUIRE(token[0] == 0x30);
    REQUIRE(token[1] == 0x82);
    bytes indefinite{0x30, 0x80};
    indefinite.insert(indefinite.end(), token.begin() + 4, token.end());
    indefinite.insert(indefinite.end(), {0x00, 0x00});
    CHECK(agreed_refusal(paths, indefinite, digest) == errc::tsa_response_malformed);
    CHECK(ERR_peek_error() == 0);
}
