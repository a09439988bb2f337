"""patch.updates: pending (security) updates, reboot need, kernel age, last patch time.

Debian/Ubuntu: the pending updates are computed from the CACHED package lists in
/var/lib/apt/lists (what the last `apt-get update` fetched), without network and without
running apt, so a RootHost and an SFTP-only host get the same answer as this machine.
Lists that apt keeps compressed (`Acquire::GzipIndexes`, as in Debian's container
images) are decompressed here: gzip, xz, bzip2 with the standard library, LZ4 frames with
a small decoder of our own (no stdlib module reads LZ4); anything else (zstd) is read
through `apt-helper cat-file` where the host runs commands.

RHEL family: the dnf/yum cache is binary repodata, so `dnf --cacheonly` is run instead;
a RootHost reports None there.
"""

from __future__ import annotations

import bz2
import io
import lzma
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from email.utils import parsedate_to_datetime
from functools import cmp_to_key
from typing import Literal, Protocol
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict

from collectors.host import RootHost
from collectors.patch.packages import (
    package_manager,
    parse_deb822,
    read_dpkg_stanzas,
    stanza_blocks,
)
from collectors.provenance import Collection, ReadFailed
from collectors.registry import collector
from evidence.canonical import format_timestamp

APT_LISTS = "/var/lib/apt/lists"
APT_PREFERENCES = "/etc/apt/preferences"
APT_PREFERENCES_D = "/etc/apt/preferences.d"
APT_HELPER = "/usr/lib/apt/apt-helper"
REBOOT_REQUIRED = "/var/run/reboot-required"
REBOOT_REQUIRED_PKGS = "/var/run/reboot-required.pkgs"
OSRELEASE = "/proc/sys/kernel/osrelease"
BOOT = "/boot"
LOCALTIME = "/etc/localtime"
LOG_DIR = "/var/log"
APT_LOG_DIR = "/var/log/apt"
DNF_CACHE = "/var/cache/dnf"
YUM_CACHE = "/var/cache/yum"
NEEDS_RESTARTING = ("/usr/bin/needs-restarting", "/bin/needs-restarting")

MAX_INDEX_BYTES = 256 * 1024 * 1024  # a full Debian main Packages list is ~50 MB
MAX_LOG_BYTES = 64 * 1024 * 1024
RPM_QUERYFORMAT = r"%{NAME}\t%{VERSION}-%{RELEASE}.%{ARCH}\t%{INSTALLTIME}\n"
RPM_KERNEL_NAMES = frozenset(
    {
        "kernel",
        "kernel-core",
        "kernel-uek",
        "kernel-uek-core",
        "kernel-rt",
        "kernel-rt-core",
        "kernel-default",
    }
)
DNF_EXIT_UPDATES = 100  # `check-update`: 100 = updates available, 0 = none, 1 = error

Method = Literal["apt-lists", "dnf-cache", "yum-cache"]


class PendingUpdate(BaseModel):
    """One installed package with a newer version in the cached package metadata.

    `architecture` is the installed package's (dpkg: "all" is kept as installed; rpm:
    the arch of the update). `security` is True when a version newer than the installed
    one is offered by a security archive (apt: a list whose file name or Release
    Suite/Label says "security"; dnf: `updateinfo list --security`). `held` is True for a
    dpkg hold (`apt-get upgrade` will not install it). `origin` names where the candidate
    comes from: the apt list file name (compression suffix removed) or the dnf repo id.
    """

    model_config = ConfigDict(extra="forbid")

    name: str
    architecture: str | None
    installed_version: str | None
    candidate_version: str
    security: bool
    held: bool
    origin: str | None


class PackageIndex(BaseModel):
    """One apt Packages list in /var/lib/apt/lists.

    `release_date` is the `Date:` of the list's InRelease/Release file (ISO 8601 UTC) or
    None when there is none. `used` is False for archives apt never upgrades from by
    default (Release `NotAutomatic: yes` without `ButAutomaticUpgrades: yes`, e.g.
    experimental). `packages` counts the stanzas in the list.
    """

    model_config = ConfigDict(extra="forbid")

    name: str
    security: bool
    suite: str | None
    release_date: str | None
    used: bool
    packages: int


