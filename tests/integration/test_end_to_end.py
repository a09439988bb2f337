"""Enroll → agent run --once → the server lists the host and a record per collector."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from collectors.registry import all_collectors
from evidence import dsse
from evidence.bundle import verify_bundle
from evidence.keys import PublicKey
from tests.conftest import RunningServer, dossier, enroll_agent, write_agent_config

# The walking skeleton's three collectors, which every later collector set includes.
SKELETON = {"inventory.system", "patch.packages", "access.accounts"}


def test_enroll_collect_ship_and_list(server: RunningServer, tmp_path: Path) -> None:
    state = tmp_path / "agent"
    agent_id = enroll_agent(server, state)
    key_mode = stat.S_IMODE(os.stat(state / "agent.key").st_mode)
    assert key_mode == 0o600
    assert stat.S_IMODE(os.stat(state).st_mode) == 0o700
    config = write_agent_config(tmp_path / "agent.yaml", server.url)

    dossier("agent", "run", "--once", "--state", str(state), "--config", str(config))

    hosts = server.admin_get("/hosts")["hosts"]
    assert len(hosts) == 1
    host = hosts[0]
    assert host["agent_id"] == agent_id and host["bundles"] == 1
    records = server.admin_get(f"/hosts/{host['id']}/evidence")["records"]
    collected = {record["collector"] for record in records}
    assert collected == set(all_collectors()) and collected >= SKELETON
    status = json.loads(dossier("agent", "status", "--state", str(state), "--json").stdout)
    assert status["spooled"] == 0 and status["last_seq"] == 1
    bundle_id = status["last_receipt"]["bundle_id"]
    assert all(record["bundle_id"] == bundle_id for record in records)

    # The stored bundle verifies with the agent's public key, independently of the server.
    agent = next(a for a in server.admin_get("/agents")["agents"] if a["id"] == agent_id)
    stored = server.data.blobs / "sha256" / bundle_id[:2] / bundle_id
    envelope = dsse.parse(stored.read_bytes())
    assert verify_bundle(envelope, PublicKey.from_b64(agent["public_key"])).bundle_id == bundle_id
    assert b"PRIVATE KEY" not in stored.read_bytes()

    # A second run extends the chain.
    dossier("agent", "run", "--once", "--state", str(state), "--config", str(config))
    assert server.admin_get("/hosts")["hosts"][0]["bundles"] == 2
    assert server.admin_get("/findings")["findings"] == []


def test_world_readable_key_is_refused_with_a_fix(server: RunningServer, tmp_path: Path) -> None:
    state = tmp_path / "agent"
    enroll_agent(server, state)
    (state / "agent.key").chmod(0o644)
    config = write_agent_config(tmp_path / "agent.yaml", server.url)
    result = dossier(
        "agent", "run", "--once", "--state", str(state), "--config", str(config), check=False
    )
    assert result.returncode == 2
    assert "mode 0644" in result.stderr and "chmod 600" in result.stderr
    assert "Traceback" not in result.stderr
    assert server.admin_get("/hosts")["hosts"] == []


def test_broken_config_is_refused_naming_file_and_key(tmp_path: Path) -> None:
    config = tmp_path / "agent.yaml"
    config.write_text("ship:\n  interval: soon\n", encoding="utf-8")
    result = dossier(
        "agent", "status", "--state", str(tmp_path / "s"), "--config", str(config), check=False
    )
    assert result.returncode == 2
    assert str(config) in result.stderr and "ship.interval" in result.stderr


def test_second_enrollment_of_a_state_dir_is_refused(server: RunningServer, tmp_path: Path) -> None:
    state = tmp_path / "agent"
    enroll_agent(server, state)
    result = dossier(
        "agent",
        "enroll",
        "--state",
        str(state),
        "--server",
        server.url,
        "--token",
        "dse_whatever",
        "--ca",
        server.ca,
        check=False,
    )
    assert result.returncode == 2 and "already enrolled" in result.stderr


def test_revoked_agent_exits_non_zero_and_keeps_its_bundle(
    server: RunningServer, tmp_path: Path
) -> None:
    state = tmp_path / "agent"
    agent_id = enroll_agent(server, state)
    config = write_agent_config(tmp_path / "agent.yaml", server.url)
    only = ("--only", "access.accounts")
    dossier("agent", "run", "--once", *only, "--state", str(state), "--config", str(config))
    dossier("server", "agents", "revoke", agent_id, "--data", str(server.data.root))
    result = dossier(
        "agent", "run", "--once", *only, "--state", str(state), "--config", str(config), check=False
    )
    assert result.returncode == 1
    assert "agent_revoked" in result.stderr
    status = json.loads(dossier("agent", "status", "--state", str(state), "--json").stdout)
    assert status["spooled"] == 1 and status["last_seq"] == 2
    # The evidence it sent before revocation is still there.
    assert server.admin_get("/hosts")["hosts"][0]["bundles"] == 1
