"""security-software.integrity: file-integrity checkers (AIDE, Tripwire) and the
Wazuh/OSSEC host intrusion detection agent.

What is shipped are facts: whether each is installed, where its baseline database is
and how old it is, which manager a Wazuh/OSSEC agent reports to and whether it runs.
The agent's registration key (/var/ossec/etc/client.keys) is never read: only its
size tells whether the agent is registered. Tripwire's signed config and key files are
checked for presence only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from collectors.processes import running_process_names
from collectors.provenance import Collection
from collectors.registry import collector
from collectors.security_software.antimalware import is_running
from evidence.canonical import format_timestamp

AIDE_BINARIES = ("/usr/bin/aide", "/usr/sbin/aide", "/usr/local/bin/aide")
AIDE_CONFIGS = ("/etc/aide/aide.conf", "/etc/aide.conf", "/usr/local/etc/aide.conf")
AIDE_REPORT = "/var/log/aide/aide.log"
TRIPWIRE_BINARY = "/usr/sbin/tripwire"
TRIPWIRE_CONFIG = "/etc/tripwire/tw.cfg"
TRIPWIRE_CONFIG_TEXT = "/etc/tripwire/twcfg.txt"
TRIPWIRE_POLICY = "/etc/tripwire/tw.pol"
TRIPWIRE_DB_DIR = "/var/lib/tripwire"
OSSEC_DIR = "/var/ossec"
OSSEC_CONTROLS = (
    ("wazuh", "/var/ossec/bin/wazuh-control"),
    ("ossec", "/var/ossec/bin/ossec-control"),
)
OSSEC_CONFIG = "/var/ossec/etc/ossec.conf"
OSSEC_CLIENT_KEYS = "/var/ossec/etc/client.keys"  # secret: stat only, never read
OSSEC_PROCESSES = ("wazuh-agentd", "ossec-agentd", "wazuh-analysisd", "ossec-analysisd")


class FileAge(BaseModel):
    """A file that records a baseline or a run: `modified` is its mtime (ISO 8601
    UTC), `age_days` whole days from then to the collection time, `size` in bytes."""

    model_config = ConfigDict(extra="forbid")

    path: str
    modified: str
    age_days: int
    size: int


class Aide(BaseModel):
    """AIDE. `config_path` is the first config found; `database_path` is its
    `database_in` (or the older `database`) with `@@define` variables expanded and the
    `file:` prefix removed (None: not set, or no config). `database` is that file's
    age (None: absent; see `database_exists`). `last_report` is /var/log/aide/aide.log,
    which the distributions' daily checks write. `running` is None when processes
    could not be observed (AIDE runs from cron: not running is normal)."""

    model_config = ConfigDict(extra="forbid")

    installed: bool
    binary: str | None
    config_path: str | None
    database_path: str | None
    database_exists: bool | None
    database: FileAge | None
    database_out_path: str | None
    last_report: FileAge | None
    running: bool | None


class Tripwire(BaseModel):
    """Tripwire. `databases` are the *.twd files in the DBFILE directory (from
    twcfg.txt when readable, else /var/lib/tripwire), None when that directory
    could not be listed while Tripwire is installed."""

    model_config = ConfigDict(extra="forbid")

    installed: bool
    config_present: bool
    policy_present: bool
    databases: list[FileAge] | None


class HostIds(BaseModel):
    """A Wazuh or OSSEC agent under /var/ossec. `manager_addresses` are the
    `<address>`, `<server-ip>` and `<server-hostname>` values inside `<client>` in
    ossec.conf (None: unreadable or not installed). `registered` is True when
    client.keys is non-empty (its content is never read). `running` is None when
    processes could not be observed."""

    model_config = ConfigDict(extra="forbid")

    installed: bool
    product: Literal["wazuh", "ossec"] | None
    control_path: str | None
    config_path: str | None
    manager_addresses: list[str] | None
    registered: bool | None
    running: bool | None


class IntegrityFacts(BaseModel):
    """Facts of `security-software.integrity`. `any_present` is True when AIDE,
    Tripwire or a Wazuh/OSSEC agent is installed."""

    model_config = ConfigDict(extra="forbid")

    aide: Aide
    tripwire: Tripwire
    hids: HostIds
    any_present: bool


# --- pure parsers -------------------------------------------------------------------


@dataclass(frozen=True)
class AideConfig:
    database_in: str | None
    database_out: str | None


_AIDE_VARIABLE = re.compile(r"@@\{([A-Za-z0-9_]+)\}")


def _aide_url_path(value: str) -> str:
    """A database URL as a path: `file:/x` → `/x`; other schemes are kept."""
    return value[len("file:") :] if value.startswith("file:") else value


def parse_aide_conf(text: str) -> AideConfig:
    """Database locations in an aide.conf: `@@define NAME value` variables are
    expanded in `@@{NAME}`; the last `database_in=` (or pre-0.16 `database=`) and
    `database_out=` win. Conditionals (`@@ifdef`) and includes are not evaluated."""
    variables: dict[str, str] = {}
    database_in: str | None = None
    database_out: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("@@define"):
            parts = line.split(None, 2)
            if len(parts) >= 2:
                variables[parts[1]] = parts[2].strip() if len(parts) == 3 else ""
            continue
        if line.startswith("@@undef"):
            parts = line.split()
            if len(parts) == 2:
                variables.pop(parts[1], None)
            continue
        key, equals, value = line.partition("=")
        if not equals:
            continue
        key = key.strip()
        value = _AIDE_VARIABLE.sub(lambda m: variables.get(m.group(1), m.group(0)), value.strip())
        if key in ("database_in", "database"):
            database_in = _aide_url_path(value)
        elif key == "database_out":
            database_out = _aide_url_path(value)
    return AideConfig(database_in or None, database_out or None)


def parse_twcfg(text: str) -> dict[str, str]:
    """`NAME =value` lines of Tripwire's twcfg.txt."""
    settings = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, equals, value = line.partition("=")
        if equals and key.strip():
            settings[key.strip().upper()] = value.strip()
    return settings


