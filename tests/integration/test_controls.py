"""Controls end to end: real trees collected through RootHost, ingested by a real
server, evaluated on ingest; freshness, as-of, significant changes, documents."""

from __future__ import annotations

import json
import re
import shutil
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.collectors.support import PLANTED
from tests.conftest import RunningServer, dossier, enroll_agent, make_server, write_agent_config
from tests.controls.test_catalog import CATALOG, CHECK
from tests.debian_root import copy_tree, debian_tree

# The checks that must fail because of what is planted, each with the value it must have
# observed (None: checked by status only). The planted accounts (tests/fixtures/planted)
# carry several faults each: toor is a second uid 0 (so uid 0 is also shared) with an
# md5crypt password that never expires; legacy has a DES hash; none has ever logged in.
PLANTED_FAILURES: dict[str, Any] = {
    "accounts.uid0_only_root": ["root", "toor"],
    "accounts.only_root_uid0": ["root", "toor"],  # the sector's own check, same fact
    "accounts.unique_uids": {"0": ["root", "toor"]},
    "accounts.system_accounts_no_password_login": None,
    "accounts.strong_password_hashes": None,
    "accounts.password_max_age": None,
    "accounts.no_dormant_accounts": None,
    "accounts.no_empty_passwords": ["emptyuser"],
    "ssh.root_login_disabled": "yes",
    "ssh.no_empty_passwords": "yes",
    "auth.pass_max_days": 99999,
    "sudo.no_nopasswd_all": ["%wheel"],
    "services.no_cleartext_remote_shell": None,  # observed: the telnet server found
    "patch.reboot_not_pending": True,
    "logs.rotation_keeps_180_days": None,
    "files.credential_files_not_world_readable": None,
}


def _set(path: Path, pattern: str, line: str) -> None:
    text, count = re.subn(pattern, line, path.read_text(), flags=re.MULTILINE)
    assert count, f"{pattern} not in {path}"
    path.write_text(text)


def harden(root: Path, machine_id: str) -> Path:
    """The baseline both trees share: what a hardened Debian host looks like."""
    etc = root / "etc"
    (etc / "machine-id").write_text(machine_id + "\n")
    _set(etc / "login.defs", r"^PASS_MAX_DAYS\s.*$", "PASS_MAX_DAYS\t90")
    _set(etc / "logrotate.d" / "rsyslog", r"^\s*rotate \d+$", "\trotate 26")
    return root


def plant(root: Path) -> None:
    etc = root / "etc"
    with (etc / "passwd").open("a") as passwd:
        passwd.write((PLANTED / "passwd-extra").read_text())
    with (etc / "shadow").open("a") as shadow:
        shadow.write((PLANTED / "shadow-extra").read_text())
    (etc / "ssh" / "sshd_config.d" / "50-planted.conf").write_text(
        "PermitRootLogin yes\nPermitEmptyPasswords yes\n"
    )
    _set(etc / "login.defs", r"^PASS_MAX_DAYS\s.*$", "PASS_MAX_DAYS\t99999")
    _set(etc / "logrotate.d" / "rsyslog", r"^\s*rotate \d+$", "\trotate 4")
    (etc / "sudoers.d" / "wheel").write_text("%wheel ALL=(ALL) NOPASSWD: ALL\n")
    (etc / "shadow").chmod(0o644)
    telnetd = root / "usr" / "sbin" / "in.telnetd"
    shutil.copy(root / "usr" / "bin" / "true", telnetd)
    # /var/run is an absolute symlink to /run: plant under the tree's own run/.
    (root / "run" / "reboot-required").write_text("*** System restart required ***\n")


