"""access.accounts: parsers on real files, ground truth on this machine, no secrets out."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collectors.access.accounts import (
    build_facts,
    classify_password,
    days_to_date,
    interactive_shell,
    parse_group,
    parse_passwd,
    parse_shadow,
)
from collectors.host import LocalHost, RootHost
from evidence.canonical import canonical_json
from tests.collectors.support import (
    DEBIAN,
    PLANTED,
    build_debian_root,
    collect,
    file_sources,
    sha256_file,
)

FIXTURE_HASHES = {
    line.split(":")[0]: line.split(":")[1]
    for path in (DEBIAN / "shadow", PLANTED / "shadow-extra")
    for line in path.read_text().splitlines()
    if len(line.split(":")[1]) > 3
}


def test_fixture_hashes_cover_every_scheme() -> None:
    # Guards the tests below: they must see every kind of hash the fixtures plant.
    assert set(FIXTURE_HASHES) == {"root", "cloudsdk", "postgres", "toor", "alice", "legacy"}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("root", ("set", "sha512crypt")),
        ("cloudsdk", ("set", "yescrypt")),
        ("postgres", ("locked", "sha256crypt")),
        ("toor", ("set", "md5crypt")),
        ("alice", ("set", "bcrypt")),
        ("legacy", ("set", "des")),
    ],
)
def test_classify_real_hashes(name: str, expected: tuple[str, str]) -> None:
    assert classify_password(FIXTURE_HASHES[name]) == expected


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("", ("empty", None)),
        ("*", ("no_password", None)),
        ("*LK*", ("no_password", None)),
        ("!", ("no_password", None)),
        ("!!", ("no_password", None)),
        ("!*", ("no_password", None)),  # what systemd-sysusers writes
        ("!!$6$abc$def", ("locked", "sha512crypt")),
        ("$2y$10$" + "a" * 53, ("set", "bcrypt")),
        ("$9$unheard-of", ("set", "unknown")),
        ("x", ("set", "unknown")),
    ],
)
def test_classify_edge_fields(field: str, expected: tuple[str, str | None]) -> None:
    assert classify_password(field) == expected


def test_parse_passwd_fixture() -> None:
    entries = parse_passwd((DEBIAN / "passwd").read_text())
    lines = (DEBIAN / "passwd").read_text().splitlines()
    assert [e.name for e in entries] == [line.split(":")[0] for line in lines]
    root, postgres = entries[0], next(e for e in entries if e.name == "postgres")
    assert (root.uid, root.gid, root.home, root.shell) == (0, 0, "/root", "/bin/bash")
    assert (postgres.uid, postgres.gid, postgres.home) == (101, 104, "/var/lib/postgresql")
    assert all(e.password is None for e in entries)  # every real entry is shadowed ("x")


def test_parse_shadow_fixture() -> None:
    shadow = parse_shadow((DEBIAN / "shadow").read_text())
    assert len(shadow) == len((DEBIAN / "shadow").read_text().splitlines())
    root = shadow["root"]
    assert (root.password, root.hash_scheme) == ("set", "sha512crypt")
    assert (root.last_change, root.min_days, root.max_days, root.warn_days) == (20228, 0, 99999, 7)
    assert (root.inactive_days, root.expire) == (None, None)
    assert (shadow["messagebus"].password, shadow["systemd-network"].password) == (
        "no_password",
        "no_password",
    )
    assert shadow["postgres"].password == "locked"
    assert shadow["cloudsdk"].max_days is None


def test_parse_group_fixture() -> None:
    groups = {g.name: g for g in parse_group((DEBIAN / "group").read_text())}
    assert groups["sudo"].gid == 27
    assert groups["sudo"].members == ()
    assert groups["nogroup"].gid == 65534


def test_unshadowed_passwd_field_decides() -> None:
    # A hash or an empty field left in /etc/passwd itself is what login checks.
    entries = parse_passwd("old::1005:1005::/home/old:/bin/sh\nx1:$1$ab$cd:1006:1006::/:/bin/sh\n")
    facts = build_facts(entries, {}, [])
    assert [(a.name, a.password, a.hash_scheme) for a in facts.accounts or []] == [
        ("old", "empty", None),
        ("x1", "set", "md5crypt"),
    ]
    assert facts.empty_password_accounts == ["old"]


def test_days_and_shells() -> None:
    assert days_to_date(20228) == "2025-05-20"
    assert days_to_date(0) == "1970-01-01"
    assert days_to_date(None) is None
    assert days_to_date(2**31 - 1) is None  # beyond year 9999
    for shell in ("/usr/sbin/nologin", "/sbin/nologin", "/bin/false", "/bin/sync", "/sbin/halt"):
        assert not interactive_shell(shell)
    for shell in ("/bin/bash", "/bin/sh", "", "/usr/bin/zsh"):
        assert interactive_shell(shell)


def test_malformed_lines_are_skipped() -> None:
    text = "# comment\n+nisuser::::::\nshort:x:1\nbig:x:99999999999:0::/:/bin/sh\nok:x:5:5::/:\n"
    assert [e.name for e in parse_passwd(text)] == ["ok"]
    assert [g.name for g in parse_group("g:x:notanumber:\nh:x:7:a,b\n")] == ["h"]


# --- this machine -------------------------------------------------------------------


def test_local_accounts_match_getent() -> None:
    getent = subprocess.run(["getent", "passwd"], capture_output=True, text=True, check=True)
    expected = [line.split(":") for line in getent.stdout.splitlines()]
    record = collect("access.accounts", LocalHost())
    accounts = record.facts["accounts"]
    assert [a["name"] for a in accounts] == [fields[0] for fields in expected]
    assert [(a["uid"], a["gid"], a["shell"]) for a in accounts] == [
        (int(f[2]), int(f[3]), f[6]) for f in expected
    ]
    assert record.facts["uid0_accounts"] == sorted(f[0] for f in expected if f[2] == "0")
    readable = os.access("/etc/shadow", os.R_OK)
    assert record.facts["shadow_readable"] == readable
    assert record.errors == ([] if readable else ["/etc/shadow: permission denied"])


# --- a planted root tree ------------------------------------------------------------


def test_root_tree_reports_planted_accounts(tmp_path: Path) -> None:
    root = build_debian_root(tmp_path / "root")
    record = collect("access.accounts", RootHost(root))
    facts = record.facts
    assert record.errors == []
    assert facts["uid0_accounts"] == ["root", "toor"]
    assert facts["duplicate_uids"] == {"0": ["root", "toor"]}
    assert facts["empty_password_accounts"] == ["emptyuser"]
    assert facts["shadow_readable"] is True
    assert facts["admin_groups"] == {
        "adm": ["cloudsdk"],
        "root": ["root", "toor"],
        "sudo": ["alice"],
    }
    by_name = {a["name"]: a for a in facts["accounts"]}
    assert by_name["alice"] == {
        "name": "alice",
        "uid": 1002,
        "gid": 27,
        "home": "/home/alice",
        "shell": "/bin/bash",
        "interactive_shell": True,
        "password": "set",
        "hash_scheme": "bcrypt",
        "last_change": "2025-11-08",
        "min_days": 1,
        "max_days": 90,
        "warn_days": 14,
        "inactive_days": 30,
        "expire_date": "2026-12-13",
    }
    assert by_name["legacy"]["last_change"] == "1970-01-01"  # must change at next login
    assert by_name["legacy"]["interactive_shell"] is False
    sources = file_sources(record)
    for path in ("/etc/passwd", "/etc/shadow", "/etc/group"):
        assert sources[path].sha256 == sha256_file(root / path.lstrip("/"))


class ShadowDeniedHost(RootHost):
    """A root tree where /etc/shadow raises PermissionError, as for a non-root agent
    (the test process runs as root, for which file modes do not deny reading)."""

    def read_file(self, path: str, max_bytes: int = 32 * 1024 * 1024) -> bytes:
        if path == "/etc/shadow":
            raise PermissionError(13, "Permission denied", path)
        return super().read_file(path, max_bytes)


def test_unreadable_shadow_gives_unknown(tmp_path: Path) -> None:
    root = build_debian_root(tmp_path / "root")
    record = collect("access.accounts", ShadowDeniedHost(root))
    assert record.errors == ["/etc/shadow: permission denied"]
    assert record.facts["shadow_readable"] is False
    states = {a["password"] for a in record.facts["accounts"]}
    assert states == {"unknown"}
    assert record.facts["uid0_accounts"] == ["root", "toor"]
    assert "/etc/shadow" not in file_sources(record)


def test_missing_passwd_is_unknown_not_empty(tmp_path: Path) -> None:
    root = build_debian_root(tmp_path / "root")
    (root / "etc" / "passwd").unlink()
    record = collect("access.accounts", RootHost(root))
    assert record.errors == ["/etc/passwd: not found"]
    assert record.facts["accounts"] is None
    assert record.facts["uid0_accounts"] is None


def test_no_piece_of_any_hash_reaches_the_record(tmp_path: Path) -> None:
    root = build_debian_root(tmp_path / "root")
    record = collect("access.accounts", RootHost(root))
    text = canonical_json(record.to_json()).decode()
    window = 6
    for name, hashed in FIXTURE_HASHES.items():
        secret = hashed.lstrip("!")
        prefix = re.match(r"^\$[^$]+\$", secret)
        body = secret[prefix.end() :] if prefix else secret
        assert name in text  # the account itself is reported
        pieces = {body[i : i + window] for i in range(len(body) - window + 1)}
        leaked = sorted(piece for piece in pieces if piece in text)
        assert leaked == [], f"{name}: pieces of its hash in the record: {leaked}"


# --- property tests -----------------------------------------------------------------

_LINES = st.lists(
    st.lists(
        st.text(alphabet=st.characters(blacklist_characters=":\n"), max_size=12), max_size=10
    ).map(":".join),
    max_size=8,
).map("\n".join)


@given(st.one_of(st.text(), _LINES))
def test_parsers_never_raise(text: str) -> None:
    passwd = parse_passwd(text)
    shadow = parse_shadow(text)
    groups = parse_group(text)
    facts = build_facts(passwd, shadow, groups)
    canonical_json(facts.model_dump(mode="json"))  # always serialisable for signing