class UpdatesFacts(BaseModel):
    """Facts of `patch.updates`.

    `manager` is "dpkg" or "rpm" (None: no package database found). `method` says how
    the pending updates were determined. `pending` (sorted by name, architecture) and the
    counts are None when they could not be determined (no cached lists, a RootHost on an
    rpm system, a failing dnf), never an empty list for "unknown".

    apt: the candidate of a package is, as apt picks it, the version of highest default
    pin priority for its name and architecture (500 for a release, 100 for the installed
    version and for NotAutomatic archives with ButAutomaticUpgrades such as backports, 1
    for other NotAutomatic ones such as experimental), the highest version among equals;
    arch "all" counts as the native architecture, as in apt. apt pinning in
    /etc/apt/preferences* is NOT evaluated: `pin_files` lists the files that could
    change apt's choice (empty list: none; None: not a dpkg host).
    `metadata_date` is the newest Release `Date:` (apt) or repomd.xml `<timestamp>`
    (dnf): how fresh the cached metadata is; None when unknown.

    `reboot_required`: Debian/Ubuntu `/var/run/reboot-required` exists (False when it
    does not); RHEL `needs-restarting -r` exit 1 (None when it could not run).
    `reboot_required_packages`: /var/run/reboot-required.pkgs or the packages
    needs-restarting names, sorted (None when unknown).

    `running_kernel` is /proc/sys/kernel/osrelease (None on a RootHost: a tree is not
    running). `installed_kernels` are kernel release strings (`uname -r` form) of
    installed kernel packages and /boot/vmlinuz-* files, sorted oldest first;
    `newest_kernel` is the last of them (dpkg: by Debian version order of the release
    strings; rpm: by install time). `kernel_outdated` is True when the running kernel is
    an installed kernel but not the newest, False when it is the newest, None when either
    is unknown or the running kernel is not installed on this system (a container, a
    custom kernel).

    `last_patch_time`: the latest successful package install or upgrade (dpkg: an
    `install`/`upgrade` in /var/log/dpkg.log* followed by `status installed` of that
    version, or an apt history entry with Install/Upgrade and End-Date and no Error;
    rpm: the newest INSTALLTIME). `last_upgrade_time` counts upgrades only (None on rpm,
    which does not tell them apart). Log times are local; they are converted to UTC with
    /etc/localtime (UTC when it is absent).
    """

    model_config = ConfigDict(extra="forbid")

    manager: Literal["dpkg", "rpm"] | None
    method: Method | None
    metadata_date: str | None
    indexes: list[PackageIndex] | None
    pin_files: list[str] | None
    pending_count: int | None
    security_count: int | None
    pending: list[PendingUpdate] | None
    reboot_required: bool | None
    reboot_required_packages: list[str] | None
    running_kernel: str | None
    installed_kernels: list[str] | None
    newest_kernel: str | None
    kernel_outdated: bool | None
    last_patch_time: str | None
    last_upgrade_time: str | None


# --- Debian version comparison ------------------------------------------------------


def _order(char: str) -> int:
    """dpkg's lib/dpkg/version.c order(): letters sort before other symbols, `~` first."""
    if "0" <= char <= "9":
        return 0
    if "A" <= char <= "Z" or "a" <= char <= "z":
        return ord(char)
    if char == "~":
        return -1
    return ord(char) + 256


def _is_digit(char: str) -> bool:
    return "0" <= char <= "9"


def _verrevcmp(a: str, b: str) -> int:
    """dpkg's verrevcmp(): alternate non-digit runs (by `_order`) and digit runs (by
    numeric value); a string's end counts as order 0."""
    i = j = 0
    len_a, len_b = len(a), len(b)
    while i < len_a or j < len_b:
        while (i < len_a and not _is_digit(a[i])) or (j < len_b and not _is_digit(b[j])):
            ac = _order(a[i]) if i < len_a else 0
            bc = _order(b[j]) if j < len_b else 0
            if ac != bc:
                return -1 if ac < bc else 1
            i += 1
            j += 1
        start_a = i
        while i < len_a and _is_digit(a[i]):
            i += 1
        start_b = j
        while j < len_b and _is_digit(b[j]):
            j += 1
        number_a = int(a[start_a:i]) if i > start_a else 0
        number_b = int(b[start_b:j]) if j > start_b else 0
        if number_a != number_b:
            return -1 if number_a < number_b else 1
    return 0


@dataclass(frozen=True)
class DebianVersion:
    epoch: int
    upstream: str
    revision: str


def parse_debian_version(text: str) -> DebianVersion:
    """Split `[epoch:]upstream[-revision]` as dpkg's parseversion() does (epoch before
    the first colon, revision after the last hyphen). A non-numeric epoch is kept in
    the upstream part instead of raising: the comparison stays total."""
    text = text.strip()
    epoch = 0
    head, colon, rest = text.partition(":")
    if colon and head.isascii() and head.isdigit():
        epoch, text = int(head), rest
    upstream, hyphen, revision = text.rpartition("-")
    if not hyphen:
        upstream, revision = text, ""
    return DebianVersion(epoch, upstream, revision)


def compare_versions(a: str, b: str) -> int:
    """-1, 0 or 1 as `dpkg --compare-versions a lt/eq/gt b` would answer."""
    va, vb = parse_debian_version(a), parse_debian_version(b)
    if va.epoch != vb.epoch:
        return -1 if va.epoch < vb.epoch else 1
    return _verrevcmp(va.upstream, vb.upstream) or _verrevcmp(va.revision, vb.revision)


version_key = cmp_to_key(compare_versions)


# --- decompression ------------------------------------------------------------------


class DecompressError(ValueError):
    """A compressed list is corrupt, too large or in a format we cannot read."""


STDLIB_SUFFIXES = ("", ".gz", ".xz", ".lzma", ".bz2", ".lz4")
LIST_SUFFIXES = (*STDLIB_SUFFIXES, ".zst")


CHUNK = 256 * 1024


class _Decompressor(Protocol):
    """What lzma, bz2 and python-lz4 decompressors share (zlib through `_Zlib`)."""

    @property
    def eof(self) -> bool: ...
    @property
    def needs_input(self) -> bool: ...
    @property
    def unused_data(self) -> bytes: ...
    def decompress(self, data: bytes, max_length: int = -1) -> bytes: ...


class _Zlib:
    """zlib's decompressobj (gzip or zlib header) behind the lzma-style interface."""

    def __init__(self) -> None:
        self._inner = zlib.decompressobj(wbits=47)
        self._tail = b""

    @property
    def eof(self) -> bool:
        return self._inner.eof

    @property
    def needs_input(self) -> bool:
        return not self._tail and not self._inner.eof

    @property
    def unused_data(self) -> bytes:
        return self._inner.unused_data

    def decompress(self, data: bytes, max_length: int = -1) -> bytes:
        out = self._inner.decompress(self._tail + data, max(max_length, 0))
        self._tail = self._inner.unconsumed_tail
        return out


