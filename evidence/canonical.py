"""Canonical JSON (RFC 8785) and hashing helpers.

Everything that is signed or hashed goes through `canonical_json`, so the same
value always produces the same bytes on agent, server and verifier.
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import UTC, datetime
from typing import Any

import rfc8785

MAX_SAFE_INTEGER = 2**53 - 1


def canonical_json(value: Any) -> bytes:
    """Serialise `value` as RFC 8785 canonical JSON bytes.

    The `rfc8785` package is the reference but is pure Python, and canonicalisation
    dominated ingest time. For values with no floats, only safe integers and no
    astral-plane characters in object keys, the standard library's C encoder with sorted
    keys and no whitespace writes exactly the RFC 8785 bytes (strings are escaped the
    same way; key order by UTF-16 code units equals code point order without astral
    keys). Anything else goes to `rfc8785`. A property test holds the two equal.
    """
    if _fast_path_applies(value):
        return json.dumps(
            value, ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False
        ).encode("utf-8")
    return bytes(rfc8785.dumps(value))


def _fast_path_applies(value: Any) -> bool:
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str) or item is None or isinstance(item, bool):
            continue
        if isinstance(item, int):
            if -MAX_SAFE_INTEGER <= item <= MAX_SAFE_INTEGER:
                continue
            return False
        if isinstance(item, dict):
            for key in item:
                if not isinstance(key, str) or not (key.isascii() or _bmp_only(key)):
                    return False
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        else:
            return False  # floats, tuples and anything else: the reference encoder decides
    return True


def _bmp_only(text: str) -> bool:
    return all(ord(char) <= 0xFFFF for char in text)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# I-JSON (RFC 7493), which RFC 8785 canonical JSON requires: numbers a double holds.
EXACT_INTEGER_LIMIT = 2**53 - 1


def parse_json_bytes(data: bytes) -> Any:
    """Parse JSON strictly: UTF-8 only, no NaN/Infinity, no duplicate keys, numbers in
    I-JSON's range, nesting Python can follow; anything else is a ValueError."""

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in pairs:
            if key in result:
                raise ValueError(f"duplicate key {key!r}")
            result[key] = value
        return result

    def no_constants(name: str) -> Any:
        raise ValueError(f"{name} is not valid JSON")

    def exact_integer(text: str) -> int:
        value = int(text)
        if abs(value) > EXACT_INTEGER_LIMIT:
            raise ValueError(f"integer {text[:24]} is beyond ±(2**53 - 1) (RFC 7493)")
        return value

    def finite_number(text: str) -> float:
        value = float(text)
        if not math.isfinite(value):
            raise ValueError(f"number {text[:24]} is out of range (RFC 7493)")
        return value

    text = data.decode("utf-8")
    try:
        return json.loads(
            text,
            object_pairs_hook=no_duplicates,
            parse_constant=no_constants,
            parse_int=exact_integer,
            parse_float=finite_number,
        )
    except RecursionError:
        raise ValueError("JSON is nested too deeply") from None


def utc_now_iso() -> str:
    """Current time as an RFC 3339 UTC timestamp with microseconds and a `Z` suffix."""
    return format_timestamp(datetime.now(UTC))


def format_timestamp(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp(text: str) -> datetime:
    """Parse an RFC 3339 UTC timestamp ending in `Z` (as written by `format_timestamp`)."""
    if not text.endswith("Z"):
        raise ValueError(f"timestamp {text!r} must be UTC and end with 'Z'")
    moment = datetime.fromisoformat(text[:-1] + "+00:00")
    return moment.astimezone(UTC)
