"""HTTP errors with a stable JSON body: {"error": code, "detail": text}."""

from __future__ import annotations


class ApiError(Exception):
    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail


# Status for each verification failure code the evidence core raises.
REJECTION_STATUS = {
    "malformed_json": 400,
    "malformed_envelope": 400,
    "malformed_payload": 400,
    "non_canonical_payload": 400,
    "wrong_payload_type": 415,
    "schema_invalid": 422,
    "bad_signature": 400,
    "unknown_key": 403,
}


class AdminError(Exception):
    """An administrative command cannot be carried out; the message says why."""
