"""Faults: the server down for a while, the agent killed with SIGKILL at random points."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
from pathlib import Path

from agent.state import StateDir
from dossier.procs import dossier_argv
from evidence import dsse
from evidence.bundle import chain_problems, verify_bundle
from tests.conftest import RunningServer, dossier, enroll_agent, write_agent_config


def server_seqs(server: RunningServer, agent_id: str) -> list[int]:
    records = []
    for host in server.admin_get("/hosts")["hosts"]:
        records += server.admin_get(f"/hosts/{host['id']}/evidence", limit=1000)["records"]
    return sorted({r["seq"] for r in records if r["agent_id"] == agent_id})


def test_server_outage_loses_nothing(server: RunningServer, tmp_path: Path) -> None:
    state = tmp_path / "agent"
    agent_id = enroll_agent(server, state)
    config = write_agent_config(tmp_path / "agent.yaml", server.url)
    server.stop()
    for _ in range(20):
        # Exit 0: the bundle is durably spooled even though nothing could be delivered.
        dossier(
            "agent",
            "run",
            "--once",
            "--only",
            "access.accounts",
            "--state",
            str(state),
            "--config",
            str(config),
        )
    status = json.loads(dossier("agent", "status", "--state", str(state), "--json").stdout)
    assert status["spooled"] == 20 and status["last_seq"] == 20
    server.start()
    dossier("agent", "ship", "--state", str(state), "--config", str(config))
    assert server_seqs(server, agent_id) == list(range(1, 21))
    assert server.admin_get("/findings")["findings"] == []
    status = json.loads(dossier("agent", "status", "--state", str(state), "--json").stdout)
    assert status["spooled"] == 0 and status["last_receipt"]["seq"] == 20


def test_sigkill_never_corrupts_loses_or_doubles(server: RunningServer, tmp_path: Path) -> None:
    state = tmp_path / "agent"
    agent_id = enroll_agent(server, state)
    config = write_agent_config(
        tmp_path / "agent.yaml",
        server.url,
        collectors={"access.accounts": {"interval": "1s"}, "inventory.system": {"interval": "1s"}},
        ship={"interval": "1s", "retries": 0, "timeout": "5s"},
    )
    rng = random.Random(20261125)
    agent_key = StateDir(state).load_key().public
    for round_number in range(8):
        if round_number == 4:
            server.stop()  # half the kills happen while nothing can be shipped
        process = subprocess.Popen(
            dossier_argv("agent", "run", "--state", str(state), "--config", str(config)),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.8, 3.0))
        process.send_signal(signal.SIGKILL)
        process.wait()
        # After every kill the spool holds only complete bundles that verify; an
        # interrupted write is a ".tmp-" file, never listed and removed on the next start.
        for path in sorted((state / "spool").glob("*/*.json")):
            verify_bundle(dsse.parse(path.read_bytes()), agent_key)
    server.start()
    dossier("agent", "ship", "--state", str(state), "--config", str(config))
    status = json.loads(dossier("agent", "status", "--state", str(state), "--json").stdout)
    assert status["spooled"] == 0
    assert [p for p in (state / "spool").rglob("*") if p.is_file()] == []
    seqs = server_seqs(server, agent_id)
    assert len(seqs) >= 8, "the agent should have collected in most rounds"
    assert seqs == list(range(1, status["last_seq"] + 1))
    assert server.admin_get("/findings")["findings"] == []
    # The stored chain links end to end.
    blobs = server.data.blobs / "sha256"
    bundles = [
        verify_bundle(dsse.parse(p.read_bytes()), agent_key)
        for p in blobs.rglob("*")
        if p.is_file()
    ]
    assert chain_problems(bundles) == []
