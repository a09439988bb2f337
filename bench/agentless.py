"""Agentless collection time for N SSH targets at concurrency 1 and 8 (same run).

Usage: python bench/agentless.py [--targets N] [--only NAME ...]
Each target is a real sshd on a loopback port (this machine seen over SSH), collected
with `dossier collect --inventory ... --out-dir` as a subprocess; the baseline is the
same collectors run once on this machine through LocalHost in the same run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import yaml
from _common import measure, print_table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from dossier.procs import dossier_argv
from tests.sshd import keygen, start_sshd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=8)
    parser.add_argument("--only", action="append", default=[])
    args = parser.parse_args()
    only = [item for name in args.only for item in ("--only", name)]
    with tempfile.TemporaryDirectory(prefix="dossier-bench-") as temp:
        root = Path(temp)
        client_key = keygen(root / "client_ed25519")
        servers = [
            start_sshd(root / f"t{index}", client_key=client_key) for index in range(args.targets)
        ]
        try:
            (root / "known_hosts").write_text("".join(s.host_key_line() for s in servers))
            inventory = {
                "defaults": {"identity": str(client_key), "known_hosts": "known_hosts"},
                "hosts": [
                    {"name": f"t{i}", "host": "127.0.0.1", "port": s.port}
                    for i, s in enumerate(servers)
                ],
            }
            (root / "inventory.yaml").write_text(yaml.safe_dump(inventory))
            rows = []
            local = measure(
                dossier_argv("collect", "--local", "--out", str(root / "local.json"), *only)
            )
            rows.append(
                [
                    "local, 1 host (baseline)",
                    f"{local.wall_s:.2f}",
                    f"{local.cpu_s:.2f}",
                    f"{local.peak_rss_mb:.0f}",
                    "1.00",
                ]
            )
            for concurrency in (1, 8):
                started = time.perf_counter()
                usage = measure(
                    dossier_argv(
                        "collect",
                        "--inventory",
                        str(root / "inventory.yaml"),
                        "--out-dir",
                        str(root / f"out-{concurrency}"),
                        "--concurrency",
                        str(concurrency),
                        *only,
                    )
                )
                assert usage.exit_code == 0, f"agentless run failed at concurrency {concurrency}"
                assert time.perf_counter() - started >= usage.wall_s
                rows.append(
                    [
                        f"SSH, {args.targets} targets, concurrency {concurrency}",
                        f"{usage.wall_s:.2f}",
                        f"{usage.cpu_s:.2f}",
                        f"{usage.peak_rss_mb:.0f}",
                        f"{usage.wall_s / local.wall_s:.2f}",
                    ]
                )
            c1, c8 = float(rows[1][1]), float(rows[2][1])
        finally:
            for server in servers:
                server.stop()
    print_table(
        f"agentless collection ({'all collectors' if not only else ' '.join(args.only)})",
        ["run", "wall s", "cpu s", "peak RSS MB", "wall / local"],
        rows,
    )
    print(
        f"\nconcurrency 8 vs 1: {c1 / c8:.2f}x faster; per target at 8: {c8 / args.targets:.2f} s"
    )


if __name__ == "__main__":
    main()
