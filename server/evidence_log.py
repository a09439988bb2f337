"""The server's append-only evidence log: a Merkle tree over `log_entries` (RFC 6962).

Leaves are the log entries in index order (`evidence.treehead.entry_leaf`). The root of
the growing tree is kept as its right edge of perfect subtrees, so appending costs
O(log n); the database stays the truth, and the cache is rebuilt whenever the table's
size or last entry differs from the cache's (another process appended, a transaction
rolled back, or both: a rolled-back append whose index another process then filled).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from evidence import dsse
from evidence.canonical import format_timestamp
from evidence.keys import SigningKey
from evidence.merkle import EMPTY_ROOT, consistency_proof, inclusion_proof, node_hash
from evidence.treehead import TreeHead, entry_leaf, sign_tree_head
from server.models import LogEntry


@dataclass(frozen=True)
class Appended:
    index: int
    size: int
    root: bytes


class Frontier:
    """The right edge of a Merkle tree: (size, hash) of its perfect subtrees."""

    def __init__(self) -> None:
        self.nodes: list[tuple[int, bytes]] = []
        self.size = 0
        self.last: bytes | None = None  # the newest leaf

    def push(self, leaf: bytes) -> None:
        self.nodes.append((1, leaf))
        self.size += 1
        self.last = leaf
        while len(self.nodes) > 1 and self.nodes[-1][0] == self.nodes[-2][0]:
            (size, right), (_, left) = self.nodes.pop(), self.nodes.pop()
            self.nodes.append((2 * size, node_hash(left, right)))

    def root(self) -> bytes:
        if not self.nodes:
            return EMPTY_ROOT
        current = self.nodes[-1][1]
        for _, left in reversed(self.nodes[:-1]):
            current = node_hash(left, current)
        return current

    def copy(self) -> Frontier:
        twin = Frontier()
        twin.nodes, twin.size, twin.last = list(self.nodes), self.size, self.last
        return twin


def leaf_hashes(session: Session, size: int | None = None) -> list[bytes]:
    query = select(LogEntry.kind, LogEntry.ref).order_by(LogEntry.idx)
    if size is not None:
        query = query.limit(size)
    return [entry_leaf(kind, ref) for kind, ref in session.execute(query).all()]


class EvidenceLog:
    """Appends entries and signs tree heads. Callers serialise appends (ingest lock)."""

    def __init__(self, server_key: SigningKey) -> None:
        self._key = server_key
        self._frontier = Frontier()

    def _synced(self, session: Session) -> Frontier:
        count = session.scalar(select(func.count()).select_from(LogEntry)) or 0
        newest = session.execute(
            select(LogEntry.kind, LogEntry.ref).order_by(LogEntry.idx.desc()).limit(1)
        ).first()
        last = entry_leaf(*newest) if newest is not None else None
        if count != self._frontier.size or last != self._frontier.last:
            frontier = Frontier()
            for leaf in leaf_hashes(session):
                frontier.push(leaf)
            self._frontier = frontier
        return self._frontier

    def append(self, session: Session, kind: str, ref: str, appended_at: str) -> Appended:
        """Add an entry in the caller's transaction; the cache follows on the next
        call once the database agrees (commit) or is rebuilt (rollback)."""
        frontier = self._synced(session).copy()
        index = frontier.size
        session.add(LogEntry(idx=index, kind=kind, ref=ref, appended_at=appended_at))
        frontier.push(entry_leaf(kind, ref))
        self._frontier = frontier
        return Appended(index, frontier.size, frontier.root())

    def head(self, session: Session) -> dsse.Envelope:
        frontier = self._synced(session)
        head = TreeHead(
            size=frontier.size,
            root=frontier.root().hex(),
            timestamp=format_timestamp(datetime.now(UTC)),
        )
        return sign_tree_head(head, self._key)


class LogError(ValueError):
    """A proof was asked for entries the log does not hold."""


def inclusion(session: Session, index: int, size: int) -> list[bytes]:
    leaves = leaf_hashes(session, size)
    if size > len(leaves) or not 0 <= index < size:
        raise LogError(f"no entry {index} in a log of {len(leaves)} entries (asked size {size})")
    return inclusion_proof(leaves, index)


def consistency(session: Session, old_size: int, new_size: int) -> list[bytes]:
    leaves = leaf_hashes(session, new_size)
    if new_size > len(leaves) or not 0 <= old_size <= new_size:
        raise LogError(f"cannot prove {old_size} -> {new_size} on a log of {len(leaves)} entries")
    return consistency_proof(leaves, old_size)
