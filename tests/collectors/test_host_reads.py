"""Host reads: whole, streamed, bounded; provenance recorded only for complete reads."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from collectors.host import READ_CHUNK, HostError, LocalHost, RootHost
from collectors.provenance import Collection, ReadFailed
from evidence.records import FileSource


def big_file(path: Path, size: int) -> bytes:
    data = os.urandom(size)
    path.write_bytes(data)
    return data


@pytest.mark.parametrize("size", [0, 1, READ_CHUNK, 3 * READ_CHUNK + 17])
def test_chunks_join_to_the_file(tmp_path: Path, size: int) -> None:
    data = big_file(tmp_path / "f", size)
    chunks = list(LocalHost().read_chunks(str(tmp_path / "f")))
    assert b"".join(chunks) == data
    assert all(len(chunk) <= READ_CHUNK for chunk in chunks)
    root_chunks = RootHost(tmp_path).read_chunks("/f")
    assert b"".join(root_chunks) == data


def test_chunked_read_stops_at_the_limit(tmp_path: Path) -> None:
    big_file(tmp_path / "f", 3 * READ_CHUNK)
    with pytest.raises(HostError, match="read limit"):
        list(LocalHost().read_chunks(str(tmp_path / "f"), max_bytes=2 * READ_CHUNK))


def test_read_stream_records_the_source_after_the_last_chunk(tmp_path: Path) -> None:
    data = big_file(tmp_path / "f", 2 * READ_CHUNK + 5)
    collection = Collection(RootHost(tmp_path))
    stream = collection.read_stream("/f")
    first = next(stream)
    assert collection.sources == []  # nothing claimed before the whole file was read
    rest = b"".join(stream)
    assert first + rest == data
    (source,) = collection.sources
    assert isinstance(source, FileSource)
    assert (source.path, source.size) == ("/f", len(data))
    assert source.sha256 == hashlib.sha256(data).hexdigest()


def test_read_stream_failure_is_an_error_not_a_short_file(tmp_path: Path) -> None:
    big_file(tmp_path / "f", 3 * READ_CHUNK)
    collection = Collection(RootHost(tmp_path))
    with pytest.raises(ReadFailed):
        b"".join(collection.read_stream("/f", max_bytes=READ_CHUNK))
    assert collection.sources == []
    assert "read limit" in collection.errors[0]
    with pytest.raises(ReadFailed):
        list(collection.read_stream("/absent", missing_ok=True))
    assert len(collection.errors) == 1  # a missing file that may be missing is no error
