"""Running collectors: bounded concurrency, per-collector timeouts, crashes kept apart."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel

from agent.collect import run_collectors
from agent.config import load_config
from collectors.host import RootHost
from collectors.provenance import Collection
from collectors.registry import CollectorSpec


class Slept(BaseModel):
    seconds: float


class Gauge:
    """How many collectors run at once, and the most there ever were. With `together`,
    collectors also wait for each other in groups of that size (a barrier that breaks
    after 5 s), so running fewer at once makes them fail instead of passing by luck."""

    def __init__(self, together: int | None = None) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.barrier = threading.Barrier(together, timeout=5) if together else None

    def sleeper(self, seconds: float) -> Callable[[Collection], Slept]:
        def collect(_c: Collection) -> Slept:
            with self.lock:
                self.running += 1
                self.most = max(self.most, self.running)
            if self.barrier is not None:
                self.barrier.wait()
            time.sleep(seconds)
            with self.lock:
                self.running -= 1
            return Slept(seconds=seconds)

        return collect


def spec(name: str, function: Callable[[Collection], BaseModel]) -> CollectorSpec:
    return CollectorSpec(
        name=name,
        version="1",
        category="inventory",
        facts_model=Slept,
        function=function,
        description="test collector",
    )


def test_workers_bound_how_many_run_at_once(tmp_path: Path) -> None:
    gauge = Gauge(together=2)
    specs = [spec(f"test.sleep{i}", gauge.sleeper(0.2)) for i in range(6)]
    started = time.monotonic()
    records = run_collectors(specs, RootHost(tmp_path), timeout=10, workers=2)
    elapsed = time.monotonic() - started
    assert gauge.most == 2
    assert elapsed >= 0.55  # three rounds of two
    assert [r.collector for r in records] == [s.name for s in specs]  # order kept
    assert all(r.facts == {"seconds": 0.2} and r.errors == [] for r in records)


def test_default_runs_all_at_once(tmp_path: Path) -> None:
    gauge = Gauge(together=4)
    specs = [spec(f"test.sleep{i}", gauge.sleeper(0.01)) for i in range(4)]
    records = run_collectors(specs, RootHost(tmp_path), timeout=10)
    assert all(r.errors == [] for r in records)  # no barrier broke: all four ran at once
    assert gauge.most == 4


def test_overrun_becomes_an_error_record_and_others_finish(tmp_path: Path) -> None:
    gauge = Gauge()
    specs = [spec("test.slow", gauge.sleeper(3)), spec("test.quick", gauge.sleeper(0.01))]
    started = time.monotonic()
    slow, quick = run_collectors(specs, RootHost(tmp_path), timeout=0.3, workers=2)
    assert time.monotonic() - started < 2.5  # not waiting for the slow one
    assert slow.collector == "test.slow"
    assert slow.facts == {}
    assert slow.errors == ["collector timed out after 0.3s"]
    assert quick.errors == [] and quick.facts == {"seconds": 0.01}


def test_crash_is_kept_inside_its_record(tmp_path: Path) -> None:
    def broken(_c: Collection) -> Slept:
        raise RuntimeError("boom")

    gauge = Gauge()
    crashed, fine = run_collectors(
        [spec("test.broken", broken), spec("test.fine", gauge.sleeper(0.01))],
        RootHost(tmp_path),
        timeout=5,
        workers=1,
    )
    assert crashed.facts == {}
    assert len(crashed.errors) == 1
    assert crashed.errors[0].startswith("collector crashed: RuntimeError: boom (")
    assert fine.errors == []


def test_agent_default_is_two_collectors_at_once(tmp_path: Path) -> None:
    assert load_config(None).collector_workers == 2
    path = tmp_path / "agent.yaml"
    path.write_text("collector_workers: 6\n")
    assert load_config(path).collector_workers == 6
