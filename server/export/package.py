"""`dossier export`: the inspector package, written as a zip one member at a time.

Everything rendered (HTML, OSCAL) comes from `summary.json`, which comes from the
same status report as `dossier status`. Evidence is copied as stored (signed bundles,
documents), with the keys and log proofs needed to check it offline, and every file
is listed in a manifest the server signs.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import zipfile
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from evidence import dsse
from evidence.canonical import format_timestamp, parse_timestamp
from evidence.keys import SigningKey
from evidence.merkle import inclusion_proofs
from evidence.package import (
    AGENT_KEYS,
    BUNDLES,
    DOCUMENTS,
    MANIFEST,
    MANIFEST_PAYLOAD_TYPE,
    MANIFEST_SIGNATURE,
    PROOFS,
    SERVER_KEY,
    SUMMARY,
    TREE_HEAD,
    manifest_line,
)
from server.blobs import BlobStore
from server.controls.catalog import Configs
from server.controls.errors import ReportError
from server.controls.report import framework_status
from server.evidence_log import EvidenceLog, leaf_hashes
from server.export.languages import LANGUAGES
from server.models import Agent, Bundle, Document, Host, LogEntry

STALE_AFTER = timedelta(days=365)  # the annual assessment: evidence older than this is flagged


@dataclass(frozen=True)
class ExportResult:
    path: Path
    files: int
    bundles: int
    documents: int
    controls: int
    bytes: int


# Characters of JSON written to the zip at a time.
JSON_PIECE = 1 << 16


class PackageWriter:
    """Adds members to the zip and remembers each one's SHA-256 for the manifest."""

    def __init__(self, path: Path) -> None:
        self._zip = zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED)
        self.lines: list[str] = []

    def add(self, name: str, data: bytes) -> None:
        self._zip.writestr(name, data)
        self.lines.append(manifest_line(hashlib.sha256(data).hexdigest(), name))

    def add_json(self, name: str, value: Any) -> None:
        """`value` as indented JSON, streamed into the zip in pieces: a fleet's summary is
        never held as one string (json.dumps with indent builds it from millions of small
        strings first, several times the size of the output)."""
        digest = hashlib.sha256()
        encoder = json.JSONEncoder(ensure_ascii=False, indent=1, sort_keys=True)
        with self._zip.open(name, "w") as member:
            pending: list[str] = []
            size = 0
            for piece in itertools.chain(encoder.iterencode(value), ["\n"]):
                pending.append(piece)
                size += len(piece)
                if size >= JSON_PIECE:
                    data = "".join(pending).encode()
                    digest.update(data)
                    member.write(data)
                    pending, size = [], 0
            data = "".join(pending).encode()
            digest.update(data)
            member.write(data)
        self.lines.append(manifest_line(digest.hexdigest(), name))

    def abort(self) -> None:
        self._zip.close()

    def finish(self, key: SigningKey) -> None:
        manifest = "".join(self.lines).encode()
        self._zip.writestr(MANIFEST, manifest)
        self._zip.writestr(
            MANIFEST_SIGNATURE, dsse.sign(MANIFEST_PAYLOAD_TYPE, manifest, key).to_bytes()
        )
        self._zip.close()


def parse_period(text: str | None, as_of: datetime) -> tuple[date, date]:
    """`FROM..TO` (YYYY-MM-DD, inclusive), or the 12 months that end on `as_of`."""
    if not text:
        return as_of.date() - timedelta(days=364), as_of.date()
    start_text, sep, end_text = text.partition("..")
    try:
        span = (date.fromisoformat(start_text), date.fromisoformat(end_text))
    except ValueError as exc:
        raise ReportError(f"period {text!r} must be YYYY-MM-DD..YYYY-MM-DD") from exc
    if not sep or span[0] > span[1]:
        raise ReportError(f"period {text!r} must be FROM..TO with FROM <= TO")
    return span


OBSERVED_LIMIT = 600  # characters of JSON kept per verdict; the cited record has it all


def compact(observed: Any) -> Any:
    """The observed value, or for a large one a preview with the full value's hash: the
    summary stays small for thousands of hosts, and the evidence record is cited."""
    text = json.dumps(observed, ensure_ascii=False, sort_keys=True, default=str)
    if len(text) <= OBSERVED_LIMIT:
        return observed
    return {
        "truncated": True,
        "sha256": hashlib.sha256(text.encode()).hexdigest(),
        "preview": text[:OBSERVED_LIMIT],
    }