def _lz4() -> _Decompressor:
    import lz4.frame  # the reference C library; apt's lists are LZ4 frames

    decompressor: _Decompressor = lz4.frame.LZ4FrameDecompressor()
    return decompressor


_DECOMPRESSORS: dict[str, Callable[[], _Decompressor]] = {
    ".gz": _Zlib,
    ".xz": lzma.LZMADecompressor,
    ".lzma": lzma.LZMADecompressor,
    ".bz2": bz2.BZ2Decompressor,
    ".lz4": _lz4,
}
_FORMAT_ERRORS = (zlib.error, lzma.LZMAError, OSError, EOFError, RuntimeError, ValueError)


def iter_decompressed_stream(
    name: str, chunks: Iterable[bytes], limit: int = MAX_INDEX_BYTES
) -> Iterator[bytes]:
    """The content of list or log file `name`, given in compressed pieces, in pieces of
    at most CHUNK bytes (compression chosen by its suffix; concatenated streams, as gzip
    and lz4 allow, are followed); refuses to produce more than `limit` bytes, so neither
    the compressed nor the plain file is ever held whole."""
    if name.endswith(".zst"):
        raise DecompressError("zstd is not readable without running a command")
    factory = next((f for suffix, f in _DECOMPRESSORS.items() if name.endswith(suffix)), None)
    total = 0
    if factory is None:
        for chunk in chunks:
            total += len(chunk)
            if total > limit:
                raise DecompressError(f"larger than {limit} bytes")
            for start in range(0, len(chunk), CHUNK):
                yield chunk[start : start + CHUNK]
        return
    decompressor = factory()
    started = False
    try:
        for chunk in chunks:
            data = chunk
            while data or not decompressor.needs_input:
                if decompressor.eof:
                    data = decompressor.unused_data + data
                    if not data.strip(b"\0"):
                        break  # padding after the last stream
                    decompressor = factory()
                out = decompressor.decompress(data, max_length=CHUNK)
                data = b""
                started = True
                total += len(out)
                if total > limit:
                    raise DecompressError(f"output larger than {limit} bytes")
                if out:
                    yield out
                if decompressor.eof and not decompressor.unused_data:
                    break
    except _FORMAT_ERRORS as exc:
        raise DecompressError(f"{type(exc).__name__}: {exc}") from exc
    if not started or not decompressor.eof:
        raise DecompressError("compressed data is truncated")


def iter_decompressed(name: str, data: bytes, limit: int = MAX_INDEX_BYTES) -> Iterator[bytes]:
    """`iter_decompressed_stream` of a file already in memory."""
    return iter_decompressed_stream(name, [data], limit)


def lz4_frame_decompress(data: bytes, limit: int = MAX_INDEX_BYTES) -> bytes:
    return b"".join(iter_decompressed_stream("x.lz4", [data], limit))


def decompress(name: str, data: bytes, limit: int = MAX_INDEX_BYTES) -> bytes:
    """The whole content of `name` (see `iter_decompressed`)."""
    return b"".join(iter_decompressed(name, data, limit))


# --- apt lists ----------------------------------------------------------------------

_INDEX_FIELD = re.compile(rb"^(Package|Version|Architecture):[ \t]*(\S+)", re.MULTILINE)
_LIST_ARCH = re.compile(r"_binary-([^_]+)_Packages$")


@dataclass(frozen=True)
class IndexEntry:
    name: str
    version: str
    architecture: str


@dataclass(frozen=True)
class ReleaseInfo:
    date: datetime | None
    suite: str | None
    codename: str | None
    label: str | None
    not_automatic: bool
    but_automatic_upgrades: bool


def list_base_name(name: str) -> str | None:
    """A Packages list's name without its compression suffix, or None for other files."""
    for suffix in LIST_SUFFIXES:
        if suffix and name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return name if name.endswith("_Packages") else None


def _index_stanzas(
    block: bytes, list_arch: str | None, wanted: set[str] | None, entries: list[IndexEntry]
) -> int:
    # Find each stanza by its Package line and look further only into wanted ones: a
    # full list has ~60,000 stanzas and a host needs a few hundred of them. bytes.find
    # scans at memory speed, far faster than a regex over every line.
    stanzas = 0
    position = 0 if block.startswith(b"Package:") else block.find(b"\nPackage:")
    while position >= 0:
        start = position if position == 0 and block.startswith(b"Package:") else position + 1
        line_end = block.find(b"\n", start)
        line_end = len(block) if line_end < 0 else line_end
        stanzas += 1
        raw_name = block[start + 8 : line_end].strip()
        position = block.find(b"\nPackage:", line_end)
        name = raw_name.decode("utf-8", errors="replace")
        if not raw_name or (wanted is not None and name not in wanted):
            continue
        stanza_start = block.rfind(b"\n\n", 0, start) + 1
        stanza_end = block.find(b"\n\n", line_end)
        stanza = block[stanza_start : stanza_end if stanza_end >= 0 else len(block)]
        fields = dict(_INDEX_FIELD.findall(stanza))
        raw_version = fields.get(b"Version")
        if raw_version is None:
            continue
        arch = fields.get(b"Architecture", b"").decode("utf-8", errors="replace")
        if arch == "all" and list_arch:
            arch = list_arch
        entries.append(IndexEntry(name, raw_version.decode("utf-8", errors="replace"), arch))
    return stanzas


