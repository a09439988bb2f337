"""The agent's state directory: key, enrollment, chain position, receipts, spool."""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel, ConfigDict, ValidationError

from agent.files import write_atomic
from evidence.keys import PublicKey, SigningKey


class StateError(Exception):
    """The state directory is missing, not enrolled, corrupt or in use."""


class Enrollment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agent_id: str
    server_url: str | None  # None: enrolled by removable media, ships by media too
    enrolled_at: str
    server_public_key: str
    server_keyid: str

    def server_key(self) -> PublicKey:
        return PublicKey.from_b64(self.server_public_key)


@dataclass(frozen=True)
class ChainPosition:
    seq: int  # seq of the newest bundle made (0 before the first)
    prev: str | None  # its bundle id


@dataclass(frozen=True)
class StateDir:
    root: Path

    @property
    def key_file(self) -> Path:
        return self.root / "agent.key"

    @property
    def enrollment_file(self) -> Path:
        return self.root / "agent.json"

    @property
    def ca_file(self) -> Path:
        return self.root / "ca.pem"

    @property
    def chains_dir(self) -> Path:
        return self.root / "chains"

    def chain_file(self, host_id: str) -> Path:
        return self.chains_dir / f"{host_id}.json"

    def chain_receipt_file(self, host_id: str) -> Path:
        return self.chains_dir / f"{host_id}.receipt.json"

    @property
    def receipt_file(self) -> Path:
        return self.root / "last-receipt.json"

    @property
    def spool_dir(self) -> Path:
        return self.root / "spool"

    @property
    def rejected_dir(self) -> Path:
        return self.root / "rejected"

    @property
    def lock_file(self) -> Path:
        return self.root / "lock"

    def create(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        self.spool_dir.mkdir(mode=0o700, exist_ok=True)
        self.chains_dir.mkdir(mode=0o700, exist_ok=True)
        self.rejected_dir.mkdir(mode=0o700, exist_ok=True)

    def load_key(self) -> SigningKey:
        return SigningKey.load(self.key_file)

    def load_or_create_key(self) -> SigningKey:
        if self.key_file.exists():
            return self.load_key()
        key = SigningKey.generate()
        key.save(self.key_file)
        return key

    def enrollment(self) -> Enrollment:
        try:
            raw = json.loads(self.enrollment_file.read_text(encoding="utf-8"))
            return Enrollment.model_validate(raw)
        except FileNotFoundError as exc:
            raise StateError(
                f"{self.root} is not enrolled; run 'dossier agent enroll --state {self.root} "
                "--server URL --token TOKEN' first"
            ) from exc
        except (ValueError, ValidationError) as exc:
            raise StateError(f"{self.enrollment_file} is corrupt: {exc}") from exc

    def is_enrolled(self) -> bool:
        return self.enrollment_file.exists()

    def save_enrollment(self, enrollment: Enrollment) -> None:
        write_json(self.enrollment_file, enrollment.model_dump())

    def saved_chain(self, host_id: str) -> ChainPosition:
        raw = read_json(self.chain_file(host_id))
        if raw is None:
            return ChainPosition(0, None)
        return ChainPosition(int(raw["seq"]), raw["prev"])

    def save_chain(self, host_id: str, position: ChainPosition) -> None:
        write_json(self.chain_file(host_id), {"seq": position.seq, "prev": position.prev})

    def chain_ids(self) -> list[str]:
        """Hosts this agent has made bundles for (its own, and agentless targets)."""
        if not self.chains_dir.is_dir():
            return []
        return sorted(
            path.name.removesuffix(".json")
            for path in self.chains_dir.glob("*.json")
            if not path.name.endswith(".receipt.json")
        )

    def chain_receipt(self, host_id: str) -> dict[str, Any] | None:
        raw = read_json(self.chain_receipt_file(host_id))
        return raw if isinstance(raw, dict) else None

    def last_receipt(self) -> dict[str, Any] | None:
        raw = read_json(self.receipt_file)
        return raw if isinstance(raw, dict) else None

    def save_receipt(self, host_id: str, receipt: dict[str, Any]) -> None:
        """Keep the newest verified receipt of the chain, and as the agent's latest."""
        value = receipt | {"host_id": host_id}
        write_json(self.chain_receipt_file(host_id), value)
        write_json(self.receipt_file, value)

    def lock(self) -> IO[str]:
        """Hold an exclusive lock on the state dir for as long as the handle is open."""
        if not self.root.is_dir():
            self.enrollment()  # raises the "not enrolled; run 'dossier agent enroll'" error
        handle = open(self.lock_file, "a")  # noqa: SIM115 - the caller owns the handle
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            handle.close()
            raise StateError(f"another agent process is using {self.root}") from exc
        return handle


def write_json(path: Path, value: Any) -> None:
    write_atomic(path, (json.dumps(value, indent=2, sort_keys=True) + "\n").encode())


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise StateError(f"{path} is corrupt: {exc}") from exc
