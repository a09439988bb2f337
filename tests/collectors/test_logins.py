"""access.logins: binary utmp/wtmp/btmp made by util-linux `utmpdump -r`, checked against
`utmpdump`, `last` and `lastb`; lastlog written by shadow's `lastlog -S`; a planted
Debian tree; this machine; arbitrary bytes."""

from __future__ import annotations

import re
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collectors.access.accounts import parse_passwd
from collectors.access.logins import (
    UTMP_SIZE,
    build_facts,
    is_login,
    is_session,
    iter_utmp,
    parse_lastlog,
    trailing_bytes,
)
from collectors.host import LocalHost, RootHost
from dossier.procs import free_port
from evidence.canonical import canonical_json, format_timestamp
from tests.collectors.support import FIXTURES, collect, file_sources, sha256_file
from tests.debian_root import copy_tree, debian_tree

ACCESS = FIXTURES / "access"
PASSWD = parse_passwd(
    "root:x:0:0:root:/root:/bin/bash\n"
    "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
    "alice:x:1000:1000::/home/alice:/bin/bash\n"
    "bob:x:1001:1001::/home/bob:/bin/zsh\n"
    "carol:x:1002:1002::/home/carol:/bin/bash\n"
)
NOW = datetime(2025, 7, 1, tzinfo=UTC)
ZERO_ADDRESS = "0.0.0.0"  # noqa: S104 (how utmpdump shows "no address")

_DUMP = re.compile(
    r"^\[(\d+)\] \[(\d+)\] \[(.*?)\] \[(.*?)\] \[(.*?)\] \[(.*?)\] \[(.*?)\] \[(.*?)\]$"
)


def utmpdump(path: Path) -> list[tuple[int, int, str, str, str, str, str, str]]:
    """util-linux's own reading of a binary file, one tuple per record."""
    output = subprocess.run(
        ["utmpdump", str(path)], capture_output=True, text=True, check=True
    ).stdout
    rows = []
    for line in output.splitlines():
        m = _DUMP.match(line)
        assert m, line
        when = datetime.strptime(m[8].replace(",", "."), "%Y-%m-%dT%H:%M:%S.%f%z")
        rows.append(
            (
                int(m[1]),
                int(m[2]),
                m[3].strip(),
                m[4].strip(),
                m[5].strip(),
                m[6].strip(),
                m[7].strip(),
                format_timestamp(when),
            )
        )
    return rows


def ours(data: bytes) -> list[tuple[int, int, str, str, str, str, str, str]]:
    return [
        (
            r.type,
            r.pid,
            r.id.strip(),  # utmpdump pads its columns, so padding cannot be compared
            r.user.strip(),
            r.line.strip(),
            r.host.strip(),
            r.address or ZERO_ADDRESS,
            format_timestamp(r.time),
        )
        for r in iter_utmp(data)
    ]


def last_users(path: Path, command: str = "last") -> list[str]:
    output = subprocess.run(
        [command, "-w", "-f", str(path)], capture_output=True, text=True, check=True
    ).stdout
    return [
        line.split()[0]
        for line in output.splitlines()
        if line.strip() and not line.startswith(path.name + " begins")
    ]


def undump(text: str, path: Path) -> Path:
    """Binary records written by `utmpdump -r` from its text form."""
    with path.open("wb") as out:
        subprocess.run(["utmpdump", "-r"], input=text.encode(), stdout=out, check=True)
    return path


def dump_line(
    kind: int, pid: int, ut_id: str, user: str, line: str, host: str, when: datetime
) -> str:
    addr = host if re.match(r"^[0-9.:a-f]+$", host) else ZERO_ADDRESS
    stamp = when.strftime("%Y-%m-%dT%H:%M:%S,%f+00:00")
    return f"[{kind}] [{pid:05d}] [{ut_id:<4}] [{user}] [{line}] [{host}] [{addr}] [{stamp}]\n"


# --- the fixtures against util-linux ------------------------------------------------------


