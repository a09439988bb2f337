"""configuration.network: security-relevant kernel settings (runtime and configured) and
the host firewall (nftables or iptables), reduced to policies, counts and a hash.

The firewall ruleset text never leaves the host: its sha256 is the evidence, alongside
the default policies of the filter chains and the number of rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal, cast

from pydantic import BaseModel, ConfigDict

from collectors.provenance import Collection
from collectors.registry import collector
from evidence.canonical import sha256_hex

SYSCTL_KEYS = (
    "net.ipv4.ip_forward",
    "net.ipv4.conf.all.accept_redirects",
    "net.ipv4.conf.all.send_redirects",
    "net.ipv4.conf.all.accept_source_route",
    "net.ipv4.conf.all.rp_filter",
    "net.ipv4.conf.all.log_martians",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.icmp_echo_ignore_broadcasts",
    "net.ipv6.conf.all.accept_redirects",
    "kernel.randomize_va_space",
    "kernel.dmesg_restrict",
    "kernel.kptr_restrict",
    "kernel.yama.ptrace_scope",
    "fs.suid_dumpable",
    "fs.protected_hardlinks",
    "fs.protected_symlinks",
)
PROC_SYS = "/proc/sys"
# sysctl.d(5) directories in precedence order: a file name in an earlier one hides the
# same name in later ones; all files are then applied sorted by name.
SYSCTL_DIRS = (
    "/etc/sysctl.d",
    "/run/sysctl.d",
    "/usr/local/lib/sysctl.d",
    "/usr/lib/sysctl.d",
    "/lib/sysctl.d",
)
SYSCTL_CONF = "/etc/sysctl.conf"  # applied last by `sysctl --system` (procps)
SMALL_FILE_MAX = 1024 * 1024
MAX_VALUE_CHARS = 256
MAX_SYSCTL_INT = 2**53 - 1
COMMAND_TIMEOUT = 30.0

NFT_PATHS = ("/usr/sbin/nft", "/sbin/nft")
IPTABLES_SAVE: dict[Literal["ip", "ip6"], tuple[str, ...]] = {
    "ip": ("/usr/sbin/iptables-save", "/sbin/iptables-save"),
    "ip6": ("/usr/sbin/ip6tables-save", "/sbin/ip6tables-save"),
}
# Files that persist a ruleset across boots, and their format.
# (path, format, IP family of an iptables-save file; nft files name theirs per table)
FIREWALL_FILES: tuple[tuple[str, Literal["nft", "iptables-save"], Literal["ip", "ip6"]], ...] = (
    ("/etc/nftables.conf", "nft", "ip"),  # Debian nftables.service
    ("/etc/sysconfig/nftables.conf", "nft", "ip"),  # RHEL nftables.service
    ("/etc/iptables/rules.v4", "iptables-save", "ip"),  # Debian iptables-persistent
    ("/etc/iptables/rules.v6", "iptables-save", "ip6"),
    ("/etc/sysconfig/iptables", "iptables-save", "ip"),  # RHEL iptables-services
    ("/etc/sysconfig/ip6tables", "iptables-save", "ip6"),
)
HOOKS = ("input", "forward", "output")
IP_FAMILIES = {"ip": ("ipv4",), "ip6": ("ipv6",), "inet": ("ipv4", "ipv6")}

Family = Literal["ip", "ip6", "inet"]


class _Facts(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SysctlSetting(_Facts):
    """A sysctl key set in a configuration file: the value the last file sets (as text,
    at most 256 characters) and that file. Keys are in dotted form ("net.ipv4.ip_forward");
    a glob key ("net.ipv4.conf.*.rp_filter") is kept as written."""

    key: str
    value: str
    file: str


class FirewallChain(_Facts):
    """A base chain of type filter on the input, forward or output hook.

    `family` "ip" (IPv4), "ip6" or "inet" (both); `table` the table name ("filter");
    `policy` lower-case ("accept", "drop"); an nftables base chain without a policy
    statement accepts. `final_rule` is "drop" or "reject" when the chain's last rule
    drops or rejects every packet that reaches it (firewalld's and Debian's workstation
    example's way to deny by default under an accepting policy), else None."""

    family: Family
    table: str
    chain: str
    hook: str
    policy: str
    final_rule: Literal["drop", "reject"] | None = None


class Ruleset(_Facts):
    """One ruleset: live (`source` is the command) or persisted (`source` is the file).

    `tables` are "family name" ("inet filter", "ip filter"). `rule_count` counts rules in
    every table and chain. `sha256` is the hash of the ruleset text with comment lines
    dropped and packet/byte counters zeroed, so it changes when rules change and not
    when traffic flows."""

    source: str
    format: Literal["nft", "iptables-save"]
    tables: list[str]
    chains: list[FirewallChain]
    rule_count: int
    sha256: str


class FirewallFacts(_Facts):
    """The host firewall.

    `backend`: "nftables" when the nft ruleset holds a table, else "iptables" when
    iptables-save shows a table, "none" when the tools ran and nothing is loaded, None
    when no tool could run (a root tree, no permission, not installed). `rulesets`: the
    live rulesets read (None when none could be). `policies`: per IP family, the default
    policy of each of input/forward/output: "drop" when any filter base chain on that
    hook drops, by its policy or by a final rule that drops or rejects everything, else
    "accept"; None when `rulesets` is None.
    `config_files`: which persisted-ruleset files exist; `configured`: those parsed.
    """

    backend: Literal["nftables", "iptables", "none"] | None
    rulesets: list[Ruleset] | None
    policies: dict[str, dict[str, str]] | None
    config_files: dict[str, bool]
    configured: list[Ruleset]


class NetworkFacts(_Facts):
    """Facts of `configuration.network`.

    `sysctl`: the running kernel's value of each tracked key as an int, None when the
    key is absent (a feature not built in) or /proc/sys is not readable (see errors).
    `sysctl_configured`: effective settings of /etc/sysctl.conf and the sysctl.d
    directories, sorted by key, after precedence (None when no directory could be
    listed). `sysctl_files`: the configuration files in the order they apply.
    """

    sysctl: dict[str, int | None]
    sysctl_configured: list[SysctlSetting] | None
    sysctl_files: list[str]
    firewall: FirewallFacts


# --- sysctl parsers -----------------------------------------------------------------


def normalize_sysctl_key(key: str) -> str:
    """Dotted form of a sysctl key: "net/ipv4/ip_forward" → "net.ipv4.ip_forward".

    sysctl.d(5): when the first separator is a slash, dots are part of names (an
    interface "eth0.100"), so slashes and dots swap, as `sysctl` itself prints them."""
    first = re.search(r"[./]", key)
    if first is None or first.group() == ".":
        return key
    return key.translate(str.maketrans("/.", "./"))


def parse_sysctl_conf(text: str) -> list[tuple[str, str]]:
    """(key, value) pairs of a sysctl.conf/sysctl.d file, in file order.

    Comments start with "#" or ";"; a leading "-" (ignore a failing write) is dropped;
    lines without "=" are skipped; values are stripped and cut to 256 characters."""
    pairs = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        key, equals, value = line.partition("=")
        key = key.strip().removeprefix("-").strip()
        if not equals or not key or any(ch.isspace() for ch in key):
            continue
        pairs.append((normalize_sysctl_key(key), value.strip()[:MAX_VALUE_CHARS]))
    return pairs


def sysctl_file_order(listings: dict[str, list[str]]) -> list[str]:
    """Paths of the *.conf files to apply, sorted by file name, a name in an earlier
    directory (in SYSCTL_DIRS order) hiding the same name in later ones."""
    chosen: dict[str, str] = {}
    for directory in SYSCTL_DIRS:
        for name in listings.get(directory, []):
            if name.endswith(".conf") and name not in chosen:
                chosen[name] = f"{directory}/{name}"
    return [chosen[name] for name in sorted(chosen)]


def effective_sysctl(files: list[tuple[str, str]]) -> list[SysctlSetting]:
    """The last value each key gets over `files` ((path, text) in apply order)."""
    settings: dict[str, SysctlSetting] = {}
    for path, text in files:
        for key, value in parse_sysctl_conf(text):
            settings[key] = SysctlSetting(key=key, value=value, file=path)
    return [settings[key] for key in sorted(settings)]


def parse_sysctl_value(text: str) -> int | None:
    """A /proc/sys value as an int; None for anything else (several values, text)."""
    text = text.strip()
    if not re.fullmatch(r"-?[0-9]{1,16}", text):
        return None
    value = int(text)
    return value if abs(value) <= MAX_SYSCTL_INT else None


# --- firewall parsers ---------------------------------------------------------------


@dataclass
class ParsedRuleset:
    tables: list[str] = field(default_factory=list)
    chains: list[FirewallChain] = field(default_factory=list)
    rule_count: int = 0


def parse_iptables_save(text: str, family: Literal["ip", "ip6"]) -> ParsedRuleset:
    """Tables, filter-table built-in chain policies and the "-A" rule count of
    iptables-save / ip6tables-save output (or a rules.v4-style file)."""
    parsed = ParsedRuleset()
    table: str | None = None
    last_rule: dict[str, str] = {}  # filter-table chain -> its last rule, after "-A CHAIN"
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("*"):
            table = line[1:].strip()
            if table and f"{family} {table}" not in parsed.tables:
                parsed.tables.append(f"{family} {table}")
        elif line == "COMMIT":
            table = None
        elif table is None:
            continue
        elif line.startswith(":"):
            parts = line[1:].split()
            if (
                table == "filter"
                and len(parts) >= 2
                and parts[0].lower() in HOOKS
                and parts[0].isupper()
                and parts[1] != "-"
            ):
                parsed.chains.append(
                    FirewallChain(
                        family=family,
                        table=table,
                        chain=parts[0],
                        hook=parts[0].lower(),
                        policy=parts[1].lower(),
                    )
                )
        elif line.startswith(("-A ", "-I ")):
            parsed.rule_count += 1
            words = line.split()
            if table == "filter" and line.startswith("-A ") and len(words) >= 2:
                last_rule[words[1]] = " ".join(words[2:])
    for chain in parsed.chains:
        chain.final_rule = _iptables_final(last_rule.get(chain.chain))
    return parsed


def _iptables_final(rule: str | None) -> Literal["drop", "reject"] | None:
    """ "drop"/"reject" for a rule with no match at all: `-j DROP`, `-j REJECT [...]`."""
    words = (rule or "").split()
    if words == ["-j", "DROP"]:
        return "drop"
    if words[:2] == ["-j", "REJECT"] and words[2:] in ([], ["--reject-with", *words[3:4]]):
        return "reject"
    return None


def _nft_final(rule: str | None) -> Literal["drop", "reject"] | None:
    """ "drop"/"reject" for an nft rule that is only a verdict, perhaps with a counter:
    `counter drop`, `counter packets 0 bytes 0 drop`, `reject with icmpx admin-prohibited`."""
    words = (rule or "").split()
    while words[:1] == ["counter"]:
        words = words[1:]
        if words[:1] == ["packets"] and words[2:3] == ["bytes"]:
            words = words[4:]
    if words == ["drop"]:
        return "drop"
    if words[:1] == ["reject"] and (len(words) == 1 or words[1] == "with"):
        return "reject"
    return None


_NFT_BLOCK_PREFIXES = ("add", "create")


@dataclass
class _Block:
    kind: Literal["top", "table", "chain", "other"]
    family: str = ""
    table: str = ""
    chain: str = ""
    chain_type: str | None = None
    hook: str | None = None
    policy: str | None = None
    last_rule: str | None = None


def _command_words(statement: str) -> list[str]:
    words = statement.split()
    if words and words[0] in _NFT_BLOCK_PREFIXES:
        words = words[1:]
    return words


def _table_of(words: list[str]) -> tuple[str, str]:
    """(family, name) from "FAMILY NAME ..." or "NAME" (family ip, nft's default)."""
    if len(words) >= 2 and words[0] in ("ip", "ip6", "inet", "arp", "bridge", "netdev"):
        return words[0], words[1]
    return "ip", words[0] if words else ""


class _NftParser:
    def __init__(self) -> None:
        self.stack: list[_Block] = [_Block("top")]
        self.result = ParsedRuleset()

    def add_table(self, family: str, name: str) -> None:
        label = f"{family} {name}"
        if name and label not in self.result.tables:
            self.result.tables.append(label)

    def open_block(self, statement: str) -> None:
        current = self.stack[-1]
        words = _command_words(statement)
        keyword = words[0] if words else ""
        if current.kind == "top" and keyword == "table":
            family, name = _table_of(words[1:])
            self.add_table(family, name)
            self.stack.append(_Block("table", family=family, table=name))
        elif current.kind == "table" and keyword == "chain" and len(words) >= 2:
            self.stack.append(
                _Block("chain", family=current.family, table=current.table, chain=words[1])
            )
        elif current.kind == "top" and keyword == "chain" and len(words) >= 3:
            family, name = _table_of(words[1:-1])
            self.add_table(family, name)
            self.stack.append(_Block("chain", family=family, table=name, chain=words[-1]))
        else:
            self.stack.append(_Block("other"))

    def close_block(self) -> None:
        if len(self.stack) == 1:
            return  # an unbalanced "}": ignore
        block = self.stack.pop()
        if (
            block.kind == "chain"
            and block.chain_type == "filter"
            and block.hook in HOOKS
            and block.family in IP_FAMILIES
        ):
            self.result.chains.append(
                FirewallChain(
                    family=cast(Family, block.family),
                    table=block.table,
                    chain=block.chain,
                    hook=block.hook,
                    policy=(block.policy or "accept").lower(),
                    final_rule=_nft_final(block.last_rule),
                )
            )

    def statement(self, statement: str) -> None:
        words = statement.split()
        if not words:
            return
        block = self.stack[-1]
        if block.kind == "chain":
            if words[0] == "type" and "hook" in words[:-1]:
                block.chain_type = words[1] if len(words) > 1 else None
                block.hook = words[words.index("hook") + 1]
                if "policy" in words[:-1]:  # "type ... priority 0 policy drop" (no ";")
                    block.policy = words[words.index("policy") + 1]
            elif words[0] == "policy" and len(words) > 1:
                block.policy = words[1]
            elif words[0] not in ("comment", "devices", "device", "flags"):
                self.result.rule_count += 1
                block.last_rule = statement
        elif block.kind == "top":  # nft commands: "add rule ...", "insert rule ...", "table ..."
            if words[0] == "rule" or (words[0] in ("add", "insert") and words[1:2] == ["rule"]):
                self.result.rule_count += 1
            elif _command_words(statement)[:1] == ["table"]:
                self.add_table(*_table_of(_command_words(statement)[1:]))


def _strip_nft_comment(line: str) -> str:
    quoted = False
    for index, ch in enumerate(line):
        if ch == '"':
            quoted = not quoted
        elif ch == "#" and not quoted:
            return line[:index]
    return line


def parse_nft(text: str) -> ParsedRuleset:
    """Tables, filter base chains (hook and policy) and the rule count of `nft list
    ruleset` output or an nft script such as /etc/nftables.conf.

    Braces that open a table, chain, set, map or other object are blocks; braces inside
    a rule (anonymous sets, verdict maps) belong to that rule, which may span lines.
    "include" lines are not followed."""
    parser = _NftParser()
    text = re.sub(r"\\\n", " ", text)
    buffer: list[str] = []
    inline = 0  # depth of braces that are part of the current statement
    for line in text.splitlines():
        quoted = False
        for ch in _strip_nft_comment(line) + "\n":
            if ch == '"':
                quoted = not quoted
                buffer.append(ch)
            elif quoted:
                buffer.append(ch)
            elif ch == "{":
                statement = "".join(buffer).strip()
                kind = parser.stack[-1].kind
                first = statement.split()[0] if statement else ""
                if inline or kind in ("chain", "other") or first == "define" or not statement:
                    inline += 1
                    buffer.append(ch)
                else:
                    parser.open_block(statement)
                    buffer = []
            elif ch == "}":
                if inline:
                    inline -= 1
                    buffer.append(ch)
                else:
                    parser.statement("".join(buffer))
                    buffer = []
                    parser.close_block()
            elif ch in ";\n":
                if inline:
                    buffer.append(" ")
                else:
                    parser.statement("".join(buffer))
                    buffer = []
            else:
                buffer.append(ch)
    parser.statement("".join(buffer))
    return parser.result


_COUNTERS = re.compile(r"\[\d+:\d+\]")
_NFT_COUNTER = re.compile(r"\bpackets \d+ bytes \d+\b")


def ruleset_hash(text: str) -> str:
    """sha256 of the ruleset without comment lines and with counters zeroed."""
    lines = [
        _NFT_COUNTER.sub("packets 0 bytes 0", _COUNTERS.sub("[0:0]", line.rstrip()))
        for line in text.splitlines()
        if not line.lstrip().startswith("#")
    ]
    return sha256_hex("\n".join(lines).encode("utf-8"))


def make_ruleset(
    source: str, fmt: Literal["nft", "iptables-save"], text: str, family: Literal["ip", "ip6"]
) -> Ruleset:
    parsed = parse_nft(text) if fmt == "nft" else parse_iptables_save(text, family)
    return Ruleset(
        source=source,
        format=fmt,
        tables=parsed.tables,
        chains=parsed.chains,
        rule_count=parsed.rule_count,
        sha256=ruleset_hash(text),
    )


def effective_policies(rulesets: list[Ruleset]) -> dict[str, dict[str, str]]:
    """Per IP family and hook: "drop" when any filter base chain there drops."""
    policies = {family: dict.fromkeys(HOOKS, "accept") for family in ("ipv4", "ipv6")}
    for ruleset in rulesets:
        for chain in ruleset.chains:
            denies = chain.policy == "drop" or chain.final_rule is not None
            if denies and chain.hook in HOOKS:
                for family in IP_FAMILIES[chain.family]:
                    policies[family][chain.hook] = "drop"
    return policies


def firewall_backend(
    rulesets: list[Ruleset],
) -> Literal["nftables", "iptables", "none"]:
    if any(r.format == "nft" and r.tables for r in rulesets):
        return "nftables"
    if any(r.format == "iptables-save" and r.tables for r in rulesets):
        return "iptables"
    return "none"


# --- collection ---------------------------------------------------------------------


def _runtime_sysctl(c: Collection) -> dict[str, int | None]:
    values: dict[str, int | None] = dict.fromkeys(SYSCTL_KEYS)
    if not c.host.exists(f"{PROC_SYS}/kernel"):
        c.error(f"{PROC_SYS} not available: runtime kernel settings not observed")
        return values
    for key in SYSCTL_KEYS:
        path = f"{PROC_SYS}/{key.replace('.', '/')}"
        text = c.read_text(path, max_bytes=4096, missing_ok=True)
        if text is None:
            continue
        values[key] = parse_sysctl_value(text)
        if values[key] is None:
            c.error(f"{path}: not an integer: {text.strip()[:40]!r}")
    return values


def _configured_sysctl(c: Collection) -> tuple[list[SysctlSetting] | None, list[str]]:
    listings: dict[str, list[str]] = {}
    for directory in SYSCTL_DIRS:
        names = c.list_dir(directory, missing_ok=True)
        if names is not None:
            listings[directory] = names
    paths = sysctl_file_order(listings)
    if c.host.exists(SYSCTL_CONF):
        paths.append(SYSCTL_CONF)
    if not listings and not paths:
        return None, []
    files = []
    for path in paths:
        text = c.read_text(path, max_bytes=SMALL_FILE_MAX)
        if text is not None:
            files.append((path, text))
    return effective_sysctl(files), [path for path, _ in files]


def _first_existing(c: Collection, paths: tuple[str, ...]) -> str | None:
    return next((path for path in paths if c.host.exists(path)), None)


def _live_rulesets(c: Collection) -> list[Ruleset] | None:
    rulesets: list[Ruleset] = []
    attempted = failed = 0
    nft = _first_existing(c, NFT_PATHS)
    if nft is not None:
        attempted += 1
        result = c.run([nft, "list", "ruleset"], timeout=COMMAND_TIMEOUT)
        if result.ok:
            text = result.stdout.decode("utf-8", errors="replace")
            rulesets.append(make_ruleset("nft list ruleset", "nft", text, "ip"))
        else:
            failed += 1
    for family, candidates in IPTABLES_SAVE.items():
        tool = _first_existing(c, candidates)
        if tool is None:
            continue
        attempted += 1
        result = c.run([tool], timeout=COMMAND_TIMEOUT)
        if result.ok:
            text = result.stdout.decode("utf-8", errors="replace")
            name = tool.rsplit("/", 1)[-1]
            rulesets.append(make_ruleset(name, "iptables-save", text, family))
        else:
            failed += 1
    if attempted == 0:
        c.error("neither nft nor iptables-save is installed: live firewall not observed")
        return None
    if failed == attempted:
        return None  # every failure is already an error line
    return rulesets


def _firewall(c: Collection) -> FirewallFacts:
    rulesets = _live_rulesets(c)
    config_files: dict[str, bool] = {}
    configured: list[Ruleset] = []
    for path, fmt, family in FIREWALL_FILES:
        config_files[path] = c.host.exists(path)
        if not config_files[path]:
            continue
        text = c.read_text(path, max_bytes=SMALL_FILE_MAX)
        if text is not None:
            configured.append(make_ruleset(path, fmt, text, family))
    return FirewallFacts(
        backend=firewall_backend(rulesets) if rulesets is not None else None,
        rulesets=rulesets,
        policies=effective_policies(rulesets) if rulesets is not None else None,
        config_files=config_files,
        configured=configured,
    )


@collector("configuration.network", version="2", category="configuration", facts=NetworkFacts)
def collect(c: Collection) -> NetworkFacts:
    """Security-relevant sysctl values (runtime and configured) and the host firewall."""
    configured, files = _configured_sysctl(c)
    return NetworkFacts(
        sysctl=_runtime_sysctl(c),
        sysctl_configured=configured,
        sysctl_files=files,
        firewall=_firewall(c),
    )
