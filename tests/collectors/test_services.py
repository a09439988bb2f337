"""configuration.services: systemd units, listening sockets checked against `ss` on this
machine (psutil and the /proc/net fallback), legacy servers in a real Debian tree."""

from __future__ import annotations

import json
import os
import pwd
import re
import socket
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collectors.configuration.services import (
    ListeningSocket,
    Protocol,
    decode_proc_address,
    legacy_servers,
    parse_proc_net,
    parse_running_units,
    parse_unit_files,
    unit_file_name,
)
from collectors.host import CommandResult, LocalHost, RootHost
from tests.collectors.support import FIXTURES, NoPsutilLocalHost, collect
from tests.debian_root import copy_tree, debian_tree

SYSTEM = FIXTURES / "system"
SocketKey = tuple[str, int, str, int]  # (protocol, family, address, port)


# --- ss, the ground truth -----------------------------------------------------------


def ss_address(text: str, family: int) -> str:
    """ss's local address field as inet_ntop writes it: "[::1]" → "::1", "*" → the
    wildcard of the family asked for, "127.0.0.1%lo" → "127.0.0.1"."""
    text = re.sub(r"%[^\]]*", "", text)
    if text == "*":
        return "0.0.0.0" if family == 4 else "::"  # noqa: S104 (an address, not a bind)
    return text.removeprefix("[").removesuffix("]")


def parse_ss(text: str, family: int) -> set[SocketKey]:
    found = set()
    for line in text.splitlines():
        fields = line.split()
        address, _, port = fields[4].rpartition(":")
        found.add((fields[0], family, ss_address(address, family), int(port)))
    return found


def ss_sockets() -> set[SocketKey]:
    found: set[SocketKey] = set()
    for family in (4, 6):
        out = subprocess.run(
            ["ss", "-H", "-tuln", f"-{family}"], capture_output=True, text=True, check=True
        ).stdout
        found |= parse_ss(out, family)
    return found


def keys(items: Sequence[dict[str, Any]]) -> set[SocketKey]:
    return {
        (str(i["protocol"]), int(i["family"]), str(i["address"]), int(i["port"])) for i in items
    }


@pytest.fixture
def listeners() -> Iterator[list[socket.socket]]:
    """Sockets of this test process: TCP listening on 127.0.0.1 and ::1, UDP bound on
    0.0.0.0 and ::, plus a connected UDP socket that must not count as listening."""
    opened = []
    for family, kind, address in (
        (socket.AF_INET, socket.SOCK_STREAM, "127.0.0.1"),
        (socket.AF_INET6, socket.SOCK_STREAM, "::1"),
        (socket.AF_INET, socket.SOCK_DGRAM, "0.0.0.0"),  # noqa: S104 (a test socket)
        (socket.AF_INET6, socket.SOCK_DGRAM, "::"),
    ):
        sock = socket.socket(family, kind)
        sock.bind((address, 0))
        if kind == socket.SOCK_STREAM:
            sock.listen()
        opened.append(sock)
    connected = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    connected.connect(("127.0.0.1", opened[2].getsockname()[1]))
    opened.append(connected)
    yield opened
    for sock in opened:
        sock.close()


def own_keys(opened: list[socket.socket]) -> set[SocketKey]:
    result = set()
    for sock in opened[:4]:
        protocol = "tcp" if sock.type == socket.SOCK_STREAM else "udp"
        family = 4 if sock.family == socket.AF_INET else 6
        address, port = sock.getsockname()[:2]
        result.add((protocol, family, address, port))
    return result


def collect_stable(host: LocalHost) -> tuple[dict[str, Any], set[SocketKey]]:
    """Collect between two equal `ss` snapshots: other processes on this machine open
    and close sockets, and a comparison is only fair when nothing moved meanwhile."""
    for _ in range(10):
        before = ss_sockets()
        record = collect("configuration.services", host)
        if ss_sockets() == before:
            return record.facts, before
    raise AssertionError("sockets kept changing during collection")


def test_psutil_sockets_equal_ss(listeners: list[socket.socket]) -> None:
    facts, expected = collect_stable(LocalHost())
    assert facts["sockets_source"] == "psutil"
    listening = facts["listening"]
    assert isinstance(listening, list)
    assert keys(listening) == expected
    mine = own_keys(listeners)
    assert mine <= expected
    user = pwd.getpwuid(os.getuid()).pw_name
    for item in listening:
        if keys([item]) <= mine:
            assert (item["pid"], item["user"], item["uid"]) == (os.getpid(), user, os.getuid())
            assert item["process"] == Path(f"/proc/{os.getpid()}/comm").read_text().strip()
    connected_port = listeners[4].getsockname()[1]
    assert all(item["port"] != connected_port for item in listening)