@pytest.mark.parametrize("name", ["wtmp", "btmp", "utmp"])
def test_fixture_records_equal_utmpdump(name: str) -> None:
    path = ACCESS / f"{name}.bin"
    data = path.read_bytes()
    assert len(data) % UTMP_SIZE == 0 and UTMP_SIZE == 384
    assert ours(data) == utmpdump(path)
    # and the binary is what utmpdump -r makes of the text beside it
    assert len(ours(data)) == len((ACCESS / f"{name}.txt").read_text().splitlines())


def test_logins_are_what_last_lists() -> None:
    path = ACCESS / "wtmp.bin"
    system = {"reboot", "shutdown", "runlevel"}
    expected = [u for u in last_users(path) if u not in system]
    found = [r.user for r in iter_utmp(path.read_bytes()) if is_login(r)]
    assert sorted(found) == sorted(expected) == ["alice", "alice", "bob", "root"]


def test_failures_are_what_lastb_lists() -> None:
    path = ACCESS / "btmp.bin"
    facts = build_facts({}, {"/var/log/btmp": path.read_bytes()}, None, None, PASSWD, NOW)
    lastb = last_users(path, "lastb")
    assert facts.failed_total == len(lastb) == 8
    assert {(f.user, f.count) for f in facts.failed_logins or []} == {
        (user, lastb.count(user)) for user in {"root", "alice"}
    }


def test_facts_from_fixtures() -> None:
    facts = build_facts(
        {"/var/log/wtmp": (ACCESS / "wtmp.bin").read_bytes()},
        {"/var/log/btmp": (ACCESS / "btmp.bin").read_bytes()},
        (ACCESS / "utmp.bin").read_bytes(),
        None,
        PASSWD,
        NOW,
    )
    assert [(x.user, x.time, x.line, x.host, x.address) for x in facts.last_logins or []] == [
        ("alice", "2025-03-04T18:42:01.500000Z", "pts/0", "jump.example.org", "203.0.113.7"),
        ("bob", "2025-03-03T12:00:00.000000Z", "pts/1", "2001:db8::1", "2001:db8::1"),
        ("root", "2025-03-02T07:00:00.000000Z", "tty1", None, None),
    ]
    assert facts.wtmp_window_start == "2025-03-01T08:00:00.000000Z"
    assert facts.btmp_window_start == "2025-03-02T01:00:01.000000Z"
    root, alice = facts.failed_logins or []
    assert (root.user, root.count, root.last_time) == ("root", 4, "2025-03-04T23:00:00.000000Z")
    assert [(s.source, s.count) for s in root.top_sources] == [
        ("198.51.100.23", 2),
        ("(local)", 1),
        ("2001:db8::66", 1),
    ]
    assert (alice.user, alice.count) == ("alice", 1)
    unknown = facts.failed_unknown_users
    assert unknown is not None
    assert (unknown.user, unknown.count, unknown.distinct_names) == (None, 3, 3)
    assert [(x.user, x.line, x.address, x.pid) for x in facts.current_sessions or []] == [
        ("alice", "pts/0", "192.168.1.10", 5000),
        ("bob", "pts/2", "2001:db8::1", 5100),
    ]
    assert [(d.user, d.days_since_login) for d in facts.dormant_accounts or []] == [
        ("alice", 118),
        ("bob", 119),
        ("carol", None),
        ("root", 120),
    ]
    text = canonical_json(facts.model_dump(mode="json")).decode()
    # names that are not accounts (here a typed password and probing names) never leave
    for secret in ("Winter2025!", "admin", "oracle"):
        assert secret not in text
    assert "daemon" not in text  # nologin accounts are never dormant candidates


def test_dormancy_threshold_and_unknown_sources() -> None:
    wtmp = {"/var/log/wtmp": (ACCESS / "wtmp.bin").read_bytes()}
    soon = datetime(2025, 3, 10, tzinfo=UTC)
    facts = build_facts(wtmp, {}, None, None, PASSWD, soon)
    assert [d.user for d in facts.dormant_accounts or []] == ["carol"]
    assert facts.failed_logins is None and facts.failed_total is None  # no btmp read
    assert facts.current_sessions is None
    nothing = build_facts({}, {}, None, None, PASSWD, soon)
    assert (nothing.last_logins, nothing.dormant_accounts) == (None, None)
    unknown_passwd = build_facts(wtmp, {}, None, None, None, soon)
    assert unknown_passwd.dormant_accounts is None


