"""RFC 6962 / RFC 9162 Merkle trees: published vectors, a reference model and properties.

The known-answer data is taken from github.com/transparency-dev/merkle (the Go library behind
Trillian and the Certificate Transparency tooling):

* proof/verify_test.go (commit 02194e9afb6c1d95b5381350007963aa70fff472): the eight `leaves`,
  their `roots` for sizes 1..8, `inclusionProofs`, `consistencyProofs`, and the corruptions of
  `corruptInclusionProof` / `corruptConsistencyProof` / `TestVerifyConsistency`. That file
  numbers leaves from 1 in `inclusionProofs`, so its {1, 8, ...} is index 0 here.
* rfc6962/rfc6962_test.go (commit 78493b07ef9b552e3379abf9e23d4da26fbe797c): hasher vectors.
* proof/proof_test.go (commit 02a3e2029520f515596d5238c54fb0ac9e19bff4): which tree nodes
  make up each proof in `TestInclusion` / `TestConsistency`, as (level, index) node IDs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evidence.merkle import (
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    root_from_hashes,
    verify_consistency,
    verify_inclusion,
)

EMPTY = bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")

LEAVES = [
    bytes.fromhex(""),
    bytes.fromhex("00"),
    bytes.fromhex("10"),
    bytes.fromhex("2021"),
    bytes.fromhex("3031"),
    bytes.fromhex("40414243"),
    bytes.fromhex("5051525354555657"),
    bytes.fromhex("606162636465666768696a6b6c6d6e6f"),
]
LEAF_HASHES = [leaf_hash(data) for data in LEAVES]

ROOTS = [  # ROOTS[n - 1] is the root of LEAVES[:n]
    bytes.fromhex(h)
    for h in (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    )
]


def hexes(*values: str) -> list[bytes]:
    return [bytes.fromhex(value) for value in values]


INCLUSION_VECTORS = [  # (index, size, proof)
    (0, 1, []),
    (
        0,
        8,
        hexes(
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ),
    ),
    (
        5,
        8,
        hexes(
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ),
    ),
    (2, 3, hexes("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")),
    (
        1,
        5,
        hexes(
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ),
    ),
]

CONSISTENCY_VECTORS = [  # (old_size, new_size, proof)
    (1, 1, []),
    (
        1,
        8,
        hexes(
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ),
    ),
    (
        6,
        8,
        hexes(
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ),
    ),
    (
        2,
        5,
        hexes(
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ),
    ),
    (
        6,
        7,
        hexes(
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ),
    ),
]


# --- a reference model written straight from the RFC 6962 §2.1 definitions (recursive) ---


def ref_split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(hashes: Sequence[bytes]) -> bytes:
    if not hashes:
        return hashlib.sha256(b"").digest()
    if len(hashes) == 1:
        return hashes[0]
    k = ref_split(len(hashes))
    return node_hash(ref_mth(hashes[:k]), ref_mth(hashes[k:]))


def ref_path(m: int, hashes: Sequence[bytes]) -> list[tuple[bytes, str]]:
    """PATH(m, D[n]) with the side each sibling sits on: the proof's shape."""
    if len(hashes) == 1:
        return []
    k = ref_split(len(hashes))
    if m < k:
        return [*ref_path(m, hashes[:k]), (ref_mth(hashes[k:]), "right")]
    return [*ref_path(m - k, hashes[k:]), (ref_mth(hashes[:k]), "left")]


def ref_subproof(m: int, hashes: Sequence[bytes], complete: bool) -> list[bytes]:
    n = len(hashes)
    if m == n:
        return [] if complete else [ref_mth(hashes)]
    k = ref_split(n)
    if m <= k:
        return [*ref_subproof(m, hashes[:k], complete), ref_mth(hashes[k:])]
    return [*ref_subproof(m - k, hashes[k:], False), ref_mth(hashes[:k])]


def ref_consistency(m: int, hashes: Sequence[bytes]) -> list[bytes]:
    return [] if m in (0, len(hashes)) else ref_subproof(m, hashes, True)


def shape(index: int, size: int) -> list[str]:
    return [side for _, side in ref_path(index, [b"%d" % i for i in range(size)])]


def flip(value: bytes, position: int = 0, mask: int = 0x08) -> bytes:
    changed = bytearray(value)
    changed[position] ^= mask
    return bytes(changed)


def synthetic_leaf_hashes(count: int, salt: bytes = b"") -> list[bytes]:
    return [leaf_hash(salt + i.to_bytes(4, "big")) for i in range(count)]


