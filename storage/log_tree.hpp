#pragma once

#include <compare>
#include <cstdint>
#include <vector>

/// The shape of the transparency log's Merkle tree (RFC 9162 section 2.1): which stored
/// subtrees make up a range of leaves, a proof, or what an append completes. Index
/// arithmetic only; the hashing is the caller's (storage::tree_hasher).
namespace sceau::storage::log_tree {

/// A complete subtree: the 2^level leaves from index << level. Level 0 is one leaf.
struct node {
    int level = 0;
    std::uint64_t index = 0;

    std::uint64_t first_leaf() const noexcept { return index << level; }
    std::uint64_t end_leaf() const noexcept { return (index + 1) << level; }
    auto operator<=>(const node&) const = default;
};

/// Leaves [begin, end).
struct range {
    std::uint64_t begin = 0;
    std::uint64_t end = 0;
};

/// The complete subtrees that cover `r`, left to right, largest first. For every range
/// that a proof of RFC 9162 names, MTH(r) is these hashes folded from the right:
/// node(c0, node(c1, ... node(ck-1, ck))). At most 2 log2(size) of them.
std::vector<node> cover(range r);

/// The ranges whose MTH make the inclusion proof of `leaf` in the tree of `size` leaves,
/// in proof order (PATH of RFC 9162 section 2.1.3.1). Requires leaf < size.
std::vector<range> inclusion_ranges(std::uint64_t leaf, std::uint64_t size);

/// The ranges whose MTH make the consistency proof from `first` to `second` leaves, in
/// proof order (PROOF of RFC 9162 section 2.1.4.1). Requires 0 < first <= second.
std::vector<range> consistency_ranges(std::uint64_t first, std::uint64_t second);

/// The left siblings whose hashes an append of leaf `leaf` combines with it, lowest first:
/// appending leaf n completes one subtree for each trailing one bit of n.
std::vector<node> completed_by(std::uint64_t leaf);

} // namespace sceau::storage::log_tree
