"""SSHHost against a real OpenSSH server on loopback."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from collectors.host import HostError, LocalHost
from collectors.registry import all_collectors
from collectors.ssh import HostKeyRejected, SSHConnectError, SSHHost, SSHTarget
from dossier.procs import free_port
from evidence.records import FileSource
from tests.sshd import SshServer, keygen, start_sshd


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    server = start_sshd(tmp_path_factory.mktemp("sshd"))
    yield server
    server.stop()


def target(server: SshServer, **changes: object) -> SSHTarget:
    base = SSHTarget(
        host="127.0.0.1",
        port=server.port,
        user="root",
        known_hosts=server.known_hosts,
        identity_file=server.client_key,
        connect_timeout=5,
    )
    return SSHTarget(**{**base.__dict__, **changes})  # type: ignore[arg-type]


@pytest.fixture
def ssh(sshd: SshServer) -> Iterator[SSHHost]:
    with SSHHost(target(sshd)) as host:
        yield host


# Facts that come from psutil on this machine and from files or commands over SSH, so
# they legitimately differ in detail (pids and process names are not visible in
# /proc/net, running daemons are judged by process table vs. files).
PSUTIL_FACTS = {
    "configuration.services": {"listening", "sockets_source"},
    "inventory.system": {"interfaces", "disks", "cpu", "memory", "boot_time"},
}
PROCESS_FILE = re.compile(r"^/proc/\d+/comm$")
# Facts that are the moment of collection itself.
MOMENT_FACTS = {"logging.oldest_entries": {"collected_at"}}


@pytest.mark.parametrize("name", sorted(all_collectors()))
def test_collectors_see_the_same_facts_over_ssh(ssh: SSHHost, name: str) -> None:
    spec = all_collectors()[name]
    remote, local = spec.collect(ssh), spec.collect(LocalHost())
    skip = PSUTIL_FACTS.get(name, set()) | MOMENT_FACTS.get(name, set())
    assert {k: v for k, v in remote.facts.items() if k not in skip} == {
        k: v for k, v in local.facts.items() if k not in skip
    }
    # The process table is read from /proc over SSH and through psutil here.
    remote_files = {
        s.path: s.sha256
        for s in remote.sources
        if isinstance(s, FileSource) and not PROCESS_FILE.match(s.path)
    }
    local_files = {s.path: s.sha256 for s in local.sources if isinstance(s, FileSource)}
    if name in PSUTIL_FACTS:  # over SSH more is read from files; what both read is equal
        stable = {p for p in set(remote_files) & set(local_files) if not p.startswith("/proc/")}
        assert {p: remote_files[p] for p in stable} == {p: local_files[p] for p in stable}
    else:
        assert remote_files == local_files
        assert remote.errors == local.errors


def test_system_identity_over_ssh_matches_local(ssh: SSHHost) -> None:
    spec = all_collectors()["inventory.system"]
    remote, local = spec.collect(ssh).facts, spec.collect(LocalHost()).facts
    for key in ("os_release", "hostname", "machine_id", "kernel"):
        assert remote[key] == local[key], key
    # /proc read over SFTP (size 0 there) still gives the real CPU count.
    assert remote["cpu"]["logical_count"] == local["cpu"]["logical_count"]


def test_commands_over_ssh(ssh: SSHHost) -> None:
    ok = ssh.run(["id", "-u"], timeout=10)
    assert ok.ok and ok.stdout.strip() == b"0"
    quoted = ssh.run(["printf", "%s|", "a b", "$HOME", "it's"], timeout=10)
    assert quoted.stdout == b"a b|$HOME|it's|"
    failing = ssh.run(["ls", "/no/such/dir"], timeout=10)
    assert failing.exit not in (0, None) and b"No such file" in failing.stderr
    missing = ssh.run(["no-such-command-xyz"], timeout=10)
    assert missing.error == "not found"
    slow = ssh.run(["sleep", "5"], timeout=0.5)
    assert slow.error == "timed out after 0.5s" and slow.duration_ms < 3000


def test_missing_files_map_to_python_errors(ssh: SSHHost) -> None:
    with pytest.raises(FileNotFoundError):
        ssh.read_file("/no/such/file")
    assert ssh.stat("/no/such/file") is None and not ssh.exists("/no/such/file")
    with pytest.raises(NotADirectoryError):
        ssh.list_dir("/etc/passwd")
    assert "passwd" in ssh.list_dir("/etc")


def ssh_keygen_fingerprint(public_key: Path) -> str:
    out = subprocess.run(
        ["ssh-keygen", "-lf", str(public_key)], capture_output=True, text=True, check=True
    ).stdout
    return out.split()[1]


def test_unknown_host_key_is_refused_with_its_fingerprint(sshd: SshServer, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with pytest.raises(HostKeyRejected) as refused:
        SSHHost(target(sshd, known_hosts=empty))
    assert ssh_keygen_fingerprint(sshd.host_key.with_suffix(".pub")) in str(refused.value)
    assert empty.read_text() == ""  # nothing was added


def test_changed_host_key_is_refused(sshd: SshServer, tmp_path: Path) -> None:
    other = keygen(tmp_path / "other_host")
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{sshd.port} {other.with_suffix('.pub').read_text()}")
    with pytest.raises(HostKeyRejected, match="HOST KEY CHANGED") as refused:
        SSHHost(target(sshd, known_hosts=known))
    message = str(refused.value)
    assert ssh_keygen_fingerprint(other.with_suffix(".pub")) in message
    assert ssh_keygen_fingerprint(sshd.host_key.with_suffix(".pub")) in message


def test_wrong_identity_and_closed_port_are_clear_errors(sshd: SshServer, tmp_path: Path) -> None:
    with pytest.raises(SSHConnectError, match="authentication failed"):
        SSHHost(target(sshd, identity_file=keygen(tmp_path / "stranger")))
    with pytest.raises(SSHConnectError, match="cannot connect"):
        SSHHost(target(sshd, port=free_port()))


def test_chunked_reads_over_ssh_match_local(ssh: SSHHost, tmp_path: Path) -> None:
    data = bytes(range(256)) * 1000  # several SFTP reads
    path = tmp_path / "blob"
    path.write_bytes(data)
    assert b"".join(ssh.read_chunks(str(path))) == data
    with pytest.raises(HostError, match="read limit"):
        list(ssh.read_chunks(str(path), max_bytes=1000))
    # An abandoned stream releases the SFTP session for the next read.
    stream = ssh.read_chunks(str(path))
    next(stream)
    stream.close()
    assert ssh.read_file("/etc/hostname") == Path("/etc/hostname").read_bytes()


SUDO_USER = "dossier-sshtest"


@pytest.fixture(scope="module")
def unprivileged(sshd: SshServer) -> Iterator[str]:
    """A real unprivileged account that may use sudo without a password, for the test."""
    created = subprocess.run(["id", SUDO_USER], capture_output=True).returncode != 0
    if created:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", SUDO_USER], check=True)
        # "*": no password at all, but not locked ("!"), which sshd would refuse.
        subprocess.run(["usermod", "--password", "*", SUDO_USER], check=True)
    # sshd reads a user's keys with that user's rights: the key goes in their own home.
    ssh_dir = Path(f"/home/{SUDO_USER}/.ssh")
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    (ssh_dir / "authorized_keys").write_text(sshd.client_key.with_suffix(".pub").read_text())
    subprocess.run(["chown", "-R", f"{SUDO_USER}:", str(ssh_dir)], check=True)
    drop_in = Path("/etc/sudoers.d") / SUDO_USER
    drop_in.write_text(f"{SUDO_USER} ALL=(root) NOPASSWD: ALL\n")
    drop_in.chmod(0o440)
    try:
        yield SUDO_USER
    finally:
        drop_in.unlink(missing_ok=True)
        if created:
            subprocess.run(["userdel", "--remove", SUDO_USER], capture_output=True)


def test_sudo_reads_what_only_root_may(sshd: SshServer, unprivileged: str) -> None:
    accounts = all_collectors()["access.accounts"]
    with SSHHost(target(sshd, user=unprivileged)) as plain:
        assert plain.run(["id", "-u"], timeout=10).stdout.strip() != b"0"
        denied = accounts.collect(plain)
    assert denied.facts["shadow_readable"] is False
    assert any("/etc/shadow: permission denied" in error for error in denied.errors)
    with SSHHost(target(sshd, user=unprivileged, sudo=True)) as elevated:
        assert elevated.run(["id", "-u"], timeout=10).stdout.strip() == b"0"
        allowed = accounts.collect(elevated)
    local = accounts.collect(LocalHost())
    assert allowed.errors == [] and allowed.facts == local.facts
