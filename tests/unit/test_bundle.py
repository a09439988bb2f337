"""Bundle format: build, verify, tamper detection and chain checks."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evidence import dsse
from evidence.bundle import (
    BUNDLE_PAYLOAD_TYPE,
    HostRef,
    SignedBundle,
    build_bundle,
    chain_problems,
    decode_payload,
    verify_bundle,
)
from evidence.canonical import canonical_json, sha256_hex
from evidence.errors import BundleRejected
from evidence.keys import SigningKey
from evidence.records import EvidenceRecord, FileSource

KEY = SigningKey.generate()
HOST = HostRef(id="host-1", hostname="web-01", machine_id="0123456789abcdef0123456789abcdef")


def record(value: object = "1") -> EvidenceRecord:
    return EvidenceRecord(
        collector="inventory.system",
        collector_version="1",
        category="inventory",
        collected_at="2026-11-24T08:00:00Z",
        facts={"value": value, "名前": "主机"},
        sources=[FileSource(path="/etc/os-release", sha256="0" * 64, size=3, mtime=None)],
    )


def chain(length: int, key: SigningKey = KEY, host: HostRef = HOST) -> list[SignedBundle]:
    bundles: list[SignedBundle] = []
    prev = None
    for seq in range(1, length + 1):
        bundle = build_bundle(
            key, agent_id="agent-1", host=host, seq=seq, prev=prev, records=[record(seq)]
        )
        bundles.append(bundle)
        prev = bundle.bundle_id
    return bundles


def test_round_trip_verifies_and_id_is_payload_hash() -> None:
    bundle = chain(1)[0]
    parsed = dsse.parse(bundle.envelope.to_bytes())
    verified = verify_bundle(parsed, KEY.public)
    assert verified.payload == bundle.payload
    assert verified.bundle_id == sha256_hex(bundle.payload_bytes)
    assert verified.payload_bytes == canonical_json(json.loads(bundle.payload_bytes))


def test_wrong_key_is_named() -> None:
    bundle = chain(1)[0]
    with pytest.raises(BundleRejected) as caught:
        verify_bundle(bundle.envelope, SigningKey.generate().public)
    assert caught.value.code == "unknown_key"


def test_signature_by_another_key_under_the_right_keyid_is_bad_signature() -> None:
    bundle = chain(1)[0]
    forged = dsse.sign(BUNDLE_PAYLOAD_TYPE, bundle.payload_bytes, SigningKey.generate())
    envelope = forged.model_copy(
        update={"signatures": [forged.signatures[0].model_copy(update={"keyid": KEY.keyid})]}
    )
    with pytest.raises(BundleRejected) as caught:
        verify_bundle(envelope, KEY.public)
    assert caught.value.code == "bad_signature"


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_any_flipped_payload_byte_is_rejected(data: st.DataObject) -> None:
    bundle = chain(1)[0]
    payload = bytearray(bundle.payload_bytes)
    index = data.draw(st.integers(0, len(payload) - 1))
    payload[index] ^= data.draw(st.integers(1, 255))
    envelope = bundle.envelope.model_copy(
        update={"payload": base64.b64encode(bytes(payload)).decode()}
    )
    with pytest.raises(BundleRejected) as caught:
        verify_bundle(envelope, KEY.public)
    assert caught.value.code == "bad_signature"


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_any_flipped_signature_byte_is_rejected(data: st.DataObject) -> None:
    bundle = chain(1)[0]
    signature = bytearray(base64.b64decode(bundle.envelope.signatures[0].sig))
    signature[data.draw(st.integers(0, len(signature) - 1))] ^= data.draw(st.integers(1, 255))
    envelope = bundle.envelope.model_copy(
        update={
            "signatures": [
                bundle.envelope.signatures[0].model_copy(
                    update={"sig": base64.b64encode(bytes(signature)).decode()}
                )
            ]
        }
    )
    with pytest.raises(BundleRejected) as caught:
        verify_bundle(envelope, KEY.public)
    assert caught.value.code == "bad_signature"


def test_changed_payload_type_is_refused() -> None:
    bundle = chain(1)[0]
    envelope = bundle.envelope.model_copy(update={"payloadType": "application/json"})
    with pytest.raises(BundleRejected) as caught:
        verify_bundle(envelope, KEY.public)
    assert caught.value.code == "wrong_payload_type"


def test_non_canonical_payload_is_refused_even_when_signed() -> None:
    bundle = chain(1)[0]
    pretty = json.dumps(json.loads(bundle.payload_bytes), indent=1).encode()
    envelope = dsse.sign(BUNDLE_PAYLOAD_TYPE, pretty, KEY)
    with pytest.raises(BundleRejected) as caught:
        verify_bundle(envelope, KEY.public)
    assert caught.value.code == "non_canonical_payload"


@pytest.mark.parametrize(
    ("change", "code", "where"),
    [
        ({"seq": 0}, "schema_invalid", "seq"),
        ({"seq": 2, "prev": None}, "schema_invalid", "predecessor"),
        ({"prev": "a" * 64}, "schema_invalid", "prev null"),
        ({"records": []}, "schema_invalid", "records"),
        ({"extra": 1}, "schema_invalid", "extra"),
        ({"type": "dossier.bundle/v0"}, "wrong_payload_type", "dossier.bundle/v0"),
        # JSON types as they are: no string or boolean passes for a number.
        ({"seq": "1"}, "schema_invalid", "seq"),
        ({"seq": True}, "schema_invalid", "seq"),
        ({"host": {"id": "h-1", "hostname": 7}}, "schema_invalid", "host.hostname"),
    ],
)
def test_signed_but_invalid_payloads_name_the_field(
    change: dict[str, object], code: str, where: str
) -> None:
    value = json.loads(chain(1)[0].payload_bytes)
    value.update(change)
    with pytest.raises(BundleRejected) as caught:
        decode_payload(canonical_json(value))
    assert caught.value.code == code
    assert where in caught.value.detail


def test_payload_that_is_not_json_is_malformed() -> None:
    with pytest.raises(BundleRejected) as caught:
        decode_payload(b'{"type": ')
    assert caught.value.code == "malformed_payload"


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "malformed_json"),
        (b"\xff\xfe", "malformed_json"),
        (b"[]", "malformed_envelope"),
        (b'{"payload": "x", "payloadType": "t"}', "malformed_envelope"),
    ],
)
def test_malformed_envelopes(data: bytes, code: str) -> None:
    with pytest.raises(BundleRejected) as caught:
        dsse.parse(data)
    assert caught.value.code == code


def test_intact_chain_has_no_problems_in_any_order() -> None:
    bundles = chain(5)
    assert chain_problems(list(reversed(bundles)) + bundles[:2]) == []


def test_chain_names_gap_fork_and_broken_link() -> None:
    bundles = chain(5)
    assert chain_problems([bundles[0], bundles[1], bundles[4]]) == [
        "evidence missing between seq 2 and 5"
    ]
    other = build_bundle(
        KEY, agent_id="agent-1", host=HOST, seq=2, prev=bundles[0].bundle_id, records=[record(99)]
    )
    problems = chain_problems([bundles[0], bundles[1], other])
    assert problems == [f"fork at seq 2: {bundles[1].bundle_id} and {other.bundle_id}"]
    unlinked = build_bundle(
        KEY, agent_id="agent-1", host=HOST, seq=3, prev="f" * 64, records=[record(3)]
    )
    assert chain_problems([bundles[0], bundles[1], unlinked]) == [
        "seq 3 does not link to seq 2 (prev mismatch)"
    ]