def build_summary(
    session: Session,
    configs: Configs,
    framework: str,
    as_of: datetime,
    period: tuple[date, date],
    host_ids: list[str] | None,
    languages: Sequence[str] = LANGUAGES,
) -> tuple[dict[str, Any], list[Bundle], list[Document]]:
    report = framework_status(session, configs, framework, as_of)
    known = {h.id: h for h in session.scalars(select(Host))}
    scope = sorted(host_ids) if host_ids else sorted(set(report["hosts"]))
    unknown = [h for h in scope if h not in known]
    if unknown:
        raise ReportError(f"unknown host(s): {', '.join(unknown)}")
    start = format_timestamp(
        datetime.combine(period[0], datetime.min.time()).replace(tzinfo=as_of.tzinfo)
    )
    end = format_timestamp(as_of)
    checks = {c.id: c for c in configs.checks}
    used_checks: set[str] = set()
    cited: set[str] = set()
    controls = []
    documents_by_control: dict[str, list[Document]] = defaultdict(list)
    documents = list(
        session.scalars(
            select(Document)
            .where(Document.framework == framework, Document.uploaded_at <= end)
            .order_by(Document.id)
        )
    )
    for document in documents:
        documents_by_control[document.control_id].append(document)
    catalog = configs.catalogs[framework]
    for control, status in zip(catalog.controls, report["controls"], strict=True):
        rows = []
        for result in status["checks"]:
            if result["host_id"] not in scope:
                continue
            check = checks[result["check_id"]]
            evidence = result["evidence"]
            if evidence is not None:
                cited.add(evidence["bundle_id"])
                evidence = {**evidence, "collector": check.collector}
            used_checks.add(check.id)
            rows.append(
                {
                    "check_id": result["check_id"],
                    "host_id": result["host_id"],
                    "hostname": result["hostname"],
                    "status": result["status"],
                    "reason": result["reason"],
                    "observed": compact(result["observed"]),
                    "evidence": evidence,
                }
            )
        oldest = status["oldest_evidence"]
        controls.append(
            {
                "id": control.id,
                "parent": control.parent,
                "title": control.title.model_dump(),
                "summary": control.summary.model_dump(),
                "evidence_kind": control.evidence,
                "status": status["status"],
                "hosts_passing": status["hosts_passing"],
                "hosts_failing": status["hosts_failing"],
                "oldest_evidence": oldest,
                "older_than_12_months": oldest is not None
                and as_of - parse_timestamp(oldest) > STALE_AFTER,
                "checks": rows,
                "documents": [
                    {
                        "sha256": d.sha256,
                        "filename": d.filename,
                        "type": d.kind,
                        "uploaded_by": d.uploaded_by,
                        "uploaded_at": d.uploaded_at,
                        "valid_until": d.valid_until,
                        "expired": d.valid_until < as_of.date().isoformat(),
                    }
                    for d in documents_by_control.get(control.id, [])
                ],
            }
        )
    in_period = list(
        session.scalars(
            select(Bundle)
            .where(Bundle.host_id.in_(scope), Bundle.created_at >= start, Bundle.created_at <= end)
            .order_by(Bundle.log_index)
        )
    )
    chosen = {b.id: b for b in in_period}
    for bundle in session.scalars(select(Bundle).where(Bundle.id.in_(cited - set(chosen)))):
        chosen[bundle.id] = bundle
    bundles = sorted(chosen.values(), key=lambda b: b.log_index)
    days_in_period = (period[1] - period[0]).days + 1
    hosts_summary = []
    host_days = 0
    for host_id in scope:
        days = {b.created_at[:10] for b in in_period if b.host_id == host_id}
        host_days += len(days)
        host = known[host_id]
        hosts_summary.append(
            {
                "id": host_id,
                "hostname": host.hostname,
                "first_seen": host.first_seen,
                "last_seen": host.last_seen,
                "days_with_evidence": len(days),
                "bundles": sum(1 for b in in_period if b.host_id == host_id),
            }
        )
    gaps = _gaps(controls)
    counts: dict[str, int] = defaultdict(int)
    for c in controls:
        if c["evidence_kind"]:
            counts[c["status"]] += 1
    total_host_days = days_in_period * len(scope)
    summary = {
        "type": "dossier.export/v2",
        "generated_at": format_timestamp(datetime.now(as_of.tzinfo)),
        "as_of": end,
        "period": {"from": period[0].isoformat(), "to": period[1].isoformat()},
        "languages": list(languages),
        "framework": catalog.framework.model_dump(),
        "server": {},
        "scope": {"hosts": hosts_summary, "days_in_period": days_in_period},
        "coverage": {
            "host_days_with_evidence": host_days,
            "host_days_in_period": total_host_days,
            "ratio": f"{host_days / total_host_days:.2f}" if total_host_days else "0.00",
        },
        "checks": {
            check_id: {
                "title": checks[check_id].title.model_dump(),
                "severity": checks[check_id].severity,
                "remediation": checks[check_id].remediation.model_dump(),
                "collector": checks[check_id].collector,
            }
            for check_id in sorted(used_checks)
        },
        "controls": controls,
        "gaps": gaps,
        "bundles": [
            {
                "id": b.id,
                "agent_id": b.agent_id,
                "host_id": b.host_id,
                "seq": b.seq,
                "created_at": b.created_at,
                "log_index": b.log_index,
            }
            for b in bundles
        ],
        "counts": dict(sorted(counts.items())),
    }
    return summary, bundles, documents


