"""The log's cached right edge follows the database, also when another process fills
the index of an append that then rolled back (`dossier server import` or
`documents add` writing beside the running server)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError

from evidence.keys import SigningKey
from evidence.merkle import EMPTY_ROOT
from evidence.treehead import verify_tree_head
from server.db import make_engine, migrate, session_factory
from server.evidence_log import EvidenceLog, Frontier, leaf_hashes

NOW = "2026-11-26T10:00:00Z"


def true_root(sessions) -> bytes:  # type: ignore[no-untyped-def]
    with sessions() as session:
        frontier = Frontier()
        for leaf in leaf_hashes(session):
            frontier.push(leaf)
        return frontier.root()


def test_a_rolled_back_append_whose_index_another_writer_took_is_not_kept(
    tmp_path: Path,
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'log.db'}")
    migrate(engine)
    sessions = session_factory(engine)
    key = SigningKey.generate()
    server, other = EvidenceLog(key), EvidenceLog(key)

    session = sessions()
    server.append(session, "bundle", "y" * 64, NOW)  # index 0, not yet committed
    with sessions() as elsewhere, elsewhere.begin():
        other.append(elsewhere, "bundle", "x" * 64, NOW)  # takes index 0 first
    with pytest.raises(IntegrityError):
        session.commit()
    session.close()

    with sessions() as retry, retry.begin():  # the ingest retry
        appended = server.append(retry, "bundle", "z" * 64, NOW)
    assert appended.index == 1
    assert appended.root == true_root(sessions) != EMPTY_ROOT
    with sessions() as session:
        head = verify_tree_head(server.head(session), key.public)
    assert (head.size, bytes.fromhex(head.root)) == (2, true_root(sessions))
