"""patch.packages: the installed packages, read from the package manager's database.

dpkg's database is read as files (so it works on a RootHost and over SFTP without running
anything); the rpm database is binary (SQLite/BDB), so there `rpm -qa` is run instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from collectors.host import DEFAULT_MAX_READ
from collectors.provenance import Collection, ReadFailed
from collectors.registry import collector
from evidence.canonical import format_timestamp
from evidence.records import ApiSource

DPKG_STATUS = "/var/lib/dpkg/status"
DPKG_UPDATES = "/var/lib/dpkg/updates"
DPKG_INFO = "/var/lib/dpkg/info"
RPM_DB_DIRS = ("/var/lib/rpm", "/usr/lib/sysimage/rpm")
RPM_QUERYFORMAT = r"%{NAME}\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\t%{ARCH}\t%{INSTALLTIME}\n"
RPM_ARGV = ("rpm", "-qa", "--queryformat", RPM_QUERYFORMAT)

_SOURCE_VERSION = re.compile(r"\s*\(.*\)\s*$")
# The fields of a status stanza that the collectors read.
STATUS_FIELDS = frozenset({"package", "architecture", "version", "status", "source"})


class Package(BaseModel):
    """One installed package.

    `version` is as the manager prints it: dpkg `[epoch:]upstream[-revision]`, rpm
    `EPOCH:VERSION-RELEASE` (epoch always present, 0 when unset). `source` is the dpkg
    source package name (None when it equals `name`, and always for rpm).
    `installed_at` (RFC 3339 UTC): rpm's INSTALLTIME; for dpkg, which keeps no install
    time, the modification time of the package's file list in /var/lib/dpkg/info, which
    dpkg rewrites on every install or upgrade of the package (None when absent).
    """

    model_config = ConfigDict(extra="forbid")

    name: str
    version: str
    architecture: str | None
    source: str | None
    installed_at: str | None = None


class PackagesFacts(BaseModel):
    """Facts of `patch.packages`. `manager` is None when no package database was found;
    `count` and `packages` are None when the database could not be read (see errors).
    `packages` is sorted by name, then architecture."""

    model_config = ConfigDict(extra="forbid")

    manager: Literal["dpkg", "rpm"] | None
    count: int | None
    packages: list[Package] | None


# --- pure parsers -------------------------------------------------------------------


def parse_deb822(text: str, keep: frozenset[str] | None = None) -> list[dict[str, str]]:
    """Stanzas of a dpkg database file. Field names are lower-cased (they are
    case-insensitive); continuation lines are joined to their field with newlines.
    With `keep`, only those (lower-case) fields are stored: the status database's
    descriptions and dependency lists are most of its bytes and no reader needs them."""
    stanzas: list[dict[str, str]] = []
    current: dict[str, str] = {}
    field: str | None = None
    for line in text.splitlines():
        if not line.strip():
            if current:
                stanzas.append(current)
            current, field = {}, None
        elif line[0] in " \t":
            if field is not None:
                current[field] += "\n" + line.strip()
        elif ":" in line:
            name, value = line.split(":", 1)
            field = name.strip().lower()
            if keep is not None and field not in keep:
                field = None  # skip it and its continuation lines
                continue
            current[field] = value.strip()
        else:
            field = None  # not a field: ignore it and anything continuing it
    if current:
        stanzas.append(current)
    return stanzas


def stanza_blocks(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """A deb822 file given in pieces, regrouped as blocks of whole stanzas (cut at blank
    lines), so a large file is parsed without being held, or decoded, whole."""
    rest = b""
    for chunk in chunks:
        buffer = rest + chunk
        cut = buffer.rfind(b"\n\n")
        if cut < 0:
            rest = buffer
            continue
        yield buffer[:cut]
        rest = buffer[cut + 2 :]
    yield rest


def parse_deb822_chunks(
    chunks: Iterable[bytes], keep: frozenset[str] | None = None
) -> list[dict[str, str]]:
    """`parse_deb822` over a file given in pieces."""
    stanzas: list[dict[str, str]] = []
    for block in stanza_blocks(chunks):
        stanzas.extend(parse_deb822(block.decode("utf-8", errors="replace"), keep))
    return stanzas


def _package_key(stanza: dict[str, str]) -> tuple[str, str]:
    return stanza.get("package", ""), stanza.get("architecture", "")


def apply_dpkg_updates(
    stanzas: list[dict[str, str]], updates: list[dict[str, str]]
) -> list[dict[str, str]]:
    """Overlay the journal in /var/lib/dpkg/updates on the status file, as dpkg-query
    does: a later stanza for the same package and architecture replaces the earlier."""
    merged = {_package_key(stanza): stanza for stanza in stanzas}
    for stanza in updates:
        merged[_package_key(stanza)] = stanza
    return list(merged.values())


def installed_packages(stanzas: list[dict[str, str]]) -> list[Package]:
    """Packages whose dpkg state is `installed` (the third word of Status), which is
    what `dpkg-query -W -f '${db:Status-Status}'` calls installed; a held package
    (`hold ok installed`) is installed too."""
    packages = []
    for stanza in stanzas:
        status = stanza.get("status", "").split()
        name, version = stanza.get("package"), stanza.get("version")
        if len(status) != 3 or status[2] != "installed" or not name or not version:
            continue
        source = _SOURCE_VERSION.sub("", stanza.get("source", "")) or None
        packages.append(
            Package(
                name=name,
                version=version,
                architecture=stanza.get("architecture") or None,
                source=source,
            )
        )
    return sort_packages(packages)


def parse_dpkg_status(text: str) -> list[Package]:
    """Installed packages in the text of /var/lib/dpkg/status."""
    return installed_packages(parse_deb822(text))


def parse_rpm_qa(text: str) -> tuple[list[Package], int]:
    """Packages in the output of `rpm -qa --queryformat RPM_QUERYFORMAT`, and the number
    of lines that did not have that shape. Imported signing keys (`gpg-pubkey`) are
    pseudo-packages, not software, and are left out."""
    packages = []
    malformed = 0
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 4 or not fields[0] or not fields[1]:
            malformed += 1
            continue
        name, version, arch, installtime = fields
        if name == "gpg-pubkey":
            continue
        installed_at = _epoch_to_timestamp(installtime)
        packages.append(
            Package(
                name=name,
                version=version,
                architecture=None if arch in ("", "(none)") else arch,
                source=None,
                installed_at=installed_at,
            )
        )
    return sort_packages(packages), malformed


def _epoch_to_timestamp(text: str) -> str | None:
    try:
        return format_timestamp(datetime.fromtimestamp(int(text), UTC))
    except (OverflowError, OSError, ValueError):  # not a plausible epoch: leave it unknown
        return None


def list_file_names(package: Package) -> tuple[str, str]:
    """The two names dpkg may give a package's file list: `name:arch.list` (multi-arch
    same packages) and `name.list`."""
    return f"{package.name}:{package.architecture}.list", f"{package.name}.list"


def sort_packages(packages: list[Package]) -> list[Package]:
    return sorted(packages, key=lambda p: (p.name, p.architecture or "", p.version))


# --- collection ---------------------------------------------------------------------


def read_dpkg_stanzas(
    c: Collection, *, max_bytes: int = DEFAULT_MAX_READ
) -> list[dict[str, str]] | None:
    """The dpkg database as dpkg-query sees it: the status file with the journal in
    /var/lib/dpkg/updates applied on top; None when the status file is unreadable."""
    try:
        status = parse_deb822_chunks(c.read_stream(DPKG_STATUS, max_bytes=max_bytes), STATUS_FIELDS)
    except ReadFailed:
        return None
    journal: list[dict[str, str]] = []
    names = c.list_dir(DPKG_UPDATES, missing_ok=True) or []
    # Journal entries are named by a sequence number; other files (tmp.i) are not entries.
    for name in sorted((n for n in names if n.isdigit()), key=int):
        entry = c.read_text(f"{DPKG_UPDATES}/{name}")
        if entry is not None:
            journal.extend(parse_deb822(entry, STATUS_FIELDS))
    return apply_dpkg_updates(status, journal)


def _dpkg(c: Collection) -> PackagesFacts:
    packages = _installed_dpkg_packages(c)
    if packages is None:
        return PackagesFacts(manager="dpkg", count=None, packages=None)
    _set_dpkg_install_times(c, packages)
    return PackagesFacts(manager="dpkg", count=len(packages), packages=packages)


def _installed_dpkg_packages(c: Collection) -> list[Package] | None:
    """The installed dpkg packages (None when the database is unreadable). The database
    stanzas die on return, before the install times are read: held longer, they are a
    third of the collector's peak memory."""
    stanzas = read_dpkg_stanzas(c)
    return None if stanzas is None else installed_packages(stanzas)


