"""The HTTP API under /api/v1 (FastAPI)."""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException as StarletteHTTPException

from evidence.canonical import format_timestamp
from evidence.keys import SigningKey
from evidence.treehead import verify_tree_head
from server.admin import constant_time_equal, token_digest
from server.blobs import BlobStore
from server.body import read_limited
from server.config import DataDir
from server.controls.documents import (
    DocumentError,
    NewDocument,
    add_document,
    document_json,
    list_documents,
)
from server.controls.errors import ReportError
from server.controls.report import (
    changes_report,
    framework_status,
    host_checks,
    parse_as_of,
    parse_since,
)
from server.controls.store import ensure_evaluated
from server.db import make_engine, migrate, session_factory
from server.enroll import EnrollRequest, enroll
from server.errors import ApiError
from server.evidence_log import LogError, consistency, inclusion
from server.ingest import Ingestor
from server.models import Agent, Bundle, Finding, Host, Record

log = logging.getLogger("dossier.server")
bearer = HTTPBearer(auto_error=False)


# Log sizes in queries: far beyond any log, small enough for SQL and list sizes.
MAX_LOG_QUERY = 2**53 - 1


def error_response(status: int, code: str, detail: str) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": code, "detail": detail}, status_code=status, headers=headers)


def create_app(data: DataDir) -> FastAPI:
    data.require_initialised()
    settings = data.load_settings()
    engine = make_engine(data.database_url())
    sessions: sessionmaker[Session] = session_factory(engine)
    server_key = SigningKey.load(data.server_key)
    migrate(engine)  # a data dir made by an older version gets the newer tables
    controls = settings.load_controls(data.root)
    ensure_evaluated(sessions, controls)  # the checks may have changed since the last run
    ingestor = Ingestor(sessions, BlobStore(data.blobs), server_key, controls)
    admin_hash = data.admin_token_hash.read_text(encoding="ascii").strip()

    app = FastAPI(title="Dossier", version="0.1.0", docs_url=None, redoc_url=None)

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        log.info("request refused code=%s status=%d detail=%r", exc.code, exc.status, exc.detail)
        return error_response(exc.status, exc.code, exc.detail)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(part) for part in first["loc"])
        return error_response(422, "invalid_request", f"{where}: {first['msg']}")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail))

    def require_admin(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> None:
        if credentials is None:
            raise ApiError(401, "unauthenticated", "this endpoint needs the admin bearer token")
        if not constant_time_equal(token_digest(credentials.credentials), admin_hash):
            raise ApiError(401, "bad_token", "the bearer token is not valid")

    admin = [Depends(require_admin)]

    @app.get("/api/v1/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/api/v1/server-key")
    def server_public_key() -> dict[str, str]:
        return {"public_key": server_key.public.b64(), "keyid": server_key.keyid}

    @app.post("/api/v1/enroll", status_code=201)
    def enroll_agent(body: EnrollRequest) -> dict[str, str]:
        with sessions() as session:
            result = enroll(session, body)
        log.info("agent enrolled agent_id=%s hostname=%s", result.agent_id, body.hostname)
        return {
            "agent_id": result.agent_id,
            "enrolled_at": result.enrolled_at,
            "server_public_key": server_key.public.b64(),
            "server_keyid": server_key.keyid,
        }

    @app.post("/api/v1/bundles")
    async def ingest_bundle(request: Request) -> Response:
        body = await read_limited(
            request.stream(),
            content_length=request.headers.get("content-length"),
            content_encoding=request.headers.get("content-encoding"),
            max_body=settings.max_body_bytes,
            max_decoded=settings.max_bundle_bytes,
        )
        outcome = await run_in_threadpool(ingestor.ingest, body)
        log.info(
            "bundle %s id=%s", "duplicate" if outcome.duplicate else "stored", outcome.bundle_id
        )
        return Response(
            outcome.receipt,
            status_code=200 if outcome.duplicate else 201,
            media_type="application/json",
        )

    @app.get("/api/v1/hosts", dependencies=admin)
    def list_hosts() -> dict[str, Any]:
        with sessions() as session:
            counts = dict(
                session.execute(select(Bundle.host_id, func.count()).group_by(Bundle.host_id))
                .tuples()
                .all()
            )
            hosts = session.scalars(select(Host).order_by(Host.hostname)).all()
            return {
                "hosts": [
                    {
                        "id": host.id,
                        "hostname": host.hostname,
                        "machine_id": host.machine_id,
                        "first_seen": host.first_seen,
                        "last_seen": host.last_seen,
                        "agent_id": host.first_agent_id,
                        "bundles": counts.get(host.id, 0),
                    }
                    for host in hosts
                ]
            }

    @app.get("/api/v1/hosts/{host_id}/evidence", dependencies=admin)
    def host_evidence(
        host_id: str, collector: str | None = None, limit: int = 100
    ) -> dict[str, Any]:
        limit = max(1, min(limit, 1000))
        with sessions() as session:
            if session.get(Host, host_id) is None:
                raise ApiError(404, "unknown_host", f"no evidence for host {host_id}")
            query = (
                select(Record, Bundle.seq, Bundle.agent_id)
                .join(Bundle, Bundle.id == Record.bundle_id)
                .where(Record.host_id == host_id)
                .order_by(Bundle.log_index.desc(), Record.idx)
                .limit(limit)
            )
            if collector:
                query = query.where(Record.collector == collector)
            rows = session.execute(query).tuples().all()
            return {
                "host_id": host_id,
                "records": [
                    {
                        "bundle_id": record.bundle_id,
                        "record_index": record.idx,
                        "agent_id": agent_id,
                        "seq": seq,
                        "collector": record.collector,
                        "collector_version": record.collector_version,
                        "category": record.category,
                        "collected_at": record.collected_at,
                        "digest": record.digest,
                        "errors": json.loads(record.errors),
                        "facts": json.loads(record.facts),
                    }
                    for record, seq, agent_id in rows
                ],
            }

    @app.get("/api/v1/agents", dependencies=admin)
    def list_agents() -> dict[str, Any]:
        with sessions() as session:
            last = dict(
                session.execute(
                    select(Bundle.agent_id, func.max(Bundle.seq)).group_by(Bundle.agent_id)
                )
                .tuples()
                .all()
            )
            agents = session.scalars(select(Agent).order_by(Agent.enrolled_at)).all()
            return {
                "agents": [
                    {
                        "id": agent.id,
                        "keyid": agent.keyid,
                        "public_key": agent.public_key,
                        "hostname": agent.hostname,
                        "enrolled_at": agent.enrolled_at,
                        "revoked_at": agent.revoked_at,
                        "last_seq": last.get(agent.id),
                    }
                    for agent in agents
                ]
            }

    @app.get("/api/v1/findings", dependencies=admin)
    def list_findings(kind: str | None = None) -> dict[str, Any]:
        with sessions() as session:
            query = select(Finding).order_by(Finding.id)
            if kind:
                query = query.where(Finding.kind == kind)
            return {
                "findings": [
                    {
                        "id": f.id,
                        "created_at": f.created_at,
                        "kind": f.kind,
                        "agent_id": f.agent_id,
                        "host_id": f.host_id,
                        "detail": f.detail,
                    }
                    for f in session.scalars(query)
                ]
            }

    @app.get("/api/v1/bundles/{bundle_id}", dependencies=admin)
    def get_bundle(bundle_id: str) -> Response:
        with sessions() as session:
            if session.get(Bundle, bundle_id) is None:
                raise ApiError(404, "unknown_bundle", f"no bundle {bundle_id}")
        return Response(BlobStore(data.blobs).get(bundle_id), media_type="application/json")

    @app.get("/api/v1/status", dependencies=admin)
    def status(framework: str, host: str | None = None, as_of: str | None = None) -> dict[str, Any]:
        """Controls of a framework with their status, as of now or a past moment."""
        try:
            moment = parse_as_of(as_of)
            with sessions() as session:
                return framework_status(session, controls, framework, moment, host)
        except ReportError as exc:
            raise ApiError(404 if "unknown" in str(exc) else 422, "bad_query", str(exc)) from exc

    @app.get("/api/v1/hosts/{host_id}/checks", dependencies=admin)
    def checks_of_host(host_id: str, as_of: str | None = None) -> dict[str, Any]:
        try:
            moment = parse_as_of(as_of)
            with sessions() as session:
                results = host_checks(session, controls, host_id, moment)
        except ReportError as exc:
            raise ApiError(404 if "unknown" in str(exc) else 422, "bad_query", str(exc)) from exc
        return {"host_id": host_id, "as_of": format_timestamp(moment), "checks": results}

    @app.post("/api/v1/documents", dependencies=admin, status_code=201)
    async def upload_document(
        request: Request,
        framework: str,
        control: str,
        type: str,
        valid_until: str,
        filename: str,
        uploaded_by: str,
    ) -> dict[str, Any]:
        """Document evidence for a control: the request body is the file itself."""
        content = await read_limited(
            request.stream(),
            content_length=request.headers.get("content-length"),
            content_encoding=None,
            max_body=settings.max_body_bytes,
            max_decoded=settings.max_body_bytes,
        )
        new = NewDocument(framework, control, type, filename, valid_until, uploaded_by, content)

        def store() -> dict[str, Any]:
            today = datetime.now(UTC).date()
            with ingestor.log_lock, sessions() as session:
                document = add_document(
                    session, BlobStore(data.blobs), ingestor.log, controls, new, today
                )
                return document_json(document, today)

        try:
            return await run_in_threadpool(store)
        except DocumentError as exc:
            raise ApiError(422, "invalid_document", str(exc)) from exc

    @app.get("/api/v1/documents", dependencies=admin)
    def documents(framework: str | None = None, control: str | None = None) -> dict[str, Any]:
        today = datetime.now(UTC).date()
        with sessions() as session:
            rows = list_documents(session, framework, control)
            return {"documents": [document_json(row, today) for row in rows]}

    @app.get("/api/v1/log/head")
    def log_head() -> Response:
        """The evidence log's current size and root, signed by the server key."""
        with sessions() as session:
            envelope = ingestor.log.head(session)
        return Response(envelope.to_bytes(), media_type="application/json")

    @app.get("/api/v1/log/proof", dependencies=admin)
    def log_proof(
        bundle: str, size: Annotated[int | None, Query(ge=0, le=MAX_LOG_QUERY)] = None
    ) -> dict[str, Any]:
        """Inclusion proof of a bundle in the log of `size` entries (default: now)."""
        with sessions() as session:
            stored = session.get(Bundle, bundle)
            if stored is None:
                raise ApiError(404, "unknown_bundle", f"no bundle {bundle}")
            head = ingestor.log.head(session)
            tree = verify_tree_head(head, server_key.public)
            size = tree.size if size is None else size
            try:
                proof = inclusion(session, stored.log_index, size)
            except LogError as exc:
                raise ApiError(422, "bad_query", str(exc)) from exc
        return {
            "bundle_id": bundle,
            "log_index": stored.log_index,
            "tree_size": size,
            "proof": [node.hex() for node in proof],
            "tree_head": head.to_json(),
        }

    @app.get("/api/v1/log/consistency", dependencies=admin)
    def log_consistency(
        from_size: Annotated[int, Query(alias="from", ge=0, le=MAX_LOG_QUERY)],
        to: Annotated[int, Query(ge=0, le=MAX_LOG_QUERY)],
    ) -> dict[str, Any]:
        with sessions() as session:
            try:
                proof = consistency(session, from_size, to)
            except LogError as exc:
                raise ApiError(422, "bad_query", str(exc)) from exc
        return {"from": from_size, "to": to, "proof": [node.hex() for node in proof]}

    @app.get("/api/v1/export", dependencies=admin)
    def export(
        framework: str,
        as_of: str | None = None,
        period: str | None = None,
        host: Annotated[list[str] | None, Query()] = None,
        lang: str | None = None,
    ) -> FileResponse:
        """The inspector package as a zip (what `dossier export` writes)."""
        from server.export.languages import parse_languages
        from server.export.package import build_summary, parse_period, write_package

        directory = tempfile.mkdtemp(prefix="dossier-export-")
        out = Path(directory) / f"dossier-{framework}.zip"
        try:
            moment = parse_as_of(as_of)
            span = parse_period(period, moment)
            languages = parse_languages(lang, option="lang")
            with sessions() as session:
                summary, bundles, documents = build_summary(
                    session, controls, framework, moment, span, host, languages
                )
                write_package(
                    out, session, BlobStore(data.blobs), server_key, summary, bundles, documents
                )
        except ReportError as exc:
            shutil.rmtree(directory, ignore_errors=True)
            raise ApiError(422, "bad_query", str(exc)) from exc
        return FileResponse(
            out,
            media_type="application/zip",
            filename=out.name,
            background=BackgroundTask(shutil.rmtree, directory, ignore_errors=True),
        )

    @app.get("/api/v1/changes", dependencies=admin)
    def changes(since: str) -> dict[str, Any]:
        """Significant changes (CII Regulations Art. 11) collected since a date."""
        try:
            moment = parse_since(since)
            with sessions() as session:
                return changes_report(session, controls, moment)
        except ReportError as exc:
            raise ApiError(422, "bad_query", str(exc)) from exc

    return app
