"""`SSHHost`: the Host protocol over SSH (paramiko), for agentless collection.

Files are read over SFTP (one round trip per read on an open session, far cheaper than
an exec), commands run over exec. Host keys are checked strictly against one
known_hosts file: an unknown or changed key is refused, never added.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import shlex
import stat as stat_module
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import paramiko

from collectors.host import DEFAULT_MAX_READ, READ_CHUNK, CommandResult, FileStat, HostError

SFTP_SERVERS = (
    "/usr/lib/openssh/sftp-server",
    "/usr/libexec/openssh/sftp-server",
    "/usr/lib/ssh/sftp-server",
)


class SSHConnectError(HostError):
    """The target could not be reached, refused us, or failed authentication."""


class HostKeyRejected(SSHConnectError):
    """The target's host key is unknown or differs from known_hosts."""


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH-style fingerprint: SHA256:<base64 without padding>."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


@dataclass(frozen=True)
class SSHTarget:
    host: str
    user: str
    known_hosts: Path
    port: int = 22
    identity_file: Path | None = None
    use_agent: bool = False
    sudo: bool = False
    connect_timeout: float = 10.0
    name: str | None = None

    @property
    def label(self) -> str:
        return self.name or f"{self.user}@{self.host}:{self.port}"


class _RefuseUnknown(paramiko.MissingHostKeyPolicy):
    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        raise HostKeyRejected(
            f"{hostname}: host key {key.get_name()} {fingerprint(key)} is not in known_hosts; "
            "verify it out of band and add it (no key is ever accepted automatically)"
        )


