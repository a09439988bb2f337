"""configuration.system: file modes against os.stat here and in a real Debian tree,
mounts against findmnt, time-sync and MAC parsers on real files and real chronyc output."""

from __future__ import annotations

import grp
import hashlib
import json
import os
import pwd
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collectors.configuration.system import (
    CRITICAL_PATHS,
    TEMP_MOUNTPOINTS,
    banner_escapes,
    mentions_os,
    mount_facts,
    parse_apparmor_profiles,
    parse_chrony_conf,
    parse_chronyc_tracking,
    parse_key_values,
    parse_mounts,
    parse_ntp_conf,
    parse_timesyncd_conf,
)
from collectors.host import LocalHost, RootHost
from tests.collectors.support import FIXTURES, NoPsutilLocalHost, collect, file_sources
from tests.debian_root import copy_tree, debian_tree

SYSTEM = FIXTURES / "system"
# /etc/issue of RHEL 8/9 (redhat-release): OS name, kernel release and machine escapes.
RHEL_ISSUE = "\\S\nKernel \\r on an \\m\n\n"


def expected_mode(path: Path, users: dict[int, str], groups: dict[int, str]) -> dict[str, object]:
    info = path.stat()
    return {
        "mode": f"{info.st_mode & 0o7777:04o}",
        "uid": info.st_uid,
        "gid": info.st_gid,
        "owner": users.get(info.st_uid),
        "group": groups.get(info.st_gid),
        "world_readable": bool(info.st_mode & 0o004),
        "world_writable": bool(info.st_mode & 0o002),
        "type": "directory" if path.is_dir() else "file",
    }


def names_of(root: Path) -> tuple[dict[int, str], dict[int, str]]:
    users: dict[int, str] = {}
    for line in (root / "etc/passwd").read_text().splitlines():
        fields = line.split(":")
        users.setdefault(int(fields[2]), fields[0])
    groups: dict[int, str] = {}
    for line in (root / "etc/group").read_text().splitlines():
        fields = line.split(":")
        groups.setdefault(int(fields[2]), fields[0])
    return users, groups


# --- critical files -----------------------------------------------------------------


def test_critical_file_modes_equal_os_stat_here() -> None:
    facts = collect("configuration.system", LocalHost()).facts
    by_path = {f["path"]: f for f in facts["critical_files"]}
    assert list(by_path) == list(CRITICAL_PATHS)
    for path in CRITICAL_PATHS:
        item = by_path[path]
        if not os.path.exists(path):
            assert item["exists"] is False and item["mode"] is None and item["owner"] is None
            continue
        info = os.stat(path)
        assert item["exists"] is True
        assert item["mode"] == f"{info.st_mode & 0o7777:04o}", path
        assert (item["uid"], item["gid"]) == (info.st_uid, info.st_gid)
        assert item["owner"] == pwd.getpwuid(info.st_uid).pw_name
        assert item["group"] == grp.getgrgid(info.st_gid).gr_name
    assert by_path["/etc/passwd"]["exists"] is True


def test_debian_tree_modes_and_planted_weak_files(tmp_path: Path) -> None:
    root = copy_tree(debian_tree(), tmp_path / "root")
    (root / "etc/shadow").chmod(0o644)
    (root / "etc/crontab").chmod(0o666)
    record = collect("configuration.system", RootHost(root))
    users, groups = names_of(root)
    by_path = {f["path"]: f for f in record.facts["critical_files"]}
    for path in CRITICAL_PATHS:
        real = root / path.lstrip("/")
        item = by_path[path]
        assert item["exists"] == real.exists(), path
        if real.exists():
            assert {k: item[k] for k in expected_mode(real, users, groups)} == expected_mode(
                real, users, groups
            ), path
    shadow = by_path["/etc/shadow"]
    assert (shadow["mode"], shadow["world_readable"], shadow["world_writable"]) == (
        "0644",
        True,
        False,
    )
    assert shadow["group"] == "shadow"  # gid resolved through the tree's own /etc/group
    assert by_path["/etc/crontab"]["world_writable"] is True
    assert by_path["/etc/sudoers"]["mode"] == "0440"
    assert by_path["/var/spool/cron"]["type"] == "directory"
    assert by_path["/etc/gshadow"]["world_readable"] is False


# --- mounts -------------------------------------------------------------------------


