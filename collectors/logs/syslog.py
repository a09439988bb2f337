"""logging.syslog: where system and authentication logs go (rsyslog, journald, syslog-ng).

The question an inspector asks is "are security events recorded, kept and sent off the
host?" (GB/T 22239 8.1.4.3, Cybersecurity Law Art. 21). This collector answers from the
configuration: the rsyslog rules (selector -> destination), which of them carry the
auth/authpriv facilities, every remote forwarding target of rsyslog and syslog-ng, and
whether journald stores the journal persistently and for how long.

No secrets leave the host: only selectors, file paths, module names and forwarding
targets are reported, never raw action parameters (an `ommysql` action carries a
password), and any `key=value` text whose key looks like a credential is redacted.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict

from collectors.provenance import Collection
from collectors.redact import redact
from collectors.registry import collector

RSYSLOGD_PATHS = ("/usr/sbin/rsyslogd", "/sbin/rsyslogd")
RSYSLOG_CONF = "/etc/rsyslog.conf"
SYSLOG_NG_PATHS = ("/usr/sbin/syslog-ng", "/sbin/syslog-ng")
SYSLOG_NG_CONF = "/etc/syslog-ng/syslog-ng.conf"
JOURNALD_PATHS = ("/usr/lib/systemd/systemd-journald", "/lib/systemd/systemd-journald")
JOURNALD_CONF = "/etc/systemd/journald.conf"
# Drop-in directories in increasing precedence; a file name in a later one masks the
# same name in an earlier one, and all drop-ins apply in file-name order (systemd.unit(5)).
JOURNALD_DROPIN_DIRS = (
    "/usr/lib/systemd/journald.conf.d",
    "/usr/local/lib/systemd/journald.conf.d",
    "/run/systemd/journald.conf.d",
    "/etc/systemd/journald.conf.d",
)
PERSISTENT_JOURNAL_DIR = "/var/log/journal"
MAX_INCLUDE_DEPTH = 8
MAX_CONFIG_FILES = 256
SMALL_FILE_MAX = 4 * 1024 * 1024
DEFAULT_SYSLOG_PORT = 514  # omfwd and omrelp documented default
MAX_PORT = 65535

# Facilities of syslog(3) plus rsyslog's names; "security" is an old alias of auth.
FACILITIES = (
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "ntp",
    "audit",
    "alert",
    "clock",
    *(f"local{n}" for n in range(8)),
)
AUTH_FACILITIES = frozenset({"auth", "authpriv"})
_FACILITY_ALIASES = {"security": "auth"}

ActionKind = Literal["file", "forward", "users", "pipe", "program", "discard", "module", "other"]


class _Facts(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ForwardTarget(_Facts):
    """A remote log destination.

    `daemon` is "rsyslog" or "syslog-ng". `protocol` is "udp", "tcp" or "relp" (lower
    case, as configured). `port` is the configured port, or for rsyslog the documented
    default 514 when none is written; None for syslog-ng when no port() is written (the
    driver default then applies). `tls` is True when the action enables TLS
    (StreamDriverMode="1", omrelp tls="on", syslog-ng transport("tls") or tls()).
    `carries_auth` says whether auth/authpriv messages reach it: None when a filter
    expression decides that and could not be evaluated.
    """

    daemon: Literal["rsyslog", "syslog-ng"]
    target: str
    port: int | None
    protocol: str
    tls: bool
    carries_auth: bool | None
    config_file: str


class RsyslogRule(_Facts):
    """One rsyslog action with what selects messages for it.

    `selector` is the legacy selector ("auth,authpriv.*") or property filter, None for an
    action without one. `filter` is the enclosing `if ... then` expression (credentials
    redacted), `ruleset` the enclosing ruleset(name=...) or None for the default ruleset.
    `destination`: the file path for "file", "host:port" for "forward", the module name
    for "module", the command for "pipe"/"program" (first word only), None for "discard".
    """

    config_file: str
    ruleset: str | None
    filter: str | None
    selector: str | None
    kind: ActionKind
    destination: str | None
    carries_auth: bool | None


class RsyslogFacts(_Facts):
    """rsyslog: `installed` means the rsyslogd binary exists. `config_files` are the files
    read, the main file first, then includes in the order rsyslog reads them.
    `rules`/`auth_log_files`/`forwarding` are None when /etc/rsyslog.conf could not be
    read. `auth_log_files` are the files receiving auth or authpriv messages.
    `default_file_template` is the `$ActionFileDefaultTemplate` (None when not set: rsyslog
    then writes RFC 3339 timestamps, RSYSLOG_FileFormat)."""

    installed: bool
    config_files: list[str]
    rules: list[RsyslogRule] | None
    auth_log_files: list[str] | None
    forwarding: list[ForwardTarget] | None
    default_file_template: str | None


class JournaldFacts(_Facts):
    """systemd-journald settings ([Journal] of journald.conf and its drop-ins).

    `storage` is the effective Storage= ("auto" when unset). `persistent` is True for
    Storage=persistent, or for auto when /var/log/journal exists. `system_max_use` is
    the configured text and `system_max_use_bytes` its value (None when unset or a
    percentage). `max_retention_sec`/`max_file_sec` are seconds (None when unset; 0 means
    "no time limit"). `forward_to_syslog` is the explicit setting, else the compile-time
    default the shipped journald.conf documents in its commented line, else None.
    `settings` are the explicitly set keys after all drop-ins.
    """

    installed: bool
    config_files: list[str]
    settings: dict[str, str]
    storage: str
    persistent: bool | None
    journal_dir_exists: bool
    system_max_use: str | None
    system_max_use_bytes: int | None
    max_retention_sec: int | None
    max_file_sec: int | None
    forward_to_syslog: bool | None


class SyslogNgDestination(_Facts):
    """A syslog-ng destination using a network driver (network, syslog, tcp, udp, tcp6,
    udp6); `used` says whether an active log {} path references it."""

    name: str
    driver: str
    target: str
    port: int | None
    protocol: str
    tls: bool
    used: bool
    config_file: str


class SyslogNgFacts(_Facts):
    """syslog-ng: `network_destinations` is None when its main configuration could not be
    read."""

    installed: bool
    config_files: list[str]
    network_destinations: list[SyslogNgDestination] | None


class SyslogFacts(_Facts):
    """Facts of `logging.syslog`.

    `remote_forwarding` joins the forwarding of the installed daemons (rsyslog actions,
    syslog-ng network destinations used by a log path); it is None when the
    configuration of an installed daemon could not be read (unknown), and [] when
    nothing forwards. `auth_log_files` are the files rsyslog writes auth/authpriv
    messages to; None when that is unknown (rsyslog configuration unreadable, or
    syslog-ng installed: its filter expressions are not evaluated). A host with neither
    daemon keeps auth messages only in the journal: [] here, see `journald`.
    """

    rsyslog: RsyslogFacts
    journald: JournaldFacts
    syslog_ng: SyslogNgFacts
    remote_forwarding: list[ForwardTarget] | None
    auth_log_files: list[str] | None


# --- rsyslog parser -----------------------------------------------------------------


@dataclass
class RsyslogConfig:
    """One parsed rsyslog file: its rules, include patterns and global directives."""

    rules: list[RsyslogRule] = field(default_factory=list)
    forwards: list[ForwardTarget] = field(default_factory=list)
    includes: list[str] = field(default_factory=list)
    default_file_template: str | None = None


_KEYWORDS = frozenset({"if", "else", "stop", "call", "call_indirect", "set", "unset", "foreach"})
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]*")
_PROPERTY_FILTER = re.compile(r':[^,\n]+,\s*!?[A-Za-z_-]+,\s*"(?:[^"\\\n]|\\.)*"')
_PARAM = re.compile(
    r"""([A-Za-z_][\w.-]*)\s*=\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|\[[^\]]*\]|[^\s)]+)""",
    re.S,
)
_AUTH_FILTER = re.compile(
    r"""\$syslogfacility-text\s*==\s*["'](auth|authpriv|security)["']""", re.I
)
_AUTH_PROPERTY = re.compile(
    r""":syslogfacility-text,\s*isequal,\s*"(auth|authpriv|security)\"""", re.I
)


