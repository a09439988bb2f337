"""configuration.system: mandatory access control (SELinux, AppArmor), time
synchronisation, permissions of critical files, mount options of temporary
directories and the login banners.
"""

from __future__ import annotations

import re
import stat as stat_module
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict

from collectors.access.accounts import parse_group, parse_passwd
from collectors.host import FileStat
from collectors.processes import running_process_names
from collectors.provenance import Collection
from collectors.registry import collector
from collectors.systemd import enabled_unit_names
from evidence.canonical import sha256_hex

SMALL_FILE_MAX = 1024 * 1024
COMMAND_TIMEOUT = 15.0
BANNER_TEXT_MAX = 2048
BANNER_READ_MAX = 256 * 1024

SELINUX_ENFORCE = "/sys/fs/selinux/enforce"
SELINUX_CONFIG = "/etc/selinux/config"
APPARMOR_ENABLED = "/sys/module/apparmor/parameters/enabled"
APPARMOR_PROFILES = "/sys/kernel/security/apparmor/profiles"

CRITICAL_PATHS = (
    "/etc/passwd",
    "/etc/shadow",
    "/etc/gshadow",
    "/etc/group",
    "/etc/sudoers",
    "/etc/ssh/sshd_config",
    "/etc/crontab",
    "/etc/cron.d",
    "/etc/cron.daily",
    "/etc/cron.hourly",
    "/etc/cron.weekly",
    "/etc/cron.monthly",
    "/var/spool/cron",
    "/etc/login.defs",
)
TEMP_MOUNTPOINTS = ("/tmp", "/var/tmp", "/dev/shm")  # noqa: S108 (inspected, not used)
MOUNTS_PATHS = ("/proc/self/mounts", "/proc/mounts")
FSTAB = "/etc/fstab"
BANNERS = ("/etc/issue", "/etc/issue.net", "/etc/motd")
OS_RELEASE_PATHS = ("/etc/os-release", "/usr/lib/os-release")
# agetty(8) escapes that print the OS or kernel: release, version, machine, system name,
# and \S (the os-release pretty name).
OS_ESCAPES = ("\\r", "\\v", "\\m", "\\s", "\\S")

Daemon = Literal["chrony", "ntpd", "timesyncd"]


@dataclass(frozen=True)
class TimeDaemon:
    name: Daemon
    binaries: tuple[str, ...]
    processes: tuple[str, ...]
    units: tuple[str, ...]  # unit file names as enabled in /etc/systemd/system/*.wants


TIME_DAEMONS = (
    TimeDaemon(
        "chrony", ("/usr/sbin/chronyd", "/sbin/chronyd"), ("chronyd",), ("chrony", "chronyd")
    ),
    TimeDaemon(
        "ntpd",
        ("/usr/sbin/ntpd", "/sbin/ntpd"),
        ("ntpd",),
        ("ntpsec", "ntp", "ntpd"),
    ),
    TimeDaemon(
        "timesyncd",
        ("/lib/systemd/systemd-timesyncd", "/usr/lib/systemd/systemd-timesyncd"),
        ("systemd-timesyncd", "systemd-timesyn"),  # comm is cut at 15 characters
        ("systemd-timesyncd",),
    ),
)
CHRONY_CONFIGS = ("/etc/chrony/chrony.conf", "/etc/chrony.conf")
NTP_CONFIGS = ("/etc/ntpsec/ntp.conf", "/etc/ntp.conf")
TIMESYNCD_CONFIG = "/etc/systemd/timesyncd.conf"
TIMESYNCD_DROPINS = (
    "/etc/systemd/timesyncd.conf.d",
    "/run/systemd/timesyncd.conf.d",
    "/usr/lib/systemd/timesyncd.conf.d",
)
CHRONYC_PATHS = ("/usr/bin/chronyc", "/bin/chronyc")
TIMEDATECTL_PATHS = ("/usr/bin/timedatectl", "/bin/timedatectl")


