"""`dossier controls …`: inspect and validate framework catalogs and checks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Framework catalogs and checks.", no_args_is_help=True)
ConfigsOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--configs",
        help="directory with frameworks/ and checks/ (repeatable; default: the shipped ones)",
    ),
]


def config_dirs(configs: list[Path] | None) -> list[Path]:
    from server.controls.catalog import default_config_dir

    return configs or [default_config_dir()]


@app.command("validate")
def validate_command(configs: ConfigsOption = None) -> None:
    """Load catalogs and checks, cross-check them, and print a summary."""
    from collectors.registry import all_collectors
    from server.controls.catalog import load_configs

    loaded = load_configs(config_dirs(configs), all_collectors())
    from rich.console import Console

    console = Console()
    for framework, catalog in loaded.catalogs.items():
        automated = sum(1 for c in catalog.controls if c.evidence in ("automated", "both"))
        console.print(
            f"{framework}: {len(catalog.controls)} controls, {automated} with automated evidence"
        )
    console.print(f"checks: {len(loaded.checks)}")


STATUS_STYLE = {
    "pass": "green",
    "fail": "red",
    "error": "red",
    "stale": "yellow",
    "no_evidence": "yellow",
    "document_missing": "yellow",
    "document_expired": "red",
    "not_applicable": "dim",
}


def status_command(
    data: Annotated[Path, typer.Option("--data", help="server data directory")],
    framework: Annotated[str, typer.Option("--framework", help="e.g. mlps2-l3, cii-2021")],
    host: Annotated[str | None, typer.Option("--host", help="only this host id")] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="YYYY-MM-DD (end of day, UTC) or timestamp")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Controls of a framework: status, hosts passing/failing, oldest evidence age."""
    import json

    from rich.console import Console
    from rich.table import Table

    from server.admin import load_evaluated_controls, open_session
    from server.config import DataDir
    from server.controls.report import framework_status, parse_as_of

    directory = DataDir(data)
    directory.require_initialised()
    controls = load_evaluated_controls(directory)
    moment = parse_as_of(as_of)
    with open_session(directory) as session:
        report = framework_status(session, controls, framework, moment, host)
    if json_output:
        typer.echo(json.dumps(report, indent=2, ensure_ascii=False))
        return
    title = report["framework"]["title"]
    table = Table(
        "control",
        "title",
        "status",
        "hosts ✓",
        "hosts ✗",
        "oldest evidence (days)",
        title=f"{title['zh']} / {title['en']} — as of {report['as_of']}",
    )
    depth: dict[str, int] = {}
    for control in report["controls"]:
        depth[control["id"]] = depth.get(control["parent"], -1) + 1 if control["parent"] else 0
        style = STATUS_STYLE.get(control["status"], "")
        age = control["oldest_evidence_age_days"]
        table.add_row(
            "  " * depth[control["id"]] + control["id"],
            control["title"]["zh"],
            f"[{style}]{control['status']}[/{style}]" if style else control["status"],
            str(control["hosts_passing"]) if control["evidence"] else "",
            str(control["hosts_failing"]) if control["evidence"] else "",
            "" if age is None else str(age),
        )
    Console().print(table)


def changes_command(
    data: Annotated[Path, typer.Option("--data", help="server data directory")],
    since: Annotated[str, typer.Option("--since", help="YYYY-MM-DD or timestamp")],
    json_output: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Significant changes since a date: new hosts and services, new admin or uid-0
    accounts, OS upgrades, firewall and sshd policy changes, silent hosts."""
    import json

    from rich.console import Console
    from rich.table import Table

    from server.admin import load_evaluated_controls, open_session
    from server.config import DataDir
    from server.controls.report import changes_report, parse_since

    directory = DataDir(data)
    directory.require_initialised()
    controls = load_evaluated_controls(directory)
    with open_session(directory) as session:
        report = changes_report(session, controls, parse_since(since))
    if json_output:
        typer.echo(json.dumps(report, indent=2, ensure_ascii=False))
        return
    table = Table("when", "host", "change", "what", title=f"significant changes since {since}")
    for change in report["changes"]:
        table.add_row(
            change["at"], change["hostname"] or change["host_id"], change["kind"], change["summary"]
        )
    Console().print(table)