class _Scanner:
    """Cursor over rsyslog text that skips comments and balances quotes and brackets."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def skip_space(self) -> None:
        """Skip whitespace and comments (`# ...` to end of line, `/* ... */`)."""
        text = self.text
        while self.pos < len(text):
            char = text[self.pos]
            if char.isspace():
                self.pos += 1
            elif char == "#":
                end = text.find("\n", self.pos)
                self.pos = len(text) if end < 0 else end + 1
            elif text.startswith("/*", self.pos):
                end = text.find("*/", self.pos + 2)
                self.pos = len(text) if end < 0 else end + 2
            else:
                return

    def rest_of_line(self) -> str:
        end = self.text.find("\n", self.pos)
        end = len(self.text) if end < 0 else end
        line = self.text[self.pos : end]
        self.pos = end
        return _strip_comment(line).strip()

    def balanced(self, opener: str, closer: str) -> str:
        """Text between `opener` at pos and its matching `closer` (quotes respected)."""
        text = self.text
        start = self.pos + 1
        depth = 0
        index = self.pos
        while index < len(text):
            char = text[index]
            if char in "\"'":
                index = _after_quoted(text, index)
                continue
            if char == "#" and opener == "(":
                end = text.find("\n", index)  # comments are allowed inside objects
                if end < 0:
                    break
                index = end
            elif char == opener:
                depth += 1
            elif char == closer:
                depth -= 1
                if depth == 0:
                    self.pos = index + 1
                    return text[start:index]
            index += 1
        self.pos = len(text)
        return text[start:]

    def until_then(self) -> str:
        """The `if` expression up to the keyword `then` (outside quotes)."""
        text = self.text
        index = self.pos
        while index < len(text):
            if text[index] in "\"'":
                index = _after_quoted(text, index)
                continue
            if (
                text.startswith("then", index)
                and (index == 0 or not (text[index - 1].isalnum() or text[index - 1] == "_"))
                and (
                    index + 4 >= len(text)
                    or not (text[index + 4].isalnum() or text[index + 4] == "_")
                )
            ):
                expression = text[self.pos : index]
                self.pos = index + 4
                return " ".join(expression.split())
            index += 1
        expression = text[self.pos :]
        self.pos = len(text)
        return " ".join(expression.split())


def _after_quoted(text: str, index: int) -> int:
    """The index just after the quoted string that starts at `index` (a backslash escapes
    the next character), or the end of `text` if the quote is never closed."""
    quote = text[index]
    index += 1
    while index < len(text):
        if text[index] == "\\":
            index += 2
        elif text[index] == quote:
            return index + 1
        else:
            index += 1
    return len(text)


def _strip_comment(line: str) -> str:
    """A line without its `#` comment (a `#` inside quotes is kept)."""
    quote = ""
    for index, char in enumerate(line):
        if quote:
            if char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char == "#":
            return line[:index]
    return line


def parse_params(text: str) -> dict[str, str | list[str]]:
    """`name="value"` pairs of a RainerScript object; names lower-cased, arrays as lists."""
    params: dict[str, str | list[str]] = {}
    for match in _PARAM.finditer(text):
        name, raw = match.group(1).lower(), match.group(2)
        value: str | list[str]
        if raw.startswith("["):
            value = [_unquote(item.strip()) for item in raw[1:-1].split(",") if item.strip()]
        else:
            value = _unquote(raw)
        params.setdefault(name, value)
    return params


def _unquote(raw: str) -> str:
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
        return raw[1:-1]
    return raw


def _first(value: str | list[str] | None) -> str | None:
    if isinstance(value, list):
        return value[0] if value else None
    return value


def _port(text: str | None, default: int | None) -> int | None:
    if text is None or text == "":
        return default
    text = text.strip()
    if text.isascii() and text.isdigit() and 0 < int(text) <= MAX_PORT:
        return int(text)
    return None


def delivered_facilities(selector: str) -> frozenset[str] | None:
    """Facilities a legacy selector ("*.*;auth,authpriv.none") delivers at some priority.

    Parts apply left to right; `.none` (or `.!*`) removes facilities, any other priority
    adds them (a `!pri` restriction still lets lower priorities through). None when the
    text is not a facility selector.
    """
    state: dict[str, bool] = {}
    parts = [part.strip() for part in selector.split(";")]
    if not parts or not all("." in part for part in parts):
        return None
    for part in parts:
        names, _, priority = part.rpartition(".")
        priority = priority.strip().lower()
        if not names or not priority:
            return None
        included = priority not in ("none", "!*", "!=*")
        for name in names.split(","):
            name = name.strip().lower()
            name = _FACILITY_ALIASES.get(name, name)
            if name == "*":
                state.update(dict.fromkeys(FACILITIES, included))
            elif re.fullmatch(r"[a-z0-9_-]+", name):
                state[name] = included
            else:
                return None
    return frozenset(name for name, included in state.items() if included)


def _carries_auth(
    selector: str | None, filter_text: str | None, ruleset: str | None
) -> bool | None:
    from_selector: bool | None
    if selector is None:
        from_selector = True if ruleset is None else None
    elif selector.startswith(":"):
        from_selector = True if _AUTH_PROPERTY.match(selector) else None
    else:
        facilities = delivered_facilities(selector)
        from_selector = None if facilities is None else bool(facilities & AUTH_FACILITIES)
    if filter_text is None:
        return from_selector
    if from_selector is False:
        return False  # a filter can only narrow what the selector lets through
    if selector is None and _AUTH_FILTER.search(filter_text) and " or " not in filter_text:
        return True
    return None


def _host_port(host: str, port: int | None) -> str:
    shown = f"[{host}]" if ":" in host else host
    return shown if port is None else f"{shown}:{port}"


def _legacy_forward(action: str) -> tuple[str, int | None, str] | None:
    """(target, port, protocol) of a legacy `@host[:port]` / `@@host` action."""
    protocol = "tcp" if action.startswith("@@") else "udp"
    rest = action.lstrip("@")
    if rest.startswith("("):  # options such as (o,z9)
        close = rest.find(")")
        rest = rest[close + 1 :] if close >= 0 else ""
    rest = rest.split(";", 1)[0].strip()
    if rest.startswith("["):
        close = rest.find("]")
        if close < 0:
            return None
        host, after = rest[1:close], rest[close + 1 :]
        port_text = after[1:] if after.startswith(":") else None
    else:
        host, _, port_text_raw = rest.partition(":")
        port_text = port_text_raw if port_text_raw else None
    if not host:
        return None
    return host, _port(port_text, DEFAULT_SYSLOG_PORT), protocol


def _legacy_action(
    action: str,
) -> tuple[ActionKind, str | None, tuple[str, int | None, str] | None]:
    """(kind, destination, forward) of a legacy action text."""
    action = action.strip()
    if action.startswith("@"):
        forward = _legacy_forward(action)
        if forward is None:
            return "other", None, None
        return "forward", _host_port(forward[0], forward[1]), forward
    if action.lower().startswith(":omrelp:"):
        spec = action[len(":omrelp:") :].split(";", 1)[0]
        host, _, port_text = spec.partition(":")
        if not host:
            return "other", None, None
        port = _port(port_text or None, DEFAULT_SYSLOG_PORT)
        return "forward", _host_port(host, port), (host, port, "relp")
    if action.startswith(":"):
        module = action[1:].split(":", 1)[0]
        if module == "omusrmsg":
            return "users", action[len(":omusrmsg:") :].split(";", 1)[0] or None, None
        return "module", module or None, None
    if action.startswith(("-/", "/")):
        return "file", action.lstrip("-").split(";", 1)[0], None
    if action.startswith("|"):
        return "pipe", action[1:].split(";", 1)[0].strip() or None, None
    if action.startswith("^"):
        command = action[1:].split(";", 1)[0].split()
        return "program", command[0] if command else None, None
    if action in ("~", "stop"):
        return "discard", None, None
    if action == "*" or re.fullmatch(r"[\w.-]+(,[\w.-]+)*", action):
        return "users", action, None
    return "other", None, None


def _object_action(
    params: dict[str, str | list[str]],
) -> tuple[ActionKind, str | None, tuple[str, int | None, str, bool] | None]:
    """(kind, destination, forward with tls) of an `action(type=...)` object."""
    kind = (_first(params.get("type")) or "").lower()
    if kind == "omfile":
        path = _first(params.get("file"))
        if path is None:
            dyna = _first(params.get("dynafile"))
            return "file", f"dynafile:{dyna}" if dyna else None, None
        return "file", path, None
    if kind in ("omfwd", "omrelp"):
        target = params.get("target")
        host = _first(target)
        if not host:
            srv = _first(params.get("targetsrv"))
            if not srv:
                return "other", None, None
            host = f"srv:{srv}"
        if kind == "omrelp":
            protocol = "relp"
            tls = (_first(params.get("tls")) or "off").lower() in ("on", "yes", "1")
        else:
            protocol = (_first(params.get("protocol")) or "udp").lower()
            tls = (_first(params.get("streamdrivermode")) or "0").strip() == "1"
        port = _port(_first(params.get("port")), DEFAULT_SYSLOG_PORT)
        return "forward", _host_port(host, port), (host, port, protocol, tls)
    if kind == "omusrmsg":
        return "users", _first(params.get("users")), None
    if kind == "ompipe":
        return "pipe", _first(params.get("pipe")), None
    if kind == "omprog":
        binary = (_first(params.get("binary")) or "").split()
        return "program", binary[0] if binary else None, None
    if kind == "omdiscard":
        return "discard", None, None
    return "module", kind or None, None


def parse_rsyslog(text: str, config_file: str) -> RsyslogConfig:
    """Rules, forwards, includes and the default file template of one rsyslog file.

    Understands legacy `selector action` lines, `& action` continuations, property
    filters, `$IncludeConfig`, `$ActionFileDefaultTemplate`, RainerScript objects
    (action, include, module, ruleset, ...) spanning lines, and `if ... then` with a
    single action or a `{ }` block. Anything else is skipped; it never raises.
    """
    config = RsyslogConfig()
    scanner = _Scanner(text)
    # Stack of (filter, ruleset) per open brace; the top is the current context.
    contexts: list[tuple[str | None, str | None]] = [(None, None)]
    pending_filter: str | None = None
    pending_ruleset: str | None = None
    last_selector: str | None = None
    # `$ActionSendStreamDriverMode 1` turns TLS on for the legacy `@@` forwards after it
    # (rsyslog's documented TLS setup with `$DefaultNetstreamDriver gtls`).
    legacy_stream_mode = "0"

    def add(
        selector: str | None,
        kind: ActionKind,
        destination: str | None,
        forward: tuple[str, int | None, str, bool] | None,
        filter_text: str | None,
        ruleset: str | None,
    ) -> None:
        safe_selector = redact(selector) if selector is not None else None
        safe_filter = redact(filter_text) if filter_text is not None else None
        carries = _carries_auth(selector, filter_text, ruleset)
        config.rules.append(
            RsyslogRule(
                config_file=config_file,
                ruleset=ruleset,
                filter=safe_filter,
                selector=safe_selector,
                kind=kind,
                destination=redact(destination) if destination is not None else None,
                carries_auth=carries,
            )
        )
        if forward is not None:
            host, port, protocol, tls = forward
            config.forwards.append(
                ForwardTarget(
                    daemon="rsyslog",
                    target=redact(host),
                    port=port,
                    protocol=protocol,
                    tls=tls,
                    carries_auth=carries,
                    config_file=config_file,
                )
            )

    def current(extra_filter: str | None) -> tuple[str | None, str | None]:
        outer_filter, ruleset = contexts[-1]
        filters = [f for f in (outer_filter, extra_filter) if f]
        if len(filters) > 1:
            return " and ".join(f"({f})" for f in filters), ruleset
        return (filters[0] if filters else None), ruleset

    def action_statement(selector: str | None, filter_text: str | None, multiline: bool) -> bool:
        """Parse one action at the cursor; False when none is there. A legacy selector's
        action must be on its own line (`multiline` False); after `then` it may follow."""
        if multiline:
            scanner.skip_space()
        else:
            while not scanner.at_end() and scanner.text[scanner.pos] in " \t":
                scanner.pos += 1
        if scanner.at_end():
            return False
        filter_now, ruleset = current(filter_text)
        if scanner.text.startswith("action", scanner.pos):
            after = scanner.pos + len("action")
            rest = scanner.text[after:]
            stripped = rest.lstrip()
            if stripped.startswith("("):
                scanner.pos = after + (len(rest) - len(stripped))
                params = parse_params(scanner.balanced("(", ")"))
                kind, destination, forward = _object_action(params)
                add(selector, kind, destination, forward, filter_now, ruleset)
                return True
        line = scanner.rest_of_line()
        if not line:
            return False
        kind, destination, legacy = _legacy_action(line)
        forward = None
        if legacy is not None:
            forward = (*legacy, legacy[2] == "tcp" and legacy_stream_mode == "1")
        add(selector, kind, destination, forward, filter_now, ruleset)
        return True

    guard = 0
    while True:
        guard += 1
        if guard > len(text) + 10:  # every step consumes text; this is only a backstop
            break
        scanner.skip_space()
        if scanner.at_end():
            break
        start = scanner.pos
        char = scanner.text[start]
        if char == "$":
            line = scanner.rest_of_line()
            name, _, value = line.partition(" ")
            value = value.strip()
            if name.lower() == "$includeconfig" and value:
                config.includes.append(value)
            elif name.lower() == "$actionfiledefaulttemplate" and value:
                config.default_file_template = value
            elif name.lower() == "$actionsendstreamdrivermode":
                legacy_stream_mode = value.split()[0] if value else "0"
        elif char == "{":
            scanner.pos += 1
            filter_now, ruleset = current(pending_filter)
            contexts.append((filter_now, pending_ruleset or ruleset))
            pending_filter = pending_ruleset = None
        elif char == "}":
            scanner.pos += 1
            if len(contexts) > 1:
                contexts.pop()
        elif char == "&":
            scanner.pos += 1
            action_statement(last_selector, None, False)
        elif char == ":":
            match = _PROPERTY_FILTER.match(scanner.text, start)
            if match is None:
                scanner.rest_of_line()
                continue
            last_selector = " ".join(match.group(0).split())
            scanner.pos = match.end()
            action_statement(last_selector, None, False)
        else:
            ident = _IDENT.match(scanner.text, start)
            word = ident.group(0) if ident else ""
            after_word = scanner.text[start + len(word) :].lstrip(" \t")
            if word and after_word.startswith("(") and word.lower() != "action":
                scanner.pos = start + len(word)
                scanner.pos += len(scanner.text[scanner.pos :]) - len(
                    scanner.text[scanner.pos :].lstrip(" \t")
                )
                params = parse_params(scanner.balanced("(", ")"))
                name = word.lower()
                if name == "include":
                    path = _first(params.get("file"))
                    if path:
                        config.includes.append(path)
                elif name == "ruleset":
                    pending_ruleset = _first(params.get("name"))
                elif name == "module":
                    load = (_first(params.get("load")) or "").lower()
                    template = _first(params.get("template"))
                    if load == "builtin:omfile" and template:
                        config.default_file_template = template
            elif word.lower() == "action":
                action_statement(None, pending_filter, True)
                pending_filter = None
            elif word.lower() == "if":
                scanner.pos = start + 2
                condition = scanner.until_then()
                if pending_filter == "else":  # `else if ... then`
                    condition, pending_filter = f"else if {condition}", None
                scanner.skip_space()
                if scanner.text.startswith("{", scanner.pos):
                    pending_filter = condition
                else:
                    action_statement(None, condition, True)
            elif word.lower() == "else":
                scanner.pos = start + 4
                pending_filter = "else"
            elif word.lower() == "stop":
                scanner.pos = start + 4
                filter_now, ruleset = current(pending_filter)
                add(None, "discard", None, None, filter_now, ruleset)
                pending_filter = None
            elif word.lower() in _KEYWORDS:
                end = scanner.text.find("\n", start)
                scanner.pos = len(scanner.text) if end < 0 else end
            else:
                # A legacy selector: one whitespace-free token, then the action.
                token_end = start
                while token_end < len(text) and not text[token_end].isspace():
                    token_end += 1
                selector = text[start:token_end]
                scanner.pos = token_end
                if "." not in selector:
                    scanner.rest_of_line()
                    continue
                last_selector = selector
                if not action_statement(selector, None, False):
                    continue
        if scanner.pos == start:  # never stall on unexpected input
            scanner.pos += 1
    return config


# --- journald parser ----------------------------------------------------------------

_TIME_UNITS = {
    "us": 1e-6,
    "usec": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "msec": 1e-3,
    "s": 1,
    "sec": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hr": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
    "w": 604800,
    "week": 604800,
    "weeks": 604800,
    "M": 2629800,  # systemd: 30.44 days
    "month": 2629800,
    "months": 2629800,
    "y": 31557600,  # systemd: 365.25 days
    "year": 31557600,
    "years": 31557600,
}
_TIME_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([A-Za-zµ]*)")
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([KMGTPE]?)B?$", re.I)
_SIZE_FACTORS = {
    "": 1,
    "K": 1 << 10,
    "M": 1 << 20,
    "G": 1 << 30,
    "T": 1 << 40,
    "P": 1 << 50,
    "E": 1 << 60,
}
MAX_SAFE = 2**53 - 1


def parse_timespan(text: str) -> int | None:
    """Seconds of a systemd time span ("1month", "2w 3d", "0"); None when malformed."""
    text = text.strip()
    total = 0.0
    position = 0
    for match in _TIME_PART.finditer(text):
        if text[position : match.start()].strip():
            return None
        unit = match.group(2)
        factor = 1 if unit == "" else _TIME_UNITS.get(unit if unit == "M" else unit.lower())
        if factor is None:
            return None
        total += float(match.group(1)) * factor
        position = match.end()
    if position == 0 or text[position:].strip():
        return None
    seconds = int(total)
    return seconds if seconds <= MAX_SAFE else None


def parse_size(text: str) -> int | None:
    """Bytes of a journald size ("4G", "500M", "1024"); None for percentages/malformed."""
    match = _SIZE.match(text.strip())
    if match is None:
        return None
    value = int(float(match.group(1)) * _SIZE_FACTORS[match.group(2).upper()])
    return value if value <= MAX_SAFE else None


def parse_journald(text: str) -> tuple[dict[str, str], dict[str, str]]:
    """(settings, documented defaults) of a journald.conf: `Key=value` lines of the
    [Journal] section, and `#Key=value` commented lines (the compile-time defaults the
    shipped file documents). Later assignments win."""
    settings: dict[str, str] = {}
    defaults: dict[str, str] = {}
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
            continue
        if section != "Journal" or not line:
            continue
        commented = line.startswith(("#", ";"))
        body = line.lstrip("#;").strip() if commented else line
        key, sep, value = body.partition("=")
        key = key.strip()
        if not sep or not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", key):
            continue
        (defaults if commented else settings)[key] = value.strip()
    return settings, defaults


def _bool(text: str | None) -> bool | None:
    if text is None:
        return None
    value = text.strip().lower()
    if value in ("1", "yes", "true", "on", "y", "t"):
        return True
    if value in ("0", "no", "false", "off", "n", "f"):
        return False
    return None


def journald_facts(
    installed: bool,
    config_files: list[str],
    settings: dict[str, str],
    defaults: dict[str, str],
    journal_dir_exists: bool,
) -> JournaldFacts:
    storage = settings.get("Storage", "auto").strip().lower() or "auto"
    persistent: bool | None
    if storage == "persistent":
        persistent = True
    elif storage == "auto":
        persistent = journal_dir_exists
    elif storage in ("volatile", "none"):
        persistent = False
    else:
        persistent = None
    max_use = settings.get("SystemMaxUse") or None
    retention = settings.get("MaxRetentionSec") or None
    file_sec = settings.get("MaxFileSec") or None
    forward = settings.get("ForwardToSyslog")
    if forward is None:
        forward = defaults.get("ForwardToSyslog")
    return JournaldFacts(
        installed=installed,
        config_files=config_files,
        settings=dict(sorted(settings.items())),
        storage=storage,
        persistent=persistent,
        journal_dir_exists=journal_dir_exists,
        system_max_use=max_use,
        system_max_use_bytes=parse_size(max_use) if max_use else None,
        max_retention_sec=parse_timespan(retention) if retention else None,
        max_file_sec=parse_timespan(file_sec) if file_sec else None,
        forward_to_syslog=_bool(forward),
    )


# --- syslog-ng parser ---------------------------------------------------------------

_SNG_BLOCK = re.compile(r"\b(destination|log)\b\s*([A-Za-z_][\w-]*)?\s*\{")
_SNG_DRIVER = re.compile(r"\b(network|syslog|tcp6|udp6|tcp|udp)\s*\(")
_SNG_INCLUDE = re.compile(r'^\s*@include\s+"([^"]+)"', re.M)
_SNG_REF = re.compile(r"\bdestination\s*\(\s*([A-Za-z_][\w-]*)\s*\)")


@dataclass
class SyslogNgConfig:
    destinations: list[SyslogNgDestination] = field(default_factory=list)
    used: set[str] = field(default_factory=set)
    includes: list[str] = field(default_factory=list)


def _strip_sng_comments(text: str) -> str:
    return "\n".join(_strip_comment(line) for line in text.splitlines())


def _balanced_at(text: str, open_index: int, opener: str, closer: str) -> tuple[str, int]:
    scanner = _Scanner(text)
    scanner.pos = open_index
    body = scanner.balanced(opener, closer)
    return body, scanner.pos


def _sng_option(body: str, name: str) -> str | None:
    match = re.search(rf"\b{name}\s*\(\s*(\"[^\"]*\"|'[^']*'|[^\s)]*)\s*\)", body)
    return _unquote(match.group(1)) if match else None


def parse_syslog_ng(text: str, config_file: str) -> SyslogNgConfig:
    """Network destinations, destinations referenced by log paths, and @include lines."""
    config = SyslogNgConfig(includes=_SNG_INCLUDE.findall(text))
    clean = _strip_sng_comments(text)
    position = 0
    while True:
        match = _SNG_BLOCK.search(clean, position)
        if match is None:
            break
        body, end = _balanced_at(clean, match.end() - 1, "{", "}")
        position = max(end, match.end())
        if match.group(1) == "log":
            config.used.update(_SNG_REF.findall(body))
            name = "(inline)"
            used = True
        else:
            name = match.group(2) or "(unnamed)"
            used = False
        for driver_match in _SNG_DRIVER.finditer(body):
            args, _ = _balanced_at(body, driver_match.end() - 1, "(", ")")
            first = re.match(r"""\s*("[^"]*"|'[^']*'|[^\s()"']+)(\s*\()?""", args)
            if first is None or first.group(2):
                continue  # no target: the first word is an option such as port(514)
            target = _unquote(first.group(1))
            if not target or "(" in target:
                continue
            driver = driver_match.group(1)
            transport = (_sng_option(args, "transport") or "").lower()
            if not transport:
                transport = "udp" if driver.startswith("udp") else "tcp"
            protocol = "udp" if transport == "udp" else "tcp"
            tls = transport == "tls" or re.search(r"\btls\s*\(", args) is not None
            config.destinations.append(
                SyslogNgDestination(
                    name=name,
                    driver=driver,
                    target=redact(target),
                    port=_port(_sng_option(args, "port"), None),
                    protocol=protocol,
                    tls=tls,
                    used=used,
                    config_file=config_file,
                )
            )
    return config


