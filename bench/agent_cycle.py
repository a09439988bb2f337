"""One full agent cycle (every collector, sign, spool, ship to a real TLS server) beside
bare Python, and beside OpenSCAP and Lynis scanning the same host, all in one run.

Usage: python bench/agent_cycle.py [--runs N] [--no-lynis] [--daemon-seconds S]
Prints wall time, CPU time and peak RSS (median of N runs; Lynis once, it is slow) and
ratios against `python -c pass`. Targets (issue 3): cycle <= 2 s wall, <= 1 s CPU,
<= 60 MB peak RSS on this 2-core machine.
Also, without a target: the daemon (`dossier agent run`) for S seconds with every
collector and shipping every 5 s, far more often than any real schedule, to show its
steady-state memory.
OpenSCAP rows need Debian's openscap-scanner and ssg-debian; Lynis needs lynis.

Our packages are byte-compiled first, as `pip install` does for a deployed agent: with
PYTHONDONTWRITEBYTECODE set (as on CI machines) an editable install would otherwise
recompile every module on every run and the cycle would be timed with the compiler in it.
"""

from __future__ import annotations

import argparse
import compileall
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import Usage, measure, median_usage, print_table

from collectors.registry import all_collectors
from dossier.procs import dossier_argv, start_server
from server.admin import create_enrollment_token, init_server, open_session, parse_duration
from server.config import DataDir

SSG_CONTENT = Path("/usr/share/xml/scap/ssg/content/ssg-debian11-ds.xml")
SSG_PROFILE = "xccdf_org.ssgproject.content_profile_standard"
TARGETS = {"wall_s": 2.0, "cpu_s": 1.0, "peak_rss_mb": 60.0}
PACKAGES = ("agent", "collectors", "dossier", "evidence", "server")
REPO = Path(__file__).resolve().parent.parent


def agent_cycle(root: Path, runs: int, daemon_seconds: float) -> tuple[Usage, Usage | None]:
    data = DataDir(root / "server")
    init_server(data)
    server = start_server(data.root)
    try:
        with open_session(data) as session:
            token = create_enrollment_token(session, uses=1, expires_in=parse_duration("1h")).token
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
        usage = median_usage([measure(cycle) for _ in range(runs)])
        daemon = None
        if daemon_seconds:
            every = {"interval": "5s", "jitter": "0s"}
            config.write_text(
                json.dumps(
                    {
                        "server": {"url": server.url},
                        "schedule": every,
                        "collectors": {name: every for name in all_collectors()},
                        "ship": {"interval": "5s"},
                    }
                )
            )
            daemon = measure([arg for arg in cycle if arg != "--once"], stop_after=daemon_seconds)
    finally:
        server.stop()
    if usage.exit_code != 0:
        raise SystemExit(f"agent cycle failed with exit {usage.exit_code}")
    if daemon is not None and daemon.exit_code != 0:
        raise SystemExit(f"agent daemon exited {daemon.exit_code} on SIGTERM")
    return usage, daemon


def comparators(runs: int, lynis: bool) -> list[tuple[str, Usage | None]]:
    rows: list[tuple[str, Usage | None]] = []
    if shutil.which("oscap") and SSG_CONTENT.exists():
        # oscap exits 2 when some rules fail: that is a result, not an error.
        argv = ["oscap", "xccdf", "eval", "--profile", SSG_PROFILE, str(SSG_CONTENT)]
        rows.append(
            (
                f"oscap xccdf eval ({SSG_CONTENT.name}, standard)",
                median_usage([measure(argv) for _ in range(runs)]),
            )
        )
    else:
        rows.append(("oscap xccdf eval (not installed)", None))
    if lynis and shutil.which("lynis"):
        rows.append(
            (
                "lynis audit system --quick (1 run)",
                measure(["lynis", "audit", "system", "--quick", "--no-colors"]),
            )
        )
    elif lynis:
        rows.append(("lynis audit system --quick (not installed)", None))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--no-lynis", action="store_true", help="skip the slow Lynis run")
    parser.add_argument(
        "--daemon-seconds", type=float, default=60, help="how long to run the daemon (0: skip)"
    )
    args = parser.parse_args()
    for package in PACKAGES:
        compileall.compile_dir(REPO / package, quiet=1)
    baseline = median_usage([measure([sys.executable, "-c", "pass"]) for _ in range(args.runs)])
    imports = median_usage(
        [measure([sys.executable, "-c", "import dossier.cli"]) for _ in range(args.runs)]
    )
    with tempfile.TemporaryDirectory(prefix="dossier-bench-") as tmp:
        agent, daemon = agent_cycle(Path(tmp), args.runs, args.daemon_seconds)
    measured: list[tuple[str, Usage | None]] = [
        ("python -c pass (baseline)", baseline),
        ("python -c 'import dossier.cli'", imports),
        (f"dossier agent run --once ({len(all_collectors())} collectors)", agent),
        (f"dossier agent run (daemon, {args.daemon_seconds:g} s, all every 5 s)", daemon),
        *comparators(args.runs, not args.no_lynis),
    ]
    rows = []
    for name, usage in measured:
        if usage is None:
            rows.append([name, "-", "-", "-", "-", "-", "-"])
            continue
        # The daemon's wall time is how long it was left running: no ratio to compare.
        timed = usage is not daemon
        rows.append(
            [
                name,
                f"{usage.wall_s:.3f}",
                f"{usage.cpu_s:.3f}",
                f"{usage.peak_rss_mb:.1f}",
                f"{usage.wall_s / baseline.wall_s:.1f}x" if timed else "-",
                f"{usage.wall_s / agent.wall_s:.2f}x" if timed else "-",
                f"{usage.peak_rss_mb / baseline.peak_rss_mb:.1f}x",
            ]
        )
    print_table(
        f"agent cycle vs other scanners, median of {args.runs} runs",
        [
            "process",
            "wall s",
            "cpu s",
            "peak RSS MB",
            "wall vs python",
            "wall vs agent",
            "RSS vs python",
        ],
        rows,
    )
    verdicts = [
        f"{key} {getattr(agent, key):.2f} <= {limit} "
        f"{'OK' if getattr(agent, key) <= limit else 'OVER'}"
        for key, limit in TARGETS.items()
    ]
    print("targets: " + "; ".join(verdicts))


if __name__ == "__main__":
    main()
