"""security-software.integrity: aide.conf vs aide itself, Tripwire, Wazuh/OSSEC, a planted tree."""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import psutil
import pytest
from hypothesis import given
from hypothesis import strategies as st

from collectors.host import LocalHost, RootHost
from collectors.security_software.integrity import (
    AIDE_BINARIES,
    OSSEC_PROCESSES,
    parse_aide_conf,
    parse_ossec_managers,
    parse_twcfg,
)
from evidence.canonical import canonical_json
from tests.collectors.support import collect, file_sources

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "secsw"
DAY = 86400


def _aide_says(name: str) -> dict[str, str]:
    """What the real aide 0.18.3 set each database option to (`aide -D -L config`)."""
    text = (FIXTURES / f"aide-{name}.config-check.txt").read_text()
    return {
        key: value.removeprefix("file:")
        for key, value in re.findall(r"set '(database_\w+)' option to '([^']*)'", text)
    }


@pytest.mark.parametrize("name", ["debian", "openeuler"])
def test_aide_conf_database_paths_match_aide(name: str) -> None:
    config = parse_aide_conf((FIXTURES / f"aide-{name}.conf").read_text())
    truth = _aide_says(name)
    assert config.database_in == truth["database_in"]
    assert config.database_out == truth["database_out"]


def test_aide_conf_variables_and_old_keyword() -> None:
    text = "@@define DBDIR /srv/aide\ndatabase=file:@@{DBDIR}/aide.db.gz\n@@undef DBDIR\n"
    assert parse_aide_conf(text).database_in == "/srv/aide/aide.db.gz"
    text += "database_in=file:@@{DBDIR}/other.db\n"  # undefined: left as written
    assert parse_aide_conf(text).database_in == "@@{DBDIR}/other.db"
    assert parse_aide_conf("# nothing\n").database_in is None


def test_twcfg_debian_default() -> None:
    settings = parse_twcfg((FIXTURES / "twcfg.txt").read_text())
    assert settings["DBFILE"] == "/var/lib/tripwire/$(HOSTNAME).twd"
    assert settings["POLFILE"] == "/etc/tripwire/tw.pol"


def test_ossec_manager_addresses() -> None:
    assert parse_ossec_managers((FIXTURES / "ossec-agent.conf").read_text()) == ["192.168.10.100"]
    # Wazuh's shipped agent config carries the placeholder the installer replaces
    assert parse_ossec_managers((FIXTURES / "wazuh-agent.conf").read_text()) == ["IP"]
    commented = "<ossec_config><client><!-- <address>1.2.3.4</address> --></client></ossec_config>"
    assert parse_ossec_managers(commented) == []


# --- a planted tree -------------------------------------------------------------------

CLIENT_KEY = "001 planted-host any 6c3c7e1cbd0f4f0b9a1b53a0e1c9ad5b7c1f2e3d4c5b6a798877665544332211"


def _set_age(path: Path, days: int) -> None:
    moment = time.time() - days * DAY - 60
    os.utime(path, (moment, moment))


def _plant(root: Path) -> Path:
    for directory in ("usr/bin", "usr/sbin", "etc/aide", "var/lib/aide", "var/log/aide"):
        (root / directory).mkdir(parents=True, exist_ok=True)
    (root / "usr/bin/aide").write_bytes(b"")
    shutil.copy(FIXTURES / "aide-debian.conf", root / "etc/aide/aide.conf")
    (root / "var/lib/aide/aide.db").write_bytes(b"\x1f\x8b" + b"\x00" * 100)
    _set_age(root / "var/lib/aide/aide.db", 40)
    (root / "var/log/aide/aide.log").write_text("AIDE found NO differences\n")
    _set_age(root / "var/log/aide/aide.log", 1)
    # Tripwire: the Debian package's files, one database
    (root / "usr/sbin/tripwire").write_bytes(b"")
    (root / "etc/tripwire").mkdir(parents=True)
    shutil.copy(FIXTURES / "twcfg.txt", root / "etc/tripwire/twcfg.txt")
    (root / "etc/tripwire/tw.cfg").write_bytes(b"\x00signed")
    (root / "var/lib/tripwire/report").mkdir(parents=True)
    (root / "var/lib/tripwire/planted-host.twd").write_bytes(b"\x00" * 10)
    _set_age(root / "var/lib/tripwire/planted-host.twd", 400)
    # Wazuh agent: its shipped config with the manager filled in, as the installer does
    (root / "var/ossec/bin").mkdir(parents=True)
    (root / "var/ossec/etc").mkdir(parents=True)
    (root / "var/ossec/bin/wazuh-control").write_bytes(b"")
    config = (
        (FIXTURES / "wazuh-agent.conf")
        .read_text()
        .replace("<address>IP</address>", "<address>10.20.30.40</address>")
    )
    (root / "var/ossec/etc/ossec.conf").write_text(config)
    (root / "var/ossec/etc/client.keys").write_text(CLIENT_KEY + "\n")
    return root


