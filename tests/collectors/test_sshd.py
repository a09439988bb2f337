"""configuration.sshd: the file parser against sshd's own `sshd -T`, real Debian files,
this machine, and a planted debootstrapped tree."""

from __future__ import annotations

import fnmatch
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collectors.configuration.sshd import (
    OPENSSH_DEFAULTS,
    SSHD,
    SshdSettings,
    assemble_algorithms,
    convtime,
    effective_from_config,
    evaluate_sshd_config,
    parse_sshd_config_text,
    parse_sshd_t,
    settings_from_sshd_t,
    split_args,
)
from collectors.host import CommandResult, LocalHost, RootHost, run_local
from collectors.registry import all_collectors
from evidence.canonical import canonical_json
from tests.collectors.support import FIXTURES, collect, file_sources, sha256_file
from tests.debian_root import copy_tree, debian_tree

CONFIGS = Path(__file__).resolve().parents[2] / "configs"

SSHD_FIXTURES = FIXTURES / "sshd"
DEBIAN_CONFIG = SSHD_FIXTURES / "debian12-sshd_config"


def parse_files(main: Path | str, files: dict[str, str] | None = None) -> SshdSettings:
    """File-parse settings of `main`: from the real file system, or from `files`."""
    config = evaluate_sshd_config(str(main), *_io(files))
    assert config is not None
    return effective_from_config(config)[0]


Reader = Callable[[str], str | None]
Expander = Callable[[str], list[str]]


def _io(files: dict[str, str] | None) -> tuple[Reader, Expander]:
    """(read, expand) over the real file system, or over the in-memory `files`."""
    if files is None:
        return (
            lambda path: Path(path).read_text() if os.path.isfile(path) else None,
            lambda pattern: sorted(glob.glob(pattern)),
        )
    return (
        files.get,
        lambda pattern: sorted(p for p in files if fnmatch.fnmatchcase(p, pattern)),
    )


def sshd_runnable() -> bool:
    return os.path.exists(SSHD) and os.geteuid() == 0 and shutil.which("ssh-keygen") is not None


needs_sshd = pytest.mark.skipif(not sshd_runnable(), reason="needs root, sshd and ssh-keygen")


@pytest.fixture(scope="module")
def host_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not sshd_runnable():
        pytest.skip("needs root, sshd and ssh-keygen")
    key = tmp_path_factory.mktemp("hostkey") / "ssh_host_ed25519_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key


