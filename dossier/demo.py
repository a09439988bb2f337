"""`dossier demo`: the main job on embedded defaults, end to end, on this machine."""

from __future__ import annotations

import subprocess
from collections import Counter
from pathlib import Path

import requests
from rich.console import Console
from rich.table import Table

from dossier.procs import dossier_argv, start_server
from server.admin import create_enrollment_token, init_server, open_session, parse_duration
from server.config import DataDir

console = Console()


class DemoError(Exception):
    """A demo step failed; its own error was printed just above."""


def run_step(what: str, argv: list[str], quiet: bool = False) -> None:
    result = subprocess.run(argv, check=False, stdout=subprocess.DEVNULL if quiet else None)
    if result.returncode != 0:
        raise DemoError(f"demo step '{what}' failed with exit {result.returncode}")


def run_demo(root: Path) -> None:
    root = root.resolve()
    root.mkdir(parents=True, exist_ok=True)
    data = DataDir(root / "server")
    token_file = root / "admin-token"
    if not data.is_initialised():
        console.print(f"[bold]1.[/bold] initialising a server in {data.root}")
        token = init_server(data)
        token_file.touch(mode=0o600)
        token_file.write_text(token + "\n", encoding="ascii")
    else:
        console.print(f"[bold]1.[/bold] reusing the server in {data.root}")
    admin_token = token_file.read_text(encoding="ascii").strip()

    server = start_server(data.root)
    console.print(f"[bold]2.[/bold] server running at {server.url} (TLS, pinned CA)")
    try:
        state = root / "agent"
        if not (state / "agent.json").exists():
            with open_session(data) as session:
                created = create_enrollment_token(session, uses=1, expires_in=parse_duration("15m"))
            subprocess.run(
                dossier_argv(
                    "agent",
                    "enroll",
                    "--state",
                    str(state),
                    "--server",
                    server.url,
                    "--token",
                    created.token,
                    "--ca",
                    str(server.ca),
                ),
                check=True,
                stdout=subprocess.DEVNULL,
            )
            console.print(f"[bold]3.[/bold] agent enrolled, state in {state}")
        else:
            console.print(f"[bold]3.[/bold] reusing the enrolled agent in {state}")
        config = root / "agent.yaml"
        config.write_text(f"server: {{url: '{server.url}'}}\n", encoding="utf-8")
        console.print("[bold]4.[/bold] collecting once and shipping")
        subprocess.run(
            dossier_argv("agent", "run", "--once", "--state", str(state), "--config", str(config)),
            check=True,
        )
        show_holdings(server.url, str(server.ca), admin_token)
        show_compliance(server.url, str(server.ca), admin_token)
    finally:
        server.stop()
    package = root / "mlps2-l3.zip"
    console.print(f"[bold]5.[/bold] exporting the inspector package to {package}")
    run_step(
        "export",
        dossier_argv(
            "export", "--data", str(data.root), "--framework", "mlps2-l3", "--out", str(package)
        ),
        quiet=True,
    )
    console.print("[bold]6.[/bold] verifying it offline, as an inspector would")
    run_step(
        "verify",
        dossier_argv("verify", str(package), "--server-key", str(data.server_public_key)),
    )
    console.print(
        f"server stopped; everything is kept in {root} (run again to add more); "
        f"open {package.name} → index.html in a browser"
    )


def show_holdings(url: str, ca: str, admin_token: str) -> None:
    headers = {"Authorization": f"Bearer {admin_token}"}
    hosts = requests.get(f"{url}/api/v1/hosts", headers=headers, verify=ca, timeout=30)
    hosts.raise_for_status()
    table = Table(
        "host",
        "bundles",
        "collector",
        "records",
        "latest bundle",
        title="What the server now holds",
    )
    for host in hosts.json()["hosts"]:
        evidence = requests.get(
            f"{url}/api/v1/hosts/{host['id']}/evidence",
            params={"limit": 1000},
            headers=headers,
            verify=ca,
            timeout=30,
        )
        evidence.raise_for_status()
        records = evidence.json()["records"]  # newest first
        per_collector = Counter(record["collector"] for record in records)
        latest = {}
        for record in reversed(records):
            latest[record["collector"]] = record["bundle_id"][:12] + "…"
        for index, (name, count) in enumerate(sorted(per_collector.items())):
            first = index == 0
            table.add_row(
                host["hostname"] if first else "",
                str(host["bundles"]) if first else "",
                name,
                str(count),
                latest[name],
            )
    console.print(table)


def show_compliance(url: str, ca: str, admin_token: str) -> None:
    """Per framework, how many controls are in each status (documents not yet given)."""
    headers = {"Authorization": f"Bearer {admin_token}"}
    table = Table("framework", "controls", "pass", "fail", "error", "other", title="Control status")
    for framework in ("mlps2-l3", "cii-2021", "csl-2017"):
        response = requests.get(
            f"{url}/api/v1/status",
            params={"framework": framework},
            headers=headers,
            verify=ca,
            timeout=60,
        )
        response.raise_for_status()
        leaves = [c for c in response.json()["controls"] if c["evidence"]]
        counts = Counter(c["status"] for c in leaves)
        other = len(leaves) - counts["pass"] - counts["fail"] - counts["error"]
        table.add_row(
            f"{response.json()['framework']['title']['zh']} ({framework})",
            str(len(leaves)),
            str(counts["pass"]),
            str(counts["fail"]),
            str(counts["error"]),
            str(other),
        )
    console.print(table)
    console.print("details: dossier status --data DIR --framework mlps2-l3")