# --- collection ---------------------------------------------------------------------


def _expand(c: Collection, pattern: str, base_dir: str) -> list[str]:
    """Paths matching an include pattern (a glob on the last component, or a directory)."""
    if not pattern.startswith("/"):
        pattern = posixpath.join(base_dir, pattern)
    pattern = posixpath.normpath(pattern)
    if pattern.endswith("/") or (not any(ch in pattern for ch in "*?[") and _is_dir(c, pattern)):
        directory, name_pattern = pattern.rstrip("/"), "*"
    else:
        directory, name_pattern = posixpath.split(pattern)
    if any(ch in directory for ch in "*?["):
        return []  # globs in directory parts are rare; not followed
    if name_pattern == posixpath.basename(pattern) and not any(ch in name_pattern for ch in "*?["):
        return [pattern]
    names = c.list_dir(directory, missing_ok=True) or []
    paths = []
    for name in names:
        if name.startswith(".") or not fnmatch.fnmatchcase(name, name_pattern):
            continue
        path = posixpath.join(directory, name)
        if not _is_dir(c, path):
            paths.append(path)
    return paths


def _is_dir(c: Collection, path: str) -> bool:
    info = c.host.stat(path)
    return info is not None and info.is_dir


def _read_rsyslog(c: Collection) -> tuple[list[str], RsyslogConfig | None]:
    main = c.read_text(RSYSLOG_CONF, max_bytes=SMALL_FILE_MAX, missing_ok=True)
    if main is None:
        return [], None
    merged = RsyslogConfig()
    files: list[str] = []
    seen: set[str] = set()

    def visit(path: str, text: str, depth: int) -> None:
        seen.add(path)
        files.append(path)
        parsed = parse_rsyslog(text, path)
        merged.rules.extend(parsed.rules)
        merged.forwards.extend(parsed.forwards)
        if parsed.default_file_template is not None:
            merged.default_file_template = parsed.default_file_template
        for pattern in parsed.includes:
            for included in _expand(c, pattern, "/etc"):
                if included in seen or len(files) >= MAX_CONFIG_FILES:
                    continue
                if depth >= MAX_INCLUDE_DEPTH:
                    c.error(f"{included}: include depth over {MAX_INCLUDE_DEPTH}, not read")
                    continue
                content = c.read_text(included, max_bytes=SMALL_FILE_MAX, missing_ok=True)
                if content is not None:
                    visit(included, content, depth + 1)

    visit(RSYSLOG_CONF, main, 0)
    return files, merged


