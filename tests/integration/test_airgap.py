"""Air-gapped transport: spool → removable media → server import → receipts back."""

from __future__ import annotations

import json
from pathlib import Path

from agent.state import StateDir
from evidence import dsse
from evidence.bundle import build_bundle, verify_bundle
from evidence.canonical import sha256_hex
from evidence.media import (
    BUNDLES_DIR,
    MANIFEST_FILE,
    RECEIPTS_FILE,
    ManifestEntry,
    MediaManifest,
    sign_manifest,
)
from tests.conftest import RunningServer, dossier, enroll_agent, write_agent_config

ONLY = ("--only", "access.accounts")


def offline_agent(server: RunningServer, tmp_path: Path, bundles: int) -> tuple[Path, Path, str]:
    """An enrolled agent that collected `bundles` times while the server was away."""
    state = tmp_path / "agent"
    agent_id = enroll_agent(server, state)
    config = write_agent_config(tmp_path / "agent.yaml", server.url)
    server.stop()
    for _ in range(bundles):
        dossier("agent", "run", "--once", "--state", str(state), "--config", str(config), *ONLY)
    status = json.loads(dossier("agent", "status", "--state", str(state), "--json").stdout)
    assert status["spooled"] == bundles
    return state, config, agent_id


def export(state: Path, config: Path, media: Path) -> Path:
    media.mkdir(exist_ok=True)
    out = dossier(
        "agent", "export", "--state", str(state), "--config", str(config), "--to", str(media)
    )
    return Path(out.stdout.strip())


def server_import(server: RunningServer, media: Path, check: bool = True) -> tuple[int, list[dict]]:
    result = dossier(
        "server", "import", "--data", str(server.data.root), str(media), "--json", check=False
    )
    assert result.returncode in (0, 1), result.stderr
    if check:
        assert result.returncode == 0, result.stdout
    return result.returncode, json.loads(result.stdout)


def stored_seqs(server: RunningServer, agent_id: str) -> list[int]:
    hosts = [h for h in server.admin_get("/hosts")["hosts"] if h["agent_id"] == agent_id]
    assert len(hosts) == 1
    records = server.admin_get(f"/hosts/{hosts[0]['id']}/evidence")["records"]
    return sorted(r["seq"] for r in records)


def test_round_trip_stores_once_and_clears_the_spool(server: RunningServer, tmp_path: Path) -> None:
    state, config, agent_id = offline_agent(server, tmp_path, 10)
    media = tmp_path / "usb"
    package = export(state, config, media)
    assert len(list((package / BUNDLES_DIR).iterdir())) == 10
    # Export copies: until receipts come back, the bundles stay spooled.
    status = json.loads(dossier("agent", "status", "--state", str(state), "--json").stdout)
    assert status["spooled"] == 10

    _, first = server_import(server, media)
    assert (first[0]["stored"], first[0]["duplicates"], first[0]["refused"]) == (10, 0, [])
    _, again = server_import(server, media)
    assert (again[0]["stored"], again[0]["duplicates"]) == (0, 10)

    server.start()
    assert stored_seqs(server, agent_id) == list(range(1, 11))
    assert server.admin_get("/findings")["findings"] == []

    out = dossier(
        "agent", "import-receipts", "--state", str(state), "--config", str(config), str(media)
    )
    assert "cleared 10 bundle(s)" in out.stderr
    status = json.loads(dossier("agent", "status", "--state", str(state), "--json").stdout)
    assert status["spooled"] == 0 and status["last_receipt"]["seq"] == 10
    # The chain goes on over the network from where the media left it.
    dossier("agent", "run", "--once", "--state", str(state), "--config", str(config), *ONLY)
    assert stored_seqs(server, agent_id) == list(range(1, 12))
    assert server.admin_get("/findings")["findings"] == []


def test_tampered_media_is_refused_and_named(server: RunningServer, tmp_path: Path) -> None:
    state, config, agent_id = offline_agent(server, tmp_path, 3)
    package = export(state, config, tmp_path / "usb")
    victim = sorted((package / BUNDLES_DIR).iterdir())[1]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x01
    victim.write_bytes(bytes(data))
    code, results = server_import(server, tmp_path / "usb", check=False)
    assert code == 1
    (refused,) = results[0]["refused"]
    assert refused.startswith(f"{BUNDLES_DIR}/{victim.name}: manifest_mismatch")
    assert results[0]["stored"] == 2
    # Receipts cover what was stored; the altered bundle stays spooled on the agent.
    result = dossier("agent", "import-receipts", "--state", str(state), str(tmp_path / "usb"))
    assert "cleared 2 bundle(s)" in result.stderr
    status = json.loads(dossier("agent", "status", "--state", str(state), "--json").stdout)
    assert status["spooled"] == 1

    # An altered manifest refuses the whole package, naming it; nothing new is stored.
    manifest = package / MANIFEST_FILE
    envelope = json.loads(manifest.read_text())
    envelope["payload"] = envelope["payload"][:-8] + "AAAAAAA="
    manifest.write_text(json.dumps(envelope))
    (package / RECEIPTS_FILE).unlink()
    code, results = server_import(server, tmp_path / "usb", check=False)
    assert code == 1 and results[0]["stored"] == 0
    assert results[0]["refused"][0].startswith(f"{MANIFEST_FILE}: ")
    assert "nothing in this package was imported" in results[0]["refused"][0]

    server.start()
    assert stored_seqs(server, agent_id) == [1, 3]


