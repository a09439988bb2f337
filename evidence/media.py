"""Removable-media transport for air-gapped hosts: the package layout and its manifest.

An export package is a directory `dossier-<agent id>-<UTC time>/` holding
`bundles/<host id>.<seq>-<bundle id>.json` (the spooled DSSE envelopes, unchanged),
`manifest.dsse.json` (a DSSE envelope signed by the agent key listing every bundle file
with its SHA-256 and size) and, after the server imported it, `receipts.json` (the
server's signed receipt for each bundle, for the agent to clear its spool).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from evidence import dsse
from evidence.bundle import ID_PATTERN
from evidence.keys import PublicKey, SigningKey
from evidence.records import Sha256Hex, Timestamp

MANIFEST_PAYLOAD_TYPE = "application/vnd.dossier.media-manifest+json"
MANIFEST_FILE = "manifest.dsse.json"
RECEIPTS_FILE = "receipts.json"
BUNDLES_DIR = "bundles"
PACKAGE_PREFIX = "dossier-"
FILE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,200}\.json$"


class ManifestEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    file: str = Field(pattern=FILE_PATTERN)  # a name inside bundles/, never a path
    sha256: Sha256Hex
    size: int = Field(ge=0)
    host_id: str = Field(pattern=ID_PATTERN)
    seq: int = Field(ge=1)
    bundle_id: Sha256Hex


class MediaManifest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["dossier.media-manifest/v1"] = "dossier.media-manifest/v1"
    agent_id: str = Field(pattern=ID_PATTERN)
    created_at: Timestamp
    bundles: list[ManifestEntry]


class ImportReceipts(BaseModel):
    """What the server writes back: one signed receipt envelope per imported bundle."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["dossier.import-receipts/v1"] = "dossier.import-receipts/v1"
    imported_at: Timestamp
    receipts: list[dsse.Envelope]


def sign_manifest(manifest: MediaManifest, key: SigningKey) -> dsse.Envelope:
    return dsse.sign_model(MANIFEST_PAYLOAD_TYPE, manifest, key)


def verify_manifest(envelope: dsse.Envelope, key: PublicKey) -> MediaManifest:
    return dsse.verify_model(
        envelope, MANIFEST_PAYLOAD_TYPE, key, MediaManifest, "manifest", "malformed_manifest"
    )


def packages_in(media: Path) -> list[Path]:
    """Export packages at `media`: the directory itself if it is one, else its children."""
    if (media / MANIFEST_FILE).is_file():
        return [media]
    if not media.is_dir():
        return []
    return sorted(
        path
        for path in media.iterdir()
        if path.name.startswith(PACKAGE_PREFIX)
        and not path.name.endswith(".partial")  # an export that did not finish
        and (path / MANIFEST_FILE).is_file()
    )