def sshd_t(config: Path) -> SshdSettings:
    """What the real sshd computes for `config` (the oracle)."""
    done = subprocess.run([SSHD, "-T", "-f", str(config)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return settings_from_sshd_t(parse_sshd_t(done.stdout))[0]


def assert_same(parsed: SshdSettings, oracle: SshdSettings) -> None:
    # Every field, lists in order (ListenAddress order included).
    assert parsed.model_dump() == oracle.model_dump()


# --- the defaults table and the real Debian files -------------------------------------


def test_defaults_table_is_what_sshd_9_2_prints() -> None:
    # sshd-T-defaults-9.2p1.txt: `sshd -T -f <file with only a HostKey line>`.
    dump = parse_sshd_t((SSHD_FIXTURES / "sshd-T-defaults-9.2p1.txt").read_text())
    from_sshd = settings_from_sshd_t(dump)[0]
    config = evaluate_sshd_config("/c", *_io({"/c": "HostKey /etc/ssh/ssh_host_ed25519_key\n"}))
    assert config is not None and config.problems == []
    parsed, defaulted, host_keys = effective_from_config(config)
    assert parsed == from_sshd
    assert host_keys == ["/etc/ssh/ssh_host_ed25519_key"]
    assert set(defaulted) == set(OPENSSH_DEFAULTS) - {
        "allowusers",
        "allowgroups",
        "denyusers",
        "denygroups",
    }
    assert from_sshd.permitrootlogin == "prohibit-password"  # printed "without-password"
    assert dump["permitrootlogin"] == ["without-password"]


def test_debian_default_config_parses_to_what_sshd_printed_here() -> None:
    # This machine's /etc/ssh/sshd_config is Debian's packaged default (checked when the
    # fixture was taken) and sshd-T-debian12.txt is `sshd -T` for it.
    config = evaluate_sshd_config(
        str(DEBIAN_CONFIG), *_io({str(DEBIAN_CONFIG): DEBIAN_CONFIG.read_text()})
    )
    assert config is not None and config.files == [str(DEBIAN_CONFIG)]
    parsed, defaulted, host_keys = effective_from_config(config)
    printed, printed_keys = settings_from_sshd_t(
        parse_sshd_t((SSHD_FIXTURES / "sshd-T-debian12.txt").read_text())
    )
    assert parsed == printed
    assert (parsed.kbdinteractiveauthentication, parsed.x11forwarding, parsed.usepam) == (
        "no",
        "yes",
        "yes",
    )
    assert "x11forwarding" not in defaulted and "permitrootlogin" in defaulted
    assert host_keys == printed_keys


def test_debian_match_example_is_conditional() -> None:
    # Debian's file ends with a commented "Match User anoncvs" example: enable it.
    text = DEBIAN_CONFIG.read_text().replace("#Match User anoncvs", "Match User anoncvs")
    for line in (
        "X11Forwarding no",
        "AllowTcpForwarding no",
        "PermitTTY no",
        "ForceCommand cvs server",
    ):
        text = text.replace(f"#\t{line}", f"\t{line}")
    config = evaluate_sshd_config(
        "/etc/ssh/sshd_config", {"/etc/ssh/sshd_config": text}.get, lambda p: []
    )
    assert config is not None
    [block] = config.match_blocks
    assert (block.criteria, block.line, block.within) == ("User anoncvs", 118, None)
    assert [(k, " ".join(o.args), o.line) for k, o in block.settings] == [
        ("x11forwarding", "no", 119),
        ("allowtcpforwarding", "no", 120),
        ("permittty", "no", 121),
        ("forcecommand", "cvs server", 122),
    ]
    settings = effective_from_config(config)[0]
    assert settings.x11forwarding == "yes"  # the global value, not the Match block's


# --- the parser against the real sshd --------------------------------------------------


ORACLE_CASES = {
    "first value wins, keyword case and = syntax": (
        "permitrootlogin=no\nPermitRootLogin yes\nMAXAUTHTRIES = 3\nMaxAuthTries 10\n"
        "PasswordAuthentication\tNo\nX11Forwarding YES\n",
        {},
    ),
    "aliases share the first value": (
        "ChallengeResponseAuthentication no\nKbdInteractiveAuthentication yes\n",
        {},
    ),
    "drop-in wins over the main file": (
        "Include {d}/sshd_config.d/*.conf\nPermitRootLogin no\nPasswordAuthentication yes\n",
        {
            "sshd_config.d/50-cloud.conf": "PasswordAuthentication no\n",
            "sshd_config.d/10-root.conf": "PermitRootLogin yes\n",
            "sshd_config.d/ignored.txt": "PermitRootLogin forced-commands-only\n",
        },
    ),
    "match in an included file ends with it": (
        "Include {d}/a.conf\nClientAliveInterval 5m\nMatch User bob\n  PermitRootLogin yes\n"
        "Match all\nMaxAuthTries 2\n",
        {"a.conf": "LoginGraceTime 1m30s\nMatch Address 10.0.0.0/8\n  X11Forwarding yes\n"},
    ),
    "include inside a match stays conditional": (
        "Match Group admins\n  Include {d}/m.conf\n  PasswordAuthentication no\n",
        {"m.conf": "PermitRootLogin yes\nMatch User x\n  Banner /etc/issue.net\n"},
    ),
    "accumulating lists": (
        "AllowUsers alice bob@10.0.0.1\nAllowUsers carol\nDenyGroups nogroup\n"
        "AllowGroups ssh-users admins\nDenyUsers root\n",
        {},
    ),
    "algorithm modifiers": (
        "Ciphers -aes*-ctr,chacha20-poly1305@openssh.com\nMACs ^hmac-sha2-512,hmac-sha2-256\n"
        "KexAlgorithms +diffie-hellman-group14-sha1\nCiphers aes128-ctr\n",
        {},
    ),
    "explicit algorithm lists": (
        "Ciphers aes256-gcm@openssh.com,aes128-ctr\nMACs hmac-sha2-256\n"
        "KexAlgorithms curve25519-sha256\n",
        {},
    ),
    "ports and listen addresses": (
        "Port 2222\nPort 22\nListenAddress 127.0.0.1\nListenAddress [::1]:2200\n"
        "ListenAddress ::1\nListenAddress 127.0.0.1:8022\n",
        {},
    ),
    "address family narrows the wildcard": ("AddressFamily inet6\nPort 2022\n", {}),
    "quotes, comments and odd spacing": (
        '  Banner "/etc/issue.net"  # a comment\n\tLogLevel verbose\nSyslogFacility local0\n'
        "UsePAM yes\nPermitEmptyPasswords no # no\n# PermitRootLogin yes\n",
        {},
    ),
    "time values": ("LoginGraceTime 1h2m3s\nClientAliveInterval 1w\nClientAliveCountMax 0\n", {}),
    "protocol line is accepted and ignored": ("Protocol 2\n", {}),
}


@needs_sshd
@pytest.mark.parametrize("case", sorted(ORACLE_CASES))
def test_file_parse_agrees_with_sshd(case: str, host_key: Path, tmp_path: Path) -> None:
    main_text, others = ORACLE_CASES[case]
    for name, text in others.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    main = tmp_path / "sshd_config"
    main.write_text(f"HostKey {host_key}\n" + main_text.replace("{d}", str(tmp_path)))
    assert_same(parse_files(main), sshd_t(main))


@needs_sshd
def test_global_only_keyword_in_match_is_a_problem(host_key: Path, tmp_path: Path) -> None:
    main = tmp_path / "sshd_config"
    main.write_text(f"HostKey {host_key}\nMatch User bob\n  Port 2222\n")
    done = subprocess.run([SSHD, "-T", "-f", str(main)], capture_output=True, text=True)
    assert done.returncode != 0 and "not allowed within a Match block" in done.stderr
    config = evaluate_sshd_config(str(main), *_io(None))
    assert config is not None
    assert config.problems == [f"{main} line 3: port is not allowed within a Match block"]
    assert effective_from_config(config)[0].port == [22]


def test_match_blocks_and_includes_are_reported() -> None:
    main_text, others = ORACLE_CASES["include inside a match stays conditional"]
    files = {"/x/sshd_config": main_text.replace("{d}", "/x")}
    files.update({f"/x/{name}": text for name, text in others.items()})
    config = evaluate_sshd_config("/x/sshd_config", *_io(files))
    assert config is not None
    assert config.files == ["/x/sshd_config", "/x/m.conf"]
    assert [(b.criteria, b.file, b.line, b.within) for b in config.match_blocks] == [
        ("Group admins", "/x/sshd_config", 1, None),
        ("User x", "/x/m.conf", 2, "Group admins"),
    ]
    first, second = config.match_blocks
    assert [(k, o.file, o.line) for k, o in first.settings] == [
        ("permitrootlogin", "/x/m.conf", 1),
        ("passwordauthentication", "/x/sshd_config", 3),  # after the include: outer block
    ]
    assert [(k, o.args) for k, o in second.settings] == [("banner", ("/etc/issue.net",))]
    assert config.global_settings == {}


def test_relative_include_is_under_etc_ssh() -> None:
    files = {
        "/etc/ssh/sshd_config": "Include conf.d/*.conf\n",
        "/etc/ssh/conf.d/b.conf": "PermitRootLogin yes\n",
        "/etc/ssh/conf.d/a.conf": "PermitRootLogin no\n",
    }
    config = evaluate_sshd_config("/etc/ssh/sshd_config", *_io(files))
    assert config is not None
    assert config.files == [
        "/etc/ssh/sshd_config",
        "/etc/ssh/conf.d/a.conf",
        "/etc/ssh/conf.d/b.conf",
    ]
    assert effective_from_config(config)[0].permitrootlogin == "no"


def test_include_loop_stops() -> None:
    files = {"/etc/ssh/sshd_config": "Include /etc/ssh/sshd_config\nPort 2200\n"}
    config = evaluate_sshd_config("/etc/ssh/sshd_config", *_io(files))
    assert config is not None
    assert len(config.files) == 17  # the main file and 16 levels of Include
    assert any("nested too deep" in problem for problem in config.problems)


# --- small pieces ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a b\tc", ["a", "b", "c"]),
        ('"/path with space" x', ["/path with space", "x"]),
        ("'single' \"double\"", ["single", "double"]),
        (r"a\ b c", ["a b", "c"]),
        (r'"a\"b"', ['a"b']),
        ("yes # comment", ["yes"]),
        ("a#b", ["a#b"]),  # only a word starting with # is a comment
        ('"unterminated', None),
        ("", []),
    ],
)
def test_split_args(text: str, expected: list[str] | None) -> None:
    assert split_args(text) == expected


