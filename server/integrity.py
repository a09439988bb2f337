"""`dossier server check-integrity`: re-verify everything stored, without trusting it.

Every bundle blob must still hash to its id and verify against its agent's key; its
records must match the indexed rows; the log must be contiguous and hold every bundle
and document where their rows say; and every receipt the server ever signed must still
verify, with its root recomputed from the log as it is now. A blob rewritten or deleted,
a log entry changed, or rows edited behind the triggers' back all show up here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from evidence import dsse
from evidence.bundle import verify_bundle
from evidence.canonical import sha256_hex
from evidence.errors import BundleRejected
from evidence.keys import PublicKey
from evidence.receipt import verify_receipt
from evidence.treehead import entry_leaf
from server.blobs import BlobStore
from server.evidence_log import Frontier
from server.models import Agent, Bundle, Document, LogEntry, Record


@dataclass
class IntegrityReport:
    bundles: int = 0
    records: int = 0
    documents: int = 0
    log_entries: int = 0
    problems: list[str] = field(default_factory=list)


def check_integrity(session: Session, blobs: BlobStore, server_key: PublicKey) -> IntegrityReport:
    report = IntegrityReport()
    entries = session.scalars(select(LogEntry).order_by(LogEntry.idx)).all()
    report.log_entries = len(entries)
    roots: dict[int, str] = {}
    frontier = Frontier()
    for position, entry in enumerate(entries):
        if entry.idx != position:
            report.problems.append(f"log: entry {entry.idx} found where {position} belongs")
        frontier.push(entry_leaf(entry.kind, entry.ref))
        roots[frontier.size] = frontier.root().hex()
    by_index = {entry.idx: entry for entry in entries}
    keys = {a.id: PublicKey.from_b64(a.public_key) for a in session.scalars(select(Agent))}
    for bundle in session.scalars(select(Bundle).order_by(Bundle.log_index)):
        report.bundles += 1
        _check_bundle(session, blobs, server_key, bundle, keys, by_index, roots, report)
    for document in session.scalars(select(Document).order_by(Document.id)):
        report.documents += 1
        where = f"document {document.id} ({document.filename})"
        if not blobs.exists(document.sha256):
            report.problems.append(f"{where}: stored file is missing")
        elif sha256_hex(blobs.get(document.sha256)) != document.sha256:
            report.problems.append(f"{where}: stored file no longer hashes to {document.sha256}")
        logged = by_index.get(document.log_index)
        if logged is None or logged.kind != "document":
            report.problems.append(f"{where}: log entry {document.log_index} is not this document")
    return report


def _check_bundle(
    session: Session,
    blobs: BlobStore,
    server_key: PublicKey,
    bundle: Bundle,
    keys: dict[str, PublicKey],
    by_index: dict[int, LogEntry],
    roots: dict[int, str],
    report: IntegrityReport,
) -> None:
    where = f"bundle {bundle.id}"
    entry = by_index.get(bundle.log_index)
    if entry is None or entry.kind != "bundle" or entry.ref != bundle.id:
        report.problems.append(f"{where}: log entry {bundle.log_index} does not name it")
    try:
        receipt = verify_receipt(
            dsse.parse(bundle.receipt.encode()), server_key, bundle_id=bundle.id
        )
    except BundleRejected as exc:
        report.problems.append(f"{where}: receipt does not verify: {exc}")
    else:
        if roots.get(receipt.tree_size) != receipt.root:
            report.problems.append(
                f"{where}: the log no longer has the root the receipt signed at size "
                f"{receipt.tree_size} (log rewritten or truncated)"
            )
    if not blobs.exists(bundle.id):
        report.problems.append(f"{where}: stored bundle is missing")
        return
    try:
        signed = verify_bundle(dsse.parse(blobs.get(bundle.id)), keys[bundle.agent_id])
    except (BundleRejected, KeyError) as exc:
        report.problems.append(f"{where}: stored bundle does not verify: {exc}")
        return
    if signed.bundle_id != bundle.id:
        report.problems.append(f"{where}: stored bundle now has id {signed.bundle_id}")
        return
    rows = session.scalars(select(Record).where(Record.bundle_id == bundle.id)).all()
    report.records += len(rows)
    digests = {row.idx: row.digest for row in rows}
    expected = {index: record.digest() for index, record in enumerate(signed.payload.records)}
    if digests != expected:
        report.problems.append(f"{where}: indexed records differ from the signed bundle")