def test_proc_net_fallback_equals_ss(listeners: list[socket.socket]) -> None:
    facts, expected = collect_stable(NoPsutilLocalHost())
    assert facts["sockets_source"] == "proc"
    listening = facts["listening"]
    assert isinstance(listening, list)
    assert keys(listening) == expected
    mine = own_keys(listeners)
    user = pwd.getpwuid(os.getuid()).pw_name
    for item in listening:
        assert (item["pid"], item["process"]) == (None, None)
        if keys([item]) <= mine:
            assert (item["uid"], item["user"]) == (os.getuid(), user)


def test_proc_net_snapshot_equals_ss_snapshot() -> None:
    # /proc/net/* and `ss -H -tuln -4/-6` taken at the same moment with test sockets on
    # 127.0.0.1, 0.0.0.0, ::1, :: (dual-stack and v6only), one bound to lo, one
    # connected UDP socket and an established TCP pair (see tests/fixtures/README.md).
    tables: tuple[tuple[str, Protocol], ...] = (
        ("tcp", "tcp"),
        ("tcp6", "tcp"),
        ("udp", "udp"),
        ("udp6", "udp"),
    )
    parsed = [
        s
        for name, protocol in tables
        for s in parse_proc_net((SYSTEM / f"proc-net-{name}").read_text(), protocol)
    ]
    got = {(s.protocol, s.family, s.address, s.port) for s in parsed}
    expected = parse_ss((SYSTEM / "ss-tuln-4.txt").read_text(), 4) | parse_ss(
        (SYSTEM / "ss-tuln-6.txt").read_text(), 6
    )
    assert got == expected
    assert len(expected) == 10
    assert {s.uid for s in parsed} == {0}


def test_decode_proc_address() -> None:
    assert decode_proc_address("0100007F:DFFC") == (4, "127.0.0.1", 0xDFFC)
    assert decode_proc_address("00000000:07E8") == (4, "0.0.0.0", 2024)  # noqa: S104
    assert decode_proc_address("00000000000000000000000001000000:9FFD") == (6, "::1", 0x9FFD)
    assert decode_proc_address("0000000000000000FFFF00000100007F:0016") == (
        6,
        "::ffff:127.0.0.1",
        22,
    )
    for bad in ("", "0100007F", "0100007F:XYZW", "01007F:0016", "0100007F:16"):
        assert decode_proc_address(bad) is None


# --- systemd units ------------------------------------------------------------------


def test_parse_unit_files_real_output() -> None:
    text = (SYSTEM / "systemctl-list-unit-files.txt").read_text()
    units = parse_unit_files(text)
    assert len(units) == len(text.splitlines())
    states = {u.unit: u.state for u in units}
    assert states["ssh.service"] == "enabled"
    assert states["getty@.service"] == "enabled"
    assert states["cryptdisks.service"] == "masked"
    assert states["apt-daily.service"] == "static"
    assert sorted(u for u, s in states.items() if s == "enabled") == [
        "e2scrub_reap.service",
        "getty@.service",
        "postgresql.service",
        "ssh.service",
        "systemd-pstore.service",
        "systemd-timesyncd.service",
    ]


def test_parse_running_units_manpage_example() -> None:
    # systemctl(1)'s own list-units example: a failed unit marked "●", header, legend.
    text = (SYSTEM / "systemctl-list-units-manpage.txt").read_text()
    assert parse_running_units(text) == ["systemd-journald.service", "systemd-logind.service"]


def test_unit_file_name() -> None:
    assert unit_file_name("getty@tty1.service") == "getty@.service"
    assert unit_file_name("serial-getty@ttyS0.service") == "serial-getty@.service"
    assert unit_file_name("getty@.service") == "getty@.service"
    assert unit_file_name("ssh.service") == "ssh.service"


class NoCommandsLocalHost(LocalHost):
    """This machine with commands refused, the way a RootHost answers."""

    def run(self, argv: Sequence[str], timeout: float) -> CommandResult:
        return CommandResult(tuple(argv), None, b"", b"", 0, error="not supported here")