@dataclass
class Fleet:
    server: RunningServer
    state: Path
    config: Path
    clean: Path
    planted: Path


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    base = tmp_path_factory.mktemp("controls")
    data = base / "server"
    server = make_server(data)
    # A sector's own framework with a short window, to watch freshness in real time.
    sector = data / "sector"
    (sector / "frameworks").mkdir(parents=True)
    (sector / "checks").mkdir()
    (sector / "frameworks" / "sector-x.yaml").write_text(
        yaml.safe_dump(CATALOG, allow_unicode=True)
    )
    (sector / "checks" / "x.yaml").write_text(
        yaml.safe_dump([{**CHECK, "freshness": "4s"}], allow_unicode=True)
    )
    server.stop()
    (data / "server.yaml").write_text(json.dumps({"controls_dirs": ["sector"]}))
    server.start()
    state = base / "agent"
    enroll_agent(server, state)
    config = write_agent_config(base / "agent.yaml", server.url)
    tree = debian_tree()
    clean = harden(copy_tree(tree, base / "clean"), "c1ea0000000000000000000000000001")
    planted = harden(copy_tree(tree, base / "planted"), "b1a70000000000000000000000000002")
    plant(planted)
    yield Fleet(server, state, config, clean, planted)
    server.stop()


def collect(fleet: Fleet, root: Path, *only: str) -> dict[str, Any]:
    args = [arg for name in only for arg in ("--only", name)]
    out = dossier(
        "collect",
        "--root",
        str(root),
        "--state",
        str(fleet.state),
        "--config",
        str(fleet.config),
        "--ship",
        "--json",
        *args,
    )
    return json.loads(out.stdout)


def checks_of(fleet: Fleet, host_id: str, **params: str) -> dict[str, dict[str, Any]]:
    result = fleet.server.admin_get(f"/hosts/{host_id}/checks", **params)
    return {c["check_id"]: c for c in result["checks"]}


def test_planted_misconfigurations_fail_exactly_the_expected_checks(fleet: Fleet) -> None:
    clean_host = collect(fleet, fleet.clean)["host"]["id"]
    planted_host = collect(fleet, fleet.planted)["host"]["id"]
    clean, planted = checks_of(fleet, clean_host), checks_of(fleet, planted_host)
    newly_failing = {
        check_id
        for check_id, result in planted.items()
        if result["status"] == "fail" and clean[check_id]["status"] != "fail"
    }
    assert newly_failing == set(PLANTED_FAILURES)
    for check_id, observed in PLANTED_FAILURES.items():
        assert clean[check_id]["status"] == "pass", (check_id, clean[check_id]["reason"])
        result = planted[check_id]
        if observed is not None:
            assert result["observed"] == observed, (check_id, result)
        evidence = result["evidence"]
        record = fleet.server.admin_get(f"/hosts/{planted_host}/evidence")["records"]
        assert any(
            r["bundle_id"] == evidence["bundle_id"]
            and r["record_index"] == evidence["record_index"]
            for r in record
        ), check_id
    # Nothing planted made a check stop being decidable or applicable.
    assert {c for c, r in planted.items() if r["status"] == "error"} == {
        c for c, r in clean.items() if r["status"] == "error"
    }


def names(observed: list[dict[str, Any]]) -> set[str]:
    return {account["name"] for account in observed}


def test_account_failures_name_the_accounts(fleet: Fleet) -> None:
    host = collect(fleet, fleet.planted, "access.accounts")["host"]["id"]
    checks = checks_of(fleet, host)
    assert names(checks["accounts.strong_password_hashes"]["observed"]) == {"toor", "legacy"}
    assert names(checks["accounts.system_accounts_no_password_login"]["observed"]) == {"toor"}


