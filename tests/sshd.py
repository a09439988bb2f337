"""A real OpenSSH server on a loopback port, with its own host key and config."""

from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from dossier.procs import free_port

SSHD = "/usr/sbin/sshd"


def keygen(path: Path, kind: str = "ed25519") -> Path:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", path.name, "-f", str(path)], check=True
    )
    return path


@dataclass
class SshServer:
    root: Path
    port: int
    host_key: Path
    client_key: Path
    process: subprocess.Popen[bytes]

    @property
    def known_hosts(self) -> Path:
        return self.root / "known_hosts"

    def host_key_line(self) -> str:
        return f"[127.0.0.1]:{self.port} {self.host_key.with_suffix('.pub').read_text()}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


def start_sshd(
    root: Path,
    *,
    port: int | None = None,
    host_key: Path | None = None,
    client_key: Path | None = None,
) -> SshServer:
    root.mkdir(parents=True, exist_ok=True)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation directory
    port = port or free_port()
    host_key = host_key or keygen(root / "host_ed25519")
    client_key = client_key or keygen(root / "client_ed25519")
    (root / "authorized_keys").write_text(client_key.with_suffix(".pub").read_text())
    config = root / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {host_key}\n"
        f"PidFile {root}/sshd.pid\nAuthorizedKeysFile {root}/authorized_keys\n"
        "StrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "PermitRootLogin prohibit-password\nSubsystem sftp internal-sftp\nLogLevel ERROR\n"
    )
    with open(root / "sshd.log", "ab") as log:
        process = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(config)], stdout=subprocess.DEVNULL, stderr=log
        )
    server = SshServer(root, port, host_key, client_key, process)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sshd exited: {(root / 'sshd.log').read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.05)
    server.known_hosts.write_text(server.host_key_line())
    return server
