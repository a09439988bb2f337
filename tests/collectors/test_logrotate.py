"""logging.logrotate: parser and retention on real Debian/RHEL files, a planted tree."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collectors.host import LocalHost, RootHost
from collectors.logs.logrotate import (
    BlockStep,
    Directive,
    IncludeStep,
    ParsedBlock,
    RotationSettings,
    Settings,
    glob_match,
    make_block,
    parse_logrotate,
    parse_size,
    replay,
    retention,
    rotation_settings,
)
from evidence.canonical import canonical_json
from tests.collectors.support import FIXTURES, collect, file_sources, sha256_file
from tests.debian_root import copy_tree, debian_tree

LOGGING = FIXTURES / "logging"
DEBIAN_D = LOGGING / "debian12-logrotate.d"


def resolve_fixture(main: str, included: dict[str, str]) -> tuple[list[ParsedBlock], Settings]:
    """Replay a main file whose `include` targets are fixture texts by path."""
    blocks: list[ParsedBlock] = []

    def include(path: str, settings_: Settings) -> Settings:
        for name in sorted(p for p in included if p.startswith(path)):
            settings_ = replay(parse_logrotate(included[name]), name, settings_, include, blocks)
        return settings_

    final = replay(parse_logrotate(main), "/etc/logrotate.conf", Settings(), include, blocks)
    return blocks, final


def debian_blocks() -> tuple[list[ParsedBlock], Settings]:
    included = {f"/etc/logrotate.d/{p.name}": p.read_text() for p in DEBIAN_D.iterdir()}
    return resolve_fixture((LOGGING / "debian12-logrotate.conf").read_text(), included)


def test_debian_main_file_steps() -> None:
    steps = parse_logrotate((LOGGING / "debian12-logrotate.conf").read_text())
    assert steps == [
        Directive("weekly", None),
        Directive("rotate", "4"),
        Directive("create", None),
        IncludeStep("/etc/logrotate.d"),
    ]


def test_debian_rsyslog_block_spans_lines() -> None:
    steps = parse_logrotate((DEBIAN_D / "rsyslog").read_text())
    assert len(steps) == 1 and isinstance(steps[0], BlockStep)
    assert steps[0].patterns == (
        "/var/log/syslog",
        "/var/log/mail.log",
        "/var/log/kern.log",
        "/var/log/auth.log",
        "/var/log/user.log",
        "/var/log/cron.log",
    )
    names = [d.name for d in steps[0].directives]
    assert names == [
        "rotate",
        "weekly",
        "missingok",
        "notifempty",
        "compress",
        "delaycompress",
        "sharedscripts",
    ]  # the postrotate script line is skipped


def test_debian_retention_per_block() -> None:
    blocks, final = debian_blocks()
    summary = {
        tuple(b.patterns): (
            make_block(b).settings.period,
            make_block(b).settings.rotate,
            make_block(b).retention.days,
        )
        for b in blocks
    }
    assert summary[("/var/log/alternatives.log",)] == ("monthly", 12, 360)
    assert summary[("/var/log/apt/term.log",)] == ("monthly", 12, 360)
    assert summary[("/var/log/btmp",)] == ("monthly", 1, 30)
    assert summary[("/var/log/chrony/*.log",)] == ("weekly", 4, 28)  # global defaults
    assert summary[("/var/log/dpkg.log",)] == ("monthly", 12, 360)
    assert summary[("/var/log/wtmp",)] == ("monthly", 1, 30)
    rsyslog = next(b for b in blocks if "/var/log/auth.log" in b.patterns)
    assert make_block(rsyslog).settings.compress is True
    assert make_block(rsyslog).retention.days == 28
    wtmp = make_block(next(b for b in blocks if b.patterns == ["/var/log/wtmp"]))
    assert (wtmp.settings.trigger, wtmp.settings.minsize) == ("time_and_size", 1 << 20)
    assert (final.period, final.rotate) == ("weekly", 4)


def test_rhel_block_without_period_uses_logrotate_defaults() -> None:
    steps = parse_logrotate((LOGGING / "rhel-logrotate.d-rsyslog").read_text())
    assert isinstance(steps[0], BlockStep) and "/var/log/secure" in steps[0].patterns
    blocks: list[ParsedBlock] = []
    replay(steps, "/etc/logrotate.d/rsyslog", Settings(), lambda p, s: s, blocks)
    block = make_block(blocks[0])
    # logrotate's built-in default: rotate by size (1 MiB), keep 0 copies.
    assert (block.settings.trigger, block.settings.size, block.settings.rotate) == (
        "size",
        1 << 20,
        0,
    )
    assert block.retention.days == 0
    # Under RHEL's logrotate.conf globals (weekly, rotate 4) the same block keeps 28 days.
    blocks = []
    globals_ = Settings(period="weekly", by_size=False, rotate=4)
    replay(steps, "/etc/logrotate.d/rsyslog", globals_, lambda p, s: s, blocks)
    assert make_block(blocks[0]).retention.days == 28


def settings_of(**changes: object) -> RotationSettings:
    base: dict[str, object] = {
        "period": "daily",
        "trigger": "time",
        "rotate": 7,
        "maxage": None,
        "size": None,
        "minsize": None,
        "maxsize": None,
        "compress": False,
        "missingok": False,
        "dateext": False,
    }
    base.update(changes)
    return RotationSettings.model_validate(base)


@pytest.mark.parametrize(
    ("changes", "days", "unbounded"),
    [
        ({}, 7, False),
        ({"rotate": 0}, 0, False),
        ({"period": "weekly", "rotate": 26}, 182, False),
        ({"period": "monthly", "rotate": 6}, 180, False),
        ({"period": "yearly", "rotate": 1}, 365, False),
        ({"period": "hourly", "rotate": 48}, 2, False),
        ({"rotate": 365, "maxage": 90}, 90, False),
        ({"rotate": -1}, None, True),
        ({"rotate": -1, "maxage": 200}, 200, False),
        ({"trigger": "size", "period": None, "size": 1 << 20}, None, False),
        ({"trigger": "time_or_size", "maxsize": 1 << 20}, None, False),
        ({"trigger": "time_and_size", "minsize": 1 << 20}, 7, False),
    ],
)
def test_retention(changes: dict[str, object], days: int | None, unbounded: bool) -> None:
    result = retention(settings_of(**changes))
    assert (result.days, result.unbounded) == (days, unbounded)


def test_last_of_size_and_period_wins() -> None:
    text = "/var/log/a {\n daily\n size 10M\n rotate 3\n}\n/var/log/b {\n size 10M\n weekly\n}\n"
    blocks: list[ParsedBlock] = []
    replay(parse_logrotate(text), "/x", Settings(), lambda p, s: s, blocks)
    a, b = (make_block(block) for block in blocks)
    assert (a.settings.trigger, a.settings.size, a.retention.days) == ("size", 10 << 20, None)
    assert (b.settings.trigger, b.settings.period) == ("time", "weekly")


def test_sizes_and_globs() -> None:
    assert parse_size("100k") == 102400 and parse_size("10M") == 10 << 20
    assert parse_size("1G") == 1 << 30 and parse_size("4096") == 4096
    assert parse_size("ten") is None
    assert glob_match("/var/log/chrony/*.log", "/var/log/chrony/measurements.log")
    assert not glob_match("/var/log/chrony/*.log", "/var/log/chrony/old/x.log")
    assert glob_match("/var/log/*log", "/var/log/syslog")
    assert not glob_match("/var/log/auth.log", "/var/log/auth.log.1")


def test_quoted_paths_and_brace_on_path_line() -> None:
    text = '"/var/log/my app/*.log" /var/log/other.log {\n  monthly\n  rotate 6\n}\n'
    steps = parse_logrotate(text)
    assert steps == [
        BlockStep(
            ("/var/log/my app/*.log", "/var/log/other.log"),
            (Directive("monthly", None), Directive("rotate", "6")),
        )
    ]


# --- planted Debian trees ----------------------------------------------------------


def key_logs(record_facts: dict[str, object]) -> dict[str, dict[str, object]]:
    logs = record_facts["key_logs"]
    assert isinstance(logs, list)
    return {entry["path"]: entry for entry in logs}


def test_default_debian_tree_keeps_auth_log_28_days() -> None:
    record = collect("logging.logrotate", RootHost(debian_tree()))
    assert record.errors == []
    facts = record.facts
    logs = key_logs(facts)
    auth = logs["/var/log/auth.log"]
    assert (auth["rotated_by"], auth["config_file"]) == ("logrotate", "/etc/logrotate.d/rsyslog")
    assert (auth["retention_days"], auth["meets_180_days"]) == (28, False)
    assert logs["/var/log/audit/audit.log"]["rotated_by"] == "auditd"
    assert logs["/var/log/secure"]["rotated_by"] is None
    assert logs["/var/log/secure"]["meets_180_days"] is None
    assert logs["/var/log/wtmp"]["exists"] is True
    assert facts["installed"] is True
    assert "/etc/cron.daily/logrotate" in facts["schedules"]
    assert facts["required_days"] == 180


def test_planted_tree(tmp_path: Path) -> None:
    root = copy_tree(debian_tree(), tmp_path / "root")
    d = root / "etc" / "logrotate.d"
    rsyslog = (d / "rsyslog").read_text()
    assert "/var/log/auth.log\n" in rsyslog
    (d / "rsyslog").write_text(rsyslog.replace("/var/log/auth.log\n", ""))
    # An administrator's fix for the auth log: daily, six months of copies.
    (d / "auth").write_text(
        "/var/log/auth.log {\n\tdaily\n\trotate 180\n\tcompress\n\tmissingok\n\tdateext\n}\n"
    )
    # A global set in an included file applies to the files read after it.
    (d / "aaa-globals").write_text("rotate 52\n")
    # Files logrotate skips by extension must not count.
    (d / "auth.dpkg-old").write_text("/var/log/auth.log {\n\trotate 1\n\tdaily\n}\n")
    shutil.copy(root / "etc" / "logrotate.conf", root / "etc" / "logrotate.conf.orig")
    record = collect("logging.logrotate", RootHost(root))
    assert record.errors == []
    facts = record.facts
    assert "/etc/logrotate.d/auth.dpkg-old" not in facts["config_files"]
    assert facts["config_files"][:3] == [
        "/etc/logrotate.conf",
        "/etc/logrotate.d/aaa-globals",
        "/etc/logrotate.d/alternatives",
    ]
    logs = key_logs(facts)
    auth = logs["/var/log/auth.log"]
    assert (auth["config_file"], auth["retention_days"], auth["meets_180_days"]) == (
        "/etc/logrotate.d/auth",
        180,
        True,
    )
    syslog = logs["/var/log/syslog"]
    assert (syslog["retention_days"], syslog["meets_180_days"]) == (28, False)
    chrony = next(b for b in facts["blocks"] if b["patterns"] == ["/var/log/chrony/*.log"])
    assert (chrony["settings"]["rotate"], chrony["retention"]["days"]) == (52, 364)
    auth_block = next(b for b in facts["blocks"] if b["patterns"] == ["/var/log/auth.log"])
    assert auth_block["settings"]["dateext"] is True
    sources = file_sources(record)
    assert sources["/etc/logrotate.d/auth"].sha256 == sha256_file(d / "auth")


def test_missing_config_when_installed_is_an_error(tmp_path: Path) -> None:
    root = copy_tree(debian_tree(), tmp_path / "root")
    (root / "etc" / "logrotate.conf").unlink()
    record = collect("logging.logrotate", RootHost(root))
    assert record.errors == ["/etc/logrotate.conf: not found"]
    assert record.facts["blocks"] is None and record.facts["key_logs"] is None


def test_local_machine() -> None:
    record = collect("logging.logrotate", LocalHost())
    facts = record.facts
    installed = os.path.exists("/usr/sbin/logrotate") or os.path.exists("/sbin/logrotate")
    assert facts["installed"] == installed
    if not os.path.exists("/etc/logrotate.conf"):
        assert facts["blocks"] is None
        assert record.errors == ([] if not installed else ["/etc/logrotate.conf: not found"])
    else:
        assert facts["config_files"][0] == "/etc/logrotate.conf"
        assert len(facts["key_logs"]) == 8


# --- property tests -----------------------------------------------------------------

_PIECES = st.sampled_from(
    [
        "/var/log/x",
        "/var/log/*.log",
        '"/var/log/a b"',
        "{",
        "}",
        "\n",
        " ",
        "daily",
        "weekly",
        "monthly",
        "yearly",
        "hourly",
        "rotate ",
        "rotate -1",
        "maxage ",
        "size ",
        "minsize ",
        "maxsize ",
        "100k",
        "7",
        "-",
        "postrotate",
        "endscript",
        "include /etc/logrotate.d",
        "#",
        "compress",
        "dateext",
        "=",
        "'",
    ]
)
_TEXT = st.one_of(st.text(max_size=300), st.lists(_PIECES, max_size=60).map("".join))


@settings(max_examples=300)
@given(_TEXT)
def test_parser_total_and_stable(text: str) -> None:
    steps = parse_logrotate(text)
    assert steps == parse_logrotate(text)
    blocks: list[ParsedBlock] = []
    final = replay(steps, "/etc/x", Settings(), lambda p, s: s, blocks)
    made = [make_block(b).model_dump(mode="json") for b in blocks]
    canonical_json({"blocks": made, "final": rotation_settings(final).model_dump(mode="json")})
    for block in made:
        days = block["retention"]["days"]
        assert days is None or 0 <= days < 2**53
