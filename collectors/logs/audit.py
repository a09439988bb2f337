"""logging.audit: the Linux audit daemon, its rules and how much audit trail it keeps.

GB/T 22239 8.1.4.3 asks that security events of all users be audited and the records
protected; CIS and STIG benchmarks name the usual rules (watches on /etc/passwd,
/etc/shadow, /etc/sudoers, time changes, execve). This collector reports whether auditd
is installed and running, the rules the kernel has loaded (`auditctl -l`), the rules
configured on disk (/etc/audit/rules.d/*.rules, /etc/audit/audit.rules), and the
auditd.conf settings that decide how much audit trail survives rotation.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict

from collectors.processes import running_process_names
from collectors.provenance import Collection
from collectors.registry import collector

AUDITD_PATHS = ("/sbin/auditd", "/usr/sbin/auditd")
AUDITCTL_PATHS = ("/sbin/auditctl", "/usr/sbin/auditctl")
AUDITD_CONF = "/etc/audit/auditd.conf"
RULES_D = "/etc/audit/rules.d"
AUDIT_RULES = "/etc/audit/audit.rules"
CRITICAL_FILES = (
    "/etc/passwd",
    "/etc/shadow",
    "/etc/group",
    "/etc/gshadow",
    "/etc/sudoers",
    "/etc/sudoers.d",
)
TIME_SYSCALLS = frozenset({"adjtimex", "settimeofday", "clock_settime", "stime"})
EXEC_SYSCALLS = frozenset({"execve", "execveat"})
SMALL_FILE_MAX = 4 * 1024 * 1024
MAX_SAFE = 2**53 - 1
CONF_KEYS = (
    "log_file",
    "log_format",
    "max_log_file",
    "num_logs",
    "max_log_file_action",
    "space_left_action",
    "admin_space_left_action",
    "disk_full_action",
    "disk_error_action",
)

_RETENTION_NOTES = {
    "ROTATE": "rotated: the oldest file is deleted once num_logs files exist",
    "KEEP_LOGS": "rotated without deleting: files are kept until the disk fills",
    "IGNORE": "no size limit: one file grows without rotation",
    "SYSLOG": "a syslog warning at max_log_file; nothing is rotated or deleted",
    "SUSPEND": "auditd stops writing records when the file reaches max_log_file",
    "SINGLE": "the system goes to single-user mode when the file reaches max_log_file",
    "HALT": "the system halts when the file reaches max_log_file",
    "EXEC": "a configured program runs when the file reaches max_log_file",
}


class _Facts(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RuleSummary(_Facts):
    """Audit rules reduced to what benchmarks look for.

    `sources` are the files (in the order augenrules/auditctl reads them) or the command
    the rules came from; `sha256` is the hash of their concatenated text. `rule_count`
    counts -a/-A syscall rules and -w watches (control lines such as -D, -b, -f, -e are
    not rules). `keys` are the -k / -F key= names. `watched_paths` are paths of -w, -F
    path= and -F dir=. `critical_watches` says, for /etc/passwd, /etc/shadow, /etc/group,
    /etc/gshadow, /etc/sudoers and /etc/sudoers.d, whether a watch covers it (the path
    itself or a watched parent directory). `immutable` is True for `-e 2`; `failure_mode`
    is the `-f` value (0 silent, 1 printk, 2 panic), None when not set.
    """

    sources: list[str]
    sha256: str
    rule_count: int
    keys: list[str]
    watched_paths: list[str]
    critical_watches: dict[str, bool]
    audits_execve: bool
    audits_time_change: bool
    immutable: bool
    failure_mode: int | None


class AuditdConf(_Facts):
    """auditd.conf settings (None when not set: auditd's built-in default applies).

    `max_log_file` is in MB. `capacity_mb` is num_logs x max_log_file for ROTATE (one
    file when num_logs < 2, which auditd does not rotate), None otherwise: it bounds the
    audit trail by volume, not time. `retention_note` explains the max_log_file_action.
    """

    log_file: str | None
    log_format: str | None
    max_log_file: int | None
    num_logs: int | None
    max_log_file_action: str | None
    space_left_action: str | None
    admin_space_left_action: str | None
    disk_full_action: str | None
    disk_error_action: str | None
    capacity_mb: int | None
    retention_note: str | None


class AuditFacts(_Facts):
    """Facts of `logging.audit`.

    `running`: an auditd process exists (psutil, else /proc/*/comm); None when that
    could not be determined (no process table, as in a filesystem tree). `loaded_rules`
    is from `auditctl -l` ("No rules" gives 0), None when auditctl is missing or could
    not run. `kernel_enabled` is the `enabled` value of `auditctl -s` (0 off, 1 on, 2
    locked), None when unknown. `rules_d` summarises /etc/audit/rules.d/*.rules (what
    augenrules compiles), `audit_rules` /etc/audit/audit.rules (what auditctl -R loads at
    boot); each None when absent or unreadable. `config` is None when auditd.conf could
    not be read.
    """

    installed: bool
    running: bool | None
    kernel_enabled: int | None
    loaded_rules: RuleSummary | None
    rules_d: RuleSummary | None
    audit_rules: RuleSummary | None
    config: AuditdConf | None


# --- pure parsing -------------------------------------------------------------------


@dataclass
class ParsedRules:
    rule_count: int = 0
    keys: set[str] = field(default_factory=set)
    watched: set[str] = field(default_factory=set)
    syscalls: set[str] = field(default_factory=set)
    enabled: int | None = None
    failure_mode: int | None = None


def _small_int(text: str) -> int | None:
    text = text.strip()
    if text.isascii() and text.isdigit() and len(text) <= 15:
        return int(text)
    return None


def parse_rules(text: str) -> ParsedRules:
    """Summary of audit rules in auditctl syntax (a rules file or `auditctl -l` output)."""
    parsed = ParsedRules()
    for raw in text.splitlines():
        tokens = raw.split()
        if not tokens or tokens[0].startswith("#"):
            continue
        command = tokens[0]
        if command in ("-a", "-A", "-w"):
            parsed.rule_count += 1
        if command == "-w" and len(tokens) > 1:
            parsed.watched.add(tokens[1])
        index = 1
        while index < len(tokens):
            option = tokens[index]
            value = tokens[index + 1] if index + 1 < len(tokens) else None
            if option == "-k" and value:
                parsed.keys.add(value)
            elif option == "-S" and value:
                parsed.syscalls.update(name for name in value.split(",") if name)
            elif option == "-F" and value:
                name, _, field_value = value.partition("=")
                if name == "key" and field_value:
                    parsed.keys.add(field_value)
                elif name in ("path", "dir") and field_value:
                    parsed.watched.add(field_value)
            index += 1
        if command == "-e" and len(tokens) > 1:
            parsed.enabled = _small_int(tokens[1])
        elif command == "-f" and len(tokens) > 1:
            parsed.failure_mode = _small_int(tokens[1])
    return parsed


def covers(watch: str, target: str) -> bool:
    """Whether a watch on `watch` sees changes to `target` (itself or a parent dir)."""
    base = watch.rstrip("/") or "/"
    return target == base or target.startswith(base.rstrip("/") + "/")


def summarise(parsed: ParsedRules, sources: list[str], text: str) -> RuleSummary:
    return RuleSummary(
        sources=sources,
        sha256=hashlib.sha256(text.encode("utf-8", errors="replace")).hexdigest(),
        rule_count=parsed.rule_count,
        keys=sorted(parsed.keys),
        watched_paths=sorted(parsed.watched),
        critical_watches={
            target: any(covers(watch, target) for watch in parsed.watched)
            for target in CRITICAL_FILES
        },
        audits_execve=bool(parsed.syscalls & EXEC_SYSCALLS),
        audits_time_change=bool(parsed.syscalls & TIME_SYSCALLS)
        or any(covers(watch, "/etc/localtime") for watch in parsed.watched),
        immutable=parsed.enabled == 2,
        failure_mode=parsed.failure_mode,
    )


def parse_auditd_conf(text: str) -> dict[str, str]:
    """`key = value` settings of auditd.conf (keys lower-cased; later lines win)."""
    settings: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if sep and key.strip():
            settings[key.strip().lower()] = value.strip()
    return settings


def auditd_conf_facts(settings: dict[str, str]) -> AuditdConf:
    max_log_file = _small_int(settings.get("max_log_file", ""))
    num_logs = _small_int(settings.get("num_logs", ""))
    action_raw = settings.get("max_log_file_action")
    action = action_raw.upper() if action_raw else None
    capacity: int | None = None
    if action == "ROTATE" and max_log_file is not None and num_logs is not None:
        capacity = min(max(num_logs, 1) * max_log_file, MAX_SAFE)
    note = _RETENTION_NOTES.get(action) if action else None
    if note is not None and capacity is not None:
        note = f"{note}; at most {capacity} MB ({max(num_logs or 0, 1)} x {max_log_file} MB)"

    def text(key: str) -> str | None:
        return settings.get(key) or None

    return AuditdConf(
        log_file=text("log_file"),
        log_format=text("log_format"),
        max_log_file=max_log_file,
        num_logs=num_logs,
        max_log_file_action=action,
        space_left_action=text("space_left_action"),
        admin_space_left_action=text("admin_space_left_action"),
        disk_full_action=text("disk_full_action"),
        disk_error_action=text("disk_error_action"),
        capacity_mb=capacity,
        retention_note=note,
    )


def parse_status(text: str) -> int | None:
    """The `enabled` value of `auditctl -s` output."""
    match = re.search(r"^enabled\s+(\d+)\s*$", text, re.M)
    return int(match.group(1)) if match else None


def loaded_count_text(stdout: str) -> str:
    """`auditctl -l` output without its "No rules" marker."""
    return "" if stdout.strip() == "No rules" else stdout


# --- collection ---------------------------------------------------------------------


def _running(c: Collection) -> bool | None:
    names = running_process_names(c)
    return None if names is None else "auditd" in names


def _loaded(c: Collection) -> tuple[RuleSummary | None, int | None]:
    if not any(c.host.exists(path) for path in AUDITCTL_PATHS):
        return None, None
    listing = c.run(["auditctl", "-l"], timeout=30)
    if listing.error is not None:
        return None, None  # not runnable here (a tree, a timeout): -s would fail alike
    summary = None
    if listing.ok:
        stdout = listing.stdout.decode("utf-8", errors="replace")
        summary = summarise(parse_rules(loaded_count_text(stdout)), ["auditctl -l"], stdout)
    status = c.run(["auditctl", "-s"], timeout=30)
    enabled = parse_status(status.stdout.decode("utf-8", errors="replace")) if status.ok else None
    return summary, enabled


def _rules_files(c: Collection) -> RuleSummary | None:
    names = c.list_dir(RULES_D, missing_ok=True)
    if names is None:
        return None
    paths = sorted(posixpath.join(RULES_D, name) for name in names if name.endswith(".rules"))
    texts = []
    sources = []
    for path in paths:
        text = c.read_text(path, max_bytes=SMALL_FILE_MAX)
        if text is None:
            return None  # a partial rule set would understate what is configured
        texts.append(text)
        sources.append(path)
    joined = "\n".join(texts)
    return summarise(parse_rules(joined), sources, joined)


def _rules_file(c: Collection, path: str) -> RuleSummary | None:
    text = c.read_text(path, max_bytes=SMALL_FILE_MAX, missing_ok=True)
    return summarise(parse_rules(text), [path], text) if text is not None else None


@collector("logging.audit", version="1", category="logging", facts=AuditFacts)
def collect(c: Collection) -> AuditFacts:
    """auditd installed and running, loaded and configured audit rules, auditd.conf retention."""
    installed = any(c.host.exists(path) for path in AUDITD_PATHS)
    loaded, enabled = _loaded(c)
    conf_text = c.read_text(AUDITD_CONF, max_bytes=SMALL_FILE_MAX, missing_ok=not installed)
    return AuditFacts(
        installed=installed,
        running=_running(c),
        kernel_enabled=enabled,
        loaded_rules=loaded,
        rules_d=_rules_files(c),
        audit_rules=_rules_file(c, AUDIT_RULES),
        config=auditd_conf_facts(parse_auditd_conf(conf_text)) if conf_text is not None else None,
    )
