"""logging.oldest_entries: how far back the auth, system and audit logs actually reach.

Configuration says how long logs *should* be kept (logging.logrotate, logging.audit);
this collector reads what *is* kept: the first timestamped line of the oldest file of each
log family (rotated files included, .gz/.xz/.bz2 decompressed in memory up to a cap), and
the head timestamp of the systemd journal. `meets_180_days` compares the age of the oldest
entry with the six months of Cybersecurity Law Art. 21 (180 days).

Timestamps understood: RFC 3339 ("2026-11-25T06:01:02.123456+00:00", rsyslog's default
file format since Debian 12), traditional syslog ("Nov 25 06:01:02": no year and no
zone; the year is the latest one that puts the entry at or before the file's mtime, and
the time is read as UTC, so it may be off by the host's UTC offset), and audit records
("msg=audit(1732500000.123:45)", epoch seconds).
"""

from __future__ import annotations

import bz2
import lzma
import posixpath
import re
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ConfigDict

from collectors.provenance import Collection
from collectors.registry import collector
from evidence.canonical import format_timestamp

RETENTION_DAYS_REQUIRED = 180  # Cybersecurity Law Art. 21: "no less than six months"
# Log families: name -> (directory, base names). Debian writes auth.log/syslog, RHEL
# secure/messages; both may exist on one host.
FAMILIES = {
    "auth": ("/var/log", ("auth.log", "secure")),
    "system": ("/var/log", ("syslog", "messages")),
    "audit": ("/var/log/audit", ("audit.log",)),
}
JOURNALCTL_PATHS = ("/usr/bin/journalctl", "/bin/journalctl")
JOURNAL_DIRS = ("/var/log/journal", "/run/log/journal")
READ_CAP = 16 * 1024 * 1024  # bytes read from one file (compressed size for archives)
HEAD_BYTES = 64 * 1024  # bytes of (decompressed) text searched for the first timestamp
HEAD_LINES = 50
TRADITIONAL_SLACK = timedelta(days=1)  # a zone-less time may be ahead of the UTC mtime
MAX_YEARS_BACK = 8  # enough to find a 29 February

_ROTATED = re.compile(
    r"^(?P<base>.+?)(?:\.(?P<n>\d{1,6})|-(?P<date>\d{8}(?:\d{2})?))?(?P<ext>\.gz|\.xz|\.bz2|\.zst|\.Z)?$"
)
_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:?\d{2})?(?=\s|$)"
)
_MONTHS = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
        start=1,
    )
}
_TRADITIONAL = re.compile(
    r"^(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) ([ \d]\d) (\d{2}):(\d{2}):(\d{2})(?=\s|$)"
)
_AUDIT = re.compile(r"\bmsg=audit\((\d{1,12})(?:\.(\d{1,6}))?:\d+\)")
_JOURNAL_FILE = re.compile(r"^File path:\s*(.+)$")
_JOURNAL_HEAD = re.compile(r"^Head realtime timestamp:.*\(([0-9a-fA-F]+)\)\s*$")
# Archived journal files are named <name>@<seqnum id>-<head seqnum>-<head realtime>.journal
_JOURNAL_ARCHIVE = re.compile(r"^.+@[0-9a-f]{32}-[0-9a-f]{16}-([0-9a-f]{16})\.journal$")
MAX_EPOCH_SECONDS = 253402300799  # 9999-12-31T23:59:59Z


