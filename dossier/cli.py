"""The `dossier` command: agent, server, collect, controls, export and verify, one CLI."""

from __future__ import annotations

import json
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from agent.cli import app as agent_app
from agent.config import ConfigError as AgentConfigError
from agent.enroll import EnrollError
from agent.media import MediaError
from agent.shipping import ShipError
from agent.spool import SpoolFull
from agent.state import StateError
from dossier import logs
from dossier.controls_cli import app as controls_app
from dossier.controls_cli import changes_command as controls_changes_command
from dossier.controls_cli import status_command as controls_status_command
from dossier.documents_cli import app as documents_app
from dossier.export_cli import export_command, verify_command
from evidence.errors import EvidenceError
from server.cli import app as server_app
from server.config import ConfigError as ServerConfigError
from server.controls.errors import CatalogError, ReportError
from server.errors import AdminError

if TYPE_CHECKING:
    from collectors.host import Host

app = typer.Typer(
    help="Dossier: continuous, signed, verifiable compliance evidence.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(agent_app, name="agent")
app.add_typer(server_app, name="server")
app.add_typer(controls_app, name="controls")
app.add_typer(documents_app, name="documents")
app.command("status")(controls_status_command)
app.command("changes")(controls_changes_command)
app.command("export")(export_command)
app.command("verify")(verify_command)

# Errors that carry a complete, user-facing message: one line, exit 2, no traceback.
USER_ERRORS = (
    AgentConfigError,
    ServerConfigError,
    EnrollError,
    MediaError,
    ShipError,
    StateError,
    SpoolFull,
    EvidenceError,
    AdminError,
    CatalogError,
    ReportError,
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
    out: Annotated[
        Path | None, typer.Option("--out", help="with --local/--root: the signed bundle to write")
    ] = None,
    local: Annotated[bool, typer.Option("--local", help="collect this machine")] = False,
    root: Annotated[
        Path | None,
        typer.Option("--root", help="collect a filesystem tree (e.g. a mounted image) as a host"),
    ] = None,
    inventory: Annotated[
        Path | None,
        typer.Option("--inventory", help="collect the SSH targets of this inventory (YAML)"),
    ] = None,
    group: Annotated[
        list[str] | None,
        typer.Option("--group", help="with --inventory: only hosts in this group (repeatable)"),
    ] = None,
    state: Annotated[
        Path | None,
        typer.Option(
            "--state",
            help="enrolled agent state dir: the bundle (each target's, with --inventory) "
            "joins its own chain in that agent's spool",
        ),
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="with --state: agent configuration")
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out-dir", help="with --inventory: write one bundle per target here"),
    ] = None,
    ship: Annotated[
        bool, typer.Option("--ship", help="with --state: ship the spool afterwards")
    ] = False,
    concurrency: Annotated[int, typer.Option(help="targets collected at once", min=1)] = 8,
    only: Annotated[
        list[str] | None, typer.Option("--only", help="collector name (repeatable); default: all")
    ] = None,
    key: Annotated[
        Path | None,
        typer.Option(
            "--key",
            help="Ed25519 key file to sign with (created 0600 if missing); default: "
            "a throwaway key whose public half is written next to the output",
        ),
    ] = None,
    timeout: Annotated[float, typer.Option(help="seconds per collector")] = 120.0,
    json_output: Annotated[bool, typer.Option("--json", help="print a JSON summary")] = False,
) -> None:
    """Run collectors without an agent daemon and sign what they found.

    --local or --root DIR with --out FILE: one bundle of this machine or a tree.
    --inventory FILE with --state DIR (spooled, shipped like an agent's) or --out-dir DIR:
    every SSH target, each in its own chain; failed targets are listed, exit 1.
    """
    if inventory is not None:
        if local or root is not None or out is not None:
            raise typer.BadParameter("--inventory does not combine with --local, --root or --out")
        _collect_inventory(
            inventory,
            group,
            state,
            config,
            out_dir,
            ship,
            concurrency,
            only,
            key,
            timeout,
            json_output,
        )
        return
    from rich.console import Console
    from rich.table import Table

    from dossier.collect import choose_host, collect_to_file, summary

    try:
        host = choose_host(local, root)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    if ship and state is None:
        raise typer.BadParameter("--ship needs --state")
    if state is not None:
        if out is not None:
            raise typer.BadParameter("give --out FILE or --state DIR, not both")
        _collect_into_spool(host, state, config, ship, only, timeout, json_output)
        return
    if out is None:
        raise typer.BadParameter("--out FILE (or --state DIR) is required with --local or --root")
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


