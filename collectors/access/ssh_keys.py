"""access.ssh_keys: public keys that let someone log in over SSH, and the host keys.

For every account in /etc/passwd (and root) the authorized keys files are read and
each key is reduced to its type, size, fingerprint (as `ssh-keygen -lf` prints it),
comment and options. Private keys are never read: files in ~/.ssh that look like
private keys are reported by name only. The line parser follows OpenSSH's
(auth2-pubkeyfile.c, auth-options.c): a line starts with a key, or with options up
to the first unquoted blank followed by a key; inside a quoted option value only
`\\"` is an escape.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from collectors.access.accounts import PasswdEntry, parse_passwd
from collectors.configuration.sshd import configured_host_keys
from collectors.host import FileStat
from collectors.provenance import Collection
from collectors.redact import redact
from collectors.registry import collector

PASSWD = "/etc/passwd"  # noqa: S105 (a file path, not a password)
SSH_DIR = "/etc/ssh"
SSHD_CONFIG = "/etc/ssh/sshd_config"
# sshd's compiled-in AuthorizedKeysFile.
DEFAULT_AUTHORIZED_KEYS = (".ssh/authorized_keys", ".ssh/authorized_keys2")
MAX_CONFIG_DEPTH = 16
# Authorized keys files are small; a larger one is reported, not read.
MAX_KEYS_FILE = 4 * 1024 * 1024
PROBLEM_LIMIT = 1000

# Key types OpenSSH accepts in authorized_keys, with the size ssh-keygen -l prints where
# it does not depend on the key material.
KEY_TYPES = {
    "ssh-rsa": None,
    "ssh-dss": None,
    "ssh-ed25519": 256,
    "ecdsa-sha2-nistp256": 256,
    "ecdsa-sha2-nistp384": 384,
    "ecdsa-sha2-nistp521": 521,
    "sk-ecdsa-sha2-nistp256@openssh.com": 256,
    "sk-ssh-ed25519@openssh.com": 256,
    "ssh-xmss@openssh.com": 256,
}
_CERT_SUFFIX = "-cert-v01@openssh.com"
_BLANKS = re.compile(r"[ \t]+")  # OpenSSH separates fields by spaces and tabs only
FLAG_OPTIONS = frozenset(
    {
        "agent-forwarding",
        "cert-authority",
        "no-agent-forwarding",
        "no-port-forwarding",
        "no-pty",
        "no-user-rc",
        "no-x11-forwarding",
        "port-forwarding",
        "pty",
        "user-rc",
        "x11-forwarding",
        "restrict",
        "no-touch-required",
        "touch-required",
        "verify-required",
    }
)
VALUE_OPTIONS = frozenset(
    {
        "command",
        "environment",
        "expiry-time",
        "from",
        "permitopen",
        "permitlisten",
        "principals",
        "tunnel",
    }
)
# Names in ~/.ssh that are never private keys.
_NOT_PRIVATE = frozenset(
    {"authorized_keys", "authorized_keys2", "known_hosts", "known_hosts.old", "config", "rc"}
)


class KeyOption(BaseModel):
    """One authorized_keys option: `name` lower-cased, `value` for options that take
    one (command=, from=, permitopen=, ...), None for flags (no-pty, restrict, ...).
    An environment= value keeps only the variable name ("NAME=<redacted>"); secret-
    looking arguments inside command= are redacted."""

    model_config = ConfigDict(extra="forbid")

    name: str
    value: str | None


class AuthorizedKey(BaseModel):
    """A key that lets `user` log in: from `file` at `line` (1-based). `bits` is the
    size ssh-keygen prints (RSA/DSA from the key itself), None when not derivable.
    `fingerprint` is "SHA256:" + unpadded base64 of sha256(key blob), as
    `ssh-keygen -lf` prints it. `comment` is None when the line has none."""

    model_config = ConfigDict(extra="forbid")

    user: str
    file: str
    line: int
    type: str
    bits: int | None
    fingerprint: str
    comment: str | None
    options: list[KeyOption]


class PathMode(BaseModel):
    """Mode and owner of a file or directory sshd checks under StrictModes. `mode` is
    the permission bits in octal ("0700"); `owner_ok` is True when it belongs to the
    account or root."""

    model_config = ConfigDict(extra="forbid")

    path: str
    mode: str
    uid: int
    gid: int
    owner_ok: bool
    group_writable: bool
    world_writable: bool


class AccountSsh(BaseModel):
    """SSH state of one account that has a ~/.ssh directory or an authorized keys file.
    `ssh_dir` is None when ~/.ssh does not exist; `private_key_files` are names in
    ~/.ssh that look like private keys (id_* without .pub, or NAME with a NAME.pub next
    to it) — listed by name, never read."""

    model_config = ConfigDict(extra="forbid")

    user: str
    uid: int
    home: str
    ssh_dir: PathMode | None
    key_files: list[PathMode]
    private_key_files: list[str]
    key_count: int


class HostKey(BaseModel):
    """A host public key /etc/ssh/ssh_host_*_key.pub (same fields as AuthorizedKey).
    `loaded`: its private key is a HostKey sshd loads (sshd_config and Includes, or
    OpenSSH's defaults); None when sshd_config could not be read. A key left on disk
    that sshd does not load is `loaded: false`."""

    model_config = ConfigDict(extra="forbid")

    file: str
    type: str
    bits: int | None
    fingerprint: str
    comment: str | None
    loaded: bool | None = None


class KeyProblem(BaseModel):
    """A line sshd would not accept (no content is shown, only where and why)."""

    model_config = ConfigDict(extra="forbid")

    file: str
    line: int
    reason: str


class SshKeysFacts(BaseModel):
    """Facts of `access.ssh_keys`.

    `authorized_keys_files` are the AuthorizedKeysFile patterns used and
    `authorized_keys_files_source` says where they came from: "sshd_config" (the first
    setting outside Match blocks, includes followed) or "default" (sshd's compiled-in
    .ssh/authorized_keys .ssh/authorized_keys2). `accounts_checked` counts passwd
    accounts looked at (None when /etc/passwd was unreadable: then only root is checked).
    `accounts` lists only accounts with ~/.ssh or a keys file; `keys` every accepted key;
    `users_with_keys` the sorted accounts having at least one key; `writable_paths` the
    ~/.ssh directories and key files that are group or world writable or owned by
    someone else (sshd's StrictModes would refuse them). `host_keys` is None when /etc/ssh
    could not be listed.
    """

    model_config = ConfigDict(extra="forbid")

    authorized_keys_files: list[str]
    authorized_keys_files_source: str
    accounts_checked: int | None
    accounts: list[AccountSsh]
    keys: list[AuthorizedKey]
    users_with_keys: list[str]
    writable_paths: list[str]
    host_keys: list[HostKey] | None
    problems: list[KeyProblem]


# --- pure parsing ---------------------------------------------------------------------


class KeyFormatError(ValueError):
    """A key or option string OpenSSH would reject."""


@dataclass(frozen=True)
class ParsedKey:
    type: str
    bits: int | None
    fingerprint: str
    comment: str | None


@dataclass(frozen=True)
class ParsedLine:
    key: ParsedKey
    options: tuple[tuple[str, str | None], ...]


def fingerprint(blob: bytes) -> str:
    """The SHA256 fingerprint as `ssh-keygen -l` prints it."""
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode()
    return "SHA256:" + digest.rstrip("=")


def _wire_strings(blob: bytes, count: int) -> list[bytes]:
    """The first `count` SSH wire-format strings (uint32 length + bytes) of `blob`."""
    out: list[bytes] = []
    pos = 0
    for _ in range(count):
        if pos + 4 > len(blob):
            raise KeyFormatError("truncated key blob")
        length = int.from_bytes(blob[pos : pos + 4], "big")
        pos += 4
        if pos + length > len(blob):
            raise KeyFormatError("truncated key blob")
        out.append(blob[pos : pos + length])
        pos += length
    return out


# Wire strings in each plain public key blob (RFC 4253, 5656, 8709, OpenSSH PROTOCOL.u2f).
_BLOB_STRINGS = {
    "ssh-rsa": 3,  # name, e, n
    "ssh-dss": 5,  # name, p, q, g, y
    "ssh-ed25519": 2,  # name, 32-byte key
    "ecdsa-sha2-nistp256": 3,  # name, curve, point
    "ecdsa-sha2-nistp384": 3,
    "ecdsa-sha2-nistp521": 3,
    "sk-ecdsa-sha2-nistp256@openssh.com": 4,  # name, curve, point, application
    "sk-ssh-ed25519@openssh.com": 3,  # name, key, application
    "ssh-xmss@openssh.com": 3,  # name, parameter set, key
}


def key_bits(key_type: str, blob: bytes) -> int | None:
    """Key size as ssh-keygen reports it; raises KeyFormatError on a malformed blob
    (wrong field count, trailing bytes, a wrong curve or ed25519 key length)."""
    base = key_type.removesuffix(_CERT_SUFFIX)
    if key_type.endswith(_CERT_SUFFIX):
        return KEY_TYPES.get(base)  # certificate internals are not parsed
    count = _BLOB_STRINGS[base]
    fields = _wire_strings(blob, count)
    if sum(4 + len(f) for f in fields) != len(blob):
        raise KeyFormatError("trailing bytes after the key")
    if base == "ssh-rsa":
        return int.from_bytes(fields[2], "big").bit_length()
    if base == "ssh-dss":
        return int.from_bytes(fields[1], "big").bit_length()
    if "ed25519" in base and len(fields[1]) != 32:
        raise KeyFormatError("ed25519 key is not 32 bytes")
    if "ecdsa" in base and not base.split("@")[0].endswith(fields[1].decode("latin-1")):
        raise KeyFormatError("curve does not match the key type")
    return KEY_TYPES.get(base)


def parse_key(text: str) -> tuple[ParsedKey, str]:
    """`type base64 [comment]` at the start of `text`; (key, rest after the blob)."""
    fields = _BLANKS.split(text.lstrip(" \t"), maxsplit=2)
    if len(fields) < 2 or not fields[1]:
        raise KeyFormatError("no key")
    key_type, encoded = fields[0], fields[1]
    base = key_type.removesuffix(_CERT_SUFFIX)
    if base not in KEY_TYPES:
        raise KeyFormatError("unknown key type")
    try:
        blob = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyFormatError("key is not valid base64") from exc
    (name,) = _wire_strings(blob, 1)
    if name != key_type.encode():
        raise KeyFormatError("key type does not match the key")
    rest = fields[2] if len(fields) > 2 else ""
    comment = rest.strip(" \t\r") or None
    return ParsedKey(key_type, key_bits(key_type, blob), fingerprint(blob), comment), rest


def split_options(text: str) -> tuple[str, str]:
    """(options, rest): options end at the first blank outside double quotes
    (OpenSSH's sshkey_advance_past_options)."""
    quoted = False
    index = 0
    while index < len(text):
        char = text[index]
        if not quoted and char in " \t":
            break
        if char == "\\" and text[index + 1 : index + 2] == '"':
            index += 2
            continue
        if char == '"':
            quoted = not quoted
        index += 1
    if quoted:
        raise KeyFormatError("unterminated quote in options")
    return text[:index], text[index:]


def parse_options(text: str) -> list[tuple[str, str | None]]:
    """Options as (lower-cased name, value or None), OpenSSH's sshauthopt_parse rules:
    a quoted value is needed for value options, `\\"` is the only escape."""
    options: list[tuple[str, str | None]] = []
    pos = 0
    while pos < len(text):
        match = re.compile(r"[A-Za-z0-9_-]+").match(text, pos)
        if not match:
            raise KeyFormatError("bad option name")
        name = match[0].lower()
        pos = match.end()
        value: str | None = None
        if text[pos : pos + 1] == "=":
            if text[pos + 1 : pos + 2] != '"':
                raise KeyFormatError("option value must be quoted")
            pos += 2
            out: list[str] = []
            while pos < len(text) and text[pos] != '"':
                if text[pos] == "\\" and text[pos + 1 : pos + 2] == '"':
                    pos += 1
                out.append(text[pos])
                pos += 1
            if pos >= len(text):
                raise KeyFormatError("missing end quote in option value")
            pos += 1
            value = "".join(out)
        if (value is None and name not in FLAG_OPTIONS) or (
            value is not None and name not in VALUE_OPTIONS
        ):
            raise KeyFormatError("unsupported option")
        options.append((name, value))
        if pos < len(text):
            if text[pos] != ",":
                raise KeyFormatError("options must be separated by commas")
            pos += 1
            if pos >= len(text):
                raise KeyFormatError("trailing comma in options")
    return options


def parse_authorized_line(line: str) -> ParsedLine | None:
    """A key line, None for blank and comment lines; KeyFormatError when sshd would
    skip it."""
    text = line.strip(" \t\r")
    if not text or text.startswith("#"):
        return None
    try:
        key, _rest = parse_key(text)
        return ParsedLine(key, ())
    except KeyFormatError:
        if _BLANKS.split(text, maxsplit=1)[0].removesuffix(_CERT_SUFFIX) in KEY_TYPES:
            raise  # a key without options, but a broken one
    options_text, rest = split_options(text)
    options = parse_options(options_text)
    key, _rest = parse_key(rest.lstrip(" \t"))
    return ParsedLine(key, tuple(options))


def parse_authorized_keys(text: str) -> tuple[list[tuple[int, ParsedLine]], list[tuple[int, str]]]:
    """(accepted keys by line number, (line number, reason) of rejected lines)."""
    keys: list[tuple[int, ParsedLine]] = []
    problems: list[tuple[int, str]] = []
    for number, line in enumerate(text.split("\n"), start=1):
        try:
            parsed = parse_authorized_line(line)
        except KeyFormatError as exc:
            problems.append((number, str(exc)))
            continue
        if parsed is not None:
            keys.append((number, parsed))
    return keys, problems


def shown_option(name: str, value: str | None) -> KeyOption:
    if value is not None and name == "environment":
        value = value.split("=", 1)[0] + "=<redacted>"
    elif value is not None and name == "command":
        value = redact(value)
    return KeyOption(name=name, value=value)


def private_key_names(names: list[str]) -> list[str]:
    """Names in ~/.ssh that look like private keys, never opened: id_* without .pub,
    or any NAME with a NAME.pub beside it."""
    present = set(names)
    return sorted(
        name
        for name in names
        if not name.endswith(".pub")
        and name not in _NOT_PRIVATE
        and (name.startswith("id_") or name + ".pub" in present)
        and not name.endswith(("-cert", ".old", "~"))
    )


def authorized_keys_setting(
    read: Callable[[str], str | None], list_dir: Callable[[str], list[str] | None]
) -> list[str] | None:
    """The first AuthorizedKeysFile in sshd_config outside Match blocks (Include
    followed, relative include paths are under /etc/ssh), or None when unset."""

    def scan(path: str, depth: int) -> list[str] | None:
        text = read(path)
        if text is None or depth > MAX_CONFIG_DEPTH:
            return None
        for raw in text.splitlines():
            words = _config_words(raw)
            if not words:
                continue
            keyword = words[0].lower()
            if keyword == "match":
                return None
            if keyword == "authorizedkeysfile" and len(words) > 1:
                return words[1:]
            if keyword == "include":
                for pattern in words[1:]:
                    for included in _glob(pattern, list_dir):
                        found = scan(included, depth + 1)
                        if found is not None:
                            return found
        return None

    return scan(SSHD_CONFIG, 0)


def _config_words(line: str) -> list[str]:
    line = line.strip()
    if not line or line.startswith("#"):
        return []
    keyword, _, rest = line.replace("=", " ", 1).partition(" ")
    words = [keyword]
    for match in re.finditer(r'"([^"]*)"|(\S+)', rest):
        words.append(match[1] if match[1] is not None else match[2])
    return words


def _glob(pattern: str, list_dir: Callable[[str], list[str] | None]) -> list[str]:
    if not pattern.startswith("/"):
        pattern = f"{SSH_DIR}/{pattern}"
    directory, _, name = pattern.rpartition("/")
    if not any(char in name for char in "*?["):
        return [pattern]
    names = list_dir(directory or "/") or []
    return [f"{directory}/{n}" for n in sorted(names) if fnmatch.fnmatchcase(n, name)]


def expand_keys_file(pattern: str, user: str, uid: int, home: str) -> str:
    """An AuthorizedKeysFile token for one account: %% %h %u %U, relative to home."""
    out: list[str] = []
    index = 0
    while index < len(pattern):
        if pattern[index] == "%" and index + 1 < len(pattern):
            token = pattern[index + 1]
            out.append({"%": "%", "h": home, "u": user, "U": str(uid)}.get(token, "%" + token))
            index += 2
            continue
        out.append(pattern[index])
        index += 1
    path = "".join(out)
    return path if path.startswith("/") else f"{home.rstrip('/')}/{path}"


def path_mode(info: FileStat, uid: int) -> PathMode:
    permissions = info.permissions
    return PathMode(
        path=info.path,
        mode=f"{permissions:04o}",
        uid=info.uid,
        gid=info.gid,
        owner_ok=info.uid in (uid, 0),
        group_writable=bool(permissions & 0o020),
        world_writable=bool(permissions & 0o002),
    )


def _unsafe(mode: PathMode) -> bool:
    return mode.group_writable or mode.world_writable or not mode.owner_ok


# --- collection -------------------------------------------------------------------------


def _stat(c: Collection, path: str) -> FileStat | None:
    try:
        return c.host.stat(path)
    except OSError as exc:
        c.error(f"{path}: {exc}")
        return None


def _host_keys(c: Collection, problems: list[KeyProblem]) -> list[HostKey] | None:
    names = c.list_dir(SSH_DIR, missing_ok=True)
    if names is None:
        return None if c.host.exists(SSH_DIR) else []
    configured = configured_host_keys(c)
    keys: list[HostKey] = []
    for name in names:
        if not fnmatch.fnmatchcase(name, "ssh_host_*_key.pub"):
            continue
        path = f"{SSH_DIR}/{name}"
        text = c.read_text(path, max_bytes=MAX_KEYS_FILE)
        if text is None:
            continue
        lines = [line for line in text.splitlines() if line.strip()]
        try:
            if not lines:
                raise KeyFormatError("empty public key file")
            key, _rest = parse_key(lines[0].strip())
        except KeyFormatError as exc:
            problems.append(KeyProblem(file=path, line=1, reason=str(exc)))
            continue
        keys.append(
            HostKey(
                file=path,
                type=key.type,
                bits=key.bits,
                fingerprint=key.fingerprint,
                comment=key.comment,
                loaded=None if configured is None else path.removesuffix(".pub") in configured,
            )
        )
    return keys


@collector("access.ssh_keys", version="2", category="access", facts=SshKeysFacts)
def collect(c: Collection) -> SshKeysFacts:
    """Authorized SSH keys of every account (fingerprints, options, file modes), private
    key files by name only, and the host key fingerprints."""
    setting = authorized_keys_setting(
        lambda path: c.read_text(path, missing_ok=True),
        lambda path: c.list_dir(path, missing_ok=True),
    )
    patterns = setting if setting is not None else list(DEFAULT_AUTHORIZED_KEYS)
    passwd_text = c.read_text(PASSWD)
    entries = parse_passwd(passwd_text) if passwd_text is not None else []
    if not any(entry.name == "root" for entry in entries):
        entries.insert(0, PasswdEntry("root", 0, 0, "/root", "/bin/sh", None))
    accounts: list[AccountSsh] = []
    keys: list[AuthorizedKey] = []
    problems: list[KeyProblem] = []
    writable: list[str] = []
    for entry in entries:
        home = entry.home or "/"
        ssh_dir_path = f"{home.rstrip('/')}/.ssh"
        ssh_info = _stat(c, ssh_dir_path)
        ssh_dir = path_mode(ssh_info, entry.uid) if ssh_info and ssh_info.is_dir else None
        private: list[str] = []
        if ssh_dir is not None:
            private = private_key_names(c.list_dir(ssh_dir_path) or [])
        key_files: list[PathMode] = []
        count = 0
        targets = [] if "none" in patterns else patterns
        for target in dict.fromkeys(
            expand_keys_file(p, entry.name, entry.uid, home) for p in targets
        ):
            info = _stat(c, target)
            if info is None or info.is_dir:
                continue
            key_files.append(path_mode(info, entry.uid))
            text = c.read_text(target, max_bytes=MAX_KEYS_FILE)
            if text is None:
                continue
            parsed, rejected = parse_authorized_keys(text)
            for number, line in parsed:
                count += 1
                keys.append(
                    AuthorizedKey(
                        user=entry.name,
                        file=target,
                        line=number,
                        type=line.key.type,
                        bits=line.key.bits,
                        fingerprint=line.key.fingerprint,
                        comment=line.key.comment,
                        options=[shown_option(name, value) for name, value in line.options],
                    )
                )
            problems.extend(
                KeyProblem(file=target, line=number, reason=reason) for number, reason in rejected
            )
        if ssh_dir is None and not key_files:
            continue
        for mode in ([ssh_dir] if ssh_dir else []) + key_files:
            if _unsafe(mode) and mode.path not in writable:
                writable.append(mode.path)
        accounts.append(
            AccountSsh(
                user=entry.name,
                uid=entry.uid,
                home=home,
                ssh_dir=ssh_dir,
                key_files=key_files,
                private_key_files=private,
                key_count=count,
            )
        )
    host_keys = _host_keys(c, problems)
    return SshKeysFacts(
        authorized_keys_files=patterns,
        authorized_keys_files_source="sshd_config" if setting is not None else "default",
        accounts_checked=len(entries) if passwd_text is not None else None,
        accounts=accounts,
        keys=keys,
        users_with_keys=sorted({key.user for key in keys}),
        writable_paths=writable,
        host_keys=host_keys,
        problems=problems[:PROBLEM_LIMIT],
    )
