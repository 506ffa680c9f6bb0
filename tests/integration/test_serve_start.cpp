// What `sceau serve` refuses at start: a shifted clock anywhere evidence could pass for
// real, that is off the sample keys or with an external time-stamping authority.

#include "integration/deposit_fixture.hpp"

using namespace sceau::test;

namespace {

/// A seal of its own: a key and certificate that are not the sample PKI's.
std::string own_seal_config() {
    return "[seal]\nkey = \"" + hostile("keys/erds-seal-key.pem") + "\"\ncertificate = \"" +
           hostile("keys/erds-seal-cert.pem") + "\"\ntrust_anchor = \"" +
           hostile("keys/erds-seal-cert.pem") + "\"\n";
}

/// `sceau serve` with `config_toml` and `--clock-offset`, cut off after 20 s should it
/// start after all.
command_result serve_with_offset(const temp_dir& dir, const std::string& config_toml) {
    write_file(dir / "sceau.toml", config_toml);
    return run("timeout 20 '" + std::string(SCEAU_BINARY) + "' serve --config '" +
               (dir / "sceau.toml").string() + "' --data '" + (dir / "data").string() +
               "' --listen 127.0.0.1:0 --clock-offset 1468800");
}

} // namespace

TEST_CASE("a clock offset is refused off the sample keys or with an external TSA",
          "[integration][clock]") {
    const std::string refusal = "a clock offset is only accepted on the sample keys";

    SECTION("a seal of its own") {
        // Without the offset the same configuration serves, and its evidence is no sample's.
        {
            deposit_fixture f(own_seal_config());
            auto trust = f.client.get(f.server.url("/v1/trust")).json();
            CHECK(trust["sample_keys"] == false);
        }
        temp_dir dir;
        auto r = serve_with_offset(dir, own_seal_config());
        INFO(r.output);
        CHECK(r.status == 1);
        CHECK(r.output.find(refusal) != std::string::npos);
        CHECK(r.output.find("listening") == std::string::npos);
    }

    SECTION("the sample keys with an external TSA") {
        temp_dir dir;
        auto r =
            serve_with_offset(dir, "[tsa]\nurl = \"http://127.0.0.1:9/tsa\"\n"
                                   "trust_anchors = \"" +
                                       source_path("certs-sample/root-ca.pem").string() + "\"\n");
        INFO(r.output);
        CHECK(r.status == 1);
        CHECK(r.output.find(refusal) != std::string::npos);
        CHECK(r.output.find("listening") == std::string::npos);
    }
}
