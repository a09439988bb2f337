"""access.sudoers: real sudoers files from the sudo package, checked against sudo's own
parser (`cvtsudoers -e -f json`, run in the debootstrapped tree), and a planted tree."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collectors.access.sudoers import (
    SudoersFacts,
    build_facts,
    includedir_files,
    load_sudoers,
    logical_lines,
)
from collectors.host import LocalHost, RootHost
from evidence.canonical import canonical_json
from tests.collectors.support import FIXTURES, collect, file_sources, sha256_file
from tests.debian_root import copy_tree, debian_tree

ACCESS = FIXTURES / "access"


def parse_text(text: str, files: dict[str, str] | None = None) -> SudoersFacts:
    """Facts of a sudoers text as /etc/sudoers, with optional other files by path."""
    files = {"/etc/sudoers": text, **(files or {})}

    def list_dir(path: str) -> list[str] | None:
        prefix = path.rstrip("/") + "/"
        names = [p[len(prefix) :] for p in files if p.startswith(prefix)]
        return sorted(names) if names else None

    return build_facts(load_sudoers(files.get, list_dir, lambda: "planted"), True)


def cvtsudoers(tree: Path, text: str | None = None) -> dict[str, Any]:
    """sudo's own parse with aliases expanded; `text` on stdin, else the tree's sudoers."""
    argv = ["chroot", str(tree), "cvtsudoers", "-e", "-f", "json"]
    result = subprocess.run(
        [*argv, "-" if text is not None else "/etc/sudoers"],
        input=text,
        capture_output=True,
        text=True,
        check=True,
    )
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


_PREFIX = {"usergroup": "%", "netgroup": "+", "userid": "#", "groupid": "%#"}


def _member(item: dict[str, Any]) -> str:
    (kind, value), *_ = ((k, v) for k, v in item.items() if k != "negated")
    if kind in ("sha224", "sha256", "sha384", "sha512"):
        return f"{kind}:{value} {item['command']}"
    text = _PREFIX.get(kind, "") + str(value)
    return ("!" if item.get("negated") else "") + text


def _command(item: dict[str, Any]) -> str:
    digest = next((k for k in item if k.startswith("sha")), None)
    text = f"{digest}:{item[digest]} {item['command']}" if digest else item["command"]
    return ("!" if item.get("negated") else "") + text


def expected_specs(truth: dict[str, Any]) -> list[tuple[Any, ...]]:
    """(who, hosts, runas, runas_groups, commands, nopasswd, all_commands) from cvtsudoers."""
    specs = []
    for spec in truth.get("User_Specs", []):
        runas: list[str] = []
        groups: list[str] = []
        commands: list[str] = []
        nopasswd = all_commands = False
        for cmnd in spec["Cmnd_Specs"]:
            users = [_member(u) for u in cmnd.get("runasusers", [])]
            grps = [_member(g).lstrip("%") for g in cmnd.get("runasgroups", [])]
            for command in cmnd["Commands"]:
                runas.extend(users or ([] if grps else ["root"]))
                groups.extend(grps)
                commands.append(_command(command))
            options = cmnd.get("Options", [])
            no_auth = {"authenticate": False} in options
            nopasswd |= no_auth
            all_commands |= any(_command(c) == "ALL" for c in cmnd["Commands"])
        specs.append(
            (
                [_member(u) for u in spec["User_List"]],
                [_member(h) for h in spec["Host_List"]],
                list(dict.fromkeys(runas)),
                list(dict.fromkeys(groups)),
                commands,
                nopasswd,
                all_commands,
            )
        )
    return specs


def actual_specs(facts: SudoersFacts) -> list[tuple[Any, ...]]:
    return [
        (s.who, s.hosts, s.runas, s.runas_groups, s.commands, s.nopasswd, s.all_commands)
        for s in facts.user_specs or []
    ]


@pytest.fixture(scope="module")
def tree() -> Path:
    return debian_tree()


# --- real samples against sudo's parser -------------------------------------------------


@pytest.mark.parametrize("name", ["sudoers-example", "sudoers-debian"])
def test_samples_match_cvtsudoers(tree: Path, name: str) -> None:
    text = (ACCESS / name).read_text()
    truth = cvtsudoers(tree, text)
    facts = parse_text(text, {"/etc/sudoers.d/README": (ACCESS / "sudoers.d-README").read_text()})
    assert facts.problems == []
    assert actual_specs(facts) == expected_specs(truth)
    # Every Defaults parameter, in order, with sudo's value (flags: negation).
    expected_defaults = [
        (name, value) for d in truth["Defaults"] for o in d["Options"] for name, value in o.items()
    ]
    assert [
        (d.name, (not d.negated) if d.value is None else d.value) for d in facts.defaults or []
    ] == expected_defaults


def test_example_summary() -> None:
    facts = parse_text((ACCESS / "sudoers-example").read_text())
    assert facts.principals_with_nopasswd_all == ["dowdy", "fred", "mikef", "millert"]
    assert facts.principals_with_nopasswd == ["ALL", "dowdy", "fred", "mikef", "millert"]
    assert "%wheel" in (facts.principals_with_all or [])
    assert "operator" not in (facts.principals_with_all or [])
    assert facts.authenticate_disabled == ["/etc/sudoers:14"]
    assert facts.aliases is not None
    assert facts.aliases["user"]["FULLTIMERS"] == ["millert", "mikef", "dowdy"]
    assert facts.aliases["host"]["HPPA"] == ["boa", "nag", "python"]  # a continued line
    bob = [s for s in facts.user_specs or [] if s.who == ["bob"]]
    assert [(s.line, s.hosts[0], s.runas) for s in bob] == [
        (95, "bigtime", ["root", "operator"]),
        (95, "grolsch", ["root", "operator"]),
    ]
    # logged Defaults bound to hosts are not global
    assert "logfile" not in (facts.notable_defaults or {})


def test_debian_defaults() -> None:
    facts = parse_text((ACCESS / "sudoers-debian").read_text())
    notable = facts.notable_defaults or {}
    assert sorted(notable) == ["env_reset", "secure_path", "use_pty"]
    assert notable["use_pty"].enabled is True
    assert notable["use_pty"].line == 15
    assert notable["secure_path"].value == (
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    )
    assert facts.principals_with_all == ["%sudo", "root"]
    assert facts.principals_with_nopasswd == []
    # the commented-out "#Defaults:%sudo env_keep += ..." lines are comments
    assert all(d.binding is None for d in facts.defaults or [])


# --- grammar details ---------------------------------------------------------------------


def test_includes_relative_hostname_and_skipped_names() -> None:
    facts = parse_text(
        '@include local # the local rules\n#include "/etc/sudo-%h"\n#includedir /etc/sudoers.d\n',
        {
            "/etc/local": "alice ALL = /bin/true\n",
            "/etc/sudo-planted": "bob ALL = NOPASSWD: ALL\n",
            "/etc/sudoers.d/b": "carol ALL = ALL\n",
            "/etc/sudoers.d/a": "dave ALL = ALL\n",
            "/etc/sudoers.d/a~": "eve ALL = ALL\n",
            "/etc/sudoers.d/c.dpkg-old": "mallory ALL = ALL\n",
        },
    )
    assert facts.files_read == [
        "/etc/sudoers",
        "/etc/local",
        "/etc/sudo-planted",
        "/etc/sudoers.d/a",
        "/etc/sudoers.d/b",
    ]
    assert [s.who for s in facts.user_specs or []] == [["alice"], ["bob"], ["dave"], ["carol"]]
    assert includedir_files(["z", "a~", "x.conf", "README", "10_admins"]) == [
        "10_admins",
        "README",
        "z",
    ]


def test_include_loop_and_missing_file_are_problems() -> None:
    facts = parse_text(
        "#include /etc/loop\n@include /etc/missing\n", {"/etc/loop": "#include /etc/sudoers\n"}
    )
    reasons = [(p.file, p.line, p.reason) for p in facts.problems]
    assert reasons == [
        ("/etc/loop", 1, "include loop through /etc/sudoers"),
        ("/etc/sudoers", 2, "included file /etc/missing not readable or missing"),
    ]


def test_tags_runas_uid_and_escapes() -> None:
    text = (
        "Cmnd_Alias EVERYTHING = ALL\n"
        "#1000 ALL = (root) NOPASSWD: /usr/bin/apt-get update, PASSWD: /bin/ls # comment\n"
        "%#27, !bob ALL = (:wheel) TIMEOUT=5m CWD=/tmp /bin/echo a\\,b\\:c\n"
        'ops ALL = (appuser : appgroup) NOEXEC: SETENV: EVERYTHING, !/usr/bin/su ""\n'
    )
    specs = parse_text(text).user_specs or []
    assert [(s.who, s.commands, s.nopasswd, s.tags) for s in specs] == [
        (["#1000"], ["/usr/bin/apt-get update", "/bin/ls"], True, ["NOPASSWD", "PASSWD"]),
        (["%#27", "!bob"], ["/bin/echo a,b:c"], False, []),
        (["ops"], ["ALL", '!/usr/bin/su ""'], False, ["NOEXEC", "SETENV"]),
    ]
    assert (specs[1].runas, specs[1].runas_groups) == ([], ["wheel"])
    assert (specs[2].runas, specs[2].runas_groups, specs[2].all_commands) == (
        ["appuser"],
        ["appgroup"],
        True,
    )
    assert specs[0].nopasswd_all is False


def test_problems_name_the_line_and_redact() -> None:
    text = "root ALL=(ALL) ALL\nthis is not sudoers\nfoo bar = (baz\nx y z db_password=hunter2\n"
    facts = parse_text(text)
    assert [(p.line, p.reason.split(":")[0]) for p in facts.problems] == [
        (2, "not understood"),
        (3, "not understood"),
        (4, "not understood"),
    ]
    assert facts.problems[2].text == "x y z db_password=<redacted>"
    assert "hunter2" not in canonical_json(facts.model_dump(mode="json")).decode()
    assert len(parse_text("x" * 5000).problems[0].text or "") == 200
    assert [s.who for s in facts.user_specs or []] == [["root"]]
    # sudo rejects commands that are not full paths (which also keeps a stray
    # "x db_password=hunter2 y" from passing as user x on host db_password)
    relative = parse_text("alice ALL = vim\nx db_password=hunter2 y\n")
    assert [(p.line, p.reason) for p in relative.problems] == [
        (1, "not understood: a command must be a full path, ALL, sudoedit or an alias"),
        (2, "not understood: a command must be a full path, ALL, sudoedit or an alias"),
    ]
    assert relative.problems[1].text == "x db_password=<redacted> y"


def test_comment_and_continuation_lines() -> None:
    lines = logical_lines("# a \\\nroot ALL = \\\n  ALL\n#1000 ALL = ALL\n#includedir /x\n")
    assert [(line.number, line.text) for line in lines[:2]] == [
        (2, "root ALL =    ALL"),
        (4, "#1000 ALL = ALL"),
    ]
    assert lines[2].directive is not None and lines[2].directive.path == "/x"
    spaced = logical_lines('@include "/etc/my rules"\n@include /etc/my\\ rules2\n')
    assert [line.directive.path for line in spaced if line.directive] == [
        "/etc/my rules",
        "/etc/my rules2",
    ]


# --- collection on real trees ------------------------------------------------------------

PLANTED_SUDOERS_D = """\
User_Alias ADMINS = alice, %ops
Cmnd_Alias SHELLS = /bin/sh, /bin/bash
Defaults:ADMINS !authenticate
%wheel ALL=(ALL) NOPASSWD: ALL
ADMINS ALL = (root) SHELLS
@include /etc/sudoers.local
"""


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory, tree: Path) -> Iterator[Path]:
    root = copy_tree(tree, tmp_path_factory.mktemp("sudoers") / "root")
    etc = root / "etc"
    (etc / "sudoers.d" / "50-planted").write_text(PLANTED_SUDOERS_D)
    (etc / "sudoers.d" / "50-planted~").write_text("backup ALL = NOPASSWD: ALL\n")
    (etc / "sudoers.d" / "60-old.dpkg-old").write_text("old ALL = NOPASSWD: ALL\n")
    (etc / "sudoers.local").write_text("deploy ALL = NOPASSWD: /usr/bin/systemctl restart app\n")
    for path in ("sudoers.d/50-planted", "sudoers.local"):
        os.chmod(etc / path, 0o440)
    # sudo itself accepts the planted files
    check = subprocess.run(["chroot", str(root), "visudo", "-c"], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    yield root


def test_planted_tree(planted: Path) -> None:
    record = collect("access.sudoers", RootHost(planted))
    facts = record.facts
    assert record.errors == []
    assert facts["present"] is True
    assert facts["files_read"] == [
        "/etc/sudoers",
        "/etc/sudoers.d/50-planted",
        "/etc/sudoers.local",
        "/etc/sudoers.d/README",
    ]
    assert facts["principals_with_all"] == ["%sudo", "%wheel", "root"]
    assert facts["principals_with_nopasswd_all"] == ["%wheel"]
    assert facts["principals_with_nopasswd"] == ["%wheel", "deploy"]
    assert facts["authenticate_disabled"] == ["/etc/sudoers.d/50-planted:3"]
    assert facts["aliases"]["user"] == {"ADMINS": ["alice", "%ops"]}
    admins = next(s for s in facts["user_specs"] if s["line"] == 5)
    assert admins["who"] == ["alice", "%ops"]
    assert admins["commands"] == ["/bin/sh", "/bin/bash"]
    assert facts["problems"] == []
    sources = file_sources(record)
    for path in facts["files_read"]:
        assert sources[path].sha256 == sha256_file(planted / path.lstrip("/"))
    # sudo's own parse of the same tree, includes followed
    truth = cvtsudoers(planted)
    assert actual_specs(SudoersFacts.model_validate(facts)) == expected_specs(truth)


def test_unpacked_debian_tree(tree: Path) -> None:
    record = collect("access.sudoers", RootHost(tree))
    assert record.errors == []
    assert record.facts["files_read"] == ["/etc/sudoers", "/etc/sudoers.d/README"]
    assert record.facts["principals_with_nopasswd"] == []
    assert record.facts["notable_defaults"]["use_pty"]["enabled"] is True


def test_this_machine() -> None:
    record = collect("access.sudoers", LocalHost())
    present = os.path.exists("/etc/sudoers")
    assert record.facts["present"] is present
    if not present:  # sudo is not installed here: no rules, which is not "unknown"
        assert record.facts["user_specs"] == []
        assert record.errors == []


class SudoersDeniedHost(RootHost):
    def read_file(self, path: str, max_bytes: int = 32 * 1024 * 1024) -> bytes:
        if path == "/etc/sudoers":
            raise PermissionError(13, "Permission denied", path)
        return super().read_file(path, max_bytes)


def test_unreadable_sudoers_is_unknown(tree: Path) -> None:
    record = collect("access.sudoers", SudoersDeniedHost(tree))
    assert record.errors == ["/etc/sudoers: permission denied"]
    assert record.facts["present"] is None
    assert record.facts["user_specs"] is None
    assert record.facts["principals_with_all"] is None


# --- property tests ------------------------------------------------------------------------

_GRAMMAR = st.lists(
    st.one_of(
        st.sampled_from(
            [
                "Defaults",
                "User_Alias",
                "Cmnd_Alias",
                "#include",
                "@includedir",
                "ALL",
                "NOPASSWD:",
                "(",
                ")",
                "=",
                ":",
                ",",
                "!",
                '"',
                "\\",
                "\n",
                " ",
                "#",
                "%wheel",
                "sha256:",
                "/bin/sh",
                "A",
                "+=",
            ]
        ),
        st.text(max_size=5),
    ),
    max_size=40,
).map("".join)


@settings(max_examples=300)
@given(st.one_of(st.text(), _GRAMMAR))
def test_parser_never_raises_and_is_stable(text: str) -> None:
    first = parse_text(text).model_dump(mode="json")
    assert parse_text(text).model_dump(mode="json") == first
    canonical_json(first)
    for problem in first["problems"]:
        assert problem["text"] is None or len(problem["text"]) <= 200
