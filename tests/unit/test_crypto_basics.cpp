#include "crypto/encoding.hpp"
#include "crypto/error.hpp"
#include "crypto/hmac.hpp"
#include "crypto/random.hpp"
#include "crypto/sha256.hpp"

#include <catch2/catch.hpp>

using namespace sceau::crypto;

TEST_CASE("SHA-256 matches the FIPS 180-2 test vectors", "[crypto][sha256]") {
    CHECK(to_hex(sha256::of(std::string_view("abc"))) ==
          "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");

    sha256 h;
    h.update(std::string_view("abcdbcdecdefdefgefghfghighijhi"));
    h.update(std::string_view("jkijkljklmklmnlmnomnopnopq"));
    CHECK(to_hex(h.finish()) == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST_CASE("HMAC-SHA256 matches the RFC 4231 test vectors", "[crypto][hmac]") {
    // RFC 4231 section 4.2, test case 1: a 20-byte key.
    std::vector<std::uint8_t> key1(20, 0x0b);
    CHECK(to_hex(hmac_sha256(key1, as_bytes("Hi There"))) ==
          "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");

    // Section 4.3, test case 2: a key shorter than the output.
    CHECK(to_hex(hmac_sha256("Jefe", "what do ya want for nothing?")) ==
          "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");

    // Section 4.7, test case 6: a key longer than the block, hashed first.
    std::vector<std::uint8_t> key6(131, 0xaa);
    CHECK(to_hex(hmac_sha256(key6, as_bytes("Test Using Larger Than Block-Size Key - Hash Key "
                                            "First"))) ==
          "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");

    // Empty inputs, against `openssl dgst -sha256 -hmac key` and Python's hmac module.
    CHECK(to_hex(hmac_sha256("key", "")) ==
          "5d5d139563c95b5967b9bd9a8c9b233a9dedb45072794cd232dc1b74832607d0");
    CHECK(to_hex(hmac_sha256("", "")) ==
          "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");

    // One changed bit of the data changes the MAC.
    CHECK(hmac_sha256("Jefe", "what do ya want for nothing?") !=
          hmac_sha256("Jefe", "what do ya want for nothing>"));
}

TEST_CASE("base64 round-trips and rejects garbage", "[crypto][encoding]") {
    CHECK(to_base64(as_bytes("foob")) == "Zm9vYg==");
    auto back = from_base64("Zm9v\nYg==");
    CHECK(std::string(back.begin(), back.end()) == "foob");
    CHECK_THROWS_AS(from_base64("Zm9"), sceau::crypto::error);
    CHECK_THROWS_AS(from_base64("Z!9v"), sceau::crypto::error);
    CHECK(to_base64url(std::vector<std::uint8_t>{0xfb, 0xff}) == "-_8");
}

TEST_CASE("random identifiers carry their prefix and differ", "[crypto][random]") {
    auto a = random_id("ltr_");
    auto b = random_id("ltr_");
    CHECK(a.rfind("ltr_", 0) == 0);
    CHECK(a.size() == 4 + 26); // 128 bits in base32
    CHECK(a != b);
}