DOCUMENT_GAP = {
    "document_missing": {
        "en": "no valid document for this control",
        "zh": "该控制项没有有效文档",
    },
    "document_expired": {
        "en": "the document for this control has expired",
        "zh": "该控制项的文档已过期",
    },
}
DOCUMENT_REMEDIATION = {
    "en": "Upload the current document with `dossier documents add`.",
    "zh": "使用 `dossier documents add` 上传现行有效的文档。",
}


def _gaps(controls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Gaps grouped per check and status (hosts listed once), then missing documents."""
    grouped: dict[tuple[str, str], dict[str, Any]] = {}
    for control in controls:
        for row in control["checks"]:
            if row["status"] in ("pass", "not_applicable"):
                continue
            gap = grouped.setdefault(
                (row["check_id"], row["status"]),
                {
                    "kind": "check",
                    "check_id": row["check_id"],
                    "status": row["status"],
                    "controls": [],
                    "hosts": {},
                },
            )
            if control["id"] not in gap["controls"]:
                gap["controls"].append(control["id"])
            gap["hosts"].setdefault(
                row["host_id"],
                {"host_id": row["host_id"], "hostname": row["hostname"], "reason": row["reason"]},
            )
    gaps = [
        {**gap, "hosts": sorted(gap["hosts"].values(), key=lambda h: h["host_id"])}
        for _, gap in sorted(grouped.items())
    ]
    for control in controls:
        if control["status"] in DOCUMENT_GAP and control["evidence_kind"] in ("document", "both"):
            gaps.append(
                {
                    "kind": "document",
                    "control_id": control["id"],
                    "status": control["status"],
                    "reason": DOCUMENT_GAP[control["status"]],
                    "remediation": DOCUMENT_REMEDIATION,
                }
            )
    return gaps


def _stored(blobs: BlobStore, name: str, what: str) -> bytes:
    try:
        return blobs.get(name)
    except FileNotFoundError as exc:
        raise ReportError(
            f"stored {what} {name} is missing; no package was written "
            "(run 'dossier server check-integrity')"
        ) from exc


def write_package(
    out: Path,
    session: Session,
    blobs: BlobStore,
    server_key: SigningKey,
    summary: dict[str, Any],
    bundles: Iterable[Bundle],
    documents: list[Document],
) -> ExportResult:
    from server.export.html import render_pages
    from server.export.oscal import assessment_results

    bundles = list(bundles)
    summary["server"] = {"keyid": server_key.keyid}
    log = EvidenceLog(server_key)
    head = log.head(session)
    leaves = leaf_hashes(session)
    document_refs = {
        entry.idx: entry.ref
        for entry in session.scalars(
            select(LogEntry).where(LogEntry.idx.in_([d.log_index for d in documents]))
        )
    }
    wanted = [b.log_index for b in bundles] + [d.log_index for d in documents]
    proofs_by_index = inclusion_proofs(leaves, wanted) if wanted else {}
    proofs: dict[str, Any] = {}
    for bundle in bundles:
        proofs[f"bundle:{bundle.id}"] = {
            "index": bundle.log_index,
            "proof": [n.hex() for n in proofs_by_index[bundle.log_index]],
        }
    for document in documents:
        proofs[f"document:{document_refs[document.log_index]}"] = {
            "index": document.log_index,
            "proof": [n.hex() for n in proofs_by_index[document.log_index]],
        }
    agent_ids = {b.agent_id for b in bundles}
    agents = [
        {
            "id": a.id,
            "keyid": a.keyid,
            "public_key": a.public_key,
            "hostname": a.hostname,
            "enrolled_at": a.enrolled_at,
            "revoked_at": a.revoked_at,
        }
        for a in session.scalars(select(Agent).where(Agent.id.in_(agent_ids)).order_by(Agent.id))
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    writer = PackageWriter(partial)
    # A package with its final name is complete: a failure leaves no half-written one.
    try:
        writer.add_json(SUMMARY, summary)
        for name, page in render_pages(summary):
            writer.add(name, page)
        writer.add_json("oscal/assessment-results.json", assessment_results(summary))
        for bundle in bundles:
            writer.add(f"{BUNDLES}{bundle.id}.json", _stored(blobs, bundle.id, "bundle"))
        seen: set[str] = set()
        for document in documents:
            if document.sha256 not in seen:
                seen.add(document.sha256)
                writer.add(
                    f"{DOCUMENTS}{document.sha256}", _stored(blobs, document.sha256, "document")
                )
        writer.add(SERVER_KEY, (server_key.public.b64() + "\n").encode())
        writer.add_json(AGENT_KEYS, agents)
        writer.add(TREE_HEAD, head.to_bytes())
        writer.add_json(PROOFS, proofs)
        writer.finish(server_key)
    except BaseException:
        writer.abort()
        partial.unlink(missing_ok=True)
        raise
    partial.replace(out)
    return ExportResult(
        out,
        len(writer.lines) + 2,
        len(bundles),
        len(seen),
        len(summary["controls"]),
        out.stat().st_size,
    )