def findmnt(path: str) -> tuple[str, str, list[str]]:
    out = subprocess.run(
        ["findmnt", "-n", "-T", path, "-o", "TARGET,FSTYPE,OPTIONS"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    target, fstype, options = out.splitlines()[-1].split()  # the top of a stack
    return target, fstype, options.split(",")


def test_mounts_equal_findmnt_here() -> None:
    facts = collect("configuration.system", LocalHost()).facts
    mounts = {m["mountpoint"]: m for m in facts["mounts"]}
    assert list(mounts) == list(TEMP_MOUNTPOINTS)
    for path, item in mounts.items():
        target, fstype, options = findmnt(path)
        assert (item["mounted_on"], item["fstype"], item["options"]) == (target, fstype, options)
        assert item["separate_mount"] == (target == path)
        assert item["noexec"] == ("noexec" in options)
        assert item["nodev"] == ("nodev" in options) and item["nosuid"] == ("nosuid" in options)


def test_proc_mounts_snapshot_of_this_machine() -> None:
    entries = parse_mounts((SYSTEM / "proc-self-mounts").read_text())
    shm = mount_facts(entries, "/dev/shm")
    assert (shm.separate_mount, shm.fstype, shm.noexec) == (True, "tmpfs", False)
    tmp = mount_facts(entries, "/tmp")
    assert (tmp.separate_mount, tmp.mounted_on, tmp.fstype) == (False, "/", "ext4")
    # /sys/fs/cgroup/cpu must not count as covering /sys/fs/cgroup/cpuacct/x
    assert mount_facts(entries, "/sys/fs/cgroup/cpuacct/x").mounted_on == "/sys/fs/cgroup/cpuacct"


def test_proc_mounts_snapshot_with_hardened_tmp() -> None:
    # Taken in a private mount namespace: tmpfs /tmp nodev,nosuid,noexec, /var/tmp bound
    # to it, and a mount point with a space (escaped \040 by the kernel).
    entries = parse_mounts((SYSTEM / "proc-self-mounts-hardened").read_text())
    for path in ("/tmp", "/var/tmp"):
        item = mount_facts(entries, path)
        assert (item.separate_mount, item.fstype) == (True, "tmpfs")
        assert (item.nodev, item.nosuid, item.noexec) == (True, True, True)
    spaced = mount_facts(entries, "/tmp/with space/file")
    assert spaced.mounted_on == "/tmp/with space"
    assert spaced.options == ["rw", "relatime", "size=1024k", "mode=700"]
    assert any(e.source == "my tmp" for e in entries)


def test_fstab_samples() -> None:
    ubuntu = parse_mounts((SYSTEM / "fstab-ubuntu-2204").read_text())
    assert [e.mountpoint for e in ubuntu] == ["/", "/boot", "/boot/efi"]  # swap skipped
    tmp = mount_facts(ubuntu, "/tmp")
    assert (tmp.separate_mount, tmp.mounted_on, tmp.options, tmp.noexec) == (
        False,
        "/",
        ["defaults"],
        False,
    )
    unconfigured = parse_mounts((SYSTEM / "fstab-unconfigured").read_text())
    assert unconfigured == []
    unknown = mount_facts(unconfigured, "/tmp")
    assert (unknown.mounted_on, unknown.options, unknown.noexec) == (None, None, None)


def test_root_tree_fstab_planted_tmp(tmp_path: Path) -> None:
    root = copy_tree(debian_tree(), tmp_path / "root")
    with (root / "etc/fstab").open("a") as handle:
        handle.write("tmpfs /tmp tmpfs defaults,nodev,nosuid,noexec 0 0\n")
    record = collect("configuration.system", RootHost(root))
    assert record.facts["mounts"] is None
    assert "no /proc/self/mounts: mounted file systems not observed" in record.errors
    fstab = {m["mountpoint"]: m for m in record.facts["fstab_mounts"]}
    assert fstab["/tmp"]["separate_mount"] is True
    assert (fstab["/tmp"]["nodev"], fstab["/tmp"]["nosuid"], fstab["/tmp"]["noexec"]) == (
        True,
        True,
        True,
    )
    assert fstab["/var/tmp"]["mounted_on"] is None  # the tree's fstab has no root entry


# --- time sync ----------------------------------------------------------------------


def test_chrony_in_debian_tree(tmp_path: Path) -> None:
    root = copy_tree(debian_tree(), tmp_path / "root")
    (root / "etc/chrony/sources.d/site.sources").write_text("server 192.0.2.123 iburst\n")
    record = collect("configuration.system", RootHost(root))
    sync = record.facts["time_sync"]
    assert sync == {
        "daemon": "chrony",
        "evidence": "enabled",  # chrony.service in multi-user.target.wants
        "installed": ["chrony"],
        "running": None,
        "servers": ["2.debian.pool.ntp.org", "192.0.2.123"],
        "synchronised": None,
        "config_files": ["/etc/chrony/chrony.conf", "/etc/chrony/sources.d/site.sources"],
    }
    assert "/usr/bin/chronyc -n tracking: commands are not supported on a RootHost" in (
        record.errors
    )
    assert "/etc/chrony/chrony.keys" not in file_sources(record)  # never read a key file


def test_parse_chrony_conf_debian_default() -> None:
    config = parse_chrony_conf((debian_tree() / "etc/chrony/chrony.conf").read_text())
    assert config.servers == ("2.debian.pool.ntp.org",)
    assert config.confdirs == ("/etc/chrony/conf.d",)
    assert config.sourcedirs == ("/run/chrony-dhcp", "/etc/chrony/sources.d")


def test_parse_chronyc_tracking_real_output() -> None:
    # chronyd 4.3 of the Debian tree, run in a chroot with -x (no clock control).
    unsynced = (SYSTEM / "chronyc-tracking-unsynchronised.txt").read_text()
    local = (SYSTEM / "chronyc-tracking-local.txt").read_text()
    assert parse_chronyc_tracking(unsynced) is False
    assert parse_chronyc_tracking(local) is True
    assert parse_chronyc_tracking("506 Cannot talk to daemon\n") is None


def test_parse_ntp_and_timesyncd_configs() -> None:
    assert parse_ntp_conf((SYSTEM / "ntpsec-ntp.conf").read_text()) == [
        f"{n}.debian.pool.ntp.org" for n in range(4)
    ]
    # Debian's timesyncd.conf only shows the defaults, commented out.
    assert parse_timesyncd_conf((SYSTEM / "timesyncd.conf").read_text()) == (None, None)
    text = (SYSTEM / "timesyncd.conf").read_text().replace("#NTP=", "NTP=192.0.2.1 192.0.2.2")
    assert parse_timesyncd_conf(text) == (["192.0.2.1", "192.0.2.2"], None)
    assert parse_timesyncd_conf("[Time]\nNTP=a\nNTP=\nNTP=b\n") == (["b"], None)
    assert parse_timesyncd_conf("[Other]\nNTP=a\n") == (None, None)


def time_daemon_processes() -> set[str]:
    names = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                names.add((entry / "comm").read_text().strip())
            except OSError:
                continue
    return names & {"chronyd", "ntpd", "systemd-timesyn"}


def test_time_sync_here() -> None:
    sync = collect("configuration.system", LocalHost()).facts["time_sync"]
    wants = Path("/etc/systemd/system/sysinit.target.wants/systemd-timesyncd.service")
    if time_daemon_processes():
        pytest.skip("a time daemon runs here")
    if wants.exists() and Path("/lib/systemd/systemd-timesyncd").exists():
        assert (sync["daemon"], sync["evidence"]) == ("timesyncd", "enabled")
        assert sync["running"] is False  # psutil sees no such process here
        assert sync["config_files"][0] == "/etc/systemd/timesyncd.conf"
    # Without psutil (as over SSH) the /proc table gives the same answer.
    without_psutil = collect("configuration.system", NoPsutilLocalHost()).facts["time_sync"]
    assert without_psutil["running"] == sync["running"]


# --- SELinux and AppArmor -----------------------------------------------------------


def test_selinux_config_samples() -> None:
    centos = parse_key_values((SYSTEM / "selinux-config-centos7").read_text())
    assert (centos["SELINUX"], centos["SELINUXTYPE"]) == ("disabled", "targeted")
    commented = parse_key_values((SYSTEM / "selinux-config-type-commented").read_text())
    assert commented == {"SELINUX": "disabled"}


def test_selinux_config_in_tree(tmp_path: Path) -> None:
    root = copy_tree(debian_tree(), tmp_path / "root")
    assert not (root / "etc/selinux/config").exists()
    (root / "etc/selinux").mkdir(exist_ok=True)
    (root / "etc/selinux/config").write_bytes((SYSTEM / "selinux-config-centos7").read_bytes())
    facts = collect("configuration.system", RootHost(root)).facts
    assert facts["selinux"] == {
        "mode": None,  # no running kernel in a tree: unknown, not "disabled"
        "config_mode": "disabled",
        "config_type": "targeted",
    }
    assert facts["apparmor"] == {"enabled": None, "profiles": None}


def test_apparmor_profiles() -> None:
    assert parse_apparmor_profiles((SYSTEM / "apparmor-profiles-k8s-node").read_text()) == {
        "enforce": 4
    }
    mixed = (
        "/usr/sbin/cupsd (enforce)\nlibreoffice-oosplash (complain)\n"
        "nvidia_modprobe//kmod (enforce)\n"
    )
    assert parse_apparmor_profiles(mixed) == {"complain": 1, "enforce": 2}


def test_mac_here() -> None:
    facts = collect("configuration.system", LocalHost()).facts
    if os.path.exists("/sys/fs/selinux/enforce"):
        value = Path("/sys/fs/selinux/enforce").read_text().strip()
        assert facts["selinux"]["mode"] == ("enforcing" if value == "1" else "permissive")
    else:
        assert facts["selinux"]["mode"] == "disabled"
    if os.path.exists("/sys/module/apparmor/parameters/enabled"):
        enabled = Path("/sys/module/apparmor/parameters/enabled").read_text().startswith("Y")
        assert facts["apparmor"]["enabled"] is enabled
    else:
        assert facts["apparmor"] == {"enabled": False, "profiles": None}


# --- banners ------------------------------------------------------------------------


def test_banners_here() -> None:
    facts = collect("configuration.system", LocalHost()).facts
    os_id = next(
        line.split("=", 1)[1].strip('"')
        for line in Path("/etc/os-release").read_text().splitlines()
        if line.startswith("ID=")
    )
    for banner in facts["banners"]:
        path = Path(banner["path"])
        assert banner["present"] == path.exists()
        if not path.exists():
            continue
        data = path.read_bytes()
        assert banner["sha256"] == hashlib.sha256(data).hexdigest()
        assert banner["length"] == len(data)
        assert banner["text"] == data.decode()[:2048]
        if os_id.lower() in data.decode().lower():
            assert banner["mentions_os"] is True


def test_planted_banners_in_tree(tmp_path: Path) -> None:
    root = copy_tree(debian_tree(), tmp_path / "root")
    (root / "etc/issue").write_text(RHEL_ISSUE)
    (root / "etc/issue.net").write_text("Authorised use only.\n" * 200)
    (root / "etc/motd").unlink()
    banners = {
        b["path"]: b for b in collect("configuration.system", RootHost(root)).facts["banners"]
    }
    assert banners["/etc/issue"]["os_escapes"] == ["\\r", "\\m", "\\S"]
    assert banners["/etc/issue"]["mentions_os"] is False  # escapes, not the name "debian"
    warning = banners["/etc/issue.net"]
    assert (warning["os_escapes"], warning["mentions_os"]) == ([], False)
    assert warning["length"] == 21 * 200 and len(warning["text"]) == 2048
    assert banners["/etc/motd"] == {
        "path": "/etc/motd",
        "present": False,
        "sha256": None,
        "length": None,
        "os_escapes": None,
        "mentions_os": None,
        "text": None,
    }
    assert banner_escapes("Debian GNU/Linux 12 \\n \\l") == []
    # Names count as words: Oracle Linux's ID "ol" is not inside "policy".
    assert not mentions_os("Use of this system is subject to company policy.", ["ol"])
    assert mentions_os("Oracle Linux Server 9 (OL 9.4)", ["ol"])
    assert mentions_os("Welcome to Debian-12!", ["debian"])


# --- property tests -----------------------------------------------------------------

_CONFIG_TEXT = st.lists(
    st.sampled_from(
        [
            "server",
            "pool",
            "confdir",
            "sourcedir",
            "NTP=",
            "[Time]",
            "SELINUX=",
            "#",
            "\\040",
            "/tmp",
            "/",
            "tmpfs",
            "noexec,nodev",
            "(enforce)",
            "Leap status",
            ":",
            "=",
            " ",
            "\n",
            "\t",
            "x",
        ]
    ),
    max_size=50,
).map("".join)


@given(st.one_of(st.text(), _CONFIG_TEXT))
def test_parsers_never_raise(text: str) -> None:
    for parse in (
        parse_chrony_conf,
        parse_ntp_conf,
        parse_timesyncd_conf,
        parse_key_values,
        parse_apparmor_profiles,
        parse_chronyc_tracking,
        parse_mounts,
    ):
        first = parse(text)
        assert first == parse(text)
    entries = parse_mounts(text)
    for path in TEMP_MOUNTPOINTS:
        facts = mount_facts(entries, path)
        json.dumps(facts.model_dump())
        assert facts.separate_mount == (facts.mounted_on == path)
