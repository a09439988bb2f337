"""The `dossier` command: one CLI with agent, server and demo subcommands."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from agent.cli import app as agent_app
from agent.config import ConfigError as AgentConfigError
from agent.enroll import EnrollError
from agent.shipper import ShipError
from agent.state import StateError
from dossier import logs
from evidence.errors import EvidenceError
from server.cli import app as server_app
from server.config import ConfigError as ServerConfigError
from server.errors import AdminError

app = typer.Typer(
    help="Dossier: continuous, signed, verifiable compliance evidence.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(agent_app, name="agent")
app.add_typer(server_app, name="server")

# Errors that carry a complete, user-facing message: one line, exit 2, no traceback.
USER_ERRORS = (
    AgentConfigError,
    ServerConfigError,
    EnrollError,
    ShipError,
    StateError,
    EvidenceError,
    AdminError,
    KeyError,
)


@app.callback()
def main_options(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="debug logging")] = False,
) -> None:
    logs.setup(verbose)


@app.command("demo")
def demo(
    directory: Annotated[
        str, typer.Option("--dir", help="where the demo keeps its data")
    ] = "demo-data",
) -> None:
    """Server + local agent + one collection, end to end, in ./demo-data."""
    from dossier.demo import DemoError, run_demo

    try:
        run_demo(Path(directory))
    except DemoError as exc:
        print(f"dossier: error: {exc}", file=sys.stderr)
        raise typer.Exit(2) from exc


@app.command("collect")
def collect(
    out: Annotated[Path, typer.Option("--out", help="where to write the signed bundle")],
    local: Annotated[bool, typer.Option("--local", help="collect this machine")] = False,
    root: Annotated[
        Path | None,
        typer.Option("--root", help="collect a filesystem tree (e.g. a mounted image) as a host"),
    ] = None,
    only: Annotated[
        list[str] | None, typer.Option("--only", help="collector name (repeatable); default: all")
    ] = None,
    key: Annotated[
        Path | None,
        typer.Option(
            "--key",
            help="Ed25519 key file to sign with (created 0600 if missing); default: "
            "a throwaway key whose public half is written next to --out",
        ),
    ] = None,
    timeout: Annotated[float, typer.Option(help="seconds per collector")] = 120.0,
    json_output: Annotated[bool, typer.Option("--json", help="print a JSON summary")] = False,
) -> None:
    """Run collectors without a server and write one signed bundle (for trials and tests)."""
    from rich.console import Console
    from rich.table import Table

    from dossier.collect import choose_host, collect_to_file, summary

    try:
        host = choose_host(local, root)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    result = collect_to_file(host, out, only=only, key_file=key, timeout=timeout)
    report = summary(result)
    if json_output:
        typer.echo(json.dumps(report, indent=2))
        return
    table = Table(
        "collector",
        "sources",
        "errors",
        "facts bytes",
        title=f"bundle {result.bundle.bundle_id[:16]}… → {out}",
    )
    for record in result.bundle.payload.records:
        table.add_row(
            record.collector,
            str(len(record.sources)),
            str(len(record.errors)),
            str(len(json.dumps(record.facts))),
        )
    Console().print(table)


def main() -> None:
    try:
        app()
    except USER_ERRORS as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        print(f"dossier: error: {message}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
