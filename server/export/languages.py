"""The languages an inspector package is written in: Chinese, English, or both."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from server.controls.errors import ReportError

# In the order a bilingual package shows them: Chinese first, English beside or below.
LANGUAGES = ("zh", "en")


def parse_languages(text: str | None, option: str = "--lang") -> tuple[str, ...]:
    """`--lang zh,en` (or `en`, `zh`; default both) as languages in LANGUAGES order: a
    bilingual package always shows Chinese first."""
    if text is None:
        return LANGUAGES
    chosen = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [part for part in chosen if part not in LANGUAGES]
    if unknown or not chosen:
        raise ReportError(
            f"{option} {text!r}: expected a comma-separated list of {', '.join(LANGUAGES)}"
        )
    return tuple(lang for lang in LANGUAGES if lang in chosen)


def summary_languages(summary: Mapping[str, Any]) -> tuple[str, ...]:
    """The languages a summary asks its pages to be written in (both when it does not say,
    as summaries written before `languages` existed)."""
    value = summary.get("languages")
    if not isinstance(value, list):
        return LANGUAGES
    chosen = tuple(lang for lang in LANGUAGES if lang in value)
    return chosen or LANGUAGES
