"""access.logins: who logged in, who failed to, who is on now, and who never comes back.

Reads the binary login accounting files glibc writes on Linux (x86_64 and other 64-bit
ABIs that keep the 32-bit-time `struct utmp` of 384 bytes): /var/log/wtmp (+ .1) for
logins, /var/log/btmp (+ .1) for failed logins, /var/run/utmp for current sessions,
and /var/log/lastlog (optional) for each uid's last login. Parsing is pure Python
(struct); a trailing partial record is counted, never raised.

Failed-login user names are a known leak: people type their password into the user
name prompt. Names of failed logins are therefore reported only when they are accounts
in /etc/passwd; all other names are counted together, never shown.
"""

from __future__ import annotations

import ipaddress
import struct
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ConfigDict

from collectors.access.accounts import PasswdEntry, interactive_shell, parse_passwd
from collectors.provenance import Collection
from collectors.registry import collector
from evidence.canonical import format_timestamp

PASSWD = "/etc/passwd"  # noqa: S105 (a file path, not a password)
WTMP_FILES = ("/var/log/wtmp.1", "/var/log/wtmp")
BTMP_FILES = ("/var/log/btmp.1", "/var/log/btmp")
UTMP = "/var/run/utmp"
LASTLOG = "/var/log/lastlog"
# An account with an interactive shell and no login for this many days is dormant
# (GB/T 22239 8.1.4.2 c: remove redundant and expired accounts; 90 days is the usual
# audit threshold).
DORMANT_DAYS = 90
TOP_SOURCES = 5
# Whole files are read into memory: beyond these sizes a file is reported as an
# error instead (a brute-forced host's btmp can reach gigabytes).
MAX_UTMP_BYTES = 16 * 1024 * 1024
MAX_LASTLOG_BYTES = 8 * 1024 * 1024

# glibc `struct utmp` (bits/utmp.h) on x86_64: ut_type, pad, ut_pid, ut_line[32],
# ut_id[4], ut_user[32], ut_host[256], ut_exit {e_termination, e_exit}, ut_session,
# ut_tv {tv_sec, tv_usec} (int32 each), ut_addr_v6[4], __glibc_reserved[20].
UTMP_STRUCT = struct.Struct("<h2xi32s4s32s256shhiii16s20s")
UTMP_SIZE = UTMP_STRUCT.size  # 384
# `struct lastlog`: ll_time (int32), ll_line[32], ll_host[256]; one per uid.
LASTLOG_STRUCT = struct.Struct("<i32s256s")
LASTLOG_SIZE = LASTLOG_STRUCT.size  # 292

EMPTY, RUN_LVL, BOOT_TIME, NEW_TIME, OLD_TIME = 0, 1, 2, 3, 4
INIT_PROCESS, LOGIN_PROCESS, USER_PROCESS, DEAD_PROCESS, ACCOUNTING = 5, 6, 7, 8, 9


class LastLogin(BaseModel):
    """The latest login of an account: `source` "wtmp" or "lastlog" (whichever is later).
    `host` is the remote host as recorded (None for a local login), `address` the
    remote IP from ut_addr_v6 (None when not recorded)."""

    model_config = ConfigDict(extra="forbid")

    user: str
    time: str
    line: str
    host: str | None
    address: str | None
    source: str


class SourceCount(BaseModel):
    """A remote source of failed logins: its host (or address) and how many."""

    model_config = ConfigDict(extra="forbid")

    source: str
    count: int


class FailedLogins(BaseModel):
    """Failed logins for one account (or, with `user` None, for all names that are not
    accounts — never shown since they may be mistyped passwords) in the btmp files:
    `count`, `last_time`, and up to five `top_sources`, most frequent first
    ("(local)" for failures without a remote host). `distinct_names` counts the
    different names (1 for an account)."""

    model_config = ConfigDict(extra="forbid")

    user: str | None
    count: int
    distinct_names: int
    last_time: str
    top_sources: list[SourceCount]


class Session(BaseModel):
    """A current login session (a USER_PROCESS record in utmp)."""

    model_config = ConfigDict(extra="forbid")

    user: str
    line: str
    host: str | None
    address: str | None
    time: str
    pid: int


class DormantAccount(BaseModel):
    """An account with an interactive shell and no login in `DORMANT_DAYS` days:
    `last_login` None means none recorded at all (in wtmp since its window start, or in
    lastlog); `days_since_login` is whole days before collection."""

    model_config = ConfigDict(extra="forbid")

    user: str
    last_login: str | None
    days_since_login: int | None