def test_truncated_and_garbage_bytes() -> None:
    data = (ACCESS / "wtmp.bin").read_bytes()
    cut = data[: 5 * UTMP_SIZE + 100]
    assert trailing_bytes(cut) == 100
    facts = build_facts({"/var/log/wtmp": cut}, {}, None, None, PASSWD, NOW)
    assert facts.truncated_records == 1
    assert facts.files[0].records == 5 and facts.files[0].trailing_bytes == 100
    assert [x.user for x in facts.last_logins or []] == ["alice"]  # root's login was cut off


def test_lastlog_written_by_shadow(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "var" / "log").mkdir(parents=True)
    (root / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\n"
    )
    (root / "var" / "log" / "lastlog").write_bytes(b"")
    before = int(datetime.now(UTC).timestamp())
    subprocess.run(["lastlog", "-R", str(root), "-S", "-u", "alice"], check=True)
    data = (root / "var" / "log" / "lastlog").read_bytes()
    entries = parse_lastlog(data, parse_passwd((root / "etc" / "passwd").read_text()))
    assert list(entries) == ["alice"]
    assert before <= entries["alice"].seconds <= before + 60
    facts = build_facts({}, {}, None, data, PASSWD, datetime.now(UTC))
    assert [(x.user, x.source) for x in facts.last_logins or []] == [("alice", "lastlog")]
    assert "alice" not in [d.user for d in facts.dormant_accounts or []]


# --- a planted Debian tree --------------------------------------------------------------


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = copy_tree(debian_tree(), tmp_path_factory.mktemp("logins") / "root")
    with (root / "etc" / "passwd").open("a") as passwd:
        passwd.write("alice:x:1000:1000::/home/alice:/bin/bash\n")
        passwd.write("bob:x:1001:1001::/home/bob:/bin/bash\n")
        passwd.write("svc:x:999:999::/srv:/usr/sbin/nologin\n")
    now = datetime.now(UTC).replace(microsecond=0)
    log = root / "var" / "log"
    undump(
        dump_line(7, 100, "ts/0", "bob", "pts/0", "10.0.0.5", now - timedelta(days=200))
        + dump_line(8, 100, "ts/0", "", "pts/0", "", now - timedelta(days=200)),
        log / "wtmp.1",
    )
    undump(
        dump_line(2, 0, "~~", "reboot", "~", "6.1.0-18-amd64", now - timedelta(days=30))
        + dump_line(7, 200, "ts/0", "alice", "pts/0", "10.0.0.9", now - timedelta(days=3)),
        log / "wtmp",
    )
    with (log / "wtmp").open("ab") as wtmp:
        wtmp.write(b"\x07\x00 partial record")  # a truncated write at the end
    undump(
        dump_line(6, 300, "", "root", "ssh:notty", "198.51.100.1", now - timedelta(days=1))
        + dump_line(6, 301, "", "hunter2", "ssh:notty", "198.51.100.1", now - timedelta(hours=1)),
        log / "btmp",
    )
    (root / "run").mkdir(exist_ok=True)
    undump(
        dump_line(7, 200, "ts/0", "alice", "pts/0", "10.0.0.9", now - timedelta(hours=2)),
        root / "run" / "utmp",
    )
    yield root


