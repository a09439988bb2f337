"""`dossier server …` commands."""

from __future__ import annotations

import ipaddress
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from server.config import DataDir
from server.errors import AdminError

# server.admin pulls in SQLAlchemy and Alembic; commands import it when they run, so
# agent commands sharing this CLI start fast.

if TYPE_CHECKING:
    from rich.console import Console


@cache
def console() -> Console:
    """Rich, imported on first output: the agent's collection path never needs it."""
    from rich.console import Console

    return Console()


app = typer.Typer(help="Run and administer the Dossier server.", no_args_is_help=True)
token_app = typer.Typer(help="Enrollment tokens.", no_args_is_help=True)
agents_app = typer.Typer(help="Enrolled agents.", no_args_is_help=True)
app.add_typer(token_app, name="token")
app.add_typer(agents_app, name="agents")

DataOption = Annotated[Path, typer.Option("--data", help="server data directory")]


@app.command("init")
def init(
    data: DataOption,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url", help="SQLAlchemy URL (postgresql+psycopg://…); default SQLite"
        ),
    ] = None,
    tls_name: Annotated[
        list[str] | None,
        typer.Option("--tls-name", help="extra DNS name or IP for the server certificate"),
    ] = None,
    admin_token_file: Annotated[
        Path | None,
        typer.Option(
            "--admin-token-file",
            help="write the admin token to this file (0600) instead of printing it",
        ),
    ] = None,
) -> None:
    """Create the server key, TLS CA and certificate, database and admin token."""
    from server.admin import init_server

    directory = DataDir(data)
    token = init_server(directory, database_url=database_url, tls_names=tls_name)
    console().print(f"initialised {data}")
    console().print(f"  agents pin this CA: {directory.ca_cert}")
    if admin_token_file is not None:
        admin_token_file.touch(mode=0o600, exist_ok=False)
        admin_token_file.write_text(token + "\n", encoding="ascii")
        console().print(f"  admin API token written to {admin_token_file}")
    else:
        console().print("  admin API token (shown once, store it safely):")
        typer.echo(token)


