"""logging.logrotate: how long logrotate keeps each log, and whether key logs reach 180 days.

The Cybersecurity Law (Art. 21) asks that network logs be kept "no less than six
months"; we use 180 days (`RETENTION_DAYS_REQUIRED`). logrotate decides how long rotated
logs survive: `rotate N` copies of one period each (daily/weekly/monthly/yearly), capped
by `maxage`. This collector parses /etc/logrotate.conf with its include directories the
way logrotate does (globals apply to what follows them, including included files) and
reports every block with its retention and, for the key auth/system logs, which block
applies and whether it keeps 180 days.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

from pydantic import BaseModel, ConfigDict

from collectors.provenance import Collection
from collectors.registry import collector

LOGROTATE_CONF = "/etc/logrotate.conf"
LOGROTATE_PATHS = ("/usr/sbin/logrotate", "/sbin/logrotate")
# What runs logrotate: cron (Debian, RHEL 7/8) or a systemd timer (Debian 12, RHEL 9).
SCHEDULE_PATHS = (
    "/etc/cron.daily/logrotate",
    "/etc/cron.hourly/logrotate",
    "/etc/systemd/system/timers.target.wants/logrotate.timer",
)
RETENTION_DAYS_REQUIRED = 180  # Cybersecurity Law Art. 21: "no less than six months"
KEY_LOGS = (
    "/var/log/auth.log",
    "/var/log/syslog",
    "/var/log/messages",
    "/var/log/secure",
    "/var/log/kern.log",
    "/var/log/audit/audit.log",
    "/var/log/wtmp",
    "/var/log/btmp",
)
AUDITD_LOG = "/var/log/audit/audit.log"
PERIOD_HOURS = {"hourly": 1, "daily": 24, "weekly": 7 * 24, "monthly": 30 * 24, "yearly": 365 * 24}
# logrotate's built-in defaults (config.c readAllConfigPaths): size criterion of 1 MiB.
DEFAULT_SIZE = 1024 * 1024
# Include-directory files logrotate skips (config.c defTabooExts).
TABOO_SUFFIXES = (
    ",v",
    ".bak",
    ".cfsaved",
    ".disabled",
    ".dpkg-bak",
    ".dpkg-del",
    ".dpkg-dist",
    ".dpkg-new",
    ".dpkg-old",
    ".dpkg-tmp",
    ".rpmnew",
    ".rpmorig",
    ".rpmsave",
    ".swp",
    ".ucf-dist",
    ".ucf-new",
    ".ucf-old",
    "~",
)
SCRIPT_DIRECTIVES = frozenset({"postrotate", "prerotate", "firstaction", "lastaction", "preremove"})
MAX_INCLUDE_DEPTH = 8
MAX_CONFIG_FILES = 512
SMALL_FILE_MAX = 4 * 1024 * 1024
MAX_SAFE = 2**53 - 1
_SIZE = re.compile(r"^\+?(\d+)([kKmMgG]?)$")
_SIZE_FACTORS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}

Trigger = Literal["time", "size", "time_or_size", "time_and_size"]


class _Facts(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RotationSettings(_Facts):
    """The rotation directives in force.

    `period` is hourly/daily/weekly/monthly/yearly or None. `trigger`: "time" (the
    period), "size" (only `size`, or logrotate's built-in 1 MiB size default when no
    period is set), "time_or_size" (a period plus `maxsize`: rotation can come earlier),
    "time_and_size" (a period plus `minsize`: rotation can come later). Sizes in bytes.
    `rotate` is the number of rotated copies kept (-1: never removed). `maxage` in days.
    """

    period: str | None
    trigger: Trigger
    rotate: int
    maxage: int | None
    size: int | None
    minsize: int | None
    maxsize: int | None
    compress: bool
    missingok: bool
    dateext: bool


class Retention(_Facts):
    """How long rotated copies survive.

    `days` = rotate x period (hourly 1/24, daily 1, weekly 7, monthly 30, yearly 365
    days), capped by `maxage`; `rotate 0` gives 0. The live file adds up to one more
    period. With `minsize` it is a lower bound. None when it depends on log volume
    (size or maxsize rotation) or is unbounded (`rotate -1` without maxage:
    `unbounded` True).
    """

    days: int | None
    unbounded: bool


class Block(_Facts):
    """A logrotate block: its path patterns, the settings in force and their retention."""

    config_file: str
    patterns: list[str]
    settings: RotationSettings
    retention: Retention


class KeyLog(_Facts):
    """A log that matters for the six-month rule.

    `rotated_by` is "logrotate" when a block matches (first match wins, as logrotate
    rejects later duplicates), "auditd" for /var/log/audit/audit.log without a block
    (auditd rotates it itself: see logging.audit), None when nothing rotates it.
    `meets_180_days`: retention days >= 180 (True also when unbounded), None when the
    retention depends on volume or nothing rotates the log (then logrotate never
    deletes it, but nothing bounds or guarantees its history either).
    """

    path: str
    exists: bool
    rotated_by: Literal["logrotate", "auditd"] | None
    config_file: str | None
    patterns: list[str] | None
    retention_days: int | None
    retention_unbounded: bool
    meets_180_days: bool | None


class LogrotateFacts(_Facts):
    """Facts of `logging.logrotate`.

    `blocks`, `global_settings` and `key_logs` are None when /etc/logrotate.conf could
    not be read. `global_settings` are those in force at the end of the main file.
    `schedules` are the cron scripts / enabled timer links found that run logrotate.
    `required_days` is the retention the six-month rule asks for (180).
    """

    installed: bool
    config_files: list[str]
    schedules: list[str]
    global_settings: RotationSettings | None
    blocks: list[Block] | None
    key_logs: list[KeyLog] | None
    required_days: int


# --- pure parsing -------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    period: str | None = None
    by_size: bool = True  # logrotate's default criterion is size (1 MiB)
    rotate: int = 0
    maxage: int | None = None
    size: int | None = None
    minsize: int | None = None
    maxsize: int | None = None
    compress: bool = False
    missingok: bool = False
    dateext: bool = False


@dataclass(frozen=True)
class Directive:
    name: str
    argument: str | None


@dataclass(frozen=True)
class BlockStep:
    patterns: tuple[str, ...]
    directives: tuple[Directive, ...]


@dataclass(frozen=True)
class IncludeStep:
    path: str


Step = Directive | BlockStep | IncludeStep


@dataclass
class ParsedBlock:
    config_file: str
    patterns: list[str]
    settings: Settings


def parse_size(text: str) -> int | None:
    """Bytes of a logrotate size ("100k", "10M", "1G", "4096"); None when malformed."""
    match = _SIZE.match(text.strip())
    if match is None:
        return None
    value = int(match.group(1)) * _SIZE_FACTORS[match.group(2).lower()]
    return value if value <= MAX_SAFE else None


def _int(text: str | None, minimum: int) -> int | None:
    if text is None:
        return None
    text = text.strip()
    negative = text.startswith("-")
    digits = text[1:] if negative else text
    if not digits.isascii() or not digits.isdigit() or len(digits) > 15:
        return None
    value = -int(digits) if negative else int(digits)
    return value if value >= minimum else None


def apply_directive(settings: Settings, name: str, argument: str | None) -> Settings:
    """`settings` after one directive; unknown or malformed directives change nothing."""
    name = name.lower()
    if name in PERIOD_HOURS:
        return replace(settings, period=name, by_size=False)
    if name == "size":
        size = parse_size(argument or "")
        return replace(settings, size=size, by_size=True) if size is not None else settings
    if name in ("minsize", "maxsize"):
        size = parse_size(argument or "")
        if size is None:
            return settings
        return (
            replace(settings, minsize=size)
            if name == "minsize"
            else replace(settings, maxsize=size)
        )
    if name == "rotate":
        count = _int(argument, -1)
        return replace(settings, rotate=count) if count is not None else settings
    if name == "maxage":
        age = _int(argument, 0)
        return replace(settings, maxage=age) if age is not None else settings
    if name in ("compress", "nocompress"):
        return replace(settings, compress=name == "compress")
    if name in ("missingok", "nomissingok"):
        return replace(settings, missingok=name == "missingok")
    if name in ("dateext", "nodateext"):
        return replace(settings, dateext=name == "dateext")
    return settings


def _split_directive(line: str) -> tuple[str, str | None]:
    match = re.match(r"([A-Za-z_]+)\s*(?:=\s*|\s+)?(.*)$", line)
    if match is None:
        return "", None
    argument = match.group(2).strip()
    return match.group(1), (argument.split()[0] if argument else None)


def _paths(text: str) -> list[str]:
    try:
        return shlex.split(text, comments=False, posix=True)
    except ValueError:
        return text.split()


def parse_logrotate(text: str) -> list[Step]:
    """The global directives, blocks and includes of one logrotate file, in order.

    Blocks are one or more path patterns (on one or several lines, quoted or not)
    followed by `{ ... }`; script sections (postrotate ... endscript) are skipped.
    Never raises on malformed input.
    """
    steps: list[Step] = []
    directives: list[Directive] | None = None  # not None inside a block
    patterns: list[str] = []
    pending: list[str] = []
    in_script = False
    for raw in text.splitlines():
        line = raw.strip()
        if in_script:
            if line.split()[:1] == ["endscript"]:
                in_script = False
            continue
        if not line or line.startswith("#"):
            continue
        if directives is None:
            if "{" in line:
                before, _, _after = line.partition("{")
                patterns = pending + _paths(before)
                pending = []
                directives = []
                continue
            if line.startswith(("/", '"', "'", "~", "*")):
                pending.extend(_paths(line))
                continue
            if line == "}":
                continue
            name, argument = _split_directive(line)
            if not name:
                continue
            if name.lower() == "include" and argument:
                steps.append(IncludeStep(argument))
            elif name.lower() in SCRIPT_DIRECTIVES:
                in_script = True
            else:
                steps.append(Directive(name.lower(), argument))
            continue
        if line.startswith("}"):
            if patterns:
                steps.append(BlockStep(tuple(patterns), tuple(directives)))
            directives = None
            continue
        name, argument = _split_directive(line)
        if name.lower() in SCRIPT_DIRECTIVES:
            in_script = True
        elif name:
            directives.append(Directive(name.lower(), argument))
    return steps


def replay(
    steps: list[Step],
    config_file: str,
    settings: Settings,
    include: Callable[[str, Settings], Settings],
    blocks: list[ParsedBlock],
) -> Settings:
    """Apply `steps` from `settings`: globals change what follows, a block starts from the
    globals in force, an include is read with (and may change) the globals at its line.
    Blocks are appended to `blocks`; returns the globals after the file."""
    for step in steps:
        if isinstance(step, Directive):
            settings = apply_directive(settings, step.name, step.argument)
        elif isinstance(step, BlockStep):
            block_settings = settings
            for directive in step.directives:
                block_settings = apply_directive(block_settings, directive.name, directive.argument)
            blocks.append(ParsedBlock(config_file, list(step.patterns), block_settings))
        else:
            settings = include(step.path, settings)
    return settings


def rotation_settings(settings: Settings) -> RotationSettings:
    trigger: Trigger
    if settings.by_size or settings.period is None:
        trigger = "size"
    elif settings.maxsize is not None:
        trigger = "time_or_size"
    elif settings.minsize is not None:
        trigger = "time_and_size"
    else:
        trigger = "time"
    return RotationSettings(
        period=settings.period,
        trigger=trigger,
        rotate=settings.rotate,
        maxage=settings.maxage,
        size=(settings.size or DEFAULT_SIZE) if trigger == "size" else settings.size,
        minsize=settings.minsize,
        maxsize=settings.maxsize,
        compress=settings.compress,
        missingok=settings.missingok,
        dateext=settings.dateext,
    )


def retention(settings: RotationSettings) -> Retention:
    """Days of rotated history `settings` keep (see `Retention`)."""
    if settings.rotate == 0:
        return Retention(days=0, unbounded=False)
    if settings.trigger in ("size", "time_or_size") or settings.period is None:
        if settings.rotate < 0 and settings.maxage is None:
            return Retention(days=None, unbounded=True)
        return Retention(days=None, unbounded=False)
    if settings.rotate < 0:
        if settings.maxage is None:
            return Retention(days=None, unbounded=True)
        return Retention(days=settings.maxage, unbounded=False)
    days = settings.rotate * PERIOD_HOURS[settings.period] // 24
    if settings.maxage is not None:
        days = min(days, settings.maxage)
    return Retention(days=min(days, MAX_SAFE), unbounded=False)


def glob_match(pattern: str, path: str) -> bool:
    """glob(3)-like match: wildcards do not cross '/'."""
    if pattern == path:
        return True
    pattern_parts, path_parts = pattern.split("/"), path.split("/")
    if len(pattern_parts) != len(path_parts):
        return False
    return all(
        fnmatch.fnmatchcase(name, part)
        for part, name in zip(pattern_parts, path_parts, strict=True)
    )


def meets(days: int | None, unbounded: bool) -> bool | None:
    if unbounded:
        return True
    if days is None:
        return None
    return days >= RETENTION_DAYS_REQUIRED


def key_log(path: str, exists: bool, blocks: list[Block]) -> KeyLog:
    for block in blocks:
        if any(glob_match(pattern, path) for pattern in block.patterns):
            return KeyLog(
                path=path,
                exists=exists,
                rotated_by="logrotate",
                config_file=block.config_file,
                patterns=block.patterns,
                retention_days=block.retention.days,
                retention_unbounded=block.retention.unbounded,
                meets_180_days=meets(block.retention.days, block.retention.unbounded),
            )
    return KeyLog(
        path=path,
        exists=exists,
        rotated_by="auditd" if path == AUDITD_LOG else None,
        config_file=None,
        patterns=None,
        retention_days=None,
        retention_unbounded=False,
        meets_180_days=None,
    )


def make_block(parsed: ParsedBlock) -> Block:
    settings = rotation_settings(parsed.settings)
    return Block(
        config_file=parsed.config_file,
        patterns=parsed.patterns,
        settings=settings,
        retention=retention(settings),
    )


# --- collection ---------------------------------------------------------------------


def _include_targets(c: Collection, path: str) -> list[str]:
    info = c.host.stat(path)
    if info is None:
        c.error(f"{path}: included from logrotate configuration but not found")
        return []
    if not info.is_dir:
        return [path]
    names = c.list_dir(path) or []
    targets = []
    for name in names:
        if name.endswith(TABOO_SUFFIXES) or ".rhn-cfg-tmp-" in name:
            continue
        child = posixpath.join(path, name)
        child_info = c.host.stat(child)
        if child_info is not None and not child_info.is_dir:
            targets.append(child)
    return targets


def _read_all(c: Collection, text: str) -> tuple[list[str], list[ParsedBlock], Settings]:
    files: list[str] = [LOGROTATE_CONF]
    blocks: list[ParsedBlock] = []

    def include(path: str, settings: Settings, depth: int) -> Settings:
        for target in _include_targets(c, path):
            if target in files or len(files) >= MAX_CONFIG_FILES:
                continue
            if depth >= MAX_INCLUDE_DEPTH:
                c.error(f"{target}: include depth over {MAX_INCLUDE_DEPTH}, not read")
                continue
            content = c.read_text(target, max_bytes=SMALL_FILE_MAX)
            if content is None:
                continue
            files.append(target)
            settings = replay(parse_logrotate(content), target, settings, nested(depth + 1), blocks)
        return settings

    def nested(depth: int) -> Callable[[str, Settings], Settings]:
        return lambda path, settings: include(path, settings, depth)

    final = replay(parse_logrotate(text), LOGROTATE_CONF, Settings(), nested(1), blocks)
    return files, blocks, final


@collector("logging.logrotate", version="1", category="logging", facts=LogrotateFacts)
def collect(c: Collection) -> LogrotateFacts:
    """logrotate blocks with retention days; which block keeps each key log and for how long."""
    installed = any(c.host.exists(path) for path in LOGROTATE_PATHS)
    schedules = [path for path in SCHEDULE_PATHS if c.host.exists(path)]
    text = c.read_text(LOGROTATE_CONF, max_bytes=SMALL_FILE_MAX, missing_ok=not installed)
    if text is None:
        return LogrotateFacts(
            installed=installed,
            config_files=[],
            schedules=schedules,
            global_settings=None,
            blocks=None,
            key_logs=None,
            required_days=RETENTION_DAYS_REQUIRED,
        )
    files, parsed_blocks, final = _read_all(c, text)
    blocks = [make_block(parsed) for parsed in parsed_blocks]
    return LogrotateFacts(
        installed=installed,
        config_files=files,
        schedules=schedules,
        global_settings=rotation_settings(final),
        blocks=blocks,
        key_logs=[key_log(path, c.host.exists(path), blocks) for path in KEY_LOGS],
        required_days=RETENTION_DAYS_REQUIRED,
    )
