"""Document evidence: policies, training and drill records, risk assessments, supplier
agreements, incident records. Stored content-addressed, logged, never changed; a
document counts for its control until `valid_until`, then the control is flagged."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from evidence.canonical import sha256_hex, utc_now_iso
from server.blobs import BlobStore
from server.controls.catalog import Configs
from server.controls.errors import ReportError
from server.evidence_log import EvidenceLog
from server.models import Document

DOCUMENT_KINDS = (
    "policy",
    "training",
    "drill",
    "risk_assessment",
    "supplier_agreement",
    "incident_record",
    "other",
)
MAX_NAME = 255


class DocumentError(ReportError):
    """A document was refused; the message says which field and why."""


@dataclass(frozen=True)
class NewDocument:
    framework: str
    control_id: str
    kind: str
    filename: str
    valid_until: str
    uploaded_by: str
    content: bytes


def add_document(
    session: Session,
    blobs: BlobStore,
    log: EvidenceLog,
    configs: Configs,
    new: NewDocument,
    today: date,
) -> Document:
    catalog = configs.catalogs.get(new.framework)
    if catalog is None:
        raise DocumentError(f"framework: unknown framework {new.framework}")
    control = catalog.control(new.control_id)
    if control is None:
        raise DocumentError(f"control: {new.framework} has no control {new.control_id}")
    if control.evidence not in ("document", "both"):
        raise DocumentError(
            f"control: {new.control_id} takes {control.evidence or 'no'} evidence, not documents"
        )
    if new.kind not in DOCUMENT_KINDS:
        raise DocumentError(f"type: {new.kind!r} is not one of {', '.join(DOCUMENT_KINDS)}")
    try:
        valid_until = date.fromisoformat(new.valid_until)
    except ValueError as exc:
        raise DocumentError(f"valid_until: {new.valid_until!r} is not a date YYYY-MM-DD") from exc
    if valid_until < today:
        raise DocumentError(f"valid_until: {new.valid_until} is already past")
    name = new.filename.replace("\\", "/").rsplit("/", 1)[-1]
    if not name or len(name) > MAX_NAME:
        raise DocumentError("filename: give the file's name (at most 255 characters)")
    if not new.uploaded_by.strip() or len(new.uploaded_by) > 128:
        raise DocumentError("uploaded_by: say who uploads the document (at most 128 characters)")
    if not new.content:
        raise DocumentError("file: the document is empty")
    digest = sha256_hex(new.content)
    blobs.put(digest, new.content)
    now = utc_now_iso()
    ref = sha256_hex(f"document|{digest}|{new.framework}|{new.control_id}|{now}".encode())
    logged = log.append(session, "document", ref, now)
    document = Document(
        sha256=digest,
        framework=new.framework,
        control_id=new.control_id,
        kind=new.kind,
        filename=name,
        size=len(new.content),
        uploaded_by=new.uploaded_by.strip(),
        uploaded_at=now,
        valid_until=valid_until.isoformat(),
        log_index=logged.index,
    )
    session.add(document)
    session.commit()
    return document


def document_json(document: Document, today: date) -> dict[str, Any]:
    return {
        "id": document.id,
        "sha256": document.sha256,
        "framework": document.framework,
        "control_id": document.control_id,
        "type": document.kind,
        "filename": document.filename,
        "size": document.size,
        "uploaded_by": document.uploaded_by,
        "uploaded_at": document.uploaded_at,
        "valid_until": document.valid_until,
        "expired": document.valid_until < today.isoformat(),
        "log_index": document.log_index,
    }


def list_documents(
    session: Session, framework: str | None, control_id: str | None
) -> list[Document]:
    query = select(Document).order_by(Document.id)
    if framework:
        query = query.where(Document.framework == framework)
    if control_id:
        query = query.where(Document.control_id == control_id)
    return list(session.scalars(query).all())
