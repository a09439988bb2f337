"""RFC 6962 / RFC 9162 Merkle tree hashes, inclusion proofs and consistency proofs.

The evidence log is an append-only list of leaves and a checkpoint signs (size, root). The
server builds proofs from the leaf hashes it stores; the offline verifier checks them with
nothing but this module and `hashlib`. So the two halves differ on purpose:

* builders (`inclusion_proof`, `consistency_proof`) trust their caller and raise
  `ValueError` for an index or size outside the tree;
* verifiers (`verify_inclusion`, `verify_consistency`) take hostile input and only ever
  answer `True` or `False`.

Trees have the RFC 6962 §2.1 shape: for n > 1 leaves the left subtree holds the largest power
of two strictly less than n. Nothing here recurses: every loop that walks down or up the tree
runs O(log n) times, and building a root or a proof hashes each leaf's subtree once (O(n)).
The domain-separation prefixes (0x00 for leaves, 0x01 for interior nodes) are what stop a
leaf from being passed off as an interior node (second-preimage attacks on the tree).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

HASH_SIZE = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()  # MTH({}) per RFC 6962 §2.1


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 || data): the hash of one log entry."""
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right): the hash of an interior node."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def root(leaves: Sequence[bytes]) -> bytes:
    """Merkle Tree Hash (RFC 6962 §2.1) over the leaf *data*; each entry is leaf-hashed here."""
    return root_from_hashes([leaf_hash(data) for data in leaves])


def root_from_hashes(leaf_hashes: Sequence[bytes]) -> bytes:
    """Merkle Tree Hash over already-computed leaf hashes (what the log stores).

    Hashes level by level and carries an unpaired last node up unchanged. That builds exactly
    the RFC 6962 tree, whose definition splits at the largest power of two below n: that left
    subtree is perfect, so at every level it has an even number of nodes and pairs never
    straddle the split. The level loop keeps the per-hash work inside one comprehension, which
    is what makes a million leaves take well under a second in CPython. The empty tree's root
    is SHA-256 of the empty string; a one-leaf tree's root is its leaf hash.
    """
    level = list(leaf_hashes)
    if not level:
        return EMPTY_ROOT
    sha256 = hashlib.sha256
    while len(level) > 1:
        pairs = iter(level)
        parents = [
            sha256(NODE_PREFIX + left + right).digest()
            for left, right in zip(pairs, pairs, strict=False)
        ]
        if len(level) % 2:
            parents.append(level[-1])
        level = parents
    return level[0]


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """Audit path PATH(index, D[n]) of RFC 6962 §2.1.1 for a tree of `len(leaf_hashes)` leaves.

    Walks from the root towards the leaf, collecting the subtree hash on the other side of
    each split, then returns them leaf-first as the RFC orders them. The sibling subtrees are
    disjoint, so the whole proof costs at most n - 1 node hashes.

    Raises `ValueError` if `index` is not a leaf of the tree (including any index of an
    empty tree).
    """
    hashes = _as_list(leaf_hashes)
    size = len(hashes)
    if not 0 <= index < size:
        raise ValueError(
            f"leaf index {index} is out of range for a tree of {size} leaves "
            f"(valid indices are 0 to {size - 1})"
            if size
            else f"leaf index {index} is out of range: the tree is empty"
        )
    siblings: list[bytes] = []  # root-first while walking down
    low, high = 0, size
    while high - low > 1:
        middle = low + _split(high - low)
        if index < middle:
            siblings.append(root_from_hashes(hashes[middle:high]))
            high = middle
        else:
            siblings.append(root_from_hashes(hashes[low:middle]))
            low = middle
    siblings.reverse()
    return siblings