def test_gap_and_fork_detection_hold_on_the_media_path(
    server: RunningServer, tmp_path: Path
) -> None:
    state, config, agent_id = offline_agent(server, tmp_path, 5)
    # Seq 3 is lost on the agent (say, a disk error): the import records a gap.
    lost = next((state / "spool").glob("*/000000000003-*.json"))
    lost.rename(tmp_path / "lost.json")
    package = export(state, config, tmp_path / "usb")
    server_import(server, tmp_path / "usb")

    # A second, different seq 2 signed by the same agent key is a fork: refused.
    key = StateDir(state).load_key()
    stored_two = next((package / BUNDLES_DIR).glob("*.000000000002-*.json"))
    original = verify_bundle(dsse.parse(stored_two.read_bytes()), key.public)
    forged = build_bundle(
        key,
        agent_id=agent_id,
        host=original.payload.host,
        seq=2,
        prev=original.payload.prev,
        records=original.payload.records[:1],
        created_at="2026-01-01T00:00:00Z",
    )
    fork_package = tmp_path / "usb2" / f"dossier-{agent_id}-fork"
    (fork_package / BUNDLES_DIR).mkdir(parents=True)
    name = f"{original.payload.host.id}.{2:012d}-{forged.bundle_id}.json"
    body = forged.envelope.to_bytes()
    (fork_package / BUNDLES_DIR / name).write_bytes(body)
    (fork_package / BUNDLES_DIR / "stray.json").write_bytes(b"{}")
    manifest = MediaManifest(
        agent_id=agent_id,
        created_at="2026-11-26T00:00:00Z",
        bundles=[
            ManifestEntry(
                file=name,
                sha256=sha256_hex(body),
                size=len(body),
                host_id=original.payload.host.id,
                seq=2,
                bundle_id=forged.bundle_id,
            )
        ],
    )
    (fork_package / MANIFEST_FILE).write_bytes(sign_manifest(manifest, key).to_bytes())
    code, results = server_import(server, tmp_path / "usb2", check=False)
    assert code == 1
    refused = results[0]["refused"]
    assert refused[0].startswith(f"{BUNDLES_DIR}/{name}: fork:")
    assert refused[1].startswith(f"{BUNDLES_DIR}/stray.json: not_in_manifest")

    server.start()
    assert stored_seqs(server, agent_id) == [1, 2, 4, 5]
    findings = server.admin_get("/findings")["findings"]
    kinds = sorted(f["kind"] for f in findings if f["agent_id"] == agent_id)
    assert kinds == ["fork", "gap"]
    gap = next(f for f in findings if f["kind"] == "gap")
    assert "between seq 2 and 4" in gap["detail"]


def test_two_exports_in_a_row_and_a_damaged_receipt_are_handled(
    server: RunningServer, tmp_path: Path
) -> None:
    state, config, _agent_id = offline_agent(server, tmp_path, 2)
    media = tmp_path / "usb"
    first = export(state, config, media)
    second = export(state, config, media)  # within the same second: a second package
    assert first != second and first.is_dir() and second.is_dir()
    server_import(server, media)
    receipts_file = first / RECEIPTS_FILE
    receipts = json.loads(receipts_file.read_text())
    receipts["receipts"][0]["payload"] = "!!not base64!!"
    receipts_file.write_text(json.dumps(receipts))
    result = dossier(
        "agent",
        "import-receipts",
        "--state",
        str(state),
        "--config",
        str(config),
        str(media),
        check=False,
    )
    # The damaged receipt is named; the other package's receipts still clear everything.
    assert result.returncode == 1, result.stderr
    assert f"{receipts_file}: receipt 0: unreadable" in result.stderr
    assert "cleared 2 bundle(s)" in result.stderr
    status = json.loads(dossier("agent", "status", "--state", str(state), "--json").stdout)
    assert status["spooled"] == 0


def test_an_oversized_manifest_is_refused_unread(server: RunningServer, tmp_path: Path) -> None:
    package = tmp_path / "usb" / "dossier-agt-huge-20261126T000000Z"
    package.mkdir(parents=True)
    with open(package / MANIFEST_FILE, "wb") as huge:  # sparse: no disk, 5 GiB to a reader
        huge.truncate(5 * 1024**3)
    code, results = server_import(server, tmp_path / "usb", check=False)
    assert code == 1
    [refused] = results[0]["refused"]
    assert refused.startswith(f"{MANIFEST_FILE}: {MANIFEST_FILE} is not a regular file of at most")
