"""Running processes: psutil on this machine, the /proc table without it, none on a tree."""

from __future__ import annotations

import os
from pathlib import Path

import psutil

from collectors.host import LocalHost, RootHost
from collectors.processes import running_process_names
from collectors.provenance import Collection
from tests.collectors.support import NoPsutilLocalHost


def test_proc_table_agrees_with_psutil_for_this_process() -> None:
    own = psutil.Process(os.getpid()).name()
    with_psutil = running_process_names(Collection(LocalHost()))
    without = running_process_names(Collection(NoPsutilLocalHost()))
    assert with_psutil is not None and without is not None
    assert own in with_psutil and own in without
    # Long-lived processes are seen both ways (short-lived ones may come and go).
    assert psutil.Process(1).name() in with_psutil & without


def test_a_tree_has_no_process_table(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    collection = Collection(RootHost(tmp_path))
    assert running_process_names(collection) is None
    assert collection.errors == []