def test_parser_reports_lines_sshd_rejects() -> None:
    directives, problems = parse_sshd_config_text('PermitRootLogin\nBanner "x\nPort 22\n', "f")
    assert [(d.keyword, d.args, d.line) for d in directives] == [("port", ("22",), 3)]
    assert problems == [
        'f line 1: no argument after keyword "PermitRootLogin"',
        "f line 2: invalid quotes",
    ]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("120", 120),
        ("2m", 120),
        ("1h30m", 5400),
        ("1W", 604800),
        ("10s5", 15),
        ("", None),
        ("5x", None),
        ("m", None),
        ("-1", None),
    ],
)
def test_convtime(text: str, seconds: int | None) -> None:
    assert convtime(text) == seconds


def test_assemble_algorithms() -> None:
    defaults = ("a-ctr", "b-ctr", "c-gcm")
    assert assemble_algorithms("+x,a-ctr", defaults) == ["a-ctr", "b-ctr", "c-gcm", "x"]
    assert assemble_algorithms("-*-ctr", defaults) == ["c-gcm"]
    assert assemble_algorithms("^c-gcm,x", defaults) == ["c-gcm", "x", "a-ctr", "b-ctr"]
    assert assemble_algorithms("x,y", defaults) == ["x", "y"]


# --- this machine ---------------------------------------------------------------------