def parse_packages_chunks(
    chunks: Iterable[bytes], list_arch: str | None, wanted: set[str] | None = None
) -> tuple[list[IndexEntry], int]:
    """Entries of a Packages list given in chunks (Package, Version, Architecture of
    each stanza) and the number of stanzas. Only names in `wanted` are returned when it
    is given (a full list has ~60,000 stanzas; we need the installed ones).
    Architecture "all" is replaced by `list_arch` (the binary-ARCH of the list)."""
    entries: list[IndexEntry] = []
    stanzas = 0
    for block in stanza_blocks(chunks):
        stanzas += _index_stanzas(block, list_arch, wanted, entries)
    return entries, stanzas


def parse_packages_index(
    data: bytes, list_arch: str | None, wanted: set[str] | None = None
) -> tuple[list[IndexEntry], int]:
    """`parse_packages_chunks` on a whole list."""
    return parse_packages_chunks([data], list_arch, wanted)


def _strip_pgp(text: str) -> str:
    """The signed body of a clear-signed InRelease (the text unchanged otherwise)."""
    if not text.startswith("-----BEGIN PGP SIGNED MESSAGE-----"):
        return text
    _, _, body = text.partition("\n\n")
    body, _, _ = body.partition("-----BEGIN PGP SIGNATURE-----")
    return body


def parse_rfc2822_date(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment.tzinfo is None:  # "-0000" means UTC with an unknown local zone
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def parse_release(text: str) -> ReleaseInfo:
    """The fields of a Release/InRelease file that decide freshness and use."""
    stanzas = parse_deb822(_strip_pgp(text))
    fields = stanzas[0] if stanzas else {}
    return ReleaseInfo(
        date=parse_rfc2822_date(fields.get("date")),
        suite=fields.get("suite") or None,
        codename=fields.get("codename") or None,
        label=fields.get("label") or None,
        not_automatic=fields.get("notautomatic", "").lower() == "yes",
        but_automatic_upgrades=fields.get("butautomaticupgrades", "").lower() == "yes",
    )


def release_for(list_name: str, release_prefixes: Iterable[str]) -> str | None:
    """The Release file prefix a list belongs to: the longest `PREFIX` with the list's
    name starting with `PREFIX_` (lists and Release files share the dists path)."""
    matches = [p for p in release_prefixes if list_name.startswith(p + "_")]
    return max(matches, key=len) if matches else None


def is_security(list_name: str, release: ReleaseInfo | None) -> bool:
    names = [list_name]
    if release is not None:
        names += [release.suite or "", release.codename or "", release.label or ""]
    return any("security" in name.lower() for name in names)


@dataclass(frozen=True)
class Installed:
    name: str
    architecture: str
    version: str
    held: bool


def installed_from_status(stanzas: list[dict[str, str]]) -> list[Installed]:
    """Installed packages (third Status word "installed") and whether they are held."""
    result = []
    for stanza in stanzas:
        status = stanza.get("status", "").split()
        name, version = stanza.get("package"), stanza.get("version")
        if len(status) != 3 or status[2] != "installed" or not name or not version:
            continue
        result.append(Installed(name, stanza.get("architecture", ""), version, status[0] == "hold"))
    return result


def native_architecture(packages: list[Installed]) -> str | None:
    """dpkg's native architecture: that of the dpkg package itself."""
    for package in packages:
        if package.name == "dpkg" and package.architecture not in ("", "all"):
            return package.architecture
    return None


# apt's default pin priorities (apt_preferences(5)); /etc/apt/preferences is not read.
DEFAULT_PRIORITY = 500
NOT_AUTOMATIC_PRIORITY = 1  # Release "NotAutomatic: yes" (experimental)
AUTOMATIC_UPGRADES_PRIORITY = 100  # ... with "ButAutomaticUpgrades: yes" (backports)
INSTALLED_PRIORITY = 100  # the installed version itself


def list_priority(release: ReleaseInfo | None) -> int:
    if release is None or not release.not_automatic:
        return DEFAULT_PRIORITY
    return AUTOMATIC_UPGRADES_PRIORITY if release.but_automatic_upgrades else NOT_AUTOMATIC_PRIORITY


@dataclass
class IndexedList:
    name: str
    security: bool
    priority: int
    entries: list[IndexEntry] = field(default_factory=list)

    @property
    def used(self) -> bool:
        """Whether apt ever upgrades from it by default (its priority beats 1)."""
        return self.priority > NOT_AUTOMATIC_PRIORITY


def compute_updates(
    installed: list[Installed], lists: list[IndexedList], native_arch: str | None
) -> list[PendingUpdate]:
    """Installed packages whose apt candidate is newer: among the installed version and
    newer ones, the version of highest pin priority, the highest version among equals, as
    apt-cache policy picks it (a backports version does not replace one the release
    still offers)."""

    def key(name: str, arch: str) -> tuple[str, str]:
        return name, (native_arch if arch == "all" and native_arch else arch)

    # (name, arch) -> version -> [(list name, security, priority)]
    offers: dict[tuple[str, str], dict[str, list[tuple[str, bool, int]]]] = {}
    for index in lists:
        if not index.used:
            continue
        for entry in index.entries:
            by_version = offers.setdefault(key(entry.name, entry.architecture), {})
            by_version.setdefault(entry.version, []).append(
                (index.name, index.security, index.priority)
            )
    updates = []
    for package in installed:
        versions = offers.get(key(package.name, package.architecture))
        if not versions:
            continue
        # Versions older than the installed one are never candidates (no pin of 1000+).
        priority = {
            v: max(p for _, _, p in sources)
            for v, sources in versions.items()
            if compare_versions(v, package.version) >= 0
        }
        priority[package.version] = max(priority.get(package.version, 0), INSTALLED_PRIORITY)
        candidate = max(priority, key=lambda v: (priority[v], version_key(v)))
        if compare_versions(candidate, package.version) <= 0:
            continue
        security = any(
            sec
            for v, sources in versions.items()
            if compare_versions(v, package.version) > 0 and compare_versions(v, candidate) <= 0
            for _, sec, _ in sources
        )
        origins = sorted(name for name, _, _ in versions[candidate])
        updates.append(
            PendingUpdate(
                name=package.name,
                architecture=package.architecture or None,
                installed_version=package.version,
                candidate_version=candidate,
                security=security,
                held=package.held,
                origin=origins[0],
            )
        )
    return sorted(updates, key=lambda u: (u.name, u.architecture or ""))


# --- logs ---------------------------------------------------------------------------

_DPKG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) (\S+) (.*)$")


