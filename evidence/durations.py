"""Human durations and sizes in configs and CLIs: '90s', '15m', '24h', '7d'; '512MiB'."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_SIZE = re.compile(r"^\s*(\d+)\s*(B|KiB|MiB|GiB|KB|MB|GB)?\s*$")
_BYTES = {
    None: 1,
    "B": 1,
    "KiB": 1024,
    "MiB": 1024**2,
    "GiB": 1024**3,
    "KB": 1000,
    "MB": 1000**2,
    "GB": 1000**3,
}


def parse_duration(text: str) -> timedelta:
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"duration {text!r} must look like 500ms, 90s, 15m, 24h or 7d")
    return timedelta(seconds=float(match.group(1)) * _SECONDS[match.group(2)])


def parse_size(text: str | int) -> int:
    if isinstance(text, int):
        return text
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"size {text!r} must look like 1048576, 64MiB or 2GiB")
    return int(match.group(1)) * _BYTES[match.group(2)]
