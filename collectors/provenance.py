"""Provenance: every file a collector reads and command it runs is recorded as a source."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from types import ModuleType

from collectors.host import DEFAULT_MAX_READ, CommandResult, Host, HostError
from evidence.canonical import format_timestamp, sha256_hex
from evidence.records import ApiSource, CommandSource, FileSource, Source


class ReadFailed(Exception):
    """A streamed read stopped early; the reason is already in the collection's errors."""


class Collection:
    """A collector's view of a host that records sources and non-fatal errors.

    Reads that fail return None and add an error line instead of raising, so one
    unreadable file never hides the facts that could be read.
    """

    def __init__(self, host: Host) -> None:
        self.host = host
        self.sources: list[Source] = []
        self.errors: list[str] = []

    def error(self, message: str) -> None:
        self.errors.append(message)

    def read_bytes(
        self, path: str, *, max_bytes: int = DEFAULT_MAX_READ, missing_ok: bool = False
    ) -> bytes | None:
        try:
            data = self.host.read_file(path, max_bytes)
        except FileNotFoundError:
            if not missing_ok:
                self.error(f"{path}: not found")
            return None
        except PermissionError:
            self.error(f"{path}: permission denied")
            return None
        except (HostError, OSError) as exc:
            self.error(f"{path}: {exc}")
            return None
        info = self.host.stat(path)
        mtime = (
            format_timestamp(datetime.fromtimestamp(info.mtime, UTC)) if info is not None else None
        )
        self.sources.append(
            FileSource(path=path, sha256=sha256_hex(data), size=len(data), mtime=mtime)
        )
        return data

    def read_stream(
        self, path: str, *, max_bytes: int = DEFAULT_MAX_READ, missing_ok: bool = False
    ) -> Iterator[bytes]:
        """The file in pieces, hashed on the way; its source is recorded once it was read
        to the end. A read that fails records an error and raises `ReadFailed`, so a
        consumer never mistakes a cut-off file for a whole one."""
        digest = hashlib.sha256()
        size = 0
        try:
            for chunk in self.host.read_chunks(path, max_bytes):
                digest.update(chunk)
                size += len(chunk)
                yield chunk
        except FileNotFoundError as exc:
            if not missing_ok:
                self.error(f"{path}: not found")
            raise ReadFailed(path) from exc
        except PermissionError as exc:
            self.error(f"{path}: permission denied")
            raise ReadFailed(path) from exc
        except (HostError, OSError) as exc:
            self.error(f"{path}: {exc}")
            raise ReadFailed(path) from exc
        info = self.host.stat(path)
        mtime = (
            format_timestamp(datetime.fromtimestamp(info.mtime, UTC)) if info is not None else None
        )
        self.sources.append(
            FileSource(path=path, sha256=digest.hexdigest(), size=size, mtime=mtime)
        )

    def read_text(
        self, path: str, *, max_bytes: int = DEFAULT_MAX_READ, missing_ok: bool = False
    ) -> str | None:
        data = self.read_bytes(path, max_bytes=max_bytes, missing_ok=missing_ok)
        return None if data is None else data.decode("utf-8", errors="replace")

    def list_dir(self, path: str, *, missing_ok: bool = False) -> list[str] | None:
        """Directory entry names, or None (with an error line unless missing and allowed)."""
        try:
            return self.host.list_dir(path)
        except FileNotFoundError:
            if not missing_ok:
                self.error(f"{path}: not found")
        except (PermissionError, NotADirectoryError, HostError, OSError) as exc:
            self.error(f"{path}: {exc}")
        return None

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float = 30.0,
        ok_exits: frozenset[int] = frozenset({0}),
    ) -> CommandResult:
        """Run a command, recording it; an exit status outside `ok_exits` is an error
        line (some tools answer with a status: `dnf check-update` exits 100 when
        updates are pending)."""
        result = self.host.run(argv, timeout)
        self.sources.append(
            CommandSource(
                argv=list(result.argv),
                exit=result.exit,
                stdout_sha256=sha256_hex(result.stdout),
                duration_ms=result.duration_ms,
            )
        )
        if result.error is not None:
            self.error(f"{' '.join(result.argv)}: {result.error}")
        elif result.exit not in ok_exits:
            stderr = result.stderr.decode("utf-8", errors="replace").strip().splitlines()
            self.error(
                f"{' '.join(result.argv)}: exit {result.exit}"
                + (f": {stderr[-1][:200]}" if stderr else "")
            )
        return result

    def psutil(self, call: str) -> ModuleType | None:
        """Return psutil when the host offers it, recording that `call` was made."""
        module = self.host.psutil()
        if module is not None:
            self.sources.append(ApiSource(call=call))
        return module
