"""access.sudoers: who may run what through sudo, read from /etc/sudoers and its includes.

The grammar follows sudoers(5) of sudo 1.9: `#include`/`@include` and
`#includedir`/`@includedir` (relative paths are relative to the including file, `%h` is
the short host name, files in an include directory ending in `~` or containing `.` are
skipped), backslash line continuations, `#` comments (but `#123` is a uid), `Defaults`
lines with their bindings, the four alias kinds and user specifications with Runas
lists, tags (NOPASSWD: ...), options (CWD=, TIMEOUT=, ...) and digests. A line that is
not understood is reported by file and line (and its first 200 characters, with values
of secret-looking keys redacted), never guessed at.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict

from collectors.provenance import Collection
from collectors.redact import redact
from collectors.registry import collector

SUDOERS = "/etc/sudoers"
HOSTNAME = "/etc/hostname"
# sudo refuses deeper nesting; a loop of includes would otherwise never end.
MAX_INCLUDE_DEPTH = 128
PROBLEM_TEXT_LIMIT = 200
# The runas user when a specification gives no Runas list (the `runas_default` option).
DEFAULT_RUNAS = "root"

ALIAS_KINDS = {
    "User_Alias": "user",
    "Runas_Alias": "runas",
    "Host_Alias": "host",
    "Cmnd_Alias": "command",
    "Cmd_Alias": "command",
}
TAGS = frozenset(
    {
        "NOPASSWD",
        "PASSWD",
        "NOEXEC",
        "EXEC",
        "SETENV",
        "NOSETENV",
        "LOG_INPUT",
        "NOLOG_INPUT",
        "LOG_OUTPUT",
        "NOLOG_OUTPUT",
        "MAIL",
        "NOMAIL",
        "FOLLOW",
        "NOFOLLOW",
        "INTERCEPT",
        "NOINTERCEPT",
    }
)
# Tags that cancel each other; the later one wins for the commands after it.
_OPPOSITE = {
    "NOPASSWD": "PASSWD",
    "NOEXEC": "EXEC",
    "SETENV": "NOSETENV",
    "LOG_INPUT": "NOLOG_INPUT",
    "LOG_OUTPUT": "NOLOG_OUTPUT",
    "MAIL": "NOMAIL",
    "FOLLOW": "NOFOLLOW",
    "INTERCEPT": "NOINTERCEPT",
}
_OPPOSITE.update({value: key for key, value in list(_OPPOSITE.items())})
COMMAND_OPTIONS = frozenset(
    {"CWD", "CHROOT", "ROLE", "TYPE", "TIMEOUT", "NOTBEFORE", "NOTAFTER", "APPARMOR_PROFILE"}
)
DIGESTS = ("sha224", "sha256", "sha384", "sha512")
# Defaults that say something about logging, the terminal, the environment and the
# password prompt; their last global (unbound) setting is reported in `notable_defaults`.
NOTABLE_DEFAULTS = (
    "use_pty",
    "logfile",
    "log_input",
    "log_output",
    "requiretty",
    "env_reset",
    "secure_path",
    "timestamp_timeout",
    "passwd_timeout",
    "authenticate",
)
_SECRETISH = re.compile(r"pass|secret|token|key|credential", re.IGNORECASE)
# sudo options whose names look secret-ish but whose values never are.
_SAFE_VALUE_OPTIONS = frozenset(
    {
        "passwd_timeout",
        "passwd_tries",
        "passprompt",
        "passprompt_override",
        "passprompt_regex",
        "badpass_message",
        "env_keep",
        "env_check",
        "env_delete",
    }
)
_ALIAS_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
_DIRECTIVE = re.compile(r"^\s*[#@](include|includedir)[ \t]+(.*?)\s*$")
_DEFAULTS = re.compile(r"^Defaults(?=$|[\s:@!>])")
_ALIAS_LINE = re.compile(r"^(User_Alias|Runas_Alias|Host_Alias|Cmnd_Alias|Cmd_Alias)\s+(.*)$")
_PARAM = re.compile(r"^(!*)\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:(\+=|-=|=)\s*(.*?))?\s*$", re.DOTALL)


class SudoersProblem(BaseModel):
    """A line sudo's grammar (as understood here) does not explain, or a failed include.

    `text` is at most the first 200 characters of the line with values of
    secret-looking keys replaced by `<redacted>`; None for problems not about one line.
    """

    model_config = ConfigDict(extra="forbid")

    file: str
    line: int | None
    reason: str
    text: str | None


class DefaultsEntry(BaseModel):
    """One parameter of a `Defaults` line.

    `binding` is the text after `Defaults` up to the first blank, e.g. ":millert",
    "@SERVERS", ">root", "!PAGERS", or None for a global default. `operator` is "=",
    "+=", "-=" or None for a flag; `negated` is True for `!name`. `value` is the
    unquoted value (None for flags), redacted for secret-looking option names.
    """

    model_config = ConfigDict(extra="forbid")

    file: str
    line: int
    binding: str | None
    name: str
    negated: bool
    operator: str | None
    value: str | None


class UserSpec(BaseModel):
    """One privilege of a user specification (a line with `host = cmd : host2 = cmd2`
    gives one UserSpec per host part, with the same file and line).

    `who` is the user list with User_Alias names expanded: user names, "%group",
    "#uid", "%#gid", "+netgroup", "ALL"; a "!" prefix excludes. `hosts` likewise with
    Host_Alias names expanded. `runas` are the Runas users (Runas_Alias expanded; "root",
    the runas_default, when the specification names none) and `runas_groups` the Runas
    groups ([] when none are given). `commands` have Cmnd_Alias names expanded, "!"
    for an excluded command and "shaNNN:digest " before a digest-checked one.
    `tags` is every tag in effect for some command (e.g. "NOPASSWD", "SETENV");
    `nopasswd` is True when some command needs no password; `all_commands` when a
    non-excluded command is ALL; `nopasswd_all` when ALL itself needs no password.
    """

    model_config = ConfigDict(extra="forbid")

    file: str
    line: int
    who: list[str]
    hosts: list[str]
    runas: list[str]
    runas_groups: list[str]
    commands: list[str]
    tags: list[str]
    nopasswd: bool
    all_commands: bool
    nopasswd_all: bool


class NotableDefault(BaseModel):
    """The last global setting of a notable option: `enabled` False for `!name`,
    `value` for options with a value (None for flags)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool
    value: str | None
    file: str
    line: int