@app.command("collectors")
def collectors_command(
    schema: Annotated[
        str | None, typer.Option("--schema", help="print this collector's facts JSON Schema")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """List the collectors (name, version, category, what they gather)."""
    from rich.console import Console
    from rich.table import Table

    from collectors.registry import all_collectors

    available = all_collectors()
    if schema is not None:
        if schema not in available:
            raise KeyError(f"unknown collector {schema}; available: {', '.join(available)}")
        typer.echo(json.dumps(available[schema].facts_schema(), indent=2))
        return
    rows = [
        {
            "name": spec.name,
            "version": spec.version,
            "category": spec.category,
            "description": spec.description,
        }
        for spec in available.values()
    ]
    if json_output:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table("collector", "version", "category", "gathers")
    for row in rows:
        table.add_row(row["name"], row["version"], row["category"], row["description"])
    Console().print(table)


def _collect_into_spool(
    host: Host,
    state: Path,
    config: Path | None,
    ship: bool,
    only: list[str] | None,
    timeout: float,
    json_output: bool,
) -> None:
    """One collection of `host` as the next bundle of its chain in an enrolled agent's
    spool (a mounted image or another root tree gets a chain of its own)."""
    from agent.collect import run_collectors
    from agent.config import load_config
    from agent.runtime import open_runtime
    from agent.state import StateDir
    from collectors.registry import select

    with open_runtime(StateDir(state), load_config(config)) as runtime:
        records = run_collectors(select(only), host, timeout)
        bundle, _entry = runtime.writer.commit(host, records)
        report = runtime.ship() if ship else None
    summary = {
        "bundle_id": bundle.bundle_id,
        "host": bundle.payload.host.model_dump(),
        "seq": bundle.payload.seq,
        "records": len(records),
        "shipped": report.delivered if report else None,
        "spooled": report.remaining if report else None,
    }
    typer.echo(
        json.dumps(summary, indent=2)
        if json_output
        else f"bundle seq {bundle.payload.seq} of {bundle.payload.host.id} spooled"
        + (f"; shipped {report.delivered}, still spooled {report.remaining}" if report else "")
    )
    if report is not None and (report.remaining or not report.ok):
        raise typer.Exit(1)


def _collect_inventory(
    inventory_file: Path,
    groups: list[str] | None,
    state: Path | None,
    config: Path | None,
    out_dir: Path | None,
    ship: bool,
    concurrency: int,
    only: list[str] | None,
    key: Path | None,
    timeout: float,
    json_output: bool,
) -> None:
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from agent.agentless import BundleSink, TargetOutcome, collect_inventory
    from agent.config import load_config
    from agent.inventory import load_inventory
    from agent.runtime import open_runtime
    from agent.state import StateDir
    from collectors.registry import select
    from dossier.collect import directory_sink, spool_sink

    if (state is None) == (out_dir is None):
        raise typer.BadParameter(
            "with --inventory give exactly one of --state DIR or --out-dir DIR"
        )
    if ship and state is None:
        raise typer.BadParameter("--ship needs --state")
    targets = load_inventory(inventory_file).targets(inventory_file.parent, groups)
    if not targets:
        raise typer.BadParameter(f"no host of {inventory_file} is in group(s) {groups}")
    specs = select(only)
    with ExitStack() as stack:
        runtime = None
        sink: BundleSink
        if state is not None:
            runtime = stack.enter_context(open_runtime(StateDir(state), load_config(config)))
            sink = spool_sink(runtime)
        else:
            assert out_dir is not None
            sink, _public = directory_sink(out_dir, key)
        stderr = Console(stderr=True)
        with Progress(console=stderr, transient=True, disable=json_output) as progress:
            task = progress.add_task("collecting over SSH", total=len(targets))

            def done(outcome: TargetOutcome) -> None:
                progress.advance(task)
                if not outcome.ok:
                    progress.console.print(f"[red]failed[/red] {outcome.name}: {outcome.detail}")

            outcomes = collect_inventory(
                targets, specs, timeout=timeout, sink=sink, concurrency=concurrency, on_done=done
            )
        ship_report = runtime.ship() if ship and runtime is not None else None
    failed = [outcome for outcome in outcomes if not outcome.ok]
    if json_output:
        typer.echo(
            json.dumps(
                {
                    "targets": [outcome.__dict__ for outcome in outcomes],
                    "failed": [outcome.name for outcome in failed],
                    "shipped": ship_report.delivered if ship_report else None,
                    "spooled": ship_report.remaining if ship_report else None,
                },
                indent=2,
            )
        )
    else:
        table = Table("target", "address", "result", "records", "seconds", title="agentless run")
        for outcome in outcomes:
            table.add_row(
                outcome.name,
                outcome.address,
                outcome.detail if outcome.ok else f"[red]FAILED[/red] {outcome.detail}",
                f"{outcome.records} ({outcome.record_errors} with errors)" if outcome.ok else "",
                f"{outcome.seconds:.1f}",
            )
        Console().print(table)
        if ship_report is not None:
            Console().print(
                f"shipped {ship_report.delivered}, still spooled {ship_report.remaining}"
            )
    if failed or (ship_report is not None and (ship_report.remaining or not ship_report.ok)):
        raise typer.Exit(1)


def main() -> None:
    try:
        app()
    except USER_ERRORS as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        print(f"dossier: error: {message}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
