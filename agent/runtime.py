"""An enrolled agent, ready to collect and ship: state + config + key + spool."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from agent.collect import BundleWriter, run_collectors
from agent.config import AgentConfig, Schedule
from agent.shipping import ShipReport
from agent.spool import Spool, SpoolEntry, entry_size
from agent.state import StateDir
from collectors.host import Host, LocalHost
from collectors.identity import host_ref
from collectors.registry import CollectorSpec, all_collectors, select

log = logging.getLogger("dossier.agent")

OFFLINE = "no server URL (enrolled by removable media)"


@dataclass(frozen=True)
class AgentStatus:
    agent_id: str
    server_url: str | None
    host_id: str
    last_seq: int  # of this host's own chain
    chains: dict[str, int]  # every chain this agent keeps: host id -> last seq
    spooled: int
    spooled_bytes: int
    rejected: int
    last_receipt: dict[str, Any] | None

    def as_dict(self) -> dict[str, Any]:
        receipt = None
        if self.last_receipt is not None:
            receipt = {k: v for k, v in self.last_receipt.items() if k != "envelope"}
        return {
            "agent_id": self.agent_id,
            "server_url": self.server_url,
            "host_id": self.host_id,
            "last_seq": self.last_seq,
            "chains": self.chains,
            "spooled": self.spooled,
            "spooled_bytes": self.spooled_bytes,
            "rejected": self.rejected,
            "last_receipt": receipt,
        }


class AgentRuntime:
    """An agent's state, config, key and spool. Reading (status) needs nothing more;
    anything that writes to the state dir goes through `open_runtime`."""

    def __init__(self, state: StateDir, config: AgentConfig, host: Host | None = None) -> None:
        self.state = state
        self.config = config
        self.host = host or LocalHost()
        self.enrollment = state.enrollment()
        state.create()
        self.key = state.load_key()
        self.lock = threading.Lock()
        self.spool = Spool(state.spool_dir, config.spool.max_bytes)
        self.writer = BundleWriter(state, self.key, self.enrollment.agent_id, self.spool, self.lock)

    @property
    def server_url(self) -> str | None:
        """Where to ship; None for an agent enrolled by media with no URL configured."""
        return self.config.server.url or self.enrollment.server_url

    def schedules(self) -> dict[str, Schedule]:
        return self.config.schedules(list(all_collectors()))

    def collectors(self, names: Sequence[str] | None = None) -> list[CollectorSpec]:
        """The named collectors, or all this agent runs; unknown names raise KeyError."""
        return select(list(names) if names else list(self.schedules()))

    def collect(self, names: Sequence[str] | None = None) -> SpoolEntry:
        specs = self.collectors(names)
        records = run_collectors(
            specs,
            self.host,
            self.config.collector_timeout.total_seconds(),
            workers=self.config.collector_workers,
        )
        _bundle, entry = self.writer.commit(self.host, records)
        return entry

    def ship(self) -> ShipReport:
        if self.server_url is None:
            # Not a failure: this host's bundles leave by removable media.
            return ShipReport(
                remaining=len(self.spool.entries()),
                stopped_by=f"{OFFLINE}: export the spool with `dossier agent export`",
            )
        # Imported here, after collection: see agent.shipping.
        from agent.shipper import Shipper, make_session

        ca = self.config.server.ca_file or self.state.ca_file
        session = make_session(self.server_url, ca, self.config.ship.retries)
        shipper = Shipper(
            self.state,
            self.spool,
            self.server_url,
            self.enrollment.server_key(),
            session,
            self.config.ship.timeout.total_seconds(),
            self.lock,
        )
        return shipper.ship_all()

    def status(self) -> AgentStatus:
        entries = self.spool.entries()
        own = host_ref(self.host).id
        chains = {
            host_id: self.writer.position(host_id).seq
            for host_id in sorted({own, *self.state.chain_ids(), *(e.host_id for e in entries)})
        }
        return AgentStatus(
            agent_id=self.enrollment.agent_id,
            server_url=self.server_url,
            host_id=own,
            last_seq=chains[own],
            chains=chains,
            spooled=len(entries),
            spooled_bytes=sum(entry_size(entry) for entry in entries),
            rejected=len(list(self.state.rejected_dir.glob("*.json"))),
            last_receipt=self.state.last_receipt(),
        )


@contextmanager
def open_runtime(
    state: StateDir, config: AgentConfig, host: Host | None = None
) -> Iterator[AgentRuntime]:
    """The runtime for a command that changes the state dir (collect, ship, export,
    import receipts), holding the state lock throughout: two writers would give one seq
    to two different bundles, a fork the server refuses. Under the lock, half-written
    spool entries from a crash are cleared."""
    with state.lock():
        runtime = AgentRuntime(state, config, host)
        runtime.spool.remove_temp_files()
        yield runtime
