"""access.accounts: local accounts, their password state and the admin groups.

Facts, not secrets: a password hash is reduced to a state ("set", "locked", ...) and the
name of its scheme inside the parsers, so no hash ever reaches the facts model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict

from collectors.provenance import Collection
from collectors.registry import collector

PASSWD = "/etc/passwd"  # noqa: S105 (a file path, not a password)
SHADOW = "/etc/shadow"
GROUP = "/etc/group"
ADMIN_GROUPS = ("sudo", "wheel", "adm", "admin", "root")
# Shells that end the session instead of giving the user a command line.
NON_INTERACTIVE_SHELLS = frozenset({"nologin", "false", "true", "sync", "halt", "shutdown"})
MAX_ID = 2**32 - 1  # uid_t/gid_t; larger "ids" are malformed lines
MAX_DAYS = 2**31 - 1

PasswordState = Literal["set", "locked", "empty", "no_password", "unknown"]

# libxcrypt prefixes, longest first where one is a prefix of another.
_HASH_PREFIXES = (
    ("$y$", "yescrypt"),
    ("$gy$", "gost-yescrypt"),
    ("$7$", "scrypt"),
    ("$2b$", "bcrypt"),
    ("$2y$", "bcrypt"),
    ("$2a$", "bcrypt"),
    ("$2x$", "bcrypt"),
    ("$6$", "sha512crypt"),
    ("$5$", "sha256crypt"),
    ("$sha1$", "sha1crypt"),
    ("$md5", "sunmd5"),
    ("$1$", "md5crypt"),
    ("$3$", "nthash"),
)
_DES = re.compile(r"^[./0-9A-Za-z]{13}$")
_BSDI = re.compile(r"^_[./0-9A-Za-z]{19}$")


class Account(BaseModel):
    """One /etc/passwd account with its /etc/shadow state.

    `password`: "set" (a usable hash), "locked" ("!" before a hash), "empty" (no password
    needed), "no_password" ("*", "!", "!!", "!*": password login impossible), "unknown"
    (shadow unreadable or without an entry). `hash_scheme` names the hash algorithm
    ("yescrypt", "sha512crypt", "des", "unknown", ...) or is None when there is no hash.
    Dates are ISO `YYYY-MM-DD`; a `last_change` of 1970-01-01 means the password must
    be changed at next login. Day counts are None when the shadow field is empty.
    """

    model_config = ConfigDict(extra="forbid")

    name: str
    uid: int
    gid: int
    home: str
    shell: str
    interactive_shell: bool
    password: PasswordState
    hash_scheme: str | None
    last_change: str | None
    min_days: int | None
    max_days: int | None
    warn_days: int | None
    inactive_days: int | None
    expire_date: str | None


class AccountsFacts(BaseModel):
    """Facts of `access.accounts`.

    The account lists are None when /etc/passwd could not be read and `admin_groups` is
    None when /etc/group could not be read, so "unknown" never looks like "none".
    `duplicate_uids` maps a uid (as a string, JSON keys being strings) to the sorted
    names sharing it. `admin_groups` maps each of sudo, wheel, adm, admin and root that
    exists to its sorted members, counting users whose primary group it is.
    """

    model_config = ConfigDict(extra="forbid")

    accounts: list[Account] | None
    uid0_accounts: list[str] | None
    duplicate_uids: dict[str, list[str]] | None
    empty_password_accounts: list[str] | None
    admin_groups: dict[str, list[str]] | None
    shadow_readable: bool


@dataclass(frozen=True)
class PasswdEntry:
    name: str
    uid: int
    gid: int
    home: str
    shell: str
    # The password field reduced to facts; None means "x": look in /etc/shadow.
    password: tuple[PasswordState, str | None] | None


@dataclass(frozen=True)
class ShadowEntry:
    name: str
    password: PasswordState
    hash_scheme: str | None
    last_change: int | None
    min_days: int | None
    max_days: int | None
    warn_days: int | None
    inactive_days: int | None
    expire: int | None


@dataclass(frozen=True)
class GroupEntry:
    name: str
    gid: int
    members: tuple[str, ...]


# --- pure parsers -------------------------------------------------------------------


def hash_scheme(hashed: str) -> str:
    """The crypt(5) scheme of a hash; "unknown" for anything unrecognised (never a
    piece of the hash itself)."""
    for prefix, scheme in _HASH_PREFIXES:
        if hashed.startswith(prefix):
            return scheme
    if _DES.match(hashed):
        return "des"
    if _BSDI.match(hashed):
        return "bsdicrypt"
    return "unknown"


def classify_password(field: str) -> tuple[PasswordState, str | None]:
    """(state, scheme) of a shadow (or unshadowed passwd) password field."""
    if field == "":
        return "empty", None
    if field.startswith("*"):  # "*", "*LK*", "*NP*": no hash can match
        return "no_password", None
    if field.startswith("!"):
        rest = field.lstrip("!")
        if rest == "" or rest.startswith("*"):  # "!", "!!", "!*": locked and no hash
            return "no_password", None
        return "locked", hash_scheme(rest)
    return "set", hash_scheme(field)


def _int_in(text: str, maximum: int) -> int | None:
    text = text.strip()
    if not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    return value if value <= maximum else None


def _records(text: str) -> list[list[str]]:
    """Colon-separated lines, without comments and NIS compat (+/-) lines."""
    return [
        line.split(":")
        for line in text.splitlines()
        if line.strip() and not line.startswith(("#", "+", "-"))
    ]


def parse_passwd(text: str) -> list[PasswdEntry]:
    """Entries of /etc/passwd; malformed lines (wrong field count, bad ids) are skipped."""
    entries = []
    for fields in _records(text):
        if len(fields) != 7 or not fields[0]:
            continue
        uid, gid = _int_in(fields[2], MAX_ID), _int_in(fields[3], MAX_ID)
        if uid is None or gid is None:
            continue
        password = None if fields[1] == "x" else classify_password(fields[1])
        entries.append(PasswdEntry(fields[0], uid, gid, fields[5], fields[6], password))
    return entries


def parse_shadow(text: str) -> dict[str, ShadowEntry]:
    """Entries of /etc/shadow by name; the hash is classified here and then dropped."""
    entries: dict[str, ShadowEntry] = {}
    for fields in _records(text):
        if len(fields) < 2 or not fields[0]:
            continue
        fields = fields + [""] * (9 - len(fields))
        state, scheme = classify_password(fields[1])
        days = [_int_in(value, MAX_DAYS) for value in fields[2:8]]
        entries[fields[0]] = ShadowEntry(fields[0], state, scheme, *days)
    return entries


def parse_group(text: str) -> list[GroupEntry]:
    entries = []
    for fields in _records(text):
        if len(fields) != 4 or not fields[0]:
            continue
        gid = _int_in(fields[2], MAX_ID)
        if gid is None:
            continue
        members = tuple(m.strip() for m in fields[3].split(",") if m.strip())
        entries.append(GroupEntry(fields[0], gid, members))
    return entries


def days_to_date(days: int | None) -> str | None:
    """A shadow day number (days since 1970-01-01) as an ISO date."""
    if days is None:
        return None
    try:
        return (date(1970, 1, 1) + timedelta(days=days)).isoformat()
    except OverflowError:
        return None


def interactive_shell(shell: str) -> bool:
    # An empty shell field means /bin/sh (passwd(5)), which is interactive.
    return shell.rsplit("/", 1)[-1] not in NON_INTERACTIVE_SHELLS


def build_account(entry: PasswdEntry, shadow: dict[str, ShadowEntry] | None) -> Account:
    aging = shadow.get(entry.name) if shadow is not None else None
    state: PasswordState
    if entry.password is not None:  # an unshadowed hash in /etc/passwd decides
        state, scheme = entry.password
    elif aging is not None:
        state, scheme = aging.password, aging.hash_scheme
    else:
        state, scheme = "unknown", None
    return Account(
        name=entry.name,
        uid=entry.uid,
        gid=entry.gid,
        home=entry.home,
        shell=entry.shell,
        interactive_shell=interactive_shell(entry.shell),
        password=state,
        hash_scheme=scheme,
        last_change=days_to_date(aging.last_change) if aging else None,
        min_days=aging.min_days if aging else None,
        max_days=aging.max_days if aging else None,
        warn_days=aging.warn_days if aging else None,
        inactive_days=aging.inactive_days if aging else None,
        expire_date=days_to_date(aging.expire) if aging else None,
    )


def admin_groups(passwd: list[PasswdEntry], groups: list[GroupEntry]) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for group in groups:
        if group.name not in ADMIN_GROUPS:
            continue
        members = set(result.get(group.name, [])) | set(group.members)
        members |= {entry.name for entry in passwd if entry.gid == group.gid}
        result[group.name] = sorted(members)
    return dict(sorted(result.items()))


def build_facts(
    passwd: list[PasswdEntry] | None,
    shadow: dict[str, ShadowEntry] | None,
    groups: list[GroupEntry] | None,
) -> AccountsFacts:
    """Facts from parsed files; an argument is None when its file could not be read."""
    if passwd is None:
        return AccountsFacts(
            accounts=None,
            uid0_accounts=None,
            duplicate_uids=None,
            empty_password_accounts=None,
            admin_groups=None,
            shadow_readable=shadow is not None,
        )
    accounts = [build_account(entry, shadow) for entry in passwd]
    empty = [a.name for a in accounts if a.password == "empty"]  # noqa: S105 (a state)
    by_uid: dict[int, list[str]] = {}
    for account in accounts:
        by_uid.setdefault(account.uid, []).append(account.name)
    return AccountsFacts(
        accounts=accounts,
        uid0_accounts=sorted(by_uid.get(0, [])),
        duplicate_uids={
            str(uid): sorted(names) for uid, names in sorted(by_uid.items()) if len(names) > 1
        },
        empty_password_accounts=sorted(empty),
        admin_groups=admin_groups(passwd, groups) if groups is not None else None,
        shadow_readable=shadow is not None,
    )


# --- collection ---------------------------------------------------------------------


@collector("access.accounts", version="1", category="access", facts=AccountsFacts)
def collect(c: Collection) -> AccountsFacts:
    """Local accounts from /etc/passwd, password state from /etc/shadow, admin groups."""
    passwd_text = c.read_text(PASSWD)
    shadow_text = c.read_text(SHADOW)  # unreadable: the error is recorded, states "unknown"
    group_text = c.read_text(GROUP)
    return build_facts(
        parse_passwd(passwd_text) if passwd_text is not None else None,
        parse_shadow(shadow_text) if shadow_text is not None else None,
        parse_group(group_text) if group_text is not None else None,
    )
