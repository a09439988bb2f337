"""inventory.system: what the host is (OS, kernel, identity, CPU, memory, disks, NICs).

psutil is used when collecting this very machine; otherwise (RootHost, SSHHost) the same
facts come from /proc and /sys where they exist, and are None with an error where not.
"""

from __future__ import annotations

import re
import socket
from datetime import UTC, datetime
from types import ModuleType

from pydantic import BaseModel, ConfigDict

from collectors.host import DEFAULT_MAX_READ
from collectors.identity import HOSTNAME_PATHS, MACHINE_ID_PATHS
from collectors.provenance import Collection
from collectors.registry import collector
from evidence.canonical import format_timestamp

OS_RELEASE_PATHS = ("/etc/os-release", "/usr/lib/os-release")
SYS_CLASS_NET = "/sys/class/net"
SMALL_FILE_MAX = 64 * 1024
_OS_RELEASE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DQ_ESCAPE = re.compile(r'\\([$"\\`])')


class _Facts(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OsRelease(_Facts):
    """Fields of os-release(5); `id_like` is split on whitespace, absent fields are None."""

    id: str | None
    id_like: list[str]
    version_id: str | None
    version_codename: str | None
    pretty_name: str | None
    name: str | None


class Kernel(_Facts):
    """The running kernel: `uname -r` (release) and `uname -v` (version)."""

    release: str
    version: str | None


class Cpu(_Facts):
    """Logical CPU count and the first `model name` in /proc/cpuinfo (None on most ARM)."""

    logical_count: int | None
    model_name: str | None


class Disk(_Facts):
    """A mounted physical filesystem (psutil.disk_partitions(all=False)) and its usage."""

    device: str
    mountpoint: str
    fstype: str
    total_bytes: int
    used_bytes: int


class Interface(_Facts):
    """A network interface. `ipv4`/`ipv6` are None when they could not be observed
    (the /sys fallback sees names and MACs only), never an empty list standing in for
    "unknown". IPv6 addresses are given without their `%scope` suffix."""

    name: str
    mac: str | None
    ipv4: list[str] | None
    ipv6: list[str] | None


class SystemFacts(_Facts):
    """Facts of `inventory.system`. Every field is None when it could not be observed,
    and the record's `errors` then says why. `boot_time` is an RFC 3339 UTC timestamp."""

    os_release: OsRelease | None
    kernel: Kernel | None
    hostname: str | None
    machine_id: str | None
    boot_time: str | None
    cpu: Cpu | None
    memory_total_bytes: int | None
    disks: list[Disk] | None
    interfaces: list[Interface] | None


# --- pure parsers -------------------------------------------------------------------


def parse_os_release(text: str) -> dict[str, str]:
    """KEY=value assignments of os-release(5), with shell quoting and escapes undone."""
    fields: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        if not _OS_RELEASE_KEY.match(key):
            continue
        fields[key] = _unquote(value)
    return fields


def _unquote(value: str) -> str:
    """Undo os-release quoting: '...' literally, "..." with \\ escaping $ " \\ and `."""
    value = value.strip()
    quote = value[:1]
    if quote not in ("'", '"'):
        return value
    inner = value[1:-1] if len(value) >= 2 and value.endswith(quote) else value[1:]
    return inner if quote == "'" else _DQ_ESCAPE.sub(r"\1", inner)


def os_release_facts(fields: dict[str, str]) -> OsRelease:
    def get(key: str) -> str | None:
        return fields.get(key) or None

    return OsRelease(
        id=get("ID"),
        id_like=fields.get("ID_LIKE", "").split(),
        version_id=get("VERSION_ID"),
        version_codename=get("VERSION_CODENAME"),
        pretty_name=get("PRETTY_NAME"),
        name=get("NAME"),
    )


def parse_cpuinfo(text: str) -> tuple[int, str | None]:
    """(number of `processor` entries, first `model name`) from /proc/cpuinfo."""
    count = 0
    model: str | None = None
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key = key.strip()
        if key == "processor":
            count += 1
        elif key == "model name" and model is None and value.strip():
            model = value.strip()
    return count, model


def parse_meminfo_total(text: str) -> int | None:
    """MemTotal from /proc/meminfo in bytes (the file says kB, meaning KiB)."""
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "MemTotal:" and parts[1].isdigit():
            return int(parts[1]) * 1024
    return None


def parse_proc_stat_btime(text: str) -> int | None:
    """The `btime` line of /proc/stat: boot time in seconds since the epoch."""
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "btime" and parts[1].isdigit():
            return int(parts[1])
    return None


def epoch_to_timestamp(seconds: float) -> str | None:
    try:
        return format_timestamp(datetime.fromtimestamp(seconds, UTC))
    except (OverflowError, OSError, ValueError):
        return None


# --- collection ---------------------------------------------------------------------


def _first_text(
    c: Collection, paths: tuple[str, ...], what: str, max_bytes: int = DEFAULT_MAX_READ
) -> str | None:
    """Text of the first of `paths` that can be read; one error line when none can."""
    for path in paths:
        text = c.read_text(path, missing_ok=True, max_bytes=max_bytes)
        if text is not None:
            return text
    c.error(f"{what}: could not read {' or '.join(paths)}")
    return None


def _first_line(c: Collection, paths: tuple[str, ...], what: str) -> str | None:
    # A small limit: procfs sysctl files fail with ENOMEM when asked for a huge read.
    text = _first_text(c, paths, what, max_bytes=SMALL_FILE_MAX)
    if text is None or not text.strip():
        return None
    return text.strip().splitlines()[0].strip()


def _os_release(c: Collection) -> OsRelease | None:
    text = _first_text(c, OS_RELEASE_PATHS, "os_release")
    return None if text is None else os_release_facts(parse_os_release(text))


def _kernel(c: Collection) -> Kernel | None:
    # /proc only exists on a running host: a RootHost tree has no kernel to report.
    release = _first_line(c, ("/proc/sys/kernel/osrelease",), "kernel")
    if release is None:
        return None
    version = _first_line(c, ("/proc/sys/kernel/version",), "kernel version")
    return Kernel(release=release, version=version)


def _boot_time(c: Collection) -> str | None:
    psutil = c.psutil("psutil.boot_time")
    if psutil is not None:
        return epoch_to_timestamp(float(psutil.boot_time()))
    text = _first_text(c, ("/proc/stat",), "boot_time")
    seconds = None if text is None else parse_proc_stat_btime(text)
    if text is not None and seconds is None:
        c.error("boot_time: no btime line in /proc/stat")
    return None if seconds is None else epoch_to_timestamp(seconds)


def _cpu(c: Collection) -> Cpu | None:
    text = _first_text(c, ("/proc/cpuinfo",), "cpu")
    count, model = parse_cpuinfo(text) if text is not None else (0, None)
    psutil = c.psutil("psutil.cpu_count")
    logical = psutil.cpu_count(logical=True) if psutil is not None else None
    if not isinstance(logical, int):
        logical = count or None
    if text is None and logical is None:
        return None
    return Cpu(logical_count=logical, model_name=model)


def _memory_total(c: Collection) -> int | None:
    psutil = c.psutil("psutil.virtual_memory")
    if psutil is not None:
        return int(psutil.virtual_memory().total)
    text = _first_text(c, ("/proc/meminfo",), "memory_total_bytes")
    total = None if text is None else parse_meminfo_total(text)
    if text is not None and total is None:
        c.error("memory_total_bytes: no MemTotal line in /proc/meminfo")
    return total


def _disks(c: Collection) -> list[Disk] | None:
    psutil = c.psutil("psutil.disk_partitions")
    if psutil is None:
        c.error("disks: needs psutil, which is only available when collecting locally")
        return None
    disks: list[Disk] = []
    for part in psutil.disk_partitions(all=False):
        try:
            usage = psutil.disk_usage(part.mountpoint)
        except OSError as exc:  # e.g. a mount point this user may not stat: skip it
            c.error(f"disks: {part.mountpoint}: {exc}")
            continue
        disks.append(
            Disk(
                device=str(part.device),
                mountpoint=str(part.mountpoint),
                fstype=str(part.fstype),
                total_bytes=int(usage.total),
                used_bytes=int(usage.used),
            )
        )
    return sorted(disks, key=lambda d: (d.mountpoint, d.device))


def interfaces_from_psutil(psutil: ModuleType) -> list[Interface]:
    interfaces: list[Interface] = []
    for name, addresses in psutil.net_if_addrs().items():
        mac: str | None = None
        ipv4: list[str] = []
        ipv6: list[str] = []
        for address in addresses:
            if address.family == socket.AF_INET:
                ipv4.append(str(address.address))
            elif address.family == socket.AF_INET6:
                ipv6.append(str(address.address).split("%", 1)[0])
            elif address.family == psutil.AF_LINK:
                mac = str(address.address)
        interfaces.append(Interface(name=str(name), mac=mac, ipv4=sorted(ipv4), ipv6=sorted(ipv6)))
    return sorted(interfaces, key=lambda i: i.name)


def _interfaces_from_sys(c: Collection) -> list[Interface] | None:
    names = c.list_dir(SYS_CLASS_NET)
    if names is None:
        return None
    interfaces = []
    for name in names:
        text = c.read_text(
            f"{SYS_CLASS_NET}/{name}/address", missing_ok=True, max_bytes=SMALL_FILE_MAX
        )
        mac = text.strip() if text is not None and text.strip() else None
        interfaces.append(Interface(name=name, mac=mac, ipv4=None, ipv6=None))
    return interfaces


def _interfaces(c: Collection) -> list[Interface] | None:
    psutil = c.psutil("psutil.net_if_addrs")
    if psutil is not None:
        return interfaces_from_psutil(psutil)
    return _interfaces_from_sys(c)


@collector("inventory.system", version="1", category="inventory", facts=SystemFacts)
def collect(c: Collection) -> SystemFacts:
    """OS release, kernel, hostname, machine-id, boot time, CPU, memory, disks and NICs."""
    return SystemFacts(
        os_release=_os_release(c),
        kernel=_kernel(c),
        hostname=_first_line(c, HOSTNAME_PATHS, "hostname"),
        machine_id=_first_line(c, MACHINE_ID_PATHS, "machine_id"),
        boot_time=_boot_time(c),
        cpu=_cpu(c),
        memory_total_bytes=_memory_total(c),
        disks=_disks(c),
        interfaces=_interfaces(c),
    )