@dataclass(frozen=True)
class PatchTimes:
    """Latest successful install-or-upgrade and upgrade, as naive local times."""

    last_change: datetime | None
    last_upgrade: datetime | None

    def merge(self, other: PatchTimes) -> PatchTimes:
        return PatchTimes(
            _latest(self.last_change, other.last_change),
            _latest(self.last_upgrade, other.last_upgrade),
        )


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def _local_time(text: str, fmt: str) -> datetime | None:
    try:
        return datetime.strptime(text, fmt)
    except ValueError:
        return None


def parse_dpkg_log(text: str) -> PatchTimes:
    """Times of the latest successful `install`/`upgrade` in a dpkg.log: the action
    line names the package and new version; success is the later `status installed`
    line for that same package and version. An upgrade to the same version is a
    reinstall: it counts as a change but not as an upgrade."""
    pending: dict[tuple[str, str], str] = {}
    last_change: datetime | None = None
    last_upgrade: datetime | None = None
    for line in text.splitlines():
        match = _DPKG_LINE.match(line)
        if match is None:
            continue
        stamp, action, rest = match.groups()
        words = rest.split()
        if action in ("install", "upgrade") and len(words) == 3:
            # "upgrade P V V" is a reinstall (debootstrap does it): a change, not a patch
            is_upgrade = action == "upgrade" and words[1] != words[2]
            pending[(words[0], words[2])] = "upgrade" if is_upgrade else "install"
        elif action == "status" and len(words) == 3 and words[0] == "installed":
            done = pending.pop((words[1], words[2]), None)
            if done is None:
                continue
            moment = _local_time(stamp, "%Y-%m-%d %H:%M:%S")
            last_change = _latest(last_change, moment)
            if done == "upgrade":
                last_upgrade = _latest(last_upgrade, moment)
    return PatchTimes(last_change, last_upgrade)


def parse_apt_history(text: str) -> PatchTimes:
    """Times (End-Date) of the latest apt history entries that installed or upgraded
    packages and recorded no Error."""
    last_change: datetime | None = None
    last_upgrade: datetime | None = None
    for entry in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in entry.splitlines():
            name, colon, value = line.partition(":")
            if colon and name and not name[0].isspace():
                fields[name.strip()] = value.strip()
        if "Error" in fields or "End-Date" not in fields:
            continue
        if not (fields.get("Install") or fields.get("Upgrade")):
            continue
        moment = _local_time(" ".join(fields["End-Date"].split()), "%Y-%m-%d %H:%M:%S")
        last_change = _latest(last_change, moment)
        if fields.get("Upgrade"):
            last_upgrade = _latest(last_upgrade, moment)
    return PatchTimes(last_change, last_upgrade)


def rotated_logs(names: list[str], base: str) -> list[str]:
    """`base`, `base.1`, `base.2.gz`, ... present in `names`, newest first."""
    pattern = re.compile(re.escape(base) + r"(?:\.(\d+)(?:\.gz)?)?$")
    found = []
    for name in names:
        match = pattern.fullmatch(name)
        if match:
            found.append((int(match.group(1) or 0), name.endswith(".gz"), name))
    return [name for _, _, name in sorted(found)]


def parse_reboot_pkgs(text: str) -> list[str]:
    return sorted({line.strip() for line in text.splitlines() if line.strip()})


# --- kernels ------------------------------------------------------------------------

_DPKG_KERNEL = re.compile(r"^linux-image-(?:unsigned-)?(\d.*)$")


def dpkg_kernels(packages: list[Installed]) -> list[str]:
    """Kernel releases of installed linux-image-RELEASE packages (not the meta
    packages like linux-image-amd64, whose names carry no release)."""
    releases = set()
    for package in packages:
        match = _DPKG_KERNEL.match(package.name)
        if match:
            releases.add(match.group(1))
    return sorted(releases)


def boot_kernels(names: list[str]) -> list[str]:
    return sorted(
        {n.removeprefix("vmlinuz-") for n in names if n.startswith("vmlinuz-") and len(n) > 8}
    )


