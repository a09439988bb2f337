"""One full agent cycle (collect all, sign, spool, ship to a real server) vs bare Python.

Usage: python bench/agent_cycle.py [--runs N]
Prints wall time, CPU time and peak RSS of the agent process (median of N runs) beside
`python -c pass` measured in the same run, and their ratios.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import measure, median_usage, print_table

from dossier.procs import dossier_argv, start_server
from server.admin import create_enrollment_token, init_server, open_session, parse_duration
from server.config import DataDir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dossier-bench-") as tmp:
        root = Path(tmp)
        data = DataDir(root / "server")
        init_server(data)
        server = start_server(data.root)
        try:
            with open_session(data) as session:
                token = create_enrollment_token(
                    session, uses=1, expires_in=parse_duration("1h")
                ).token
            state = root / "agent"
            subprocess.run(
                dossier_argv(
                    "agent",
                    "enroll",
                    "--state",
                    str(state),
                    "--server",
                    server.url,
                    "--token",
                    token,
                    "--ca",
                    str(server.ca),
                ),
                check=True,
                capture_output=True,
            )
            config = root / "agent.yaml"
            config.write_text(json.dumps({"server": {"url": server.url}}))
            cycle = dossier_argv(
                "agent", "run", "--once", "--state", str(state), "--config", str(config)
            )
            baseline = median_usage(
                [measure([sys.executable, "-c", "pass"]) for _ in range(args.runs)]
            )
            imports = median_usage(
                [measure([sys.executable, "-c", "import dossier.cli"]) for _ in range(args.runs)]
            )
            agent = median_usage([measure(cycle) for _ in range(args.runs)])
        finally:
            server.stop()
    if agent.exit_code != 0:
        raise SystemExit(f"agent cycle failed with exit {agent.exit_code}")
    rows = []
    for name, usage in (
        ("python -c pass (baseline)", baseline),
        ("python -c 'import dossier.cli'", imports),
        ("dossier agent run --once", agent),
    ):
        rows.append(
            [
                name,
                f"{usage.wall_s:.3f}",
                f"{usage.cpu_s:.3f}",
                f"{usage.peak_rss_mb:.1f}",
                f"{usage.wall_s / baseline.wall_s:.1f}x",
                f"{usage.peak_rss_mb / baseline.peak_rss_mb:.1f}x",
            ]
        )
    print_table(
        f"agent cycle, median of {args.runs} runs (3 collectors, real TLS server)",
        ["process", "wall s", "cpu s", "peak RSS MB", "wall vs base", "RSS vs base"],
        rows,
    )


if __name__ == "__main__":
    main()