class _Facts(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LogFile(_Facts):
    """One file of a family. `first_entry` is the time of its first timestamped line
    (UTC), None when it was not read or holds none; `read` says whether its content was
    read (only the oldest files are: see `Family`). For the journal, `read` means
    journalctl reported the file's header; without journalctl an archived file is dated
    from its name (`read` False). `size` in bytes, `mtime` UTC."""

    path: str
    size: int | None
    mtime: str | None
    read: bool
    first_entry: str | None


class Family(_Facts):
    """A log family (auth, system, audit, journal).

    Files are read oldest first (by mtime, then rotation number) until one yields a
    timestamp; `oldest_entry` is that timestamp. `exact` is False when an older
    non-empty file could not be read or dated, so the true oldest entry is older still:
    `days_covered` (whole days from `oldest_entry` to collection) is then a lower bound.
    `present` is False when no file of the family exists (then `meets_180_days` is
    False: nothing is kept), except when the directory could not be listed: then
    `exact` is False and `meets_180_days` None. `meets_180_days` is also None when
    files are present but undatable, or when a lower bound below 180 days cannot decide.
    """

    present: bool
    files: list[LogFile]
    oldest_entry: str | None
    exact: bool
    days_covered: int | None
    meets_180_days: bool | None


class OldestEntriesFacts(_Facts):
    """Facts of `logging.oldest_entries`: one `Family` each for "auth" (auth.log*,
    secure*), "system" (syslog*, messages*), "audit" (audit/audit.log*) and "journal"
    (the systemd journal, from `journalctl --header`, or without a runnable journalctl
    from the names of archived journal files). `collected_at` is the reference time for
    `days_covered`; `required_days` is 180."""

    collected_at: str
    required_days: int
    families: dict[str, Family]


# --- pure parsing -------------------------------------------------------------------


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def parse_line_timestamp(line: str, mtime: datetime | None) -> datetime | None:
    """The UTC time at the start of a log line (or of an audit record), or None.

    `mtime` (the file's modification time) supplies the year of traditional syslog
    timestamps; without it those give None.
    """
    match = _RFC3339.match(line)
    if match is not None:
        year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
        fraction = match.group(7)
        micro = int((fraction[1:] + "000000")[:6]) if fraction else 0
        zone = match.group(8)
        try:
            moment = datetime(year, month, day, hour, minute, second, micro)
            if zone is None or zone == "Z":
                return moment.replace(tzinfo=UTC)
            sign = 1 if zone[0] == "+" else -1
            digits = zone[1:].replace(":", "")
            offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
            if offset >= timedelta(hours=24):
                return None
            return (moment - sign * offset).replace(tzinfo=UTC)
        except (ValueError, OverflowError):
            return None
    match = _TRADITIONAL.match(line)
    if match is not None:
        if mtime is None:
            return None
        reference = _aware(mtime) + TRADITIONAL_SLACK
        month = _MONTHS[match.group(1)]
        day, hour, minute, second = (int(g) for g in match.groups()[1:])
        for year in range(reference.year, reference.year - MAX_YEARS_BACK, -1):
            try:
                moment = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
            except ValueError:
                continue  # 29 February of a common year, or an impossible date
            if moment <= reference:
                return moment
        return None
    match = _AUDIT.search(line)
    if match is not None and line.startswith(("type=", "node=")):
        seconds = int(match.group(1))
        micro = int((match.group(2) or "0").ljust(6, "0")[:6])
        if seconds > MAX_EPOCH_SECONDS:
            return None
        return datetime.fromtimestamp(seconds, UTC) + timedelta(microseconds=micro)
    return None


def first_timestamp(text: str, mtime: datetime | None) -> datetime | None:
    """The timestamp of the first of the first `HEAD_LINES` lines that has one."""
    for line in text.splitlines()[:HEAD_LINES]:
        moment = parse_line_timestamp(line, mtime)
        if moment is not None:
            return moment
    return None


def decompress_head(data: bytes, extension: str | None) -> bytes | None:
    """Up to HEAD_BYTES of the decompressed start of `data`; None when it is corrupt or
    the format is not one the standard library reads (.zst, .Z)."""
    try:
        if extension is None:
            return data[:HEAD_BYTES]
        if extension == ".gz":
            return zlib.decompressobj(wbits=47).decompress(data, HEAD_BYTES)
        if extension == ".xz":
            return lzma.LZMADecompressor().decompress(data, max_length=HEAD_BYTES)
        if extension == ".bz2":
            return bz2.BZ2Decompressor().decompress(data, max_length=HEAD_BYTES)
    except (zlib.error, lzma.LZMAError, OSError, EOFError, ValueError):
        return None
    return None


@dataclass(frozen=True)
class Candidate:
    path: str
    size: int | None
    mtime: datetime | None
    rotation: int  # .N suffix; 0 for the live file and for date suffixes
    extension: str | None


def family_files(
    names: list[str], directory: str, bases: tuple[str, ...]
) -> list[tuple[str, int, str | None]]:
    """(path, rotation number, compression extension) of `names` that belong to `bases`:
    the live file, `.N`, `-YYYYMMDD[HH]`, each optionally compressed."""
    found = []
    for name in names:
        match = _ROTATED.match(name)
        if match is None or match.group("base") not in bases:
            continue
        if match.group("ext") and not (match.group("n") or match.group("date")):
            continue  # "syslog.gz" is not a rotation name logrotate writes
        rotation = int(match.group("n")) if match.group("n") else 0
        found.append((posixpath.join(directory, name), rotation, match.group("ext")))
    return found


def oldest_first(candidates: list[Candidate]) -> list[Candidate]:
    def key(candidate: Candidate) -> tuple[float, int, str]:
        stamp = candidate.mtime.timestamp() if candidate.mtime is not None else float("inf")
        return (stamp, -candidate.rotation, candidate.path)

    return sorted(candidates, key=key)


def days_between(oldest: datetime, now: datetime) -> int:
    return int((now - oldest).total_seconds() // 86400)


def family_verdict(
    present: bool, oldest: datetime | None, exact: bool, now: datetime
) -> tuple[int | None, bool | None]:
    """(days_covered, meets_180_days) for a family."""
    if not present:
        return None, False
    if oldest is None:
        return None, None
    days = days_between(oldest, now)
    if days >= RETENTION_DAYS_REQUIRED:
        return days, True
    return days, False if exact else None


def _family(files: list[LogFile], oldest: datetime | None, exact: bool, now: datetime) -> Family:
    days, verdict = family_verdict(bool(files), oldest, exact, now)
    return Family(
        present=bool(files),
        files=files,
        oldest_entry=_iso(oldest),
        exact=exact,
        days_covered=days,
        meets_180_days=verdict,
    )


def parse_journal_header(text: str) -> list[tuple[str, datetime | None]]:
    """(file path, head entry time) per file in `journalctl --header` output; the time is
    read from the hexadecimal microseconds journalctl prints in parentheses, None for a
    file without entries."""
    files: list[tuple[str, datetime | None]] = []
    path: str | None = None
    for line in text.splitlines():
        match = _JOURNAL_FILE.match(line)
        if match is not None:
            if path is not None:
                files.append((path, None))
            path = match.group(1).strip()
            continue
        match = _JOURNAL_HEAD.match(line)
        if match is not None and path is not None:
            files.append((path, _usec(int(match.group(1), 16))))
            path = None
    if path is not None:
        files.append((path, None))
    return files


def _usec(value: int) -> datetime | None:
    if value <= 0 or value // 1_000_000 > MAX_EPOCH_SECONDS:
        return None
    return datetime.fromtimestamp(value // 1_000_000, UTC) + timedelta(
        microseconds=value % 1_000_000
    )


def journal_archive_head(name: str) -> datetime | None:
    """Head entry time encoded in an archived journal file name, or None."""
    match = _JOURNAL_ARCHIVE.match(name)
    return _usec(int(match.group(1), 16)) if match else None


# --- collection ---------------------------------------------------------------------


def _iso(moment: datetime | None) -> str | None:
    return format_timestamp(moment) if moment is not None else None


def _read_head(c: Collection, candidate: Candidate) -> tuple[bool, datetime | None]:
    """(read, first entry) of one file; errors are recorded on `c`."""
    if candidate.extension in (".zst", ".Z"):
        c.error(f"{candidate.path}: {candidate.extension} files cannot be read without extra tools")
        return False, None
    data = c.read_bytes(candidate.path, max_bytes=READ_CAP)
    if data is None:
        return False, None
    head = decompress_head(data, candidate.extension)
    if head is None:
        c.error(f"{candidate.path}: could not decompress")
        return False, None
    text = head.decode("utf-8", errors="replace")
    return True, first_timestamp(text, candidate.mtime)


def _file_family(c: Collection, directory: str, bases: tuple[str, ...], now: datetime) -> Family:
    listed = c.list_dir(directory, missing_ok=True)
    if listed is None and c.host.exists(directory):
        # Unlistable (the error is recorded): whether files exist is unknown.
        return Family(
            present=False,
            files=[],
            oldest_entry=None,
            exact=False,
            days_covered=None,
            meets_180_days=None,
        )
    names = listed or []
    candidates = []
    for path, rotation, extension in family_files(names, directory, bases):
        info = c.host.stat(path)
        if info is None or info.is_dir:
            continue
        mtime = datetime.fromtimestamp(info.mtime, UTC)
        candidates.append(Candidate(path, info.size, mtime, rotation, extension))
    ordered = oldest_first(candidates)
    results: dict[str, tuple[bool, datetime | None]] = {}
    oldest: datetime | None = None
    exact = True
    for candidate in ordered:
        if candidate.size == 0:
            results[candidate.path] = (False, None)
            continue  # an empty file holds no entries
        read, first = _read_head(c, candidate)
        results[candidate.path] = (read, first)
        if first is not None:
            oldest = first
            break
        exact = False  # this older file has content we could not date
        if read:
            c.error(f"{candidate.path}: no timestamp in its first {HEAD_LINES} lines")
    files = [
        LogFile(
            path=candidate.path,
            size=candidate.size,
            mtime=_iso(candidate.mtime),
            read=results.get(candidate.path, (False, None))[0],
            first_entry=_iso(results.get(candidate.path, (False, None))[1]),
        )
        for candidate in ordered
    ]
    return _family(files, oldest, exact, now)


def _journal_family(c: Collection, now: datetime) -> Family:
    reported_nothing = False
    if any(c.host.exists(path) for path in JOURNALCTL_PATHS):
        result = c.run(["journalctl", "--header", "--no-pager"], timeout=60)
        if result.ok:
            reported = parse_journal_header(result.stdout.decode("utf-8", errors="replace"))
            if reported:
                return _journal_from_heads(c, reported, now, exact=True, read=True)
            reported_nothing = True  # no journal, or none this user may read: look below
    # No runnable journalctl (a RootHost, or not installed): archived file names carry
    # their head time. Active files (no "@" in the name) hold only entries newer than the
    # archives; any other undated file (a "*.journal~" set aside as corrupt) may be older.
    heads: list[tuple[str, datetime | None]] = []
    for directory in JOURNAL_DIRS:
        for machine in c.list_dir(directory, missing_ok=True) or []:
            machine_dir = posixpath.join(directory, machine)
            info = c.host.stat(machine_dir)
            if info is None or not info.is_dir:
                continue
            for name in c.list_dir(machine_dir, missing_ok=True) or []:
                if name.endswith((".journal", ".journal~")):
                    heads.append((posixpath.join(machine_dir, name), journal_archive_head(name)))
    exact = all(head is not None or "@" not in posixpath.basename(path) for path, head in heads)
    family = _journal_from_heads(c, heads, now, exact=exact, read=False)
    if family.present and reported_nothing:
        c.error("journalctl --header listed no journal files, but there are some (permissions?)")
    if family.present and family.oldest_entry is None:
        c.error("journal files present but only journalctl can date their first entry")
    return family


def _journal_from_heads(
    c: Collection,
    heads: list[tuple[str, datetime | None]],
    now: datetime,
    exact: bool,
    read: bool,
) -> Family:
    files = []
    for path, head in heads:
        info = c.host.stat(path)
        files.append(
            LogFile(
                path=path,
                size=info.size if info is not None else None,
                mtime=_iso(datetime.fromtimestamp(info.mtime, UTC)) if info is not None else None,
                read=read,
                first_entry=_iso(head),
            )
        )
    dated = [head for _, head in heads if head is not None]
    oldest = min(dated) if dated else None
    return _family(files, oldest, exact, now)


def collect_at(c: Collection, now: datetime) -> OldestEntriesFacts:
    families: dict[str, Family] = {
        name: _file_family(c, directory, bases, now)
        for name, (directory, bases) in FAMILIES.items()
    }
    families["journal"] = _journal_family(c, now)
    return OldestEntriesFacts(
        collected_at=format_timestamp(now),
        required_days=RETENTION_DAYS_REQUIRED,
        families=families,
    )


@collector("logging.oldest_entries", version="1", category="logging", facts=OldestEntriesFacts)
def collect(c: Collection) -> OldestEntriesFacts:
    """The oldest entry actually kept in auth, system, audit logs and the journal."""
    return collect_at(c, datetime.now(UTC))
