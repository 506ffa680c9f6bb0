#include "crypto/merkle.hpp"

#include "crypto/encoding.hpp"

#include <algorithm>
#include <array>

namespace sceau::crypto::merkle {

hash leaf_hash(std::span<const std::uint8_t> data) {
    static constexpr std::uint8_t prefix[] = {0x00};
    sha256 h;
    h.update(prefix);
    h.update(data);
    return h.finish();
}

hash leaf_hash(std::string_view data) {
    return leaf_hash(as_bytes(data));
}

hash node_hash(const hash& left, const hash& right) {
    std::array<std::uint8_t, 1 + 2 * sizeof(hash)> buffer{};
    buffer[0] = 0x01;
    std::copy(left.begin(), left.end(), buffer.begin() + 1);
    std::copy(right.begin(), right.end(), buffer.begin() + 1 + left.size());
    return sha256::of(buffer);
}

hash root(std::span<const hash> leaf_hashes) {
    tree t;
    for (const auto& leaf : leaf_hashes)
        t.append(leaf);
    return t.root();
}

void tree::append(const hash& leaf) {
    // Each set low bit of the old size is a complete subtree that the new leaf completes
    // into one of twice the size, as a binary counter carries.
    hash carry = leaf;
    for (std::uint64_t bits = size_; bits & 1; bits >>= 1) {
        carry = node_hash(peaks_.back(), carry);
        peaks_.pop_back();
    }
    peaks_.push_back(carry);
    ++size_;
}

hash tree::root() const {
    if (peaks_.empty())
        return sha256::of(std::string_view());
    // MTH splits at the largest power of two below the size: the peaks fold from the right.
    hash out = peaks_.back();
    for (auto it = peaks_.rbegin() + 1; it != peaks_.rend(); ++it)
        out = node_hash(*it, out);
    return out;
}

namespace {

bool lsb(std::uint64_t v) {
    return (v & 1) != 0;
}

} // namespace

bool verify_inclusion(std::uint64_t leaf_index, std::uint64_t tree_size, const hash& leaf,
                      std::span<const hash> path, const hash& root) {
    // RFC 9162 section 2.1.3.2, step by step.
    if (leaf_index >= tree_size)
        return false;
    std::uint64_t fn = leaf_index;
    std::uint64_t sn = tree_size - 1;
    hash r = leaf;
    for (const auto& p : path) {
        if (sn == 0)
            return false;
        if (lsb(fn) || fn == sn) {
            r = node_hash(p, r);
            while (!lsb(fn) && fn != 0) {
                fn >>= 1;
                sn >>= 1;
            }
        } else {
            r = node_hash(r, p);
        }
        fn >>= 1;
        sn >>= 1;
    }
    return sn == 0 && r == root;
}

bool verify_consistency(std::uint64_t first, std::uint64_t second, const hash& first_root,
                        const hash& second_root, std::span<const hash> proof) {
    if (first == 0 || first > second)
        return false;
    if (first == second)
        return proof.empty() && first_root == second_root;

    // RFC 9162 section 2.1.4.2, step by step.
    if (proof.empty())
        return false;
    std::vector<hash> path;
    if ((first & (first - 1)) == 0) // an exact power of two: its root starts the path
        path.push_back(first_root);
    path.insert(path.end(), proof.begin(), proof.end());

    std::uint64_t fn = first - 1;
    std::uint64_t sn = second - 1;
    while (lsb(fn)) {
        fn >>= 1;
        sn >>= 1;
    }
    hash fr = path.front();
    hash sr = path.front();
    for (auto it = path.begin() + 1; it != path.end(); ++it) {
        if (sn == 0)
            return false;
        if (lsb(fn) || fn == sn) {
            fr = node_hash(*it, fr);
            sr = node_hash(*it, sr);
            while (!lsb(fn) && fn != 0) {
                fn >>= 1;
                sn >>= 1;
            }
        } else {
            sr = node_hash(sr, *it);
        }
        fn >>= 1;
        sn >>= 1;
    }
    return fr == first_root && sr == second_root && sn == 0;
}

} // namespace sceau::crypto::merkle