def test_planted_tree(planted: Path) -> None:
    record = collect("access.logins", RootHost(planted))
    facts = record.facts
    assert record.errors == [
        "/var/log/wtmp: 17 bytes after the last whole 384-byte record (truncated write)"
    ]
    assert facts["truncated_records"] == 1
    assert [(x["user"], x["host"]) for x in facts["last_logins"]] == [
        ("alice", "10.0.0.9"),
        ("bob", "10.0.0.5"),
    ]
    dormant = {d["user"]: d["days_since_login"] for d in facts["dormant_accounts"]}
    assert dormant == {"bob": 200, "root": None}
    assert [(f["user"], f["count"]) for f in facts["failed_logins"]] == [("root", 1)]
    assert facts["failed_unknown_users"]["count"] == 1
    assert facts["failed_total"] == 2
    assert [s["user"] for s in facts["current_sessions"]] == ["alice"]  # via /var/run -> /run
    assert [f["path"] for f in facts["files"]] == [
        "/var/log/btmp",
        "/var/log/wtmp",
        "/var/log/wtmp.1",
        "/var/run/utmp",
    ]
    assert "hunter2" not in canonical_json(record.to_json()).decode()
    sources = file_sources(record)
    assert sources["/var/log/wtmp"].sha256 == sha256_file(planted / "var/log/wtmp")
    assert "/var/log/lastlog" in sources  # the tree's (empty) lastlog was read
    # util-linux agrees on the planted files
    assert last_users(planted / "var/log/wtmp.1") == ["bob"]
    assert [r[3] for r in utmpdump(planted / "run/utmp")] == ["alice"]


class BtmpDeniedHost(RootHost):
    def read_file(self, path: str, max_bytes: int = 32 * 1024 * 1024) -> bytes:
        if path.startswith("/var/log/btmp"):
            raise PermissionError(13, "Permission denied", path)
        return super().read_file(path, max_bytes)


def test_unreadable_btmp_is_unknown_not_zero(planted: Path) -> None:
    record = collect("access.logins", BtmpDeniedHost(planted))
    assert "/var/log/btmp: permission denied" in record.errors
    assert record.facts["failed_logins"] is None
    assert record.facts["failed_total"] is None
    assert record.facts["last_logins"] is not None


# --- this machine ------------------------------------------------------------------------


def test_this_machine_matches_last_and_lastb() -> None:
    record = collect("access.logins", LocalHost())
    facts = record.facts
    assert record.errors == []
    wtmp = Path("/var/log/wtmp")
    if wtmp.exists():
        system = {"reboot", "shutdown", "runlevel"}
        users = {u for u in last_users(wtmp) if u not in system}
        assert {x["user"] for x in facts["last_logins"] if x["source"] == "wtmp"} == users
    btmp = Path("/var/log/btmp")
    if btmp.exists():
        assert facts["failed_total"] == len(last_users(btmp, "lastb"))
    if not Path("/var/run/utmp").exists():
        assert facts["current_sessions"] is None


# --- property tests ------------------------------------------------------------------------


@settings(max_examples=200)
@given(
    st.one_of(
        st.binary(max_size=3 * UTMP_SIZE + 7),
        st.lists(st.binary(min_size=UTMP_SIZE, max_size=UTMP_SIZE), max_size=4).map(b"".join),
    )
)
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    files = {"/var/log/wtmp": data}
    first = build_facts(files, {"/var/log/btmp": data}, data, data, PASSWD, NOW)
    again = build_facts(files, {"/var/log/btmp": data}, data, data, PASSWD, NOW)
    assert first == again
    canonical_json(first.model_dump(mode="json"))
    assert first.truncated_records == (3 if len(data) % UTMP_SIZE else 0)


# --- records written by a real sshd (in a chroot of the Debian tree) ----------------------

TYPED_PASSWORD = "S3cret-typed"  # a password typed as a user name


