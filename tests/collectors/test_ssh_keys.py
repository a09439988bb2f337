"""access.ssh_keys: fingerprints equal `ssh-keygen -lf` for real generated keys, the
OpenSSH options grammar, a planted Debian tree, and this machine's host keys."""

from __future__ import annotations

import base64
import contextlib
import glob
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collectors.access.ssh_keys import (
    FLAG_OPTIONS,
    VALUE_OPTIONS,
    KeyFormatError,
    expand_keys_file,
    parse_authorized_keys,
    parse_options,
    private_key_names,
    shown_option,
    split_options,
)
from collectors.host import LocalHost, RootHost
from collectors.registry import all_collectors
from evidence.canonical import canonical_json
from tests.collectors.support import collect, file_sources, sha256_file
from tests.debian_root import copy_tree, debian_tree

CONFIGS = Path(__file__).resolve().parents[2] / "configs"

# ssh-keygen's names in "(...)" at the end of its -l lines.
KEYGEN_TYPES = {
    "ssh-ed25519": "ED25519",
    "ssh-rsa": "RSA",
    "ssh-dss": "DSA",
    "ecdsa-sha2-nistp256": "ECDSA",
    "ecdsa-sha2-nistp384": "ECDSA",
    "ecdsa-sha2-nistp521": "ECDSA",
    "sk-ssh-ed25519@openssh.com": "ED25519-SK",
    "sk-ecdsa-sha2-nistp256@openssh.com": "ECDSA-SK",
}


def keygen(directory: Path, name: str, *args: str, comment: str = "") -> Path:
    """A real key pair made by ssh-keygen; returns the private key's path."""
    path = directory / name
    subprocess.run(
        ["ssh-keygen", "-q", "-N", "", "-C", comment, "-f", str(path), *args],
        check=True,
        capture_output=True,
    )
    return path


def keygen_list(path: Path) -> list[tuple[int, str, str, str]]:
    """(bits, fingerprint, comment, type) per key, as `ssh-keygen -lf` prints them."""
    output = subprocess.run(
        ["ssh-keygen", "-lf", str(path)], capture_output=True, text=True, check=True
    ).stdout
    rows = []
    for line in output.splitlines():
        bits, fp, rest = line.split(" ", 2)
        comment, _, kind = rest.rpartition(" ")
        rows.append((int(bits), fp, comment, kind.strip("()")))
    return rows


def _wire(*parts: bytes) -> bytes:
    return b"".join(len(p).to_bytes(4, "big") + p for p in parts)


def security_key_lines(ed25519_pub: str, ecdsa_pub: str) -> list[str]:
    """sk- keys built from real ed25519/nistp256 public keys plus an application
    string (the FIDO key wire format; ssh-keygen -lf below validates them)."""
    ed_blob = base64.b64decode(ed25519_pub.split()[1])
    ec_blob = base64.b64decode(ecdsa_pub.split()[1])
    _, ed_key = _strings(ed_blob, 2)
    _, curve, point = _strings(ec_blob, 3)
    sk_ed = _wire(b"sk-ssh-ed25519@openssh.com", ed_key, b"ssh:")
    sk_ec = _wire(b"sk-ecdsa-sha2-nistp256@openssh.com", curve, point, b"ssh:")
    return [
        "sk-ssh-ed25519@openssh.com " + base64.b64encode(sk_ed).decode() + " yubi@desk",
        'no-touch-required,from="10.1.2.3" sk-ecdsa-sha2-nistp256@openssh.com '
        + base64.b64encode(sk_ec).decode(),
    ]


def _strings(blob: bytes, count: int) -> list[bytes]:
    out, pos = [], 0
    for _ in range(count):
        length = int.from_bytes(blob[pos : pos + 4], "big")
        out.append(blob[pos + 4 : pos + 4 + length])
        pos += 4 + length
    return out


