"""`--lang`: which languages an inspector package is written in."""

from __future__ import annotations

import pytest

from server.controls.errors import ReportError
from server.export.languages import LANGUAGES, parse_languages, summary_languages


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, ("zh", "en")),
        ("zh,en", ("zh", "en")),
        ("en,zh", ("zh", "en")),  # Chinese always first
        ("en", ("en",)),
        (" zh ", ("zh",)),
        ("en,en", ("en",)),
    ],
)
def test_parse_languages(text: str | None, expected: tuple[str, ...]) -> None:
    assert parse_languages(text) == expected


@pytest.mark.parametrize("text", ["fr", "zh,fr", "", ",", "zh-CN", "EN"])
def test_unknown_languages_are_refused_with_the_choices(text: str) -> None:
    with pytest.raises(ReportError) as caught:
        parse_languages(text)
    assert str(caught.value) == (
        f"--lang {text!r}: expected a comma-separated list of {', '.join(LANGUAGES)}"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ("zh", "en")),  # summaries written before `languages` existed
        (["en"], ("en",)),
        (["en", "zh"], ("zh", "en")),
        (["fr"], ("zh", "en")),
        ("en", ("zh", "en")),  # not a list
    ],
)
def test_summary_languages(value: object, expected: tuple[str, ...]) -> None:
    summary = {} if value is None else {"languages": value}
    assert summary_languages(summary) == expected
