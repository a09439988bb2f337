"""No secret leaves the host: every collector's record is scanned for planted secrets.

Secrets are planted where collectors look (shadow hashes, private keys next to public
ones, passwords and tokens inside config lines they parse) in a copy of a real
debootstrapped Debian tree; then the same scan runs on this machine for its real
shadow hashes and SSH host private keys.
"""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import pytest

from collectors.host import LocalHost, RootHost
from collectors.registry import all_collectors
from evidence.canonical import canonical_json
from tests.collectors.support import DEBIAN, PLANTED
from tests.debian_root import copy_tree, debian_tree

PLANTED_PASSWORD = "Pl4nted-Passw0rd-7f3a"
PLANTED_TOKEN = "tok_live_9c1e0b7d44a2f6e8"
PLANTED_DB_PASSWORD = "Db-Pl4nted-51c2"
PLANTED_HOOK = "Hook-Pl4nted-8e0d"
NTP_KEY = "HEX:8F3B9C1D2E4A5B6C7D8E9F00112233445566778899AABBCCDDEEFF0011223344"
WAZUH_KEY = "e3b98a4da31a127d4bde6e43a7a94e4b1f2c3d4e5f60718293a4b5c6d7e8f901"


def private_key_lines(path: Path) -> list[str]:
    """The base64 body lines of a PEM/OpenSSH private key, each a secret on its own."""
    lines = path.read_text().splitlines()
    return [line for line in lines if line and not line.startswith("-----") and len(line) > 20]


def shadow_hashes(text: str) -> list[str]:
    """Password hashes in shadow text: crypt strings ("$id$...") and 13-char DES ones."""
    hashes = []
    for line in text.splitlines():
        fields = line.split(":")
        candidate = fields[1].lstrip("!") if len(fields) > 1 else ""
        if candidate.startswith("$") or len(candidate) == 13:
            hashes.append(candidate)
    return hashes


def plant(root: Path) -> list[str]:
    """Plant secrets in `root`; return the strings that must never appear in a record."""
    etc = root / "etc"
    (etc / "shadow").write_text(
        (DEBIAN / "shadow").read_text() + (PLANTED / "shadow-extra").read_text()
    )
    secrets = shadow_hashes((etc / "shadow").read_text())
    ssh_dir = root / "root" / ".ssh"
    ssh_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "ssh-keygen",
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "root@planted",
            "-f",
            str(ssh_dir / "id_ed25519"),
        ],
        check=True,
    )
    # A forced command carrying a database password, as backup keys often have.
    (ssh_dir / "authorized_keys").write_text(
        f'command="/usr/bin/mysqldump -uroot -p{PLANTED_DB_PASSWORD} --all-databases",'
        "no-pty " + (ssh_dir / "id_ed25519.pub").read_text()
    )
    secrets += private_key_lines(ssh_dir / "id_ed25519")
    for host_key in sorted((etc / "ssh").glob("ssh_host_*_key")):
        secrets += private_key_lines(host_key)
    (etc / "chrony" / "chrony.keys").write_text(f"1 SHA256 {NTP_KEY}\n")
    secrets.append(NTP_KEY)
    (etc / "rsyslog.d").mkdir(exist_ok=True)
    (etc / "rsyslog.d" / "60-remote.conf").write_text(
        'action(type="omfwd" target="logs.example.net" port="6514" protocol="tcp")\n'
        'action(type="omelasticsearch" server="es.example.net" uid="dossier" '
        f'pwd="{PLANTED_PASSWORD}")\n'
    )
    # Passwords inside sudo command lines (visudo accepts both lines).
    (etc / "sudoers.d" / "60-backup").write_text(
        f"Cmnd_Alias DBDUMP = /usr/bin/mysqldump --user=backup --password={PLANTED_PASSWORD}\n"
        f"deploy ALL=(root) NOPASSWD: DBDUMP, /usr/bin/curl -u deploy\\:{PLANTED_HOOK} "
        "https\\://ci.example.net/hook\n"
    )
    (etc / "sudoers.d" / "60-backup").chmod(0o440)
    (etc / "profile.d").mkdir(exist_ok=True)
    (etc / "profile.d" / "zz-site.sh").write_text(
        f"TMOUT=600\nreadonly TMOUT\nexport TMOUT\nexport API_TOKEN={PLANTED_TOKEN}\n"
    )
    (etc / "clamav").mkdir(exist_ok=True)
    (etc / "clamav" / "freshclam.conf").write_text(
        "DatabaseMirror database.clamav.net\nHTTPProxyServer proxy.example.net\n"
        f"HTTPProxyPassword {PLANTED_PASSWORD}\n"
    )
    ossec = root / "var" / "ossec"
    (ossec / "etc").mkdir(parents=True)
    (ossec / "bin").mkdir()
    (ossec / "bin" / "wazuh-control").write_text("#!/bin/sh\n")
    (ossec / "etc" / "client.keys").write_text(f"001 planted-host any {WAZUH_KEY}\n")
    (ossec / "etc" / "ossec.conf").write_text(
        "<ossec_config><client><server><address>wazuh.example.net</address></server></client></ossec_config>\n"
    )
    secrets += [PLANTED_PASSWORD, PLANTED_TOKEN, WAZUH_KEY, PLANTED_DB_PASSWORD, PLANTED_HOOK]
    return secrets


def leaks(records_json: bytes, secrets: list[str]) -> list[str]:
    text = records_json.decode()
    # JSON escapes "/" never, but "+" and "=" stay as they are; check raw and base64 forms.
    return [s for s in secrets if s in text or base64.b64encode(s.encode()).decode() in text]


@pytest.fixture(scope="module")
def planted_root(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    root = copy_tree(debian_tree(), tmp_path_factory.mktemp("secrets") / "root")
    return root, plant(root)


def test_planted_secrets_are_in_the_tree_to_be_found(planted_root: tuple[Path, list[str]]) -> None:
    root, secrets = planted_root
    # Guards the scan: each secret is really on disk, so a clean scan means something.
    corpus = b"".join(
        path.read_bytes()
        for path in root.rglob("*")
        if path.is_file() and not path.is_symlink() and path.stat().st_size < 1_000_000
    ).decode("utf-8", errors="replace")
    assert len(secrets) >= 12
    assert [s for s in secrets if s not in corpus] == []


def test_no_collector_ships_a_planted_secret(planted_root: tuple[Path, list[str]]) -> None:
    root, secrets = planted_root
    host = RootHost(root)
    for name, spec in all_collectors().items():
        record = spec.collect(host)
        assert leaks(canonical_json(record.model_dump(mode="json")), secrets) == [], name


def test_no_collector_ships_this_machines_secrets() -> None:
    secrets = shadow_hashes(Path("/etc/shadow").read_text())
    for host_key in sorted(Path("/etc/ssh").glob("ssh_host_*_key")):
        secrets += private_key_lines(host_key)
    # openssh-server (installed by .ci/run) generated host keys: there is something to find.
    assert secrets
    host = LocalHost()
    for name, spec in all_collectors().items():
        record = spec.collect(host)
        found = leaks(canonical_json(record.model_dump(mode="json")), secrets)
        assert found == [], name
