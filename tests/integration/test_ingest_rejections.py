"""Bad input against a real server process: each refused precisely, nothing harmed."""

from __future__ import annotations

import base64
import gzip
import json
import time
from collections.abc import Iterator

import pytest
import requests

from evidence import dsse
from evidence.bundle import BUNDLE_PAYLOAD_TYPE, HostRef, SignedBundle, build_bundle
from evidence.canonical import canonical_json, sha256_hex
from evidence.keys import PublicKey, SigningKey
from evidence.receipt import verify_receipt
from evidence.records import EvidenceRecord
from tests.conftest import RunningServer, create_token, dossier, make_server

MAX_BODY = 256 * 1024
MAX_BUNDLE = 1024 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = make_server(
        tmp_path_factory.mktemp("srv") / "data",
        {"max_body_bytes": MAX_BODY, "max_bundle_bytes": MAX_BUNDLE},
    )
    yield running
    running.stop()


class Agent:
    """An agent made in-process: a real key enrolled through the real API."""

    def __init__(self, server: RunningServer) -> None:
        self.key = SigningKey.generate()
        response = server.post(
            "/enroll",
            json={
                "token": create_token(server),
                "public_key": self.key.public.b64(),
                "hostname": "test-host",
                "machine_id": None,
            },
        )
        assert response.status_code == 201, response.text
        self.agent_id = response.json()["agent_id"]
        self.server_key = PublicKey.from_b64(response.json()["server_public_key"])
        self.host = HostRef(id="h-" + self.agent_id[-12:], hostname="test-host")
        self.seq = 0
        self.prev: str | None = None

    def bundle(
        self,
        facts: dict[str, object] | None = None,
        *,
        seq: int | None = None,
        prev: str | None = None,
        advance: bool = True,
    ) -> SignedBundle:
        record = EvidenceRecord(
            collector="access.accounts",
            collector_version="1",
            category="access",
            collected_at="2026-11-24T08:00:00Z",
            facts=facts or {"n": self.seq},
        )
        next_seq = seq if seq is not None else self.seq + 1
        bundle = build_bundle(
            self.key,
            agent_id=self.agent_id,
            host=self.host,
            seq=next_seq,
            prev=prev if seq is not None else self.prev,
            records=[record],
        )
        if advance:
            self.seq, self.prev = next_seq, bundle.bundle_id
        return bundle


def send(server: RunningServer, body: bytes, **headers: str) -> requests.Response:
    return server.post(
        "/bundles", data=body, headers={"Content-Type": "application/json", **headers}
    )


def assert_refused(response: requests.Response, status: int, code: str) -> dict[str, str]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == code, body
    assert body["detail"], body
    return body


def stored_bundle_ids(server: RunningServer) -> set[str]:
    blobs = server.data.blobs / "sha256"
    return {path.name for path in blobs.rglob("*") if path.is_file()} if blobs.exists() else set()


@pytest.fixture
def agent(server: RunningServer) -> Agent:
    return Agent(server)


@pytest.fixture
def baseline(server: RunningServer, agent: Agent) -> tuple[SignedBundle, bytes]:
    """One accepted bundle whose stored bytes every test checks are left unharmed."""
    bundle = agent.bundle()
    response = send(server, bundle.envelope.to_bytes())
    assert response.status_code == 201, response.text
    return bundle, response.content


def assert_unharmed(server: RunningServer, baseline: tuple[SignedBundle, bytes]) -> None:
    bundle, _ = baseline
    stored = requests.get(
        f"{server.url}/api/v1/bundles/{bundle.bundle_id}",
        verify=server.ca,
        headers={"Authorization": f"Bearer {server.admin_token}"},
        timeout=10,
    )
    assert stored.content == bundle.envelope.to_bytes()