@pytest.fixture(scope="module")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("keys")
    keygen(directory, "ed", "-t", "ed25519", comment="alice@example.com")
    keygen(directory, "rsa", "-t", "rsa", "-b", "3072", comment="bob laptop")
    keygen(directory, "ec256", "-t", "ecdsa", "-b", "256", comment="")
    keygen(directory, "ec384", "-t", "ecdsa", "-b", "384", comment="ops")
    keygen(directory, "ec521", "-t", "ecdsa", "-b", "521", comment="ops2")
    keygen(directory, "rsa1024", "-t", "rsa", "-b", "1024", comment="weak")
    return directory


def authorized_keys_text(keys: Path) -> str:
    pub = {
        name: (keys / f"{name}.pub").read_text().strip()
        for name in ("ed", "rsa", "ec256", "ec384", "ec521", "rsa1024")
    }
    lines = [
        "# keys of the operations team",
        pub["ed"],
        'from="10.0.0.0/8,192.168.1.1",command="echo \\"hi, there\\"",no-pty ' + pub["rsa"],
        "",
        "restrict,pty " + pub["ec256"],
        'environment="TOKEN=abc123",permitopen="db:5432",NO-X11-FORWARDING ' + pub["ec384"],
        'expiry-time="20991231",principals="ops,admin" ' + pub["ec521"],
        "   " + pub["rsa1024"],
        *security_key_lines(pub["ed"], pub["ec256"]),
    ]
    return "\n".join(lines) + "\n"


