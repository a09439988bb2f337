"""Exceptions raised by the evidence core. Each carries a stable machine code."""

from __future__ import annotations


class EvidenceError(Exception):
    """Base class for every error the evidence core raises."""

    code = "evidence_error"

    def __init__(self, detail: str, code: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.detail


class KeyFileError(EvidenceError):
    """A key file is missing, malformed or has unsafe permissions."""

    code = "key_file"


class BundleRejected(EvidenceError):
    """A bundle (or receipt) failed verification; `code` names the failed check."""

    code = "bundle_rejected"