def test_local_host_agrees_with_sshd_t() -> None:
    record = collect("configuration.sshd", LocalHost())
    facts = record.facts
    assert facts["installed"] == os.path.exists(SSHD)
    direct = run_local([SSHD, "-T"], 15) if os.path.exists(SSHD) else None
    if direct is not None and direct.ok:
        assert facts["source"] == "sshd -T"
        assert facts["sshd_t_error"] is None
        printed = parse_sshd_t(direct.stdout.decode())
        expected = printed["permitrootlogin"][0].replace("without-password", "prohibit-password")
        assert facts["settings"]["permitrootlogin"] == expected
        assert facts["settings"]["port"] == [int(p) for p in printed["port"]]
        assert facts["host_keys"] == printed.get("hostkey", [])
    else:
        assert facts["source"] == (
            "sshd_config" if os.path.exists("/etc/ssh/sshd_config") else None
        )
    if os.path.exists("/etc/ssh/sshd_config"):
        assert facts["files_read"][0] == "/etc/ssh/sshd_config"
        assert file_sources(record)["/etc/ssh/sshd_config"].sha256 == sha256_file(
            Path("/etc/ssh/sshd_config")
        )


# --- a debootstrapped Debian tree -----------------------------------------------------


def test_planted_root_login_in_drop_in(tmp_path: Path) -> None:
    root = copy_tree(debian_tree(), tmp_path / "root")
    drop_in = root / "etc/ssh/sshd_config.d/50-planted.conf"
    drop_in.write_text("PermitRootLogin yes\nClientAliveInterval 10m\n")
    (root / "etc/ssh/sshd_config.d/README.txt").write_text("PermitRootLogin no\n")  # not *.conf
    record = collect("configuration.sshd", RootHost(root))
    facts = record.facts
    assert record.errors == [f"{SSHD} -T: commands are not supported on a RootHost"]
    assert facts["source"] == "sshd_config"
    assert facts["sshd_t_error"] == "commands are not supported on a RootHost"
    assert facts["files_read"] == ["/etc/ssh/sshd_config", "/etc/ssh/sshd_config.d/50-planted.conf"]
    settings = facts["settings"]
    assert settings["permitrootlogin"] == "yes"
    assert settings["clientaliveinterval"] == 600
    assert (settings["x11forwarding"], settings["usepam"]) == ("yes", "yes")  # Debian's file
    assert "permitrootlogin" not in facts["defaults_applied"]
    assert "passwordauthentication" in facts["defaults_applied"]
    sources = file_sources(record)
    assert sources["/etc/ssh/sshd_config.d/50-planted.conf"].sha256 == sha256_file(drop_in)


