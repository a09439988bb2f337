"""configuration.sshd: the effective OpenSSH server settings that matter for security.

Two ways to the same facts. When the host can run commands and /usr/sbin/sshd exists,
`sshd -T` prints the configuration sshd itself computed (defaults, Include files and
all). Otherwise, or when `sshd -T` fails (no host keys, no privileges, a RootHost), the
configuration files are parsed here with OpenSSH's own rules, read from servconf.c:

- keywords are case-insensitive, `Keyword value` or `Keyword=value`; arguments are split
  like argv_split() (double or single quotes, backslash escapes, `#` at the start of a
  word ends the line);
- the first value of a keyword wins; Port, ListenAddress, HostKey, AllowUsers,
  DenyUsers, AllowGroups, DenyGroups and AcceptEnv accumulate over every line;
- `Include` takes globs; a relative one is relative to /etc/ssh; matches are read in
  sorted order, at the place of the Include line; an Include that matches nothing is
  not an error; an included file cannot change the Match state of the file including
  it (a Match inside it ends at its end);
- lines after `Match` (other than `Match all`) apply only to matching connections:
  they are reported in `match_blocks`, never as global settings.

Defaults filled in when parsing files are those of OpenSSH 9.2p1 as Debian 12 builds it,
taken from `sshd -T -f <a config holding only a HostKey line>` on that build (see
OPENSSH_DEFAULTS; tests/fixtures/sshd/sshd-T-defaults-9.2p1.txt is that output).
Other 9.x releases differ only in the algorithm lists (for example 9.9 adds
mlkem768x25519-sha256 to KexAlgorithms). Host key files are named, never read.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict

from collectors.provenance import Collection
from collectors.registry import collector

SSHD = "/usr/sbin/sshd"
SSHD_CONFIG = "/etc/ssh/sshd_config"
SSH_DIR = "/etc/ssh"
SSHD_T_TIMEOUT = 15.0
MAX_INCLUDE_DEPTH = 16  # SERVCONF_MAX_DEPTH in OpenSSH
MAX_INT = 2**31 - 1  # sshd parses these values into a C int

# Keyword spellings that servconf.c maps onto another keyword.
KEYWORD_ALIASES = {
    "challengeresponseauthentication": "kbdinteractiveauthentication",
    "skeyauthentication": "kbdinteractiveauthentication",
    "dsaauthentication": "pubkeyauthentication",
    "hostdsakey": "hostkey",
    "keepalive": "tcpkeepalive",
    "pubkeyacceptedkeytypes": "pubkeyacceptedalgorithms",
    "hostbasedacceptedkeytypes": "hostbasedacceptedalgorithms",
}
# Keywords whose every line adds values instead of the first line winning.
ACCUMULATING = frozenset(
    {
        "port",
        "listenaddress",
        "hostkey",
        "hostcertificate",
        "allowusers",
        "denyusers",
        "allowgroups",
        "denygroups",
        "acceptenv",
    }
)

# Keywords servconf.c allows only outside Match blocks (SSHCFG_GLOBAL); sshd refuses to
# start when one appears inside a Match block.
GLOBAL_ONLY = frozenset(
    {
        "port",
        "hostkey",
        "hostkeyagent",
        "hostcertificate",
        "pidfile",
        "modulifile",
        "logingracetime",
        "syslogfacility",
        "hostkeyalgorithms",
        "listenaddress",
        "addressfamily",
        "printmotd",
        "printlastlog",
        "ignoreuserknownhosts",
        "xauthlocation",
        "strictmodes",
        "permituserenvironment",
        "compression",
        "tcpkeepalive",
        "ciphers",
        "macs",
        "kexalgorithms",
        "protocol",
        "subsystem",
        "maxstartups",
        "persourcemaxstartups",
        "persourcenetblocksize",
        "usedns",
        "versionaddendum",
        "fingerprinthash",
        "securitykeyprovider",
        "usepam",
    }
)

# OpenSSH 9.2p1 (Debian 12) compiled-in defaults, as `sshd -T` prints them.
OPENSSH_DEFAULT_CIPHERS = (
    "chacha20-poly1305@openssh.com",
    "aes128-ctr",
    "aes192-ctr",
    "aes256-ctr",
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
)
OPENSSH_DEFAULT_MACS = (
    "umac-64-etm@openssh.com",
    "umac-128-etm@openssh.com",
    "hmac-sha2-256-etm@openssh.com",
    "hmac-sha2-512-etm@openssh.com",
    "hmac-sha1-etm@openssh.com",
    "umac-64@openssh.com",
    "umac-128@openssh.com",
    "hmac-sha2-256",
    "hmac-sha2-512",
    "hmac-sha1",
)
OPENSSH_DEFAULT_KEX = (
    "sntrup761x25519-sha512",
    "sntrup761x25519-sha512@openssh.com",
    "curve25519-sha256",
    "curve25519-sha256@libssh.org",
    "ecdh-sha2-nistp256",
    "ecdh-sha2-nistp384",
    "ecdh-sha2-nistp521",
    "diffie-hellman-group-exchange-sha256",
    "diffie-hellman-group16-sha512",
    "diffie-hellman-group18-sha512",
    "diffie-hellman-group14-sha256",
)
OPENSSH_DEFAULT_HOST_KEYS = (
    "/etc/ssh/ssh_host_rsa_key",
    "/etc/ssh/ssh_host_ecdsa_key",
    "/etc/ssh/ssh_host_ed25519_key",
)
OPENSSH_DEFAULTS: dict[str, object] = {
    "permitrootlogin": "prohibit-password",
    "passwordauthentication": "yes",
    "permitemptypasswords": "no",
    "pubkeyauthentication": "yes",
    "kbdinteractiveauthentication": "yes",
    "x11forwarding": "no",
    "maxauthtries": 6,
    "logingracetime": 120,
    "clientaliveinterval": 0,
    "clientalivecountmax": 3,
    "protocol": "2",  # OpenSSH >= 7.6 speaks only protocol 2 and ignores `Protocol`
    "ciphers": list(OPENSSH_DEFAULT_CIPHERS),
    "macs": list(OPENSSH_DEFAULT_MACS),
    "kexalgorithms": list(OPENSSH_DEFAULT_KEX),
    "allowusers": [],
    "allowgroups": [],
    "denyusers": [],
    "denygroups": [],
    "banner": "none",
    "usepam": "no",  # portable OpenSSH's default; Debian's and RHEL's files set yes
    "port": [22],
    "listenaddress": None,  # derived from Port and AddressFamily
    "loglevel": "INFO",
    "syslogfacility": "AUTH",
}
FLAG_KEYS = (
    "passwordauthentication",
    "permitemptypasswords",
    "pubkeyauthentication",
    "kbdinteractiveauthentication",
    "x11forwarding",
    "usepam",
)
INT_KEYS = ("maxauthtries", "clientalivecountmax")
TIME_KEYS = ("logingracetime", "clientaliveinterval")
ALGORITHM_KEYS = {
    "ciphers": OPENSSH_DEFAULT_CIPHERS,
    "macs": OPENSSH_DEFAULT_MACS,
    "kexalgorithms": OPENSSH_DEFAULT_KEX,
}
USER_LIST_KEYS = ("allowusers", "allowgroups", "denyusers", "denygroups")

Source = Literal["sshd -T", "sshd_config"]


class SshdSettings(BaseModel):
    """Effective global sshd settings (keys are sshd's lowercase keyword names).

    Yes/no and enumerated values are lowercase strings as `sshd -T` prints them
    ("yes", "no", "prohibit-password", "forced-commands-only"); `permitrootlogin`
    "without-password" (a synonym) is reported as "prohibit-password".
    `kbdinteractiveauthentication` also covers its alias ChallengeResponseAuthentication.
    `logingracetime` and `clientaliveinterval` are seconds (0 = no limit / disabled).
    `protocol` is "2" unless a `Protocol` line says otherwise (sshd >= 7.6 ignores that
    line: it only speaks protocol 2). Algorithm lists are in preference order with the
    `+`/`-`/`^` modifiers applied. An empty allow/deny list means "no such restriction".
    `banner` is a path or "none". `listenaddress` entries are "address:port"
    ("[v6]:port"), as `sshd -T` prints them; a host name is not resolved. `loglevel` and
    `syslogfacility` are uppercase. None: could not be determined (a value sshd would
    refuse, or a key `sshd -T` did not print).
    """

    model_config = ConfigDict(extra="forbid")

    permitrootlogin: str | None
    passwordauthentication: str | None
    permitemptypasswords: str | None
    pubkeyauthentication: str | None
    kbdinteractiveauthentication: str | None
    x11forwarding: str | None
    maxauthtries: int | None
    logingracetime: int | None
    clientaliveinterval: int | None
    clientalivecountmax: int | None
    protocol: str | None
    ciphers: list[str] | None
    macs: list[str] | None
    kexalgorithms: list[str] | None
    allowusers: list[str] | None
    allowgroups: list[str] | None
    denyusers: list[str] | None
    denygroups: list[str] | None
    banner: str | None
    usepam: str | None
    port: list[int] | None
    listenaddress: list[str] | None
    loglevel: str | None
    syslogfacility: str | None


class MatchSetting(BaseModel):
    """One directive inside a Match block: lowercase keyword, its arguments joined by
    single spaces, and where it was written."""

    model_config = ConfigDict(extra="forbid")

    keyword: str
    value: str
    file: str
    line: int


class MatchBlock(BaseModel):
    """A `Match` block: its criteria as written (e.g. "User backup Address 10.0.0.0/8"),
    where it starts, and the settings that apply only to matching connections.
    `within` is the criteria of an enclosing Match when this block sits in a file
    included from inside that Match (both must match), else None."""

    model_config = ConfigDict(extra="forbid")

    criteria: str
    file: str
    line: int
    within: str | None
    settings: list[MatchSetting]


class SshdFacts(BaseModel):
    """Facts of `configuration.sshd`.

    `installed`: /usr/sbin/sshd exists. `source` says where `settings` came from:
    "sshd -T" (sshd's own computation) or "sshd_config" (parsed here, OpenSSH 9.2
    defaults filled in; `defaults_applied` lists the keys that took a default), or None
    when neither was possible (`settings` None then). `sshd_t_error` is why `sshd -T`
    could not be used when it was tried (None when it worked or was not tried).
    `files_read` are the configuration files parsed, main file first, in the order sshd
    reads them; `match_blocks` the conditional blocks found there (None when the main
    file could not be read). `host_keys` are HostKey paths (files are never read).
    `config_problems` are lines sshd would reject (it then refuses to start).
    """

    model_config = ConfigDict(extra="forbid")

    installed: bool
    source: Source | None
    sshd_t_error: str | None
    settings: SshdSettings | None
    defaults_applied: list[str]
    host_keys: list[str] | None
    files_read: list[str]
    match_blocks: list[MatchBlock] | None
    config_problems: list[str]


# --- pure parsers -------------------------------------------------------------------


@dataclass(frozen=True)
class Directive:
    keyword: str  # lowercase, aliases resolved
    args: tuple[str, ...]
    line: int


@dataclass(frozen=True)
class Occurrence:
    args: tuple[str, ...]
    file: str
    line: int


@dataclass
class MatchBlockData:
    criteria: str
    file: str
    line: int
    within: str | None
    settings: list[tuple[str, Occurrence]] = field(default_factory=list)


@dataclass
class SshdConfig:
    """The configuration as sshd's startup pass sees it."""

    files: list[str] = field(default_factory=list)
    global_settings: dict[str, list[Occurrence]] = field(default_factory=dict)
    match_blocks: list[MatchBlockData] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def split_args(text: str) -> list[str] | None:
    """Words of `text` the way OpenSSH's argv_split() cuts them (comments end the line);
    None for an unterminated quote, which sshd rejects."""
    args: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text[i] in " \t":
            i += 1
            continue
        if text[i] == "#":
            break
        word: list[str] = []
        quote = ""
        while i < n:
            ch = text[i]
            if (
                ch == "\\"
                and i + 1 < n
                and (text[i + 1] in "'\"\\" or (not quote and text[i + 1] == " "))
            ):
                word.append(text[i + 1])
                i += 2
                continue
            if not quote and ch in " \t":
                break
            if not quote and ch in "\"'":
                quote = ch
            elif quote and ch == quote:
                quote = ""
            else:
                word.append(ch)
            i += 1
        if quote:
            return None
        args.append("".join(word))
    return args


_KEYWORD = re.compile(r"[ \t\f\r]*([^ \t\f\r=]*)[ \t\f\r]*=?[ \t\f\r]*(.*)", re.DOTALL)


def parse_sshd_config_text(
    text: str, name: str = "sshd_config"
) -> tuple[list[Directive], list[str]]:
    """Directives of one sshd_config file, and lines sshd would reject (`name` labels
    them). Unknown keywords are kept: they make sshd refuse to start, but they cannot
    change the settings reported here."""
    directives: list[Directive] = []
    problems: list[str] = []
    for number, raw in enumerate(text.split("\n"), start=1):
        match = _KEYWORD.match(raw.rstrip(" \t\f\r"))
        if match is None:  # pragma: no cover - the pattern matches every string
            continue
        keyword, rest = match.group(1), match.group(2)
        if not keyword or keyword.startswith("#"):
            continue
        args = split_args(rest)
        if args is None:
            problems.append(f"{name} line {number}: invalid quotes")
            continue
        if not args:
            problems.append(f'{name} line {number}: no argument after keyword "{keyword}"')
            continue
        lowered = keyword.lower()
        directives.append(Directive(KEYWORD_ALIASES.get(lowered, lowered), tuple(args), number))
    return directives, problems


def include_path(pattern: str) -> str:
    return pattern if pattern.startswith(("/", "~")) else f"{SSH_DIR}/{pattern}"


def evaluate_sshd_config(
    main: str,
    read: Callable[[str], str | None],
    expand: Callable[[str], list[str]],
) -> SshdConfig | None:
    """Walk `main` and its Includes; `read(path)` gives a file's text (None: unreadable),
    `expand(pattern)` the sorted paths matching an Include glob. None when `main` itself
    cannot be read."""
    text = read(main)
    if text is None:
        return None
    config = SshdConfig()
    state = _WalkState(active=True, block=None)
    _walk(config, main, text, state, depth=0, nevermatch=False, read=read, expand=expand)
    return config


@dataclass
class _WalkState:
    active: bool
    block: MatchBlockData | None


def _walk(
    config: SshdConfig,
    path: str,
    text: str,
    state: _WalkState,
    *,
    depth: int,
    nevermatch: bool,
    read: Callable[[str], str | None],
    expand: Callable[[str], list[str]],
) -> None:
    config.files.append(path)
    directives, problems = parse_sshd_config_text(text, path)
    config.problems.extend(problems)
    for directive in directives:
        if directive.keyword == "match":
            criteria = " ".join(directive.args)
            outer = state.block.criteria if nevermatch and state.block is not None else None
            if criteria.lower() == "all" and not nevermatch:
                state.active, state.block = True, None
            else:
                state.active = False
                state.block = MatchBlockData(criteria, path, directive.line, outer)
                config.match_blocks.append(state.block)
            continue
        if directive.keyword == "include":
            if depth + 1 > MAX_INCLUDE_DEPTH:
                config.problems.append(f"{path} line {directive.line}: Include nested too deep")
                continue
            saved_active, saved_block = state.active, state.block
            for pattern in directive.args:
                for included in expand(include_path(pattern)):
                    included_text = read(included)
                    if included_text is None:
                        continue
                    _walk(
                        config,
                        included,
                        included_text,
                        state,
                        depth=depth + 1,
                        nevermatch=nevermatch or not saved_active,
                        read=read,
                        expand=expand,
                    )
                    state.active, state.block = saved_active, saved_block
            continue
        occurrence = Occurrence(directive.args, path, directive.line)
        if state.active:
            config.global_settings.setdefault(directive.keyword, []).append(occurrence)
        elif state.block is not None:
            state.block.settings.append((directive.keyword, occurrence))
            if directive.keyword in GLOBAL_ONLY:
                config.problems.append(
                    f"{path} line {directive.line}: {directive.keyword} is not allowed"
                    " within a Match block"
                )


_TIME = re.compile(r"(?:[0-9]+[smhdwSMHDW]?)+")
_TIME_PART = re.compile(r"([0-9]+)([smhdwSMHDW]?)")
_TIME_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def convtime(text: str) -> int | None:
    """Seconds of an sshd time value ("90", "2m", "1h30m"); None when sshd rejects it."""
    if not text.isascii() or _TIME.fullmatch(text) is None:
        return None
    total = 0
    for number, unit in _TIME_PART.findall(text):
        total += int(number) * _TIME_UNITS[unit.lower()]
        if total > MAX_INT:
            return None
    return total


def parse_int(text: str) -> int | None:
    text = text.strip()
    if not text.isascii() or not re.fullmatch(r"[+-]?[0-9]+", text):
        return None
    value = int(text)
    return value if -MAX_INT <= value <= MAX_INT else None


def assemble_algorithms(spec: str, defaults: tuple[str, ...]) -> list[str]:
    """An algorithm list after OpenSSH's modifiers: "+a,b" appends to the defaults,
    "-pattern" removes matching ones (wildcards allowed), "^a" puts them first."""
    if spec.startswith("+"):
        extra = [name for name in spec[1:].split(",") if name]
        return list(defaults) + [name for name in extra if name not in defaults]
    if spec.startswith("-"):
        patterns = [p for p in spec[1:].split(",") if p]
        return [
            name for name in defaults if not any(fnmatch.fnmatchcase(name, p) for p in patterns)
        ]
    if spec.startswith("^"):
        first = [name for name in spec[1:].split(",") if name]
        return first + [name for name in defaults if name not in first]
    return [name for name in spec.split(",") if name]


def normalise_permitrootlogin(value: str) -> str:
    value = value.lower()
    return "prohibit-password" if value == "without-password" else value


# What sshd listens on without ListenAddress, per AddressFamily, in `sshd -T` order.
WILDCARDS = {
    "inet": ["0.0.0.0"],  # noqa: S104 (reported, not bound)
    "inet6": ["::"],
    "any": ["::", "0.0.0.0"],  # noqa: S104
}


def _format_listen(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def listen_addresses(
    occurrences: list[Occurrence], ports: list[int], family: str
) -> list[str] | None:
    """ListenAddress values as `sshd -T` prints them; the wildcard addresses of the
    address family when none is configured. None when an address cannot be parsed."""
    result: list[str] = []
    if not occurrences:
        wildcards = WILDCARDS.get(family, WILDCARDS["any"])
        return [_format_listen(address, port) for port in ports for address in wildcards]
    for occurrence in occurrences:
        spec, extra = occurrence.args[0], occurrence.args[1:]
        suffix = f" rdomain {extra[1]}" if len(extra) == 2 and extra[0] == "rdomain" else ""
        if "[" not in spec and spec.count(":") >= 2:  # a bare IPv6 address
            address, port_text = spec, ""
        else:
            bracketed = re.fullmatch(r"\[([^\]]*)\](?::([^:]*))?", spec)
            if bracketed:
                address, port_text = bracketed.group(1), bracketed.group(2) or ""
            else:
                address, _, port_text = spec.partition(":")
        if port_text:
            port = parse_int(port_text)
            if port is None or not 0 < port < 65536:
                return None
            result.append(_format_listen(address, port) + suffix)
        else:
            result.extend(_format_listen(address, p) + suffix for p in ports)
    return result


def effective_from_config(config: SshdConfig) -> tuple[SshdSettings, list[str], list[str]]:
    """(settings, keys that took the OpenSSH default, host key paths) of a parsed
    configuration: first value wins, accumulating keywords collect every line."""
    found = config.global_settings
    defaulted: list[str] = []
    values: dict[str, object] = {}

    def first(key: str) -> str | None:
        occurrences = found.get(key)
        return occurrences[0].args[0] if occurrences else None

    def every(key: str) -> list[str]:
        return [arg for occurrence in found.get(key, []) for arg in occurrence.args]

    for key in ("permitrootlogin", *FLAG_KEYS, "protocol", "banner"):
        raw = first(key)
        if raw is None:
            values[key] = OPENSSH_DEFAULTS[key]
            defaulted.append(key)
        elif key == "permitrootlogin":
            values[key] = normalise_permitrootlogin(raw)
        else:
            values[key] = raw if key in ("protocol", "banner") else raw.lower()
    for key in (*INT_KEYS, *TIME_KEYS):
        raw = first(key)
        if raw is None:
            values[key] = OPENSSH_DEFAULTS[key]
            defaulted.append(key)
        else:
            values[key] = parse_int(raw) if key in INT_KEYS else convtime(raw)
    for key, defaults in ALGORITHM_KEYS.items():
        raw = first(key)
        if raw is None:
            values[key] = list(defaults)
            defaulted.append(key)
        else:
            values[key] = assemble_algorithms(raw, defaults)
    for key in USER_LIST_KEYS:
        values[key] = every(key)
    for key in ("loglevel", "syslogfacility"):
        raw = first(key)
        if raw is None:
            values[key] = OPENSSH_DEFAULTS[key]
            defaulted.append(key)
        else:
            values[key] = raw.upper()
    port_texts = every("port")
    ports: list[int] | None
    if port_texts:
        parsed = [parse_int(text) for text in port_texts]
        ports = [p for p in parsed if p is not None and 0 < p < 65536]
        if len(ports) != len(parsed):
            ports = None
    else:
        ports = [22]
        defaulted.append("port")
    values["port"] = ports
    if "listenaddress" not in found:
        defaulted.append("listenaddress")
    family = (first("addressfamily") or "any").lower()
    values["listenaddress"] = (
        listen_addresses(found.get("listenaddress", []), ports, family)
        if ports is not None
        else None
    )
    host_keys = every("hostkey") or list(OPENSSH_DEFAULT_HOST_KEYS)
    return SshdSettings.model_validate(values), sorted(defaulted), host_keys


def parse_sshd_t(text: str) -> dict[str, list[str]]:
    """`sshd -T` output: lowercase key -> the value of each line printing it."""
    result: dict[str, list[str]] = {}
    for line in text.splitlines():
        key, _, value = line.strip().partition(" ")
        if key:
            result.setdefault(key.lower(), []).append(value.strip())
    return result


def settings_from_sshd_t(dump: dict[str, list[str]]) -> tuple[SshdSettings, list[str]]:
    """(settings, host key paths) from parsed `sshd -T` output."""
    values: dict[str, object] = {}

    def one(key: str) -> str | None:
        lines = dump.get(key)
        return lines[0] if lines else None

    root = one("permitrootlogin")
    values["permitrootlogin"] = normalise_permitrootlogin(root) if root is not None else None
    for key in FLAG_KEYS:
        raw = one(key)
        if raw is None and key == "kbdinteractiveauthentication":
            raw = one("challengeresponseauthentication")  # sshd before 8.7
        values[key] = raw.lower() if raw is not None else None
    for key in (*INT_KEYS, *TIME_KEYS):
        raw = one(key)
        values[key] = parse_int(raw) if raw is not None else None
    protocol = one("protocol")
    values["protocol"] = protocol if protocol is not None else "2"
    for key in ALGORITHM_KEYS:
        raw = one(key)
        values[key] = [name for name in raw.split(",") if name] if raw is not None else None
    for key in USER_LIST_KEYS:
        values[key] = [word for line in dump.get(key, []) for word in line.split()]
    values["banner"] = one("banner")
    ports = [parse_int(text) for text in dump.get("port", [])]
    values["port"] = [p for p in ports if p is not None] if ports else None
    values["listenaddress"] = list(dump["listenaddress"]) if "listenaddress" in dump else None
    for key in ("loglevel", "syslogfacility"):
        raw = one(key)
        values[key] = raw.upper() if raw is not None else None
    return SshdSettings.model_validate(values), list(dump.get("hostkey", []))


def match_blocks_model(config: SshdConfig) -> list[MatchBlock]:
    return [
        MatchBlock(
            criteria=block.criteria,
            file=block.file,
            line=block.line,
            within=block.within,
            settings=[
                MatchSetting(
                    keyword=keyword,
                    value=" ".join(occurrence.args),
                    file=occurrence.file,
                    line=occurrence.line,
                )
                for keyword, occurrence in block.settings
            ],
        )
        for block in config.match_blocks
    ]


# --- collection ---------------------------------------------------------------------


def _glob(c: Collection, pattern: str) -> list[str]:
    """Paths matching an Include glob, component by component through the host, sorted
    like glob(3); a literal path is returned only when it exists."""
    if not pattern.startswith("/"):
        return []  # "~" paths name the invoking user's home: not meaningful here
    candidates = ["/"]
    parts = [part for part in pattern.split("/") if part]
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        following: list[str] = []
        for base in candidates:
            prefix = base.rstrip("/")
            if not any(ch in part for ch in "*?["):
                path = f"{prefix}/{part}"
                if c.host.exists(path):
                    following.append(path)
                continue
            names = c.list_dir(base, missing_ok=True) or []
            for name in names:
                if name.startswith(".") and not part.startswith("."):
                    continue
                if fnmatch.fnmatchcase(name, part):
                    path = f"{prefix}/{name}"
                    info = c.host.stat(path)
                    if info is not None and (last or info.is_dir):
                        following.append(path)
        candidates = following
    return sorted(candidates)


def _run_sshd_t(c: Collection) -> tuple[dict[str, list[str]] | None, str | None]:
    result = c.run([SSHD, "-T"], timeout=SSHD_T_TIMEOUT)
    if result.ok:
        dump = parse_sshd_t(result.stdout.decode("utf-8", errors="replace"))
        if "permitrootlogin" in dump:
            return dump, None
        c.error("sshd -T: output without a permitrootlogin line")
        return None, "output without a permitrootlogin line"
    if result.error is not None:
        return None, result.error
    stderr = result.stderr.decode("utf-8", errors="replace").strip().splitlines()
    return None, f"exit {result.exit}" + (f": {stderr[-1][:200]}" if stderr else "")


def configured_host_keys(c: Collection) -> list[str] | None:
    """The HostKey files sshd loads, from sshd_config and its Includes (OpenSSH's
    defaults when none is named); None when sshd_config cannot be read."""
    config = evaluate_sshd_config(
        SSHD_CONFIG, lambda path: c.read_text(path, missing_ok=True), lambda p: _glob(c, p)
    )
    return None if config is None else effective_from_config(config)[2]


@collector("configuration.sshd", version="1", category="configuration", facts=SshdFacts)
def collect(c: Collection) -> SshdFacts:
    """Effective sshd settings from `sshd -T`, else from sshd_config with its Includes."""
    installed = c.host.exists(SSHD)
    dump, sshd_t_error = _run_sshd_t(c) if installed else (None, None)

    def read(path: str) -> str | None:
        return c.read_text(path, missing_ok=path != SSHD_CONFIG or not installed)

    config = evaluate_sshd_config(SSHD_CONFIG, read, lambda pattern: _glob(c, pattern))
    match_blocks = match_blocks_model(config) if config is not None else None
    files = config.files if config is not None else []
    problems = config.problems if config is not None else []
    if dump is not None:
        settings, host_keys = settings_from_sshd_t(dump)
        return SshdFacts(
            installed=installed,
            source="sshd -T",
            sshd_t_error=None,
            settings=settings,
            defaults_applied=[],
            host_keys=host_keys,
            files_read=files,
            match_blocks=match_blocks,
            config_problems=problems,
        )
    if config is None:
        return SshdFacts(
            installed=installed,
            source=None,
            sshd_t_error=sshd_t_error,
            settings=None,
            defaults_applied=[],
            host_keys=None,
            files_read=[],
            match_blocks=None,
            config_problems=[],
        )
    settings, defaulted, host_keys = effective_from_config(config)
    return SshdFacts(
        installed=installed,
        source="sshd_config",
        sshd_t_error=sshd_t_error,
        settings=settings,
        defaults_applied=defaulted,
        host_keys=host_keys,
        files_read=files,
        match_blocks=match_blocks,
        config_problems=problems,
    )
