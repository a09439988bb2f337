"""`dossier documents …`: document evidence for controls (policies, drills, ...)."""

from __future__ import annotations

import getpass
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Document evidence for controls.", no_args_is_help=True)
DataOption = Annotated[Path, typer.Option("--data", help="server data directory")]


@app.command("add")
def add_command(
    data: DataOption,
    control: Annotated[str, typer.Option("--control", help="control id, e.g. Art.17")],
    file: Annotated[Path, typer.Option("--file", help="the document", exists=True, dir_okay=False)],
    valid_until: Annotated[str, typer.Option("--valid-until", help="YYYY-MM-DD, inclusive")],
    framework: Annotated[str, typer.Option("--framework", help="framework id")] = "cii-2021",
    kind: Annotated[
        str,
        typer.Option(
            "--type",
            help="policy, training, drill, risk_assessment, supplier_agreement, "
            "incident_record or other",
        ),
    ] = "other",
    by: Annotated[
        str | None, typer.Option("--by", help="who uploads it (default: this login name)")
    ] = None,
) -> None:
    """Store a document for a control: hashed, logged, counted until it expires."""
    from evidence.keys import SigningKey
    from server.admin import load_evaluated_controls, open_session
    from server.blobs import BlobStore
    from server.config import DataDir
    from server.controls.documents import NewDocument, add_document, document_json
    from server.evidence_log import EvidenceLog

    directory = DataDir(data)
    directory.require_initialised()
    controls = load_evaluated_controls(directory)
    new = NewDocument(
        framework,
        control,
        kind,
        file.name,
        valid_until,
        by or getpass.getuser(),
        file.read_bytes(),
    )
    today = datetime.now(UTC).date()
    with open_session(directory) as session:
        log = EvidenceLog(SigningKey.load(directory.server_key))
        document = add_document(session, BlobStore(directory.blobs), log, controls, new, today)
        typer.echo(json.dumps(document_json(document, today), indent=2))


@app.command("list")
def list_command(
    data: DataOption,
    framework: Annotated[str | None, typer.Option("--framework")] = None,
    control: Annotated[str | None, typer.Option("--control")] = None,
) -> None:
    """Documents per control, with validity."""
    from server.admin import open_session
    from server.config import DataDir
    from server.controls.documents import document_json, list_documents

    today = datetime.now(UTC).date()
    with open_session(DataDir(data)) as session:
        rows = [document_json(d, today) for d in list_documents(session, framework, control)]
    from rich.console import Console
    from rich.table import Table

    table = Table("framework", "control", "type", "file", "sha256", "by", "valid until")
    for row in rows:
        until = (
            f"[red]{row['valid_until']} (expired)[/red]" if row["expired"] else row["valid_until"]
        )
        table.add_row(
            row["framework"],
            row["control_id"],
            row["type"],
            row["filename"],
            row["sha256"][:16] + "…",
            row["uploaded_by"],
            until,
        )
    Console().print(table)
