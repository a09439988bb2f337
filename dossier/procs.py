"""Starting a real server process on loopback and waiting for it (demo, tests, bench)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def dossier_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "dossier.cli", *args]


@dataclass
class ServerProcess:
    data: Path
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def ca(self) -> Path:
        return self.data / "tls" / "ca.pem"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_server(
    data: Path, port: int | None = None, log_path: Path | None = None, timeout: float = 30.0
) -> ServerProcess:
    """Run `dossier server run` as a subprocess and wait until /api/v1/health answers."""
    port = port or free_port()
    log_path = log_path or data / "server.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            dossier_argv("server", "run", "--data", str(data), "--port", str(port)),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    server = ServerProcess(data, port, process, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"server exited with {process.returncode}; log:\n{log_path.read_text()[-2000:]}"
            )
        try:
            requests.get(f"{server.url}/api/v1/health", verify=str(server.ca), timeout=2)
            return server
        except requests.RequestException:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"server did not answer within {timeout}s; see {log_path}")
