#pragma once

#include "crypto/sha256.hpp"

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

/// The Merkle tree hashing of RFC 9162 (Certificate Transparency 2.0), section 2.1, with
/// SHA-256: what the transparency log of evidence records is built with, and what anyone
/// who checks it needs. All functions are pure; none reads the store.
namespace sceau::crypto::merkle {

using hash = sha256_digest;

/// The leaf hash of one entry: SHA-256(0x00 || data) (RFC 9162 section 2.1.1).
hash leaf_hash(std::span<const std::uint8_t> data);
hash leaf_hash(std::string_view data);

/// The hash of an interior node: SHA-256(0x01 || left || right) (RFC 9162 section 2.1.1).
hash node_hash(const hash& left, const hash& right);

/// The Merkle Tree Hash of a list of leaf hashes (MTH of RFC 9162 section 2.1.1); the
/// hash of the empty tree, SHA-256 of nothing, for an empty list.
hash root(std::span<const hash> leaf_hashes);

/// The root of a log built one leaf at a time, kept in O(log n) memory: for a walk over a
/// whole log (an audit) without holding every leaf.
class tree {
public:
    void append(const hash& leaf);
    std::uint64_t size() const noexcept { return size_; }
    /// MTH of the leaves appended so far.
    hash root() const;

private:
    /// The roots of the complete subtrees whose sizes are the bits of size_, largest first.
    std::vector<hash> peaks_;
    std::uint64_t size_ = 0;
};

/// Verifies an inclusion proof (RFC 9162 section 2.1.3.2): that the leaf `leaf` is at
/// `leaf_index` in the tree of `tree_size` leaves whose root is `root`. False on any
/// mismatch, including a path of the wrong length or an index not below the size.
bool verify_inclusion(std::uint64_t leaf_index, std::uint64_t tree_size, const hash& leaf,
                      std::span<const hash> path, const hash& root);

/// Verifies a consistency proof (RFC 9162 section 2.1.4.2): that the tree of `first`
/// leaves with root `first_root` is a prefix of the tree of `second` leaves with root
/// `second_root`. Sizes must satisfy 0 < first <= second; for first == second the proof
/// is empty and the roots equal. False otherwise.
bool verify_consistency(std::uint64_t first, std::uint64_t second, const hash& first_root,
                        const hash& second_root, std::span<const hash> proof);

} // namespace sceau::crypto::merkle
