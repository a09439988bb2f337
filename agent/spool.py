"""Durable FIFO spool of signed bundles awaiting a verified receipt.

Each entry is one file named `<seq>-<bundle id>.json` holding the DSSE envelope,
written atomically, so after a crash an entry is either complete or absent.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from agent.files import fsync_dir, write_atomic
from evidence.bundle import SignedBundle

log = logging.getLogger("dossier.agent.spool")
ENTRY = re.compile(r"^(\d{12})-([0-9a-f]{64})\.json$")


class SpoolFull(Exception):
    """The spool is at its size bound; the new bundle was not written."""


@dataclass(frozen=True)
class SpoolEntry:
    path: Path
    seq: int
    bundle_id: str

    def read(self) -> bytes:
        return self.path.read_bytes()


class Spool:
    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self._clean_temp_files()

    def _clean_temp_files(self) -> None:
        for leftover in self.directory.glob(".tmp-*"):
            leftover.unlink(missing_ok=True)

    def entries(self) -> list[SpoolEntry]:
        """Entries oldest first (by seq)."""
        found = []
        for path in self.directory.iterdir():
            match = ENTRY.match(path.name)
            if match:
                found.append(SpoolEntry(path, int(match.group(1)), match.group(2)))
        return sorted(found, key=lambda entry: entry.seq)

    def size_bytes(self) -> int:
        return sum(entry.path.stat().st_size for entry in self.entries())

    def put(self, bundle: SignedBundle) -> SpoolEntry:
        data = bundle.envelope.to_bytes()
        used = self.size_bytes()
        if used + len(data) > self.max_bytes:
            log.error(
                "SPOOL FULL: %d bytes used of %d; bundle seq %d NOT spooled. The server has "
                "been unreachable too long or the bound is too small; nothing was dropped.",
                used,
                self.max_bytes,
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
        path = self.directory / f"{bundle.payload.seq:012d}-{bundle.bundle_id}.json"
        write_atomic(path, data)
        return SpoolEntry(path, bundle.payload.seq, bundle.bundle_id)

    def remove(self, entry: SpoolEntry) -> None:
        entry.path.unlink(missing_ok=True)
        fsync_dir(self.directory)

    def move_to(self, entry: SpoolEntry, directory: Path, reason: str) -> Path:
        """Set a bundle aside (never delete it) with the reason next to it."""
        target = directory / entry.path.name
        write_atomic(target.with_suffix(".reason.txt"), (reason + "\n").encode())
        entry.path.replace(target)
        fsync_dir(self.directory)
        fsync_dir(directory)
        return target