def _read_journald(c: Collection) -> tuple[list[str], dict[str, str], dict[str, str]]:
    files: list[str] = []
    settings: dict[str, str] = {}
    defaults: dict[str, str] = {}
    main = c.read_text(JOURNALD_CONF, max_bytes=SMALL_FILE_MAX, missing_ok=True)
    if main is not None:
        files.append(JOURNALD_CONF)
        settings, defaults = parse_journald(main)
    dropins: dict[str, str] = {}
    for directory in JOURNALD_DROPIN_DIRS:
        for name in c.list_dir(directory, missing_ok=True) or []:
            if name.endswith(".conf"):
                dropins[name] = posixpath.join(directory, name)
    for name in sorted(dropins):
        text = c.read_text(dropins[name], max_bytes=SMALL_FILE_MAX, missing_ok=True)
        if text is None:
            continue
        files.append(dropins[name])
        more, _ = parse_journald(text)
        settings.update(more)
    return files, settings, defaults


def _read_syslog_ng(c: Collection) -> tuple[list[str], list[SyslogNgDestination] | None]:
    main = c.read_text(SYSLOG_NG_CONF, max_bytes=SMALL_FILE_MAX, missing_ok=True)
    if main is None:
        return [], None
    files: list[str] = []
    destinations: list[SyslogNgDestination] = []
    used: set[str] = set()
    pending = [(SYSLOG_NG_CONF, main, 0)]
    seen = {SYSLOG_NG_CONF}
    while pending:
        path, text, depth = pending.pop(0)
        files.append(path)
        parsed = parse_syslog_ng(text, path)
        destinations.extend(parsed.destinations)
        used |= parsed.used
        if depth >= MAX_INCLUDE_DEPTH:
            continue
        for pattern in parsed.includes:
            for included in _expand(c, pattern, "/etc/syslog-ng"):
                if included in seen or len(seen) >= MAX_CONFIG_FILES:
                    continue
                seen.add(included)
                content = c.read_text(included, max_bytes=SMALL_FILE_MAX, missing_ok=True)
                if content is not None:
                    pending.append((included, content, depth + 1))
    resolved = [d.model_copy(update={"used": d.used or d.name in used}) for d in destinations]
    return files, resolved