def kernel_outdated(running: str | None, installed: list[str]) -> bool | None:
    if running is None or not installed or running not in installed:
        return None
    return running != installed[-1]


# --- rpm / dnf ----------------------------------------------------------------------


@dataclass(frozen=True)
class RpmRow:
    name: str
    release: str  # VERSION-RELEASE.ARCH, the `uname -r` form for kernels
    installtime: int


def parse_rpm_rows(text: str) -> list[RpmRow]:
    """Rows of `rpm -qa --queryformat RPM_QUERYFORMAT`; other lines are skipped."""
    rows = []
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) != 3 or not fields[0] or not fields[2].isascii():
            continue
        if not fields[2].isdigit() or int(fields[2]) >= 2**53:
            continue
        rows.append(RpmRow(fields[0], fields[1], int(fields[2])))
    return rows


@dataclass(frozen=True)
class DnfUpdate:
    name: str
    architecture: str
    version: str
    repo: str


def parse_dnf_check_update(text: str) -> list[DnfUpdate]:
    """Updates in `dnf -q --cacheonly check-update` output: `NAME.ARCH  VERSION  REPO`
    lines (a long name may wrap its version and repo onto the next line), up to the
    "Obsoleting Packages" section."""
    updates = []
    carry: list[str] = []
    for line in text.splitlines():
        if line.strip().lower().startswith("obsoleting packages"):
            break
        words = carry + line.split()
        if len(words) < 3:
            carry = words if len(words) == 1 and "." in words[0] else []
            continue
        carry = []
        if len(words) != 3 or "." not in words[0]:
            continue
        name, _, arch = words[0].rpartition(".")
        if name and arch:
            updates.append(DnfUpdate(name, arch, words[1], words[2]))
    return updates


def split_nevra(nevra: str) -> tuple[str, str] | None:
    """(name, arch) of `NAME-[EPOCH:]VERSION-RELEASE.ARCH`."""
    base, dot, arch = nevra.rpartition(".")
    if not dot:
        return None
    parts = base.rsplit("-", 2)
    if len(parts) != 3 or not parts[0]:
        return None
    return parts[0], arch


def parse_updateinfo_security(text: str) -> set[tuple[str, str]]:
    """(name, arch) of packages in `dnf updateinfo list --security` lines
    (`ADVISORY  SEVERITY/Sec.  NEVRA`)."""
    found = set()
    for line in text.splitlines():
        words = line.split()
        if len(words) < 3:
            continue
        parsed = split_nevra(words[-1])
        if parsed is not None:
            found.add(parsed)
    return found


_REPOMD_TIMESTAMP = re.compile(r"<timestamp>\s*(\d{1,12})\s*</timestamp>")


def repomd_timestamp(text: str) -> datetime | None:
    """The newest `<timestamp>` in a repomd.xml (when its metadata was generated)."""
    stamps = [int(value) for value in _REPOMD_TIMESTAMP.findall(text)]
    if not stamps:
        return None
    try:
        return datetime.fromtimestamp(max(stamps), UTC)
    except (OverflowError, OSError, ValueError):
        return None


def parse_needs_restarting(text: str) -> list[str]:
    """Package names listed as `  * NAME` by `needs-restarting -r`."""
    return sorted(
        {line.strip()[2:].strip() for line in text.splitlines() if line.strip().startswith("* ")}
    )


# --- helpers ------------------------------------------------------------------------


def _timestamp(moment: datetime | None) -> str | None:
    return format_timestamp(moment) if moment is not None else None


def _to_utc(moment: datetime | None, zone: tzinfo) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=zone).astimezone(UTC)


def _run_allowing(
    c: Collection, argv: list[str], allowed: set[int], timeout: float
) -> bytes | None:
    """stdout of a command whose exit codes in `allowed` (besides 0) are answers, not
    failures; None when it failed."""
    answers = frozenset(allowed | {0})
    result = c.run(argv, timeout=timeout, ok_exits=answers)
    if result.error is None and result.exit in answers:
        return result.stdout
    return None


def _host_zone(c: Collection) -> tzinfo:
    data = c.read_bytes(LOCALTIME, missing_ok=True, max_bytes=1024 * 1024)
    if data is None:
        return UTC
    try:
        return ZoneInfo.from_file(io.BytesIO(data), key="localtime")
    except (ValueError, OSError) as exc:
        c.error(f"{LOCALTIME}: not a usable zoneinfo file ({exc}); log times taken as UTC")
        return UTC


def _is_tree(c: Collection) -> bool:
    return isinstance(c.host, RootHost)


def _running_kernel(c: Collection) -> str | None:
    if _is_tree(c):
        return None
    text = c.read_text(OSRELEASE)
    return text.strip() or None if text is not None else None


# --- dpkg collection ----------------------------------------------------------------


def _read_list(
    c: Collection, name: str, list_arch: str | None, wanted: set[str]
) -> tuple[list[IndexEntry], int] | None:
    """Parse one Packages list, decompressing it chunk by chunk."""
    path = f"{APT_LISTS}/{name}"
    if name.endswith(STDLIB_SUFFIXES[1:]) or list_base_name(name) == name:
        stream = c.read_stream(path, max_bytes=MAX_INDEX_BYTES)
        try:
            return parse_packages_chunks(iter_decompressed_stream(name, stream), list_arch, wanted)
        except DecompressError as exc:
            c.error(f"{path}: {exc}")
            return None
        except ReadFailed:
            return None
    # A format the standard library cannot read: apt itself decompresses it.
    if not c.host.exists(APT_HELPER):
        c.error(f"{path}: compressed in a format that cannot be read here")
        return None
    result = c.run([APT_HELPER, "cat-file", path], timeout=120)
    return parse_packages_index(result.stdout, list_arch, wanted) if result.ok else None


