"""The same server on a real PostgreSQL: migration, ingest, replay, fork, immutability."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from collectors.registry import all_collectors
from dossier.procs import free_port, start_server
from server.admin import init_server
from server.config import DataDir
from tests.conftest import RunningServer, dossier, enroll_agent, write_agent_config


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed; .ci/run installs Debian's postgresql")
    return found[-1]


def _as_postgres(argv: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root.
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    # Not under pytest's tmp dir: that is private to root, and postgres must reach it.
    root = Path(tempfile.mkdtemp(prefix="dossier-pg-"))
    data, sockets = root / "data", root / "sockets"
    sockets.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(sockets, "postgres")
    port = free_port()
    subprocess.run(
        _as_postgres(
            [_pg_bin("initdb"), "-D", str(data), "-A", "trust", "-U", "dossier", "--no-sync"]
        ),
        check=True,
        capture_output=True,
    )
    subprocess.run(
        _as_postgres(
            [
                _pg_bin("pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(root / "log"),
                "-w",
                "-o",
                f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off",
                "start",
            ]
        ),
        check=True,
        capture_output=True,
    )
    try:
        with psycopg.connect(
            f"host=127.0.0.1 port={port} user=dossier dbname=postgres", autocommit=True
        ) as connection:
            connection.execute("CREATE DATABASE dossier")
        yield f"postgresql+psycopg://dossier@127.0.0.1:{port}/dossier"
    finally:
        subprocess.run(
            _as_postgres([_pg_bin("pg_ctl"), "-D", str(data), "-m", "fast", "stop"]),
            check=False,
            capture_output=True,
        )


@pytest.fixture
def pg_server(postgres_url: str, tmp_path: Path) -> Iterator[RunningServer]:
    data = DataDir(tmp_path / "server")
    token = init_server(data, database_url=postgres_url)
    running = RunningServer(data, token, start_server(data.root))
    yield running
    running.stop()


def test_server_on_postgresql_ingests_and_keeps_evidence_immutable(
    pg_server: RunningServer, postgres_url: str, tmp_path: Path
) -> None:
    assert "postgresql" in pg_server.data.load_settings().database_url  # type: ignore[operator]
    state = tmp_path / "agent"
    agent_id = enroll_agent(pg_server, state)
    config = write_agent_config(tmp_path / "agent.yaml", pg_server.url)
    for _ in range(2):
        dossier("agent", "run", "--once", "--state", str(state), "--config", str(config))
    hosts = pg_server.admin_get("/hosts")["hosts"]
    assert [(h["agent_id"], h["bundles"]) for h in hosts] == [(agent_id, 2)]
    records = pg_server.admin_get(f"/hosts/{hosts[0]['id']}/evidence")["records"]
    assert sorted({r["seq"] for r in records}) == [1, 2]
    assert len(records) == 2 * len(all_collectors())

    # Replaying a stored bundle returns the stored receipt; nothing new is stored.
    blob = next(p for p in (pg_server.data.blobs / "sha256").rglob("*") if p.is_file())
    again = pg_server.post("/bundles", data=blob.read_bytes())
    assert again.status_code == 200

    url = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as connection:
        for statement in (
            "UPDATE bundles SET seq = 99",
            "DELETE FROM records",
            "DELETE FROM log_entries",
        ):
            with pytest.raises(psycopg.errors.RaiseException, match="evidence is immutable"):
                connection.execute(statement)
            connection.rollback()
        count = connection.execute("SELECT count(*) FROM bundles").fetchone()
    assert count == (2,)
