"""Running collectors: bounded concurrency, per-collector timeouts, crashes kept apart."""

from __future__ import annotations

import subprocess
import sys
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


def test_collectors_queued_behind_a_hung_one_still_run_with_their_own_timeout(
    tmp_path: Path,
) -> None:
    gauge = Gauge()
    specs = [
        spec("test.hung", gauge.sleeper(30)),
        spec("test.after1", gauge.sleeper(0.4)),
        spec("test.after2", gauge.sleeper(0.4)),
    ]
    started = time.monotonic()
    hung, after1, after2 = run_collectors(specs, RootHost(tmp_path), timeout=0.6, workers=1)
    # The hung one is given up at 0.6 s; each queued one then runs 0.4 s, inside its own
    # 0.6 s (timed from the start of the queue, they would have been reported as overruns).
    assert hung.errors == ["collector timed out after 0.6s"]
    assert after1.errors == [] and after1.facts == {"seconds": 0.4}
    assert after2.errors == [] and after2.facts == {"seconds": 0.4}
    assert 1.3 < time.monotonic() - started < 5


def test_a_hung_collector_does_not_hold_up_the_process_exit(tmp_path: Path) -> None:
    script = (
        "import time\n"
        "from pathlib import Path\n"
        "from agent.collect import run_collectors\n"
        "from collectors.host import RootHost\n"
        "from tests.unit.test_run_collectors import Gauge, spec\n"
        "hung = spec('test.hung', Gauge().sleeper(60))\n"
        f"[record] = run_collectors([hung], RootHost(Path({str(tmp_path)!r})), timeout=0.3)\n"
        "print(record.errors[0])\n"
    )
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=50, check=True
    )
    assert result.stdout.strip() == "collector timed out after 0.3s"
    assert time.monotonic() - started < 20  # not the 60 s the collector would take


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
