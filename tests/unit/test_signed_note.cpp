// Checkpoints as C2SP signed notes with the ECDSA P-256 seal key, checked with the openssl
// command line rather than our code; the checkpointer's notes and their time-stamps.

#include "crypto/encoding.hpp"
#include "crypto/error.hpp"
#include "crypto/merkle.hpp"
#include "crypto/signed_note.hpp"
#include "crypto/timestamp.hpp"
#include "protocols/transparency_log.hpp"
#include "support/fixtures.hpp"
#include "support/log_fixture.hpp"

#include <catch2/catch.hpp>

using namespace sceau;
using crypto::errc;

namespace {

crypto::checkpoint sample_checkpoint() {
    crypto::checkpoint c;
    c.origin = "lettres.example/sceau-log";
    c.tree_size = 1234;
    c.root_hash = crypto::merkle::leaf_hash(std::string_view("root"));
    return c;
}

/// The error code a call throws, or nothing.
template <typename F>
std::optional<errc> thrown(F&& f) {
    try {
        f();
    } catch (const crypto::error& e) {
        return static_cast<errc>(e.code().value());
    }
    return std::nullopt;
}

/// The signature line's base64 of a one-signature note.
std::string signature_base64(const std::string& note) {
    auto line = note.substr(note.rfind("\n\n") + 2);
    return line.substr(line.rfind(' ') + 1, line.size() - line.rfind(' ') - 2);
}

} // namespace

TEST_CASE("a checkpoint signed with the seal key verifies with openssl alone", "[crypto][note]") {
    auto seal = test::sample_identity("seal");
    crypto::note_signer signer("lettres.example/sceau-log", seal.key.get());
    auto text = crypto::checkpoint_text(sample_checkpoint());
    CHECK(text == "lettres.example/sceau-log\n1234\n" +
                      crypto::to_base64(sample_checkpoint().root_hash) + "\n");
    auto note = signer.sign(text);

    // C2SP signed-note: the text, a blank line, "— NAME base64(key ID || signature)".
    REQUIRE(note.rfind(text + "\n\xE2\x80\x94 lettres.example/sceau-log ", 0) == 0);
    CHECK(note.back() == '\n');

    test::temp_dir dir;
    test::write_file(dir / "text", text);
    test::write_file(dir / "sig.b64", signature_base64(note));
    auto d = "'" + dir.path().string() + "'";
    REQUIRE(test::run("openssl pkey -in '" + test::source_path("certs-sample/seal.key").string() +
                      "' -pubout -out " + d + "/seal.pub")
                .status == 0);
    REQUIRE(test::run("cd " + d + " && openssl base64 -d -A -in sig.b64 -out sig.bin && " +
                      "tail -c +5 sig.bin > sig.der")
                .status == 0);

    // The signature is ECDSA with SHA-256 over the note text, DER-encoded.
    auto verified =
        test::run("cd " + d + " && openssl dgst -sha256 -verify seal.pub -signature sig.der text");
    INFO(verified.output);
    CHECK(verified.status == 0);
    CHECK(verified.output.find("Verified OK") != std::string::npos);

    // The key ID of type 0x02: SHA-256 of the SubjectPublicKeyInfo DER, first 4 bytes.
    auto id = test::run("cd " + d +
                        " && openssl pkey -pubin -in seal.pub -outform DER | openssl dgst "
                        "-sha256 -binary | head -c 4 | od -An -tx1 | tr -d ' \\n'");
    auto note_id = test::run("cd " + d + " && head -c 4 sig.bin | od -An -tx1 | tr -d ' \\n'");
    REQUIRE(id.status == 0);
    CHECK(id.output.size() == 8);
    CHECK(id.output == note_id.output);
    char hex[9];
    std::snprintf(hex, sizeof hex, "%08x", signer.key_id());
    CHECK(id.output == hex);

    // One changed byte of the text and openssl refuses it.
    auto forged = text;
    forged[forged.find("1234")] = '9';
    test::write_file(dir / "forged", forged);
    CHECK(test::run("cd " + d +
                    " && openssl dgst -sha256 -verify seal.pub -signature sig.der "
                    "forged")
              .status != 0);
}

