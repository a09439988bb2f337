"""The daemon's scheduler: collectors share `collector_workers` threads, and shipping
runs beside them on its own thread."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from agent.config import AgentConfig, Schedule
from agent.daemon import run_forever
from agent.shipping import ShipReport

COLLECTORS = [f"test.c{i}" for i in range(8)]


@dataclass
class Enrollment:
    agent_id: str = "agent-under-test"


@dataclass
class RecordingRuntime:
    """Stands in for AgentRuntime: what is under test is the scheduling, not collection
    (covered by the collector and end-to-end tests), so `collect` only holds its thread
    long enough for overlaps to show, and counts them."""

    config: AgentConfig
    server_url: str | None = "https://127.0.0.1:9"
    enrollment: Enrollment = field(default_factory=Enrollment)
    lock: threading.Lock = field(default_factory=threading.Lock)
    running: int = 0
    most_at_once: int = 0
    collected: list[str] = field(default_factory=list)
    ships_during_collection: int = 0

    def schedules(self) -> dict[str, Schedule]:
        return self.config.schedules(COLLECTORS)

    def collect(self, names: list[str]) -> None:
        with self.lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        time.sleep(0.2)
        with self.lock:
            self.running -= 1
            self.collected.extend(names)
            done = len(self.collected) == len(COLLECTORS)
        if done:
            os.kill(os.getpid(), signal.SIGTERM)  # run_forever's own way to stop

    def ship(self) -> ShipReport:
        with self.lock:
            self.ships_during_collection += self.running > 0
        return ShipReport()


@pytest.fixture
def restore_signals() -> object:
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


@pytest.mark.usefixtures("restore_signals")
@pytest.mark.parametrize("workers", [1, 3])
def test_collectors_run_at_most_collector_workers_at_once(
    workers: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="dossier.agent.daemon")
    config = AgentConfig(
        collector_workers=workers,
        schedule=Schedule(interval=timedelta(hours=1)),
        ship={"interval": timedelta(milliseconds=50)},
    )
    runtime = RecordingRuntime(config)
    run_forever(runtime)  # type: ignore[arg-type]  # only the attributes it uses
    assert sorted(runtime.collected) == COLLECTORS
    assert runtime.most_at_once == workers
    # Eight collections of 0.2 s on one or three threads leave time for several ships,
    # which would be queued behind the collectors if they shared a pool.
    assert runtime.ships_during_collection >= 2
    assert f"{len(COLLECTORS)} collector job(s)" in caplog.text
