"""Shared fixtures: real server processes on loopback, real agent subprocesses."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from dossier.procs import ServerProcess, dossier_argv, start_server
from server.admin import init_server
from server.config import DataDir


@dataclass
class RunningServer:
    data: DataDir
    admin_token: str
    process: ServerProcess

    @property
    def url(self) -> str:
        return self.process.url

    @property
    def ca(self) -> str:
        return str(self.process.ca)

    def admin_get(self, path: str, **params: Any) -> Any:
        response = requests.get(
            f"{self.url}/api/v1{path}",
            params=params,
            verify=self.ca,
            timeout=30,
            headers={"Authorization": f"Bearer {self.admin_token}"},
        )
        assert response.status_code == 200, response.text
        return response.json()

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.post(f"{self.url}/api/v1{path}", verify=self.ca, timeout=30, **kwargs)

    def restart(self) -> None:
        self.process.stop()
        self.process = start_server(self.data.root, port=self.process.port)

    def stop(self) -> None:
        self.process.stop()

    def start(self) -> None:
        self.process = start_server(self.data.root, port=self.process.port)


def make_server(root: Path, settings: dict[str, Any] | None = None) -> RunningServer:
    data = DataDir(root)
    token = init_server(data)
    if settings:
        data.config_file.write_text(json.dumps(settings), encoding="utf-8")
    return RunningServer(data, token, start_server(root))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    running = make_server(tmp_path / "server")
    yield running
    running.stop()


def dossier(
    *args: str, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the real `dossier` CLI as a subprocess."""
    result = subprocess.run(
        dossier_argv(*args), capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"dossier {' '.join(args)} exited {result.returncode}\n"
            f"stdout: {result.stdout}\nstderr: {result.stderr}"
        )
    return result


def create_token(server: RunningServer, uses: int = 1, expires: str = "1h") -> str:
    out = dossier(
        "server",
        "token",
        "create",
        "--data",
        str(server.data.root),
        "--uses",
        str(uses),
        "--expires",
        expires,
        "--json",
    )
    return str(json.loads(out.stdout)["token"])


def enroll_agent(server: RunningServer, state: Path) -> str:
    token = create_token(server)
    out = dossier(
        "agent",
        "enroll",
        "--state",
        str(state),
        "--server",
        server.url,
        "--token",
        token,
        "--ca",
        server.ca,
    )
    return out.stdout.strip().splitlines()[-1]


def write_agent_config(path: Path, server_url: str, **overrides: Any) -> Path:
    config: dict[str, Any] = {
        "server": {"url": server_url},
        "ship": {"retries": 0, "timeout": "5s"},
    }
    config.update(overrides)
    path.write_text(json.dumps(config), encoding="utf-8")
    return path
