"""Stable host identity for bundle payloads."""

from __future__ import annotations

from collectors.host import Host, HostError
from evidence.bundle import HostRef
from evidence.canonical import sha256_hex

MACHINE_ID_PATHS = ("/etc/machine-id", "/var/lib/dbus/machine-id")
HOSTNAME_PATHS = ("/proc/sys/kernel/hostname", "/etc/hostname")


def _first_line(host: Host, paths: tuple[str, ...]) -> str | None:
    for path in paths:
        try:
            text = host.read_file(path, 4096).decode("utf-8", errors="replace").strip()
        except (FileNotFoundError, PermissionError, NotADirectoryError, HostError, OSError):
            continue
        if text:
            return text.splitlines()[0].strip()
    return None


def host_ref(host: Host, fallback_name: str | None = None) -> HostRef:
    """Identify `host`: the id derives from machine-id, else from the hostname.

    The id is a hash, so the raw machine-id (which systemd asks to keep private) is not
    the key other systems see in URLs and exports.
    """
    machine_id = _first_line(host, MACHINE_ID_PATHS)
    hostname = _first_line(host, HOSTNAME_PATHS) or fallback_name or host.name
    basis = f"machine-id:{machine_id}" if machine_id else f"hostname:{hostname}"
    return HostRef(
        id="h-" + sha256_hex(basis.encode())[:24], hostname=hostname, machine_id=machine_id
    )