class SudoersFacts(BaseModel):
    """Facts of `access.sudoers`.

    `present` is False when /etc/sudoers does not exist (sudo not configured: the lists
    are then empty, not unknown) and None when it could not be read (lists None).
    `files_read` are the files parsed, in order. `notable_defaults` maps each of use_pty,
    logfile, log_input, log_output, requiretty, env_reset, secure_path,
    timestamp_timeout (minutes, as written), passwd_timeout (minutes) and authenticate
    that is set globally to its last setting; an absent key means "not set in sudoers:
    sudo's compiled-in default applies". `authenticate_disabled` lists "file:line" of
    every `Defaults` (any binding) with `!authenticate` — no password for whoever it
    binds. `aliases` maps kind ("user", "runas", "host", "command") to alias name to its
    members as written. The `principals_*` lists are sorted who entries (after alias
    expansion, excluded "!" entries left out) of specs with all_commands, nopasswd and
    nopasswd_all respectively.
    """

    model_config = ConfigDict(extra="forbid")

    present: bool | None
    files_read: list[str]
    defaults: list[DefaultsEntry] | None
    notable_defaults: dict[str, NotableDefault] | None
    authenticate_disabled: list[str] | None
    aliases: dict[str, dict[str, list[str]]] | None
    user_specs: list[UserSpec] | None
    principals_with_all: list[str] | None
    principals_with_nopasswd: list[str] | None
    principals_with_nopasswd_all: list[str] | None
    problems: list[SudoersProblem]


# --- pure parsing ---------------------------------------------------------------------


class SudoersSyntaxError(ValueError):
    """A line that does not follow the sudoers grammar."""


@dataclass(frozen=True)
class Directive:
    kind: str  # "include" or "includedir"
    path: str


@dataclass(frozen=True)
class LogicalLine:
    number: int  # first physical line, 1-based
    text: str  # comments removed, continuations joined; or the directive
    directive: Directive | None = None