TEST_CASE("an RSA seal signs notes that openssl verifies, with a type of their own",
          "[crypto][note]") {
    // RSA PKCS#1 v1.5 with SHA-256, type 0xff "sceau-rsa-pkcs1-sha256" in the key ID.
    auto key_file = test::source_path("tests/fixtures/hostile/keys/erds-seal-key.pem").string();
    auto rsa = crypto::private_key_from_pem(test::read_file(key_file));
    crypto::note_signer signer("lettres.example/sceau-log", rsa.get());
    auto text = crypto::checkpoint_text(sample_checkpoint());
    auto note = signer.sign(text);
    CHECK(crypto::note_verifier::from_verifier_key(signer.verifier_key()).open(note) == text);

    test::temp_dir dir;
    auto d = "'" + dir.path().string() + "'";
    test::write_file(dir / "text", text);
    test::write_file(dir / "sig.b64", signature_base64(note));
    REQUIRE(test::run("cd " + d + " && openssl base64 -d -A -in sig.b64 -out sig.bin && " +
                      "tail -c +5 sig.bin > sig.der && openssl pkey -in '" + key_file +
                      "' -pubout -out seal.pub")
                .status == 0);
    auto verified =
        test::run("cd " + d + " && openssl dgst -sha256 -verify seal.pub -signature sig.der text");
    INFO(verified.output);
    CHECK(verified.output.find("Verified OK") != std::string::npos);
    auto id = test::run("cd " + d +
                        " && { printf 'lettres.example/sceau-log\\n\\377sceau-rsa-pkcs1-sha256'; "
                        "openssl pkey -pubin -in seal.pub -outform DER; } | openssl dgst -sha256 "
                        "-binary | head -c 4 | od -An -tx1 | tr -d ' \\n'");
    auto note_id = test::run("cd " + d + " && head -c 4 sig.bin | od -An -tx1 | tr -d ' \\n'");
    CHECK(id.output.size() == 8);
    CHECK(id.output == note_id.output);

    // The ECDSA seal's verifier does not take it, nor the reverse.
    auto seal = test::sample_identity("seal");
    crypto::note_signer ecdsa("lettres.example/sceau-log", seal.key.get());
    CHECK(thrown([&] { ecdsa.verifier().open(note); }) == errc::note_key_unknown);
    CHECK(thrown([&] { signer.verifier().open(ecdsa.sign(text)); }) == errc::note_key_unknown);
}

TEST_CASE("a note opens only with its key, and a forged one is refused", "[crypto][note]") {
    auto seal = test::sample_identity("seal");
    crypto::note_signer signer("lettres.example/sceau-log", seal.key.get());
    auto text = crypto::checkpoint_text(sample_checkpoint());
    auto note = signer.sign(text);

    // A verifier built from the published verifier key opens it.
    auto verifier = crypto::note_verifier::from_verifier_key(signer.verifier_key());
    CHECK(verifier.key_id() == signer.key_id());
    CHECK(verifier.open(note) == text);
    auto parsed = crypto::parse_checkpoint(verifier.open(note));
    CHECK(parsed.origin == "lettres.example/sceau-log");
    CHECK(parsed.tree_size == 1234);
    CHECK(parsed.root_hash == sample_checkpoint().root_hash);

    // The text changed under the signature.
    auto forged = note;
    forged[forged.find("1234")] = '9';
    CHECK(thrown([&] { verifier.open(forged); }) == errc::note_signature_invalid);

    // Another key under the same name: another key ID, so not this key's signature.
    auto other = test::sample_identity("tsa");
    crypto::note_signer impostor("lettres.example/sceau-log", other.key.get());
    CHECK(impostor.key_id() != signer.key_id());
    CHECK(thrown([&] { verifier.open(impostor.sign(text)); }) == errc::note_key_unknown);

    // The impostor's signature behind our key ID: a signature of our key that fails.
    auto theirs = crypto::from_base64(signature_base64(impostor.sign(text)));
    auto ours = crypto::from_base64(signature_base64(note));
    std::copy(ours.begin(), ours.begin() + 4, theirs.begin());
    auto spliced =
        text + "\n\xE2\x80\x94 lettres.example/sceau-log " + crypto::to_base64(theirs) + "\n";
    CHECK(thrown([&] { verifier.open(spliced); }) == errc::note_signature_invalid);

    // Unknown signatures beside ours are ignored, as the note format asks.
    auto cosigned = note + "\xE2\x80\x94 witness.example " + crypto::to_base64(theirs) + "\n";
    CHECK(verifier.open(cosigned) == text);
    auto first_unknown = text + "\n\xE2\x80\x94 witness.example " + crypto::to_base64(theirs) +
                         "\n" + note.substr(text.size() + 1);
    CHECK(verifier.open(first_unknown) == text);
}

