"""logging.syslog: rsyslog, journald and syslog-ng parsers on real files, a planted
Debian tree, this machine, and no credentials in the record."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collectors.host import LocalHost, RootHost
from collectors.logs.syslog import (
    SyslogNgFacts,
    build_facts,
    delivered_facilities,
    journald_facts,
    parse_journald,
    parse_rsyslog,
    parse_size,
    parse_syslog_ng,
    parse_timespan,
    rsyslog_facts,
)
from collectors.redact import redact
from evidence.canonical import canonical_json
from tests.collectors.support import FIXTURES, collect, file_sources, sha256_file
from tests.debian_root import copy_tree, debian_tree

LOGGING = FIXTURES / "logging"


def rules_of(name: str) -> list[tuple[str | None, str, str | None, bool | None]]:
    parsed = parse_rsyslog((LOGGING / name).read_text(), f"/etc/{name}")
    return [(r.selector, r.kind, r.destination, r.carries_auth) for r in parsed.rules]


# --- rsyslog ------------------------------------------------------------------------


def test_debian_rsyslog_rules() -> None:
    assert rules_of("debian12-rsyslog.conf") == [
        ("*.*;auth,authpriv.none", "file", "/var/log/syslog", False),
        ("auth,authpriv.*", "file", "/var/log/auth.log", True),
        ("cron.*", "file", "/var/log/cron.log", False),
        ("kern.*", "file", "/var/log/kern.log", False),
        ("mail.*", "file", "/var/log/mail.log", False),
        ("user.*", "file", "/var/log/user.log", False),
        ("*.emerg", "users", "*", True),
    ]
    parsed = parse_rsyslog((LOGGING / "debian12-rsyslog.conf").read_text(), "/etc/rsyslog.conf")
    assert parsed.includes == ["/etc/rsyslog.d/*.conf"]
    assert parsed.forwards == []
    assert parsed.default_file_template is None  # bookworm writes RFC 3339 timestamps


def test_rhel_rsyslog_rules() -> None:
    parsed = parse_rsyslog((LOGGING / "rhel-rsyslog.conf").read_text(), "/etc/rsyslog.conf")
    assert parsed.default_file_template == "RSYSLOG_TraditionalFileFormat"
    assert parsed.includes == ["/etc/rsyslog.d/*.conf"]
    assert parsed.forwards == []  # the forwarding example is commented out
    files = {r.destination: r.carries_auth for r in parsed.rules if r.kind == "file"}
    # /var/log/messages takes *.info minus authpriv: the auth facility still reaches it.
    assert files == {
        "/var/log/messages": True,
        "/var/log/secure": True,
        "/var/log/maillog": False,
        "/var/log/cron": False,
        "/var/log/spooler": False,
        "/var/log/boot.log": False,
    }


def test_forwarding_examples() -> None:
    parsed = parse_rsyslog((LOGGING / "rsyslog.d-50-forward.conf").read_text(), "/etc/f.conf")
    assert [(f.target, f.port, f.protocol, f.tls, f.carries_auth) for f in parsed.forwards] == [
        ("logs.example.com", 514, "tcp", False, True),
        ("logs.example.com", 6514, "tcp", True, True),
        ("remote.example.com", 514, "tcp", False, True),  # @@ without port: 514
        ("remote.example.com", 515, "udp", False, True),
        ("2001:db8::1", 10514, "tcp", False, True),
        ("192.0.2.10", 10514, "udp", False, None),  # inside `if $programname ...`
    ]
    last = parsed.rules[-1]
    assert (last.kind, last.filter) == ("discard", "$programname == 'sshd'")
    assert parsed.rules[4].destination == "[2001:db8::1]:10514"


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("auth,authpriv.*", {"auth", "authpriv"}),
        ("*.*;auth,authpriv.none", None),
        ("authpriv.*;authpriv.!*", set()),
        ("security.info", {"auth"}),
        ("mail.!info", {"mail"}),
        ("not a selector", "invalid"),
        ("*.info;mail.none;authpriv.none;cron.none", None),
    ],
)
def test_delivered_facilities(selector: str, expected: set[str] | str | None) -> None:
    result = delivered_facilities(selector)
    if expected == "invalid":
        assert result is None
    elif expected is None:
        assert result is not None
        assert "authpriv" not in result and "kern" in result
    else:
        assert isinstance(expected, set) and result == frozenset(expected)


def test_credentials_never_reach_the_rules() -> None:
    # ommysql's documented legacy form `:ommysql:server,db,user,password` and the
    # RainerScript form with pwd=; and an omprog binary carrying a password option.
    text = (
        "*.* :ommysql:db.example.com,Syslog,rsyslog,Legacy-S3cret\n"
        'auth.* action(type="ommysql" server="db.example.com" db="Syslog" uid="rs" '
        'pwd="Rainer-S3cret")\n'
        '*.* action(type="omprog" binary="/usr/bin/ship --password=Prog-S3cret")\n'
        "if $msg contains 'password=Filter-S3cret' then /var/log/odd.log\n"
    )
    parsed = parse_rsyslog(text, "/etc/rsyslog.d/db.conf")
    dumped = canonical_json([r.model_dump(mode="json") for r in parsed.rules]).decode()
    assert [(r.kind, r.destination) for r in parsed.rules] == [
        ("module", "ommysql"),
        ("module", "ommysql"),
        ("program", "/usr/bin/ship"),
        ("file", "/var/log/odd.log"),
    ]
    for secret in ("Legacy-S3cret", "Rainer-S3cret", "Prog-S3cret", "Filter-S3cret"):
        assert secret not in dumped
    # The shared redactor also hides "name: value" forms (it errs towards hiding).
    assert redact('pwd="x y" password=abc token: t0k pool=keep') == (
        "pwd=<redacted> password=<redacted> token: <redacted> pool=keep"
    )


def test_include_object_and_ruleset() -> None:
    text = (
        'include(file="/etc/rsyslog.d/extra/*.conf" mode="optional")\n'
        'ruleset(name="remote") {\n'
        '    action(type="omfile" file="/var/log/remote.log")\n'
        "}\n"
        'module(load="builtin:omfile" template="RSYSLOG_TraditionalFileFormat")\n'
        "kern.* /var/log/kern.log\n"
        "& @@central:1514\n"
    )
    parsed = parse_rsyslog(text, "/etc/rsyslog.conf")
    assert parsed.includes == ["/etc/rsyslog.d/extra/*.conf"]
    assert parsed.default_file_template == "RSYSLOG_TraditionalFileFormat"
    assert [(r.ruleset, r.kind, r.destination, r.carries_auth) for r in parsed.rules] == [
        ("remote", "file", "/var/log/remote.log", None),
        (None, "file", "/var/log/kern.log", False),
        (None, "forward", "central:1514", False),
    ]


def test_if_else_chain() -> None:
    text = (
        'if $programname == "a" then {\n  action(type="omfile" file="/var/log/a")\n}'
        ' else if $syslogfacility-text == "authpriv" then {\n'
        '  action(type="omfwd" target="b.example" protocol="tcp")\n'
        '} else {\n  action(type="omfile" file="/var/log/c")\n}\n'
    )
    parsed = parse_rsyslog(text, "/etc/rsyslog.conf")
    assert [(r.filter, r.destination) for r in parsed.rules] == [
        ('$programname == "a"', "/var/log/a"),
        ('else if $syslogfacility-text == "authpriv"', "b.example:514"),
        ("else", "/var/log/c"),
    ]
    assert [r.carries_auth for r in parsed.rules] == [None, True, None]


# --- journald -----------------------------------------------------------------------


def test_journald_conf_of_debian() -> None:
    settings_, defaults = parse_journald((LOGGING / "debian12-journald.conf").read_text())
    assert settings_ == {}  # everything commented: compile-time defaults
    assert defaults["Storage"] == "auto"
    assert defaults["ForwardToSyslog"] == "yes"  # Debian's default
    assert defaults["MaxFileSec"] == "1month"
    facts = journald_facts(True, ["/etc/systemd/journald.conf"], settings_, defaults, False)
    assert (facts.storage, facts.persistent, facts.forward_to_syslog) == ("auto", False, True)
    assert facts.max_retention_sec is None and facts.max_file_sec is None


@pytest.mark.parametrize(
    ("storage", "journal_dir", "persistent"),
    [
        ("persistent", False, True),
        ("auto", True, True),
        ("auto", False, False),
        ("volatile", True, False),
        ("none", True, False),
        ("bogus", True, None),
    ],
)
def test_journald_persistence(storage: str, journal_dir: bool, persistent: bool | None) -> None:
    facts = journald_facts(True, [], {"Storage": storage}, {}, journal_dir)
    assert facts.persistent is persistent


def test_timespans_and_sizes() -> None:
    assert parse_timespan("6month") == 6 * 2629800
    assert parse_timespan("180d") == 180 * 86400
    assert parse_timespan("1y") == 31557600
    assert parse_timespan("2w 3d") == 17 * 86400
    assert parse_timespan("5m") == 300 and parse_timespan("5M") == 2629800 * 5
    assert parse_timespan("0") == 0
    assert parse_timespan("") is None and parse_timespan("soon") is None
    assert parse_size("4G") == 4 << 30 and parse_size("500M") == 500 << 20
    assert parse_size("10%") is None


# --- syslog-ng ----------------------------------------------------------------------


def test_debian_syslog_ng_keeps_everything_local() -> None:
    parsed = parse_syslog_ng((LOGGING / "debian12-syslog-ng.conf").read_text(), "/etc/x")
    assert parsed.destinations == []
    assert parsed.includes == ["scl.conf", "/etc/syslog-ng/conf.d/*.conf"]
    assert {"d_auth", "d_syslog", "d_messages"} <= parsed.used


def test_syslog_ng_network_destinations() -> None:
    parsed = parse_syslog_ng((LOGGING / "syslog-ng-network.conf").read_text(), "/etc/n.conf")
    assert [(d.name, d.driver, d.target, d.port, d.protocol) for d in parsed.destinations] == [
        ("d_tcp", "network", "10.1.2.3", 1999, "tcp"),
        ("d_tcp6", "network", "::1", 2222, "tcp"),
        ("d_loghost", "udp", "loghost", 514, "udp"),
    ]
    assert parsed.used == {"d_tcp"}  # the d_loghost log line is commented out


# --- a planted Debian tree ----------------------------------------------------------


@pytest.fixture(scope="module")
def planted_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = copy_tree(debian_tree(), tmp_path_factory.mktemp("syslog") / "root")
    etc = root / "etc"
    shutil.copy(LOGGING / "rsyslog.d-50-forward.conf", etc / "rsyslog.d" / "50-forward.conf")
    (etc / "rsyslog.d" / "60-include.conf").write_text(
        'include(file="/etc/rsyslog.d/extra/relp.conf")\n'
    )
    (etc / "rsyslog.d" / "extra").mkdir()
    (etc / "rsyslog.d" / "extra" / "relp.conf").write_text(
        'module(load="omrelp")\n'
        'authpriv.* action(type="omrelp" target="relp.example.com" port="2514" tls="on")\n'
    )
    (etc / "rsyslog.d" / "README.txt").write_text("*.* @not-included\n")
    systemd = etc / "systemd"
    (systemd / "journald.conf.d").mkdir(parents=True)
    shutil.copy(LOGGING / "debian12-journald.conf", systemd / "journald.conf")
    (systemd / "journald.conf.d" / "retention.conf").write_text(
        "[Journal]\nStorage=persistent\nSystemMaxUse=4G\nMaxRetentionSec=1y\nForwardToSyslog=no\n"
    )
    (root / "usr" / "lib" / "systemd").mkdir(parents=True, exist_ok=True)
    (root / "usr" / "lib" / "systemd" / "systemd-journald").write_bytes(b"")
    ng = etc / "syslog-ng"
    (ng / "conf.d").mkdir(parents=True)
    shutil.copy(LOGGING / "debian12-syslog-ng.conf", ng / "syslog-ng.conf")
    shutil.copy(LOGGING / "syslog-ng-network.conf", ng / "conf.d" / "network.conf")
    (root / "usr" / "sbin" / "syslog-ng").write_bytes(b"")
    return root


def test_planted_tree(planted_root: Path) -> None:
    record = collect("logging.syslog", RootHost(planted_root))
    facts = record.facts
    assert record.errors == []
    rsyslog = facts["rsyslog"]
    assert rsyslog["installed"] is True
    assert rsyslog["config_files"] == [
        "/etc/rsyslog.conf",
        "/etc/rsyslog.d/50-forward.conf",
        "/etc/rsyslog.d/60-include.conf",
        "/etc/rsyslog.d/extra/relp.conf",
    ]
    assert rsyslog["auth_log_files"] == ["/var/log/auth.log"]
    assert facts["auth_log_files"] is None  # syslog-ng is installed: its filters are not read
    forwarding = [
        (f["daemon"], f["target"], f["port"], f["protocol"], f["tls"], f["carries_auth"])
        for f in facts["remote_forwarding"]
    ]
    assert forwarding == [
        ("rsyslog", "logs.example.com", 514, "tcp", False, True),
        ("rsyslog", "logs.example.com", 6514, "tcp", True, True),
        ("rsyslog", "remote.example.com", 514, "tcp", False, True),
        ("rsyslog", "remote.example.com", 515, "udp", False, True),
        ("rsyslog", "2001:db8::1", 10514, "tcp", False, True),
        ("rsyslog", "192.0.2.10", 10514, "udp", False, None),
        ("rsyslog", "relp.example.com", 2514, "relp", True, True),
        ("syslog-ng", "10.1.2.3", 1999, "tcp", False, None),
    ]
    journald = facts["journald"]
    assert journald["config_files"] == [
        "/etc/systemd/journald.conf",
        "/etc/systemd/journald.conf.d/retention.conf",
    ]
    assert journald["storage"] == "persistent" and journald["persistent"] is True
    assert journald["journal_dir_exists"] is False
    assert journald["system_max_use_bytes"] == 4 << 30
    assert journald["max_retention_sec"] == 31557600
    assert journald["forward_to_syslog"] is False  # the drop-in overrides the default
    # scl.conf is not planted: a missing include is skipped without an error.
    assert facts["syslog_ng"]["config_files"] == [
        "/etc/syslog-ng/syslog-ng.conf",
        "/etc/syslog-ng/conf.d/network.conf",
    ]
    assert [d["used"] for d in facts["syslog_ng"]["network_destinations"]] == [
        True,
        False,
        False,
    ]
    sources = file_sources(record)
    assert sources["/etc/rsyslog.d/extra/relp.conf"].sha256 == sha256_file(
        planted_root / "etc/rsyslog.d/extra/relp.conf"
    )
    assert "/etc/rsyslog.d/README.txt" not in sources


def test_plain_debian_tree_keeps_logs_local() -> None:
    record = collect("logging.syslog", RootHost(debian_tree()))
    assert record.errors == []
    assert record.facts["remote_forwarding"] == []
    assert record.facts["auth_log_files"] == ["/var/log/auth.log"]
    assert record.facts["rsyslog"]["config_files"] == ["/etc/rsyslog.conf"]


def test_leftover_config_of_a_removed_daemon_forwards_nothing() -> None:
    parsed = parse_rsyslog((LOGGING / "rsyslog.d-50-forward.conf").read_text(), "/etc/f.conf")
    journald = journald_facts(True, [], {}, {}, True)
    no_ng = SyslogNgFacts(installed=False, config_files=[], network_destinations=None)
    removed = build_facts(rsyslog_facts(False, ["/etc/f.conf"], parsed), journald, no_ng)
    assert (removed.remote_forwarding, removed.auth_log_files) == ([], [])
    assert removed.rsyslog.forwarding is not None and len(removed.rsyslog.forwarding) == 6
    installed = build_facts(rsyslog_facts(True, ["/etc/f.conf"], parsed), journald, no_ng)
    assert installed.remote_forwarding is not None and len(installed.remote_forwarding) == 6


class DeniedHost(RootHost):
    def read_file(self, path: str, max_bytes: int = 32 * 1024 * 1024) -> bytes:
        if path == "/etc/rsyslog.conf":
            raise PermissionError(13, "Permission denied", path)
        return super().read_file(path, max_bytes)


def test_unreadable_config_is_unknown_not_empty() -> None:
    record = collect("logging.syslog", DeniedHost(debian_tree()))
    assert "/etc/rsyslog.conf: permission denied" in record.errors
    assert record.facts["rsyslog"]["rules"] is None
    assert record.facts["remote_forwarding"] is None
    assert record.facts["auth_log_files"] is None


# --- this machine -------------------------------------------------------------------


def test_local_machine() -> None:
    record = collect("logging.syslog", LocalHost())
    facts = record.facts
    assert facts["rsyslog"]["installed"] == os.path.exists("/usr/sbin/rsyslogd")
    journald = facts["journald"]
    assert journald["installed"] == any(
        os.path.exists(p)
        for p in ("/usr/lib/systemd/systemd-journald", "/lib/systemd/systemd-journald")
    )
    assert journald["journal_dir_exists"] == os.path.isdir("/var/log/journal")
    if journald["storage"] == "auto":
        assert journald["persistent"] == os.path.isdir("/var/log/journal")
    if os.path.exists("/etc/systemd/journald.conf") and len(journald["config_files"]) == 1:
        assert journald["config_files"] == ["/etc/systemd/journald.conf"]
        explicit = {
            line.split("=", 1)[0].strip()
            for line in Path("/etc/systemd/journald.conf").read_text().splitlines()
            if "=" in line and not line.lstrip().startswith(("#", ";", "["))
        }
        assert set(journald["settings"]) == explicit
    assert facts["remote_forwarding"] is not None or record.errors
    canonical_json(facts)


# --- property tests -----------------------------------------------------------------

_RSYSLOG_PIECES = st.sampled_from(
    [
        "*.*",
        "auth,authpriv.*",
        ";",
        " ",
        "\n",
        "\t",
        "@",
        "@@",
        ":",
        "action(",
        ")",
        "(",
        "{",
        "}",
        "if ",
        " then ",
        "&",
        "$IncludeConfig ",
        "#",
        '"',
        "'",
        "=",
        "type=",
        '"omfwd"',
        "target=",
        "[",
        "]",
        "/var/log/x",
        "-",
        "stop",
        "ruleset(",
        "/*",
        "*/",
        ":msg, contains, ",
        "~",
        "|",
    ]
)
_RSYSLOG_TEXT = st.one_of(
    st.text(max_size=300), st.lists(_RSYSLOG_PIECES, max_size=60).map("".join)
)


@settings(max_examples=300)
@given(_RSYSLOG_TEXT)
def test_rsyslog_parser_total_and_stable(text: str) -> None:
    first = parse_rsyslog(text, "/etc/rsyslog.conf")
    second = parse_rsyslog(text, "/etc/rsyslog.conf")
    dumped = canonical_json(
        {
            "rules": [r.model_dump(mode="json") for r in first.rules],
            "forwards": [f.model_dump(mode="json") for f in first.forwards],
            "includes": first.includes,
        }
    )
    assert dumped == canonical_json(
        {
            "rules": [r.model_dump(mode="json") for r in second.rules],
            "forwards": [f.model_dump(mode="json") for f in second.forwards],
            "includes": second.includes,
        }
    )
    assert len(first.forwards) <= len(first.rules)


@given(st.one_of(st.text(max_size=300), _RSYSLOG_TEXT))
def test_other_parsers_total(text: str) -> None:
    ng = parse_syslog_ng(text, "/etc/x")
    assert ng == parse_syslog_ng(text, "/etc/x")
    canonical_json([d.model_dump(mode="json") for d in ng.destinations])
    assert parse_journald(text) == parse_journald(text)
    span = parse_timespan(text)
    assert span is None or 0 <= span < 2**53
    size = parse_size(text)
    assert size is None or 0 <= size < 2**53


def test_legacy_tls_forwarding_as_rsyslogs_tls_guide_writes_it() -> None:
    # rsyslog's "Encrypting Syslog Traffic with TLS" client setup, legacy syntax: the
    # mode directive applies to the @@ actions after it, not to one written before.
    text = (
        "*.* @@plain.example.net:514\n"
        "$DefaultNetstreamDriverCAFile /etc/ssl/certs/ca.pem\n"
        "$DefaultNetstreamDriver gtls\n"
        "$ActionSendStreamDriverMode 1\n"
        "$ActionSendStreamDriverAuthMode x509/name\n"
        "$ActionSendStreamDriverPermittedPeer central.example.net\n"
        "*.* @@central.example.net:6514\n"
        "*.* @udp.example.net\n"
    )
    forwards = parse_rsyslog(text, "/etc/rsyslog.d/tls.conf").forwards
    assert [(f.target, f.port, f.protocol, f.tls) for f in forwards] == [
        ("plain.example.net", 514, "tcp", False),
        ("central.example.net", 6514, "tcp", True),
        ("udp.example.net", 514, "udp", False),
    ]
