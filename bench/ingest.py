"""Bundles per second accepted by a real server with N concurrent senders, beside the raw
Ed25519-verify + SHA-256 speed of the same bundles in one process (same run).

Usage: python bench/ingest.py [--senders N] [--bundles-per-sender M]
Each sender is its own enrolled agent sending its own chain in order (as agents do);
bundles carry real records collected from this machine.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import tempfile
import threading
import time
from pathlib import Path

import requests
from _common import print_table

from agent.shipper import make_session
from collectors.host import LocalHost
from collectors.identity import host_ref
from collectors.registry import all_collectors
from dossier.procs import start_server
from evidence import dsse
from evidence.bundle import BUNDLE_PAYLOAD_TYPE, SignedBundle, build_bundle
from evidence.keys import PublicKey, SigningKey
from evidence.records import EvidenceRecord
from server.admin import create_enrollment_token, init_server, open_session, parse_duration
from server.config import DataDir


def make_chains(
    url: str, ca: str, data: DataDir, senders: int, per_sender: int, records: list[EvidenceRecord]
) -> tuple[list[list[SignedBundle]], dict[str, PublicKey]]:
    with open_session(data) as session:
        token = create_enrollment_token(
            session, uses=senders, expires_in=parse_duration("1h")
        ).token
    chains = []
    keys: dict[str, PublicKey] = {}
    host = host_ref(LocalHost())
    for index in range(senders):
        key = SigningKey.generate()
        response = requests.post(
            f"{url}/api/v1/enroll",
            verify=ca,
            timeout=30,
            json={"token": token, "public_key": key.public.b64(), "hostname": f"bench-{index}"},
        )
        response.raise_for_status()
        agent_id = response.json()["agent_id"]
        keys[key.keyid] = key.public
        chain, prev = [], None
        for seq in range(1, per_sender + 1):
            bundle = build_bundle(
                key,
                agent_id=agent_id,
                host=host.model_copy(update={"id": f"h-bench-{index}"}),
                seq=seq,
                prev=prev,
                records=records,
            )
            chain.append(bundle)
            prev = bundle.bundle_id
        chains.append(chain)
    return chains, keys


def raw_verify_rate(chains: list[list[SignedBundle]], keys: dict[str, PublicKey]) -> float:
    """Bundles/s for the bare cryptographic work: SHA-256 of the payload + Ed25519 verify."""
    work = [(bundle.keyid, bundle.envelope) for chain in chains for bundle in chain]
    started = time.perf_counter()
    for keyid, envelope in work:
        payload = dsse.verify(envelope, BUNDLE_PAYLOAD_TYPE, keys[keyid])
        hashlib.sha256(payload).digest()
    return len(work) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument("--bundles-per-sender", type=int, default=60)
    args = parser.parse_args()
    records = [spec.collect(LocalHost()) for spec in all_collectors().values()]
    with tempfile.TemporaryDirectory(prefix="dossier-bench-") as tmp:
        data = DataDir(Path(tmp) / "server")
        init_server(data)
        server = start_server(data.root)
        try:
            chains, keys = make_chains(
                server.url, str(server.ca), data, args.senders, args.bundles_per_sender, records
            )
            failures: list[str] = []

            def send(chain: list[SignedBundle]) -> None:
                session = make_session(server.url, server.ca, retries=0)
                for bundle in chain:
                    body = gzip.compress(bundle.envelope.to_bytes(), compresslevel=6)
                    try:
                        response = session.post(
                            f"{server.url}/api/v1/bundles",
                            data=body,
                            timeout=60,
                            headers={"Content-Encoding": "gzip"},
                        )
                    except requests.RequestException as exc:
                        failures.append(str(exc))
                        return
                    if response.status_code != 201:
                        failures.append(response.text)

            threads = [threading.Thread(target=send, args=(chain,)) for chain in chains]
            started = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.perf_counter() - started
        finally:
            server.stop()
    if failures:
        raise SystemExit(f"{len(failures)} bundles refused, first: {failures[0]}")
    total = args.senders * args.bundles_per_sender
    server_rate = total / elapsed
    raw_rate = raw_verify_rate(chains, keys)
    mean_size = sum(len(b.envelope.to_bytes()) for c in chains for b in c) // total
    print_table(
        f"ingest: {total} bundles ({mean_size // 1024} KiB each, {len(records)} real records), "
        f"{args.senders} concurrent senders",
        ["what", "bundles/s", "ratio"],
        [
            ["raw Ed25519 verify + SHA-256, one process (baseline)", f"{raw_rate:,.0f}", "1.00"],
            [
                "real server over TLS (verify, store, index, receipt)",
                f"{server_rate:,.1f}",
                f"{server_rate / raw_rate:.3f}",
            ],
        ],
    )


if __name__ == "__main__":
    main()
