#pragma once
// Hashes of the transparency log as the audit API writes them: standard base64.

#include "crypto/encoding.hpp"
#include "crypto/merkle.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <vector>

namespace sceau::test {

inline crypto::merkle::hash hash_of(const nlohmann::json& b64) {
    auto raw = crypto::from_base64(b64.get<std::string>());
    REQUIRE(raw.size() == 32);
    crypto::merkle::hash h{};
    std::copy(raw.begin(), raw.end(), h.begin());
    return h;
}

inline std::vector<crypto::merkle::hash> hashes_of(const nlohmann::json& list) {
    std::vector<crypto::merkle::hash> out;
    for (const auto& item : list)
        out.push_back(hash_of(item));
    return out;
}

} // namespace sceau::test
