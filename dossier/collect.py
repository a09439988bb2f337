"""`dossier collect`: run collectors without a server and write one signed bundle."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from agent.collect import run_collectors
from agent.files import write_atomic
from collectors.host import Host, LocalHost, RootHost
from collectors.identity import host_ref
from collectors.registry import select
from evidence.bundle import SignedBundle, build_bundle
from evidence.keys import SigningKey


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
    if key_file is not None and key_file.exists():
        key = SigningKey.load(key_file)
    else:
        key = SigningKey.generate()
        if key_file is not None:
            key.save(key_file)
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
