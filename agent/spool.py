"""Durable FIFO spool of signed bundles awaiting a verified receipt.

One subdirectory per chain (the host the bundles describe: the agent's own host, or a
target collected agentless), each entry one file `<seq>-<bundle id>.json` holding the
DSSE envelope, written atomically, so after a crash an entry is either complete or absent.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from agent.files import fsync_dir, write_atomic
from evidence.bundle import SignedBundle

log = logging.getLogger("dossier.agent.spool")
ENTRY = re.compile(r"^(\d{12})-([0-9a-f]{64})\.json$")
# Same shape as a payload's host id (evidence.bundle.ID_PATTERN): never "." or "..".
CHAIN_DIR = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


class SpoolFull(Exception):
    """The spool is at its size bound; the new bundle was not written."""


@dataclass(frozen=True)
class SpoolEntry:
    path: Path
    host_id: str
    seq: int
    bundle_id: str

    def read(self) -> bytes:
        return self.path.read_bytes()

    @property
    def label(self) -> str:
        return f"{self.host_id} seq {self.seq}"


class Spool:
    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes

    def _chain_dirs(self) -> list[Path]:
        found = self.directory.iterdir()
        return sorted(path for path in found if path.is_dir() and CHAIN_DIR.match(path.name))

    def remove_temp_files(self) -> None:
        """Delete half-written entries a crash left behind. Only the process holding the
        state lock may call this: another process's `.tmp-` file may be a write in flight."""
        for chain_dir in self._chain_dirs():
            for leftover in chain_dir.glob(".tmp-*"):
                leftover.unlink(missing_ok=True)

    def entries(self, host_id: str | None = None) -> list[SpoolEntry]:
        """Entries in shipping order: by seq, so each chain goes oldest first."""
        found = []
        for chain_dir in self._chain_dirs():
            if host_id is not None and chain_dir.name != host_id:
                continue
            for path in chain_dir.iterdir():
                match = ENTRY.match(path.name)
                if match:
                    found.append(
                        SpoolEntry(path, chain_dir.name, int(match.group(1)), match.group(2))
                    )
        return sorted(found, key=lambda entry: (entry.seq, entry.host_id))

    def size_bytes(self) -> int:
        return sum(entry_size(entry) for entry in self.entries())

    def put(self, bundle: SignedBundle) -> SpoolEntry:
        data = bundle.envelope.to_bytes()
        host_id = bundle.payload.host.id
        used = self.size_bytes()
        if used + len(data) > self.max_bytes:
            log.error(
                "SPOOL FULL: %d bytes used of %d; bundle %s seq %d NOT spooled. The server has "
                "been unreachable too long or the bound is too small; nothing was dropped.",
                used,
                self.max_bytes,
                host_id,
                bundle.payload.seq,
            )
            raise SpoolFull(
                f"spool {self.directory} holds {used} bytes, bound {self.max_bytes}; "
                f"new bundle of {len(data)} bytes refused"
            )
        if used + len(data) > 0.8 * self.max_bytes:
            log.warning(
                "spool is %d%% full (%d of %d bytes)",
                100 * (used + len(data)) // self.max_bytes,
                used + len(data),
                self.max_bytes,
            )
        chain_dir = self.directory / host_id
        if not chain_dir.is_dir():
            chain_dir.mkdir(mode=0o700)
            fsync_dir(self.directory)
        path = chain_dir / f"{bundle.payload.seq:012d}-{bundle.bundle_id}.json"
        write_atomic(path, data)
        return SpoolEntry(path, host_id, bundle.payload.seq, bundle.bundle_id)

    def remove(self, entry: SpoolEntry) -> None:
        entry.path.unlink(missing_ok=True)
        fsync_dir(entry.path.parent)

    def set_aside(self, directory: Path, host_id: str) -> list[tuple[int, str]]:
        """(seq, bundle id) of the host's bundles that `move_to` put in `directory`."""
        found = []
        prefix = host_id + "."
        for path in directory.glob("*.json") if directory.is_dir() else []:
            if path.name.startswith(prefix):
                match = ENTRY.match(path.name[len(prefix) :])
                if match:
                    found.append((int(match.group(1)), match.group(2)))
        return sorted(found)

    def move_to(self, entry: SpoolEntry, directory: Path, reason: str) -> Path:
        """Set a bundle aside (never delete it) with the reason next to it."""
        target = directory / f"{entry.host_id}.{entry.path.name}"
        write_atomic(target.with_suffix(".reason.txt"), (reason + "\n").encode())
        os.replace(entry.path, target)
        fsync_dir(entry.path.parent)
        fsync_dir(directory)
        return target


def entry_size(entry: SpoolEntry) -> int:
    """The entry's size; 0 once it is gone (delivered or set aside since it was listed)."""
    try:
        return entry.path.stat().st_size
    except FileNotFoundError:
        return 0
