"""Which processes run on a host: psutil here, the /proc table over SSH, nothing on a tree.

Collectors that ask "is auditd / clamd / chronyd running?" share this, so the answer
is found the same way everywhere. Over SSH /proc/<pid>/comm is read through SFTP (no
command needed); a RootHost has no process table and gets None ("unknown").
"""

from __future__ import annotations

from collectors.provenance import Collection

PROC = "/proc"
MAX_PROCESSES = 65536


def running_process_names(c: Collection) -> set[str] | None:
    """Names (comm, at most 15 characters as the kernel keeps them) of running
    processes, or None when the host has no readable process table."""
    psutil = c.psutil("psutil.process_iter(['name'])")
    if psutil is not None:
        names = set()
        for process in psutil.process_iter(["name"]):
            name = process.info.get("name")
            if name:
                names.add(str(name))
        return names
    entries = c.list_dir(PROC, missing_ok=True)
    pids = [name for name in entries or [] if name.isdigit()][:MAX_PROCESSES]
    if not pids:
        return None  # a filesystem tree, or /proc unreadable
    names = set()
    for pid in pids:
        comm = c.read_text(f"{PROC}/{pid}/comm", max_bytes=4096, missing_ok=True)
        if comm is not None and comm.strip():
            names.add(comm.strip())
    return names
