"""A real OpenSSH server on a loopback port, with its own host key and config."""

from __future__ import annotations

import os
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
    address: str = "127.0.0.1"
    namespace: str | None = None

    @property
    def known_hosts(self) -> Path:
        return self.root / "known_hosts"

    def host_key_line(self) -> str:
        return f"[{self.address}]:{self.port} {self.host_key.with_suffix('.pub').read_text()}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def remove(self) -> None:
        """Stop, and delete the network namespace if the server had one."""
        self.stop()
        if self.namespace is not None:
            subprocess.run(["ip", "netns", "del", self.namespace], check=False)


def netns_available() -> bool:
    """Whether this machine lets us create network namespaces (root, CAP_SYS_ADMIN)."""
    name = f"dsr-probe-{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", name], capture_output=True, check=False)
    if made.returncode != 0:
        return False
    subprocess.run(["ip", "netns", "del", name], check=False)
    return True


def make_netns(index: int) -> tuple[str, str]:
    """A namespace joined to this one by a veth pair: (namespace, its address)."""
    tag = f"{os.getpid() % 10000}{index}"
    namespace = f"dsr-{tag}"
    outer, inner = f"vd{tag}", f"vn{tag}"
    subnet = f"10.231.{index}"
    commands = [
        ["ip", "netns", "add", namespace],
        ["ip", "link", "add", outer, "type", "veth", "peer", "name", inner],
        ["ip", "link", "set", inner, "netns", namespace],
        ["ip", "addr", "add", f"{subnet}.1/30", "dev", outer],
        ["ip", "link", "set", outer, "up"],
        ["ip", "netns", "exec", namespace, "ip", "addr", "add", f"{subnet}.2/30", "dev", inner],
        ["ip", "netns", "exec", namespace, "ip", "link", "set", inner, "up"],
        ["ip", "netns", "exec", namespace, "ip", "link", "set", "lo", "up"],
    ]
    for command in commands:
        subprocess.run(command, check=True, capture_output=True)
    return namespace, f"{subnet}.2"


def start_sshd(
    root: Path,
    *,
    port: int | None = None,
    host_key: Path | None = None,
    client_key: Path | None = None,
    namespace: tuple[str, str] | None = None,
) -> SshServer:
    """Start sshd on loopback, or inside `namespace` (name, address) from make_netns."""
    root.mkdir(parents=True, exist_ok=True)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation directory
    address = namespace[1] if namespace else "127.0.0.1"
    port = port or (2222 if namespace else free_port())
    host_key = host_key or keygen(root / "host_ed25519")
    client_key = client_key or keygen(root / "client_ed25519")
    (root / "authorized_keys").write_text(client_key.with_suffix(".pub").read_text())
    config = root / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress {address}\nHostKey {host_key}\n"
        f"PidFile {root}/sshd.pid\nAuthorizedKeysFile {root}/authorized_keys .ssh/authorized_keys\n"
        "StrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "PermitRootLogin prohibit-password\nSubsystem sftp internal-sftp\nLogLevel ERROR\n"
    )
    with open(root / "sshd.log", "ab") as log:
        prefix = ["ip", "netns", "exec", namespace[0]] if namespace else []
        process = subprocess.Popen(
            [*prefix, SSHD, "-D", "-e", "-f", str(config)], stdout=subprocess.DEVNULL, stderr=log
        )
    server = SshServer(
        root, port, host_key, client_key, process, address, namespace[0] if namespace else None
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sshd exited: {(root / 'sshd.log').read_text()}")
        try:
            socket.create_connection((address, port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.05)
    server.known_hosts.write_text(server.host_key_line())
    return server