def test_planted_tree(tmp_path: Path) -> None:
    root = _plant(tmp_path / "root")
    record = collect("security-software.integrity", RootHost(root))
    assert record.errors == []
    facts = record.facts
    aide = facts["aide"]
    assert aide["installed"] is True
    assert aide["binary"] == "/usr/bin/aide"
    assert aide["config_path"] == "/etc/aide/aide.conf"
    assert aide["database_path"] == "/var/lib/aide/aide.db"
    assert aide["database_exists"] is True
    assert aide["database"]["age_days"] == 40
    assert aide["database"]["size"] == 102
    assert aide["database_out_path"] == "/var/lib/aide/aide.db.new"
    assert aide["last_report"]["age_days"] == 1
    assert aide["running"] is None  # a tree runs nothing
    tripwire = facts["tripwire"]
    assert tripwire["installed"] is True
    assert tripwire["config_present"] is True
    assert tripwire["policy_present"] is False
    assert [(d["path"], d["age_days"]) for d in tripwire["databases"]] == [
        ("/var/lib/tripwire/planted-host.twd", 400)
    ]
    assert facts["hids"] == {
        "installed": True,
        "product": "wazuh",
        "control_path": "/var/ossec/bin/wazuh-control",
        "config_path": "/var/ossec/etc/ossec.conf",
        "manager_addresses": ["10.20.30.40"],
        "registered": True,
        "running": None,
    }
    assert facts["any_present"] is True
    # the agent key never leaves the host, and the keys file is not even read
    assert "/var/ossec/etc/client.keys" not in file_sources(record)
    text = canonical_json(record.to_json()).decode()
    assert CLIENT_KEY.split()[-1][:16] not in text


def test_aide_installed_without_database(tmp_path: Path) -> None:
    root = _plant(tmp_path / "root")
    (root / "var/lib/aide/aide.db").unlink()
    (root / "var/ossec/etc/client.keys").write_text("")
    facts = collect("security-software.integrity", RootHost(root)).facts
    assert facts["aide"]["database_exists"] is False
    assert facts["aide"]["database"] is None
    assert facts["hids"]["registered"] is False


def test_nothing_installed(tmp_path: Path) -> None:
    record = collect("security-software.integrity", RootHost(tmp_path))
    assert record.errors == []
    facts = record.facts
    assert facts["any_present"] is False
    assert facts["aide"]["database_path"] is None
    assert facts["tripwire"]["databases"] == []
    assert facts["hids"]["manager_addresses"] is None
    assert facts["hids"]["registered"] is None


def test_tripwire_installed_without_database_directory(tmp_path: Path) -> None:
    (tmp_path / "usr/sbin").mkdir(parents=True)
    (tmp_path / "usr/sbin/tripwire").write_bytes(b"")
    record = collect("security-software.integrity", RootHost(tmp_path))
    assert record.facts["tripwire"]["databases"] is None
    assert record.errors == ["/var/lib/tripwire: not found"]


# --- this machine ---------------------------------------------------------------------


def test_local_matches_the_filesystem_and_processes() -> None:
    record = collect("security-software.integrity", LocalHost())
    facts = record.facts
    assert facts["aide"]["installed"] == any(Path(p).exists() for p in AIDE_BINARIES)
    assert facts["tripwire"]["installed"] == Path("/usr/sbin/tripwire").exists()
    assert facts["hids"]["installed"] == (
        Path("/var/ossec/bin/wazuh-control").exists()
        or Path("/var/ossec/bin/ossec-control").exists()
        or Path("/var/ossec/etc/ossec.conf").exists()
    )
    names = {p.info["name"] for p in psutil.process_iter(["name"])}
    assert facts["hids"]["running"] == bool(names & set(OSSEC_PROCESSES))
    assert facts["aide"]["running"] == ("aide" in names)
    assert record.errors == []


# --- property tests -------------------------------------------------------------------


@given(st.text())
def test_parsers_never_raise(text: str) -> None:
    assert parse_aide_conf(text) == parse_aide_conf(text)
    assert parse_twcfg(text) == parse_twcfg(text)
    managers = parse_ossec_managers(text)
    assert managers == parse_ossec_managers(text)
    canonical_json(managers)
