"""logging.audit: audit rules, auditctl output and auditd.conf from real samples, a
planted Debian tree, and this machine."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import psutil
import pytest
from hypothesis import given
from hypothesis import strategies as st

from collectors.host import LocalHost, RootHost
from collectors.logs.audit import (
    RuleSummary,
    auditd_conf_facts,
    covers,
    loaded_count_text,
    parse_auditd_conf,
    parse_rules,
    parse_status,
    summarise,
)
from evidence.canonical import canonical_json
from tests.collectors.support import FIXTURES, NoPsutilLocalHost, collect, file_sources
from tests.debian_root import copy_tree, debian_tree

LOGGING = FIXTURES / "logging"
EXAMPLES = "usr/share/doc/auditd/examples/rules"


def summary_of(name: str) -> RuleSummary:
    text = (LOGGING / name).read_text()
    return summarise(parse_rules(loaded_count_text(text)), [name], text)


def test_stig_example_rules() -> None:
    summary = summary_of("auditd-example-30-stig.rules")
    assert summary.rule_count == 34  # 22 syscall rules and 12 watches
    assert {"time-change", "identity", "perm_mod", "access", "delete", "actions"} <= set(
        summary.keys
    )
    assert summary.critical_watches == {
        "/etc/passwd": True,
        "/etc/shadow": True,
        "/etc/group": True,
        "/etc/gshadow": True,
        "/etc/sudoers": True,
        "/etc/sudoers.d": True,
    }
    assert summary.audits_time_change is True
    assert summary.audits_execve is False
    assert "/etc/NetworkManager/" in summary.watched_paths
    assert summary.immutable is False


def test_loaded_rules_from_auditctl() -> None:
    summary = summary_of("auditctl-l.txt")
    assert summary.rule_count == 17
    assert summary.keys == [
        "10.2.5.b-elevated-privs-setuid",
        "identity",
        "system-locale",
        "time-change",
    ]
    assert summary.audits_execve is True
    assert summary.critical_watches["/etc/sudoers"] is False
    assert summary.critical_watches["/etc/shadow"] is True
    assert summary_of("auditctl-l-no-rules.txt").rule_count == 0


def test_debian_default_rules_are_only_controls() -> None:
    summary = summary_of("debian12-rules.d-audit.rules")
    assert (summary.rule_count, summary.failure_mode, summary.keys) == (0, 1, [])
    assert not any(summary.critical_watches.values())


def test_auditd_conf_of_debian() -> None:
    settings = parse_auditd_conf((LOGGING / "debian12-auditd.conf").read_text())
    conf = auditd_conf_facts(settings)
    assert (conf.log_file, conf.log_format) == ("/var/log/audit/audit.log", "ENRICHED")
    assert (conf.max_log_file, conf.num_logs, conf.max_log_file_action) == (8, 5, "ROTATE")
    assert (conf.space_left_action, conf.admin_space_left_action) == ("SYSLOG", "SUSPEND")
    assert (conf.disk_full_action, conf.disk_error_action) == ("SUSPEND", "SUSPEND")
    assert conf.capacity_mb == 40
    assert conf.retention_note is not None and "40 MB" in conf.retention_note
    assert "krb5_key_file" not in settings  # commented with "##"


@pytest.mark.parametrize(
    ("changes", "capacity", "phrase"),
    [
        ({"max_log_file_action": "keep_logs"}, None, "until the disk fills"),
        ({"num_logs": "1"}, 8, "at most 8 MB"),
        ({"max_log_file_action": "SUSPEND"}, None, "stops writing"),
        ({"max_log_file": "many"}, None, "rotated"),
    ],
)
def test_auditd_retention_variants(
    changes: dict[str, str], capacity: int | None, phrase: str
) -> None:
    settings = parse_auditd_conf((LOGGING / "debian12-auditd.conf").read_text())
    settings.update(changes)
    conf = auditd_conf_facts(settings)
    assert conf.capacity_mb == capacity
    assert conf.retention_note is not None and phrase in conf.retention_note


def test_watch_coverage_and_status() -> None:
    assert covers("/etc/sudoers.d/", "/etc/sudoers.d")
    assert covers("/etc", "/etc/shadow")
    assert not covers("/etc/sudoers", "/etc/sudoers.d")
    assert not covers("/etc/pass", "/etc/passwd")
    status = "enabled 0\nfailure 1\npid 0\nrate_limit 0\n"  # `auditctl -s` as run in the tree
    assert parse_status(status) == 0
    assert parse_status("") is None


# --- a planted Debian tree ----------------------------------------------------------


def test_debian_tree_defaults() -> None:
    record = collect("logging.audit", RootHost(debian_tree()))
    facts = record.facts
    assert record.errors == ["auditctl -l: commands are not supported on a RootHost"]
    assert (facts["installed"], facts["running"], facts["loaded_rules"]) == (True, None, None)
    assert facts["rules_d"]["sources"] == ["/etc/audit/rules.d/audit.rules"]
    assert facts["rules_d"]["rule_count"] == 0
    assert facts["audit_rules"]["failure_mode"] == 1
    assert facts["config"]["capacity_mb"] == 40


def test_planted_rules(tmp_path: Path) -> None:
    root = copy_tree(debian_tree(), tmp_path / "root")
    rules_d = root / "etc" / "audit" / "rules.d"
    shutil.copy(root / EXAMPLES / "30-stig.rules", rules_d / "30-stig.rules")
    finalize = (root / EXAMPLES / "99-finalize.rules").read_text()
    assert "#-e 2" in finalize
    (rules_d / "99-finalize.rules").write_text(finalize.replace("#-e 2", "-e 2"))
    (rules_d / "README").write_text("-w /etc/passwd -k not-a-rules-file\n")
    conf = root / "etc" / "audit" / "auditd.conf"
    conf.write_text(conf.read_text().replace("num_logs = 5", "num_logs = 20"))
    record = collect("logging.audit", RootHost(root))
    facts = record.facts
    rules = facts["rules_d"]
    assert rules["sources"] == [
        "/etc/audit/rules.d/30-stig.rules",
        "/etc/audit/rules.d/99-finalize.rules",
        "/etc/audit/rules.d/audit.rules",
    ]
    assert rules["rule_count"] == 34
    assert rules["immutable"] is True
    assert "not-a-rules-file" not in rules["keys"]
    assert all(rules["critical_watches"].values())
    # audit.rules was not regenerated by augenrules: it still has no rules.
    assert facts["audit_rules"]["rule_count"] == 0
    assert facts["config"]["capacity_mb"] == 160
    assert set(file_sources(record)) >= set(rules["sources"]) | {"/etc/audit/auditd.conf"}


# --- this machine -------------------------------------------------------------------


def test_local_machine() -> None:
    record = collect("logging.audit", LocalHost())
    facts = record.facts
    assert facts["installed"] == any(
        os.path.exists(p) for p in ("/sbin/auditd", "/usr/sbin/auditd")
    )
    truth = any(p.info["name"] == "auditd" for p in psutil.process_iter(["name"]))
    assert facts["running"] is truth
    if not os.path.isdir("/etc/audit/rules.d"):
        assert facts["rules_d"] is None
    canonical_json(facts)


def test_proc_scan_without_psutil_agrees() -> None:
    record = collect("logging.audit", NoPsutilLocalHost())
    truth = any(p.info["name"] == "auditd" for p in psutil.process_iter(["name"]))
    assert record.facts["running"] is truth
    assert any(path.endswith("/comm") for path in file_sources(record))


# --- property tests -----------------------------------------------------------------

_PIECES = st.sampled_from(
    [
        "-a",
        "-w",
        "-k",
        "-F",
        "-S",
        "-e",
        "-f",
        "key=",
        "path=",
        "dir=",
        "/etc/passwd",
        "2",
        "execve,adjtimex",
        " ",
        "\n",
        "#",
        "always,exit",
        "=",
        "x",
    ]
)
_TEXT = st.one_of(st.text(max_size=300), st.lists(_PIECES, max_size=60).map("".join))


@given(_TEXT)
def test_parsers_total_and_stable(text: str) -> None:
    first = summarise(parse_rules(text), ["x"], text)
    assert first == summarise(parse_rules(text), ["x"], text)
    canonical_json(first.model_dump(mode="json"))
    conf = auditd_conf_facts(parse_auditd_conf(text))
    assert conf == auditd_conf_facts(parse_auditd_conf(text))
    canonical_json(conf.model_dump(mode="json"))
