"""The README's first command: `dossier demo` runs end to end, and again on its data."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import dossier


def test_demo_runs_twice_and_its_package_verifies(tmp_path: Path) -> None:
    root = tmp_path / "demo-data"
    first = dossier("demo", "--dir", str(root), timeout=300)
    assert "package verified" in first.stdout
    assert "What the server now holds" in first.stdout
    again = dossier("demo", "--dir", str(root), timeout=300)
    assert "reusing the server" in again.stdout and "package verified" in again.stdout
    # The second run added a second bundle to the same chain; the package holds both.
    verified = dossier("verify", str(root / "mlps2-l3.zip"))
    assert "2 bundles" in verified.stdout
    assert (root / "admin-token").stat().st_mode & 0o777 == 0o600
