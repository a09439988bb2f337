"""The fast canonical encoder must write exactly what the RFC 8785 reference writes."""

from __future__ import annotations

from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from evidence.canonical import _fast_path_applies, canonical_json

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**60), max_value=2**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=40,
)


def reference(value: Any) -> bytes | type[Exception]:
    try:
        return bytes(rfc8785.dumps(value))
    except Exception as exc:  # the reference refuses: so must we
        return type(exc)


@settings(max_examples=400)
@given(json_values)
def test_canonical_json_equals_the_reference(value: Any) -> None:
    expected = reference(value)
    if isinstance(expected, bytes):
        assert canonical_json(value) == expected
    else:
        with pytest.raises(Exception):  # noqa: B017 - any refusal, as the reference
            canonical_json(value)


@pytest.mark.parametrize(
    "value",
    [
        {"\ue000": 1, "\U0001f600": 2},  # UTF-16 order differs from code point order
        2**53,  # outside the safe integer range
        1.5,
        {"a": [1, 2.0]},
    ],
)
def test_cases_the_fast_path_must_leave_to_the_reference(value: Any) -> None:
    assert not _fast_path_applies(value)


def test_typical_record_takes_the_fast_path() -> None:
    record = {
        "facts": {"packages": [{"name": "bash", "version": "5.2"}]},
        "seq": 3,
        "note": "中文 and \u2028 and \x1f",
        "ok": True,
        "none": None,
    }
    assert _fast_path_applies(record)
    assert canonical_json(record) == rfc8785.dumps(record)
