"""configuration.auth_policy: PAM, pwquality, faillock, login.defs and TMOUT parsers on
real Debian files, this machine, and planted debootstrapped trees."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collectors.configuration.auth_policy import (
    FAILLOCK_DEFAULTS,
    PWQUALITY_DEFAULTS,
    REDACTED,
    args_dict,
    effective_tmout,
    expand_stack,
    parse_conf,
    parse_login_defs,
    parse_pam,
    parse_tmout_events,
    redact_arg,
    tmout_assignments,
)
from collectors.host import LocalHost, RootHost
from evidence.canonical import canonical_json
from tests.collectors.support import FIXTURES, collect, file_sources, sha256_file
from tests.debian_root import copy_tree, debian_tree

AUTH = FIXTURES / "auth"


def rules_of(name: str) -> list[tuple[int, str, str | None, str, tuple[str, ...]]]:
    return [
        (r.line, r.type, r.control, r.module, r.args) for r in parse_pam((AUTH / name).read_text())
    ]


# --- PAM lines ------------------------------------------------------------------------


def test_debian_generated_stacks() -> None:
    assert rules_of("debian12-common-password") == [
        (25, "password", "requisite", "pam_pwquality.so", ("retry=3",)),
        (
            26,
            "password",
            "[success=1 default=ignore]",
            "pam_unix.so",
            ("obscure", "use_authtok", "try_first_pass", "yescrypt"),
        ),
        (28, "password", "requisite", "pam_deny.so", ()),
        (32, "password", "required", "pam_permit.so", ()),
    ]
    assert rules_of("debian12-common-auth") == [
        (17, "auth", "[success=1 default=ignore]", "pam_unix.so", ("nullok",)),
        (19, "auth", "requisite", "pam_deny.so", ()),
        (23, "auth", "required", "pam_permit.so", ()),
    ]
    assert rules_of("debian12-common-account")[0] == (
        17,
        "account",
        "[success=1 new_authtok_reqd=done default=ignore]",
        "pam_unix.so",
        (),
    )


def test_continuation_line_from_the_pam_pwquality_manual() -> None:
    assert rules_of("pam_pwquality-man-example") == [
        (
            7,
            "password",
            "required",
            "pam_pwquality.so",
            ("difok=3", "minlen=15", "dcredit=2", "ocredit=2"),
        ),
        (9, "password", "required", "pam_unix.so", ("use_authtok", "nullok", "sha256")),
    ]


def test_faillock_example_from_the_manual() -> None:
    rules = rules_of("pam_faillock-man-example")
    assert len(rules) == 14  # 18 lines, 4 of them comments
    assert (rules[3][1:4], rules[3][4]) == (("auth", "required", "pam_faillock.so"), ("preauth",))
    assert rules[5][1:5] == ("auth", "[default=die]", "pam_faillock.so", ("authfail",))
    assert rules[7][1:4] == ("account", "required", "pam_faillock.so")


def test_pam_syntax_details() -> None:
    text = (
        "-session optional pam_systemd.so\n"
        "auth [success=2 default=ignore] pam_exec.so [arg with \\] bracket] x # trailing\n"
        "@include common-auth\n"
        "password substack system-auth\n"
        "bogus required pam_x.so\n"
        "auth required\n"
    )
    rules = parse_pam(text)
    assert [(r.type, r.control, r.module, r.args, r.missing_ok) for r in rules] == [
        ("session", "optional", "pam_systemd.so", (), True),
        (
            "auth",
            "[success=2 default=ignore]",
            "pam_exec.so",
            ("[arg with \\] bracket]", "x"),
            False,
        ),
        ("@include", None, "common-auth", (), False),
        ("password", "substack", "system-auth", (), False),
    ]


def test_includes_expand_in_place() -> None:
    tree = debian_tree()

    def read(path: str) -> str | None:
        real = tree / path.lstrip("/")
        return real.read_text() if real.is_file() else None

    # Debian's real /etc/pam.d/passwd is "@include common-password".
    rules = expand_stack("/etc/pam.d/passwd", read)
    assert [(r.file, r.type, r.module) for r in rules] == [
        ("/etc/pam.d/passwd", "@include", "common-password"),
        ("/etc/pam.d/common-password", "password", "pam_pwquality.so"),
        ("/etc/pam.d/common-password", "password", "pam_unix.so"),
        ("/etc/pam.d/common-password", "password", "pam_deny.so"),
        ("/etc/pam.d/common-password", "password", "pam_permit.so"),
    ]
    # substack brings in only its own type (pam.conf(5)).
    files = {
        "/etc/pam.d/x": "auth substack common-auth\n",
        "/etc/pam.d/common-auth": read("/etc/pam.d/common-password"),
    }
    rules = expand_stack("/etc/pam.d/x", files.get)
    assert [r.module for r in rules] == ["common-auth"]


def test_include_loops_stop() -> None:
    files = {"/etc/pam.d/a": "@include a\nauth required pam_deny.so\n"}
    rules = expand_stack("/etc/pam.d/a", files.get)
    assert sum(r.module == "pam_deny.so" for r in rules) == 9  # depth limit 8, plus the top


def test_secret_looking_arguments_are_redacted() -> None:
    assert redact_arg("bindpw=s3cret") == f"bindpw={REDACTED}"
    assert redact_arg("api_token=abc") == f"api_token={REDACTED}"
    assert redact_arg("try_first_pass") == "try_first_pass"  # a flag carries no value
    assert redact_arg("remember=5") == "remember=5"
    rules = expand_stack("/p", {"/p": "auth required pam_x.so secret=hunter2 deny=3\n"}.get)
    assert rules[0].args == [f"secret={REDACTED}", "deny=3"]
    assert args_dict(rules[0].args) == {"secret": REDACTED, "deny": "3"}


# --- key = value files ------------------------------------------------------------------


def test_debian_conf_files_set_nothing() -> None:
    assert parse_conf((AUTH / "debian12-pwquality.conf").read_text()) == {}
    assert parse_conf((AUTH / "debian12-faillock.conf").read_text()) == {}
    assert parse_conf((AUTH / "faillock.conf-man-example").read_text()) == {
        "deny": "4",
        "unlock_time": "1200",
        "silent": None,
    }


def _commented_defaults(text: str) -> dict[str, str | None]:
    return parse_conf(
        "\n".join(line[2:] for line in text.splitlines() if re.match(r"# [a-z_]+( = \S+)?$", line))
    )


def test_documented_defaults_come_from_the_packaged_comments() -> None:
    commented = _commented_defaults((AUTH / "debian12-pwquality.conf").read_text())
    for key, value in PWQUALITY_DEFAULTS.items():
        if key == "retry":  # the comment shows an example (3); its text says "The default is 1"
            assert "The default is 1" in (AUTH / "debian12-pwquality.conf").read_text()
        elif key == "enforce_for_root":
            assert value is False and commented["enforce_for_root"] is None  # a flag, off
        else:
            assert commented[key] == str(value), key
    commented = _commented_defaults((AUTH / "debian12-faillock.conf").read_text())
    for key, value in FAILLOCK_DEFAULTS.items():
        assert commented[key] == (None if value is False else str(value)), key


def test_login_defs_debian() -> None:
    defs = parse_login_defs((AUTH / "debian12-login.defs").read_text())
    assert defs.model_dump() == {
        "pass_max_days": 99999,
        "pass_min_days": 0,
        "pass_warn_age": 7,
        "pass_min_len": None,  # Debian leaves it to PAM
        "encrypt_method": "SHA512",
        "umask": "022",
        "login_retries": 5,
        "login_timeout": 60,
    }
    changed = parse_login_defs(
        (AUTH / "debian12-login.defs").read_text() + 'PASS_MAX_DAYS 90\nENCRYPT_METHOD "YESCRYPT"\n'
    )
    assert (changed.pass_max_days, changed.encrypt_method) == (90, "YESCRYPT")


# --- TMOUT -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("TMOUT=600\n", [(1, "600", 600, False, False)]),
        ("readonly TMOUT=900\nexport TMOUT\n", [(1, "900", 900, True, True)]),
        ("TMOUT=300; readonly TMOUT; export TMOUT\n", [(1, "300", 300, True, True)]),
        ('declare -xr TMOUT="1200"\n', [(1, "1200", 1200, True, True)]),
        ("typeset -r TMOUT=60\n", [(1, "60", 60, True, False)]),
        ("# TMOUT=600\nexport PATH # TMOUT=1\n", []),
        ('[ -z "$TMOUT" ] && TMOUT=${TMOUT:-600}\n', [(1, "${TMOUT:-600}", None, False, False)]),
        ("if true; then\n  TMOUT=0\nfi\n", [(2, "0", 0, False, False)]),
        ("MYTMOUT=5\nTMOUTX=5\n", []),
    ],
)
def test_tmout_assignments(
    text: str, expected: list[tuple[int, str, int | None, bool, bool]]
) -> None:
    found = tmout_assignments("/f", parse_tmout_events(text))
    assert [(a.line, a.value, a.seconds, a.readonly, a.exported) for a in found] == expected


def test_effective_tmout_follows_order_and_readonly() -> None:
    events = parse_tmout_events
    assert effective_tmout([("a", events("TMOUT=900\n")), ("b", events("TMOUT=300\n"))]) == (
        300,
        False,
    )
    assert effective_tmout(
        [("a", events("readonly TMOUT=900\n")), ("b", events("TMOUT=300\n"))]
    ) == (900, True)
    assert effective_tmout([("a", events("TMOUT=900\nunset TMOUT\n"))]) == (None, False)
    assert effective_tmout([("a", events("TMOUT=abc\n"))]) == (None, False)
    assert effective_tmout([]) == (None, False)


# --- this machine -------------------------------------------------------------------------


def test_local_host() -> None:
    record = collect("configuration.auth_policy", LocalHost())
    facts = record.facts
    assert record.errors == []
    expected = parse_login_defs(Path("/etc/login.defs").read_text()).model_dump()
    assert facts["login_defs"] == expected
    assert file_sources(record)["/etc/login.defs"].sha256 == sha256_file(Path("/etc/login.defs"))
    present = [
        p
        for p in (
            "common-password",
            "common-auth",
            "common-account",
            "system-auth",
            "password-auth",
        )
        if Path("/etc/pam.d", p).exists()
    ]
    assert [s["path"] for s in facts["pam_stacks"]] == [f"/etc/pam.d/{p}" for p in present]
    uses_pwquality = any("pam_pwquality.so" in Path("/etc/pam.d", p).read_text() for p in present)
    assert (facts["password_quality"]["module"] == "pam_pwquality") == uses_pwquality


# --- debootstrapped trees -----------------------------------------------------------------


def test_planted_tree(tmp_path: Path) -> None:
    root = copy_tree(debian_tree(), tmp_path / "root")
    login_defs = root / "etc/login.defs"
    text = login_defs.read_text()
    assert "PASS_MAX_DAYS\t99999\n" in text
    login_defs.write_text(
        text.replace("PASS_MAX_DAYS\t99999\n", "PASS_MAX_DAYS 99999\nPASS_MIN_LEN 12\n")
    )
    (root / "etc/profile.d").mkdir(exist_ok=True)
    (root / "etc/profile.d/tmout.sh").write_text("TMOUT=600\n")
    (root / "etc/security/pwquality.conf.d").mkdir()
    (root / "etc/security/pwquality.conf.d/50-planted.conf").write_text(
        "minlen = 14\nenforce_for_root\n"
    )
    with (root / "etc/security/pwquality.conf").open("a") as handle:
        handle.write("minlen = 10\ndcredit = -1\n")  # pwquality.conf is read last: it wins
    # pam_faillock as its manual's second example wires it, with the manual's faillock.conf.
    example = (AUTH / "pam_faillock-man-example").read_text().splitlines()
    common_auth = root / "etc/pam.d/common-auth"
    common_auth.write_text("\n".join([example[3], common_auth.read_text(), example[7]]) + "\n")
    (root / "etc/security/faillock.conf").write_text(
        (AUTH / "faillock.conf-man-example").read_text()
    )

    record = collect("configuration.auth_policy", RootHost(root))
    facts = record.facts
    assert record.errors == []
    assert facts["login_defs"]["pass_max_days"] == 99999
    assert facts["login_defs"]["pass_min_len"] == 12
    assert facts["tmout_assignments"] == [
        {
            "file": "/etc/profile.d/tmout.sh",
            "line": 1,
            "value": "600",
            "seconds": 600,
            "readonly": False,
            "exported": False,
        }
    ]
    assert (facts["tmout_seconds"], facts["tmout_readonly"]) == (600, False)
    quality = facts["password_quality"]
    assert quality["config_files"] == [
        "/etc/security/pwquality.conf.d/50-planted.conf",
        "/etc/security/pwquality.conf",
    ]
    assert (quality["configured"]["minlen"], quality["configured"]["dcredit"]) == (10, -1)
    assert quality["configured"]["enforce_for_root"] is True
    assert (
        quality["effective"]["minlen"] == 10 and quality["effective"]["retry"] == 3
    )  # retry=3 argument
    lockout = facts["lockout"]
    assert lockout["module"] == "pam_faillock"
    assert [(r["type"], r["args"]) for r in lockout["rules"]] == [
        ("auth", ["preauth"]),
        ("auth", ["authfail"]),
    ]
    assert lockout["configured"] == {
        "deny": 4,
        "unlock_time": 1200,
        "fail_interval": None,
        "even_deny_root": None,
    }
    assert lockout["effective"] == {
        "deny": 4,
        "unlock_time": 1200,
        "fail_interval": 900,
        "even_deny_root": False,
    }
    sources = file_sources(record)
    assert sources["/etc/profile.d/tmout.sh"].sha256 == sha256_file(root / "etc/profile.d/tmout.sh")


def test_faillock_arguments_override_the_file(tmp_path: Path) -> None:
    root = copy_tree(debian_tree(), tmp_path / "root")
    common_auth = root / "etc/pam.d/common-auth"
    # The manual's first example line, with the deny/unlock_time/even_deny_root options of
    # pam_faillock(8) given as arguments.
    common_auth.write_text(
        common_auth.read_text()
        + "auth     [default=die]  pam_faillock.so authfail"
        + " deny=5 unlock_time=never even_deny_root\n"
    )
    record = collect("configuration.auth_policy", RootHost(root))
    assert record.facts["lockout"]["effective"] == {
        "deny": 5,
        "unlock_time": 0,
        "fail_interval": 900,
        "even_deny_root": True,
    }


def test_rhel_named_stack(tmp_path: Path) -> None:
    # No real RHEL system-auth could be obtained here: Debian's real common-auth and
    # common-password lines stand in for it at the RHEL path (see tests/fixtures/README.md).
    root = copy_tree(debian_tree(), tmp_path / "root")
    pam = root / "etc/pam.d"
    (pam / "system-auth").write_text(
        (pam / "common-auth").read_text() + (pam / "common-password").read_text()
    )
    for name in ("common-password", "common-auth", "common-account"):
        (pam / name).unlink()
    record = collect("configuration.auth_policy", RootHost(root))
    facts = record.facts
    assert [s["path"] for s in facts["pam_stacks"]] == ["/etc/pam.d/system-auth"]
    assert facts["password_quality"]["module"] == "pam_pwquality"
    assert facts["password_quality"]["module_file"] == "/etc/pam.d/system-auth"
    assert facts["password_storage"]["hash"] == "yescrypt"
    assert facts["password_storage"]["nullok_auth"] is True
    assert facts["lockout"]["module"] is None


def test_no_stacks_and_no_login_defs(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    record = collect("configuration.auth_policy", RootHost(tmp_path))
    facts = record.facts
    assert record.errors == ["/etc/login.defs: not found"]
    assert facts["pam_stacks"] == [] and facts["login_defs"] is None
    assert (
        facts["password_quality"]["module"] is None
        and facts["password_quality"]["effective"] is None
    )
    assert facts["password_storage"]["pam_unix_args"] is None
    assert facts["tmout_seconds"] is None


# --- property tests -------------------------------------------------------------------------

_PAMISH = st.lists(
    st.lists(
        st.one_of(
            st.sampled_from(
                [
                    "auth",
                    "-session",
                    "password",
                    "@include",
                    "[",
                    "]",
                    "[success=1",
                    "default=ignore]",
                    "\\",
                    "#",
                    "pam_unix.so",
                    "remember=5",
                    "secret=x",
                ]
            ),
            st.text(max_size=6),
        ),
        max_size=6,
    ).map(" ".join),
    max_size=10,
).map("\n".join)
_SHELLISH = st.lists(
    st.lists(
        st.one_of(
            st.sampled_from(
                [
                    "TMOUT=",
                    "600",
                    "readonly",
                    "export",
                    "declare",
                    "-r",
                    "unset",
                    ";",
                    "#",
                    "'",
                    '"',
                    "TMOUT",
                ]
            ),
            st.text(max_size=5),
        ),
        max_size=6,
    ).map("".join),
    max_size=8,
).map("\n".join)


@given(st.one_of(st.text(), _PAMISH, _SHELLISH))
def test_parsers_never_raise_and_are_stable(text: str) -> None:
    files = {"/etc/pam.d/common-auth": text, "/etc/pam.d/x": text}
    rules = expand_stack("/etc/pam.d/common-auth", files.get)
    assert rules == expand_stack("/etc/pam.d/common-auth", files.get)
    assert parse_conf(text) == parse_conf(text)
    defs = parse_login_defs(text)
    assert defs == parse_login_defs(text)
    events = parse_tmout_events(text)
    assert events == parse_tmout_events(text)
    canonical_json(
        {
            "rules": [r.model_dump(mode="json") for r in rules],
            "defs": defs.model_dump(mode="json"),
            "tmout": [a.model_dump(mode="json") for a in tmout_assignments("/f", events)],
            "effective": list(effective_tmout([("/f", events)])),
        }
    )
    for rule in rules:
        for arg in rule.args:
            key, sep, value = arg.partition("=")
            if sep and re.search("pass|pw|secret|token|key|credential", key, re.IGNORECASE):
                assert value == REDACTED


def test_pwhistory_remember_from_argument_conf_file_or_default(tmp_path: Path) -> None:
    root = copy_tree(debian_tree(), tmp_path / "root")
    password = root / "etc/pam.d/common-password"
    debian = password.read_text()

    def remember(line: str, conf: str | None = None) -> object:
        password.write_text(line + "\n" + debian)
        conf_file = root / "etc/security/pwhistory.conf"
        conf_file.unlink(missing_ok=True)
        if conf is not None:
            conf_file.write_text(conf)
        facts = collect("configuration.auth_policy", RootHost(root)).facts
        return facts["password_storage"]["pwhistory_remember"]

    line = "password required pam_pwhistory.so use_authtok enforce_for_root"
    # pam_pwhistory(8): "remember=N ... The default is 10."
    assert remember(line) == 10
    assert remember(line, "# history\nremember = 24\n") == 24
    assert remember(line + " remember=5", "remember = 24\n") == 5
    assert remember("# no pam_pwhistory here", "remember = 24\n") is None
