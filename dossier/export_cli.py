"""`dossier export` and `dossier verify`: the inspector package and its offline check."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def export_command(
    data: Annotated[Path, typer.Option("--data", help="server data directory")],
    framework: Annotated[str, typer.Option("--framework", help="e.g. mlps2-l3, cii-2021")],
    out: Annotated[Path, typer.Option("--out", help="the package to write (.zip)")],
    hosts: Annotated[
        list[str] | None, typer.Option("--host", help="only this host id (repeatable)")
    ] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="YYYY-MM-DD (end of day, UTC) or timestamp")
    ] = None,
    period: Annotated[
        str | None,
        typer.Option("--period", help="FROM..TO (YYYY-MM-DD); default: the 12 months to --as-of"),
    ] = None,
    lang: Annotated[
        str | None,
        typer.Option("--lang", help="zh, en or zh,en (default): the languages of the pages"),
    ] = None,
) -> None:
    """Write the inspector package: browsable offline, in Chinese and English (or one of
    them with --lang), every file hashed and the manifest signed; `dossier verify` checks
    it without network or database."""
    from rich.console import Console

    from evidence.keys import SigningKey
    from server.admin import load_evaluated_controls, open_session
    from server.blobs import BlobStore
    from server.config import DataDir
    from server.controls.report import parse_as_of
    from server.export.languages import parse_languages
    from server.export.package import build_summary, parse_period, write_package

    directory = DataDir(data)
    directory.require_initialised()
    controls = load_evaluated_controls(directory)
    moment = parse_as_of(as_of)
    span = parse_period(period, moment)
    languages = parse_languages(lang)
    with open_session(directory) as session:
        summary, bundles, documents = build_summary(
            session, controls, framework, moment, span, hosts, languages
        )
        result = write_package(
            out,
            session,
            BlobStore(directory.blobs),
            SigningKey.load(directory.server_key),
            summary,
            bundles,
            documents,
        )
    Console(stderr=True).print(
        f"{result.controls} controls, {result.bundles} bundles, {result.documents} documents, "
        f"{result.files} files, {result.bytes} bytes; server key {summary['server']['keyid'][:16]}…"
    )
    typer.echo(str(result.path))


def verify_command(
    package: Annotated[Path, typer.Argument(help="the package (.zip)")],
    server_key: Annotated[
        Path | None,
        typer.Option(
            "--server-key",
            help="the server's public key (base64, as in keys/server.pub), obtained from the "
            "operator out of band; without it the packaged key is used and its id printed",
        ),
    ] = None,
) -> None:
    """Check a package offline: hashes, signatures, chains, log proofs, citations."""
    from evidence.keys import PublicKey
    from evidence.package import verify_package

    key = None
    if server_key is not None:
        key = PublicKey.from_b64(server_key.read_text(encoding="ascii").strip())
    report = verify_package(package, key)
    source = (
        "given with --server-key"
        if report.server_key_source == "given"
        else "from the package: compare this id with the one the operator published"
    )
    typer.echo(f"server key {report.server_keyid} ({source})")
    typer.echo(
        f"checked {report.files} files, {report.bundles} bundles, {report.documents} documents, "
        f"{report.proofs} inclusion proofs against a tree of {report.tree_size}, "
        f"{report.verdicts} verdicts"
    )
    for problem in report.problems:
        typer.echo(f"FAIL {problem}")
    if report.problems:
        typer.echo(f"{len(report.problems)} problem(s): the package cannot be trusted as it is")
        raise typer.Exit(1)
    typer.echo("package verified")
