"""configuration.services: enabled and running systemd services, listening sockets with
their owning process and user, and legacy clear-text servers (telnet, rsh, ftp, tftp).

Sockets come from psutil on this very machine; over SSH (no psutil) they are parsed
from /proc/net/{tcp,tcp6,udp,udp6}, which name the owning uid but not the process.
"""

from __future__ import annotations

import re
import socket
import stat as stat_module
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from collectors.access.accounts import parse_passwd
from collectors.provenance import Collection
from collectors.registry import collector
from collectors.systemd import enabled_unit_names

SYSTEMCTL_PATHS = ("/usr/bin/systemctl", "/bin/systemctl")
PASSWD = "/etc/passwd"  # noqa: S105 (a file path)

TCP_LISTEN = 0x0A
UDP_UNCONNECTED = 0x07  # TCP_CLOSE: a bound, unconnected datagram socket
MAX_UID = 2**32 - 1
COMMAND_TIMEOUT = 30.0
# Unit file states counted as enabled (`systemctl is-enabled` prints these for enabled).
ENABLED_STATES = frozenset({"enabled", "enabled-runtime"})

Protocol = Literal["tcp", "udp"]
PROC_NET: tuple[tuple[Protocol, str], ...] = (
    ("tcp", "/proc/net/tcp"),
    ("tcp", "/proc/net/tcp6"),
    ("udp", "/proc/net/udp"),
    ("udp", "/proc/net/udp6"),
)


@dataclass(frozen=True)
class LegacyService:
    """A clear-text remote service: its server binaries (Debian 12 and RHEL paths, from
    the packages' file lists) and its well-known port."""

    name: str
    binaries: tuple[str, ...]
    port: tuple[Protocol, int] | None


LEGACY_SERVICES = (
    # telnetd (netkit, RHEL telnet-server), inetutils-telnetd
    LegacyService("telnet", ("/usr/sbin/in.telnetd", "/usr/sbin/telnetd"), ("tcp", 23)),
    # rsh-server, rsh-redone-server
    LegacyService("rsh", ("/usr/sbin/in.rshd",), ("tcp", 514)),
    LegacyService("rlogin", ("/usr/sbin/in.rlogind",), ("tcp", 513)),
    LegacyService("rexec", ("/usr/sbin/in.rexecd",), ("tcp", 512)),
    # vsftpd, proftpd-core, pure-ftpd, inetutils-ftpd, netkit ftpd
    LegacyService(
        "ftp",
        (
            "/usr/sbin/vsftpd",
            "/usr/sbin/proftpd",
            "/usr/sbin/pure-ftpd",
            "/usr/sbin/ftpd",
            "/usr/sbin/in.ftpd",
        ),
        ("tcp", 21),
    ),
    # tftpd-hpa, atftpd, RHEL tftp-server
    LegacyService("tftp", ("/usr/sbin/in.tftpd", "/usr/sbin/atftpd"), ("udp", 69)),
    # xinetd, openbsd-inetd, inetutils-inetd: super-servers that start the above
    LegacyService(
        "inetd", ("/usr/sbin/xinetd", "/usr/sbin/inetd", "/usr/sbin/inetutils-inetd"), None
    ),
)