def test_private_host_keys_are_named_never_read(tmp_path: Path) -> None:
    root = copy_tree(debian_tree(), tmp_path / "root")
    record = collect("configuration.sshd", RootHost(root))
    assert record.facts["host_keys"] == [
        "/etc/ssh/ssh_host_rsa_key",
        "/etc/ssh/ssh_host_ecdsa_key",
        "/etc/ssh/ssh_host_ed25519_key",
    ]
    assert not any("ssh_host_" in path for path in file_sources(record))
    text = canonical_json(record.to_json()).decode()
    for key in (root / "etc/ssh").glob("ssh_host_*_key"):
        body = "".join(key.read_text().splitlines()[1:-1])
        assert body[:40] not in text


class TreeSshdHost(RootHost):
    """A tree whose `sshd -T` is the real sshd run on the tree's sshd_config."""

    def run(self, argv: Sequence[str], timeout: float) -> CommandResult:
        if list(argv) == [SSHD, "-T"]:
            return run_local([SSHD, "-T", "-f", self.resolve("/etc/ssh/sshd_config")], timeout)
        return super().run(argv, timeout)


@needs_sshd
def test_sshd_t_failure_falls_back_to_the_files(tmp_path: Path) -> None:
    root = copy_tree(debian_tree(), tmp_path / "root")
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()  # the state of a fresh image before `ssh-keygen -A`
    # sshd runs on this machine: name the tree's (now missing) key, not this machine's.
    missing_key = root / "etc/ssh/ssh_host_ed25519_key"
    (root / "etc/ssh/sshd_config").write_text(
        (root / "etc/ssh/sshd_config")
        .read_text()
        .replace("Include /etc/ssh/sshd_config.d/*.conf\n", "")
        + f"PermitRootLogin no\nHostKey {missing_key}\n"
    )
    record = collect("configuration.sshd", TreeSshdHost(root))
    facts = record.facts
    assert facts["source"] == "sshd_config"
    assert "no hostkeys available" in facts["sshd_t_error"]
    assert any("no hostkeys available" in error for error in record.errors)
    assert facts["settings"]["permitrootlogin"] == "no"


@needs_sshd
def test_sshd_t_on_a_tree_is_used_when_it_works(tmp_path: Path) -> None:
    root = copy_tree(debian_tree(), tmp_path / "root")
    with (root / "etc/ssh/sshd_config").open("a") as handle:
        # sshd runs on this machine: point it at the tree's own host key.
        handle.write(f"MaxAuthTries 2\nHostKey {root}/etc/ssh/ssh_host_ed25519_key\n")
    record = collect("configuration.sshd", TreeSshdHost(root))
    assert record.errors == []
    assert record.facts["source"] == "sshd -T"
    assert record.facts["settings"]["maxauthtries"] == 2
    assert record.facts["defaults_applied"] == []
    assert record.facts["host_keys"] == [f"{root}/etc/ssh/ssh_host_ed25519_key"]


