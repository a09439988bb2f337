"""What one shipping pass reports, and the error for a server that cannot be used.

Kept apart from `agent.shipper` so that collecting never loads the HTTP stack: requests,
urllib3, ssl and charset_normalizer cost about 8 MB, and an agent that imports them only
when it ships lets them reuse the memory its collectors have just freed.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class ShipError(Exception):
    """The server cannot be used as configured (bad URL, plain HTTP off loopback)."""


@dataclass
class ShipReport:
    delivered: int = 0
    duplicates: int = 0
    rejected: list[str] = field(default_factory=list)
    remaining: int = 0
    stopped_by: str | None = None  # why shipping stopped early (server down, revoked…)
    refused: bool = False  # the server refused this agent or its receipt was bad

    @property
    def ok(self) -> bool:
        """Nothing rejected or refused: all delivered, or waiting for a reachable server."""
        return not self.rejected and not self.refused
