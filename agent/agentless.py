"""Agentless collection: the same collectors over SSH, one bundle chain per target.

Targets are collected side by side with bounded concurrency; a target that cannot be
reached, refuses our key or presents an unknown host key is reported and skipped, and
never stops the others.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass

from agent.collect import run_collectors
from agent.spool import SpoolFull
from collectors.host import HostError
from collectors.identity import host_ref
from collectors.registry import CollectorSpec
from collectors.ssh import SSHHost, SSHTarget
from evidence.bundle import HostRef, SignedBundle
from evidence.canonical import sha256_hex
from evidence.records import EvidenceRecord

# Collectors run this many at a time on one target: enough to overlap command round
# trips, few enough that N targets x workers threads stay modest.
WORKERS_PER_TARGET = 4

# Writes the records of one target as its next bundle (to the spool, or to a file).
BundleSink = Callable[[HostRef, Sequence[EvidenceRecord]], SignedBundle]


@dataclass(frozen=True)
class TargetOutcome:
    name: str
    address: str
    ok: bool
    detail: str
    seconds: float
    bundle_id: str | None = None
    seq: int | None = None
    records: int = 0
    record_errors: int = 0


def target_ref(target: SSHTarget, host: SSHHost) -> HostRef:
    """A target is identified by its inventory name, not its machine-id: cloned VMs and
    appliances often share one, and the inventory name is what the operator knows."""
    seen = host_ref(host)
    name = target.name or target.label
    return HostRef(
        id="h-" + sha256_hex(f"target:{name}".encode())[:24],
        hostname=seen.hostname,
        machine_id=seen.machine_id,
    )


def collect_target(
    target: SSHTarget, specs: Sequence[CollectorSpec], timeout: float, sink: BundleSink
) -> TargetOutcome:
    started = time.monotonic()
    name = target.name or target.label
    address = f"{target.user}@{target.host}:{target.port}"
    try:
        with SSHHost(target) as host:
            records = run_collectors(specs, host, timeout, workers=WORKERS_PER_TARGET)
            bundle = sink(target_ref(target, host), records)
    except (HostError, SpoolFull) as exc:
        # SpoolFull: this target's bundle was not written (the spool logged it loudly);
        # the other targets go on and the summary names this one.
        return TargetOutcome(name, address, False, str(exc), time.monotonic() - started)
    return TargetOutcome(
        name,
        address,
        True,
        f"bundle seq {bundle.payload.seq}",
        time.monotonic() - started,
        bundle_id=bundle.bundle_id,
        seq=bundle.payload.seq,
        records=len(records),
        record_errors=sum(1 for record in records if record.errors),
    )


def collect_inventory(
    targets: Sequence[SSHTarget],
    specs: Sequence[CollectorSpec],
    *,
    timeout: float,
    sink: BundleSink,
    concurrency: int,
    on_done: Callable[[TargetOutcome], None] | None = None,
) -> list[TargetOutcome]:
    """Collect every target; outcomes in inventory order."""
    outcomes: dict[int, TargetOutcome] = {}
    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="target") as pool:
        futures = {
            pool.submit(collect_target, target, specs, timeout, sink): index
            for index, target in enumerate(targets)
        }
        for future in as_completed(futures):
            outcome = future.result()
            outcomes[futures[future]] = outcome
            if on_done is not None:
                on_done(outcome)
    return [outcomes[index] for index in range(len(targets))]