def test_no_sshd_and_no_config_is_not_an_error(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    record = collect("configuration.sshd", RootHost(tmp_path))
    assert record.errors == []
    assert record.facts["installed"] is False
    assert record.facts["source"] is None and record.facts["settings"] is None
    assert record.facts["match_blocks"] is None


def test_installed_without_config_is_an_error(tmp_path: Path) -> None:
    root = copy_tree(debian_tree(), tmp_path / "root")
    (root / "etc/ssh/sshd_config").unlink()
    record = collect("configuration.sshd", RootHost(root))
    assert "/etc/ssh/sshd_config: not found" in record.errors
    assert record.facts["settings"] is None and record.facts["source"] is None


# --- property tests -------------------------------------------------------------------

_WORDS = st.sampled_from(
    [
        "PermitRootLogin",
        "Include",
        "Match",
        "all",
        "User",
        "yes",
        "no",
        "Port",
        "22",
        "=",
        '"',
        "'",
        "#",
        "\\",
        "*.conf",
        "Ciphers",
        "+aes128-cbc",
        "-*",
        "1h",
        " ",
        "\t",
    ]
)
_CONFIG = st.lists(
    st.lists(st.one_of(_WORDS, st.text(max_size=8)), max_size=6).map(" ".join), max_size=12
).map("\n".join)


@given(st.one_of(st.text(), _CONFIG), _CONFIG)
def test_parser_never_raises_and_is_stable(main: str, included: str) -> None:
    files = {"/etc/ssh/sshd_config": main, "/etc/ssh/x.conf": included}
    first = evaluate_sshd_config("/etc/ssh/sshd_config", *_io(files))
    second = evaluate_sshd_config("/etc/ssh/sshd_config", *_io(files))
    assert first is not None and first == second
    settings, defaulted, host_keys = effective_from_config(first)
    canonical_json({"s": settings.model_dump(mode="json"), "d": defaulted, "h": host_keys})
    dump = parse_sshd_t(main)
    assert dump == parse_sshd_t(main)
    canonical_json(settings_from_sshd_t(dump)[0].model_dump(mode="json"))


_FLAG = st.sampled_from(["yes", "no", "Yes", "NO"])
_GLOBAL_LINES = st.one_of(
    st.tuples(
        st.sampled_from(["PermitRootLogin", "permitrootlogin"]),
        st.sampled_from(
            ["yes", "no", "prohibit-password", "without-password", "forced-commands-only"]
        ),
    ),
    st.tuples(
        st.sampled_from(
            [
                "PasswordAuthentication",
                "PermitEmptyPasswords",
                "PubkeyAuthentication",
                "KbdInteractiveAuthentication",
                "ChallengeResponseAuthentication",
                "X11Forwarding",
                "UsePAM",
            ]
        ),
        _FLAG,
    ),
    st.tuples(
        st.sampled_from(["MaxAuthTries", "ClientAliveCountMax"]), st.integers(0, 50).map(str)
    ),
    st.tuples(
        st.sampled_from(["LoginGraceTime", "ClientAliveInterval"]),
        st.lists(
            st.tuples(st.integers(0, 90), st.sampled_from(["", "s", "m", "h", "M"])),
            min_size=1,
            max_size=3,
        ).map(lambda parts: "".join(f"{n}{u}" for n, u in parts)),
    ),
    st.tuples(
        st.just("Ciphers"),
        st.tuples(
            st.sampled_from(["", "+", "^", "-"]),
            st.lists(
                st.sampled_from(["aes128-cbc", "aes256-ctr", "3des-cbc", "aes128-gcm@openssh.com"]),
                min_size=1,
                max_size=3,
                unique=True,
            ),
        ).map(lambda t: t[0] + ",".join(t[1])),
    ),
    st.tuples(
        st.just("MACs"),
        st.tuples(
            st.sampled_from(["", "+", "^", "-"]),
            st.sampled_from(["hmac-md5", "hmac-sha1", "hmac-sha2-512"]),
        ).map("".join),
    ),
    st.tuples(
        st.just("KexAlgorithms"),
        st.tuples(
            st.sampled_from(["", "+", "-"]),
            st.sampled_from(["diffie-hellman-group1-sha1", "curve25519-sha256"]),
        ).map("".join),
    ),
    st.tuples(
        st.sampled_from(["AllowUsers", "DenyUsers", "AllowGroups", "DenyGroups"]),
        st.lists(
            st.sampled_from(["alice", "bob", "root", "adm*", "carol@10.0.0.1"]),
            min_size=1,
            max_size=3,
        ).map(" ".join),
    ),
    st.tuples(st.just("Port"), st.sampled_from(["22", "2222", "8022"])),
    st.tuples(
        st.just("ListenAddress"),
        st.sampled_from(["127.0.0.1", "::1", "127.0.0.1:2200", "[::1]:2201"]),
    ),
    st.tuples(st.just("Banner"), st.sampled_from(["none", "/etc/issue.net"])),
    st.tuples(st.just("LogLevel"), st.sampled_from(["VERBOSE", "info", "DEBUG2"])),
    st.tuples(st.just("SyslogFacility"), st.sampled_from(["AUTHPRIV", "local0"])),
)
_MATCH_LINES = st.tuples(
    st.sampled_from(
        ["PermitRootLogin", "PasswordAuthentication", "X11Forwarding", "AllowUsers", "Banner"]
    ),
    st.sampled_from(["yes", "no"]),
)
_SEPARATORS = st.sampled_from([" ", "=", " = ", "\t"])


def _render(lines: list[tuple[tuple[str, str], str]]) -> str:
    return "".join(f"{keyword}{separator}{value}\n" for (keyword, value), separator in lines)


@needs_sshd
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    main=st.lists(st.tuples(_GLOBAL_LINES, _SEPARATORS), max_size=10),
    included=st.lists(st.tuples(_GLOBAL_LINES, _SEPARATORS), max_size=5),
    match=st.lists(st.tuples(_MATCH_LINES, _SEPARATORS), max_size=4),
)
def test_random_configs_agree_with_sshd(
    main: list[tuple[tuple[str, str], str]],
    included: list[tuple[tuple[str, str], str]],
    match: list[tuple[tuple[str, str], str]],
    host_key: Path,
    tmp_path: Path,
) -> None:
    directory = Path(tempfile.mkdtemp(dir=tmp_path))
    (directory / "inc.conf").write_text(_render(included))
    config = directory / "sshd_config"
    config.write_text(
        f"HostKey {host_key}\nInclude {directory}/*.conf\n"
        + _render(main)
        + ("Match User nobody\n" + _render(match) if match else "")
    )
    assert_same(parse_files(config), sshd_t(config))


