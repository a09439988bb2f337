"""`dossier collect`: run collectors on this machine, a tree, or SSH targets, and sign."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from agent.agentless import BundleSink
from agent.collect import run_collectors
from agent.files import write_atomic
from collectors.host import Host, LocalHost, RootHost
from collectors.identity import host_ref
from collectors.registry import select
from evidence.bundle import HostRef, SignedBundle, build_bundle
from evidence.keys import SigningKey
from evidence.records import EvidenceRecord

if TYPE_CHECKING:
    from agent.runtime import AgentRuntime


@dataclass(frozen=True)
class CollectResult:
    bundle: SignedBundle
    out: Path
    public_key_file: Path | None


def choose_host(local: bool, root: Path | None) -> Host:
    if local == (root is not None):
        raise ValueError("give exactly one of --local or --root DIR")
    return LocalHost() if root is None else RootHost(root)


def collect_to_file(
    host: Host, out: Path, *, only: list[str] | None, key_file: Path | None, timeout: float
) -> CollectResult:
    """Collect, sign with `key_file` (or a new throwaway key) and write the envelope.

    The bundle is the first of its own chain (seq 1): it does not touch any agent's
    chain, so an enrolled agent's evidence stays gap-free.
    """
    specs = select(only)
    key = _signing_key(key_file)
    records = run_collectors(specs, host, timeout)
    bundle = build_bundle(
        key,
        agent_id="local-" + key.keyid[:16],
        host=host_ref(host),
        seq=1,
        prev=None,
        records=records,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(out, bundle.envelope.to_bytes(), mode=0o644)
    public_key_file = None
    if key_file is None:
        # A throwaway key: keep its public half beside the bundle so it can be verified.
        public_key_file = out.with_name(out.name + ".pub")
        write_atomic(public_key_file, (key.public.b64() + "\n").encode(), mode=0o644)
    return CollectResult(bundle, out, public_key_file)


def summary(result: CollectResult) -> dict[str, object]:
    payload = result.bundle.payload
    return {
        "bundle_id": result.bundle.bundle_id,
        "out": str(result.out),
        "keyid": result.bundle.keyid,
        "public_key_file": str(result.public_key_file) if result.public_key_file else None,
        "host": payload.host.model_dump(),
        "records": [
            {
                "collector": record.collector,
                "errors": len(record.errors),
                "sources": len(record.sources),
                "facts_bytes": len(json.dumps(record.facts)),
            }
            for record in payload.records
        ],
    }


def spool_sink(runtime: AgentRuntime) -> BundleSink:
    """Each target's records become the next bundle of its chain in the agent's spool."""

    def sink(ref: HostRef, records: Sequence[EvidenceRecord]) -> SignedBundle:
        bundle, _entry = runtime.writer.commit(ref, records)
        return bundle

    return sink


def directory_sink(out_dir: Path, key_file: Path | None) -> tuple[BundleSink, Path | None]:
    """Each target's records become one self-standing bundle (seq 1) in `out_dir`,
    named after the target; with no key file a throwaway key signs them and its public
    half is written as `out_dir/collector.pub`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    key = _signing_key(key_file)
    public_key_file = None
    if key_file is None:
        public_key_file = out_dir / "collector.pub"
        write_atomic(public_key_file, (key.public.b64() + "\n").encode(), mode=0o644)

    def sink(ref: HostRef, records: Sequence[EvidenceRecord]) -> SignedBundle:
        bundle = build_bundle(
            key,
            agent_id="local-" + key.keyid[:16],
            host=ref,
            seq=1,
            prev=None,
            records=records,
        )
        write_atomic(out_dir / f"{ref.id}.json", bundle.envelope.to_bytes(), mode=0o644)
        return bundle

    return sink, public_key_file


def _signing_key(key_file: Path | None) -> SigningKey:
    if key_file is not None and key_file.exists():
        return SigningKey.load(key_file)
    key = SigningKey.generate()
    if key_file is not None:
        key.save(key_file)
    return key