TEST_CASE("malformed notes, checkpoints and keys are refused with a reason", "[crypto][note]") {
    auto seal = test::sample_identity("seal");
    crypto::note_signer signer("log.example", seal.key.get());
    auto text = crypto::checkpoint_text(sample_checkpoint());
    auto note = signer.sign(text);
    auto sig_line = note.substr(text.size() + 1);

    const std::string notes[] = {
        "",
        text,                                       // no signatures
        text + "\n",                                // blank line, no signature
        text + "\n- log.example AAAA\n",            // not an em dash
        text + "\n\xE2\x80\x94 log.example\n",      // no signature
        text + "\n\xE2\x80\x94  AAAAAAAA\n",        // empty name
        text + "\n\xE2\x80\x94 log.example AAAA\n", // four bytes: no room for a signature
        text + "\n\xE2\x80\x94 log.example !!!!\n", // not base64
        text + "\n" + sig_line.substr(0, sig_line.size() - 1), // no final newline
        text + "\r\n" + sig_line,                              // a carriage return
        "a\x01" + text.substr(1) + "\n" + sig_line,            // a control character
        "\xff\xfe" + text + "\n" + sig_line,                   // not UTF-8
        std::string(70000, 'a') + "\n\n" + sig_line,           // too large
    };
    for (const auto& n : notes) {
        INFO(n.substr(0, 80));
        CHECK(thrown([&] { signer.verifier().open(n); }) == errc::note_malformed);
    }
    std::string many = text + "\n";
    for (int i = 0; i < 65; ++i)
        many += sig_line;
    CHECK(thrown([&] { crypto::parse_signed_note(many); }) == errc::note_malformed);

    auto root = crypto::to_base64(sample_checkpoint().root_hash);
    const std::string checkpoints[] = {
        "origin\n12\n",                                 // no root
        "\n12\n" + root + "\n",                         // empty origin
        "origin\n012\n" + root + "\n",                  // leading zero
        "origin\n-1\n" + root + "\n",                   // negative
        "origin\n18446744073709551616\n" + root + "\n", // past 64 bits
        "origin\n12\n" + root.substr(4) + "\n",         // short hash
        "origin\n12\n" + root,                          // no final newline
        "origin\n12\n" + root + "\n\nextension\n",      // empty extension line
        "origin\n 12\n" + root + "\n",                  // a space
    };
    for (const auto& c : checkpoints) {
        INFO(c);
        CHECK(thrown([&] { crypto::parse_checkpoint(c); }) == errc::note_malformed);
    }
    auto extended = crypto::parse_checkpoint("origin\n12\n" + root + "\nextra line\n");
    CHECK(extended.extensions == std::vector<std::string>{"extra line"});
    CHECK(crypto::checkpoint_text(extended) == "origin\n12\n" + root + "\nextra line\n");

    // Only ECDSA P-256 or RSA of 2048 bits or more, only names without spaces or '+',
    // only note texts.
    test::temp_dir dir;
    auto generate = [&](const std::string& name, const std::string& options) {
        auto r = test::run("openssl genpkey " + options + " -out '" + (dir / name).string() + "'");
        REQUIRE(r.status == 0);
        return crypto::private_key_from_pem(test::read_file(dir / name));
    };
    auto p384 = generate("p384.pem", "-algorithm EC -pkeyopt ec_paramgen_curve:P-384");
    auto rsa1024 = generate("rsa1024.pem", "-algorithm RSA -pkeyopt rsa_keygen_bits:1024");
    CHECK(thrown([&] { crypto::note_signer("log.example", p384.get()); }) == errc::bad_key);
    CHECK(thrown([&] { crypto::note_signer("log.example", rsa1024.get()); }) == errc::bad_key);
    CHECK(thrown([&] { crypto::note_signer("log example", seal.key.get()); }) == errc::bad_key);
    CHECK(thrown([&] { crypto::note_signer("log+example", seal.key.get()); }) == errc::bad_key);
    CHECK(thrown([&] { signer.sign("no final newline"); }) == errc::note_malformed);
    CHECK(thrown([&] { signer.sign("a\n\nb\n"); }) == errc::note_malformed);
    CHECK(thrown([&] { crypto::note_verifier::from_verifier_key("log.example+00000000+AA=="); }) ==
          errc::bad_key);
    auto key = signer.verifier_key();
    auto wrong_id = key;
    wrong_id[key.find('+') + 1] = wrong_id[key.find('+') + 1] == '0' ? '1' : '0';
    CHECK(thrown([&] { crypto::note_verifier::from_verifier_key(wrong_id); }) == errc::bad_key);
}