class LoginFile(BaseModel):
    """A login accounting file read: whole records, bytes left over after the last
    whole record (a truncated write), and the earliest and latest record times (None
    when it has no records)."""

    model_config = ConfigDict(extra="forbid")

    path: str
    records: int
    trailing_bytes: int
    first_time: str | None
    last_time: str | None


class LoginsFacts(BaseModel):
    """Facts of `access.logins`.

    `files` lists every file that was read. `wtmp_window_start`/`btmp_window_start`
    are the earliest record times, i.e. how far back "last login" and failed-login
    counts reach (None when no records). `last_logins` (sorted by user) is None when
    neither a wtmp file nor lastlog could be read; `failed_logins` (accounts, most
    failures first) and `failed_unknown_users` (the others, aggregated) are None when
    no btmp file could be read; `current_sessions` is None when utmp could not be read.
    `dormant_accounts` lists interactive-shell accounts without a login in
    `dormant_after_days` days; None when /etc/passwd or every login source was
    unreadable. `truncated_records` counts files ending in a partial record.
    """

    model_config = ConfigDict(extra="forbid")

    files: list[LoginFile]
    wtmp_window_start: str | None
    btmp_window_start: str | None
    last_logins: list[LastLogin] | None
    failed_logins: list[FailedLogins] | None
    failed_unknown_users: FailedLogins | None
    failed_total: int | None
    current_sessions: list[Session] | None
    dormant_after_days: int
    dormant_accounts: list[DormantAccount] | None
    truncated_records: int


# --- pure parsing ---------------------------------------------------------------------


@dataclass(frozen=True)
class UtmpRecord:
    type: int
    pid: int
    line: str
    id: str
    user: str
    host: str
    exit_termination: int
    exit_status: int
    session: int
    seconds: int
    microseconds: int
    address: str | None

    @property
    def time(self) -> datetime:
        micro = self.microseconds if 0 <= self.microseconds < 1_000_000 else 0
        return datetime.fromtimestamp(self.seconds, UTC) + timedelta(microseconds=micro)

    @property
    def source(self) -> str | None:
        return self.host or self.address


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", errors="replace")


def _address(raw: bytes) -> str | None:
    """ut_addr_v6: an IPv4 address in the first word (rest zero), else IPv6."""
    if not any(raw):
        return None
    if not any(raw[4:]):
        return str(ipaddress.IPv4Address(raw[:4]))
    return str(ipaddress.IPv6Address(raw))


def iter_utmp(data: bytes) -> Iterator[UtmpRecord]:
    """Every whole record of a utmp/wtmp/btmp file, in file order."""
    whole = len(data) - len(data) % UTMP_SIZE
    for fields in UTMP_STRUCT.iter_unpack(memoryview(data)[:whole]):
        (kind, pid, line, ut_id, user, host, term, status, session, sec, usec, addr, _) = fields
        yield UtmpRecord(
            type=kind,
            pid=pid,
            line=_text(line),
            id=_text(ut_id),
            user=_text(user),
            host=_text(host),
            exit_termination=term,
            exit_status=status,
            session=session,
            seconds=sec,
            microseconds=usec,
            address=_address(addr),
        )


def trailing_bytes(data: bytes) -> int:
    return len(data) % UTMP_SIZE


def is_login(record: UtmpRecord) -> bool:
    """A login in wtmp, as util-linux `last` counts them: a named, non-"LOGIN" record
    on a terminal line that is not a logout and not a reboot/shutdown/runlevel ("~")."""
    return (
        bool(record.user)
        and bool(record.line)
        and not record.line.startswith("~")
        and record.user != "LOGIN"
        and record.type != DEAD_PROCESS
    )


def is_session(record: UtmpRecord) -> bool:
    """A current session in utmp, as `who` counts them."""
    return record.type == USER_PROCESS and bool(record.user)


@dataclass
class FileSummary:
    records: int = 0
    first: UtmpRecord | None = None
    last: UtmpRecord | None = None

    def add(self, record: UtmpRecord) -> None:
        self.records += 1
        if self.first is None or record.seconds < self.first.seconds:
            self.first = record
        if self.last is None or record.seconds > self.last.seconds:
            self.last = record


