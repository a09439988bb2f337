"""Content-addressed blob store: a blob's name is the SHA-256 of what identifies it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, name: str) -> Path:
        return self.root / "sha256" / name[:2] / name

    def exists(self, name: str) -> bool:
        return self.path_for(name).exists()

    def put(self, name: str, data: bytes) -> Path:
        """Store `data` under `name` durably; an existing blob is left untouched."""
        target = self.path_for(name)
        if target.exists():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temp_name, 0o440)
            os.replace(temp_name, target)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise
        directory = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        return target

    def get(self, name: str) -> bytes:
        return self.path_for(name).read_bytes()
