"""Errors of the controls layer (kept free of heavy imports: the CLI imports them)."""

from __future__ import annotations


class CatalogError(ValueError):
    """A catalog or check file is invalid; the message names file, item and field."""


class ReportError(ValueError):
    """A report cannot be made as asked (unknown framework or host, bad date)."""