def test_fingerprints_equal_ssh_keygen(keys_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "authorized_keys"
    path.write_text(authorized_keys_text(keys_dir))
    keys, problems = parse_authorized_keys(path.read_text())
    assert problems == []
    truth = keygen_list(path)
    assert len(truth) == 8
    assert [(k.key.bits, k.key.fingerprint, KEYGEN_TYPES[k.key.type]) for _, k in keys] == [
        (bits, fp, kind) for bits, fp, _, kind in truth
    ]
    # ssh-keygen prints the options in place of a missing comment (lines 5 and 10)
    no_comment = {5, 10}
    assert [k.key.comment for _, k in keys] == [
        None if number in no_comment else comment
        for (number, _), (_, _, comment, _) in zip(keys, truth, strict=True)
    ]
    assert (truth[2][2], truth[7][2]) == ("restrict,pty", 'no-touch-required,from="10.1.2.3"')
    assert [number for number, _ in keys] == [2, 3, 5, 6, 7, 8, 9, 10]
    by_line = {number: k for number, k in keys}
    assert by_line[3].options == (
        ("from", "10.0.0.0/8,192.168.1.1"),
        ("command", 'echo "hi, there"'),
        ("no-pty", None),
    )
    assert by_line[6].options[2] == ("no-x11-forwarding", None)
    assert by_line[5].key.bits == 256 and by_line[8].key.bits == 1024


def test_blanks_after_options_as_sshd(keys_dir: Path) -> None:
    # sshd skips any run of blanks after the options (ssh-keygen -l only one)
    pub = (keys_dir / "ed.pub").read_text().strip()
    keys, problems = parse_authorized_keys(f"no-pty \t  {pub}\n\t {pub}  \r\n")
    assert problems == []
    assert [(n, k.options, k.key.comment) for n, k in keys] == [
        (1, (("no-pty", None),), "alice@example.com"),
        (2, (), "alice@example.com"),
    ]


def test_rejected_lines_are_reported_without_content(keys_dir: Path) -> None:
    pub = (keys_dir / "ed.pub").read_text().strip()
    kind, blob, _ = pub.split(" ", 2)
    text = "\n".join(
        [
            f"bogus-option {pub}",
            f'command="unterminated {pub}',
            f"{kind} {blob[:-8]}",  # truncated blob, still valid base64
            f"ssh-rsa {blob}",  # blob says ed25519
            f"command=noquotes {pub}",
            pub,
        ]
    )
    keys, problems = parse_authorized_keys(text)
    assert [number for number, _ in keys] == [6]
    assert problems == [
        (1, "unsupported option"),
        (2, "unterminated quote in options"),
        (3, "truncated key blob"),
        (4, "key type does not match the key"),
        (5, "option value must be quoted"),
    ]


def test_shown_options_redact_secrets() -> None:
    assert shown_option("environment", "TOKEN=abc123").value == "TOKEN=<redacted>"
    assert shown_option("command", "/usr/bin/backup --password hunter2 -x").value == (
        "/usr/bin/backup --password <redacted> -x"
    )
    assert shown_option("command", "rsync --server -vlogDtpre.iLsfxC . /srv").value == (
        "rsync --server -vlogDtpre.iLsfxC . /srv"
    )
    assert shown_option("from", "10.0.0.0/8").value == "10.0.0.0/8"
    assert shown_option("no-pty", None).value is None


def test_private_key_names_and_patterns() -> None:
    names = [
        "authorized_keys",
        "config",
        "deploy",
        "deploy.pub",
        "id_ed25519",
        "id_ed25519.pub",
        "id_rsa",
        "id_rsa-cert.pub",
        "known_hosts",
        "notes.txt",
    ]
    assert private_key_names(names) == ["deploy", "id_ed25519", "id_rsa"]
    assert expand_keys_file(".ssh/authorized_keys", "alice", 1000, "/home/alice/") == (
        "/home/alice/.ssh/authorized_keys"
    )
    assert expand_keys_file("/etc/ssh/keys/%u.%U", "alice", 1000, "/home/alice") == (
        "/etc/ssh/keys/alice.1000"
    )
    assert expand_keys_file("%h/k%%", "bob", 1, "/b") == "/b/k%"


# --- a planted Debian tree ---------------------------------------------------------------


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory, keys_dir: Path) -> Iterator[Path]:
    root = copy_tree(debian_tree(), tmp_path_factory.mktemp("ssh") / "root")
    with (root / "etc" / "passwd").open("a") as passwd:
        passwd.write("alice:x:1000:1000::/home/alice:/bin/bash\n")
        passwd.write("bob:x:1001:1001::/home/bob:/bin/bash\n")
        passwd.write("carol:x:1002:1002::/home/carol:/bin/bash\n")
    alice = root / "home" / "alice" / ".ssh"
    alice.mkdir(parents=True, mode=0o700)
    (alice / "authorized_keys").write_text(authorized_keys_text(keys_dir))
    (alice / "authorized_keys").chmod(0o600)
    for name in ("ed", "ed.pub"):  # a real private key that must never be read
        (alice / name.replace("ed", "id_ed25519")).write_bytes((keys_dir / name).read_bytes())
    bob = root / "home" / "bob" / ".ssh"
    bob.mkdir(parents=True)
    bob.chmod(0o775)
    (bob / "authorized_keys2").write_text((keys_dir / "rsa.pub").read_text())
    (bob / "authorized_keys2").chmod(0o666)
    os.chown(bob / "authorized_keys2", 1002, 1002)
    (root / "home" / "carol").mkdir()  # no .ssh at all
    root_ssh = root / "root" / ".ssh"
    root_ssh.mkdir(mode=0o700)
    (root_ssh / "authorized_keys").write_text((keys_dir / "ec256.pub").read_text())
    yield root


