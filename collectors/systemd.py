"""Enabled systemd units read from /etc/systemd/system, for when systemctl cannot be
asked (a RootHost tree, or a host without it)."""

from __future__ import annotations

import stat as stat_module

from collectors.provenance import Collection

SYSTEMD_SYSTEM = "/etc/systemd/system"
# A unit file here that is /dev/null (or no longer resolves) masks the unit.
MASK_DIRS = ("/etc/systemd/system", "/run/systemd/system")


def enabled_unit_names(c: Collection) -> set[str] | None:
    """Units linked from a `*.wants` or `*.requires` directory of /etc/systemd/system,
    as `systemctl is-enabled` would call them enabled: links that resolve (apt remove
    leaves dangling ones) to units that are not masked. None when the directory cannot
    be listed."""
    entries = c.list_dir(SYSTEMD_SYSTEM, missing_ok=True)
    if entries is None:
        return None
    linked: set[str] = set()
    for entry in entries:
        if not entry.endswith((".wants", ".requires")):
            continue
        directory = f"{SYSTEMD_SYSTEM}/{entry}"
        for unit in c.list_dir(directory) or []:
            if c.host.stat(f"{directory}/{unit}") is not None:
                linked.add(unit)
    # Each mask directory is listed once, not once per unit (over SSH, a round trip each).
    listed = {
        directory: set(c.list_dir(directory, missing_ok=True) or []) for directory in MASK_DIRS
    }
    return {unit for unit in linked if not _masked(c, unit, listed)}


def _masked(c: Collection, unit: str, listed: dict[str, set[str]]) -> bool:
    for directory, names in listed.items():
        if unit not in names:
            continue
        info = c.host.stat(f"{directory}/{unit}")
        if info is None or stat_module.S_ISCHR(info.mode):
            return True
    return False