def _any_exists(c: Collection, paths: tuple[str, ...]) -> bool:
    return any(c.host.exists(path) for path in paths)


def build_facts(
    rsyslog: RsyslogFacts, journald: JournaldFacts, syslog_ng: SyslogNgFacts
) -> SyslogFacts:
    """Join the daemons' facts; only installed daemons forward or write anything."""
    forwarding: list[ForwardTarget] | None = []
    auth_files: list[str] | None = []
    if rsyslog.installed:
        if rsyslog.forwarding is None or rsyslog.auth_log_files is None:
            forwarding = auth_files = None
        else:
            forwarding = list(rsyslog.forwarding)
            auth_files = list(rsyslog.auth_log_files)
    if syslog_ng.installed:
        auth_files = None  # syslog-ng filter expressions are not evaluated
        if syslog_ng.network_destinations is None:
            forwarding = None
        elif forwarding is not None:
            forwarding.extend(
                ForwardTarget(
                    daemon="syslog-ng",
                    target=d.target,
                    port=d.port,
                    protocol=d.protocol,
                    tls=d.tls,
                    carries_auth=None,
                    config_file=d.config_file,
                )
                for d in syslog_ng.network_destinations
                if d.used
            )
    return SyslogFacts(
        rsyslog=rsyslog,
        journald=journald,
        syslog_ng=syslog_ng,
        remote_forwarding=forwarding,
        auth_log_files=sorted(set(auth_files)) if auth_files is not None else None,
    )