class _Facts(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UnitFile(_Facts):
    """A service unit file and its state as `systemctl list-unit-files` prints it
    ("enabled", "disabled", "static", "masked", "alias", "indirect", "generated", ...)."""

    unit: str
    state: str


class ListeningSocket(_Facts):
    """A TCP socket in LISTEN state or a bound, unconnected UDP socket.

    `address` is the local address as inet_ntop writes it ("0.0.0.0", "::", "::1",
    "::ffff:127.0.0.1"), without an interface suffix; `family` is 4 or 6. `pid`,
    `process` and `user` are None when they could not be determined (no psutil on the
    host, or the process is hidden or gone); from /proc/net, `uid` is the socket's owner
    and `user` its name in the host's /etc/passwd, and `pid`/`process` are always None.
    """

    protocol: Protocol
    family: Literal[4, 6]
    address: str
    port: int
    pid: int | None
    process: str | None
    user: str | None
    uid: int | None


class LegacyServer(_Facts):
    """A clear-text remote-access server found by its binary or its well-known port.

    `binaries`: the server programs present. `listening`: well-known ports of the
    service in listening state ("tcp/23"); None when sockets could not be observed.
    """

    service: str
    binaries: list[str]
    listening: list[str] | None


class ServicesFacts(_Facts):
    """Facts of `configuration.services`.

    `unit_files`: every service unit file with its state, from `systemctl
    list-unit-files` (None when systemctl could not run). `enabled_services`: names of
    the enabled service unit files, templates as "getty@.service"; when systemctl could
    not run they come from the symlinks in /etc/systemd/system/*.wants and *.requires
    (`enabled_source` says which: "systemctl", "files", or None when neither worked).
    `running_services`: units of `systemctl list-units --state=running`; None when that
    could not be determined (not a systemd host, systemd not running, a root tree).
    `listening`: None when sockets could not be observed (`sockets_source` "psutil",
    "proc", or None). `legacy_servers` lists only the services found; their `listening`
    part is None when sockets are unknown, so "not listening" is never a guess.
    """

    unit_files: list[UnitFile] | None
    enabled_services: list[str] | None
    enabled_source: Literal["systemctl", "files"] | None
    running_services: list[str] | None
    listening: list[ListeningSocket] | None
    sockets_source: Literal["psutil", "proc"] | None
    legacy_servers: list[LegacyServer]


# --- pure parsers -------------------------------------------------------------------

_UNIT_NAME = re.compile(r"^[A-Za-z0-9:_.\\@-]+\.service$")


def parse_unit_files(text: str) -> list[UnitFile]:
    """Lines of `systemctl list-unit-files --type=service --no-legend` (UNIT STATE
    [PRESET]); lines that are not a service unit and its state are skipped."""
    units = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 2 and _UNIT_NAME.match(fields[0]):
            units.append(UnitFile(unit=fields[0], state=fields[1]))
    return units


def parse_running_units(text: str) -> list[str]:
    """Running services in `systemctl list-units --type=service` output (UNIT LOAD ACTIVE
    SUB DESCRIPTION): units whose SUB state is "running". A leading status mark ("●" or
    "*"), the header and the legend lines are skipped."""
    names = []
    for line in text.splitlines():
        fields = line.split()
        if fields and fields[0] in ("●", "*"):
            fields = fields[1:]
        if len(fields) >= 4 and _UNIT_NAME.match(fields[0]) and fields[3] == "running":
            names.append(fields[0])
    return sorted(set(names))


def unit_file_name(unit: str) -> str:
    """The unit file behind a unit name: an instance "getty@tty1.service" comes from
    the template "getty@.service"."""
    prefix, at, rest = unit.partition("@")
    if not at:
        return unit
    return f"{prefix}@.{rest.rsplit('.', 1)[-1]}"


def _hex_int(text: str, maximum: int) -> int | None:
    if not text or len(text) > 16 or not all(ch in "0123456789abcdefABCDEF" for ch in text):
        return None
    value = int(text, 16)
    return value if value <= maximum else None


def decode_proc_address(text: str) -> tuple[Literal[4, 6], str, int] | None:
    """(family, address, port) of a /proc/net "HEX:PORT" field, or None when malformed.

    The kernel prints each 32-bit word of the address in host byte order; this assumes a
    little-endian host (x86, arm64, the usual Linux servers).
    """
    address_hex, colon, port_hex = text.partition(":")
    port = _hex_int(port_hex, 0xFFFF) if colon and len(port_hex) == 4 else None
    if port is None or len(address_hex) not in (8, 32):
        return None
    try:
        raw = bytes.fromhex(address_hex)
    except ValueError:
        return None
    # Reverse each 32-bit word: host (little-endian) order back to network order.
    packed = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    if len(packed) == 4:
        return 4, socket.inet_ntop(socket.AF_INET, packed), port
    return 6, socket.inet_ntop(socket.AF_INET6, packed), port


@dataclass(frozen=True)
class ProcSocket:
    protocol: Protocol
    family: Literal[4, 6]
    address: str
    port: int
    uid: int


def parse_proc_net(text: str, protocol: Protocol) -> list[ProcSocket]:
    """Listening sockets of one /proc/net/{tcp,tcp6,udp,udp6} table: TCP in LISTEN (0A),
    UDP unconnected (07) with no remote peer. Malformed lines are skipped."""
    wanted = TCP_LISTEN if protocol == "tcp" else UDP_UNCONNECTED
    sockets = []
    for line in text.splitlines()[1:]:  # the first line is the column header
        fields = line.split()
        if len(fields) < 8 or not fields[0].endswith(":"):
            continue
        local = decode_proc_address(fields[1])
        remote = decode_proc_address(fields[2])
        state = _hex_int(fields[3], 0xFF)
        uid = int(fields[7]) if fields[7].isascii() and fields[7].isdigit() else None
        if local is None or remote is None or state != wanted or uid is None or uid > MAX_UID:
            continue
        if remote[2] != 0:  # a peer: connected, not listening
            continue
        sockets.append(ProcSocket(protocol, local[0], local[1], local[2], uid))
    return sockets


def socket_sort_key(item: ListeningSocket) -> tuple[Any, ...]:
    return (item.protocol, item.family, item.port, item.address, item.pid or 0)


def legacy_servers(
    present: set[str], listening: list[ListeningSocket] | None
) -> list[LegacyServer]:
    """Legacy services with a binary in `present` or a socket on their port."""
    ports = {(s.protocol, s.port) for s in listening} if listening is not None else set()
    found = []
    for service in LEGACY_SERVICES:
        binaries = [path for path in service.binaries if path in present]
        heard: list[str] | None = None
        if listening is not None:
            heard = (
                [f"{service.port[0]}/{service.port[1]}"]
                if service.port is not None and service.port in ports
                else []
            )
        if binaries or heard:
            found.append(LegacyServer(service=service.name, binaries=binaries, listening=heard))
    return found


# --- collection ---------------------------------------------------------------------


def _systemctl(c: Collection) -> str | None:
    return next((path for path in SYSTEMCTL_PATHS if c.host.exists(path)), None)


def _enabled_from_files(c: Collection) -> list[str] | None:
    units = enabled_unit_names(c)
    if units is None:
        return None
    return sorted({unit_file_name(unit) for unit in units if unit.endswith(".service")})


def _units(
    c: Collection, systemctl: str | None
) -> tuple[list[UnitFile] | None, list[str] | None, Literal["systemctl", "files"] | None]:
    if systemctl is not None:
        result = c.run(
            [systemctl, "list-unit-files", "--type=service", "--no-legend", "--no-pager"],
            timeout=COMMAND_TIMEOUT,
        )
        if result.ok:
            units = parse_unit_files(result.stdout.decode("utf-8", errors="replace"))
            enabled = sorted(u.unit for u in units if u.state in ENABLED_STATES)
            return units, enabled, "systemctl"
    enabled_files = _enabled_from_files(c)
    return None, enabled_files, "files" if enabled_files is not None else None


def _running(c: Collection, systemctl: str | None) -> list[str] | None:
    if systemctl is None:
        c.error("systemctl not found: running services not determined")
        return None
    result = c.run(
        [
            systemctl,
            "list-units",
            "--type=service",
            "--state=running",
            "--no-legend",
            "--no-pager",
        ],
        timeout=COMMAND_TIMEOUT,
    )
    if not result.ok:  # the error line is recorded by c.run (e.g. systemd not running)
        return None
    return parse_running_units(result.stdout.decode("utf-8", errors="replace"))


def _process_details(psutil: ModuleType, pid: int) -> tuple[str | None, str | None, int | None]:
    try:
        process = psutil.Process(pid)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None, None, None
    details: list[Any] = []
    for call in (process.name, process.username, lambda: process.uids().effective):
        try:
            details.append(call())
        except (psutil.NoSuchProcess, psutil.AccessDenied, KeyError, OSError):
            details.append(None)
    name, user, uid = details
    return (
        str(name) if name is not None else None,
        str(user) if user is not None else None,
        int(uid) if uid is not None else None,
    )


def sockets_from_psutil(psutil: ModuleType) -> list[ListeningSocket]:
    found: dict[tuple[Any, ...], ListeningSocket] = {}
    details: dict[int, tuple[str | None, str | None, int | None]] = {}
    for conn in psutil.net_connections(kind="inet"):
        if not conn.laddr:
            continue
        if conn.type == socket.SOCK_STREAM:
            if conn.status != psutil.CONN_LISTEN:
                continue
            protocol: Protocol = "tcp"
        elif conn.type == socket.SOCK_DGRAM:
            if conn.raddr:
                continue
            protocol = "udp"
        else:
            continue
        family: Literal[4, 6] = 6 if conn.family == socket.AF_INET6 else 4
        pid = conn.pid
        if pid is not None and pid not in details:
            details[pid] = _process_details(psutil, pid)
        process, user, uid = details[pid] if pid is not None else (None, None, None)
        address = str(conn.laddr.ip).split("%", 1)[0]
        item = ListeningSocket(
            protocol=protocol,
            family=family,
            address=address,
            port=int(conn.laddr.port),
            pid=pid,
            process=process,
            user=user,
            uid=uid,
        )
        found[(protocol, family, address, item.port, pid)] = item
    return sorted(found.values(), key=socket_sort_key)


def _sockets_from_proc(c: Collection) -> list[ListeningSocket] | None:
    if not c.host.exists("/proc/net"):  # a root tree, or a host without procfs
        return None
    parsed: list[ProcSocket] = []
    readable = 0
    for protocol, path in PROC_NET:
        # tcp6/udp6 are absent on a kernel without IPv6: not an error.
        text = c.read_text(path, missing_ok=path.endswith("6"))
        if text is not None:
            readable += 1
            parsed.extend(parse_proc_net(text, protocol))
    if readable == 0:
        return None
    passwd_text = c.read_text(PASSWD, missing_ok=True)
    names: dict[int, str] = {}
    for entry in parse_passwd(passwd_text or ""):
        names.setdefault(entry.uid, entry.name)
    unique = {
        (s.protocol, s.family, s.address, s.port): ListeningSocket(
            protocol=s.protocol,
            family=s.family,
            address=s.address,
            port=s.port,
            pid=None,
            process=None,
            user=names.get(s.uid),
            uid=s.uid,
        )
        for s in parsed
    }
    return sorted(unique.values(), key=socket_sort_key)


def _sockets(
    c: Collection,
) -> tuple[list[ListeningSocket] | None, Literal["psutil", "proc"] | None]:
    psutil = c.psutil("psutil.net_connections(kind='inet')")
    if psutil is not None:
        try:
            return sockets_from_psutil(psutil), "psutil"
        except (psutil.AccessDenied, OSError) as exc:
            c.error(f"psutil.net_connections: {type(exc).__name__}: {exc}")
    sockets = _sockets_from_proc(c)
    return sockets, "proc" if sockets is not None else None


def _present_binaries(c: Collection) -> set[str]:
    present = set()
    for service in LEGACY_SERVICES:
        for path in service.binaries:
            info = c.host.stat(path)
            if info is not None and stat_module.S_ISREG(info.mode):
                present.add(path)
    return present


@collector("configuration.services", version="1", category="configuration", facts=ServicesFacts)
def collect(c: Collection) -> ServicesFacts:
    """Enabled and running systemd services, listening sockets, legacy clear-text servers."""
    systemctl = _systemctl(c)
    unit_files, enabled, enabled_source = _units(c, systemctl)
    running = _running(c, systemctl)
    listening, sockets_source = _sockets(c)
    if listening is None:
        c.error("listening sockets not observable: no psutil and no readable /proc/net")
    return ServicesFacts(
        unit_files=unit_files,
        enabled_services=enabled,
        enabled_source=enabled_source,
        running_services=running,
        listening=listening,
        sockets_source=sockets_source,
        legacy_servers=legacy_servers(_present_binaries(c), listening),
    )
