"""The agent's durable spool and the server's size-limited body reader."""

from __future__ import annotations

import asyncio
import gzip
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent.spool import Spool, SpoolFull
from evidence.bundle import HostRef
from server.body import read_limited
from server.errors import ApiError
from tests.unit.test_bundle import chain


def test_spool_is_fifo_by_seq_and_survives_reopening(tmp_path: Path) -> None:
    bundles = chain(3)
    spool = Spool(tmp_path, max_bytes=10**6)
    for bundle in reversed(bundles):
        spool.put(bundle)
    reopened = Spool(tmp_path, max_bytes=10**6)
    entries = reopened.entries()
    assert [entry.seq for entry in entries] == [1, 2, 3]
    assert [entry.bundle_id for entry in entries] == [b.bundle_id for b in bundles]
    assert entries[0].read() == bundles[0].envelope.to_bytes()
    assert all(entry.path.stat().st_mode & 0o777 == 0o600 for entry in entries)


def test_full_spool_refuses_loudly_and_keeps_what_it_has(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bundles = chain(3)
    size = len(bundles[0].envelope.to_bytes())
    spool = Spool(tmp_path, max_bytes=2 * size + size // 2)
    spool.put(bundles[0])
    with caplog.at_level(logging.WARNING):
        spool.put(bundles[1])
        assert "full" in caplog.text
        with pytest.raises(SpoolFull, match="refused"):
            spool.put(bundles[2])
    assert "SPOOL FULL" in caplog.text
    assert [entry.seq for entry in spool.entries()] == [1, 2]


def test_leftover_temp_files_are_cleaned_only_when_asked(tmp_path: Path) -> None:
    (tmp_path / "host-1").mkdir()
    temp = tmp_path / "host-1" / ".tmp-abc"
    temp.write_bytes(b"half a bundle")
    # Opening the spool (as `agent status` does) must not touch it: it may be another
    # process's write in flight. Only the lock holder clears leftovers.
    spool = Spool(tmp_path, max_bytes=10**6)
    assert temp.exists()
    assert spool.entries() == []
    spool.remove_temp_files()
    assert not temp.exists()


def test_each_host_has_its_own_fifo_chain(tmp_path: Path) -> None:
    own = chain(3)
    target = chain(2, host=HostRef(id="h-target", hostname="db-01"))
    spool = Spool(tmp_path, max_bytes=10**6)
    for bundle in [*target, *own]:
        spool.put(bundle)
    assert [(e.host_id, e.seq) for e in spool.entries()] == [
        ("h-target", 1),
        ("host-1", 1),
        ("h-target", 2),
        ("host-1", 2),
        ("host-1", 3),
    ]
    assert [e.bundle_id for e in spool.entries("h-target")] == [b.bundle_id for b in target]


def test_rejected_bundle_is_set_aside_with_reason_never_deleted(tmp_path: Path) -> None:
    spool_dir, rejected = tmp_path / "spool", tmp_path / "rejected"
    spool_dir.mkdir()
    rejected.mkdir()
    spool = Spool(spool_dir, max_bytes=10**6)
    bundle = chain(1)[0]
    entry = spool.put(bundle)
    moved = spool.move_to(entry, rejected, "schema_invalid: seq")
    assert spool.entries() == []
    assert moved.name == f"host-1.{entry.path.name}"
    assert moved.read_bytes() == bundle.envelope.to_bytes()
    assert moved.with_suffix(".reason.txt").read_text() == "schema_invalid: seq\n"


async def _chunks(data: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def read(
    data: bytes,
    *,
    encoding: str | None = None,
    length: str | None = None,
    max_body: int = 10_000,
    max_decoded: int = 50_000,
) -> bytes:
    return asyncio.run(
        read_limited(
            _chunks(data),
            content_length=length,
            content_encoding=encoding,
            max_body=max_body,
            max_decoded=max_decoded,
        )
    )


def error_of(**kwargs: object) -> ApiError:
    with pytest.raises(ApiError) as caught:
        read(**kwargs)  # type: ignore[arg-type]
    return caught.value


def test_plain_and_gzip_bodies_are_read() -> None:
    body = b"x" * 9_000
    assert read(body) == body
    assert read(gzip.compress(body), encoding="gzip") == body


def test_declared_and_actual_sizes_are_enforced() -> None:
    assert error_of(data=b"x", length="10001").status == 413
    assert error_of(data=b"x" * 10_001).status == 413
    assert error_of(data=b"x", length="ten").code == "bad_content_length"


def test_gzip_bomb_stops_at_the_decoded_limit() -> None:
    bomb = gzip.compress(b"\0" * 5_000_000)
    assert len(bomb) < 10_000
    error = error_of(data=bomb, encoding="gzip")
    assert (error.status, error.code) == (413, "too_large")
    assert "inflates beyond" in error.detail


@pytest.mark.parametrize(
    ("data", "detail"),
    [
        (gzip.compress(b"x" * 100)[:-6], "truncated"),
        (gzip.compress(b"x") + b"junk", "trailing data"),
        (b"not gzip at all", "not valid gzip"),
    ],
)
def test_broken_gzip_is_named(data: bytes, detail: str) -> None:
    error = error_of(data=data, encoding="gzip")
    assert (error.status, error.code) == (400, "bad_gzip")
    assert detail in error.detail


def test_unknown_encoding_is_refused() -> None:
    assert error_of(data=b"x", encoding="br").status == 415