def rsyslog_facts(installed: bool, files: list[str], config: RsyslogConfig | None) -> RsyslogFacts:
    if config is None:
        return RsyslogFacts(
            installed=installed,
            config_files=files,
            rules=None,
            auth_log_files=None,
            forwarding=None,
            default_file_template=None,
        )
    auth_files = sorted(
        {
            rule.destination
            for rule in config.rules
            if rule.kind == "file" and rule.carries_auth and rule.destination
        }
    )
    return RsyslogFacts(
        installed=installed,
        config_files=files,
        rules=config.rules,
        auth_log_files=auth_files,
        forwarding=config.forwards,
        default_file_template=config.default_file_template,
    )


@collector("logging.syslog", version="1", category="logging", facts=SyslogFacts)
def collect(c: Collection) -> SyslogFacts:
    """rsyslog rules and forwarding, journald persistence and retention, syslog-ng forwarding."""
    rsyslog_installed = _any_exists(c, RSYSLOGD_PATHS)
    rsyslog_files, rsyslog_config = _read_rsyslog(c)
    if rsyslog_installed and rsyslog_config is None:
        c.error(f"{RSYSLOG_CONF}: rsyslogd is installed but its configuration was not read")
    journald_files, settings, defaults = _read_journald(c)
    journald = journald_facts(
        _any_exists(c, JOURNALD_PATHS),
        journald_files,
        settings,
        defaults,
        _is_dir(c, PERSISTENT_JOURNAL_DIR),
    )
    ng_installed = _any_exists(c, SYSLOG_NG_PATHS)
    ng_files, ng_destinations = _read_syslog_ng(c)
    if ng_installed and ng_destinations is None:
        c.error(f"{SYSLOG_NG_CONF}: syslog-ng is installed but its configuration was not read")
    return build_facts(
        rsyslog_facts(rsyslog_installed, rsyslog_files, rsyslog_config),
        journald,
        SyslogNgFacts(
            installed=ng_installed, config_files=ng_files, network_destinations=ng_destinations
        ),
    )
