"""Enrollment by removable media: a host that never reaches the server still delivers
signed evidence, verified and stored exactly as on the network path."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

from evidence import dsse
from evidence.canonical import canonical_json
from evidence.keys import SigningKey
from evidence.offline_enroll import RESPONSE_PAYLOAD_TYPE
from tests.conftest import RunningServer, create_token, dossier
from tests.integration.test_airgap import ONLY, export, server_import, stored_seqs


def request_on_media(state: Path, token: str, media: Path) -> Path:
    out = dossier(
        "agent", "enroll-request", "--state", str(state), "--token", token, "--to", str(media)
    )
    return Path(out.stdout.strip())


def enroll_offline(
    server: RunningServer, request: Path, check: bool = True
) -> tuple[int, str, str]:
    result = dossier(
        "server", "enroll-offline", "--data", str(server.data.root), str(request), check=check
    )
    return result.returncode, result.stdout.strip(), result.stderr


def accept(state: Path, response: Path, keyid: str, check: bool = True) -> tuple[int, str, str]:
    result = dossier(
        "agent",
        "enroll-accept",
        "--state",
        str(state),
        str(response),
        "--server-keyid",
        keyid,
        check=check,
    )
    return result.returncode, result.stdout.strip(), result.stderr


def agents(server: RunningServer) -> list[dict[str, str]]:
    return list(server.admin_get("/agents")["agents"])


def test_host_that_never_reaches_the_server_enrolls_and_delivers_by_media(
    server: RunningServer, tmp_path: Path
) -> None:
    token = create_token(server)
    server.stop()  # from here on nothing listens: every step goes through files
    media = tmp_path / "usb"
    media.mkdir()
    state = tmp_path / "agent"

    request = request_on_media(state, token, media)
    assert request.parent == media and request.name.startswith("dossier-enroll-request-")
    assert stat.S_IMODE(request.stat().st_mode) == 0o600  # it carries the token
    key_file = state / "agent.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert b"PRIVATE KEY" not in request.read_bytes()
    private = SigningKey.load(key_file)
    assert private.public.b64().encode() in base64.b64decode(
        json.loads(request.read_bytes())["payload"]
    )

    _, response_path, stderr = enroll_offline(server, request)
    response = Path(response_path)
    server_keyid = SigningKey.load(server.data.server_key).keyid
    assert f"server key id (give it to the agent's operator): {server_keyid}" in stderr

    code, _, err = accept(state, response, "0" * 16, check=False)
    assert code == 2
    assert f"is from server key {server_keyid}, not the expected {'0' * 16}" in err
    assert not (state / "agent.json").exists()  # refused: still not enrolled

    _, agent_id, _ = accept(state, response, server_keyid[:16])
    assert agent_id.startswith("agt-")
    status = json.loads(dossier("agent", "status", "--state", str(state), "--json").stdout)
    assert status["agent_id"] == agent_id and status["server_url"] is None

    for _ in range(2):
        run = dossier("agent", "run", "--once", "--state", str(state), *ONLY)
        assert "no server URL (enrolled by removable media)" in run.stderr
    status = json.loads(dossier("agent", "status", "--state", str(state), "--json").stdout)
    assert status["spooled"] == 2

    package = export(state, _defaults(tmp_path), media)
    assert len(list((package / "bundles").iterdir())) == 2
    _, imported = server_import(server, media)
    assert (imported[0]["stored"], imported[0]["refused"]) == (2, [])
    cleared = dossier("agent", "import-receipts", "--state", str(state), str(media))
    assert "cleared 2 bundle(s)" in cleared.stderr
    status = json.loads(dossier("agent", "status", "--state", str(state), "--json").stdout)
    assert status["spooled"] == 0

    server.start()
    assert stored_seqs(server, agent_id) == [1, 2]
    assert server.admin_get("/findings")["findings"] == []


def _defaults(tmp_path: Path) -> Path:
    """An agent config with nothing in it: the embedded defaults (no server URL)."""
    path = tmp_path / "agent.yaml"
    path.write_text("{}\n")
    return path


def test_a_lost_response_is_answered_again_without_spending_another_token(
    server: RunningServer, tmp_path: Path
) -> None:
    media = tmp_path / "usb"
    media.mkdir()
    token = create_token(server, uses=1)
    request = request_on_media(tmp_path / "a", token, media)
    _, first, _ = enroll_offline(server, request)
    Path(first).unlink()  # lost on the way back
    _, again, _ = enroll_offline(server, request)
    assert len(agents(server)) == 1
    _, agent_id, _ = accept(
        tmp_path / "a", Path(again), SigningKey.load(server.data.server_key).keyid
    )
    assert [a["id"] for a in agents(server)] == [agent_id]
    # a revoked agent gets no answer, however often its request comes back
    dossier("server", "agents", "revoke", agent_id, "--data", str(server.data.root))
    code, _, err = enroll_offline(server, request, check=False)
    assert code == 2 and f"agent {agent_id} was revoked at" in err
    # the token is spent: another host's request with it is refused, and named
    other = request_on_media(tmp_path / "b", token, tmp_path / "usb")
    code, _, err = enroll_offline(server, other, check=False)
    assert code == 2 and "enrollment refused (token_used_up)" in err
    assert len(agents(server)) == 1


def test_tampered_request_is_refused_and_enrolls_nothing(
    server: RunningServer, tmp_path: Path
) -> None:
    media = tmp_path / "usb"
    media.mkdir()
    request = request_on_media(tmp_path / "agent", create_token(server), media)
    envelope = json.loads(request.read_bytes())
    payload = json.loads(base64.b64decode(envelope["payload"]))
    payload["hostname"] = "someone-else"
    envelope["payload"] = base64.b64encode(canonical_json(payload)).decode()
    request.write_bytes(json.dumps(envelope).encode())
    code, _, err = enroll_offline(server, request, check=False)
    assert code == 2
    assert "enrollment request is not signed by the key it enrolls" in err
    assert agents(server) == []
    request.write_bytes(b'{"payloadType": "x"')
    code, _, err = enroll_offline(server, request, check=False)
    assert code == 2 and "enrollment request: body is not valid JSON" in err


def test_response_for_another_agent_or_forged_is_refused(
    server: RunningServer, tmp_path: Path
) -> None:
    media = tmp_path / "usb"
    media.mkdir()
    server_key = SigningKey.load(server.data.server_key)
    first = request_on_media(tmp_path / "a", create_token(server), media)
    request_on_media(tmp_path / "b", create_token(server), media)
    _, response, _ = enroll_offline(server, first)
    # b takes a's response: refused, b stays unenrolled
    code, _, err = accept(tmp_path / "b", Path(response), server_key.keyid, check=False)
    assert code == 2 and "whose key is not this agent's key" in err
    assert not (tmp_path / "b" / "agent.json").exists()
    # a forger re-signs a's response with their own key: refused for the key id
    envelope = dsse.parse(Path(response).read_bytes())
    forged_payload = json.loads(envelope.payload_bytes())
    forger = SigningKey.generate()
    forged_payload["server_public_key"] = forger.public.b64()
    forged_payload["server_keyid"] = forger.keyid
    forged = tmp_path / "forged.json"
    forged.write_bytes(
        dsse.sign(RESPONSE_PAYLOAD_TYPE, canonical_json(forged_payload), forger).to_bytes()
    )
    code, _, err = accept(tmp_path / "a", forged, server_key.keyid, check=False)
    assert code == 2 and f"not the expected {server_key.keyid}" in err
    # the genuine response with an edited agent id: the signature no longer verifies
    edited = dict(json.loads(envelope.payload_bytes()), agent_id="agt-somebodyelse")
    altered = envelope.model_copy(
        update={"payload": base64.b64encode(canonical_json(edited)).decode()}
    )
    tampered = tmp_path / "tampered.json"
    tampered.write_bytes(altered.to_bytes())
    code, _, err = accept(tmp_path / "a", tampered, server_key.keyid, check=False)
    assert code == 2 and "enrollment response signature" in err
    assert not (tmp_path / "a" / "agent.json").exists()
    # and the real one works; with a URL and the CA, this agent can also ship directly
    accepted = dossier(
        "agent",
        "enroll-accept",
        "--state",
        str(tmp_path / "a"),
        response,
        "--server-keyid",
        server_key.keyid,
        "--server",
        server.url,
        "--ca",
        server.ca,
    )
    agent_id = accepted.stdout.strip()
    run = dossier("agent", "run", "--once", "--state", str(tmp_path / "a"), *ONLY)
    assert "delivered 1, rejected 0, still spooled 0" in run.stderr
    assert stored_seqs(server, agent_id) == [1]