TEST_CASE("the checkpointer signs and time-stamps the log only when it grew",
          "[storage][log][note]") {
    test::log_fixture f(0);
    auto& db = f.db;
    auto seal = test::sample_identity("seal");
    crypto::note_signer signer("lettres.example/sceau-log", seal.key.get());
    crypto::builtin_tsa tsa(test::sample_identity("tsa"), "2.25.1");
    protocols::checkpointer checkpoints(*db, signer, tsa,
                                        [] { return std::chrono::system_clock::now(); });
    CHECK_FALSE(checkpoints.checkpoint_now()); // an empty log has no checkpoint

    f.append(3);
    auto first = checkpoints.checkpoint_now();
    REQUIRE(first);
    CHECK(first->tree_size == 3);
    CHECK(first->root_hash == db->log_root(3));
    auto c = crypto::parse_checkpoint(signer.verifier().open(first->note));
    CHECK(c.origin == "lettres.example/sceau-log");
    CHECK(c.tree_size == 3);
    CHECK(c.root_hash == db->log_root(3));

    // The time-stamp covers the whole signed note: openssl ts checks it with the root.
    test::temp_dir dir;
    test::write_file(dir / "note", first->note);
    auto der = crypto::from_base64(first->timestamp_token);
    test::write_file(dir / "token.der", std::string(der.begin(), der.end()));
    auto ts = test::run("openssl ts -verify -token_in -in '" + (dir / "token.der").string() +
                        "' -data '" + (dir / "note").string() + "' -CAfile '" +
                        test::source_path("certs-sample/root-ca.pem").string() + "' -untrusted '" +
                        test::source_path("certs-sample/tsa.pem").string() + "'");
    INFO(ts.output);
    CHECK(ts.status == 0);
    CHECK(ts.output.find("Verification: OK") != std::string::npos);
    test::write_file(dir / "note", first->note + " ");
    CHECK(test::run("openssl ts -verify -token_in -in '" + (dir / "token.der").string() +
                    "' -data '" + (dir / "note").string() + "' -CAfile '" +
                    test::source_path("certs-sample/root-ca.pem").string() + "' -untrusted '" +
                    test::source_path("certs-sample/tsa.pem").string() + "'")
              .status != 0);

    // Nothing new: the same checkpoint, no second row.
    auto again = checkpoints.checkpoint_now();
    REQUIRE(again);
    CHECK(again->note == first->note);
    CHECK(db->checkpoints().size() == 1);

    f.append(1);
    auto second = checkpoints.checkpoint_now();
    REQUIRE(second);
    CHECK(second->tree_size == 4);
    auto proof = db->log_consistency(3, 4);
    CHECK(
        crypto::merkle::verify_consistency(3, 4, first->root_hash, second->root_hash, proof.path));
    CHECK(db->checkpoints().size() == 2);
}