def last_logins_from(records: Iterable[UtmpRecord], into: dict[str, UtmpRecord]) -> None:
    """Keep in `into` the latest login record per user."""
    for record in records:
        if is_login(record):
            seen = into.get(record.user)
            if seen is None or (record.seconds, record.microseconds) >= (
                seen.seconds,
                seen.microseconds,
            ):
                into[record.user] = record


@dataclass
class FailedTally:
    count: int = 0
    last: UtmpRecord | None = None
    names: set[str] = field(default_factory=set)
    sources: Counter[str] = field(default_factory=Counter)

    def add(self, record: UtmpRecord) -> None:
        self.count += 1
        self.names.add(record.user)
        self.sources[record.source or "(local)"] += 1
        if self.last is None or record.seconds >= self.last.seconds:
            self.last = record

    def facts(self, user: str | None) -> FailedLogins:
        assert self.last is not None
        top = sorted(self.sources.items(), key=lambda item: (-item[1], item[0]))[:TOP_SOURCES]
        return FailedLogins(
            user=user,
            count=self.count,
            distinct_names=len(self.names),
            last_time=format_timestamp(self.last.time),
            top_sources=[SourceCount(source=s, count=n) for s, n in top],
        )


def tally_failures(
    records: Iterable[UtmpRecord], accounts: set[str]
) -> tuple[dict[str, FailedTally], FailedTally]:
    """Failed logins (every named btmp record, as `lastb` lists them) per account, and
    one tally for all names that are not accounts."""
    known: dict[str, FailedTally] = {}
    unknown = FailedTally()
    for record in records:
        if not record.user:
            continue
        if record.user in accounts:
            known.setdefault(record.user, FailedTally()).add(record)
        else:
            unknown.add(record)
    return known, unknown


@dataclass(frozen=True)
class LastlogEntry:
    seconds: int
    line: str
    host: str


def parse_lastlog(data: bytes, entries: list[PasswdEntry]) -> dict[str, LastlogEntry]:
    """The last login of each account with one in lastlog (indexed by uid)."""
    result: dict[str, LastlogEntry] = {}
    for entry in entries:
        offset = entry.uid * LASTLOG_SIZE
        if offset + LASTLOG_SIZE > len(data):
            continue
        seconds, line, host = LASTLOG_STRUCT.unpack_from(data, offset)
        if seconds > 0:
            result[entry.name] = LastlogEntry(seconds, _text(line), _text(host))
    return result


def merge_last_logins(
    wtmp: dict[str, UtmpRecord] | None, lastlog: dict[str, LastlogEntry] | None
) -> list[LastLogin] | None:
    if wtmp is None and lastlog is None:
        return None
    merged: dict[str, LastLogin] = {}
    seconds: dict[str, int] = {}
    for user, record in (wtmp or {}).items():
        merged[user] = LastLogin(
            user=user,
            time=format_timestamp(record.time),
            line=record.line,
            host=record.host or None,
            address=record.address,
            source="wtmp",
        )
        seconds[user] = record.seconds
    for user, entry in (lastlog or {}).items():
        if user in seconds and seconds[user] >= entry.seconds:
            continue
        merged[user] = LastLogin(
            user=user,
            time=format_timestamp(datetime.fromtimestamp(entry.seconds, UTC)),
            line=entry.line,
            host=entry.host or None,
            address=None,
            source="lastlog",
        )
    return [merged[user] for user in sorted(merged)]


def dormant_accounts(
    entries: list[PasswdEntry], last: list[LastLogin], now: datetime, days: int = DORMANT_DAYS
) -> list[DormantAccount]:
    by_user = {login.user: login for login in last}
    result = []
    for entry in entries:
        if not interactive_shell(entry.shell):
            continue
        login = by_user.get(entry.name)
        if login is None:
            result.append(DormantAccount(user=entry.name, last_login=None, days_since_login=None))
            continue
        when = datetime.fromisoformat(login.time.replace("Z", "+00:00"))
        age = (now - when).days
        if age >= days:
            result.append(
                DormantAccount(user=entry.name, last_login=login.time, days_since_login=age)
            )
    return sorted(result, key=lambda d: d.user)


def _file_facts(path: str, data: bytes, summary: FileSummary) -> LoginFile:
    return LoginFile(
        path=path,
        records=summary.records,
        trailing_bytes=trailing_bytes(data),
        first_time=format_timestamp(summary.first.time) if summary.first else None,
        last_time=format_timestamp(summary.last.time) if summary.last else None,
    )


