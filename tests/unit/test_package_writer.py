"""The inspector package's zip writer: streamed JSON members equal json.dumps, hashed."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from evidence.keys import SigningKey
from evidence.package import MANIFEST
from server.export.package import JSON_PIECE, PackageWriter

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
    max_leaves=40,
)


def written(tmp_path: Path, value: Any) -> tuple[bytes, str]:
    path = tmp_path / "p.zip"
    writer = PackageWriter(path)
    writer.add_json("x.json", value)
    writer.finish(SigningKey.generate())
    with zipfile.ZipFile(path) as archive:
        return archive.read("x.json"), archive.read(MANIFEST).decode()


def expected(value: Any) -> bytes:
    return (json.dumps(value, ensure_ascii=False, indent=1, sort_keys=True) + "\n").encode()


@settings(max_examples=50, deadline=None)
@given(value=JSON_VALUES)
def test_streamed_json_equals_dumps(tmp_path_factory: Any, value: Any) -> None:
    data, manifest = written(tmp_path_factory.mktemp("w"), value)
    assert data == expected(value)
    assert hashlib.sha256(data).hexdigest() in manifest


def test_large_member_crosses_many_pieces(tmp_path: Path) -> None:
    value = {
        "controls": [
            {"id": f"8.1.{i}", "title": {"zh": "身份鉴别" * 10, "en": "Identification"}, "n": i}
            for i in range(3000)
        ]
    }
    data, manifest = written(tmp_path, value)
    assert len(data) > 10 * JSON_PIECE
    assert data == expected(value)
    assert f"{hashlib.sha256(data).hexdigest()}  x.json" in manifest
