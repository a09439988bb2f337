"""Enrollment by removable media, for hosts that never reach the server.

The agent writes a request signed by its new key (proof that it holds the private half)
carrying an enrollment token; an administrator imports it on the server, which enrolls
the key exactly as the network path does and answers with a response signed by the
server key. The agent accepts the response only if it is signed by the server key whose
id the operator was given out of band, and only for its own key.
"""

from __future__ import annotations

import re
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from evidence import dsse
from evidence.canonical import parse_json_bytes
from evidence.errors import BundleRejected, EvidenceError, KeyFileError
from evidence.keys import PublicKey, SigningKey

REQUEST_PAYLOAD_TYPE = "application/vnd.dossier.enroll-request+json"
RESPONSE_PAYLOAD_TYPE = "application/vnd.dossier.enroll-response+json"
REQUEST_PREFIX = "dossier-enroll-request-"
RESPONSE_PREFIX = "dossier-enroll-response-"
MAX_FILE_BYTES = 64 * 1024
KEYID_PREFIX = re.compile(r"^[0-9a-f]{16,64}$")

Model = TypeVar("Model", bound=BaseModel)


class OfflineEnrollError(EvidenceError):
    """An enrollment request or response file cannot be used; the message says why."""

    code = "offline_enrollment"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EnrollRequest(_Strict):
    type: Literal["dossier.enroll-request/v1"] = "dossier.enroll-request/v1"
    token: str = Field(min_length=1, max_length=200)
    public_key: str = Field(min_length=1, max_length=100, description="raw Ed25519, base64")
    hostname: str = Field(min_length=1, max_length=255)
    machine_id: str | None = Field(default=None, max_length=128)
    created_at: str


class EnrollResponse(_Strict):
    type: Literal["dossier.enroll-response/v1"] = "dossier.enroll-response/v1"
    agent_id: str
    agent_public_key: str
    enrolled_at: str
    server_public_key: str
    server_keyid: str


def sign_request(request: EnrollRequest, key: SigningKey) -> bytes:
    if request.public_key != key.public.b64():
        raise ValueError("the request must carry the public half of the signing key")
    return dsse.sign_model(REQUEST_PAYLOAD_TYPE, request, key).to_bytes()


def read_request(data: bytes) -> EnrollRequest:
    """The request in `data`, after checking it is signed by the key it enrolls."""
    envelope = _envelope(data, "request", REQUEST_PAYLOAD_TYPE)
    request = _payload(EnrollRequest, envelope.payload_bytes(), "request")
    key = _public_key(request.public_key, "request: public key")
    try:
        dsse.verify(envelope, REQUEST_PAYLOAD_TYPE, key)
    except BundleRejected as exc:
        raise OfflineEnrollError(
            f"enrollment request is not signed by the key it enrolls: {exc}"
        ) from exc
    return request


def sign_response(response: EnrollResponse, server_key: SigningKey) -> bytes:
    return dsse.sign_model(RESPONSE_PAYLOAD_TYPE, response, server_key).to_bytes()


def read_response(data: bytes, server_keyid: str, agent_key: PublicKey) -> EnrollResponse:
    """The response in `data`, after checking that it is signed by the server key whose id
    starts with `server_keyid` (16 to 64 hex digits, given out of band) and that it
    enrolls `agent_key`."""
    expected = server_keyid.strip().lower()
    if not KEYID_PREFIX.match(expected):
        raise OfflineEnrollError(
            f"server key id {server_keyid!r}: expected 16 to 64 lowercase hex digits"
        )
    envelope = _envelope(data, "response", RESPONSE_PAYLOAD_TYPE)
    claimed = _payload(EnrollResponse, envelope.payload_bytes(), "response")
    server_key = _public_key(claimed.server_public_key, "response: server key")
    if not server_key.keyid.startswith(expected):
        raise OfflineEnrollError(
            f"enrollment response is from server key {server_key.keyid}, not the expected "
            f"{expected}…; do not use it"
        )
    try:
        dsse.verify(envelope, RESPONSE_PAYLOAD_TYPE, server_key)
    except BundleRejected as exc:
        raise OfflineEnrollError(f"enrollment response signature: {exc}") from exc
    if claimed.server_keyid != server_key.keyid:
        raise OfflineEnrollError("enrollment response names a server key id that is not its key")
    if claimed.agent_public_key != agent_key.b64():
        raise OfflineEnrollError(
            f"enrollment response is for agent {claimed.agent_id}, whose key is not this "
            f"agent's key {agent_key.keyid[:16]}…"
        )
    return claimed


def _public_key(b64: str, what: str) -> PublicKey:
    try:
        return PublicKey.from_b64(b64)
    except KeyFileError as exc:
        raise OfflineEnrollError(f"enrollment {what}: {exc}") from exc


def _envelope(data: bytes, what: str, payload_type: str) -> dsse.Envelope:
    if len(data) > MAX_FILE_BYTES:
        raise OfflineEnrollError(
            f"enrollment {what} is {len(data)} bytes; at most {MAX_FILE_BYTES} expected"
        )
    try:
        envelope = dsse.parse(data)
        dsse.single_keyid(envelope)
        envelope.payload_bytes()  # decodes, or names what is wrong with it
    except BundleRejected as exc:
        raise OfflineEnrollError(f"enrollment {what}: {exc}") from exc
    if envelope.payloadType != payload_type:
        raise OfflineEnrollError(
            f"not an enrollment {what}: payloadType is {envelope.payloadType!r}, "
            f"expected {payload_type!r}"
        )
    return envelope


def _payload(model: type[Model], payload: bytes, what: str) -> Model:
    try:
        return model.model_validate(parse_json_bytes(payload))
    except (UnicodeDecodeError, ValueError, ValidationError) as exc:
        raise OfflineEnrollError(f"enrollment {what} payload is invalid: {exc}") from exc
