"""Evaluate every check on N synthetic hosts, beside a pure-Python loop baseline.

Usage: python bench/evaluate.py [--hosts 10000]
Hosts are real records (this machine, and the cached debootstrapped Debian tree when
present) cloned with seeded variations of the facts checks look at. The baseline
touches the same (host, check) pairs with one dict lookup each, in the same run.
Target (issue 5): the whole fleet in at most 10 s on this 2-core machine.
"""

from __future__ import annotations

import argparse
import copy
import random
import resource
import sys
import time
from pathlib import Path
from typing import Any

from _common import print_table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from collectors.host import LocalHost, RootHost
from collectors.registry import all_collectors
from server.controls.catalog import default_config_dir, load_configs
from server.controls.evaluate import RecordView, decide

Facts = dict[str, dict[str, Any]]


def real_hosts() -> list[Facts]:
    hosts = [LocalHost()]
    cache = Path(__file__).resolve().parent.parent / ".cache"
    trees = sorted(cache.glob("debian-bookworm-*/etc/os-release"))
    if trees:
        hosts.append(RootHost(trees[0].parent.parent))  # type: ignore[list-item]
    specs = all_collectors()
    return [{name: spec.collect(host).facts for name, spec in specs.items()} for host in hosts]


def vary(base: Facts, rng: random.Random) -> Facts:
    """A clone whose commonly checked facts differ the way real fleets differ."""
    host = dict(base)
    sshd = copy.deepcopy(host.get("configuration.sshd") or {})
    if isinstance(sshd.get("settings"), dict):
        sshd["settings"]["permitrootlogin"] = rng.choice(["no", "yes", "prohibit-password"])
        sshd["settings"]["maxauthtries"] = rng.choice([3, 4, 6, 10])
    host["configuration.sshd"] = sshd
    accounts = copy.deepcopy(host.get("access.accounts") or {})
    if rng.random() < 0.05:
        accounts["uid0_accounts"] = [*(accounts.get("uid0_accounts") or []), "toor"]
    host["access.accounts"] = accounts
    policy = copy.deepcopy(host.get("configuration.auth_policy") or {})
    if isinstance(policy.get("login_defs"), dict):
        policy["login_defs"]["pass_max_days"] = rng.choice([30, 90, 180, 99999])
    host["configuration.auth_policy"] = policy
    updates = dict(host.get("patch.updates") or {})
    updates["security_count"] = rng.choice([0, 0, 0, 1, 12])
    host["patch.updates"] = updates
    return host


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=10_000)
    args = parser.parse_args()
    configs = load_configs([default_config_dir()], all_collectors())
    bases = real_hosts()
    rng = random.Random(20261126)
    fleet = [vary(bases[i % len(bases)], rng) for i in range(args.hosts)]
    checks = configs.checks
    pairs = args.hosts * len(checks)

    started = time.perf_counter()
    touched = 0
    for host in fleet:
        for check in checks:
            touched += 1 if host.get(check.collector) is not None else 0
    baseline = time.perf_counter() - started

    started = time.perf_counter()
    counts: dict[str, int] = {}
    for index, host in enumerate(fleet):
        for check in checks:
            facts = host.get(check.collector)
            if facts is None:
                continue
            view = RecordView(
                f"{index:064d}", 0, check.collector, "2026-11-26T00:00:00Z", facts, []
            )
            decision = decide(check, view).decision
            counts[decision] = counts.get(decision, 0) + 1
    elapsed = time.perf_counter() - started
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print_table(
        f"evaluation of {len(checks)} checks on {args.hosts:,} synthetic hosts "
        f"({len(bases)} real base hosts)",
        ["what", "seconds", "hosts/s", "pairs/s", "ratio"],
        [
            [
                "pure-Python loop, one lookup per pair (baseline)",
                f"{baseline:.3f}",
                f"{args.hosts / baseline:,.0f}",
                f"{pairs / baseline:,.0f}",
                "1.0",
            ],
            [
                "decide() every check on every host",
                f"{elapsed:.3f}",
                f"{args.hosts / elapsed:,.0f}",
                f"{pairs / elapsed:,.0f}",
                f"{elapsed / baseline:.0f}x",
            ],
        ],
    )
    print(f"\ndecisions: {dict(sorted(counts.items()))}; touched {touched:,} pairs")
    print(
        f"peak RSS {rss:.0f} MB; target: fleet in <= 10 s: "
        f"{elapsed:.2f} s {'OK' if elapsed <= 10 else 'OVER'}"
    )


if __name__ == "__main__":
    main()
