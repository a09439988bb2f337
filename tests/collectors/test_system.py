"""inventory.system: parsers on real samples, ground truth here, psutil vs /proc, roots."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import psutil
import pytest
from hypothesis import given
from hypothesis import strategies as st

from collectors.host import LocalHost, RootHost
from collectors.inventory.system import (
    os_release_facts,
    parse_cpuinfo,
    parse_meminfo_total,
    parse_os_release,
    parse_proc_stat_btime,
)
from collectors.registry import all_collectors
from tests.collectors.support import (
    DEBIAN,
    FIXTURES,
    PLANTED_HOSTNAME,
    PLANTED_MACHINE_ID,
    NoPsutilLocalHost,
    build_debian_root,
    collect,
    file_sources,
    sha256_file,
)


def test_parse_debian_os_release() -> None:
    facts = os_release_facts(parse_os_release((DEBIAN / "os-release").read_text()))
    assert facts.model_dump() == {
        "id": "debian",
        "id_like": [],
        "version_id": "12",
        "version_codename": "bookworm",
        "pretty_name": "Debian GNU/Linux 12 (bookworm)",
        "name": "Debian GNU/Linux",
    }


def test_parse_rocky_os_release() -> None:
    facts = os_release_facts(parse_os_release((FIXTURES / "rocky9/os-release").read_text()))
    assert facts.id == "rocky"
    assert facts.id_like == ["rhel", "centos", "fedora"]
    assert facts.version_id == "9.4"
    assert facts.version_codename is None
    assert facts.pretty_name == "Rocky Linux 9.4 (Blue Onyx)"


def test_os_release_quoting() -> None:
    # os-release(5): shell-style quoting and backslash escapes; comments and junk ignored.
    text = '# c\nNAME="A \\"quoted\\" \\$name"\nID=\'x\'\nBAD LINE\nVERSION_ID="unterminated\n'
    fields = parse_os_release(text)
    assert fields == {"NAME": 'A "quoted" $name', "ID": "x", "VERSION_ID": "unterminated"}


def test_parse_proc_snapshots() -> None:
    assert parse_cpuinfo((DEBIAN / "proc-cpuinfo").read_text()) == (
        2,
        "Intel(R) Xeon(R) Processor",
    )
    assert parse_meminfo_total((DEBIAN / "proc-meminfo").read_text()) == 24683656 * 1024
    assert parse_proc_stat_btime((DEBIAN / "proc-stat").read_text()) == 1795568622


def test_collectors_are_registered() -> None:
    specs = all_collectors()
    expected = {
        "inventory.system": "inventory",
        "patch.packages": "patch",
        "access.accounts": "access",
    }
    for name, category in expected.items():
        spec = specs[name]
        assert (spec.version, spec.category) == ("1", category)
        assert spec.description
        assert spec.facts_schema()["additionalProperties"] is False


# --- this machine -------------------------------------------------------------------


def _first_line(path: str) -> str:
    return Path(path).read_text().strip().splitlines()[0]


def test_local_system_matches_this_machine() -> None:
    record = collect("inventory.system", LocalHost())
    facts = record.facts
    assert record.errors == []
    os_id = subprocess.run(
        ["sh", "-c", '. /etc/os-release && printf %s "$ID"'],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert facts["os_release"]["id"] == os_id
    assert facts["hostname"] == socket.gethostname() == _first_line("/proc/sys/kernel/hostname")
    assert facts["machine_id"] == _first_line("/etc/machine-id")
    assert facts["kernel"] == {"release": os.uname().release, "version": os.uname().version}
    assert facts["cpu"]["logical_count"] == os.cpu_count()
    assert facts["memory_total_bytes"] == psutil.virtual_memory().total
    assert facts["boot_time"].endswith("Z")
    mounts = {d["mountpoint"] for d in facts["disks"]}
    assert "/" in mounts
    assert all(0 <= d["used_bytes"] <= d["total_bytes"] for d in facts["disks"])
    interfaces = {i["name"]: i for i in facts["interfaces"]}
    assert set(interfaces) == {name for _, name in socket.if_nameindex()}
    assert interfaces["lo"]["ipv4"] == ["127.0.0.1"]
    for name, nic in interfaces.items():
        mac = Path(f"/sys/class/net/{name}/address").read_text().strip()
        assert nic["mac"] == mac
    assert file_sources(record)["/etc/machine-id"].sha256 == sha256_file(Path("/etc/machine-id"))


def test_proc_fallback_agrees_with_psutil() -> None:
    # The path an SSHHost takes (/proc, /sys) must report what psutil reports here.
    with_psutil = collect("inventory.system", LocalHost()).facts
    record = collect("inventory.system", NoPsutilLocalHost())
    without = record.facts
    for key in ("os_release", "kernel", "hostname", "machine_id", "boot_time", "cpu"):
        assert without[key] == with_psutil[key], key
    assert without["memory_total_bytes"] == with_psutil["memory_total_bytes"]
    assert [(i["name"], i["mac"]) for i in without["interfaces"]] == [
        (i["name"], i["mac"]) for i in with_psutil["interfaces"]
    ]
    assert all(i["ipv4"] is None and i["ipv6"] is None for i in without["interfaces"])
    assert without["disks"] is None
    assert record.errors == ["disks: needs psutil, which is only available when collecting locally"]


# --- a root tree --------------------------------------------------------------------


def test_root_tree(tmp_path: Path) -> None:
    root = build_debian_root(tmp_path / "root")
    record = collect("inventory.system", RootHost(root))
    facts = record.facts
    assert facts["os_release"]["id"] == "debian"
    assert facts["hostname"] == PLANTED_HOSTNAME
    assert facts["machine_id"] == PLANTED_MACHINE_ID
    for absent in ("kernel", "boot_time", "cpu", "memory_total_bytes", "disks", "interfaces"):
        assert facts[absent] is None, absent
    assert record.errors == [
        "kernel: could not read /proc/sys/kernel/osrelease",
        "boot_time: could not read /proc/stat",
        "cpu: could not read /proc/cpuinfo",
        "memory_total_bytes: could not read /proc/meminfo",
        "disks: needs psutil, which is only available when collecting locally",
        "/sys/class/net: not found",
    ]
    sources = file_sources(record)
    # Read through the /etc/os-release symlink: the hash is of the file it points to.
    assert sources["/etc/os-release"].sha256 == sha256_file(DEBIAN / "os-release")
    assert sources["/etc/hostname"].sha256 == sha256_file(root / "etc/hostname")
    assert "/usr/lib/os-release" not in sources


def test_root_tree_with_proc_and_sys(tmp_path: Path) -> None:
    root = build_debian_root(tmp_path / "root")
    (root / "etc/os-release").unlink()  # falls back to /usr/lib/os-release
    proc = root / "proc"
    (proc / "sys/kernel").mkdir(parents=True)
    (proc / "sys/kernel/osrelease").write_text("6.1.0-28-amd64\n")
    for name in ("cpuinfo", "meminfo", "stat"):
        (proc / name).write_bytes((DEBIAN / f"proc-{name}").read_bytes())
    nic = root / "sys/class/net/eth0"
    nic.mkdir(parents=True)
    (nic / "address").write_text("02:fc:00:00:00:01\n")
    record = collect("inventory.system", RootHost(root))
    facts = record.facts
    assert facts["os_release"]["version_codename"] == "bookworm"
    assert facts["kernel"] == {"release": "6.1.0-28-amd64", "version": None}
    assert facts["boot_time"] == "2026-11-25T01:03:42.000000Z"
    assert facts["cpu"] == {"logical_count": 2, "model_name": "Intel(R) Xeon(R) Processor"}
    assert facts["memory_total_bytes"] == 24683656 * 1024
    assert facts["interfaces"] == [
        {"name": "eth0", "mac": "02:fc:00:00:00:01", "ipv4": None, "ipv6": None}
    ]
    assert record.errors == [
        "kernel version: could not read /proc/sys/kernel/version",
        "disks: needs psutil, which is only available when collecting locally",
    ]
    assert "/usr/lib/os-release" in file_sources(record)


@pytest.mark.parametrize("name", ["inventory.system", "patch.packages", "access.accounts"])
def test_empty_root_never_crashes(tmp_path: Path, name: str) -> None:
    record = collect(name, RootHost(tmp_path))
    assert record.errors
    assert not any("crashed" in error for error in record.errors)


# --- property tests -----------------------------------------------------------------


@given(st.text())
def test_parsers_never_raise(text: str) -> None:
    os_release_facts(parse_os_release(text))
    parse_cpuinfo(text)
    parse_meminfo_total(text)
    parse_proc_stat_btime(text)
