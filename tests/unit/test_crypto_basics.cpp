#include "crypto/encoding.hpp"
#include "crypto/error.hpp"
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
