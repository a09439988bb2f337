"""Request and response files of enrollment by removable media: every refusal is named."""

from __future__ import annotations

import pytest

from evidence import dsse
from evidence.canonical import canonical_json, utc_now_iso
from evidence.keys import SigningKey
from evidence.offline_enroll import (
    MAX_FILE_BYTES,
    REQUEST_PAYLOAD_TYPE,
    RESPONSE_PAYLOAD_TYPE,
    EnrollRequest,
    EnrollResponse,
    OfflineEnrollError,
    read_request,
    read_response,
    sign_request,
    sign_response,
)

AGENT = SigningKey.generate()
SERVER = SigningKey.generate()


def request(key: SigningKey = AGENT) -> EnrollRequest:
    return EnrollRequest(
        token="t0k3n",
        public_key=key.public.b64(),
        hostname="scada-01",
        machine_id="0" * 32,
        created_at=utc_now_iso(),
    )


def response(agent: SigningKey = AGENT) -> EnrollResponse:
    return EnrollResponse(
        agent_id="agt-" + agent.keyid[:20],
        agent_public_key=agent.public.b64(),
        enrolled_at=utc_now_iso(),
        server_public_key=SERVER.public.b64(),
        server_keyid=SERVER.keyid,
    )


def test_round_trip() -> None:
    asked = request()
    assert read_request(sign_request(asked, AGENT)) == asked
    answer = read_response(sign_response(response(), SERVER), SERVER.keyid[:16], AGENT.public)
    assert answer.agent_id == "agt-" + AGENT.keyid[:20]


def test_request_must_be_signed_by_the_key_it_carries() -> None:
    with pytest.raises(ValueError, match="public half of the signing key"):
        sign_request(request(), SigningKey.generate())
    other = SigningKey.generate()
    smuggled = dsse.sign(REQUEST_PAYLOAD_TYPE, canonical_json(request().model_dump()), other)
    with pytest.raises(OfflineEnrollError, match="not signed by the key it enrolls"):
        read_request(smuggled.to_bytes())


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"x" * (MAX_FILE_BYTES + 1), f"at most {MAX_FILE_BYTES} expected"),
        (b"[1, 2", "body is not valid JSON"),
        (
            b'{"payloadType": "a", "payload": "!!", "signatures": [{"keyid": "k", "sig": "s"}]}',
            "payload is not valid base64",
        ),
    ],
)
def test_malformed_files_are_named(data: bytes, message: str) -> None:
    with pytest.raises(OfflineEnrollError, match=message):
        read_request(data)
    with pytest.raises(OfflineEnrollError, match=message):
        read_response(data, SERVER.keyid, AGENT.public)


def test_response_payload_of_the_wrong_type_is_refused() -> None:
    envelope = dsse.sign(RESPONSE_PAYLOAD_TYPE, canonical_json(request().model_dump()), SERVER)
    with pytest.raises(OfflineEnrollError, match="response payload is invalid"):
        read_response(envelope.to_bytes(), SERVER.keyid, AGENT.public)
    as_request = dsse.sign(REQUEST_PAYLOAD_TYPE, canonical_json(response().model_dump()), SERVER)
    with pytest.raises(OfflineEnrollError, match="not an enrollment response: payloadType"):
        read_response(as_request.to_bytes(), SERVER.keyid, AGENT.public)
    a_response = sign_response(response(), SERVER)
    with pytest.raises(OfflineEnrollError, match="not an enrollment request: payloadType"):
        read_request(a_response)


@pytest.mark.parametrize("keyid", ["", "abc", "G" * 16, SERVER.keyid.upper() + "0"])
def test_server_key_id_must_look_like_one(keyid: str) -> None:
    with pytest.raises(OfflineEnrollError, match="expected 16 to 64 lowercase hex digits"):
        read_response(sign_response(response(), SERVER), keyid, AGENT.public)


def test_response_naming_another_key_id_than_its_signer_is_refused() -> None:
    lying = response().model_copy(update={"server_keyid": "f" * 64})
    with pytest.raises(OfflineEnrollError, match="names a server key id that is not its key"):
        read_response(sign_response(lying, SERVER), SERVER.keyid, AGENT.public)
