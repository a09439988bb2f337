"""The `dossier` command: one CLI with agent, server and demo subcommands."""

from __future__ import annotations

import sys
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
    from pathlib import Path

    from dossier.demo import DemoError, run_demo

    try:
        run_demo(Path(directory))
    except DemoError as exc:
        print(f"dossier: error: {exc}", file=sys.stderr)
        raise typer.Exit(2) from exc


def main() -> None:
    try:
        app()
    except USER_ERRORS as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        print(f"dossier: error: {message}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