# --- hashing and roots ---


def test_hasher_vectors() -> None:
    # rfc6962/rfc6962_test.go, TestRFC6962Hasher
    assert root_from_hashes([]) == EMPTY == root([])
    assert leaf_hash(b"") == bytes.fromhex(
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )
    assert leaf_hash(b"L123456") == bytes.fromhex(
        "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
    )
    assert node_hash(b"N123", b"N456") == bytes.fromhex(
        "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"
    )


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_of_the_published_tree(size: int) -> None:
    assert root(LEAVES[:size]) == ROOTS[size - 1]
    assert root_from_hashes(LEAF_HASHES[:size]) == ROOTS[size - 1]
    assert root_from_hashes(tuple(LEAF_HASHES[:size])) == ROOTS[size - 1]


def test_root_takes_data_not_hashes() -> None:
    assert root([b"data"]) == leaf_hash(b"data") != b"data"
    assert root(LEAF_HASHES) != root(LEAVES)


# --- inclusion ---


@pytest.mark.parametrize(("index", "size", "expected"), INCLUSION_VECTORS)
def test_inclusion_vectors(index: int, size: int, expected: list[bytes]) -> None:
    tree_root = ROOTS[size - 1]
    leaf = LEAF_HASHES[index]
    assert inclusion_proof(LEAF_HASHES[:size], index) == expected
    assert verify_inclusion(leaf, index, size, expected, tree_root)

    # corruptInclusionProof in proof/verify_test.go: every probe must be refused.
    probes: list[tuple[bytes, int, int, list[bytes], bytes]] = [
        (leaf, index - 1, size, expected, tree_root),
        (leaf, index + 1, size, expected, tree_root),
        (leaf, index ^ 2, size, expected, tree_root),
        (leaf, index, size * 2, expected, tree_root),
        (leaf, index, size // 2, expected, tree_root),
        (b"WrongLeaf", index, size, expected, tree_root),
        (leaf, index, size, expected, EMPTY),
        (leaf, index, size, expected, SOME_HASH),
        (leaf, index, size, [*expected, b""], tree_root),
        (leaf, index, size, [*expected, tree_root], tree_root),
        (leaf, index, size, [b"", *expected], tree_root),
        (leaf, index, size, [tree_root, *expected], tree_root),
    ]
    for i in range(len(expected)):
        wrong = list(expected)
        wrong[i] = flip(wrong[i])
        probes.append((leaf, index, size, wrong, tree_root))
    if expected:
        probes.append((leaf, index, size, expected[:-1], tree_root))
    if len(expected) > 1:
        probes.append((leaf, index, size, [expected[0], SOME_HASH, *expected[1:]], tree_root))
    for probe in probes:
        assert verify_inclusion(*probe) is False, probe


INCLUSION_NODES = [  # (size, index, node IDs (level, index), rehash span) from TestInclusion
    (1, 0, [], None),
    (2, 0, [(0, 1)], None),
    (2, 1, [(0, 0)], None),
    (3, 1, [(0, 0), (0, 2)], None),
    (7, 0, [(0, 1), (1, 1), (0, 6), (1, 2)], (2, 4)),
    (7, 1, [(0, 0), (1, 1), (0, 6), (1, 2)], (2, 4)),
    (7, 2, [(0, 3), (1, 0), (0, 6), (1, 2)], (2, 4)),
    (7, 3, [(0, 2), (1, 0), (0, 6), (1, 2)], (2, 4)),
    (7, 4, [(0, 5), (0, 6), (2, 0)], None),
    (7, 5, [(0, 4), (0, 6), (2, 0)], None),
    (7, 6, [(1, 2), (2, 0)], None),
    (4, 2, [(0, 3), (1, 0)], None),
    (5, 3, [(0, 2), (1, 0), (0, 4)], None),
    (6, 3, [(0, 2), (1, 0), (1, 2)], None),
    (6, 4, [(0, 5), (2, 0)], None),
    (15, 10, [(0, 11), (1, 4), (0, 14), (1, 6), (3, 0)], (2, 4)),
    (31, 24, [(0, 25), (1, 13), (0, 30), (1, 14), (3, 2), (4, 0)], (2, 4)),
    (95, 81, [(0, 80), (1, 41), (2, 21), (0, 94), (1, 46), (2, 22), (4, 4), (6, 0)], (3, 6)),
]

CONSISTENCY_NODES = [  # (old_size, new_size, node IDs, rehash span) from TestConsistency
    (1, 2, [(0, 1)], None),
    (1, 4, [(0, 1), (1, 1)], None),
    (1, 6, [(0, 1), (1, 1), (1, 2)], None),
    (2, 3, [(0, 2)], None),
    (2, 8, [(1, 1), (2, 1)], None),
    (3, 7, [(0, 2), (0, 3), (1, 0), (0, 6), (1, 2)], (3, 5)),
    (4, 7, [(0, 6), (1, 2)], (0, 2)),
    (5, 7, [(0, 4), (0, 5), (0, 6), (2, 0)], None),
    (6, 7, [(1, 2), (0, 6), (2, 0)], None),
    (7, 8, [(0, 6), (0, 7), (1, 2), (2, 0)], None),
    *[(n, n, [], None) for n in (1, 2, 3, 4, 5, 7, 8)],
    (2, 4, [(1, 1)], None),
    (3, 5, [(0, 2), (0, 3), (1, 0), (0, 4)], None),
    (3, 6, [(0, 2), (0, 3), (1, 0), (1, 2)], None),
    (4, 6, [(1, 2)], None),
    (1, 7, [(0, 1), (1, 1), (0, 6), (1, 2)], (2, 4)),
    (10, 15, [(1, 4), (1, 5), (0, 14), (1, 6), (3, 0)], (2, 4)),
    (24, 31, [(3, 2), (0, 30), (1, 14), (2, 6), (4, 0)], (1, 4)),
    (
        81,
        95,
        [(0, 80), (0, 81), (1, 41), (2, 21), (0, 94), (1, 46), (2, 22), (4, 4), (6, 0)],
        (4, 7),
    ),
]


def expected_from_nodes(
    hashes: Sequence[bytes], nodes: list[tuple[int, int]], rehash: tuple[int, int] | None
) -> list[bytes]:
    """Turn the Go tests' node IDs into hashes; a rehash span is one ephemeral node."""
    spans = [(index << level, (index + 1) << level) for level, index in nodes]
    if rehash is not None:
        begin, end = rehash
        group = spans[begin:end]
        merged = (min(start for start, _ in group), max(stop for _, stop in group))
        spans[begin:end] = [merged]
    assert all(stop <= len(hashes) for _, stop in spans)
    return [ref_mth(hashes[start:stop]) for start, stop in spans]


@pytest.mark.parametrize(("size", "index", "nodes", "rehash"), INCLUSION_NODES)
def test_inclusion_proof_nodes(
    size: int, index: int, nodes: list[tuple[int, int]], rehash: tuple[int, int] | None
) -> None:
    hashes = synthetic_leaf_hashes(size)
    proof = inclusion_proof(hashes, index)
    assert proof == expected_from_nodes(hashes, nodes, rehash)
    assert verify_inclusion(hashes[index], index, size, proof, root_from_hashes(hashes))


@pytest.mark.parametrize(("old_size", "new_size", "nodes", "rehash"), CONSISTENCY_NODES)
def test_consistency_proof_nodes(
    old_size: int, new_size: int, nodes: list[tuple[int, int]], rehash: tuple[int, int] | None
) -> None:
    hashes = synthetic_leaf_hashes(new_size)
    proof = consistency_proof(hashes, old_size)
    assert proof == expected_from_nodes(hashes, nodes, rehash)
    old_root, new_root = root_from_hashes(hashes[:old_size]), root_from_hashes(hashes)
    assert verify_consistency(old_size, new_size, old_root, new_root, proof)


def test_single_leaf_inclusion() -> None:
    # TestVerifyInclusionSingleEntry: root and leaf hash coincide, the proof is empty.
    only = leaf_hash(b"data")
    assert verify_inclusion(only, 0, 1, [], only)
    assert not verify_inclusion(only, 0, 1, [], b"")
    assert not verify_inclusion(b"", 0, 1, [], only)
    assert not verify_inclusion(b"", 0, 1, [], b"")
    # TestVerifyInclusion: impossible (index, size) pairs with an empty proof.
    for index, size in ((0, 0), (0, 1), (1, 0), (2, 1)):
        assert not verify_inclusion(SOME_HASH, index, size, [], b"")
        assert not verify_inclusion(b"", index, size, [], EMPTY)
        assert not verify_inclusion(SOME_HASH, index, size, [], EMPTY)


# --- consistency ---


@pytest.mark.parametrize(("old_size", "new_size", "expected"), CONSISTENCY_VECTORS)
def test_consistency_vectors(old_size: int, new_size: int, expected: list[bytes]) -> None:
    old_root, new_root = ROOTS[old_size - 1], ROOTS[new_size - 1]
    assert consistency_proof(LEAF_HASHES[:new_size], old_size) == expected
    assert verify_consistency(old_size, new_size, old_root, new_root, expected)
    if not expected:
        return
    # corruptConsistencyProof in proof/verify_test.go: every probe must be refused.
    wrong_root = hashlib.sha256(b"WrongRoot").digest()
    probes: list[tuple[int, int, bytes, bytes, list[bytes]]] = [
        (old_size - 1, new_size, old_root, new_root, expected),
        (old_size + 1, new_size, old_root, new_root, expected),
        (old_size ^ 2, new_size, old_root, new_root, expected),
        (old_size, new_size * 2, old_root, new_root, expected),
        (old_size, new_size // 2, old_root, new_root, expected),
        (old_size, new_size, b"WrongRoot", new_root, expected),
        (old_size, new_size, wrong_root, new_root, expected),
        (old_size, new_size, old_root, wrong_root, expected),
        (old_size, new_size, new_root, old_root, expected),
        (old_size, new_size, old_root, new_root, []),
        (old_size, new_size, old_root, new_root, [*expected, b""]),
        (old_size, new_size, old_root, new_root, [*expected, old_root]),
        (old_size, new_size, old_root, new_root, [*expected, new_root]),
        (old_size, new_size, old_root, new_root, [b"", *expected]),
        (old_size, new_size, old_root, new_root, [old_root, *expected]),
        (old_size, new_size, old_root, new_root, [new_root, *expected]),
        (old_size, new_size, old_root, new_root, [expected[0], *expected]),
        (old_size, new_size, old_root, new_root, expected[:-1]),
    ]
    for i in range(len(expected)):
        wrong = list(expected)
        wrong[i] = flip(wrong[i], mask=0x10)
        probes.append((old_size, new_size, old_root, new_root, wrong))
    for probe in probes:
        assert verify_consistency(*probe) is False, probe


def test_trivial_consistency_cases() -> None:
    # TestVerifyConsistency, with 32-byte stand-ins for its "don't care" roots.
    first, second = hashlib.sha256(b"don't care 1").digest(), hashlib.sha256(b"2").digest()
    assert not verify_consistency(0, 0, first, second, [])
    assert not verify_consistency(1, 1, first, second, [])
    assert verify_consistency(0, 0, EMPTY, EMPTY, [])
    assert verify_consistency(0, 1, EMPTY, second, [])
    assert verify_consistency(1, 1, second, second, [])
    assert verify_consistency(5, 5, second, second, [])
    assert not verify_consistency(1, 0, first, second, [])
    assert not verify_consistency(2, 1, first, second, [])
    assert not verify_consistency(1, 2, first, second, [])
    assert not verify_consistency(0, 0, EMPTY, second, [])
    assert not verify_consistency(1, 1, EMPTY, second, [])
    assert not verify_consistency(0, 0, EMPTY, EMPTY, [EMPTY])
    assert not verify_consistency(0, 1, EMPTY, EMPTY, [EMPTY])
    assert not verify_consistency(1, 1, EMPTY, EMPTY, [EMPTY])
    # Deliberately stricter than the Go library: a size-0 tree has exactly one root.
    assert not verify_consistency(0, 1, first, second, [])
    assert not verify_consistency(0, 0, first, first, [])


# --- builders: errors ---


@pytest.mark.parametrize(
    ("size", "index"), [(0, 0), (0, 1), (1, 2), (0, 3), (7, 8), (7, 7), (3, -1)]
)
def test_inclusion_proof_rejects_index_outside_tree(size: int, index: int) -> None:
    with pytest.raises(ValueError, match=rf"leaf index {index} is out of range"):
        inclusion_proof(synthetic_leaf_hashes(size), index)


@pytest.mark.parametrize(("old_size", "new_size"), [(5, 0), (9, 8), (-1, 3), (1, 0)])
def test_consistency_proof_rejects_size_outside_tree(old_size: int, new_size: int) -> None:
    with pytest.raises(ValueError, match=rf"old tree size {old_size} is out of range"):
        consistency_proof(synthetic_leaf_hashes(new_size), old_size)


def test_consistency_proof_trivial_sizes_are_empty() -> None:
    hashes = synthetic_leaf_hashes(6)
    assert consistency_proof(hashes, 0) == []
    assert consistency_proof(hashes, 6) == []
    assert consistency_proof([], 0) == []


# --- verifiers never raise ---

GOOD_HASHES = synthetic_leaf_hashes(5)
GOOD_ROOT = root_from_hashes(GOOD_HASHES)
GOOD_PATH = inclusion_proof(GOOD_HASHES, 2)
GOOD_CONSISTENCY = consistency_proof(GOOD_HASHES, 3)
OLD_ROOT = root_from_hashes(GOOD_HASHES[:3])
JUNK: list[Any] = [None, "x", 1.5, -1, True, b"", b"short", "a" * 32, [], object(), 2**200]


@pytest.mark.parametrize("position", range(5))
@pytest.mark.parametrize("junk", JUNK)
def test_verify_inclusion_never_raises(position: int, junk: Any) -> None:
    arguments: list[Any] = [GOOD_HASHES[2], 2, 5, GOOD_PATH, GOOD_ROOT]
    assert verify_inclusion(*arguments) is True
    arguments[position] = junk
    assert verify_inclusion(*arguments) is False
    assert verify_inclusion(GOOD_HASHES[2], 2, 5, [*GOOD_PATH[:-1], junk], GOOD_ROOT) is False


@pytest.mark.parametrize("position", range(5))
@pytest.mark.parametrize("junk", JUNK)
def test_verify_consistency_never_raises(position: int, junk: Any) -> None:
    arguments: list[Any] = [3, 5, OLD_ROOT, GOOD_ROOT, GOOD_CONSISTENCY]
    assert verify_consistency(*arguments) is True
    arguments[position] = junk
    assert verify_consistency(*arguments) is False
    assert verify_consistency(3, 5, OLD_ROOT, GOOD_ROOT, [*GOOD_CONSISTENCY, junk]) is False


def test_verifiers_accept_bytearray_and_tuples() -> None:
    # Typed as bytes, but a caller handing over a bytearray gets the right answer, not False.
    leaf: Any = bytearray(GOOD_HASHES[2])
    path: Any = tuple(bytearray(h) for h in GOOD_PATH)
    tree_root: Any = bytearray(GOOD_ROOT)
    assert verify_inclusion(leaf, 2, 5, path, tree_root)
    assert verify_consistency(3, 5, OLD_ROOT, GOOD_ROOT, tuple(GOOD_CONSISTENCY))


# --- agreement with the reference model, exhaustively for small trees ---


def test_small_trees_match_the_reference_model() -> None:
    for size in range(0, 34):
        hashes = synthetic_leaf_hashes(size, b"exhaustive")
        tree_root = root_from_hashes(hashes)
        assert tree_root == ref_mth(hashes)
        for index in range(size):
            proof = inclusion_proof(hashes, index)
            assert proof == [sibling for sibling, _ in ref_path(index, hashes)]
            assert verify_inclusion(hashes[index], index, size, proof, tree_root)
        for old_size in range(size + 1):
            proof = consistency_proof(hashes, old_size)
            assert proof == ref_consistency(old_size, hashes)
            old_root = root_from_hashes(hashes[:old_size])
            assert verify_consistency(old_size, size, old_root, tree_root, proof)


def test_large_tree_builds_and_verifies() -> None:
    # Iterative code: no recursion limit, and each proof costs O(n) hashes, not O(n^2).
    size = 100_003
    hashes = synthetic_leaf_hashes(size, b"large")
    tree_root = root_from_hashes(hashes)
    for index in (0, 65_535, 65_536, size - 1):
        proof = inclusion_proof(hashes, index)
        assert verify_inclusion(hashes[index], index, size, proof, tree_root)
    old_size = 65_537
    proof = consistency_proof(hashes, old_size)
    old_root = root_from_hashes(hashes[:old_size])
    assert verify_consistency(old_size, size, old_root, tree_root, proof)


# --- properties over random trees ---


@st.composite
def leaf_hash_lists(draw: st.DrawFn, max_size: int = 300) -> list[bytes]:
    size = draw(st.integers(min_value=1, max_value=max_size))
    return synthetic_leaf_hashes(size, draw(st.binary(max_size=8)))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.binary(max_size=24), max_size=80))
