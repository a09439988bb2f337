"""Secrets out of text that collectors report: config lines and command lines.

A collector ships facts, never credentials. Text it must keep (a sudo command, an
authorized_keys `command=`, a syslog action) goes through `redact`, which replaces each
credential-looking value with `<redacted>` and keeps the rest, so an inspector still
sees which command or destination it is. It errs towards redacting too much.
"""

from __future__ import annotations

import re

REDACTED = "<redacted>"

_CREDENTIAL_NAME = r"[\w.-]*(?:pass|pwd|secret|token|key|credential)[\w.-]*"
_VALUE = r"(?:\"[^\"]*\"|'[^']*'|[^\s,;)]+)"

# Each pattern: group 1 is kept, group 2 (the secret) is replaced.
_PATTERNS = (
    # password=..., api_key: ..., --password=...
    re.compile(rf"(\b{_CREDENTIAL_NAME}\s*[=:]\s*)({_VALUE})", re.IGNORECASE),
    # --password VALUE, -password VALUE
    re.compile(rf"((?<!\S)--?{_CREDENTIAL_NAME}\s+)({_VALUE})", re.IGNORECASE),
    # mysql-style password glued to -p: -pS3cret
    re.compile(r"((?<!\S)-p)([^\s-]\S*)"),
    # user:password in URLs
    re.compile(r"(://[^\s:/@]+:)([^\s@/]+)(?=@)"),
    # curl -u / --user user:password (sudoers escapes the colon as "\:")
    re.compile(r"((?<!\S)(?:-u|--user)[\s=]+[^\s:\\]+\\?:)(\S+)"),
    # Authorization: Bearer TOKEN, and a bare "Bearer TOKEN"
    re.compile(r"(authorization\s*[:=]\s*(?:\w+\s+)?)(\S+)", re.IGNORECASE),
    re.compile(r"(\bbearer\s+)(\S+)", re.IGNORECASE),
)


def redact(text: str) -> str:
    """`text` with every credential-looking value replaced by `<redacted>`."""
    for pattern in _PATTERNS:
        text = pattern.sub(lambda match: match.group(1) + REDACTED, text)
    return text