def test_enabled_from_files_equals_systemctl_here() -> None:
    out = subprocess.run(
        ["systemctl", "list-unit-files", "--type=service", "--no-legend", "--no-pager"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    expected = sorted(line.split()[0] for line in out.splitlines() if line.split()[1] == "enabled")
    with_systemctl = collect("configuration.services", LocalHost()).facts
    from_files = collect("configuration.services", NoCommandsLocalHost()).facts
    assert with_systemctl["enabled_source"] == "systemctl"
    assert with_systemctl["enabled_services"] == expected
    assert from_files["enabled_source"] == "files"
    assert from_files["unit_files"] is None
    assert from_files["enabled_services"] == expected


def test_running_unknown_without_systemd_here() -> None:
    # This container does not boot systemd: running services are unknown, not "none".
    if Path("/run/systemd/system").exists():
        pytest.skip("systemd is running here")
    record = collect("configuration.services", LocalHost())
    assert record.facts["running_services"] is None
    assert any("list-units" in error for error in record.errors)


# --- a real Debian tree -------------------------------------------------------------


def test_debian_tree_units_and_planted_legacy_servers(tmp_path: Path) -> None:
    root = copy_tree(debian_tree(), tmp_path / "root")
    wants = root / "etc/systemd/system"
    expected = sorted(
        unit
        for directory in wants.iterdir()
        if directory.name.endswith(".wants")
        for unit in os.listdir(directory)
        if unit.endswith(".service")
    )
    assert "ssh.service" in expected
    for planted in ("in.telnetd", "vsftpd", "in.tftpd"):
        (root / "usr/sbin" / planted).write_bytes(b"\x7fELF planted")
    record = collect("configuration.services", RootHost(root))
    facts = record.facts
    assert facts["enabled_source"] == "files"
    assert facts["enabled_services"] == expected
    assert facts["running_services"] is None
    assert facts["listening"] is None and facts["sockets_source"] is None
    assert facts["legacy_servers"] == [
        {"service": "telnet", "binaries": ["/usr/sbin/in.telnetd"], "listening": None},
        {"service": "ftp", "binaries": ["/usr/sbin/vsftpd"], "listening": None},
        {"service": "tftp", "binaries": ["/usr/sbin/in.tftpd"], "listening": None},
    ]
    assert "listening sockets not observable: no psutil and no readable /proc/net" in (
        record.errors
    )


def test_masked_and_removed_units_are_not_enabled_as_systemctl_says(tmp_path: Path) -> None:
    root = copy_tree(debian_tree(), tmp_path / "root")
    system = root / "etc/systemd/system"
    wants = system / "multi-user.target.wants"
    # Masked after being enabled: the wants link stays, the unit file is /dev/null.
    (system / "cron.service").symlink_to("/dev/null")
    # What `apt remove` of a daemon leaves: a wants link to a unit file that is gone.
    (wants / "avahi-daemon.service").symlink_to("/lib/systemd/system/avahi-daemon.service")
    facts = collect("configuration.services", RootHost(root)).facts
    assert "cron.service" not in facts["enabled_services"]
    assert "avahi-daemon.service" not in facts["enabled_services"]
    assert "ssh.service" in facts["enabled_services"]
    # Ground truth: systemctl itself, on the same tree.
    for unit, listed in (("cron.service", False), ("ssh.service", True)):
        state = subprocess.run(
            ["systemctl", f"--root={root}", "is-enabled", unit], capture_output=True, text=True
        ).stdout.strip()
        assert (state == "enabled") == listed, (unit, state)


def test_clean_debian_tree_has_no_legacy_servers() -> None:
    facts = collect("configuration.services", RootHost(debian_tree())).facts
    assert facts["legacy_servers"] == []


def test_legacy_server_found_by_port_alone() -> None:
    def sock(protocol: Protocol, port: int) -> ListeningSocket:
        return ListeningSocket(
            protocol=protocol,
            family=4,
            address="0.0.0.0",  # noqa: S104
            port=port,
            pid=None,
            process=None,
            user=None,
            uid=None,
        )

    found = legacy_servers(set(), [sock("tcp", 23), sock("udp", 69), sock("udp", 514)])
    assert [(s.service, s.binaries, s.listening) for s in found] == [
        ("telnet", [], ["tcp/23"]),
        ("tftp", [], ["udp/69"]),
    ]  # udp/514 is syslog, not rsh
    assert legacy_servers(set(), None) == []
    assert legacy_servers({"/usr/sbin/xinetd"}, []) == [
        type(found[0])(service="inetd", binaries=["/usr/sbin/xinetd"], listening=[])
    ]


# --- property tests -----------------------------------------------------------------

_HEX = st.text(alphabet="0123456789ABCDEFabcdef:xZ ", max_size=40)
_PROC_LINE = st.lists(_HEX, min_size=0, max_size=12).map(" ".join)


@given(st.one_of(st.text(), st.lists(_PROC_LINE, max_size=6).map("\n".join)))
def test_line_parsers_never_raise(text: str) -> None:
    for protocol in ("tcp", "udp"):
        first = parse_proc_net(text, protocol)
        assert first == parse_proc_net(text, protocol)
        for item in first:
            assert 0 <= item.port <= 0xFFFF and item.family in (4, 6)
    units = parse_unit_files(text)
    assert units == parse_unit_files(text)
    running = parse_running_units(text)
    assert running == parse_running_units(text)
    json.dumps([u.model_dump() for u in units] + running)  # serialisable
