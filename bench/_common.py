"""Helpers for benchmarks: child-process resource usage and a small results table."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Usage:
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    exit_code: int


# Run the measured command from a small launcher process: a child forked straight from
# this (large) benchmark process would report this process's pages in its ru_maxrss.
# With a stop time (argv[1], seconds; 0 = none) the command is sent SIGTERM then.
LAUNCHER = """
import json, os, signal, subprocess, sys, time
started = time.perf_counter()
stop_after = float(sys.argv[1])
child = subprocess.Popen(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
if stop_after:
    try:
        child.wait(stop_after)
    except subprocess.TimeoutExpired:
        child.send_signal(signal.SIGTERM)
_pid, status, usage = os.wait4(child.pid, 0)
print(json.dumps([time.perf_counter() - started, usage.ru_utime + usage.ru_stime,
                  usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)]))
"""


def measure(argv: list[str], stop_after: float = 0) -> Usage:
    """Run argv to completion (or SIGTERM it after `stop_after` seconds, for a daemon);
    wall time, user+system CPU and peak RSS of that process."""
    out = subprocess.run(
        [sys.executable, "-S", "-c", LAUNCHER, str(stop_after), *argv],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    wall, cpu, rss, code = json.loads(out)
    return Usage(wall, cpu, rss, code)


def median_usage(runs: list[Usage]) -> Usage:
    return Usage(
        statistics.median(run.wall_s for run in runs),
        statistics.median(run.cpu_s for run in runs),
        statistics.median(run.peak_rss_mb for run in runs),
        max(run.exit_code for run in runs),
    )


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=False)]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=False)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)))