def test_root_matches_reference(leaves: list[bytes]) -> None:
    hashes = [leaf_hash(data) for data in leaves]
    assert root(leaves) == root_from_hashes(hashes) == ref_mth(hashes)


@settings(max_examples=200, deadline=None)
@given(leaf_hash_lists(), st.data())
def test_inclusion_proofs_verify_and_resist_tampering(hashes: list[bytes], data: Any) -> None:
    size = len(hashes)
    index = data.draw(st.integers(0, size - 1), label="index")
    tree_root = root_from_hashes(hashes)
    leaf = hashes[index]
    proof = inclusion_proof(hashes, index)
    assert proof == [sibling for sibling, _ in ref_path(index, hashes)]
    assert verify_inclusion(leaf, index, size, proof, tree_root)

    position = data.draw(st.integers(0, 31), label="byte")
    mask = data.draw(st.integers(1, 255), label="mask")
    for i in range(len(proof)):
        tampered = list(proof)
        tampered[i] = flip(proof[i], position, mask)
        assert not verify_inclusion(leaf, index, size, tampered, tree_root)
    assert not verify_inclusion(flip(leaf, position, mask), index, size, proof, tree_root)
    assert not verify_inclusion(leaf, index, size, proof, flip(tree_root, position, mask))
    assert not verify_inclusion(leaf, index, size, [*proof, SOME_HASH], tree_root)
    if proof:
        assert not verify_inclusion(leaf, index, size, proof[:-1], tree_root)
        assert not verify_inclusion(leaf, index, size, proof[1:], tree_root)

    # Any other leaf position in the same tree fails.
    other = data.draw(st.integers(0, size - 1).filter(lambda i: i != index), label="other")
    assert not verify_inclusion(leaf, other, size, proof, tree_root)

    # Another (index, size) pair passes exactly when its audit path has the same shape: the
    # RFC 9162 walk only follows left/right turns, so the tree size is bound by the signed
    # checkpoint, not by the proof. Anything that changes the shape must fail.
    other_size = data.draw(st.integers(1, 2 * size), label="other size")
    other_index = data.draw(st.integers(0, other_size - 1), label="other index")
    same_shape = shape(other_index, other_size) == shape(index, size)
    assert verify_inclusion(leaf, other_index, other_size, proof, tree_root) is same_shape


