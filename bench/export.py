"""Export and offline verification of a fleet's evidence, beside raw crypto speed.

Usage: python bench/export.py [--hosts 1000] [--days 30]
Builds a server data dir holding `hosts` x `days` bundles (one real inventory record
each, dated one per day, through the real in-process ingest), then times
`dossier export` and `dossier verify` as subprocesses (wall, CPU, peak RSS). The
baseline is SHA-256 + Ed25519 verification of the same bundle bytes in this process.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _common import measure, print_table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from collectors.host import LocalHost
from collectors.registry import all_collectors
from dossier.procs import dossier_argv
from evidence import dsse
from evidence.bundle import BUNDLE_PAYLOAD_TYPE, HostRef, build_bundle
from evidence.canonical import format_timestamp
from evidence.keys import SigningKey
from server.admin import init_server, open_session
from server.blobs import BlobStore
from server.config import DataDir
from server.db import make_engine, session_factory
from server.enroll import EnrollRequest, enroll
from server.ingest import Ingestor


def populate(data: DataDir, hosts: int, days: int) -> list[bytes]:
    from server.admin import create_enrollment_token, parse_duration

    record = all_collectors()["inventory.system"].collect(LocalHost())
    settings = data.load_settings()
    engine = make_engine(data.database_url())
    sessions = session_factory(engine)
    server_key = SigningKey.load(data.server_key)
    ingestor = Ingestor(
        sessions, BlobStore(data.blobs), server_key, settings.load_controls(data.root)
    )
    with open_session(data) as session:
        token = create_enrollment_token(session, uses=1, expires_in=parse_duration("1h"))
    key = SigningKey.generate()
    with sessions() as session:
        agent_id = enroll(
            session,
            EnrollRequest(
                token=token.token,
                public_key=key.public.b64(),
                hostname="collector",
                machine_id=None,
            ),
        ).agent_id
    start = datetime.now(UTC) - timedelta(days=days)
    bodies = []
    for host in range(hosts):
        ref = HostRef(id=f"h-bench-{host:06d}", hostname=f"host{host:04d}")
        prev = None
        for day in range(days):
            moment = format_timestamp(start + timedelta(days=day, minutes=host % 1440))
            dated = record.model_copy(update={"collected_at": moment})
            bundle = build_bundle(
                key,
                agent_id=agent_id,
                host=ref,
                seq=day + 1,
                prev=prev,
                records=[dated],
                created_at=moment,
            )
            prev = bundle.bundle_id
            body = bundle.envelope.to_bytes()
            ingestor.ingest(body)
            bodies.append(body)
    return bodies


def raw_baseline(bodies: list[bytes], key_b64: str) -> float:
    import hashlib

    from evidence.keys import PublicKey

    key = PublicKey.from_b64(key_b64)
    started = time.perf_counter()
    for body in bodies:
        envelope = dsse.parse(body)
        payload = envelope.payload_bytes()
        hashlib.sha256(body).digest()
        hashlib.sha256(payload).digest()
        dsse.verify(envelope, BUNDLE_PAYLOAD_TYPE, key)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dossier-bench-export-") as temp:
        data = DataDir(Path(temp) / "server")
        init_server(data)
        started = time.perf_counter()
        bodies = populate(data, args.hosts, args.days)
        populate_s = time.perf_counter() - started
        with open_session(data) as session:
            from sqlalchemy import select

            from server.models import Agent

            key_b64 = session.scalars(select(Agent.public_key)).one()
        baseline = raw_baseline(bodies, key_b64)
        package = Path(temp) / "mlps.zip"
        export = measure(
            dossier_argv(
                "export", "--data", str(data.root), "--framework", "mlps2-l3", "--out", str(package)
            )
        )
        verify = measure(dossier_argv("verify", str(package)))
        size_mb = package.stat().st_size / 1e6
    total = len(bodies)
    print_table(
        f"export of {args.hosts} hosts x {args.days} days = {total:,} bundles "
        f"({sum(map(len, bodies)) / 1e6:.0f} MB of bundles; package {size_mb:.0f} MB; "
        f"populating took {populate_s:.0f} s)",
        ["what", "wall s", "cpu s", "peak RSS MB", "vs raw crypto"],
        [
            [
                "raw SHA-256 + Ed25519 verify of the bundles (baseline)",
                f"{baseline:.2f}",
                f"{baseline:.2f}",
                "-",
                "1.0x",
            ],
            [
                "dossier export",
                f"{export.wall_s:.2f}",
                f"{export.cpu_s:.2f}",
                f"{export.peak_rss_mb:.0f}",
                f"{export.wall_s / baseline:.1f}x",
            ],
            [
                "dossier verify (offline)",
                f"{verify.wall_s:.2f}",
                f"{verify.cpu_s:.2f}",
                f"{verify.peak_rss_mb:.0f}",
                f"{verify.wall_s / baseline:.1f}x",
            ],
        ],
    )
    assert export.exit_code == 0 and verify.exit_code == 0, "export or verify failed"


if __name__ == "__main__":
    main()
