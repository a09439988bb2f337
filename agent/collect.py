"""Running collectors with timeouts, and committing their records as the next bundle."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

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


def run_collectors(
    specs: Sequence[CollectorSpec], host: Host, timeout: float, *, workers: int | None = None
) -> list[EvidenceRecord]:
    """Run collectors side by side (at most `workers` at once; default all); one that
    overruns `timeout` yields an error record.

    A Python thread cannot be killed, so an overrunning collector is abandoned (its
    thread is a daemon) and its record says so; commands it runs have their own timeouts.
    """
    pool = ThreadPoolExecutor(
        max_workers=max(1, min(workers or len(specs), len(specs))),
        thread_name_prefix="collector",
    )
    futures = [(spec, pool.submit(spec.collect, host)) for spec in specs]
    records: list[EvidenceRecord] = []
    for spec, future in futures:
        started = utc_now_iso()
        try:
            records.append(future.result(timeout=timeout))
        except FutureTimeout:
            log.error("collector %s timed out after %.0fs", spec.name, timeout)
            records.append(
                EvidenceRecord(
                    collector=spec.name,
                    collector_version=spec.version,
                    category=spec.category,
                    collected_at=started,
                    facts={},
                    errors=[f"collector timed out after {timeout:g}s"],
                )
            )
    pool.shutdown(wait=False, cancel_futures=True)
    return records


class BundleWriter:
    """Turns records into the next signed bundle of a host's chain and spools it.

    Each host (the agent's own, or a target collected agentless) has its own chain.
    Its position is recovered from the chain file, the spool and the chain's last
    receipt, taking the newest: a crash between spooling and saving the chain file
    therefore never reuses a seq (which the server would refuse as a fork).
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