def _earliest(files: list[LoginFile], paths: tuple[str, ...]) -> str | None:
    times = [f.first_time for f in files if f.path in paths and f.first_time is not None]
    return min(times) if times else None


# --- collection -------------------------------------------------------------------------


def build_facts(
    wtmp: dict[str, bytes],
    btmp: dict[str, bytes],
    utmp: bytes | None,
    lastlog: bytes | None,
    passwd: list[PasswdEntry] | None,
    now: datetime,
) -> LoginsFacts:
    """Facts from the file contents that could be read (path → bytes; None/absent for
    unreadable ones) at collection time `now`."""
    files: list[LoginFile] = []

    def read(path: str, data: bytes) -> Iterator[UtmpRecord]:
        summary = FileSummary()
        for record in iter_utmp(data):
            summary.add(record)
            yield record
        files.append(_file_facts(path, data, summary))

    latest: dict[str, UtmpRecord] | None = {} if wtmp else None
    for path, data in wtmp.items():
        last_logins_from(read(path, data), latest if latest is not None else {})
    accounts = {entry.name for entry in passwd or []}
    failed: list[FailedLogins] | None = None
    unknown_facts: FailedLogins | None = None
    total: int | None = None
    if btmp:
        known: dict[str, FailedTally] = {}
        unknown = FailedTally()
        for path, data in btmp.items():
            file_known, file_unknown = tally_failures(read(path, data), accounts)
            for user, tally in file_known.items():
                _merge_tally(known.setdefault(user, FailedTally()), tally)
            _merge_tally(unknown, file_unknown)
        failed = sorted(
            (tally.facts(user) for user, tally in known.items()),
            key=lambda f: (-f.count, f.user or ""),
        )
        unknown_facts = unknown.facts(None) if unknown.count else None
        total = sum(f.count for f in failed) + unknown.count
    sessions: list[Session] | None = None
    if utmp is not None:
        sessions = [
            Session(
                user=r.user,
                line=r.line,
                host=r.host or None,
                address=r.address,
                time=format_timestamp(r.time),
                pid=r.pid,
            )
            for r in read(UTMP, utmp)
            if is_session(r)
        ]
    lastlog_entries = parse_lastlog(lastlog, passwd or []) if lastlog is not None else None
    last = merge_last_logins(latest, lastlog_entries)
    return LoginsFacts(
        files=sorted(files, key=lambda f: f.path),
        wtmp_window_start=_earliest(files, WTMP_FILES),
        btmp_window_start=_earliest(files, BTMP_FILES),
        last_logins=last,
        failed_logins=failed,
        failed_unknown_users=unknown_facts,
        failed_total=total,
        current_sessions=sessions,
        dormant_after_days=DORMANT_DAYS,
        dormant_accounts=(
            dormant_accounts(passwd, last, now) if passwd is not None and last is not None else None
        ),
        truncated_records=sum(1 for f in files if f.trailing_bytes),
    )


def _merge_tally(target: FailedTally, other: FailedTally) -> None:
    target.count += other.count
    target.names |= other.names
    target.sources.update(other.sources)
    if other.last is not None and (
        target.last is None or other.last.seconds >= target.last.seconds
    ):
        target.last = other.last


@collector("access.logins", version="1", category="access", facts=LoginsFacts)
def collect(c: Collection) -> LoginsFacts:
    """Last logins (wtmp, lastlog), failed logins (btmp), current sessions (utmp) and
    dormant interactive accounts."""

    def read_all(paths: tuple[str, ...]) -> dict[str, bytes]:
        found = {}
        for path in paths:
            data = c.read_bytes(path, max_bytes=MAX_UTMP_BYTES, missing_ok=True)
            if data is not None:
                found[path] = data
        return found

    passwd_text = c.read_text(PASSWD)
    facts = build_facts(
        wtmp=read_all(WTMP_FILES),
        btmp=read_all(BTMP_FILES),
        utmp=c.read_bytes(UTMP, max_bytes=MAX_UTMP_BYTES, missing_ok=True),
        lastlog=c.read_bytes(LASTLOG, max_bytes=MAX_LASTLOG_BYTES, missing_ok=True),
        passwd=parse_passwd(passwd_text) if passwd_text is not None else None,
        now=datetime.now(UTC),
    )
    for login_file in facts.files:
        if login_file.trailing_bytes:
            c.error(
                f"{login_file.path}: {login_file.trailing_bytes} bytes after the last whole "
                f"{UTMP_SIZE}-byte record (truncated write)"
            )
    return facts
