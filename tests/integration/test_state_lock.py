"""One writer per agent state directory: every command that changes it takes the lock.

Two writers could give one seq to two different bundles of a chain (a fork the server
refuses), and a second process clearing temp files could delete a write in flight.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.state import StateDir
from tests.conftest import dossier

WRITERS = {
    "collect --local --state": ["collect", "--local", "--state"],
    "agent run --once": ["agent", "run", "--once", "--state"],
    "agent ship": ["agent", "ship", "--state"],
    "agent export": ["agent", "export", "--to", "{media}", "--state"],
    "agent import-receipts": ["agent", "import-receipts", "{media}", "--state"],
}


@pytest.mark.parametrize("command", sorted(WRITERS))
def test_a_writer_is_refused_while_another_holds_the_state(tmp_path: Path, command: str) -> None:
    state = tmp_path / "state"
    state.mkdir()
    media = tmp_path / "media"
    media.mkdir()
    temp = state / "spool" / "h-1" / ".tmp-in-flight"
    temp.parent.mkdir(parents=True)
    temp.write_bytes(b"a write in progress")
    argv = [arg.format(media=media) for arg in WRITERS[command]] + [str(state)]
    with StateDir(state).lock():
        result = dossier(*argv, check=False)
    assert result.returncode == 2, result.stderr
    assert f"another agent process is using {state}" in result.stderr
    assert temp.exists()


def test_a_missing_state_dir_is_not_enrolled_not_a_traceback(tmp_path: Path) -> None:
    missing = tmp_path / "typo"
    result = dossier("agent", "run", "--once", "--state", str(missing), check=False)
    assert result.returncode == 2
    assert f"{missing} is not enrolled" in result.stderr
    assert "Traceback" not in result.stderr
    assert not missing.exists()
