"""`dossier agent …` commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from agent.config import load_config
from agent.enroll import accept_enroll_response, enroll, write_enroll_request
from agent.runtime import OFFLINE, AgentRuntime, open_runtime
from agent.spool import SpoolFull
from agent.state import StateDir


def say(message: str) -> None:
    """A line for the operator, on stderr. Plain text: host-supplied words are never read
    as markup, and the agent's collection path does not load Rich."""
    typer.echo(message, err=True)


def red(word: str) -> str:
    return typer.style(word, fg="red")


app = typer.Typer(
    help="Collect evidence on this host and ship it to the server.", no_args_is_help=True
)

StateOption = Annotated[Path, typer.Option("--state", help="agent state directory")]
ConfigOption = Annotated[
    Path | None, typer.Option("--config", help="agent YAML config (default: embedded defaults)")
]


@app.command("enroll")
def enroll_command(
    state: StateOption,
    server: Annotated[str, typer.Option("--server", help="server URL, https://host:port")],
    token: Annotated[str, typer.Option("--token", help="enrollment token from the admin")],
    ca: Annotated[Path | None, typer.Option("--ca", help="server CA certificate to pin")] = None,
) -> None:
    """Create this host's key (0600, never sent) and register its public key."""
    enrollment = enroll(StateDir(state), server, token, ca)
    say(f"enrolled as {enrollment.agent_id} with {enrollment.server_url}")
    typer.echo(enrollment.agent_id)


@app.command("enroll-request")
def enroll_request_command(
    state: StateOption,
    token: Annotated[str, typer.Option("--token", help="enrollment token from the admin")],
    to: Annotated[Path, typer.Option("--to", help="removable media directory")],
) -> None:
    """For a host with no route to the server: create this host's key (0600, never
    sent) and write an enrollment request signed by it onto removable media, for
    `dossier server enroll-offline`."""
    path = write_enroll_request(StateDir(state), token, to)
    say(f"enrollment request written to {path}; it holds the token: keep the medium safe")
    typer.echo(str(path))


@app.command("enroll-accept")
def enroll_accept_command(
    state: StateOption,
    response: Annotated[Path, typer.Argument(help="the server's response file")],
    server_keyid: Annotated[
        str,
        typer.Option(
            "--server-keyid",
            help="the server key id (at least 16 hex digits) from its administrator, "
            "obtained out of band: the response must be signed by that key",
        ),
    ],
    server: Annotated[
        str | None,
        typer.Option("--server", help="server URL, if this host can ever reach it"),
    ] = None,
    ca: Annotated[
        Path | None, typer.Option("--ca", help="with --server: server CA certificate to pin")
    ] = None,
) -> None:
    """Finish an enrollment by removable media with the server's signed response."""
    enrollment = accept_enroll_response(StateDir(state), response, server_keyid, server, ca)
    say(
        f"enrolled as {enrollment.agent_id}; server key {enrollment.server_keyid[:16]}…; "
        f"{'ships to ' + enrollment.server_url if enrollment.server_url else OFFLINE}"
    )
    typer.echo(enrollment.agent_id)


@app.command("run")
def run_command(
    state: StateOption,
    config: ConfigOption = None,
    once: Annotated[
        bool, typer.Option("--once", help="collect everything once, ship, and exit")
    ] = False,
    only: Annotated[
        list[str] | None, typer.Option("--only", help="with --once: just these collectors")
    ] = None,
) -> None:
    """Run on schedule (APScheduler), or once with --once.

    With --once the exit status is 0 only if the new bundle was accepted by the server
    or is durably spooled for a server that could not be reached; it is 1 when a bundle
    was rejected, the agent was refused (revoked, unknown) or a receipt did not verify.
    """
    settings = load_config(config)
    with open_runtime(StateDir(state), settings) as runtime:
        if not once:
            from agent.daemon import run_forever

            run_forever(runtime)
            return
        failed = False
        try:
            entry = runtime.collect(only)
            say(f"collected bundle seq {entry.seq} ({entry.bundle_id[:16]}…)")
        except SpoolFull as exc:
            say(f"{red('not spooled:')} {exc}")
            failed = True
        report = runtime.ship()
        say(
            f"delivered {report.delivered}, rejected {len(report.rejected)}, "
            f"still spooled {report.remaining}"
            + (f" ({report.stopped_by})" if report.stopped_by else "")
        )
        for line in report.rejected:
            say(f"{red('rejected')} {line}")
    if failed or not report.ok:
        raise typer.Exit(1)


@app.command("ship")
def ship_command(state: StateOption, config: ConfigOption = None) -> None:
    """Send spooled bundles now (exit 1 if any remain or were rejected)."""
    with open_runtime(StateDir(state), load_config(config)) as runtime:
        report = runtime.ship()
    say(
        f"delivered {report.delivered}, rejected {len(report.rejected)}, "
        f"still spooled {report.remaining}"
        + (f" ({report.stopped_by})" if report.stopped_by else "")
    )
    if report.remaining or not report.ok:
        raise typer.Exit(1)


@app.command("status")
def status_command(
    state: StateOption,
    config: ConfigOption = None,
    json_output: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Enrolled id, last seq, spooled bundles and the last verified receipt."""
    status = AgentRuntime(StateDir(state), load_config(config)).status()
    if json_output:
        typer.echo(json.dumps(status.as_dict(), indent=2))
        return
    receipt = status.last_receipt
    say(f"agent        {status.agent_id}")
    say(f"server       {status.server_url or OFFLINE}")
    say(f"host         {status.host_id}")
    say(f"last seq     {status.last_seq}")
    others = {h: seq for h, seq in status.chains.items() if h != status.host_id}
    if others:
        say(f"other chains {len(others)} (agentless targets)")
    say(f"spooled      {status.spooled} bundle(s), {status.spooled_bytes} bytes")
    say(f"rejected     {status.rejected}")
    if receipt:
        say(
            f"last receipt {receipt.get('host_id', '?')} seq {receipt['seq']} "
            f"bundle {receipt['bundle_id'][:16]}… "
            f"log index {receipt['log_index']} at {receipt['received_at']}"
        )
    else:
        say("last receipt none yet")


@app.command("export")
def export_command(
    state: StateOption,
    to: Annotated[Path, typer.Option("--to", help="mounted removable media directory")],
    config: ConfigOption = None,
) -> None:
    """Copy the spool to removable media as a package with a signed manifest.

    Bundles stay spooled until `import-receipts` brings back the server's receipts.
    """
    from agent.media import export_spool

    with open_runtime(StateDir(state), load_config(config)) as runtime:
        result = export_spool(runtime.state, runtime.enrollment, runtime.key, runtime.spool, to)
    say(f"exported {result.bundles} bundle(s), {result.bytes} bytes")
    typer.echo(str(result.package))


@app.command("import-receipts")
def import_receipts_command(
    state: StateOption,
    media: Annotated[Path, typer.Argument(help="media directory back from the server")],
    config: ConfigOption = None,
) -> None:
    """Verify the server's receipts from imported media and clear those bundles."""
    from agent.media import import_receipts

    with open_runtime(StateDir(state), load_config(config)) as runtime:
        result = import_receipts(runtime.state, runtime.enrollment, runtime.spool, media)
        remaining = len(runtime.spool.entries())
    say(
        f"cleared {result.cleared} bundle(s); {result.already_cleared} already cleared; "
        f"still spooled {remaining}"
    )
    for problem in result.problems:
        say(f"{red('problem')} {problem}")
    if result.problems:
        raise typer.Exit(1)
