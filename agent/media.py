"""Air-gapped transport on the agent side: export the spool to media, take receipts back.

Export copies; a bundle leaves the spool only when the server's signed receipt for it
comes back (`import_receipts`), exactly as on the network path.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from agent.files import fsync_dir, write_atomic
from agent.spool import Spool
from agent.state import Enrollment, StateDir
from evidence.canonical import parse_json_bytes, sha256_hex, utc_now_iso
from evidence.errors import BundleRejected
from evidence.keys import SigningKey
from evidence.media import (
    BUNDLES_DIR,
    MANIFEST_FILE,
    PACKAGE_PREFIX,
    RECEIPTS_FILE,
    ImportReceipts,
    ManifestEntry,
    MediaManifest,
    packages_in,
    sign_manifest,
)
from evidence.receipt import verify_receipt

log = logging.getLogger("dossier.agent.media")


class MediaError(Exception):
    """The media directory cannot be used (missing, not writable, nothing to do)."""


@dataclass(frozen=True)
class ExportResult:
    package: Path
    bundles: int
    bytes: int


def export_spool(
    state: StateDir, enrollment: Enrollment, key: SigningKey, spool: Spool, media: Path
) -> ExportResult:
    """Copy every spooled bundle into a new package on `media`, with a signed manifest."""
    if not media.is_dir():
        raise MediaError(f"media directory {media} does not exist (is the medium mounted?)")
    entries = spool.entries()
    if not entries:
        raise MediaError(f"nothing to export: the spool of {state.root} is empty")
    # Microseconds: two exports in one second (a retry, a second medium) get two names.
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    package = media / f"{PACKAGE_PREFIX}{enrollment.agent_id}-{stamp}"
    building = package.with_name(package.name + ".partial")
    try:
        (building / BUNDLES_DIR).mkdir(parents=True)
    except OSError as exc:
        raise MediaError(f"cannot write to {media}: {exc}") from exc
    listed: list[ManifestEntry] = []
    total = 0
    for entry in entries:
        data = entry.read()
        name = f"{entry.host_id}.{entry.path.name}"
        write_atomic(building / BUNDLES_DIR / name, data, mode=0o644)
        listed.append(
            ManifestEntry(
                file=name,
                sha256=sha256_hex(data),
                size=len(data),
                host_id=entry.host_id,
                seq=entry.seq,
                bundle_id=entry.bundle_id,
            )
        )
        total += len(data)
    manifest = MediaManifest(agent_id=enrollment.agent_id, created_at=utc_now_iso(), bundles=listed)
    write_atomic(building / MANIFEST_FILE, sign_manifest(manifest, key).to_bytes(), mode=0o644)
    # Renamed last: a package with its final name is complete.
    building.rename(package)
    fsync_dir(media)
    return ExportResult(package, len(listed), total)


@dataclass
class ReceiptImport:
    cleared: int = 0
    already_cleared: int = 0
    problems: list[str] = field(default_factory=list)


def import_receipts(
    state: StateDir, enrollment: Enrollment, spool: Spool, media: Path
) -> ReceiptImport:
    """Verify each receipt the server wrote onto `media`; clear the bundles they cover."""
    packages = [p for p in packages_in(media) if (p / RECEIPTS_FILE).is_file()]
    if not packages:
        raise MediaError(f"no imported package with {RECEIPTS_FILE} found in {media}")
    server_key = enrollment.server_key()
    spooled = {entry.bundle_id: entry for entry in spool.entries()}
    result = ReceiptImport()
    for package in packages:
        source = package / RECEIPTS_FILE
        try:
            receipts = ImportReceipts.model_validate(parse_json_bytes(source.read_bytes()))
        except (ValueError, ValidationError) as exc:
            result.problems.append(f"{source}: not an import receipts file: {exc}")
            continue
        for number, envelope in enumerate(receipts.receipts):
            try:
                claimed = parse_json_bytes(envelope.payload_bytes())
                bundle_id = str(claimed["bundle_id"]) if isinstance(claimed, dict) else ""
            except (ValueError, KeyError, BundleRejected) as exc:
                result.problems.append(f"{source}: receipt {number}: unreadable: {exc}")
                continue
            entry = spooled.get(bundle_id)
            if entry is None:
                result.already_cleared += 1
                continue
            try:
                receipt = verify_receipt(envelope, server_key, bundle_id=entry.bundle_id)
            except BundleRejected as exc:
                result.problems.append(f"{source}: receipt for {bundle_id[:16]}…: {exc}")
                continue
            state.save_receipt(
                entry.host_id, receipt.model_dump() | {"envelope": envelope.to_bytes().decode()}
            )
            spool.remove(entry)
            del spooled[bundle_id]
            result.cleared += 1
    return result
