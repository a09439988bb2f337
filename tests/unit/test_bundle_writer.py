"""A chain's next seq survives a crash between spooling and saving the chain file, also
when the server then rejects that bundle and it is set aside."""

from __future__ import annotations

import threading
from pathlib import Path

from agent.collect import BundleWriter
from agent.spool import Spool
from agent.state import ChainPosition, StateDir
from evidence.bundle import HostRef
from evidence.keys import SigningKey
from evidence.records import EvidenceRecord

HOST = HostRef(id="h-writer", hostname="writer")


def record() -> EvidenceRecord:
    return EvidenceRecord(
        collector="test.writer",
        collector_version="1",
        category="inventory",
        collected_at="2026-11-26T10:00:00.000000Z",
        facts={"n": 1},
    )


def test_a_rejected_bundle_from_before_a_crash_keeps_its_seq(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "state")
    state.create()
    spool = Spool(state.spool_dir, max_bytes=10**7)
    writer = BundleWriter(state, SigningKey.generate(), "agt-writer", spool, threading.Lock())
    first, _ = writer.commit(HOST, [record()])
    second, entry = writer.commit(HOST, [record()])
    assert (first.payload.seq, second.payload.seq) == (1, 2)
    # The crash: seq 2 is spooled but the chain file still says seq 1 ...
    state.save_chain(HOST.id, ChainPosition(1, first.bundle_id))
    # ... and after the restart the server rejects seq 2, which is set aside.
    spool.move_to(entry, state.rejected_dir, "HTTP 422 schema_invalid: test")
    assert [e.seq for e in spool.entries(HOST.id)] == [1]
    third, _ = writer.commit(HOST, [record()])
    assert third.payload.seq == 3 and third.payload.prev == second.bundle_id
    # Another host's rejected bundles do not move this chain.
    other = HostRef(id="h-writer.b", hostname="other")
    assert writer.position(other.id).seq == 0
