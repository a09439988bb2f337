"""Agentless runs against several real sshd instances: failures reported, others stored."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import yaml

from dossier.procs import dossier_argv
from evidence import dsse
from evidence.bundle import verify_bundle
from evidence.keys import PublicKey
from tests.conftest import RunningServer, dossier, enroll_agent, write_agent_config
from tests.sshd import SshServer, keygen, make_netns, netns_available, start_sshd

ONLY = ("--only", "access.accounts", "--only", "patch.packages", "--only", "inventory.system")


def write_inventory(tmp_path: Path, servers: dict[str, SshServer], client_key: Path) -> Path:
    inventory = {
        "defaults": {"user": "root", "identity": str(client_key), "known_hosts": "known_hosts"},
        "hosts": [
            {"name": name, "host": server.address, "port": server.port, "groups": ["lab"]}
            for name, server in servers.items()
        ],
    }
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(inventory))
    return path


def inventory_run(inventory: Path, state: Path, config: Path) -> list[str]:
    """`dossier collect` arguments for an inventory into an agent's spool."""
    return [
        "collect",
        "--inventory",
        str(inventory),
        "--state",
        str(state),
        "--config",
        str(config),
    ]


def test_stopped_and_rekeyed_targets_are_reported_others_stored(
    server: RunningServer, tmp_path: Path
) -> None:
    # Where the machine allows, two targets live in network namespaces with their own
    # addresses (reached over veth pairs), the others on loopback ports.
    namespaces = {"web01": make_netns(1), "db01": make_netns(2)} if netns_available() else {}
    started: list[SshServer] = []
    try:
        run_and_check(server, tmp_path, namespaces, started)
    finally:
        for ssh_server in started:
            ssh_server.stop()
        for namespace, _address in namespaces.values():
            subprocess.run(["ip", "netns", "del", namespace], check=False)


