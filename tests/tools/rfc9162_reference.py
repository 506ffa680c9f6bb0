#!/usr/bin/env python3
"""An independent reference of RFC 9162 Merkle trees, to check the store's proofs.

    rfc9162_reference.py PROOFS.json

PROOFS.json, written by the storage test, holds the leaves (hex) and what the product
computed: roots by tree size, inclusion proofs [leaf, size, [base64...]] and consistency
proofs [first, second, [base64...]]. This script recomputes each from the definitions of
RFC 9162 section 2.1 (MTH, PATH, PROOF, SUBPROOF) with hashlib, written the plain
recursive way, and compares them exactly. It shares no code with the product. Exit 0 when
everything matches; otherwise it prints the first mismatches and exits 1.
"""

import base64
import functools
import hashlib
import json
import sys


def main():
    with open(sys.argv[1]) as f:
        data = json.load(f)
    leaves = [bytes.fromhex(x) for x in data["leaves"]]

    @functools.lru_cache(maxsize=None)
    def mth(lo, hi):
        """MTH(D[lo:hi]), RFC 9162 section 2.1.1."""
        n = hi - lo
        if n == 0:
            return hashlib.sha256(b"").digest()
        if n == 1:
            return hashlib.sha256(b"\x00" + leaves[lo]).digest()
        k = split(n)
        return hashlib.sha256(b"\x01" + mth(lo, lo + k) + mth(lo + k, hi)).digest()

    def split(n):
        """The largest power of two smaller than n."""
        k = 1
        while k * 2 < n:
            k *= 2
        return k

    def path(m, lo, hi):
        """PATH(m, D[lo:hi]), RFC 9162 section 2.1.3.1; m relative to lo."""
        n = hi - lo
        if n == 1:
            return []
        k = split(n)
        if m < k:
            return path(m, lo, lo + k) + [mth(lo + k, hi)]
        return path(m - k, lo + k, hi) + [mth(lo, lo + k)]

    def subproof(m, lo, hi, whole):
        """SUBPROOF(m, D[lo:hi], b), RFC 9162 section 2.1.4.1; m relative to lo."""
        n = hi - lo
        if m == n:
            return [] if whole else [mth(lo, hi)]
        k = split(n)
        if m <= k:
            return subproof(m, lo, lo + k, whole) + [mth(lo + k, hi)]
        return subproof(m - k, lo + k, hi, False) + [mth(lo, lo + k)]

    def decode(items):
        return [base64.b64decode(x, validate=True) for x in items]

    failures = []
    checked = 0
    for size, root in data["roots"].items():
        checked += 1
        if base64.b64decode(root) != mth(0, int(size)):
            failures.append(f"root of {size} leaves")
    for leaf, size, proof in data["inclusion"]:
        checked += 1
        if decode(proof) != path(leaf, 0, size):
            failures.append(f"inclusion of leaf {leaf} in {size}")
    for first, second, proof in data["consistency"]:
        checked += 1
        if decode(proof) != subproof(first, 0, second, True):
            failures.append(f"consistency from {first} to {second}")

    for f in failures[:20]:
        print("mismatch:", f)
    print(f"reference: {checked} checked, {len(failures)} mismatches")
    sys.exit(1 if failures or checked == 0 else 0)


if __name__ == "__main__":
    main()
