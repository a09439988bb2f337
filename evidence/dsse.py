"""DSSE envelopes (https://github.com/secure-systems-lab/dsse) signed with Ed25519."""

from __future__ import annotations

import base64
import binascii
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from evidence.canonical import canonical_json, parse_json_bytes
from evidence.errors import BundleRejected
from evidence.keys import PublicKey, SigningKey

Model = TypeVar("Model", bound=BaseModel)


class Signature(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    keyid: str
    sig: str


class Envelope(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    payloadType: str  # the DSSE field name
    payload: str
    signatures: list[Signature] = Field(min_length=1)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def to_bytes(self) -> bytes:
        return canonical_json(self.to_json())

    def payload_bytes(self) -> bytes:
        try:
            return base64.b64decode(self.payload, validate=True)
        except binascii.Error as exc:
            raise BundleRejected(
                f"payload is not valid base64: {exc}", "malformed_envelope"
            ) from exc


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE pre-authentication encoding: what the signature actually covers."""
    type_bytes = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(type_bytes), type_bytes, len(payload), payload)


def sign(payload_type: str, payload: bytes, key: SigningKey) -> Envelope:
    signature = key.sign(pae(payload_type, payload))
    return Envelope(
        payloadType=payload_type,
        payload=base64.b64encode(payload).decode("ascii"),
        signatures=[Signature(keyid=key.keyid, sig=base64.b64encode(signature).decode("ascii"))],
    )


def sign_model(payload_type: str, model: BaseModel, key: SigningKey) -> Envelope:
    """Sign `model` as canonical JSON (receipts, manifests, tree heads, enrollments)."""
    return sign(payload_type, canonical_json(model.model_dump(mode="json")), key)


def verify_model(
    envelope: Envelope, payload_type: str, key: PublicKey, model: type[Model], what: str, code: str
) -> Model:
    """`verify`, then the payload as `model`; a payload of the wrong shape is rejected
    with `code`, naming `what` it should have been."""
    payload = verify(envelope, payload_type, key)
    try:
        return model.model_validate(parse_json_bytes(payload))
    except (ValueError, ValidationError) as exc:
        raise BundleRejected(f"{what} payload invalid: {exc}", code) from exc


def parse(data: bytes) -> Envelope:
    """Parse envelope bytes; raise `BundleRejected` naming what is malformed."""
    try:
        value = parse_json_bytes(data)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BundleRejected(f"body is not valid JSON: {exc}", "malformed_json") from exc
    try:
        return Envelope.model_validate(value)
    except ValidationError as exc:
        raise BundleRejected(
            f"not a DSSE envelope: {_first_error(exc)}", "malformed_envelope"
        ) from exc


def single_keyid(envelope: Envelope) -> str:
    if len(envelope.signatures) != 1:
        raise BundleRejected(
            f"expected exactly one signature, found {len(envelope.signatures)}",
            "malformed_envelope",
        )
    return envelope.signatures[0].keyid


def verify(envelope: Envelope, expected_type: str, key: PublicKey) -> bytes:
    """Check type, key id and signature; return the verified payload bytes."""
    if envelope.payloadType != expected_type:
        raise BundleRejected(
            f"payloadType is {envelope.payloadType!r}, expected {expected_type!r}",
            "wrong_payload_type",
        )
    keyid = single_keyid(envelope)
    if keyid != key.keyid:
        raise BundleRejected(
            f"signature keyid {keyid[:16]}… does not match key {key.keyid[:16]}…", "unknown_key"
        )
    payload = envelope.payload_bytes()
    try:
        signature = base64.b64decode(envelope.signatures[0].sig, validate=True)
    except binascii.Error as exc:
        raise BundleRejected(f"signature is not valid base64: {exc}", "bad_signature") from exc
    if not key.verify(signature, pae(envelope.payloadType, payload)):
        raise BundleRejected(
            "Ed25519 signature does not verify over the payload (altered or wrong key)",
            "bad_signature",
        )
    return payload


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    location = ".".join(str(part) for part in error["loc"]) or "(root)"
    return f"{location}: {error['msg']}"
