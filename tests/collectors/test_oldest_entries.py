"""logging.oldest_entries: timestamp parsing on real log lines, planted rotated logs in a
Debian tree (the configured 28 days vs. the 200 days actually kept), this machine."""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collectors.host import CommandResult, LocalHost, RootHost
from collectors.logs.oldest_entries import (
    HEAD_BYTES,
    decompress_head,
    family_files,
    family_verdict,
    first_timestamp,
    journal_archive_head,
    parse_journal_header,
    parse_line_timestamp,
)
from collectors.provenance import Collection
from collectors.registry import all_collectors
from evidence.canonical import canonical_json, format_timestamp
from tests.collectors.support import FIXTURES, collect
from tests.debian_root import copy_tree, debian_tree

LOGGING = FIXTURES / "logging"
RFC_LINES = (LOGGING / "auth.log-rfc3339").read_text().splitlines()
TRADITIONAL_LINES = (LOGGING / "auth.log-traditional").read_text().splitlines()
AUDIT_LINES = (LOGGING / "audit.log").read_text().splitlines()


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, us, tzinfo=UTC)


# --- timestamps ---------------------------------------------------------------------


def test_rfc3339_lines_from_rsyslog() -> None:
    assert parse_line_timestamp(RFC_LINES[0], None) == utc(2026, 11, 26, 6, 7, 22, 489542)
    assert parse_line_timestamp(RFC_LINES[2], None) == utc(2026, 11, 26, 6, 7, 25, 926533)
    shifted = "2026-11-26T14:07:22.489542+08:00" + RFC_LINES[0][32:]
    assert parse_line_timestamp(shifted, None) == utc(2026, 11, 26, 6, 7, 22, 489542)
    assert parse_line_timestamp("2026-11-26T06:04:44+0000 vm kernel: x", None) == utc(
        2026, 11, 26, 6, 4, 44
    )


def test_traditional_lines_take_their_year_from_mtime() -> None:
    line = TRADITIONAL_LINES[0]  # "Nov 26 06:07:22 vm sshd: ..."
    assert parse_line_timestamp(line, utc(2026, 11, 26, 7, 0, 0)) == utc(2026, 11, 26, 6, 7, 22)
    # Read in January: the entry is from the previous November.
    assert parse_line_timestamp(line, utc(2027, 1, 5)) == utc(2026, 11, 26, 6, 7, 22)
    # Without an mtime there is no year: unknown.
    assert parse_line_timestamp(line, None) is None
    leap = "Feb 29 10:00:00" + line[15:]
    assert parse_line_timestamp(leap, utc(2027, 3, 1)) == utc(2024, 2, 29, 10, 0, 0)
    single_digit = "Nov  2 06:07:22" + line[15:]
    assert parse_line_timestamp(single_digit, utc(2026, 11, 26)) == utc(2026, 11, 2, 6, 7, 22)


def test_audit_records() -> None:
    assert parse_line_timestamp(AUDIT_LINES[0], None) == utc(2026, 11, 26, 6, 7, 33, 639000)
    assert first_timestamp("\n".join(AUDIT_LINES), None) == utc(2026, 11, 26, 6, 7, 33, 639000)
    assert parse_line_timestamp("nothing here", None) is None
    assert parse_line_timestamp("2026-13-45T99:00:00Z x", None) is None


def test_first_timestamp_skips_untimed_lines() -> None:
    text = "\n" + "continuation without a time\n" + RFC_LINES[1] + "\n"
    assert first_timestamp(text, None) == utc(2026, 11, 26, 6, 7, 25, 924323)


@pytest.mark.parametrize(
    ("suffix", "compress"),
    [(".gz", gzip.compress), (".xz", lzma.compress), (".bz2", bz2.compress), (None, None)],
)
def test_decompress_head(suffix: str | None, compress: object) -> None:
    body = ("\n".join(RFC_LINES) + "\n").encode() * 5000  # larger than HEAD_BYTES
    data = compress(body) if callable(compress) else body
    head = decompress_head(data, suffix)
    assert head is not None and len(head) == HEAD_BYTES and body.startswith(head)
    if suffix is not None:
        assert decompress_head(b"not compressed at all", suffix) is None
    assert decompress_head(b"x", ".zst") is None