@dataclass(frozen=True)
class CommandEntry:
    command: str
    negated: bool
    runas: tuple[str, ...] | None  # None: no Runas list given
    runas_groups: tuple[str, ...]
    tags: frozenset[str]


@dataclass(frozen=True)
class Privilege:
    hosts: tuple[str, ...]
    commands: tuple[CommandEntry, ...]


@dataclass(frozen=True)
class RawUserSpec:
    file: str
    line: int
    users: tuple[str, ...]
    privileges: tuple[Privilege, ...]


@dataclass(frozen=True)
class RawDefaults:
    file: str
    line: int
    binding: str | None
    params: tuple[tuple[str, bool, str | None, str | None], ...]  # name, negated, op, value


@dataclass
class Parsed:
    """Everything read from sudoers and its includes, in the order sudo reads it."""

    files_read: list[str] = field(default_factory=list)
    defaults: list[RawDefaults] = field(default_factory=list)
    aliases: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    specs: list[RawUserSpec] = field(default_factory=list)
    problems: list[SudoersProblem] = field(default_factory=list)


def problem_text(text: str) -> str:
    """The part of a line that may be shown: redacted, first 200 characters."""
    return redact(text)[:PROBLEM_TEXT_LIMIT]


def _strip_comment(line: str) -> str:
    """`line` without its comment: an unescaped `#` outside double quotes that is not
    followed by a digit (which would make it a uid, `#1000`)."""
    quoted = False
    index = 0
    while index < len(line):
        char = line[index]
        if char == "\\":
            index += 2
            continue
        if char == '"':
            quoted = not quoted
        elif char == "#" and not quoted:
            following = line[index + 1 : index + 2]
            if not following.isdigit() and not (
                following == "-" and line[index + 2 : index + 3].isdigit()
            ):
                return line[:index]
        index += 1
    return line


def _include_target(text: str) -> str:
    """The path of an include directive: a double-quoted string, or the text up to the
    first unescaped blank (a trailing comment is not part of it)."""
    text = text.strip()
    if text.startswith('"'):
        end = text.find('"', 1)
        return _unquote_path(text[: end + 1] if end > 0 else text)
    match = re.match(r"(?:\\.|[^\\ \t])+", text)
    return _unquote_path(match[0] if match else text)