_XML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_CLIENT = re.compile(r"<client>(.*?)</client>", re.DOTALL)
_MANAGER = re.compile(r"<(address|server-ip|server-hostname)>\s*([^<]*?)\s*</\1>")


def parse_ossec_managers(text: str) -> list[str]:
    """Manager addresses inside the `<client>` blocks of an ossec.conf (which may hold
    several `<ossec_config>` roots, so it is scanned, not parsed as one XML document)."""
    text = _XML_COMMENT.sub("", text)
    found: list[str] = []
    for block in _CLIENT.findall(text):
        for _, value in _MANAGER.findall(block):
            if value and value not in found:
                found.append(value)
    return found


def file_age(path: str, mtime: float, size: int, now: datetime) -> FileAge | None:
    try:
        modified = datetime.fromtimestamp(mtime, UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return FileAge(
        path=path,
        modified=format_timestamp(modified),
        age_days=(now - modified).days,
        size=size,
    )


# --- collection ---------------------------------------------------------------------


def _age(c: Collection, path: str, now: datetime) -> FileAge | None:
    info = c.host.stat(path)
    if info is None or info.is_dir:
        return None
    return file_age(path, info.mtime, info.size, now)


def _aide(c: Collection, processes: set[str] | None, now: datetime) -> Aide:
    binary = next((path for path in AIDE_BINARIES if c.host.exists(path)), None)
    config_path = next((path for path in AIDE_CONFIGS if c.host.exists(path)), None)
    config: AideConfig | None = None
    if config_path is not None:
        text = c.read_text(config_path)
        config = parse_aide_conf(text) if text is not None else None
    database_path = config.database_in if config is not None else None
    # Only an absolute file path can be checked (not "stdin" or a relative path).
    checkable = database_path is not None and database_path.startswith("/")
    database = _age(c, database_path, now) if database_path and checkable else None
    return Aide(
        installed=binary is not None,
        binary=binary,
        config_path=config_path,
        database_path=database_path,
        database_exists=c.host.exists(database_path) if database_path and checkable else None,
        database=database,
        database_out_path=config.database_out if config is not None else None,
        last_report=_age(c, AIDE_REPORT, now),
        running=is_running(processes, "aide"),
    )


def _tripwire(c: Collection, now: datetime) -> Tripwire:
    installed = c.host.exists(TRIPWIRE_BINARY)
    directory = TRIPWIRE_DB_DIR
    if c.host.exists(TRIPWIRE_CONFIG_TEXT):
        text = c.read_text(TRIPWIRE_CONFIG_TEXT)
        dbfile = parse_twcfg(text).get("DBFILE") if text is not None else None
        if dbfile and "/" in dbfile:
            directory = dbfile.rsplit("/", 1)[0] or "/"
    names = c.list_dir(directory, missing_ok=not installed)
    databases: list[FileAge] | None
    if names is None:
        databases = None if installed else []
    else:
        databases = [
            age
            for name in names
            if name.endswith(".twd")
            and (age := _age(c, f"{directory.rstrip('/')}/{name}", now)) is not None
        ]
    return Tripwire(
        installed=installed,
        config_present=c.host.exists(TRIPWIRE_CONFIG),
        policy_present=c.host.exists(TRIPWIRE_POLICY),
        databases=databases,
    )


def _hids(c: Collection, processes: set[str] | None) -> HostIds:
    product: Literal["wazuh", "ossec"] | None = None
    control: str | None = None
    for name, path in OSSEC_CONTROLS:
        if c.host.exists(path):
            product = "wazuh" if name == "wazuh" else "ossec"
            control = path
            break
    installed = control is not None or c.host.exists(OSSEC_CONFIG)
    managers: list[str] | None = None
    config_path: str | None = None
    if c.host.exists(OSSEC_CONFIG):
        config_path = OSSEC_CONFIG
        text = c.read_text(OSSEC_CONFIG)
        managers = parse_ossec_managers(text) if text is not None else None
    keys = c.host.stat(OSSEC_CLIENT_KEYS) if installed else None
    running: bool | None = None
    if processes is not None:
        running = any(is_running(processes, name) for name in OSSEC_PROCESSES)
    return HostIds(
        installed=installed,
        product=product,
        control_path=control,
        config_path=config_path,
        manager_addresses=managers,
        registered=(keys is not None and keys.size > 0) if installed else None,
        running=running,
    )


@collector(
    "security-software.integrity",
    version="1",
    category="security-software",
    facts=IntegrityFacts,
)
def collect(c: Collection) -> IntegrityFacts:
    """AIDE and Tripwire baselines and their age; the Wazuh/OSSEC agent and its manager."""
    now = datetime.now(UTC)
    processes = running_process_names(c)
    aide = _aide(c, processes, now)
    tripwire = _tripwire(c, now)
    hids = _hids(c, processes)
    return IntegrityFacts(
        aide=aide,
        tripwire=tripwire,
        hids=hids,
        any_present=aide.installed or tripwire.installed or hids.installed,
    )
