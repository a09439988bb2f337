"""Shipping spooled bundles to the server; deleting each only after its receipt verifies.

The one agent module that loads requests; see `agent.shipping` for why that matters.
"""

from __future__ import annotations

import gzip
import ipaddress
import logging
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from agent.shipping import ShipError, ShipReport
from agent.spool import Spool
from agent.state import StateDir
from evidence import dsse
from evidence.errors import BundleRejected
from evidence.keys import PublicKey
from evidence.receipt import verify_receipt

log = logging.getLogger("dossier.agent.ship")

# Refusals that concern the agent itself, not one bundle: stop and keep everything.
AGENT_LEVEL_ERRORS = {"unknown_key", "agent_revoked", "agent_mismatch"}


class PinnedSession(requests.Session):
    """A session whose `verify` (the pinned CA) wins over REQUESTS_CA_BUNDLE and friends.

    Plain requests lets those environment variables replace a session's CA bundle
    (psf/requests#3829), which would silently drop the pin.
    """

    def merge_environment_settings(  # type: ignore[no-untyped-def]  # stub types are private
        self, url, proxies, stream, verify, cert
    ):
        settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if verify is None or verify is True:
            settings["verify"] = self.verify
        return settings


def make_session(url: str, ca_file: Path | None, retries: int) -> requests.Session:
    parts = urlsplit(url)
    if parts.scheme == "http" and not _loopback(parts.hostname or ""):
        raise ShipError(f"refusing plain HTTP to {parts.hostname}; use https")
    if parts.scheme not in ("http", "https"):
        raise ShipError(f"server URL {url!r} must start with https://")
    session = PinnedSession()
    session.verify = str(ca_file) if ca_file is not None and ca_file.exists() else True
    # Ingest is idempotent (a duplicate gets the same receipt), so retrying POST is safe.
    retry = Retry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        other=0,
        backoff_factor=0.5,
        backoff_jitter=0.5,
        backoff_max=30,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=None,
        raise_on_status=False,
        respect_retry_after_header=True,
    )
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# What error_of returns for an answer that is not a Dossier server's JSON error.
NOT_DOSSIER = "http_error"


def error_of(response: requests.Response) -> tuple[str, str]:
    try:
        body: Any = response.json()
    except ValueError:
        return NOT_DOSSIER, response.text[:200]
    if not isinstance(body, dict) or "error" not in body:
        return NOT_DOSSIER, response.text[:200]
    return str(body["error"]), str(body.get("detail", ""))


class Shipper:
    def __init__(
        self,
        state: StateDir,
        spool: Spool,
        server_url: str,
        server_key: PublicKey,
        session: requests.Session,
        timeout: float,
        lock: threading.Lock,
    ) -> None:
        self.state = state
        self.spool = spool
        self.url = server_url.rstrip("/") + "/api/v1/bundles"
        self.server_key = server_key
        self.session = session
        self.timeout = timeout
        self.lock = lock

    def ship_all(self) -> ShipReport:
        """Send every spooled bundle in seq order; stop at the first transport failure."""
        report = ShipReport()
        for entry in self.spool.entries():
            body = gzip.compress(entry.read(), compresslevel=6)
            try:
                response = self.session.post(
                    self.url,
                    data=body,
                    timeout=self.timeout,
                    headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
                )
            except requests.RequestException as exc:
                report.stopped_by = f"server unreachable: {type(exc).__name__}"
                log.warning(
                    "shipping paused, %d bundle(s) stay spooled: %s", len(self.spool.entries()), exc
                )
                break
            if response.status_code in (200, 201):
                try:
                    receipt = verify_receipt(
                        dsse.parse(response.content), self.server_key, bundle_id=entry.bundle_id
                    )
                except BundleRejected as exc:
                    report.stopped_by = f"receipt did not verify: {exc}"
                    report.refused = True
                    log.error(
                        "receipt for bundle %s did not verify (%s); keeping it spooled",
                        entry.bundle_id,
                        exc,
                    )
                    break
                with self.lock:
                    self.state.save_receipt(
                        entry.host_id,
                        receipt.model_dump() | {"envelope": response.content.decode()},
                    )
                    self.spool.remove(entry)
                report.delivered += 1
                report.duplicates += response.status_code == 200
                log.info(
                    "bundle delivered host=%s seq=%d id=%s log_index=%d",
                    entry.host_id,
                    entry.seq,
                    entry.bundle_id,
                    receipt.log_index,
                )
                continue
            code, detail = error_of(response)
            if code == NOT_DOSSIER:
                # A wrong URL, or a proxy answering for the server: no verdict on this
                # bundle, so nothing is set aside; stop and say so.
                report.stopped_by = (
                    f"HTTP {response.status_code} from {self.url} is not a Dossier server's "
                    f"answer (check server.url and any proxy): {' '.join(detail.split())[:120]}"
                )
                report.refused = True
                log.error("shipping stopped, bundles stay spooled: %s", report.stopped_by)
                break
            if (
                code in AGENT_LEVEL_ERRORS
                or response.status_code in (401, 429)
                or (response.status_code >= 500)
            ):
                report.stopped_by = f"{response.status_code} {code}: {detail}"
                report.refused = code in AGENT_LEVEL_ERRORS or response.status_code == 401
                log.error("server refused this agent (%s: %s); bundles stay spooled", code, detail)
                break
            reason = f"HTTP {response.status_code} {code}: {detail}"
            with self.lock:
                target = self.spool.move_to(entry, self.state.rejected_dir, reason)
            report.rejected.append(f"{entry.label}: {reason}")
            log.error(
                "bundle %s REJECTED by the server (%s); set aside as %s",
                entry.label,
                reason,
                target,
            )
        report.remaining = len(self.spool.entries())
        return report