def run_and_check(
    server: RunningServer,
    tmp_path: Path,
    namespaces: dict[str, tuple[str, str]],
    started: list[SshServer],
) -> None:
    client_key = keygen(tmp_path / "client_ed25519")
    servers = {}
    for name in ("web01", "db01", "rekeyed", "app01", "stopped"):
        servers[name] = start_sshd(
            tmp_path / name, client_key=client_key, namespace=namespaces.get(name)
        )
        started.append(servers[name])
    if namespaces:
        assert servers["web01"].address == "10.231.1.2" and servers["db01"].port == 2222
    known = [s.host_key_line() for n, s in servers.items() if n != "rekeyed"]
    impostor = keygen(tmp_path / "impostor_ed25519")
    known.append(
        f"[127.0.0.1]:{servers['rekeyed'].port} {impostor.with_suffix('.pub').read_text()}"
    )
    (tmp_path / "known_hosts").write_text("".join(known))
    inventory = write_inventory(tmp_path, servers, client_key)
    state = tmp_path / "agent"
    agent_id = enroll_agent(server, state)
    config = write_agent_config(tmp_path / "agent.yaml", server.url)
    run = subprocess.Popen(
        dossier_argv(
            *inventory_run(inventory, state, config),
            "--ship",
            "--concurrency",
            "1",
            "--json",
            *ONLY,
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Targets go in inventory order one at a time: once the first chain exists in the
    # spool, the run is under way and the last target goes down.
    deadline = time.monotonic() + 60
    while not any((state / "spool").glob("*/*.json")) and time.monotonic() < deadline:
        time.sleep(0.05)
    servers["stopped"].stop()
    stdout, stderr = run.communicate(timeout=180)
    for ssh_server in servers.values():
        ssh_server.stop()
    assert run.returncode == 1, stderr
    report = json.loads(stdout)
    assert sorted(report["failed"]) == ["rekeyed", "stopped"]
    details = {t["name"]: t["detail"] for t in report["targets"]}
    impostor_fp = subprocess.run(
        ["ssh-keygen", "-lf", str(impostor.with_suffix(".pub"))],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[1]
    assert "HOST KEY CHANGED" in details["rekeyed"] and impostor_fp in details["rekeyed"]
    assert "cannot connect" in details["stopped"]
    assert report["shipped"] == 3 and report["spooled"] == 0

    # Three targets, three chains of one bundle each, signed by the collecting agent.
    stored = [h for h in server.admin_get("/hosts")["hosts"] if h["agent_id"] == agent_id]
    assert len(stored) == 3 and all(h["bundles"] == 1 for h in stored)
    agent = next(a for a in server.admin_get("/agents")["agents"] if a["id"] == agent_id)
    key = PublicKey.from_b64(agent["public_key"])
    names = set()
    for target in report["targets"]:
        if target["bundle_id"] is None:
            continue
        blob = server.data.blobs / "sha256" / target["bundle_id"][:2] / target["bundle_id"]
        bundle = verify_bundle(dsse.parse(blob.read_bytes()), key)
        assert bundle.payload.seq == 1 and bundle.payload.agent_id == agent_id
        assert {r.collector for r in bundle.payload.records} == {
            "access.accounts",
            "patch.packages",
            "inventory.system",
        }
        names.add(target["name"])
    assert names == {"web01", "db01", "app01"}
    assert server.admin_get("/findings")["findings"] == []

    # A second run extends each reachable target's own chain.
    again = {
        name: start_sshd(
            tmp_path / f"{name}-2",
            client_key=client_key,
            host_key=servers[name].host_key,
            port=servers[name].port,
            namespace=namespaces.get(name),
        )
        for name in ("web01", "db01")
    }
    started.extend(again.values())
    inventory2 = write_inventory(tmp_path, again, client_key)
    out = dossier(
        "collect",
        "--inventory",
        str(inventory2),
        "--state",
        str(state),
        "--config",
        str(config),
        "--ship",
        "--json",
        *ONLY,
    )
    second = json.loads(out.stdout)
    assert second["failed"] == [] and [t["seq"] for t in second["targets"]] == [2, 2]
    assert server.admin_get("/findings")["findings"] == []


def test_inventory_errors_name_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text("hosts:\n  - name: a\n    host: h\n    prot: 22\n")
    result = dossier("collect", "--inventory", str(path), "--out-dir", str(tmp_path), check=False)
    assert result.returncode == 2
    assert f"{path}: key 'hosts.0.prot'" in result.stderr
    path.write_text("hosts:\n  - {name: a, host: h}\n  - {name: a, host: g}\n")
    result = dossier("collect", "--inventory", str(path), "--out-dir", str(tmp_path), check=False)
    assert "appears twice" in result.stderr
    path.write_text("hosts:\n  - {name: a, host: h}\n")
    result = dossier("collect", "--inventory", str(path), "--out-dir", str(tmp_path), check=False)
    assert result.returncode == 2 and "no known_hosts file" in result.stderr


def test_out_dir_bundles_verify_offline(tmp_path: Path) -> None:
    client_key = keygen(tmp_path / "client_ed25519")
    servers = {"solo": start_sshd(tmp_path / "solo", client_key=client_key)}
    try:
        (tmp_path / "known_hosts").write_text(servers["solo"].host_key_line())
        inventory = write_inventory(tmp_path, servers, client_key)
        out_dir = tmp_path / "out"
        result = dossier(
            "collect",
            "--inventory",
            str(inventory),
            "--out-dir",
            str(out_dir),
            "--json",
            "--only",
            "access.accounts",
        )
    finally:
        servers["solo"].stop()
    report = json.loads(result.stdout)
    bundle_file = next(out_dir.glob("h-*.json"))
    key = PublicKey.from_b64((out_dir / "collector.pub").read_text().strip())
    bundle = verify_bundle(dsse.parse(bundle_file.read_bytes()), key)
    assert bundle.bundle_id == report["targets"][0]["bundle_id"]


def test_example_inventory_loads_with_paths_beside_it() -> None:
    from agent.inventory import load_inventory

    example = Path(__file__).resolve().parents[2] / "configs" / "inventory.example.yaml"
    targets = load_inventory(example).targets(example.parent, ["ot"])
    assert [(t.name, t.port, t.user, t.sudo) for t in targets] == [
        ("legacy-scada-hmi", 2222, "audit", False)
    ]
    assert targets[0].known_hosts == example.parent / "known_hosts"


def test_a_full_spool_fails_that_target_and_the_run_goes_on(
    server: RunningServer, tmp_path: Path
) -> None:
    state = tmp_path / "agent"
    enroll_agent(server, state)
    config = write_agent_config(tmp_path / "agent.yaml", server.url, spool={"max_bytes": 100})
    client_key = keygen(tmp_path / "client_ed25519")
    servers = {"solo": start_sshd(tmp_path / "solo", client_key=client_key)}
    try:
        (tmp_path / "known_hosts").write_text(servers["solo"].host_key_line())
        inventory = write_inventory(tmp_path, servers, client_key)
        result = dossier(
            *inventory_run(inventory, state, config),
            "--json",
            "--only",
            "access.accounts",
            check=False,
        )
    finally:
        servers["solo"].stop()
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["failed"] == ["solo"]
    [target] = report["targets"]
    assert (
        not target["ok"] and "new bundle of" in target["detail"] and "refused" in target["detail"]
    )
    assert "Traceback" not in result.stderr
