#include "storage/log_tree.hpp"

#include <algorithm>
#include <bit>

namespace sceau::storage::log_tree {
namespace {

/// The largest power of two strictly below n (n >= 2): where RFC 9162 splits a tree.
std::uint64_t split_of(std::uint64_t n) {
    return std::bit_floor(n - 1);
}

void path(std::uint64_t leaf, range r, std::vector<range>& out) {
    if (r.end - r.begin <= 1)
        return;
    auto k = split_of(r.end - r.begin);
    if (leaf < r.begin + k) {
        path(leaf, {r.begin, r.begin + k}, out);
        out.push_back({r.begin + k, r.end});
    } else {
        path(leaf, {r.begin + k, r.end}, out);
        out.push_back({r.begin, r.begin + k});
    }
}

/// SUBPROOF(m, D[r], whole) with m the old tree's absolute size.
void subproof(std::uint64_t m, range r, bool whole, std::vector<range>& out) {
    if (m == r.end) {
        if (!whole)
            out.push_back(r);
        return;
    }
    auto k = split_of(r.end - r.begin);
    if (m - r.begin <= k) {
        subproof(m, {r.begin, r.begin + k}, whole, out);
        out.push_back({r.begin + k, r.end});
    } else {
        subproof(m, {r.begin + k, r.end}, false, out);
        out.push_back({r.begin, r.begin + k});
    }
}

} // namespace

std::vector<node> cover(range r) {
    std::vector<node> out;
    auto at = r.begin;
    while (at < r.end) {
        // The largest subtree that starts at `at` (aligned) and fits before the end.
        auto size = std::bit_floor(r.end - at);
        if (at != 0)
            size = std::min(size, at & (~at + 1));
        auto level = std::countr_zero(size);
        out.push_back({level, at >> level});
        at += size;
    }
    return out;
}

std::vector<range> inclusion_ranges(std::uint64_t leaf, std::uint64_t size) {
    std::vector<range> out;
    path(leaf, {0, size}, out);
    return out;
}

std::vector<range> consistency_ranges(std::uint64_t first, std::uint64_t second) {
    std::vector<range> out;
    subproof(first, {0, second}, true, out);
    return out;
}

std::vector<node> completed_by(std::uint64_t leaf) {
    std::vector<node> out;
    for (int level = 0; (leaf >> level) & 1; ++level)
        out.push_back({level, (leaf >> level) - 1});
    return out;
}

} // namespace sceau::storage::log_tree