def _unquote_path(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        text = text[1:-1]
    return re.sub(r"\\(.)", r"\1", text)


def logical_lines(text: str) -> list[LogicalLine]:
    """Lines of a sudoers file with continuations joined and comments removed; include
    directives come back as `Directive`s; blank and comment-only lines are dropped."""
    physical = text.splitlines()
    result: list[LogicalLine] = []
    index = 0
    while index < len(physical):
        number = index + 1
        line = physical[index]
        index += 1
        match = _DIRECTIVE.match(line)
        if match:
            result.append(
                LogicalLine(number, line.strip(), Directive(match[1], _include_target(match[2])))
            )
            continue
        if line.lstrip().startswith("#") and not re.match(r"^\s*#-?\d", line):
            continue  # a comment line: a trailing backslash in it continues nothing
        while line.endswith("\\") and not line.endswith("\\\\") and index < len(physical):
            line = line[:-1] + " " + physical[index]
            index += 1
        if line.endswith("\\") and not line.endswith("\\\\"):
            line = line[:-1]  # a continuation at the end of the file
        stripped = _strip_comment(line).strip()
        if stripped:
            result.append(LogicalLine(number, stripped))
    return result


class _Scanner:
    """A cursor over one logical line; words honour backslash escapes and quotes."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def skip_blanks(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t":
            self.pos += 1

    def at_end(self) -> bool:
        self.skip_blanks()
        return self.pos >= len(self.text)

    def peek(self) -> str:
        self.skip_blanks()
        return self.text[self.pos : self.pos + 1]

    def take(self, char: str) -> bool:
        if self.peek() == char:
            self.pos += 1
            return True
        return False

    def expect(self, char: str) -> None:
        if not self.take(char):
            found = self.peek() or "end of line"
            raise SudoersSyntaxError(f"expected {char!r}, found {found!r}")

    def match(self, pattern: re.Pattern[str]) -> re.Match[str] | None:
        self.skip_blanks()
        found = pattern.match(self.text, self.pos)
        if found:
            self.pos = found.end()
        return found

    def word(self, stops: str) -> str:
        """A word up to a blank or one of `stops`; quotes and escapes are removed."""
        self.skip_blanks()
        out: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "\\" and self.pos + 1 < len(self.text):
                out.append(self.text[self.pos + 1])
                self.pos += 2
                continue
            if char == '"':
                end = self.pos + 1
                while end < len(self.text) and self.text[end] != '"':
                    end += 2 if self.text[end] == "\\" else 1
                if end >= len(self.text):
                    raise SudoersSyntaxError("unterminated quote")
                out.append(re.sub(r"\\(.)", r"\1", self.text[self.pos + 1 : end]))
                self.pos = end + 1
                continue
            if char in " \t" or char in stops:
                break
            out.append(char)
            self.pos += 1
        return "".join(out)

    def item_list(self, stops: str) -> list[str]:
        """A comma-separated list of possibly negated words ("!" kept as a prefix)."""
        items: list[str] = []
        while True:
            bangs = 0
            while self.take("!"):
                bangs += 1
            word = self.word(stops + ",!")
            if not word:
                raise SudoersSyntaxError("empty list item")
            items.append("!" * (bangs % 2) + word)
            if not self.take(","):
                return items

    def command(self) -> str:
        """A command and its arguments up to an unescaped `,` or `:` (escapes removed,
        blanks collapsed)."""
        self.skip_blanks()
        out: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "\\" and self.pos + 1 < len(self.text):
                following = self.text[self.pos + 1]
                # \, \: \= \\ are escapes; others (regex \. \[) belong to the argument.
                out.append(following if following in ",:=\\ \t#" else char + following)
                self.pos += 2
                continue
            if char in ",:":
                break
            out.append(char)
            self.pos += 1
        return " ".join("".join(out).split())


_TAG = re.compile(r"([A-Z_]+)[ \t]*:")
_OPTION = re.compile(r"([A-Z_]+)=")
_DIGEST = re.compile(r"(sha224|sha256|sha384|sha512):([A-Za-z0-9+/=]+)[ \t]+")


def _parse_runas(scanner: _Scanner) -> tuple[tuple[str, ...], tuple[str, ...]]:
    users: list[str] = []
    groups: list[str] = []
    if scanner.peek() not in (":", ")"):
        users = scanner.item_list(":)")
    if scanner.take(":") and scanner.peek() != ")":
        groups = scanner.item_list(")")
    scanner.expect(")")
    return tuple(users), tuple(groups)


def _valid_command(command: str) -> bool:
    """sudo accepts only full paths (or `^regex$`), ALL, sudoedit, list and aliases."""
    name = command.split(" ", 1)[0]
    return (
        name in ("ALL", "sudoedit", "list")
        or name.startswith(("/", "^"))
        or bool(_ALIAS_NAME.match(name))
    )


def _parse_commands(scanner: _Scanner) -> tuple[CommandEntry, ...]:
    """A Cmnd_Spec_List; Runas lists and tags carry over to the following commands."""
    entries: list[CommandEntry] = []
    runas: tuple[str, ...] | None = None
    runas_groups: tuple[str, ...] = ()
    tags: set[str] = set()
    while True:
        if scanner.take("("):
            runas, runas_groups = _parse_runas(scanner)
        while True:
            save = scanner.pos
            tag = scanner.match(_TAG)
            if tag and tag[1] in TAGS:
                tags.discard(_OPPOSITE[tag[1]])
                tags.add(tag[1])
                continue
            scanner.pos = save
            option = scanner.match(_OPTION)
            if option and option[1] in COMMAND_OPTIONS:
                scanner.word(",:")
                continue
            scanner.pos = save
            break
        bangs = 0
        while scanner.take("!"):
            bangs += 1
        digest = scanner.match(_DIGEST)
        command = scanner.command()
        if not command:
            raise SudoersSyntaxError("missing command")
        if not _valid_command(command):
            raise SudoersSyntaxError("a command must be a full path, ALL, sudoedit or an alias")
        if digest:
            command = f"{digest[1]}:{digest[2]} {command}"
        entries.append(CommandEntry(command, bangs % 2 == 1, runas, runas_groups, frozenset(tags)))
        if not scanner.take(","):
            return tuple(entries)


def parse_user_spec(text: str, file: str, line: int) -> RawUserSpec:
    """`User_List Host_List = Cmnd_Spec_List [: Host_List = Cmnd_Spec_List ...]`."""
    scanner = _Scanner(text)
    users = scanner.item_list("=:()")
    privileges: list[Privilege] = []
    while True:
        hosts = scanner.item_list("=:()")
        scanner.expect("=")
        privileges.append(Privilege(tuple(hosts), _parse_commands(scanner)))
        if scanner.at_end():
            return RawUserSpec(file, line, tuple(users), tuple(privileges))
        scanner.expect(":")


def parse_alias_line(text: str) -> list[tuple[str, str, list[str]]]:
    """(kind, name, members) of `Cmnd_Alias NAME = a, b : NAME2 = c`."""
    match = _ALIAS_LINE.match(text)
    if not match:
        raise SudoersSyntaxError("not an alias line")
    kind = ALIAS_KINDS[match[1]]
    scanner = _Scanner(match[2])
    result: list[tuple[str, str, list[str]]] = []
    while True:
        name = scanner.word("=:,")
        if not _ALIAS_NAME.match(name) or name == "ALL":
            raise SudoersSyntaxError(f"bad alias name {name[:40]!r}")
        scanner.expect("=")
        if kind == "command":
            members = [_command_text(entry) for entry in _parse_commands(scanner)]
        else:
            members = scanner.item_list(":=()")
        result.append((kind, name, members))
        if scanner.at_end():
            return result
        scanner.expect(":")


def _command_text(entry: CommandEntry) -> str:
    return ("!" if entry.negated else "") + entry.command


def _redacted_value(name: str, value: str | None) -> str | None:
    if value is None or name in _SAFE_VALUE_OPTIONS or not _SECRETISH.search(name):
        return value
    return "<redacted>"


def parse_defaults_line(text: str, file: str, line: int) -> RawDefaults:
    """`Defaults[:@>!binding] param, !flag, name=value, name+="quoted, value"`."""
    match = _DEFAULTS.match(text)
    if not match:
        raise SudoersSyntaxError("not a Defaults line")
    scanner = _Scanner(text)
    scanner.pos = match.end()
    binding: str | None = None
    if scanner.pos < len(text) and text[scanner.pos] in ":@>!":
        start = scanner.pos
        scanner.pos += 1
        scanner.item_list("=")
        binding = " ".join(text[start : scanner.pos].split())
    params: list[tuple[str, bool, str | None, str | None]] = []
    for raw in _split_params(text[scanner.pos :]):
        found = _PARAM.match(raw.strip())
        if not found:
            raise SudoersSyntaxError("bad Defaults parameter")
        bangs, name, operator, value = found[1], found[2], found[3], found[4]
        if operator is not None:
            value = _unquote_path(value or "")
        params.append((name, len(bangs) % 2 == 1, operator, _redacted_value(name, value)))
    if not params:
        raise SudoersSyntaxError("Defaults without parameters")
    return RawDefaults(file, line, binding, tuple(params))


def _split_params(text: str) -> list[str]:
    """Split at commas outside double quotes and escapes."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            current.append(text[index : index + 2])
            index += 2
            continue
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
        index += 1
    if quoted:
        raise SudoersSyntaxError("unterminated quote")
    parts.append("".join(current))
    return [part for part in parts if part.strip()] if len(parts) > 1 else parts


def _include_path(path: str, including: str, hostname: Callable[[], str | None]) -> str | None:
    if "%h" in path:
        host = hostname()
        if host is None:
            return None
        path = path.replace("%h", host)
    if not path.startswith("/"):
        path = including.rsplit("/", 1)[0] + "/" + path
    return path


def includedir_files(names: list[str]) -> list[str]:
    """The files sudo reads from an include directory: sorted, none ending in `~` or
    containing a `.` (editor backups, dpkg leftovers like `x.dpkg-old`)."""
    return sorted(name for name in names if not name.endswith("~") and "." not in name)


def load_sudoers(
    read: Callable[[str], str | None],
    list_dir: Callable[[str], list[str] | None],
    hostname: Callable[[], str | None] = lambda: None,
    root: str = SUDOERS,
) -> Parsed:
    """Parse `root` and everything it includes, in sudo's order. `read` returns a file's
    text or None (missing/unreadable), `list_dir` the names in a directory or None."""
    parsed = Parsed()

    def parse_file(path: str, text: str, stack: tuple[str, ...]) -> None:
        parsed.files_read.append(path)
        for line in logical_lines(text):
            if line.directive is not None:
                include(path, line, stack)
                continue
            try:
                if _DEFAULTS.match(line.text):
                    parsed.defaults.append(parse_defaults_line(line.text, path, line.number))
                elif _ALIAS_LINE.match(line.text):
                    for kind, name, members in parse_alias_line(line.text):
                        parsed.aliases.setdefault(kind, {})[name] = members
                else:
                    parsed.specs.append(parse_user_spec(line.text, path, line.number))
            except SudoersSyntaxError as exc:
                problem(path, line.number, f"not understood: {exc}", line.text)

    def problem(path: str, number: int | None, reason: str, text: str | None = None) -> None:
        parsed.problems.append(
            SudoersProblem(
                file=path,
                line=number,
                reason=reason,
                text=problem_text(text) if text is not None else None,
            )
        )

    def include(path: str, line: LogicalLine, stack: tuple[str, ...]) -> None:
        assert line.directive is not None
        target = _include_path(line.directive.path, path, hostname)
        if target is None:
            problem(path, line.number, "include path uses %h but the host name is unknown")
            return
        if line.directive.kind == "include":
            visit(target, stack, path, line.number)
            return
        names = list_dir(target)
        if names is None:
            problem(path, line.number, f"include directory {target} not readable or missing")
            return
        for name in includedir_files(names):
            visit(f"{target.rstrip('/')}/{name}", stack, path, line.number)

    def visit(target: str, stack: tuple[str, ...], parent: str, number: int) -> None:
        if target in stack:
            problem(parent, number, f"include loop through {target}")
            return
        if len(stack) >= MAX_INCLUDE_DEPTH:
            problem(parent, number, f"includes nested deeper than {MAX_INCLUDE_DEPTH}")
            return
        text = read(target)
        if text is None:
            problem(parent, number, f"included file {target} not readable or missing")
            return
        parse_file(target, text, (*stack, target))

    text = read(root)
    if text is not None:
        parse_file(root, text, (root,))
    return parsed


# --- facts ------------------------------------------------------------------------------


def expand(
    items: list[str] | tuple[str, ...],
    aliases: dict[str, list[str]],
    seen: frozenset[str] = frozenset(),
) -> list[str]:
    """Alias names replaced by their members, recursively; "!" distributes over a
    negated alias (`!A` with A = x, y gives !x, !y); unknown names stay as written."""
    result: list[str] = []
    for item in items:
        negated = item.startswith("!")
        name = item[1:] if negated else item
        if name in aliases and name != "ALL" and name not in seen:
            for member in expand(aliases[name], aliases, seen | {name}):
                if negated:
                    member = member[1:] if member.startswith("!") else "!" + member
                result.append(member)
        else:
            result.append(item)
    return result


def _dedupe(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def build_user_spec(
    raw: RawUserSpec,
    privilege: Privilege,
    aliases: dict[str, dict[str, list[str]]],
    runas_default: str,
) -> UserSpec:
    user_aliases = aliases.get("user", {})
    runas_aliases = aliases.get("runas", {})
    command_aliases = aliases.get("command", {})
    runas: list[str] = []
    groups: list[str] = []
    commands: list[str] = []
    tags: set[str] = set()
    nopasswd = all_commands = nopasswd_all = False
    for entry in privilege.commands:
        if entry.runas is None and not entry.runas_groups:
            runas.append(runas_default)
        else:
            runas.extend(expand(entry.runas or (), runas_aliases))
        groups.extend(expand(entry.runas_groups, runas_aliases))
        expanded = expand(
            ["!" + entry.command if entry.negated else entry.command], command_aliases
        )
        commands.extend(expanded)
        tags |= entry.tags
        has_all = "ALL" in expanded
        all_commands |= has_all
        if "NOPASSWD" in entry.tags:
            nopasswd = True
            nopasswd_all |= has_all
    return UserSpec(
        file=raw.file,
        line=raw.line,
        who=_dedupe(expand(raw.users, user_aliases)),
        hosts=_dedupe(expand(privilege.hosts, aliases.get("host", {}))),
        runas=_dedupe(runas),
        runas_groups=_dedupe(groups),
        commands=[redact(command) for command in commands],
        tags=sorted(tags),
        nopasswd=nopasswd,
        all_commands=all_commands,
        nopasswd_all=nopasswd_all,
    )


def _principals(specs: list[UserSpec], flag: str) -> list[str]:
    return sorted(
        {
            who
            for spec in specs
            if getattr(spec, flag)
            for who in spec.who
            if not who.startswith("!")
        }
    )


def build_facts(parsed: Parsed | None, present: bool | None) -> SudoersFacts:
    """Facts from a parse; `parsed` None (with `present` None) when sudoers was unreadable."""
    if parsed is None or present is not True:
        empty: list[Any] | None = [] if present is False else None
        return SudoersFacts(
            present=present,
            files_read=[],
            defaults=empty,
            notable_defaults={} if present is False else None,
            authenticate_disabled=empty,
            aliases={} if present is False else None,
            user_specs=empty,
            principals_with_all=empty,
            principals_with_nopasswd=empty,
            principals_with_nopasswd_all=empty,
            problems=list(parsed.problems) if parsed else [],
        )
    defaults: list[DefaultsEntry] = []
    notable: dict[str, NotableDefault] = {}
    authenticate_disabled: list[str] = []
    runas_default = DEFAULT_RUNAS
    for raw in parsed.defaults:
        for name, negated, operator, value in raw.params:
            defaults.append(
                DefaultsEntry(
                    file=raw.file,
                    line=raw.line,
                    binding=raw.binding,
                    name=name,
                    negated=negated,
                    operator=operator,
                    value=value,
                )
            )
            if name == "authenticate" and negated:
                authenticate_disabled.append(f"{raw.file}:{raw.line}")
            if raw.binding is None and name in NOTABLE_DEFAULTS:
                notable[name] = NotableDefault(
                    enabled=not negated, value=value, file=raw.file, line=raw.line
                )
            if raw.binding is None and name == "runas_default" and value and not negated:
                runas_default = value
    specs = [
        build_user_spec(raw, privilege, parsed.aliases, runas_default)
        for raw in parsed.specs
        for privilege in raw.privileges
    ]
    return SudoersFacts(
        present=True,
        files_read=parsed.files_read,
        defaults=defaults,
        notable_defaults=dict(sorted(notable.items())),
        authenticate_disabled=authenticate_disabled,
        aliases={
            kind: {
                name: [redact(member) for member in members]
                for name, members in sorted(names.items())
            }
            for kind, names in sorted(parsed.aliases.items())
        },
        user_specs=specs,
        principals_with_all=_principals(specs, "all_commands"),
        principals_with_nopasswd=_principals(specs, "nopasswd"),
        principals_with_nopasswd_all=_principals(specs, "nopasswd_all"),
        problems=parsed.problems,
    )


# --- collection -------------------------------------------------------------------------


@collector("access.sudoers", version="1", category="access", facts=SudoersFacts)
def collect(c: Collection) -> SudoersFacts:
    """sudo rules from /etc/sudoers and its includes: who may run what, with or without a
    password, and the notable Defaults."""
    if not c.host.exists(SUDOERS):
        return build_facts(None, False)
    host_name: list[str | None] = []

    def hostname() -> str | None:
        if not host_name:
            text = c.read_text(HOSTNAME, missing_ok=True)
            name = text.strip().split(".", 1)[0] if text else ""
            host_name.append(name or None)
        return host_name[0]

    root_text = c.read_text(SUDOERS)
    if root_text is None:
        return build_facts(None, None)
    parsed = load_sudoers(
        lambda path: root_text if path == SUDOERS else c.read_text(path, missing_ok=True),
        lambda path: c.list_dir(path, missing_ok=True),
        hostname,
    )
    return build_facts(parsed, True)
