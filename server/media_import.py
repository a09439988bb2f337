"""`dossier server import`: bundles carried on removable media, through the same ingest.

Each package's manifest must verify against the key of an enrolled agent; each bundle
file must match the manifest's SHA-256 and then passes exactly the checks of
`POST /bundles` (signature, revocation, schema, chain; duplicates get the same receipt).
The server's receipts are written back to the package for the agent to take home.
"""

from __future__ import annotations

import json
import stat
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from evidence import dsse
from evidence.canonical import canonical_json, sha256_hex, utc_now_iso
from evidence.errors import BundleRejected
from evidence.keys import PublicKey
from evidence.media import (
    BUNDLES_DIR,
    MANIFEST_FILE,
    RECEIPTS_FILE,
    ImportReceipts,
    MediaManifest,
    packages_in,
    verify_manifest,
)
from server.errors import ApiError
from server.ingest import Ingestor
from server.models import Agent


class MediaImportError(Exception):
    """The media cannot be imported at all (nothing found, unreadable)."""


@dataclass
class PackageImport:
    package: Path
    stored: int = 0
    duplicates: int = 0
    refused: list[str] = field(default_factory=list)  # "<file>: <code>: <detail>"


# A manifest lists one line per bundle: 64 MiB is hundreds of thousands of bundles.
MAX_MANIFEST_BYTES = 64 * 1024 * 1024


def import_media(
    media: Path, sessions: sessionmaker[Session], ingestor: Ingestor, max_bundle_bytes: int
) -> list[PackageImport]:
    packages = packages_in(media)
    if not packages:
        raise MediaImportError(f"no Dossier export package ({MANIFEST_FILE}) found in {media}")
    return [_import_package(p, sessions, ingestor, max_bundle_bytes) for p in packages]


def _import_package(
    package: Path, sessions: sessionmaker[Session], ingestor: Ingestor, max_bundle_bytes: int
) -> PackageImport:
    result = PackageImport(package)
    try:
        manifest = _verified_manifest(package, sessions)
    except (BundleRejected, ApiError) as exc:
        detail = exc.detail
        result.refused.append(f"{MANIFEST_FILE}: {detail}; nothing in this package was imported")
        return result
    receipts: list[dsse.Envelope] = []
    listed = set()
    for entry in sorted(manifest.bundles, key=lambda e: (e.host_id, e.seq)):
        listed.add(entry.file)
        path = package / BUNDLES_DIR / entry.file
        try:
            data = _read_checked(path, entry.sha256, entry.size, max_bundle_bytes)
            outcome = ingestor.ingest(data)
        except (BundleRejected, ApiError) as exc:
            result.refused.append(f"{BUNDLES_DIR}/{entry.file}: {exc.code}: {exc.detail}")
            continue
        receipts.append(dsse.parse(outcome.receipt))
        if outcome.duplicate:
            result.duplicates += 1
        else:
            result.stored += 1
    bundle_dir = package / BUNDLES_DIR
    for extra in sorted(p.name for p in bundle_dir.iterdir()) if bundle_dir.is_dir() else []:
        if extra not in listed:
            result.refused.append(
                f"{BUNDLES_DIR}/{extra}: not_in_manifest: not in the signed manifest; ignored"
            )
    written = ImportReceipts(imported_at=utc_now_iso(), receipts=receipts)
    temporary = package / f".{RECEIPTS_FILE}.tmp"
    temporary.write_bytes(canonical_json(written.model_dump(mode="json")))
    temporary.replace(package / RECEIPTS_FILE)
    return result


def _verified_manifest(package: Path, sessions: sessionmaker[Session]) -> MediaManifest:
    path = package / MANIFEST_FILE
    info = path.stat()
    # Checked before reading: nothing on the medium is trusted until its signature is.
    if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_MANIFEST_BYTES:
        raise BundleRejected(
            f"{MANIFEST_FILE} is not a regular file of at most {MAX_MANIFEST_BYTES} bytes",
            "malformed_manifest",
        )
    envelope = dsse.parse(path.read_bytes())
    keyid = dsse.single_keyid(envelope)
    with sessions() as session:
        agent = session.scalars(select(Agent).where(Agent.keyid == keyid)).first()
        if agent is None:
            raise BundleRejected(
                f"signed by key {keyid[:16]}…, which is not enrolled here", "unknown_key"
            )
        manifest = verify_manifest(envelope, PublicKey.from_b64(agent.public_key))
        if manifest.agent_id != agent.id:
            raise BundleRejected(
                f"manifest names agent {manifest.agent_id} but is signed by agent {agent.id}",
                "agent_mismatch",
            )
    return manifest


def _read_checked(path: Path, sha256: str, size: int, limit: int) -> bytes:
    try:
        actual_size = path.stat().st_size
    except FileNotFoundError as exc:
        raise BundleRejected("listed in the manifest but missing", "missing_file") from exc
    if actual_size > limit:
        raise BundleRejected(f"{actual_size} bytes exceeds the {limit} byte limit", "too_large")
    data = path.read_bytes()
    if len(data) != size or sha256_hex(data) != sha256:
        raise BundleRejected(
            f"content does not match the signed manifest (sha256 {sha256_hex(data)[:16]}…, "
            f"manifest {sha256[:16]}…): altered on the medium",
            "manifest_mismatch",
        )
    return data


def summary_json(results: list[PackageImport]) -> str:
    return json.dumps(
        [
            {
                "package": str(r.package),
                "stored": r.stored,
                "duplicates": r.duplicates,
                "refused": r.refused,
            }
            for r in results
        ],
        indent=2,
    )
