"""Signed evidence bundles: payload model, building, decoding and verification.

Payload = RFC 8785 canonical JSON of a `BundlePayload`; envelope = DSSE signed with the
agent's Ed25519 key; bundle id = SHA-256 of the payload bytes; `prev` chains each
bundle of an agent to the id of its predecessor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from evidence import dsse
from evidence.canonical import canonical_json, parse_json_bytes, sha256_hex, utc_now_iso
from evidence.errors import BundleRejected
from evidence.keys import PublicKey, SigningKey
from evidence.records import EvidenceRecord, Sha256Hex, Timestamp

BUNDLE_PAYLOAD_TYPE = "application/vnd.dossier.bundle+json"
BUNDLE_TYPE: Final = "dossier.bundle/v1"
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"


class HostRef(BaseModel):
    """Which host the records describe (an agent may collect other hosts agentless)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    id: str = Field(pattern=ID_PATTERN)
    hostname: str = Field(min_length=1, max_length=255)
    machine_id: str | None = None


class BundlePayload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    type: Literal["dossier.bundle/v1"]
    agent_id: str = Field(pattern=ID_PATTERN)
    host: HostRef
    seq: int = Field(ge=1)
    prev: Sha256Hex | None
    created_at: Timestamp
    records: list[EvidenceRecord] = Field(min_length=1)

    @model_validator(mode="after")
    def _prev_matches_seq(self) -> BundlePayload:
        if self.seq == 1 and self.prev is not None:
            raise ValueError("the first bundle (seq 1) must have prev null")
        if self.seq > 1 and self.prev is None:
            raise ValueError(f"bundle seq {self.seq} must name its predecessor in prev")
        return self


@dataclass(frozen=True)
class SignedBundle:
    envelope: dsse.Envelope
    payload: BundlePayload
    payload_bytes: bytes

    @property
    def bundle_id(self) -> str:
        return sha256_hex(self.payload_bytes)

    @property
    def keyid(self) -> str:
        return dsse.single_keyid(self.envelope)


def build_bundle(
    key: SigningKey,
    *,
    agent_id: str,
    host: HostRef,
    seq: int,
    prev: str | None,
    records: Sequence[EvidenceRecord],
    created_at: str | None = None,
) -> SignedBundle:
    payload = BundlePayload(
        type=BUNDLE_TYPE,
        agent_id=agent_id,
        host=host,
        seq=seq,
        prev=prev,
        created_at=created_at or utc_now_iso(),
        records=list(records),
    )
    payload_bytes = canonical_json(payload.model_dump(mode="json"))
    envelope = dsse.sign(BUNDLE_PAYLOAD_TYPE, payload_bytes, key)
    return SignedBundle(envelope=envelope, payload=payload, payload_bytes=payload_bytes)


def decode_payload(payload_bytes: bytes) -> BundlePayload:
    """Parse and schema-check payload bytes that must already be canonical JSON."""
    try:
        value = parse_json_bytes(payload_bytes)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BundleRejected(f"payload is not valid JSON: {exc}", "malformed_payload") from exc
    if canonical_json(value) != payload_bytes:
        raise BundleRejected("payload is not RFC 8785 canonical JSON", "non_canonical_payload")
    if not isinstance(value, dict) or value.get("type") != BUNDLE_TYPE:
        found = value.get("type") if isinstance(value, dict) else type(value).__name__
        raise BundleRejected(
            f"payload type is {found!r}, expected {BUNDLE_TYPE!r}", "wrong_payload_type"
        )
    try:
        return BundlePayload.model_validate(value)
    except ValidationError as exc:
        raise BundleRejected(f"payload schema: {_describe(exc)}", "schema_invalid") from exc


def verify_bundle(envelope: dsse.Envelope, key: PublicKey) -> SignedBundle:
    """Verify signature, then payload encoding and schema. Raises `BundleRejected`.

    The caller decides which key is trusted (enrolled, not revoked) and checks the chain.
    """
    payload_bytes = dsse.verify(envelope, BUNDLE_PAYLOAD_TYPE, key)
    payload = decode_payload(payload_bytes)
    return SignedBundle(envelope=envelope, payload=payload, payload_bytes=payload_bytes)


def chain_problems(bundles: Sequence[SignedBundle]) -> list[str]:
    """Name every broken link in one agent's bundles (any order, duplicates allowed)."""
    problems: list[str] = []
    by_seq: dict[int, SignedBundle] = {}
    for bundle in bundles:
        seen = by_seq.get(bundle.payload.seq)
        if seen is not None and seen.bundle_id != bundle.bundle_id:
            problems.append(
                f"fork at seq {bundle.payload.seq}: {seen.bundle_id} and {bundle.bundle_id}"
            )
        by_seq[bundle.payload.seq] = bundle
    ordered = sorted(by_seq)
    for before, after in pairwise(ordered):
        if after != before + 1:
            problems.append(f"evidence missing between seq {before} and {after}")
        elif by_seq[after].payload.prev != by_seq[before].bundle_id:
            problems.append(f"seq {after} does not link to seq {before} (prev mismatch)")
    return problems


def _describe(exc: ValidationError) -> str:
    error = exc.errors()[0]
    location = ".".join(str(part) for part in error["loc"]) or "(root)"
    more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{location}: {error['msg']}{more}"