def test_family_file_names() -> None:
    names = [
        "auth.log",
        "auth.log.1",
        "auth.log.2.gz",
        "auth.log.10.gz",
        "secure-20261101",
        "secure-20261108.gz",
        "auth.log.gz",
        "authlog",
        "syslog",
    ]
    found = family_files(names, "/var/log", ("auth.log", "secure"))
    assert found == [
        ("/var/log/auth.log", 0, None),
        ("/var/log/auth.log.1", 1, None),
        ("/var/log/auth.log.2.gz", 2, ".gz"),
        ("/var/log/auth.log.10.gz", 10, ".gz"),
        ("/var/log/secure-20261101", 0, None),
        ("/var/log/secure-20261108.gz", 0, ".gz"),
    ]


def test_journal_header_of_a_real_journal() -> None:
    heads = parse_journal_header((LOGGING / "journalctl-header.txt").read_text())
    assert heads == [
        (
            "/tmp/jrn/varjournal/3d1219c7c4c5404aaa1f6d2a48adfda4/system.journal",
            datetime.fromtimestamp(0x66127B85AB4B7 // 10**6, UTC)
            + timedelta(microseconds=0x66127B85AB4B7 % 10**6),
        )
    ]
    assert format_timestamp(heads[0][1]).startswith("2026-11-26T06:04:44")  # type: ignore[arg-type]
    # systemd names an archived file <name>@<seqnum id>-<head seqnum>-<head realtime>.journal
    archived = "system@a8f84f2adb394c5f9d5e0867b550d193-0000000000000001-00066127b85ab4b7.journal"
    assert journal_archive_head(archived) == heads[0][1]
    assert journal_archive_head("system.journal") is None
    # A file set aside as corrupt carries the time it was renamed, not its head.
    assert journal_archive_head("system@00066127b8866500-54acaee5a8d523ff.journal~") is None


def test_verdicts() -> None:
    now = utc(2026, 11, 26)
    assert family_verdict(False, None, True, now) == (None, False)
    assert family_verdict(True, None, True, now) == (None, None)
    assert family_verdict(True, now - timedelta(days=200), True, now) == (200, True)
    assert family_verdict(True, now - timedelta(days=28), True, now) == (28, False)
    # A lower bound below 180 days decides nothing; one above it does.
    assert family_verdict(True, now - timedelta(days=28), False, now) == (28, None)
    assert family_verdict(True, now - timedelta(days=190), False, now) == (190, True)


# --- a planted Debian tree ----------------------------------------------------------


def rfc_line(moment: datetime, index: int = 0) -> str:
    """A real rsyslog line with its RFC 3339 timestamp replaced by `moment`."""
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "+00:00"
    return stamp + RFC_LINES[index][32:]


def plant(path: Path, text: str, mtime: datetime, compress: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode()
    path.write_bytes(gzip.compress(data) if compress else data)
    os.utime(path, (mtime.timestamp(), mtime.timestamp()))


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, datetime]:
    root = copy_tree(debian_tree(), tmp_path_factory.mktemp("oldest") / "root")
    now = datetime.now(UTC).replace(microsecond=0)
    log = root / "var" / "log"
    oldest = now - timedelta(days=200)
    plant(log / "auth.log", "\n".join(rfc_line(now - timedelta(hours=h)) for h in (3, 2)), now)
    for n in (1, 2, 3):
        start = now - timedelta(days=7 * n)
        text = "\n".join(rfc_line(start + timedelta(hours=h), h) for h in range(3)) + "\n"
        plant(log / (f"auth.log.{n}" + (".gz" if n > 1 else "")), text, start, compress=n > 1)
    text = "\n".join(rfc_line(oldest + timedelta(days=d), d) for d in range(3)) + "\n"
    plant(log / "auth.log.4.gz", text, oldest + timedelta(days=7), compress=True)
    # system family: the oldest file is corrupt, so only a lower bound is known.
    plant(log / "syslog", rfc_line(now) + "\n", now)
    plant(log / "syslog.1", rfc_line(now - timedelta(days=10)) + "\n", now - timedelta(days=3))
    (log / "syslog.2.gz").write_bytes(b"\x1f\x8b broken")
    os.utime(log / "syslog.2.gz", ((now - timedelta(days=20)).timestamp(),) * 2)
    # RHEL-style dateext files with traditional timestamps, and an empty oldest file.
    plant(log / "secure-20250101", "", now - timedelta(days=400))
    plant(log / "secure-20260601", "\n".join(TRADITIONAL_LINES) + "\n", utc(2026, 12, 1, 0, 0))
    # audit: auditd's own rotation (audit.log.1 is older than audit.log).
    plant(log / "audit" / "audit.log.1", "\n".join(AUDIT_LINES) + "\n", now - timedelta(days=1))
    plant(log / "audit" / "audit.log", "", now)
    # journal: one archived file whose name carries its head time, one active file.
    machine = log / "journal" / "3d1219c7c4c5404aaa1f6d2a48adfda4"
    head = now - timedelta(days=250)
    usec = int(head.timestamp()) * 10**6
    archived = f"system@a8f84f2adb394c5f9d5e0867b550d193-0000000000000001-{usec:016x}.journal"
    plant(machine / archived, "", head + timedelta(days=30))
    plant(machine / "system.journal", "", now)
    return root, now


def test_planted_oldest_entries(planted: tuple[Path, datetime]) -> None:
    root, now = planted
    record = collect("logging.oldest_entries", RootHost(root))
    families = record.facts["families"]
    auth = families["auth"]
    assert auth["oldest_entry"] == format_timestamp(now - timedelta(days=200))
    assert (auth["days_covered"], auth["meets_180_days"], auth["exact"]) == (200, True, True)
    by_path = {f["path"]: f for f in auth["files"]}
    assert by_path["/var/log/auth.log.4.gz"]["read"] is True
    assert by_path["/var/log/auth.log"]["read"] is False  # newer files are not needed
    assert by_path["/var/log/secure-20250101"]["size"] == 0
    # The secure file dated from its Dec 2026 mtime: "Nov 26" is 2026-11-26.
    assert by_path["/var/log/secure-20260601"]["first_entry"] is None  # not read: newer
    system = families["system"]
    assert system["exact"] is False
    assert system["oldest_entry"] == format_timestamp(now - timedelta(days=10))
    assert (system["days_covered"], system["meets_180_days"]) == (10, None)
    assert "/var/log/syslog.2.gz: could not decompress" in record.errors
    audit = families["audit"]
    assert audit["oldest_entry"] == "2026-11-26T06:07:33.639000Z"
    journal = families["journal"]
    assert journal["oldest_entry"] == format_timestamp(now - timedelta(days=250))
    assert (journal["exact"], journal["meets_180_days"]) == (True, True)
    assert record.errors == ["/var/log/syslog.2.gz: could not decompress"]


def test_configured_28_days_but_200_days_kept(planted: tuple[Path, datetime]) -> None:
    # The tree's logrotate keeps auth.log weekly x 4; the planted files reach further
    # (e.g. copied back from an archive): both facts are reported, neither hides the other.
    root, _ = planted
    rotate = (root / "etc" / "logrotate.d" / "rsyslog").read_text()
    assert "\tweekly\n" in rotate and "\trotate 4\n" in rotate
    logrotate = collect("logging.logrotate", RootHost(root)).facts
    auth = next(k for k in logrotate["key_logs"] if k["path"] == "/var/log/auth.log")
    assert (auth["retention_days"], auth["meets_180_days"], auth["exists"]) == (28, False, True)
    oldest = collect("logging.oldest_entries", RootHost(root)).facts
    assert oldest["families"]["auth"]["meets_180_days"] is True


def test_traditional_year_inference_in_a_tree(tmp_path: Path) -> None:
    root = tmp_path / "root"
    plant(
        root / "var/log/secure-20270103",
        "\n".join(TRADITIONAL_LINES) + "\n",
        utc(2027, 1, 3, 3, 0),
    )
    plant(root / "var/log/secure", TRADITIONAL_LINES[0] + "\n", utc(2027, 1, 10))
    collection = Collection(RootHost(root))
    facts = all_collectors()["logging.oldest_entries"].function(collection)
    auth = facts.model_dump()["families"]["auth"]
    assert auth["oldest_entry"] == "2026-11-26T06:07:22.000000Z"
    assert [f["path"] for f in auth["files"]] == ["/var/log/secure-20270103", "/var/log/secure"]


class QuietJournalctlHost(RootHost):
    """A tree where journalctl runs but lists nothing, as for an agent user outside the
    adm/systemd-journal groups."""

    def run(self, argv: Sequence[str], timeout: float) -> CommandResult:
        return CommandResult(tuple(argv), 0, b"", b"", 1)


def test_journal_files_journalctl_cannot_see(planted: tuple[Path, datetime]) -> None:
    root, now = planted
    (root / "usr" / "bin" / "journalctl").write_bytes(b"")
    try:
        record = collect("logging.oldest_entries", QuietJournalctlHost(root))
    finally:
        (root / "usr" / "bin" / "journalctl").unlink()
    journal = record.facts["families"]["journal"]
    assert journal["present"] is True  # not "no journal": the files are there
    assert journal["oldest_entry"] == format_timestamp(now - timedelta(days=250))
    assert (
        "journalctl --header listed no journal files, but there are some (permissions?)"
        in record.errors
    )


class UnlistableLogHost(RootHost):
    def list_dir(self, path: str) -> list[str]:
        if path == "/var/log":
            raise PermissionError(13, "Permission denied", path)
        return super().list_dir(path)


def test_unlistable_directory_is_unknown(planted: tuple[Path, datetime]) -> None:
    root, _ = planted
    record = collect("logging.oldest_entries", UnlistableLogHost(root))
    auth = record.facts["families"]["auth"]
    assert (auth["present"], auth["exact"], auth["meets_180_days"]) == (False, False, None)
    assert any(error.startswith("/var/log: ") for error in record.errors)


# --- this machine -------------------------------------------------------------------


def test_local_machine() -> None:
    record = collect("logging.oldest_entries", LocalHost())
    families = record.facts["families"]
    names = os.listdir("/var/log")
    has_auth = any(n.startswith(("auth.log", "secure")) for n in names)
    assert families["auth"]["present"] == has_auth
    if not has_auth:
        assert families["auth"]["meets_180_days"] is False
    header = subprocess.run(
        ["journalctl", "--header", "--no-pager"], capture_output=True, text=True, check=False
    )
    expected_files = [
        line[len("File path: ") :]
        for line in header.stdout.splitlines()
        if line.startswith("File path: ")
    ]
    assert [f["path"] for f in families["journal"]["files"]] == expected_files
    assert families["journal"]["present"] == bool(expected_files)
    canonical_json(record.facts)


# --- property tests -----------------------------------------------------------------

_STAMPS = st.one_of(
    st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(9000, 1, 1)).map(
        lambda d: d.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
    ),
    st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(9000, 1, 1)).map(
        lambda d: d.strftime("%b %e %H:%M:%S")
    ),
    st.integers(min_value=0, max_value=10**13).map(lambda n: f"type=X msg=audit({n}.5:1): x"),
)


@given(
    st.one_of(
        st.text(max_size=80), _STAMPS, st.tuples(_STAMPS, st.text(max_size=20)).map(" ".join)
    ),
    st.one_of(
        st.none(),
        st.datetimes(
            min_value=datetime(1971, 1, 1), max_value=datetime(9000, 1, 1), timezones=st.just(UTC)
        ),
    ),
)
def test_timestamp_parser_total(line: str, mtime: datetime | None) -> None:
    moment = parse_line_timestamp(line, mtime)
    assert moment == parse_line_timestamp(line, mtime)
    if moment is not None:
        assert moment.tzinfo is not None
        format_timestamp(moment)
        if mtime is not None and line[:3].isalpha() and not line.startswith("type="):
            assert moment <= mtime + timedelta(days=1)


@given(st.text(max_size=400))
def test_journal_header_parser_total(text: str) -> None:
    heads = parse_journal_header(text)
    assert heads == parse_journal_header(text)
    assert all(isinstance(path, str) for path, _ in heads)
