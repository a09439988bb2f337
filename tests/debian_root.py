"""A real minimal Debian tree (debootstrap), built once and cached in .cache/.

The cache name carries a hash of what goes into the tree, so changing the package list
builds a new one. Needs root and Debian's debootstrap (installed by .ci/run).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

SUITE = "bookworm"
MIRROR = os.environ.get("DOSSIER_DEBIAN_MIRROR", "http://deb.debian.org/debian")
PACKAGES = (
    "openssh-server",
    "rsyslog",
    "logrotate",
    "sudo",
    "auditd",
    "cron",
    "libpam-pwquality",
    "chrony",
)
CACHE = Path(__file__).resolve().parent.parent / ".cache"


def tree_path() -> Path:
    key = hashlib.sha256(f"{SUITE} {MIRROR} {' '.join(PACKAGES)}".encode()).hexdigest()[:10]
    return CACHE / f"debian-{SUITE}-{key}"


def debian_tree() -> Path:
    """Path of the cached tree, building it first if needed (about a minute)."""
    target = tree_path()
    if (target / "etc" / "os-release").exists():
        return target
    CACHE.mkdir(exist_ok=True)
    # Several test processes may ask at once: one builds, the others wait for it.
    with open(CACHE / f"{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / "etc" / "os-release").exists():
            _build(target)
    return target


def _build(target: Path) -> None:
    building = target.with_name(target.name + ".building")
    shutil.rmtree(building, ignore_errors=True)
    subprocess.run(
        [
            "debootstrap",
            "--variant=minbase",
            f"--include={','.join(PACKAGES)}",
            SUITE,
            str(building),
            MIRROR,
        ],
        check=True,
        capture_output=True,
    )
    building.rename(target)


def copy_tree(source: Path, destination: Path) -> Path:
    """A private copy to plant things in (symlinks kept as symlinks)."""
    subprocess.run(["cp", "-a", "--reflink=auto", str(source), str(destination)], check=True)
    return destination