def _wait(predicate: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.1)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def sshd_tree(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A copy of the Debian tree in which its own sshd (with PAM) accepted a key login,
    refused two passwords and holds one session open; yields with the session open."""
    base = tmp_path_factory.mktemp("sshd")
    root = copy_tree(debian_tree(), base / "root")
    mounts: list[Path] = []
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for source, target, kind in (
            ("/dev", "dev", "--bind"),
            ("/dev/pts", "dev/pts", "--bind"),
            ("proc", "proc", "-tproc"),
        ):
            subprocess.run(["mount", kind, source, str(root / target)], check=True)
            mounts.append(root / target)
        subprocess.run(
            ["chroot", str(root), "useradd", "-m", "-s", "/bin/bash", "alice"], check=True
        )
        subprocess.run(
            ["chroot", str(root), "chpasswd"],
            input=b"alice:Correct-Horse-1\n",
            check=True,
            capture_output=True,
        )
        key = base / "client"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        ssh_dir = root / "home/alice/.ssh"
        ssh_dir.mkdir(mode=0o700)
        (ssh_dir / "authorized_keys").write_text(key.with_suffix(".pub").read_text())
        subprocess.run(
            ["chroot", str(root), "chown", "-R", "alice:", "/home/alice/.ssh"], check=True
        )
        (root / "run/sshd").mkdir(exist_ok=True)
        (root / "run/utmp").write_bytes(b"")  # where sshd records sessions
        port = free_port()
        sshd = subprocess.Popen(
            [
                "chroot",
                str(root),
                "/usr/sbin/sshd",
                "-D",
                "-e",
                "-p",
                str(port),
                "-o",
                "ListenAddress=127.0.0.1",
                "-o",
                "PasswordAuthentication=yes",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        processes.append(sshd)
        _wait(lambda: _listening(port), "sshd listening")
        common = [
            "ssh",
            "-p",
            str(port),
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "LogLevel=ERROR",
        ]
        login = [*common, "-tt", "-i", str(key), "-o", "BatchMode=yes", "alice@127.0.0.1"]
        subprocess.run([*login, "true"], check=True, capture_output=True)
        askpass = base / "askpass"
        askpass.write_text("#!/bin/sh\necho wrong-password\n")
        askpass.chmod(0o755)
        env = {
            "PATH": "/usr/bin:/bin",
            "SSH_ASKPASS": str(askpass),
            "SSH_ASKPASS_REQUIRE": "force",
            "DISPLAY": ":0",
        }
        for user in ("alice", TYPED_PASSWORD):
            failed = subprocess.run(
                [
                    *common,
                    "-o",
                    "PubkeyAuthentication=no",
                    "-o",
                    "NumberOfPasswordPrompts=1",
                    f"{user}@127.0.0.1",
                    "true",
                ],
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                start_new_session=True,
            )
            assert failed.returncode == 255
        session = subprocess.Popen(
            [*login, "sleep 60"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        processes.append(session)
        utmp = root / "run/utmp"
        _wait(lambda: any(is_session(r) for r in iter_utmp(utmp.read_bytes())), "session")
        _wait(lambda: len(last_users(root / "var/log/btmp", "lastb")) >= 3, "btmp records")
        yield root
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait(timeout=10)
        for mount in reversed(mounts):
            subprocess.run(["umount", str(mount)], check=False)


@pytest.mark.slow
def test_real_sshd_records(sshd_tree: Path) -> None:
    record = collect("access.logins", RootHost(sshd_tree))
    facts = record.facts
    assert record.errors == []
    wtmp, btmp = sshd_tree / "var/log/wtmp", sshd_tree / "var/log/btmp"
    assert {x["user"] for x in facts["last_logins"]} == set(last_users(wtmp)) == {"alice"}
    (alice,) = facts["last_logins"]
    assert (alice["host"], alice["address"], alice["line"][:4]) == (
        "127.0.0.1",
        "127.0.0.1",
        "pts/",
    )
    # every record equals util-linux's reading of what sshd wrote
    for path in (wtmp, btmp, sshd_tree / "run/utmp"):
        assert ours(path.read_bytes()) == utmpdump(path)
    assert facts["failed_total"] == len(last_users(btmp, "lastb"))
    assert [(f["user"], f["count"]) for f in facts["failed_logins"]] == [("alice", 1)]
    assert facts["failed_unknown_users"]["distinct_names"] == 1
    assert [(s["user"], s["host"]) for s in facts["current_sessions"]] == [("alice", "127.0.0.1")]
    assert "alice" not in {d["user"] for d in facts["dormant_accounts"]}
    assert "root" in {d["user"] for d in facts["dormant_accounts"]}  # never logged in
    assert TYPED_PASSWORD not in canonical_json(record.to_json()).decode()
