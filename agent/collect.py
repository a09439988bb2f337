"""Running collectors with timeouts, and committing their records as the next bundle."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from agent.spool import Spool, SpoolEntry
from agent.state import ChainPosition, StateDir
from collectors.host import Host
from collectors.identity import host_ref
from collectors.registry import CollectorSpec
from evidence.bundle import HostRef, SignedBundle, build_bundle
from evidence.canonical import utc_now_iso
from evidence.keys import SigningKey
from evidence.records import EvidenceRecord

log = logging.getLogger("dossier.agent.collect")


@dataclass
class _Run:
    """One collector's run: when it started, and its record once there is one."""

    spec: CollectorSpec
    started: float | None = None  # time.monotonic()
    started_at: str = ""
    record: EvidenceRecord | None = None
    abandoned: bool = False


def run_collectors(
    specs: Sequence[CollectorSpec], host: Host, timeout: float, *, workers: int | None = None
) -> list[EvidenceRecord]:
    """Run collectors side by side (at most `workers` at once; default all), in order;
    one that runs longer than `timeout` from its own start yields an error record.

    A Python thread cannot be killed, so an overrunning collector is abandoned: its
    thread is a daemon (it never holds up the process's exit) and a new worker takes its
    place, so the collectors queued behind it still run, each with its full timeout.
    Commands it runs have their own timeouts.
    """
    runs = [_Run(spec) for spec in specs]
    queue = deque(runs)
    changed = threading.Condition()

    def work() -> None:
        while True:
            with changed:
                if not queue:
                    return
                run = queue.popleft()
                run.started, run.started_at = time.monotonic(), utc_now_iso()
                changed.notify_all()
            record = run.spec.collect(host)  # never raises: a crash is an error record
            with changed:
                if run.abandoned:
                    return  # a new worker took this one's place
                run.record = record
                changed.notify_all()

    def start_worker() -> None:
        threading.Thread(target=work, name="collector", daemon=True).start()

    for _ in range(max(1, min(workers or len(runs), len(runs)))):
        start_worker()
    with changed:
        while True:
            now = time.monotonic()
            for run in runs:
                if run.record is None and run.started is not None and now - run.started >= timeout:
                    run.abandoned = True
                    run.record = _timed_out(run, timeout)
                    if queue:
                        start_worker()
            running = [r.started for r in runs if r.record is None and r.started is not None]
            if all(run.record is not None for run in runs):
                break
            changed.wait(min(running) + timeout - now if running else None)
    return [run.record for run in runs if run.record is not None]


def _timed_out(run: _Run, timeout: float) -> EvidenceRecord:
    log.error("collector %s timed out after %.0fs", run.spec.name, timeout)
    return EvidenceRecord(
        collector=run.spec.name,
        collector_version=run.spec.version,
        category=run.spec.category,
        collected_at=run.started_at,
        facts={},
        errors=[f"collector timed out after {timeout:g}s"],
    )


class BundleWriter:
    """Turns records into the next signed bundle of a host's chain and spools it.

    Each host (the agent's own, or a target collected agentless) has its own chain.
    Its position is recovered from the chain file, the spool, the bundles the server
    rejected (set aside) and the chain's last receipt, taking the newest: a crash between
    spooling and saving the chain file therefore never reuses a seq (which the server
    would refuse as a fork), even when that bundle was rejected after the restart.
    """

    def __init__(
        self, state: StateDir, key: SigningKey, agent_id: str, spool: Spool, lock: threading.Lock
    ) -> None:
        self.state = state
        self.key = key
        self.agent_id = agent_id
        self.spool = spool
        self.lock = lock

    def position(self, host_id: str) -> ChainPosition:
        best = self.state.saved_chain(host_id)
        entries = self.spool.entries(host_id)
        if entries and entries[-1].seq > best.seq:
            best = ChainPosition(entries[-1].seq, entries[-1].bundle_id)
        for seq, bundle_id in self.spool.set_aside(self.state.rejected_dir, host_id):
            if seq > best.seq:
                best = ChainPosition(seq, bundle_id)
        receipt = self.state.chain_receipt(host_id)
        if receipt is not None and int(receipt["seq"]) > best.seq:
            best = ChainPosition(int(receipt["seq"]), str(receipt["bundle_id"]))
        return best

    def commit(
        self, host: Host | HostRef, records: Sequence[EvidenceRecord]
    ) -> tuple[SignedBundle, SpoolEntry]:
        target = host if isinstance(host, HostRef) else host_ref(host)
        with self.lock:
            position = self.position(target.id)
            bundle = build_bundle(
                self.key,
                agent_id=self.agent_id,
                host=target,
                seq=position.seq + 1,
                prev=position.prev,
                records=records,
            )
            entry = self.spool.put(bundle)
            self.state.save_chain(target.id, ChainPosition(bundle.payload.seq, bundle.bundle_id))
        log.info(
            "bundle spooled host=%s seq=%d id=%s records=%d",
            target.id,
            bundle.payload.seq,
            bundle.bundle_id,
            len(records),
        )
        return bundle, entry