class _Facts(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SelinuxFacts(_Facts):
    """SELinux. `mode`: the running mode from /sys/fs/selinux/enforce ("enforcing",
    "permissive"; "disabled" when a live kernel has no selinuxfs; None when not
    observable, as in a root tree). `config_mode`/`config_type`: SELINUX= and
    SELINUXTYPE= of /etc/selinux/config (None when absent or unset)."""

    mode: Literal["enforcing", "permissive", "disabled"] | None
    config_mode: str | None
    config_type: str | None


class ApparmorFacts(_Facts):
    """AppArmor. `enabled`: /sys/module/apparmor/parameters/enabled ("Y"); False when a
    live kernel has no apparmor module; None when not observable. `profiles`: loaded
    profile count per mode ("enforce", "complain", "kill", "unconfined", ...), None when
    the securityfs profile list could not be read."""

    enabled: bool | None
    profiles: dict[str, int] | None


class TimeSyncFacts(_Facts):
    """Time synchronisation.

    `daemon`: the NTP client in charge, chosen by running process (psutil), else by an
    enabled unit, else by an installed binary; None when none is found. `evidence` says
    which ("running", "enabled", "installed"). `running`: whether that daemon's process
    runs (None without psutil). `servers`: server/pool names configured for it, in file
    order ([] means none configured; timesyncd then uses its compiled-in fallback).
    `synchronised`: from `chronyc -n tracking` (Leap status) for chrony, else from
    `timedatectl show -p NTPSynchronized`; None when that could not be asked.
    `config_files`: the files the servers were read from.
    """

    daemon: Daemon | None
    evidence: Literal["running", "enabled", "installed"] | None
    installed: list[Daemon]
    running: bool | None
    servers: list[str]
    synchronised: bool | None
    config_files: list[str]


class FileMode(_Facts):
    """Ownership and permissions of a critical path (symlinks followed). `mode` is the
    4-digit octal permission string ("0640", "1730"); `owner`/`group` are names from the
    host's own /etc/passwd and /etc/group (None when not listed there). All but `path`
    and `exists` are None for a missing path."""

    path: str
    exists: bool
    type: Literal["file", "directory", "other"] | None
    mode: str | None
    uid: int | None
    gid: int | None
    owner: str | None
    group: str | None
    world_readable: bool | None
    world_writable: bool | None


class MountFacts(_Facts):
    """Mount options in force for a temporary directory.

    `separate_mount`: the directory is itself a mount point. `mounted_on`: the mount
    point whose options apply (the directory, or the file system containing it, such as
    "/"); None, with options and flags None, when no entry covers the path (an fstab
    without a root entry)."""

    mountpoint: str
    separate_mount: bool
    mounted_on: str | None
    fstype: str | None
    options: list[str] | None
    nodev: bool | None
    nosuid: bool | None
    noexec: bool | None


class BannerFacts(_Facts):
    """A login banner file. `length` in bytes; `os_escapes`: agetty escapes present that
    print OS details (\\r \\v \\m \\s \\S); `mentions_os`: the text names the OS (its
    os-release ID or NAME, case-insensitive; None when os-release is unreadable);
    `text`: the first 2048 characters."""

    path: str
    present: bool
    sha256: str | None
    length: int | None
    os_escapes: list[str] | None
    mentions_os: bool | None
    text: str | None


class SystemConfigFacts(_Facts):
    """Facts of `configuration.system`.

    `mounts`: from /proc/self/mounts, None when not readable (a root tree);
    `fstab_mounts`: from /etc/fstab, None when it is missing or unreadable.
    """

    selinux: SelinuxFacts
    apparmor: ApparmorFacts
    time_sync: TimeSyncFacts
    critical_files: list[FileMode]
    mounts: list[MountFacts] | None
    fstab_mounts: list[MountFacts] | None
    banners: list[BannerFacts]


# --- pure parsers -------------------------------------------------------------------


def parse_key_values(text: str) -> dict[str, str]:
    """KEY=value lines (shell-style config such as /etc/selinux/config); quotes around
    the value are removed, comments and malformed lines skipped, the last one wins."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, equals, value = line.partition("=")
        key = key.strip()
        if equals and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            values[key] = value.strip().strip("\"'")
    return values


def parse_apparmor_profiles(text: str) -> dict[str, int]:
    """Profile count per mode of /sys/kernel/security/apparmor/profiles ("NAME (MODE)")."""
    counts: dict[str, int] = {}
    for line in text.splitlines():
        match = re.search(r"\(([a-z_-]+)\)\s*$", line)
        if match:
            counts[match.group(1)] = counts.get(match.group(1), 0) + 1
    return dict(sorted(counts.items()))


@dataclass(frozen=True)
class ChronyConfig:
    servers: tuple[str, ...]
    confdirs: tuple[str, ...]
    sourcedirs: tuple[str, ...]


def parse_chrony_conf(text: str) -> ChronyConfig:
    """server/pool/peer names and confdir/sourcedir directories of a chrony.conf (or a
    *.sources file, which holds the same server/pool lines)."""
    servers: list[str] = []
    confdirs: list[str] = []
    sourcedirs: list[str] = []
    for raw in text.splitlines():
        words = raw.split()
        if not words or words[0][0] in "#!;%":
            continue
        directive = words[0].lower()
        if directive in ("server", "pool", "peer") and len(words) > 1:
            servers.append(words[1])
        elif directive == "confdir":
            confdirs.extend(words[1:])
        elif directive == "sourcedir":
            sourcedirs.extend(words[1:])
    return ChronyConfig(tuple(servers), tuple(confdirs), tuple(sourcedirs))


def parse_ntp_conf(text: str) -> list[str]:
    """server/pool/peer names of an ntp.conf (ntpd, ntpsec)."""
    servers = []
    for raw in text.split("\n"):
        words = raw.split("#", 1)[0].split()
        if len(words) > 1 and words[0] in ("server", "pool", "peer"):
            servers.append(words[1])
    return servers


def parse_timesyncd_conf(text: str) -> tuple[list[str] | None, list[str] | None]:
    """(NTP=, FallbackNTP=) of a timesyncd.conf [Time] section; None when unset. An
    empty assignment resets the list, as in systemd unit files."""
    ntp: list[str] | None = None
    fallback: list[str] | None = None
    section = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line.strip("[]").strip()
            continue
        if section != "Time":
            continue
        key, equals, value = line.partition("=")
        if not equals:
            continue
        names = value.split()
        if key.strip() == "NTP":
            ntp = [] if not names else (ntp or []) + names
        elif key.strip() == "FallbackNTP":
            fallback = [] if not names else (fallback or []) + names
    return ntp, fallback


def parse_chronyc_tracking(text: str) -> bool | None:
    """Synchronised per the "Leap status" line of `chronyc tracking`."""
    match = re.search(r"^Leap status\s*:\s*(.+?)\s*$", text, flags=re.MULTILINE)
    if match is None:
        return None
    return match.group(1) != "Not synchronised"


def parse_yes_no(text: str) -> bool | None:
    value = text.strip()
    return {"yes": True, "no": False}.get(value)


def _unescape_mount_field(field: str) -> str:
    """fstab(5) and /proc/mounts escape space, tab, newline and backslash as octal."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


@dataclass(frozen=True)
class MountEntry:
    source: str
    mountpoint: str
    fstype: str
    options: tuple[str, ...]


def parse_mounts(text: str) -> list[MountEntry]:
    """Entries of /proc/self/mounts or /etc/fstab (same first four fields), in order;
    comments, swap and entries without a mount-point path are skipped."""
    entries = []
    for raw in text.splitlines():
        fields = raw.split()
        if len(fields) < 4 or fields[0].startswith("#"):
            continue
        mountpoint = _unescape_mount_field(fields[1])
        if not mountpoint.startswith("/"):
            continue  # "none" / "swap"
        if len(mountpoint) > 1:
            mountpoint = mountpoint.rstrip("/")
        options = tuple(o for o in _unescape_mount_field(fields[3]).split(",") if o)
        entries.append(MountEntry(_unescape_mount_field(fields[0]), mountpoint, fields[2], options))
    return entries


def _covers(mountpoint: str, path: str) -> bool:
    return mountpoint == "/" or path == mountpoint or path.startswith(mountpoint + "/")


def mount_facts(entries: list[MountEntry], path: str) -> MountFacts:
    """Options in force at `path`: the last entry with the longest covering mount point
    (a later mount on the same point hides the earlier one)."""
    best: MountEntry | None = None
    for entry in entries:
        if _covers(entry.mountpoint, path) and (
            best is None or len(entry.mountpoint) >= len(best.mountpoint)
        ):
            best = entry
    if best is None:
        return MountFacts(
            mountpoint=path,
            separate_mount=False,
            mounted_on=None,
            fstype=None,
            options=None,
            nodev=None,
            nosuid=None,
            noexec=None,
        )
    options = list(best.options)
    return MountFacts(
        mountpoint=path,
        separate_mount=best.mountpoint == path,
        mounted_on=best.mountpoint,
        fstype=best.fstype,
        options=options,
        nodev="nodev" in options,
        nosuid="nosuid" in options,
        noexec="noexec" in options,
    )


def banner_escapes(text: str) -> list[str]:
    return [escape for escape in OS_ESCAPES if escape in text]


def mentions_os(text: str, names: Iterable[str]) -> bool:
    """Whether `text` names the OS as a word: Oracle Linux's ID "ol" is not in "policy"."""
    return any(
        name and re.search(rf"(?<![a-z0-9]){re.escape(name.lower())}(?![a-z0-9])", text.lower())
        for name in names
    )


def permission_string(mode: int) -> str:
    return f"{stat_module.S_IMODE(mode):04o}"


# --- collection ---------------------------------------------------------------------


def _first_existing(c: Collection, paths: Iterable[str]) -> str | None:
    return next((path for path in paths if c.host.exists(path)), None)


def _live_kernel(c: Collection) -> bool:
    """Whether /sys belongs to a running kernel (a root tree has an empty /sys)."""
    return c.host.exists("/sys/kernel")


def _selinux(c: Collection) -> SelinuxFacts:
    mode: Literal["enforcing", "permissive", "disabled"] | None = None
    enforce = c.read_text(SELINUX_ENFORCE, max_bytes=64, missing_ok=True)
    if enforce is not None:
        value = enforce.strip()
        if value in ("0", "1"):
            mode = "enforcing" if value == "1" else "permissive"
        else:
            c.error(f"{SELINUX_ENFORCE}: unexpected value {enforce.strip()[:20]!r}")
    elif _live_kernel(c) and not c.host.exists(SELINUX_ENFORCE):
        mode = "disabled"
    config_text = c.read_text(SELINUX_CONFIG, max_bytes=SMALL_FILE_MAX, missing_ok=True)
    config = parse_key_values(config_text) if config_text is not None else {}
    return SelinuxFacts(
        mode=mode,
        config_mode=config.get("SELINUX") or None,
        config_type=config.get("SELINUXTYPE") or None,
    )


def _apparmor(c: Collection) -> ApparmorFacts:
    enabled: bool | None = None
    flag = c.read_text(APPARMOR_ENABLED, max_bytes=64, missing_ok=True)
    if flag is not None:
        enabled = flag.strip().upper().startswith("Y")
    elif _live_kernel(c) and not c.host.exists("/sys/module/apparmor"):
        enabled = False
    profiles = None
    if enabled:
        text = c.read_text(APPARMOR_PROFILES, max_bytes=SMALL_FILE_MAX)
        profiles = parse_apparmor_profiles(text) if text is not None else None
    return ApparmorFacts(enabled=enabled, profiles=profiles)


def _enabled_units(c: Collection) -> set[str]:
    return {unit.removesuffix(".service") for unit in enabled_unit_names(c) or set()}


Evidence = Literal["running", "enabled", "installed"]


def _choose_daemon(
    c: Collection,
) -> tuple[TimeDaemon | None, Evidence | None, list[Daemon], bool | None]:
    installed = [d for d in TIME_DAEMONS if _first_existing(c, d.binaries) is not None]
    processes = running_process_names(c)
    if processes is not None:
        for daemon in TIME_DAEMONS:
            if processes & set(daemon.processes):
                return daemon, "running", [d.name for d in installed], True
    enabled = _enabled_units(c)
    chosen: TimeDaemon | None = None
    evidence: Evidence | None = None
    for daemon in installed:
        if enabled & set(daemon.units):
            chosen, evidence = daemon, "enabled"
            break
    if chosen is None and installed:
        chosen, evidence = installed[0], "installed"
    running = None if processes is None or chosen is None else False
    return chosen, evidence, [d.name for d in installed], running


def _chrony_servers(c: Collection) -> tuple[list[str], list[str]]:
    path = _first_existing(c, CHRONY_CONFIGS)
    if path is None:
        return [], []
    text = c.read_text(path, max_bytes=SMALL_FILE_MAX)
    if text is None:
        return [], []
    config = parse_chrony_conf(text)
    servers = list(config.servers)
    files = [path]
    for directory, suffix in [(d, ".conf") for d in config.confdirs] + [
        (d, ".sources") for d in config.sourcedirs
    ]:
        for name in c.list_dir(directory, missing_ok=True) or []:
            if not name.endswith(suffix):
                continue
            extra = c.read_text(f"{directory}/{name}", max_bytes=SMALL_FILE_MAX)
            if extra is not None:
                servers.extend(parse_chrony_conf(extra).servers)
                files.append(f"{directory}/{name}")
    return servers, files


def _ntp_servers(c: Collection) -> tuple[list[str], list[str]]:
    path = _first_existing(c, NTP_CONFIGS)
    text = c.read_text(path, max_bytes=SMALL_FILE_MAX) if path is not None else None
    if path is None or text is None:
        return [], []
    return parse_ntp_conf(text), [path]


def _timesyncd_servers(c: Collection) -> tuple[list[str], list[str]]:
    paths = [TIMESYNCD_CONFIG] if c.host.exists(TIMESYNCD_CONFIG) else []
    dropins: dict[str, str] = {}
    for directory in TIMESYNCD_DROPINS:
        for name in c.list_dir(directory, missing_ok=True) or []:
            if name.endswith(".conf"):
                dropins.setdefault(name, f"{directory}/{name}")
    paths += [dropins[name] for name in sorted(dropins)]
    ntp: list[str] | None = None
    fallback: list[str] | None = None
    files = []
    for path in paths:
        text = c.read_text(path, max_bytes=SMALL_FILE_MAX)
        if text is None:
            continue
        files.append(path)
        file_ntp, file_fallback = parse_timesyncd_conf(text)
        if file_ntp is not None:
            ntp = file_ntp if not file_ntp else (ntp or []) + file_ntp
        if file_fallback is not None:
            fallback = file_fallback if not file_fallback else (fallback or []) + file_fallback
    return (ntp if ntp else fallback or []), files


def _synchronised(c: Collection, daemon: TimeDaemon) -> bool | None:
    if daemon.name == "chrony":
        chronyc = _first_existing(c, CHRONYC_PATHS)
        if chronyc is not None:
            result = c.run([chronyc, "-n", "tracking"], timeout=COMMAND_TIMEOUT)
            if result.ok:
                return parse_chronyc_tracking(result.stdout.decode("utf-8", errors="replace"))
        return None
    timedatectl = _first_existing(c, TIMEDATECTL_PATHS)
    if timedatectl is None:
        return None
    result = c.run(
        [timedatectl, "show", "-p", "NTPSynchronized", "--value"], timeout=COMMAND_TIMEOUT
    )
    if not result.ok:
        return None
    return parse_yes_no(result.stdout.decode("utf-8", errors="replace"))


def _time_sync(c: Collection) -> TimeSyncFacts:
    daemon, evidence, installed, running = _choose_daemon(c)
    servers: list[str] = []
    files: list[str] = []
    synchronised = None
    if daemon is not None:
        reader = {
            "chrony": _chrony_servers,
            "ntpd": _ntp_servers,
            "timesyncd": _timesyncd_servers,
        }[daemon.name]
        servers, files = reader(c)
        synchronised = _synchronised(c, daemon)
    return TimeSyncFacts(
        daemon=daemon.name if daemon is not None else None,
        evidence=evidence,
        installed=installed,
        running=running,
        servers=servers,
        synchronised=synchronised,
        config_files=files,
    )


def _names(c: Collection) -> tuple[dict[int, str], dict[int, str]]:
    passwd = c.read_text("/etc/passwd", max_bytes=SMALL_FILE_MAX)
    group = c.read_text("/etc/group", max_bytes=SMALL_FILE_MAX)
    users: dict[int, str] = {}
    for user in parse_passwd(passwd or ""):
        users.setdefault(user.uid, user.name)
    groups: dict[int, str] = {}
    for entry in parse_group(group or ""):
        groups.setdefault(entry.gid, entry.name)
    return users, groups


def file_mode(
    path: str, info: FileStat | None, users: dict[int, str], groups: dict[int, str]
) -> FileMode:
    if info is None:
        return FileMode(
            path=path,
            exists=False,
            type=None,
            mode=None,
            uid=None,
            gid=None,
            owner=None,
            group=None,
            world_readable=None,
            world_writable=None,
        )
    kind: Literal["file", "directory", "other"] = (
        "directory"
        if stat_module.S_ISDIR(info.mode)
        else "file"
        if stat_module.S_ISREG(info.mode)
        else "other"
    )
    return FileMode(
        path=path,
        exists=True,
        type=kind,
        mode=permission_string(info.mode),
        uid=info.uid,
        gid=info.gid,
        owner=users.get(info.uid),
        group=groups.get(info.gid),
        world_readable=bool(info.mode & stat_module.S_IROTH),
        world_writable=bool(info.mode & stat_module.S_IWOTH),
    )


def _critical_files(c: Collection) -> list[FileMode]:
    users, groups = _names(c)
    results = []
    for path in CRITICAL_PATHS:
        try:
            info = c.host.stat(path)
        except (PermissionError, OSError) as exc:
            c.error(f"{path}: stat failed: {exc}")
            info = None
        results.append(file_mode(path, info, users, groups))
    return results


def _mounts(c: Collection) -> list[MountFacts] | None:
    path = _first_existing(c, MOUNTS_PATHS)
    if path is None:
        c.error("no /proc/self/mounts: mounted file systems not observed")
        return None
    text = c.read_text(path, max_bytes=SMALL_FILE_MAX * 4)
    if text is None:
        return None
    entries = parse_mounts(text)
    return [mount_facts(entries, mountpoint) for mountpoint in TEMP_MOUNTPOINTS]


def _fstab(c: Collection) -> list[MountFacts] | None:
    text = c.read_text(FSTAB, max_bytes=SMALL_FILE_MAX, missing_ok=True)
    if text is None:
        return None
    entries = parse_mounts(text)
    return [mount_facts(entries, mountpoint) for mountpoint in TEMP_MOUNTPOINTS]


def _os_names(c: Collection) -> list[str] | None:
    for path in OS_RELEASE_PATHS:
        text = c.read_text(path, max_bytes=SMALL_FILE_MAX, missing_ok=True)
        if text is not None:
            values = parse_key_values(text)
            return [values[key] for key in ("ID", "NAME") if values.get(key)]
    return None


def _banners(c: Collection) -> list[BannerFacts]:
    names = _os_names(c)
    results = []
    for path in BANNERS:
        data = c.read_bytes(path, max_bytes=BANNER_READ_MAX, missing_ok=True)
        if data is None:
            results.append(
                BannerFacts(
                    path=path,
                    present=c.host.exists(path),  # True: present but unreadable
                    sha256=None,
                    length=None,
                    os_escapes=None,
                    mentions_os=None,
                    text=None,
                )
            )
            continue
        text = data.decode("utf-8", errors="replace")
        results.append(
            BannerFacts(
                path=path,
                present=True,
                sha256=sha256_hex(data),
                length=len(data),
                os_escapes=banner_escapes(text),
                mentions_os=mentions_os(text, names) if names is not None else None,
                text=text[:BANNER_TEXT_MAX],
            )
        )
    return results


@collector("configuration.system", version="1", category="configuration", facts=SystemConfigFacts)
def collect(c: Collection) -> SystemConfigFacts:
    """SELinux/AppArmor, time sync, critical file modes, /tmp-like mounts, login banners."""
    return SystemConfigFacts(
        selinux=_selinux(c),
        apparmor=_apparmor(c),
        time_sync=_time_sync(c),
        critical_files=_critical_files(c),
        mounts=_mounts(c),
        fstab_mounts=_fstab(c),
        banners=_banners(c),
    )
