"""The evidence record: what one collector observed on one host, with provenance."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from evidence.canonical import canonical_json, parse_timestamp, sha256_hex

Category = Literal["inventory", "configuration", "patch", "access", "logging", "security-software"]

SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


def _check_timestamp(value: str) -> str:
    parse_timestamp(value)
    return value


def _check_sha256(value: str) -> str:
    if not SHA256_HEX.match(value):
        raise ValueError("expected 64 lowercase hex characters (SHA-256)")
    return value


Timestamp = Annotated[str, AfterValidator(_check_timestamp)]
Sha256Hex = Annotated[str, AfterValidator(_check_sha256)]


class _Strict(BaseModel):
    # strict: JSON types as they are ("2" is not an integer, true is not 1).
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class FileSource(_Strict):
    """A file that was read: its path on the host, content hash, size and mtime."""

    kind: Literal["file"] = "file"
    path: str
    sha256: Sha256Hex
    size: int = Field(ge=0)
    mtime: Timestamp | None = None


class CommandSource(_Strict):
    """A command that was run: argv, exit status and a hash of what it printed."""

    kind: Literal["command"] = "command"
    argv: list[str]
    exit: int | None
    stdout_sha256: Sha256Hex
    duration_ms: int = Field(ge=0)


class ApiSource(_Strict):
    """A local API that was queried (for example `psutil.net_if_addrs`)."""

    kind: Literal["api"] = "api"
    call: str


Source = Annotated[FileSource | CommandSource | ApiSource, Field(discriminator="kind")]


class EvidenceRecord(_Strict):
    """One collector's observation of one host.

    `facts` holds facts, never secrets: hashes become states, keys become fingerprints.
    """

    collector: str = Field(pattern=r"^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)+$")
    collector_version: str = Field(min_length=1)
    category: Category
    collected_at: Timestamp
    facts: dict[str, Any]
    sources: list[Source] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def digest(self) -> str:
        """SHA-256 of the record's canonical JSON: how a verdict cites a record."""
        return sha256_hex(canonical_json(self.to_json()))