def test_planted_tree(planted: Path, keys_dir: Path) -> None:
    record = collect("access.ssh_keys", RootHost(planted))
    facts = record.facts
    assert record.errors == []
    assert facts["authorized_keys_files_source"] == "default"
    assert facts["users_with_keys"] == ["alice", "bob", "root"]
    assert facts["accounts_checked"] == len((planted / "etc/passwd").read_text().splitlines())
    accounts = {a["user"]: a for a in facts["accounts"]}
    assert sorted(accounts) == ["alice", "bob", "root"]
    assert accounts["alice"]["private_key_files"] == ["id_ed25519"]
    assert accounts["alice"]["key_count"] == 8
    assert accounts["alice"]["ssh_dir"]["mode"] == "0700"
    assert accounts["bob"]["key_files"][0] == {
        "path": "/home/bob/.ssh/authorized_keys2",
        "mode": "0666",
        "uid": 1002,
        "gid": 1002,
        "owner_ok": False,
        "group_writable": True,
        "world_writable": True,
    }
    assert facts["writable_paths"] == ["/home/bob/.ssh", "/home/bob/.ssh/authorized_keys2"]
    alice_keys = [k for k in facts["keys"] if k["user"] == "alice"]
    truth = keygen_list(planted / "home/alice/.ssh/authorized_keys")
    assert [(k["bits"], k["fingerprint"]) for k in alice_keys] == [(b, f) for b, f, _, _ in truth]
    env = next(k for k in alice_keys if k["line"] == 6)
    assert env["options"][0] == {"name": "environment", "value": "TOKEN=<redacted>"}
    assert alice_keys[0]["comment"] == "alice@example.com"
    # host keys made by openssh-server's postinst in the tree, as ssh-keygen sees them
    host_truth = {
        (row[1], row[0])
        for path in sorted(glob.glob(str(planted / "etc/ssh/ssh_host_*_key.pub")))
        for row in keygen_list(Path(path))
    }
    assert {(h["fingerprint"], h["bits"]) for h in facts["host_keys"]} == host_truth
    assert len(host_truth) == 3
    # no private key material anywhere in the record, and it was never read
    text = canonical_json(record.to_json()).decode()
    private = (keys_dir / "ed").read_text().splitlines()[1:-1]
    assert private and not any(line[:20] in text for line in private)
    sources = file_sources(record)
    assert "/home/alice/.ssh/id_ed25519" not in sources
    path = "/home/alice/.ssh/authorized_keys"
    assert sources[path].sha256 == sha256_file(planted / path.lstrip("/"))


def test_authorized_keys_file_from_sshd_config(planted: Path, keys_dir: Path) -> None:
    conf = planted / "etc/ssh/sshd_config.d/10-keys.conf"
    keys = planted / "etc/ssh/keys"
    try:
        conf.write_text("AuthorizedKeysFile /etc/ssh/keys/%u .ssh/authorized_keys\n")
        keys.mkdir()
        (keys / "carol").write_text((keys_dir / "ec521.pub").read_text())
        record = collect("access.ssh_keys", RootHost(planted))
    finally:
        conf.unlink()
        (keys / "carol").unlink()
        keys.rmdir()
    facts = record.facts
    assert facts["authorized_keys_files_source"] == "sshd_config"
    assert facts["authorized_keys_files"] == ["/etc/ssh/keys/%u", ".ssh/authorized_keys"]
    assert facts["users_with_keys"] == ["alice", "carol", "root"]  # bob's keys2 is unused
    carol = next(k for k in facts["keys"] if k["user"] == "carol")
    assert (carol["file"], carol["bits"]) == ("/etc/ssh/keys/carol", 521)


# --- this machine -------------------------------------------------------------------------


def test_this_machine_host_keys_and_users() -> None:
    record = collect("access.ssh_keys", LocalHost())
    assert record.errors == []
    expected_hosts = {
        (row[1], row[0], row[2])
        for path in sorted(glob.glob("/etc/ssh/ssh_host_*_key.pub"))
        for row in keygen_list(Path(path))
    }
    found = {(h["fingerprint"], h["bits"], h["comment"]) for h in record.facts["host_keys"]}
    assert found == expected_hosts
    getent = subprocess.run(["getent", "passwd"], capture_output=True, text=True, check=True)
    expected_keys = set()
    for line in getent.stdout.splitlines():
        name, home = line.split(":")[0], line.split(":")[5]
        for file in (".ssh/authorized_keys", ".ssh/authorized_keys2"):
            path = Path(home) / file
            if path.is_file() and path.read_text().strip():
                expected_keys |= {(name, row[1]) for row in keygen_list(path)}
    assert {(k["user"], k["fingerprint"]) for k in record.facts["keys"]} == expected_keys