def consistency_proof(leaf_hashes: Sequence[bytes], old_size: int) -> list[bytes]:
    """PROOF(old_size, D[n]) of RFC 6962 §2.1.2, from the first `old_size` leaves to all n.

    An iterative SUBPROOF: each step records the subtree hash the verifier cannot derive from
    the old tree, and the walk ends at the first subtree that lies wholly inside the old tree.
    That subtree's hash leads the proof unless it is the whole old tree (the verifier has the
    old root already). Sizes 0 and n give the empty proof, as RFC 9162 §2.1.4.1 allows.

    Raises `ValueError` unless 0 <= old_size <= len(leaf_hashes).
    """
    hashes = _as_list(leaf_hashes)
    new_size = len(hashes)
    if not 0 <= old_size <= new_size:
        raise ValueError(
            f"old tree size {old_size} is out of range for a tree of {new_size} leaves "
            f"(valid sizes are 0 to {new_size})"
        )
    if old_size in (0, new_size):
        return []
    upper: list[bytes] = []  # root-first while walking down
    low, high, remaining, whole_old_tree = 0, new_size, old_size, True
    while remaining != high - low:
        middle = low + _split(high - low)
        if low + remaining <= middle:
            upper.append(root_from_hashes(hashes[middle:high]))
            high = middle
        else:
            upper.append(root_from_hashes(hashes[low:middle]))
            remaining -= middle - low
            low = middle
            whole_old_tree = False
    proof = [] if whole_old_tree else [root_from_hashes(hashes[low:high])]
    proof.extend(reversed(upper))
    return proof


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """True if `proof` shows the leaf with hash `leaf_hash` at `index` in the tree (`size`, `root`).

    The algorithm of RFC 9162 §2.1.3.2. It rejects a proof with missing or extra elements
    (the bit walk must consume exactly the proof and end at the root), an index outside the
    tree, and anything that is not an int, a 32-byte hash or a sequence of them; it never
    raises. What a caller may not assume: the proof fixes the path from leaf to root, not
    `size` itself. Two (index, size) pairs with the same left/right path shape accept the same
    proof, so the size must come from the signed checkpoint that also carries `root`.
    """
    if not (_is_hash(leaf_hash) and _is_hash(root) and _is_count(index) and _is_count(size)):
        return False
    path = _hash_list(proof)
    if path is None or index >= size:
        return False
    fn, sn = index, size - 1
    computed = bytes(leaf_hash)
    for sibling in path:
        if sn == 0:
            return False  # more proof than tree
        if fn & 1 or fn == sn:
            computed = node_hash(sibling, computed)
            while fn and not fn & 1:  # skip levels where this node has no right sibling
                fn >>= 1
                sn >>= 1
        else:
            computed = node_hash(computed, sibling)
        fn >>= 1
        sn >>= 1
    return sn == 0 and computed == root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """True if `proof` shows the tree (`new_size`, `new_root`) extends (`old_size`, `old_root`).

    The algorithm of RFC 9162 §2.1.4.2, plus its trivial cases: equal sizes need an empty
    proof and equal roots; old size 0 needs an empty proof and, stricter than some libraries,
    `old_root` must be the empty-tree hash (a size-0 checkpoint with any other root is
    false). Every proof element feeds the recomputed new root, so altering, adding or
    dropping one fails. Never raises; malformed input is simply not a proof.
    """
    if not (
        _is_count(old_size) and _is_count(new_size) and _is_hash(old_root) and _is_hash(new_root)
    ):
        return False
    path = _hash_list(proof)
    if path is None or old_size > new_size:
        return False
    if old_size == 0:
        return not path and old_root == EMPTY_ROOT and (new_size > 0 or new_root == EMPTY_ROOT)
    if old_size == new_size:
        return not path and old_root == new_root
    if not path:
        return False
    if old_size & (old_size - 1) == 0:  # the old tree is a complete subtree of the new one
        path.insert(0, bytes(old_root))
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    old_computed = new_computed = path[0]
    for node in path[1:]:
        if sn == 0:
            return False  # more proof than tree
        if fn & 1 or fn == sn:
            old_computed = node_hash(node, old_computed)
            new_computed = node_hash(node, new_computed)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            new_computed = node_hash(new_computed, node)
        fn >>= 1
        sn >>= 1
    return sn == 0 and old_computed == old_root and new_computed == new_root


def _split(count: int) -> int:
    """Largest power of two strictly less than `count` (count > 1): RFC 6962's k."""
    return 1 << ((count - 1).bit_length() - 1)


def _as_list(leaf_hashes: Sequence[bytes]) -> list[bytes]:
    # Slicing a list is cheap and always supported; an arbitrary Sequence may not slice.
    return leaf_hashes if isinstance(leaf_hashes, list) else list(leaf_hashes)


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes | bytearray) and len(value) == HASH_SIZE


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _hash_list(proof: object) -> list[bytes] | None:
    """The proof as a list of 32-byte hashes, or None if it is anything else."""
    if not isinstance(proof, Sequence) or isinstance(proof, str | bytes | bytearray):
        return None
    path: list[bytes] = []
    for element in proof:
        if not _is_hash(element):
            return None
        path.append(bytes(element))
    return path


def inclusion_proofs(
    leaf_hashes: Sequence[bytes], indices: Sequence[int]
) -> dict[int, list[bytes]]:
    """Inclusion proofs for many leaves of one tree at once (an export proves thousands).

    Builds each level once (an unpaired last node moves up unchanged, which gives the
    RFC 6962 tree), then reads every path off the levels: O(n + k log n) instead of
    O(k n) for k separate `inclusion_proof` calls. Same proofs, same order.
    """
    size = len(leaf_hashes)
    for index in indices:
        if not 0 <= index < size:
            raise ValueError(f"leaf index {index} is out of range for a tree of {size} leaves")
    levels: list[list[bytes]] = [list(leaf_hashes)]
    while len(levels[-1]) > 1:
        below = levels[-1]
        above = [node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)]
        if len(below) % 2:
            above.append(below[-1])
        levels.append(above)
    proofs: dict[int, list[bytes]] = {}
    for index in indices:
        path: list[bytes] = []
        position = index
        for level in levels[:-1]:
            sibling = position ^ 1
            if sibling < len(level):
                path.append(level[sibling])
            position //= 2
        proofs[index] = path
    return proofs