def _apt_lists(
    c: Collection, wanted: set[str]
) -> tuple[list[IndexedList], list[PackageIndex], datetime | None] | None:
    names = c.list_dir(APT_LISTS, missing_ok=True)
    if names is None:
        c.error(f"{APT_LISTS}: not found; apt has no cached package lists")
        return None
    releases: dict[str, ReleaseInfo] = {}
    for name in names:
        for suffix in ("_InRelease", "_Release"):
            prefix = name.removesuffix(suffix)
            if name.endswith(suffix) and prefix not in releases:
                text = c.read_text(f"{APT_LISTS}/{name}")
                if text is not None:
                    releases[prefix] = parse_release(text)
    lists: list[IndexedList] = []
    facts: list[PackageIndex] = []
    newest: datetime | None = None
    for name in names:
        base = list_base_name(name)
        if base is None:
            continue
        owner = release_for(base, releases)
        release = releases.get(owner) if owner is not None else None
        arch_match = _LIST_ARCH.search(base)
        parsed = _read_list(c, name, arch_match.group(1) if arch_match else None, wanted)
        if parsed is None:
            continue
        entries, count = parsed
        index = IndexedList(base, is_security(base, release), list_priority(release), entries)
        lists.append(index)
        date = release.date if release is not None else None
        newest = _latest(newest, date)
        facts.append(
            PackageIndex(
                name=base,
                security=index.security,
                suite=(release.suite or release.codename) if release is not None else None,
                release_date=_timestamp(date),
                used=index.used,
                packages=count,
            )
        )
    if not lists:
        c.error(f"{APT_LISTS}: no readable Packages lists (apt-get update has not run)")
        return None
    return lists, facts, newest


def _pin_files(c: Collection) -> list[str]:
    found = [APT_PREFERENCES] if c.host.exists(APT_PREFERENCES) else []
    names = c.list_dir(APT_PREFERENCES_D, missing_ok=True) or []
    found += [f"{APT_PREFERENCES_D}/{n}" for n in names if not n.startswith(".")]
    return found


def _dpkg_patch_times(c: Collection) -> PatchTimes:
    times = PatchTimes(None, None)
    for directory, base, parser in (
        (LOG_DIR, "dpkg.log", parse_dpkg_log),
        (APT_LOG_DIR, "history.log", parse_apt_history),
    ):
        names = c.list_dir(directory, missing_ok=True) or []
        for name in rotated_logs(names, base):  # newest first: stop at the first answer
            path = f"{directory}/{name}"
            data = c.read_bytes(path, max_bytes=MAX_LOG_BYTES)
            if data is None:
                continue
            try:
                text = decompress(name, data, MAX_LOG_BYTES).decode("utf-8", errors="replace")
            except DecompressError as exc:
                c.error(f"{path}: {exc}")
                continue
            found = parser(text)
            times = times.merge(found)
            if found.last_change is not None:
                break
    return times


def _dpkg(c: Collection) -> UpdatesFacts:
    stanzas = read_dpkg_stanzas(c, max_bytes=MAX_INDEX_BYTES)
    installed = installed_from_status(stanzas) if stanzas is not None else None
    pending: list[PendingUpdate] | None = None
    indexes: list[PackageIndex] | None = None
    metadata_date: datetime | None = None
    if installed is not None:
        read = _apt_lists(c, {p.name for p in installed})
        if read is not None:
            lists, indexes, metadata_date = read
            pending = compute_updates(installed, lists, native_architecture(installed))
    reboot = c.host.exists(REBOOT_REQUIRED)
    reboot_pkgs: list[str] | None = None
    if reboot:
        # Read, not only tested, so the flag file is in the provenance.
        c.read_bytes(REBOOT_REQUIRED, missing_ok=True, max_bytes=1024 * 1024)
        text = c.read_text(REBOOT_REQUIRED_PKGS, missing_ok=True)
        reboot_pkgs = parse_reboot_pkgs(text) if text is not None else None
    else:
        reboot_pkgs = []
    kernels: list[str] | None = None
    if installed is not None:
        boot = c.list_dir(BOOT, missing_ok=True) or []
        kernels = sorted(set(dpkg_kernels(installed)) | set(boot_kernels(boot)), key=version_key)
    running = _running_kernel(c)
    zone = _host_zone(c)
    times = _dpkg_patch_times(c)
    return _updates_facts(
        manager="dpkg",
        method="apt-lists",
        metadata_date=_timestamp(metadata_date),
        indexes=indexes,
        pin_files=_pin_files(c),
        pending=pending,
        reboot_required=reboot,
        reboot_required_packages=reboot_pkgs,
        running_kernel=running,
        installed_kernels=kernels,
        last_patch_time=_timestamp(_to_utc(times.last_change, zone)),
        last_upgrade_time=_timestamp(_to_utc(times.last_upgrade, zone)),
    )


# --- rpm collection -----------------------------------------------------------------