def _set_dpkg_install_times(c: Collection, packages: list[Package]) -> None:
    """Give each package its install time, in place (a copy of every package would
    double the collector's peak memory)."""
    lists = _dpkg_file_lists(c)
    if lists is None:
        return
    for package in packages:
        for name in list_file_names(package):
            if name in lists:
                info = c.host.stat(f"{DPKG_INFO}/{name}")
                if info is not None:
                    package.installed_at = _epoch_to_timestamp(str(int(info.mtime)))
                break
    c.sources.append(ApiSource(call=f"stat {DPKG_INFO}/*.list (modification times)"))


def _dpkg_file_lists(c: Collection) -> set[str] | None:
    """The file-list names in /var/lib/dpkg/info, about a quarter of its entries (the
    others are scripts and checksums, not kept while the lists are stat-ed)."""
    names = c.list_dir(DPKG_INFO, missing_ok=True)
    return None if names is None else {name for name in names if name.endswith(".list")}


def _rpm(c: Collection) -> PackagesFacts:
    result = c.run(RPM_ARGV, timeout=120)
    if not result.ok:
        return PackagesFacts(manager="rpm", count=None, packages=None)
    packages, malformed = parse_rpm_qa(result.stdout.decode("utf-8", errors="replace"))
    if malformed:
        c.error(f"rpm -qa: {malformed} line(s) not in the expected format were skipped")
    return PackagesFacts(manager="rpm", count=len(packages), packages=packages)


def package_manager(c: Collection) -> Literal["dpkg", "rpm"] | None:
    """Which package database the host has (dpkg first); None, with an error line, when
    it has neither."""
    if c.host.exists(DPKG_STATUS):
        return "dpkg"
    if any(c.host.exists(path) for path in RPM_DB_DIRS):
        return "rpm"
    c.error(f"no package database found ({DPKG_STATUS}, {', '.join(RPM_DB_DIRS)})")
    return None


@collector("patch.packages", version="1", category="patch", facts=PackagesFacts)
def collect(c: Collection) -> PackagesFacts:
    """Installed packages from the dpkg status database, or from `rpm -qa`."""
    manager = package_manager(c)
    if manager == "dpkg":
        return _dpkg(c)
    if manager == "rpm":
        return _rpm(c)
    return PackagesFacts(manager=None, count=None, packages=None)