def test_a_match_block_that_loosens_access_fails_the_checks(tmp_path: Path) -> None:
    """Global settings are strict, but a Match block lets passwords and root in again
    from 10/8: the root-login and password checks fail, and that block does not count
    as restricting access (it names nobody and denies nothing)."""
    from server.controls.catalog import load_configs
    from server.controls.evaluate import RecordView, decide

    root = copy_tree(debian_tree(), tmp_path / "root")
    config = root / "etc/ssh/sshd_config"
    config.write_text(
        "PermitRootLogin no\nPasswordAuthentication no\n"
        "Match Address 10.0.0.0/8,192.168.0.0/16\n"
        "  PasswordAuthentication yes\n  PermitRootLogin yes\n"
    )
    record = collect("configuration.sshd", RootHost(root))
    checks = {c.id: c for c in load_configs([CONFIGS], all_collectors()).checks}
    facts = record.model_dump(mode="json")["facts"]

    def verdict(check_id: str, facts: dict[str, object]) -> str:
        view = RecordView("b" * 64, 1, record.collector, record.collected_at, facts, [])
        return decide(checks[check_id], view).decision

    assert verdict("ssh.root_login_disabled", facts) == "fail"
    assert verdict("ssh.password_authentication_disabled", facts) == "fail"
    assert verdict("ssh.access_restricted", facts) == "fail"
    # A Match Address block that does limit who may log in counts; strict globals pass.
    config.write_text(
        "PermitRootLogin no\nPasswordAuthentication no\n"
        "Match Address *,!10.0.0.0/8\n  DenyUsers *\n"
    )
    facts = collect("configuration.sshd", RootHost(root)).model_dump(mode="json")["facts"]
    assert verdict("ssh.root_login_disabled", facts) == "pass"
    assert verdict("ssh.password_authentication_disabled", facts) == "pass"
    assert verdict("ssh.access_restricted", facts) == "pass"