# --- property tests -------------------------------------------------------------------------

_VALUES = st.text(
    alphabet=st.characters(blacklist_characters="\n\r\x00", blacklist_categories=("Cs",)),
    max_size=20,
).filter(lambda v: not v.endswith("\\"))
_OPTION = st.one_of(
    st.sampled_from(sorted(FLAG_OPTIONS)).map(lambda n: (n, None)),
    st.tuples(st.sampled_from(sorted(VALUE_OPTIONS)), _VALUES),
)


def _serialise(options: list[tuple[str, str | None]], upper: bool) -> str:
    parts = []
    for name, value in options:
        shown = name.upper() if upper else name
        parts.append(shown if value is None else f'{shown}="' + value.replace('"', '\\"') + '"')
    return ",".join(parts)


@settings(max_examples=300)
@given(st.lists(_OPTION, min_size=1, max_size=6), st.booleans())
def test_options_round_trip(options: list[tuple[str, str | None]], upper: bool) -> None:
    text = _serialise(options, upper)
    head, rest = split_options(text + " ssh-ed25519 AAAA")
    assert (head, rest) == (text, " ssh-ed25519 AAAA")
    assert parse_options(head) == options


@settings(max_examples=300)
@given(st.text())
def test_parser_never_raises_and_is_stable(text: str) -> None:
    first = parse_authorized_keys(text)
    assert parse_authorized_keys(text) == first
    for _, line in first[0]:
        canonical_json([line.key.fingerprint, line.key.bits, line.key.comment])
    with contextlib.suppress(KeyFormatError):
        parse_options(text)


def test_a_host_key_sshd_does_not_load_is_not_held_against_the_host(tmp_path: Path) -> None:
    """An old weak key left in /etc/ssh is not offered by sshd, which loads only the
    HostKey files it is told to or, with none named, its rsa/ecdsa/ed25519 defaults
    (sshd_config(5)): it is reported as not loaded, and ssh.host_keys_strong judges only
    the keys sshd loads."""
    from server.controls.catalog import load_configs
    from server.controls.evaluate import RecordView, decide

    root = copy_tree(debian_tree(), tmp_path / "root")
    etc_ssh = root / "etc/ssh"
    old = str(etc_ssh / "ssh_host_dsa_key")  # a leftover name; a 1024-bit key is as weak
    subprocess.run(["ssh-keygen", "-q", "-t", "rsa", "-b", "1024", "-N", "", "-f", old], check=True)
    checks = {c.id: c for c in load_configs([CONFIGS], all_collectors()).checks}

    def host_keys_verdict() -> tuple[dict[str, object], str]:
        record = collect("access.ssh_keys", RootHost(root))
        view = RecordView("b" * 64, 1, record.collector, record.collected_at, record.facts, [])
        loaded = {Path(k["file"]).name: k["loaded"] for k in record.facts["host_keys"]}
        return loaded, decide(checks["ssh.host_keys_strong"], view).decision

    loaded, verdict = host_keys_verdict()
    assert loaded == {
        "ssh_host_dsa_key.pub": False,
        "ssh_host_ecdsa_key.pub": True,
        "ssh_host_ed25519_key.pub": True,
        "ssh_host_rsa_key.pub": True,
    }
    assert verdict == "pass"
    # Named in sshd_config, the same weak key fails the check.
    config = etc_ssh / "sshd_config"
    config.write_text(config.read_text() + "\nHostKey /etc/ssh/ssh_host_dsa_key\n")
    loaded, verdict = host_keys_verdict()
    assert loaded["ssh_host_dsa_key.pub"] is True and loaded["ssh_host_rsa_key.pub"] is False
    assert verdict == "fail"