def _dnf_updates(c: Collection, tool: str) -> list[PendingUpdate] | None:
    out = _run_allowing(
        c, [tool, "-q", "--cacheonly", "check-update"], {DNF_EXIT_UPDATES}, timeout=300
    )
    if out is None:
        return None
    updates = parse_dnf_check_update(out.decode("utf-8", errors="replace"))
    security_out = _run_allowing(
        c, [tool, "-q", "--cacheonly", "updateinfo", "list", "--security"], set(), timeout=300
    )
    security = (
        parse_updateinfo_security(security_out.decode("utf-8", errors="replace"))
        if security_out is not None
        else None
    )
    if security is None:
        c.error("security advisories unknown: every update is reported with security=False")
    return sorted(
        (
            PendingUpdate(
                name=u.name,
                architecture=u.architecture,
                installed_version=None,
                candidate_version=u.version,
                security=security is not None and (u.name, u.architecture) in security,
                held=False,
                origin=u.repo,
            )
            for u in updates
        ),
        key=lambda u: (u.name, u.architecture or ""),
    )


def _dnf_metadata_date(c: Collection, cache: str) -> datetime | None:
    newest: datetime | None = None
    for repo in c.list_dir(cache, missing_ok=True) or []:
        path = f"{cache}/{repo}/repodata/repomd.xml"
        if c.host.exists(path):
            text = c.read_text(path)
            if text is not None:
                newest = _latest(newest, repomd_timestamp(text))
    return newest


def _rpm(c: Collection) -> UpdatesFacts:
    tool = next((t for t in ("/usr/bin/dnf", "/usr/bin/yum") if c.host.exists(t)), "/usr/bin/dnf")
    method: Method = "yum-cache" if tool.endswith("yum") else "dnf-cache"
    cache = YUM_CACHE if method == "yum-cache" else DNF_CACHE
    pending = _dnf_updates(c, tool)
    rpm_out = _run_allowing(c, ["rpm", "-qa", "--queryformat", RPM_QUERYFORMAT], set(), 120)
    rows = parse_rpm_rows(rpm_out.decode("utf-8", errors="replace")) if rpm_out else None
    kernels: list[str] | None = None
    last_install: datetime | None = None
    if rows is not None:
        kernel_rows = sorted(
            (r for r in rows if r.name in RPM_KERNEL_NAMES), key=lambda r: r.installtime
        )
        kernels = list(dict.fromkeys(r.release for r in kernel_rows))
        if rows:
            last_install = datetime.fromtimestamp(max(r.installtime for r in rows), UTC)
    reboot: bool | None = None
    reboot_pkgs: list[str] | None = None
    helper = next((p for p in NEEDS_RESTARTING if c.host.exists(p)), None)
    if helper is not None:
        # Exit 1 is the answer "reboot required", not a failure.
        result = c.run([helper, "-r"], timeout=120, ok_exits=frozenset({0, 1}))
        if result.error is None and result.exit in (0, 1):
            reboot = result.exit == 1
            reboot_pkgs = parse_needs_restarting(result.stdout.decode("utf-8", errors="replace"))
    else:
        c.error("needs-restarting not installed: reboot requirement unknown")
    running = _running_kernel(c)
    return _updates_facts(
        manager="rpm",
        method=method,
        metadata_date=_timestamp(_dnf_metadata_date(c, cache)),
        indexes=None,
        pin_files=None,
        pending=pending,
        reboot_required=reboot,
        reboot_required_packages=reboot_pkgs,
        running_kernel=running,
        installed_kernels=kernels,
        last_patch_time=_timestamp(last_install),
        last_upgrade_time=None,
    )


@collector("patch.updates", version="1", category="patch", facts=UpdatesFacts)
def collect(c: Collection) -> UpdatesFacts:
    """Pending and security updates from cached metadata, reboot need, kernel, last patch."""
    manager = package_manager(c)
    if manager == "dpkg":
        return _dpkg(c)
    if manager == "rpm":
        return _rpm(c)
    return _updates_facts(
        manager=None,
        method=None,
        metadata_date=None,
        indexes=None,
        pin_files=None,
        pending=None,
        reboot_required=None,
        reboot_required_packages=None,
        running_kernel=_running_kernel(c),
        installed_kernels=None,
        last_patch_time=None,
        last_upgrade_time=None,
    )


def _updates_facts(
    *,
    manager: Literal["dpkg", "rpm"] | None,
    method: Method | None,
    metadata_date: str | None,
    indexes: list[PackageIndex] | None,
    pin_files: list[str] | None,
    pending: list[PendingUpdate] | None,
    reboot_required: bool | None,
    reboot_required_packages: list[str] | None,
    running_kernel: str | None,
    installed_kernels: list[str] | None,
    last_patch_time: str | None,
    last_upgrade_time: str | None,
) -> UpdatesFacts:
    """The facts from what was read; counts and kernel verdicts are derived here only."""
    return UpdatesFacts(
        manager=manager,
        method=method,
        metadata_date=metadata_date,
        indexes=indexes,
        pin_files=pin_files,
        pending_count=len(pending) if pending is not None else None,
        security_count=sum(u.security for u in pending) if pending is not None else None,
        pending=pending,
        reboot_required=reboot_required,
        reboot_required_packages=reboot_required_packages,
        running_kernel=running_kernel,
        installed_kernels=installed_kernels,
        newest_kernel=installed_kernels[-1] if installed_kernels else None,
        kernel_outdated=kernel_outdated(running_kernel, installed_kernels or []),
        last_patch_time=last_patch_time,
        last_upgrade_time=last_upgrade_time,
    )
