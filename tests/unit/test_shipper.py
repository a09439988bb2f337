"""Shipping against answers that are not a Dossier server's: nothing is set aside."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from agent.shipper import Shipper, make_session
from agent.spool import Spool
from agent.state import StateDir
from evidence.keys import SigningKey
from tests.unit.test_bundle import chain


class NginxNotFound(BaseHTTPRequestHandler):
    """What a proxy in front of a wrong path answers: HTML, no Dossier error body."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = b"<html><head><title>404 Not Found</title></head><body>nginx</body></html>"
        self.send_response(404)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def proxy() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), NginxNotFound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_non_dossier_404_stops_shipping_and_keeps_every_bundle(
    tmp_path: Path, proxy: str
) -> None:
    state = StateDir(tmp_path / "state")
    state.create()
    spool = Spool(state.spool_dir, max_bytes=10**7)
    for bundle in chain(3):
        spool.put(bundle)
    shipper = Shipper(
        state,
        spool,
        proxy,
        SigningKey.generate().public,
        make_session(proxy, None, retries=0),
        timeout=5,
        lock=threading.Lock(),
    )
    report = shipper.ship_all()
    assert report.delivered == 0 and report.rejected == []
    assert report.remaining == 3 and not report.ok
    assert report.stopped_by is not None
    assert "HTTP 404" in report.stopped_by and "not a Dossier server's answer" in report.stopped_by
    assert [entry.seq for entry in spool.entries()] == [1, 2, 3]
    assert list(state.rejected_dir.iterdir()) == []