@settings(max_examples=200, deadline=None)
@given(leaf_hash_lists(), st.data())
def test_consistency_proofs_verify_and_resist_tampering(hashes: list[bytes], data: Any) -> None:
    new_size = data.draw(st.integers(0, len(hashes)), label="new size")
    old_size = data.draw(st.integers(0, new_size), label="old size")
    new_tree = hashes[:new_size]
    old_root, new_root = root_from_hashes(hashes[:old_size]), root_from_hashes(new_tree)
    proof = consistency_proof(new_tree, old_size)
    assert proof == ref_consistency(old_size, new_tree)
    assert verify_consistency(old_size, new_size, old_root, new_root, proof)

    position = data.draw(st.integers(0, 31), label="byte")
    mask = data.draw(st.integers(1, 255), label="mask")
    assert not verify_consistency(
        old_size, new_size, flip(old_root, position, mask), new_root, proof
    )
    if old_size or not new_size:  # from size 0 any new root is consistent: nothing to prove
        assert not verify_consistency(
            old_size, new_size, old_root, flip(new_root, position, mask), proof
        )
    for i in range(len(proof)):
        tampered = list(proof)
        tampered[i] = flip(proof[i], position, mask)
        assert not verify_consistency(old_size, new_size, old_root, new_root, tampered)
    assert not verify_consistency(old_size, new_size, old_root, new_root, [*proof, SOME_HASH])
    if proof:
        assert not verify_consistency(old_size, new_size, old_root, new_root, proof[:-1])
        assert not verify_consistency(old_size, new_size, old_root, new_root, proof[1:])
    if old_root != new_root:
        assert not verify_consistency(old_size, new_size, new_root, old_root, proof)


def test_batch_inclusion_proofs_equal_single_proofs() -> None:
    from evidence.merkle import inclusion_proofs

    for size in [*range(1, 70), 255, 256, 257, 1000]:
        hashes = [leaf_hash(i.to_bytes(4, "big")) for i in range(size)]
        indices = sorted({0, size - 1, size // 2, size // 3, (size * 7) // 11})
        batch = inclusion_proofs(hashes, indices)
        for index in indices:
            assert batch[index] == inclusion_proof(hashes, index), (size, index)