@app.command("run")
def run(
    data: DataOption,
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8443,
    no_tls: Annotated[
        bool, typer.Option("--no-tls", help="plain HTTP; allowed on loopback addresses only")
    ] = False,
) -> None:
    """Serve the API (FastAPI + uvicorn) over TLS with the data directory's certificate."""
    import uvicorn

    from server.app import create_app

    directory = DataDir(data)
    if no_tls and not _is_loopback(host):
        raise AdminError(f"--no-tls is only allowed on loopback addresses, not {host}")
    application = create_app(directory)
    certfile = None if no_tls else str(directory.tls_cert)
    keyfile = None if no_tls else str(directory.tls_key)
    uvicorn.run(
        application,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        server_header=False,
        ssl_certfile=certfile,
        ssl_keyfile=keyfile,
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@token_app.command("create")
def token_create(
    data: DataOption,
    uses: Annotated[int, typer.Option(help="how many agents may enroll with it")] = 1,
    expires: Annotated[str, typer.Option(help="lifetime such as 15m, 24h, 7d")] = "24h",
    json_output: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Create an enrollment token (printed once; only its hash is stored)."""
    from server.admin import create_enrollment_token, open_session, parse_duration

    with open_session(DataDir(data)) as session:
        created = create_enrollment_token(session, uses=uses, expires_in=parse_duration(expires))
    if json_output:
        import json

        typer.echo(
            json.dumps(
                {
                    "id": created.id,
                    "token": created.token,
                    "expires_at": created.expires_at,
                    "uses": created.max_uses,
                }
            )
        )
    else:
        console().print(
            f"token {created.id}: {created.max_uses} use(s), expires {created.expires_at}"
        )
        typer.echo(created.token)


@agents_app.command("list")
def agents_list(data: DataOption) -> None:
    """List enrolled agents."""
    from server.admin import list_agents, open_session

    with open_session(DataDir(data)) as session:
        agents = list_agents(session)
    from rich.table import Table

    table = Table("agent", "hostname", "enrolled", "revoked")
    for agent in agents:
        table.add_row(agent.id, agent.hostname, agent.enrolled_at, agent.revoked_at or "")
    console().print(table)


@agents_app.command("revoke")
def agents_revoke(
    agent_id: Annotated[str, typer.Argument(help="agent id, as in 'agents list'")],
    data: DataOption,
    reason: Annotated[str, typer.Option(help="why, for the record")] = "revoked by admin",
) -> None:
    """Revoke an agent: its new bundles are refused; its evidence stays verifiable."""
    from server.admin import open_session, revoke_agent

    with open_session(DataDir(data)) as session:
        agent = revoke_agent(session, agent_id, reason)
    console().print(f"agent {agent.id} revoked at {agent.revoked_at}")


@app.command("enroll-offline")
def enroll_offline_command(
    data: DataOption,
    request: Annotated[
        Path, typer.Argument(help="the agent's request file (dossier-enroll-request-….json)")
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="response file to write (default: beside the request)"),
    ] = None,
) -> None:
    """Enroll an air-gapped agent from its request file; write the signed response.

    The request's token is checked and spent as on the network path. Give the agent's
    operator the server key id printed here through a separate channel: the agent
    accepts the response only from that key.
    """
    from evidence.keys import SigningKey
    from evidence.offline_enroll import MAX_FILE_BYTES, REQUEST_PREFIX, RESPONSE_PREFIX
    from server.admin import open_session
    from server.offline_enroll import enroll_from_request

    directory = DataDir(data)
    directory.require_initialised()
    try:
        with request.open("rb") as handle:
            body = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise AdminError(f"cannot read {request}: {exc.strerror or exc}") from exc
    server_key = SigningKey.load(directory.server_key)
    with open_session(directory) as session:
        result = enroll_from_request(session, server_key, body)
    if out is None:
        name = request.name.removeprefix(REQUEST_PREFIX)
        out = request.with_name(RESPONSE_PREFIX + name)
    partial = out.with_name(out.name + ".partial")
    partial.write_bytes(result.response)
    partial.replace(out)
    typer.echo(f"enrolled {result.agent_id} ({result.hostname}); response: {out}", err=True)
    typer.echo(f"server key id (give it to the agent's operator): {server_key.keyid}", err=True)
    typer.echo(str(out))


@app.command("import")
def import_command(
    data: DataOption,
    media: Annotated[Path, typer.Argument(help="media directory holding export packages")],
    json_output: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Ingest bundles exported to removable media by air-gapped agents.

    Every bundle passes the same verification as network ingest; re-importing stores
    nothing twice. The server's signed receipts are written into each package
    (receipts.json) for `dossier agent import-receipts`. Exit 1 if anything was refused.
    """
    from evidence.keys import SigningKey
    from server.blobs import BlobStore
    from server.controls.store import ensure_evaluated
    from server.db import make_engine, migrate, session_factory
    from server.ingest import Ingestor
    from server.media_import import MediaImportError, import_media, summary_json

    directory = DataDir(data)
    directory.require_initialised()
    settings = directory.load_settings()
    engine = make_engine(directory.database_url())
    migrate(engine)
    sessions = session_factory(engine)
    controls = settings.load_controls(directory.root)
    ensure_evaluated(sessions, controls)
    ingestor = Ingestor(
        sessions, BlobStore(directory.blobs), SigningKey.load(directory.server_key), controls
    )
    try:
        results = import_media(media, sessions, ingestor, settings.max_bundle_bytes)
    except MediaImportError as exc:
        raise AdminError(str(exc)) from exc
    if json_output:
        typer.echo(summary_json(results))
    else:
        for result in results:
            console().print(
                f"{result.package.name}: stored {result.stored}, already stored "
                f"{result.duplicates}, refused {len(result.refused)}"
            )
            for problem in result.refused:
                console().print(f"  [red]refused[/red] {problem}")
    if any(result.refused for result in results):
        raise typer.Exit(1)


@app.command("check-integrity")
def check_integrity_command(data: DataOption) -> None:
    """Re-verify every stored bundle, record, document, log entry and receipt.

    Exit 1 naming each problem: a blob rewritten or deleted, rows edited, the log
    rewritten or truncated.
    """
    from evidence.keys import SigningKey
    from server.admin import open_session
    from server.blobs import BlobStore
    from server.integrity import check_integrity

    directory = DataDir(data)
    server_key = SigningKey.load(directory.server_key).public
    with open_session(directory) as session:
        report = check_integrity(session, BlobStore(directory.blobs), server_key)
    # Plain lines (no wrapping): scripts and tickets quote them.
    typer.echo(
        f"checked {report.bundles} bundles, {report.records} records, "
        f"{report.documents} documents, {report.log_entries} log entries"
    )
    for problem in report.problems:
        typer.echo(f"PROBLEM {problem}")
    if report.problems:
        raise typer.Exit(1)
    typer.echo("integrity OK")
