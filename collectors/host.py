"""The `Host` protocol: the only way collectors see a machine.

`LocalHost` reads this machine; `RootHost` reads a filesystem tree under a directory
(a debootstrapped Debian, an extracted RHEL root) and cannot run commands; `SSHHost`
(agentless) implements the same protocol over SFTP and exec.
"""

from __future__ import annotations

import os
import stat as stat_module
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import ModuleType
from typing import Protocol

DEFAULT_MAX_READ = 32 * 1024 * 1024


class HostError(Exception):
    """A host operation failed for a reason other than a missing file or permission."""


@dataclass(frozen=True)
class FileStat:
    path: str
    mode: int  # full st_mode: use stat.S_ISDIR / S_IMODE on it
    uid: int
    gid: int
    size: int
    mtime: float

    @property
    def is_dir(self) -> bool:
        return stat_module.S_ISDIR(self.mode)

    @property
    def permissions(self) -> int:
        return stat_module.S_IMODE(self.mode)


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    exit: int | None  # None: it did not run to completion (see `error`)
    stdout: bytes
    stderr: bytes
    duration_ms: int
    error: str | None = None  # "not found", "timed out after 5s", "not supported on …"

    @property
    def ok(self) -> bool:
        return self.exit == 0 and self.error is None


class Host(Protocol):
    """What a collector may ask of a host. Paths are absolute POSIX paths on that host."""

    @property
    def name(self) -> str: ...

    def read_file(self, path: str, max_bytes: int = DEFAULT_MAX_READ) -> bytes:
        """Return the file's bytes; raise FileNotFoundError, PermissionError or HostError."""
        ...

    def read_chunks(self, path: str, max_bytes: int = DEFAULT_MAX_READ) -> Iterator[bytes]:
        """The file's bytes in pieces, for files too large to hold whole; raises as
        `read_file` (HostError as soon as more than `max_bytes` were read)."""
        ...

    def list_dir(self, path: str) -> list[str]:
        """Sorted entry names; raise FileNotFoundError, NotADirectoryError or PermissionError."""
        ...

    def stat(self, path: str) -> FileStat | None:
        """lstat-like metadata (symlinks are followed), or None when absent."""
        ...

    def exists(self, path: str) -> bool: ...

    def run(self, argv: Sequence[str], timeout: float) -> CommandResult:
        """Run a command without a shell; never raises for a failing command."""
        ...

    def psutil(self) -> ModuleType | None:
        """The psutil module when collecting this very machine, else None."""
        ...


def _stat_result(path: str, result: os.stat_result) -> FileStat:
    return FileStat(
        path=path,
        mode=result.st_mode,
        uid=result.st_uid,
        gid=result.st_gid,
        size=result.st_size,
        mtime=result.st_mtime,
    )


READ_CHUNK = 64 * 1024


def _read_limited(real_path: str, max_bytes: int) -> bytes:
    # Read in chunks: one read sized to the limit makes the kernel refuse some /proc/sys
    # files (ENOMEM) and reserves the whole limit for every small file.
    return b"".join(_chunks_limited(real_path, max_bytes))


def _chunks_limited(real_path: str, max_bytes: int) -> Iterator[bytes]:
    total = 0
    with open(real_path, "rb") as handle:
        while chunk := handle.read(READ_CHUNK):
            total += len(chunk)
            if total > max_bytes:
                raise HostError(f"{real_path} is larger than the {max_bytes} byte read limit")
            yield chunk


class LocalHost:
    """This machine."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        # Commands run with a fixed C locale so their output parses the same everywhere.
        self._env = {
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "LC_ALL": "C",
            "LANG": "C",
        }
        if env:
            self._env.update(env)

    @property
    def name(self) -> str:
        return "local"

    def read_file(self, path: str, max_bytes: int = DEFAULT_MAX_READ) -> bytes:
        return _read_limited(path, max_bytes)

    def read_chunks(self, path: str, max_bytes: int = DEFAULT_MAX_READ) -> Iterator[bytes]:
        return _chunks_limited(path, max_bytes)

    def list_dir(self, path: str) -> list[str]:
        return sorted(os.listdir(path))

    def stat(self, path: str) -> FileStat | None:
        try:
            return _stat_result(path, os.stat(path))
        except (FileNotFoundError, NotADirectoryError):
            return None

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def run(self, argv: Sequence[str], timeout: float) -> CommandResult:
        return run_local(argv, timeout, env=self._env)

    def psutil(self) -> ModuleType | None:
        import psutil

        return psutil


def run_local(
    argv: Sequence[str], timeout: float, *, env: dict[str, str] | None = None
) -> CommandResult:
    started = time.monotonic()
    args = tuple(argv)

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        completed = subprocess.run(
            args,
            capture_output=True,
            timeout=timeout,
            env=env,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except FileNotFoundError:
        return CommandResult(args, None, b"", b"", elapsed(), error="not found")
    except PermissionError:
        return CommandResult(args, None, b"", b"", elapsed(), error="permission denied")
    except subprocess.TimeoutExpired as exc:
        return CommandResult(
            args,
            None,
            exc.stdout or b"",
            exc.stderr or b"",
            elapsed(),
            error=f"timed out after {timeout:g}s",
        )
    return CommandResult(args, completed.returncode, completed.stdout, completed.stderr, elapsed())


class RootHost:
    """A filesystem tree under `root`, read as if it were `/` of a host.

    Symlinks are resolved inside the tree (an absolute target is re-rooted), so nothing
    outside `root` is ever read. Commands are not supported: the tree is not running.
    """

    MAX_SYMLINKS = 40

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        if not self.root.is_dir():
            raise HostError(f"root {root} is not a directory")

    @property
    def name(self) -> str:
        return f"root:{self.root}"

    def resolve(self, path: str) -> str:
        """Map a host path to a real path under root, following symlinks inside the tree."""
        pending = list(PurePosixPath(path).parts)
        if pending and pending[0] == "/":
            pending.pop(0)
        pending.reverse()
        resolved: list[str] = []
        hops = 0
        while pending:
            part = pending.pop()
            if part in ("", "."):
                continue
            if part == "..":
                if resolved:
                    resolved.pop()
                continue
            candidate = os.path.join(self.root, *resolved, part)
            if os.path.islink(candidate):
                hops += 1
                if hops > self.MAX_SYMLINKS:
                    raise HostError(f"too many symlinks resolving {path}")
                target = PurePosixPath(os.readlink(candidate))
                if target.is_absolute():
                    resolved = []
                    parts = list(target.parts[1:])
                else:
                    parts = list(target.parts)
                pending.extend(reversed(parts))
                continue
            resolved.append(part)
        return os.path.join(self.root, *resolved)

    def read_file(self, path: str, max_bytes: int = DEFAULT_MAX_READ) -> bytes:
        return _read_limited(self.resolve(path), max_bytes)

    def read_chunks(self, path: str, max_bytes: int = DEFAULT_MAX_READ) -> Iterator[bytes]:
        return _chunks_limited(self.resolve(path), max_bytes)

    def list_dir(self, path: str) -> list[str]:
        return sorted(os.listdir(self.resolve(path)))

    def stat(self, path: str) -> FileStat | None:
        try:
            return _stat_result(path, os.stat(self.resolve(path)))
        except (FileNotFoundError, NotADirectoryError):
            return None

    def exists(self, path: str) -> bool:
        return os.path.exists(self.resolve(path))

    def run(self, argv: Sequence[str], timeout: float) -> CommandResult:
        return CommandResult(
            tuple(argv), None, b"", b"", 0, error="commands are not supported on a RootHost"
        )

    def psutil(self) -> ModuleType | None:
        return None