def test_accepted_bundle_gets_a_verifiable_receipt(
    server: RunningServer, agent: Agent, baseline: tuple[SignedBundle, bytes]
) -> None:
    bundle, receipt_bytes = baseline
    receipt = verify_receipt(
        dsse.parse(receipt_bytes), agent.server_key, bundle_id=bundle.bundle_id
    )
    assert receipt.seq == 1 and receipt.agent_id == agent.agent_id


def test_flipped_payload_byte_is_refused(
    server: RunningServer, agent: Agent, baseline: tuple[SignedBundle, bytes]
) -> None:
    bundle = agent.bundle(advance=False)
    payload = bytearray(bundle.payload_bytes)
    payload[len(payload) // 2] ^= 0x01
    forged = bundle.envelope.model_copy(
        update={"payload": base64.b64encode(bytes(payload)).decode()}
    )
    before = stored_bundle_ids(server)
    assert_refused(send(server, forged.to_bytes()), 400, "bad_signature")
    assert stored_bundle_ids(server) == before
    assert_unharmed(server, baseline)


def test_flipped_signature_byte_is_refused(
    server: RunningServer, agent: Agent, baseline: tuple[SignedBundle, bytes]
) -> None:
    bundle = agent.bundle(advance=False)
    signature = bytearray(base64.b64decode(bundle.envelope.signatures[0].sig))
    signature[5] ^= 0x80
    forged = bundle.envelope.model_copy(
        update={
            "signatures": [
                dsse.Signature(keyid=bundle.keyid, sig=base64.b64encode(bytes(signature)).decode())
            ]
        }
    )
    assert_refused(send(server, forged.to_bytes()), 400, "bad_signature")
    assert_unharmed(server, baseline)


def test_unenrolled_key_is_refused(
    server: RunningServer, agent: Agent, baseline: tuple[SignedBundle, bytes]
) -> None:
    stranger = SigningKey.generate()
    bundle = build_bundle(
        stranger,
        agent_id=agent.agent_id,
        host=agent.host,
        seq=2,
        prev=agent.prev,
        records=agent.bundle(advance=False).payload.records,
    )
    body = assert_refused(send(server, bundle.envelope.to_bytes()), 403, "unknown_key")
    assert "not enrolled" in body["detail"]
    assert_unharmed(server, baseline)


def test_revoked_agent_is_refused_but_its_evidence_stays(
    server: RunningServer, baseline: tuple[SignedBundle, bytes], agent: Agent
) -> None:
    dossier("server", "agents", "revoke", agent.agent_id, "--data", str(server.data.root))
    assert_refused(
        send(server, agent.bundle(advance=False).envelope.to_bytes()), 403, "agent_revoked"
    )
    assert_unharmed(server, baseline)
    # The duplicate of an already stored bundle is refused too: a revoked key gets nothing.
    assert_refused(send(server, baseline[0].envelope.to_bytes()), 403, "agent_revoked")


def test_replay_returns_the_same_receipt_and_stores_once(
    server: RunningServer, baseline: tuple[SignedBundle, bytes]
) -> None:
    bundle, receipt = baseline
    before = stored_bundle_ids(server)
    again = send(server, bundle.envelope.to_bytes())
    assert again.status_code == 200
    assert again.content == receipt
    assert stored_bundle_ids(server) == before
    agents = server.admin_get("/agents")["agents"]
    assert [a["last_seq"] for a in agents if a["id"] == bundle.payload.agent_id] == [1]


def test_fork_is_refused_and_alerted(
    server: RunningServer, agent: Agent, baseline: tuple[SignedBundle, bytes]
) -> None:
    other = agent.bundle({"different": True}, seq=1, prev=None, advance=False)
    body = assert_refused(send(server, other.envelope.to_bytes()), 409, "fork")
    assert baseline[0].bundle_id in body["detail"]
    forks = server.admin_get("/findings", kind="fork")["findings"]
    assert any(f["agent_id"] == agent.agent_id for f in forks)
    assert_unharmed(server, baseline)


def test_wrong_prev_is_refused(
    server: RunningServer, agent: Agent, baseline: tuple[SignedBundle, bytes]
) -> None:
    broken = agent.bundle(seq=2, prev="0" * 64, advance=False)
    assert_refused(send(server, broken.envelope.to_bytes()), 409, "chain_broken")
    assert_unharmed(server, baseline)


def test_gap_is_accepted_and_recorded_as_a_finding(
    server: RunningServer, agent: Agent, baseline: tuple[SignedBundle, bytes]
) -> None:
    later = agent.bundle(seq=4, prev="a" * 64, advance=False)
    assert send(server, later.envelope.to_bytes()).status_code == 201
    gaps = [
        f
        for f in server.admin_get("/findings", kind="gap")["findings"]
        if f["agent_id"] == agent.agent_id
    ]
    assert len(gaps) == 1
    assert "evidence missing between seq 1 and 4" in gaps[0]["detail"]


def test_each_target_host_is_its_own_chain(
    server: RunningServer, agent: Agent, baseline: tuple[SignedBundle, bytes]
) -> None:
    # An agent collecting a host agentless signs that host's chain: seq 1 again, no fork.
    own_host = agent.host
    agent.host, agent.seq, agent.prev = HostRef(id="h-target-db01", hostname="db01"), 0, None
    first = agent.bundle({"target": 1})
    assert send(server, first.envelope.to_bytes()).status_code == 201
    second = agent.bundle({"target": 2})
    assert send(server, second.envelope.to_bytes()).status_code == 201
    # A fork is still a fork inside the target's chain.
    other = agent.bundle({"target": "other"}, seq=2, prev=first.bundle_id, advance=False)
    assert_refused(send(server, other.envelope.to_bytes()), 409, "fork")
    # And the agent's own chain goes on from where it was.
    agent.host, agent.seq, agent.prev = own_host, 1, baseline[0].bundle_id
    assert send(server, agent.bundle().envelope.to_bytes()).status_code == 201
    gaps = server.admin_get("/findings", kind="gap")["findings"]
    assert not [g for g in gaps if g["agent_id"] == agent.agent_id]
    hosts = {h["id"] for h in server.admin_get("/hosts")["hosts"]}
    assert {"h-target-db01", own_host.id} <= hosts
    assert_unharmed(server, baseline)


def test_body_over_the_limit_is_refused_with_413(
    server: RunningServer, baseline: tuple[SignedBundle, bytes]
) -> None:
    assert_refused(send(server, b"{" + b" " * MAX_BODY + b"}"), 413, "too_large")

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while reading
        for _ in range(MAX_BODY // 4096 + 2):
            yield b" " * 4096

    response = server.post("/bundles", data=chunks())
    assert_refused(response, 413, "too_large")
    assert_unharmed(server, baseline)


def test_gzip_bomb_is_refused_with_413(
    server: RunningServer, agent: Agent, baseline: tuple[SignedBundle, bytes]
) -> None:
    bomb = gzip.compress(b" " * (64 * MAX_BUNDLE), compresslevel=9)
    assert len(bomb) < MAX_BODY
    assert_refused(send(server, bomb, **{"Content-Encoding": "gzip"}), 413, "too_large")
    # A genuine gzip bundle within the limits is accepted.
    bundle = agent.bundle()
    ok = send(server, gzip.compress(bundle.envelope.to_bytes()), **{"Content-Encoding": "gzip"})
    assert ok.status_code == 201, ok.text
    assert_unharmed(server, baseline)


@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe", b"[]", b'{"a": NaN}'])
def test_malformed_json_is_refused(
    server: RunningServer, body: bytes, baseline: tuple[SignedBundle, bytes]
) -> None:
    response = send(server, body)
    assert response.status_code == 400
    assert response.json()["error"] in ("malformed_json", "malformed_envelope")
    assert_unharmed(server, baseline)


def test_wrong_payload_type_is_refused(
    server: RunningServer, agent: Agent, baseline: tuple[SignedBundle, bytes]
) -> None:
    payload = agent.bundle(advance=False).payload_bytes
    envelope = dsse.sign("application/vnd.in-toto+json", payload, agent.key)
    assert_refused(send(server, envelope.to_bytes()), 415, "wrong_payload_type")
    statement = canonical_json({"type": "dossier.other/v1", "x": 1})
    envelope = dsse.sign(BUNDLE_PAYLOAD_TYPE, statement, agent.key)
    assert_refused(send(server, envelope.to_bytes()), 415, "wrong_payload_type")
    assert_unharmed(server, baseline)


def test_schema_violation_is_refused(server: RunningServer, agent: Agent) -> None:
    value = json.loads(agent.bundle(advance=False).payload_bytes)
    value["records"] = []
    envelope = dsse.sign(BUNDLE_PAYLOAD_TYPE, canonical_json(value), agent.key)
    body = assert_refused(send(server, envelope.to_bytes()), 422, "schema_invalid")
    assert "records" in body["detail"]


def test_payload_naming_another_agent_is_refused(server: RunningServer, agent: Agent) -> None:
    value = json.loads(agent.bundle(advance=False).payload_bytes)
    value["agent_id"] = "agt-someone-else"
    envelope = dsse.sign(BUNDLE_PAYLOAD_TYPE, canonical_json(value), agent.key)
    assert_refused(send(server, envelope.to_bytes()), 422, "agent_mismatch")


def test_used_up_and_expired_tokens_are_refused(server: RunningServer) -> None:
    token = create_token(server, uses=1)
    first = server.post(
        "/enroll",
        json={"token": token, "public_key": SigningKey.generate().public.b64(), "hostname": "a"},
    )
    assert first.status_code == 201
    again = server.post(
        "/enroll",
        json={"token": token, "public_key": SigningKey.generate().public.b64(), "hostname": "b"},
    )
    assert_refused(again, 401, "token_used_up")
    short = create_token(server, uses=5, expires="1s")
    time.sleep(1.2)
    late = server.post(
        "/enroll",
        json={"token": short, "public_key": SigningKey.generate().public.b64(), "hostname": "c"},
    )
    assert_refused(late, 401, "token_expired")
    unknown = server.post(
        "/enroll",
        json={
            "token": "dse_nope",
            "public_key": SigningKey.generate().public.b64(),
            "hostname": "d",
        },
    )
    assert_refused(unknown, 401, "invalid_token")


@pytest.mark.parametrize("path", ["/hosts", "/agents", "/findings", "/hosts/h-x/evidence"])
def test_admin_api_needs_the_right_token(server: RunningServer, path: str) -> None:
    url = f"{server.url}/api/v1{path}"
    missing = requests.get(url, verify=server.ca, timeout=10)
    assert_refused(missing, 401, "unauthenticated")
    wrong = requests.get(
        url, verify=server.ca, timeout=10, headers={"Authorization": "Bearer dsa_wrong"}
    )
    assert_refused(wrong, 401, "bad_token")


def test_no_api_updates_or_deletes_evidence(
    server: RunningServer, baseline: tuple[SignedBundle, bytes]
) -> None:
    bundle_id = baseline[0].bundle_id
    headers = {"Authorization": f"Bearer {server.admin_token}"}
    for method in ("PUT", "PATCH", "DELETE"):
        response = requests.request(
            method,
            f"{server.url}/api/v1/bundles/{bundle_id}",
            headers=headers,
            verify=server.ca,
            timeout=10,
        )
        assert response.status_code == 405, (method, response.text)
    assert_unharmed(server, baseline)


def test_database_refuses_to_change_stored_evidence(
    server: RunningServer, baseline: tuple[SignedBundle, bytes]
) -> None:
    import sqlite3

    connection = sqlite3.connect(server.data.sqlite_file)
    for statement in (
        "UPDATE bundles SET seq = 99",
        "DELETE FROM records",
        "DELETE FROM log_entries",
    ):
        with pytest.raises(sqlite3.IntegrityError, match="evidence is immutable"):
            connection.execute(statement)
    connection.close()
    assert_unharmed(server, baseline)
    assert sha256_hex(baseline[0].payload_bytes) == baseline[0].bundle_id


def test_truncated_bundle_is_refused(
    server: RunningServer, agent: Agent, baseline: tuple[SignedBundle, bytes]
) -> None:
    whole = agent.bundle(advance=False).envelope.to_bytes()
    assert_refused(send(server, whole[: len(whole) // 2]), 400, "malformed_json")
    truncated_gzip = gzip.compress(whole)[:-20]
    assert_refused(send(server, truncated_gzip, **{"Content-Encoding": "gzip"}), 400, "bad_gzip")
    assert_unharmed(server, baseline)


def test_a_small_order_public_key_cannot_enroll(server: RunningServer) -> None:
    # The identity point: a "signature" (R = identity, S = 0) verifies under it for any
    # message, so whoever enrolled it could never be told apart from anyone else.
    token = create_token(server)
    identity = base64.b64encode(b"\x01" + b"\x00" * 31).decode()
    response = server.post(
        "/enroll",
        json={"token": token, "public_key": identity, "hostname": "h", "machine_id": None},
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_public_key"
    assert "small order" in response.json()["detail"]
    # The token was not spent on the refused key.
    good = base64.b64encode(SigningKey.generate().public.raw).decode()
    accepted = server.post(
        "/enroll", json={"token": token, "public_key": good, "hostname": "h", "machine_id": None}
    )
    assert accepted.status_code == 201, accepted.text


def test_deep_nesting_is_a_precise_error_not_a_crash(
    server: RunningServer, baseline: tuple[SignedBundle, bytes]
) -> None:
    response = send(server, b"[" * 100_000 + b"]" * 100_000)
    body = assert_refused(response, 400, "malformed_json")
    assert "nested too deeply" in body["detail"]
    assert_unharmed(server, baseline)


@pytest.mark.parametrize(
    ("number", "phrase"),
    [(2**53, "beyond ±(2**53 - 1)"), ("1e400", "out of range")],
)
def test_numbers_json_cannot_keep_exactly_are_refused(
    server: RunningServer,
    agent: Agent,
    baseline: tuple[SignedBundle, bytes],
    number: object,
    phrase: str,
) -> None:
    # Signed by the enrolled agent, so only the number is wrong.
    payload = agent.bundle(advance=False).payload_bytes
    marker = b'"test-host"'
    assert marker in payload
    forged = payload.replace(marker, marker + b',"n":' + str(number).encode(), 1)
    envelope = dsse.sign(BUNDLE_PAYLOAD_TYPE, forged, agent.key)
    body = assert_refused(send(server, envelope.to_bytes()), 400, "malformed_payload")
    assert phrase in body["detail"]
    assert_unharmed(server, baseline)


def test_a_revoked_agent_is_told_so_before_its_payload_is_judged(
    server: RunningServer, agent: Agent
) -> None:
    dossier("server", "agents", "revoke", agent.agent_id, "--data", str(server.data.root))
    value = json.loads(agent.bundle(advance=False).payload_bytes)
    value["records"] = []  # schema-invalid too
    envelope = dsse.sign(BUNDLE_PAYLOAD_TYPE, canonical_json(value), agent.key)
    assert_refused(send(server, envelope.to_bytes()), 403, "agent_revoked")


def test_log_queries_beyond_any_log_are_refused_not_a_crash(server: RunningServer) -> None:
    response = requests.get(
        f"{server.url}/api/v1/log/consistency",
        params={"from": 0, "to": 2**70},
        headers={"Authorization": f"Bearer {server.admin_token}"},
        verify=server.ca,
        timeout=30,
    )
    assert 400 <= response.status_code < 500, response.text