def test_freshness_stale_then_no_evidence(fleet: Fleet) -> None:
    host = collect(fleet, fleet.clean, "access.accounts")["host"]["id"]
    assert checks_of(fleet, host)["accounts.only_root_uid0"]["status"] == "pass"
    time.sleep(5)  # past the sector check's 4 s window
    # The host keeps reporting, but not this check's collector: its evidence is stale.
    collect(fleet, fleet.clean, "inventory.system")
    stale = checks_of(fleet, host)["accounts.only_root_uid0"]
    assert stale["status"] == "stale" and "older than the 4s window" in stale["reason"]
    # Later, with nothing new from the host at all, there is no evidence.
    later = datetime.fromtimestamp(time.time() + 10, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    silent = checks_of(fleet, host, as_of=later)["accounts.only_root_uid0"]
    assert silent["status"] == "no_evidence" and "host silent since" in silent["reason"]


def status_of(fleet: Fleet, framework: str, **params: str) -> dict[str, Any]:
    return fleet.server.admin_get("/status", framework=framework, **params)


def test_status_as_of_a_past_moment_equals_what_was_computed_then(fleet: Fleet) -> None:
    collect(fleet, fleet.clean)
    collect(fleet, fleet.planted)
    time.sleep(1.1)
    then = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    at_the_time = status_of(fleet, "mlps2-l3", as_of=then)
    time.sleep(1.1)
    # The planted host is fixed afterwards: root login closed, the second uid 0 gone.
    # cp -a (copy_tree), never shutil.copytree: the tree's /dev holds device nodes.
    fixed = copy_tree(fleet.planted, fleet.planted.parent / "planted-fixed")
    (fixed / "etc" / "ssh" / "sshd_config.d" / "50-planted.conf").write_text("")
    passwd = (fixed / "etc" / "passwd").read_text().replace("toor:x:0:0:", "toor:x:4242:0:")
    (fixed / "etc" / "passwd").write_text(passwd)
    collect(fleet, fixed)
    now = status_of(fleet, "mlps2-l3")
    assert status_of(fleet, "mlps2-l3", as_of=then) == at_the_time

    def control(report: dict[str, Any], control_id: str) -> dict[str, Any]:
        return next(c for c in report["controls"] if c["id"] == control_id)

    before = control(at_the_time, "8.1.4.1.c")
    after = control(now, "8.1.4.1.c")
    assert before["hosts_failing"] > after["hosts_failing"] or before["checks"] != after["checks"]
    root_login = [
        c for c in control(now, "8.1.4.1.c")["checks"] if c["check_id"] == "ssh.root_login_disabled"
    ]
    assert {c["status"] for c in root_login} == {"pass"}
    earlier_root_login = [c for c in before["checks"] if c["check_id"] == "ssh.root_login_disabled"]
    assert "fail" in {c["status"] for c in earlier_root_login}


def test_significant_changes_between_two_collections(fleet: Fleet, tmp_path: Path) -> None:
    tree = copy_tree(fleet.clean, tmp_path / "changing")
    (tree / "etc" / "machine-id").write_text("cafe0000000000000000000000000003\n")
    proc_net = tree / "proc" / "net"
    proc_net.mkdir(parents=True, exist_ok=True)

    def snapshot_sockets() -> None:
        for name in ("tcp", "tcp6", "udp", "udp6"):
            (proc_net / name).write_bytes(Path(f"/proc/net/{name}").read_bytes())

    snapshot_sockets()
    first = collect(fleet, tree, "configuration.services", "access.accounts")
    assert first["seq"] >= 1
    time.sleep(1.1)
    since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        snapshot_sockets()  # the real kernel table, now with our listener
    with (tree / "etc" / "passwd").open("a") as passwd:
        passwd.write("backdoor:x:0:0::/root:/bin/sh\n")
    collect(fleet, tree, "configuration.services", "access.accounts")
    changes = fleet.server.admin_get("/changes", since=since)["changes"]
    mine = [c for c in changes if c["host_id"] == first["host"]["id"]]
    assert sorted(c["kind"] for c in mine) == ["new_listening_service", "new_uid0_account"]
    service = next(c for c in mine if c["kind"] == "new_listening_service")
    assert service["after"]["port"] == port and f"port {port}" in service["summary"]
    account = next(c for c in mine if c["kind"] == "new_uid0_account")
    assert account["summary"] == "account backdoor now has uid 0"
    assert account["before_evidence"]["bundle_id"] != account["after_evidence"]["bundle_id"]
    # The CLI says the same from the data directory.
    out = dossier("changes", "--data", str(fleet.server.data.root), "--since", since, "--json")
    cli = [c for c in json.loads(out.stdout)["changes"] if c["host_id"] == first["host"]["id"]]
    assert sorted(c["kind"] for c in cli) == ["new_listening_service", "new_uid0_account"]


def test_documents_count_until_they_expire(fleet: Fleet, tmp_path: Path) -> None:
    report = status_of(fleet, "cii-2021")
    assert next(c for c in report["controls"] if c["id"] == "Art.17")["status"] != "pass"
    assessment = tmp_path / "risk-assessment-2026.pdf"
    assessment.write_bytes(b"%PDF-1.7 annual cybersecurity test and risk assessment\n")
    valid_until = datetime.now(UTC).date() + timedelta(days=365)
    out = dossier(
        "documents",
        "add",
        "--data",
        str(fleet.server.data.root),
        "--framework",
        "cii-2021",
        "--control",
        "Art.13",
        "--type",
        "policy",
        "--file",
        str(assessment),
        "--valid-until",
        valid_until.isoformat(),
        "--by",
        "auditor-li",
    )
    stored = json.loads(out.stdout)
    assert stored["uploaded_by"] == "auditor-li" and len(stored["sha256"]) == 64
    art13 = next(c for c in status_of(fleet, "cii-2021")["controls"] if c["id"] == "Art.13")
    assert art13["status"] == "pass" and art13["documents"] == {"valid": 1, "expired": 0}
    # The day after its validity ends, the control says the document expired.
    as_of = (valid_until + timedelta(days=1)).isoformat()
    expired = next(
        c for c in status_of(fleet, "cii-2021", as_of=as_of)["controls"] if c["id"] == "Art.13"
    )
    assert expired["status"] == "document_expired"
    # Through the API, with a precise refusal for a control that takes no documents.
    refused = fleet.server.post(
        "/documents",
        params={
            "framework": "mlps2-l3",
            "control": "8.1.4.1.b",
            "type": "policy",
            "valid_until": "2030-01-01",
            "filename": "x.pdf",
            "uploaded_by": "li",
        },
        data=b"content",
        headers={"Authorization": f"Bearer {fleet.server.admin_token}"},
    )
    assert refused.status_code == 422 and "not documents" in refused.json()["detail"]
    listed = fleet.server.admin_get("/documents", control="Art.13")["documents"]
    assert [d["sha256"] for d in listed] == [stored["sha256"]]


def test_status_cli_prints_every_control(fleet: Fleet) -> None:
    out = dossier(
        "status", "--data", str(fleet.server.data.root), "--framework", "mlps2-l3", "--json"
    )
    report = json.loads(out.stdout)
    assert len(report["controls"]) == 103 and report["framework"]["id"] == "mlps2-l3"
    table = dossier("status", "--data", str(fleet.server.data.root), "--framework", "cii-2021")
    assert "Art.17" in table.stdout
    unknown = dossier(
        "status", "--data", str(fleet.server.data.root), "--framework", "nist", check=False
    )
    assert unknown.returncode == 2 and "unknown framework nist" in unknown.stderr


def test_changed_checks_are_applied_to_stored_evidence(fleet: Fleet) -> None:
    host = collect(fleet, fleet.clean, "access.accounts")["host"]["id"]
    assert checks_of(fleet, host)["accounts.only_root_uid0"]["status"] == "pass"
    time.sleep(1.1)
    before_change = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    checks_file = fleet.server.data.root / "sector" / "checks" / "x.yaml"
    original = checks_file.read_text()
    stricter = {
        **CHECK,
        "freshness": "1h",
        "condition": {"path": "facts.uid0_accounts", "equals": []},
    }
    try:
        checks_file.write_text(yaml.safe_dump([stricter], allow_unicode=True))
        fleet.server.stop()
        fleet.server.start()  # no new evidence: the server re-decides what it holds
        changed = checks_of(fleet, host)["accounts.only_root_uid0"]
        assert changed["status"] == "fail" and changed["observed"] == ["root"]
        # What was true before the change is still what it was.
        earlier = checks_of(fleet, host, as_of=before_change)["accounts.only_root_uid0"]
        assert earlier["status"] == "pass"
        # The CLI, reading the data dir, sees the same without re-deciding again.
        out = dossier(
            "status", "--data", str(fleet.server.data.root), "--framework", "sector-x", "--json"
        )
        control = next(c for c in json.loads(out.stdout)["controls"] if c["id"] == "X.1.a")
        assert control["status"] == "fail"
    finally:
        checks_file.write_text(original)
        fleet.server.stop()
        fleet.server.start()
    # Back to the original rule (and its 4 s window, so with fresh evidence).
    collect(fleet, fleet.clean, "access.accounts")
    assert checks_of(fleet, host)["accounts.only_root_uid0"]["status"] == "pass"
