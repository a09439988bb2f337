"""Every collector on a real debootstrapped Debian tree with planted misconfigurations.

The same tree is also remediated in a second copy: each finding must track the files
(reported where planted, gone where fixed), so a report cannot be a constant.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from collectors.host import RootHost
from collectors.registry import all_collectors
from evidence.records import EvidenceRecord
from tests.collectors.support import PLANTED
from tests.debian_root import copy_tree, debian_tree


def _set_line(path: Path, pattern: str, line: str) -> None:
    text = path.read_text()
    text, count = re.subn(pattern, line, text, flags=re.MULTILINE)
    assert count >= 1, f"{pattern} not in {path}"
    path.write_text(text)


def plant(root: Path) -> None:
    etc = root / "etc"
    with (etc / "passwd").open("a") as passwd:
        passwd.write((PLANTED / "passwd-extra").read_text())
    with (etc / "shadow").open("a") as shadow:
        shadow.write((PLANTED / "shadow-extra").read_text())
    (etc / "ssh" / "sshd_config.d" / "50-planted.conf").write_text("PermitRootLogin yes\n")
    _set_line(etc / "login.defs", r"^PASS_MAX_DAYS\s.*$", "PASS_MAX_DAYS\t99999")
    _set_line(etc / "logrotate.d" / "rsyslog", r"^\s*rotate \d+$", "\trotate 4")
    _set_line(etc / "logrotate.d" / "rsyslog", r"^\s*(daily|weekly|monthly)$", "\tweekly")


def remediate(root: Path) -> None:
    etc = root / "etc"
    (etc / "ssh" / "sshd_config.d" / "50-hardening.conf").write_text("PermitRootLogin no\n")
    _set_line(etc / "login.defs", r"^PASS_MAX_DAYS\s.*$", "PASS_MAX_DAYS\t90")
    _set_line(etc / "logrotate.d" / "rsyslog", r"^\s*rotate \d+$", "\trotate 26")


def collect_all(root: Path) -> dict[str, EvidenceRecord]:
    host = RootHost(root)
    return {name: spec.collect(host) for name, spec in all_collectors().items()}


@pytest.fixture(scope="module")
def trees(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, EvidenceRecord]]:
    base = debian_tree()
    planted = copy_tree(base, tmp_path_factory.mktemp("planted") / "root")
    plant(planted)
    fixed = copy_tree(base, tmp_path_factory.mktemp("fixed") / "root")
    remediate(fixed)
    return {"planted": collect_all(planted), "fixed": collect_all(fixed)}


def facts(trees: dict[str, dict[str, EvidenceRecord]], tree: str, name: str) -> dict[str, Any]:
    return trees[tree][name].facts


def test_every_collector_runs_on_the_tree(trees: dict[str, dict[str, EvidenceRecord]]) -> None:
    for tree in ("planted", "fixed"):
        assert set(trees[tree]) == set(all_collectors())
        for name, record in trees[tree].items():
            assert not [e for e in record.errors if "collector crashed" in e], (tree, name)
            assert record.facts, (tree, name)


def test_extra_uid0_and_empty_password(trees: dict[str, dict[str, EvidenceRecord]]) -> None:
    planted = facts(trees, "planted", "access.accounts")
    assert planted["uid0_accounts"] == ["root", "toor"]
    assert planted["empty_password_accounts"] == ["emptyuser"]
    fixed = facts(trees, "fixed", "access.accounts")
    assert fixed["uid0_accounts"] == ["root"] and fixed["empty_password_accounts"] == []


def test_permit_root_login(trees: dict[str, dict[str, EvidenceRecord]]) -> None:
    planted = facts(trees, "planted", "configuration.sshd")
    assert planted["source"] == "sshd_config"
    assert planted["settings"]["permitrootlogin"] == "yes"
    assert facts(trees, "fixed", "configuration.sshd")["settings"]["permitrootlogin"] == "no"


def test_password_max_age(trees: dict[str, dict[str, EvidenceRecord]]) -> None:
    assert facts(trees, "planted", "configuration.auth_policy")["login_defs"]["pass_max_days"] == (
        99999
    )
    assert facts(trees, "fixed", "configuration.auth_policy")["login_defs"]["pass_max_days"] == 90


def test_log_retention_of_four_weeks(trees: dict[str, dict[str, EvidenceRecord]]) -> None:
    def auth_log(tree: str) -> dict[str, Any]:
        key_logs = facts(trees, tree, "logging.logrotate")["key_logs"]
        return next(log for log in key_logs if log["path"] == "/var/log/auth.log")

    assert (auth_log("planted")["retention_days"], auth_log("planted")["meets_180_days"]) == (
        28,
        False,
    )
    assert (auth_log("fixed")["retention_days"], auth_log("fixed")["meets_180_days"]) == (
        182,
        True,
    )