class SSHHost:
    """A connected SSH target. Use as a context manager, or call `close()`."""

    def __init__(self, target: SSHTarget) -> None:
        self.target = target
        self._client = paramiko.SSHClient()
        if not target.known_hosts.is_file():
            raise SSHConnectError(f"known_hosts file {target.known_hosts} does not exist")
        # Only this file: neither the system's nor the user's known_hosts is consulted.
        self._client.load_host_keys(str(target.known_hosts))
        self._client.set_missing_host_key_policy(_RefuseUnknown())
        try:
            self._client.connect(
                target.host,
                port=target.port,
                username=target.user,
                key_filename=str(target.identity_file) if target.identity_file else None,
                allow_agent=target.use_agent,
                look_for_keys=False,
                timeout=target.connect_timeout,
                banner_timeout=target.connect_timeout,
                auth_timeout=target.connect_timeout,
            )
        except HostKeyRejected:
            self._client.close()
            raise
        except paramiko.BadHostKeyException as exc:
            self._client.close()
            raise HostKeyRejected(
                f"{target.label}: HOST KEY CHANGED: known_hosts has "
                f"{fingerprint(exc.expected_key)}, the server presented "
                f"{fingerprint(exc.key)}; refusing to connect (possible interception)"
            ) from exc
        except paramiko.AuthenticationException as exc:
            self._client.close()
            raise SSHConnectError(f"{target.label}: authentication failed: {exc}") from exc
        except (OSError, paramiko.SSHException) as exc:
            self._client.close()
            raise SSHConnectError(f"{target.label}: cannot connect: {exc}") from exc
        self._sftp = self._open_sftp()
        # Collectors run in threads; one SFTP session serves one request at a time.
        self._sftp_lock = threading.Lock()

    def _open_sftp(self) -> paramiko.SFTPClient:
        if not self.target.sudo:
            return self._client.open_sftp()
        # An SFTP server started through sudo reads what root reads (e.g. /etc/shadow).
        script = "; ".join(
            f"[ -x {shlex.quote(path)} ] && exec {shlex.quote(path)}" for path in SFTP_SERVERS
        )
        channel = self._transport().open_session(timeout=self.target.connect_timeout)
        channel.exec_command(f"sudo -n sh -c {shlex.quote(script + '; exit 127')}")
        return paramiko.SFTPClient(channel)

    def _transport(self) -> paramiko.Transport:
        transport = self._client.get_transport()
        if transport is None or not transport.is_active():
            raise HostError(f"{self.target.label}: connection is closed")
        return transport

    @property
    def name(self) -> str:
        return f"ssh:{self.target.label}"

    def __enter__(self) -> SSHHost:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._sftp.close()
        self._client.close()

    def read_file(self, path: str, max_bytes: int = DEFAULT_MAX_READ) -> bytes:
        return b"".join(self.read_chunks(path, max_bytes))

    def read_chunks(self, path: str, max_bytes: int = DEFAULT_MAX_READ) -> Iterator[bytes]:
        total = 0
        # The SFTP session is held until the file is read or the reader is closed.
        with self._sftp_lock, self._sftp.open(path, "rb") as handle:
            size = handle.stat().st_size or 0
            if READ_CHUNK < size <= max_bytes:
                # Pipeline the read requests: one round trip per 32 KiB otherwise makes a
                # large file (an apt list) crawl.
                handle.prefetch(size)
            # /proc files report size 0 over SFTP: read until EOF, not by size.
            while chunk := handle.read(READ_CHUNK):
                total += len(chunk)
                if total > max_bytes:
                    raise HostError(f"{path} is larger than the {max_bytes} byte read limit")
                yield chunk

    def list_dir(self, path: str) -> list[str]:
        with self._sftp_lock:
            attributes = self._sftp.stat(path)
            if attributes.st_mode is not None and not stat_module.S_ISDIR(attributes.st_mode):
                raise NotADirectoryError(errno.ENOTDIR, "not a directory", path)
            return sorted(self._sftp.listdir(path))

    def stat(self, path: str) -> FileStat | None:
        try:
            with self._sftp_lock:
                attributes = self._sftp.stat(path)
        except FileNotFoundError:
            return None
        return FileStat(
            path=path,
            mode=attributes.st_mode or 0,
            uid=attributes.st_uid or 0,
            gid=attributes.st_gid or 0,
            size=attributes.st_size or 0,
            mtime=float(attributes.st_mtime or 0),
        )

    def exists(self, path: str) -> bool:
        return self.stat(path) is not None

    def run(self, argv: Sequence[str], timeout: float) -> CommandResult:
        args = tuple(argv)
        command = "env LC_ALL=C LANG=C " + shlex.join(args)
        if self.target.sudo:
            command = "sudo -n " + command
        started = time.monotonic()
        try:
            channel = self._transport().open_session(timeout=self.target.connect_timeout)
            channel.exec_command(command)
        except (paramiko.SSHException, OSError, HostError) as exc:
            return CommandResult(args, None, b"", b"", 0, error=f"ssh exec failed: {exc}")
        stdout, stderr, finished = _drain(channel, started + timeout)
        elapsed = int((time.monotonic() - started) * 1000)
        if not finished:
            channel.close()
            return CommandResult(
                args, None, stdout, stderr, elapsed, error=f"timed out after {timeout:g}s"
            )
        code = channel.recv_exit_status()
        channel.close()
        if code == 127:
            return CommandResult(args, None, stdout, stderr, elapsed, error="not found")
        return CommandResult(args, code, stdout, stderr, elapsed)

    def psutil(self) -> ModuleType | None:
        return None


def _drain(channel: Any, deadline: float) -> tuple[bytes, bytes, bool]:
    """Read stdout and stderr together (so neither fills its window) until exit or deadline."""
    stdout, stderr = bytearray(), bytearray()
    while True:
        progressed = False
        while channel.recv_ready():
            stdout += channel.recv(65536)
            progressed = True
        while channel.recv_stderr_ready():
            stderr += channel.recv_stderr(65536)
            progressed = True
        if (
            channel.exit_status_ready()
            and not channel.recv_ready()
            and (not channel.recv_stderr_ready())
        ):
            return bytes(stdout), bytes(stderr), True
        if time.monotonic() > deadline:
            return bytes(stdout), bytes(stderr), False
        if not progressed:
            time.sleep(0.005)
