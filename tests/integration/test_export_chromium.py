"""The export's HTML pages in a real browser (Debian's headless Chromium): they render,
the control table is in the DOM, host-supplied markup stays text, and opening them makes
no network request.

The network proof reads Chromium's own net log while every host name resolves to
NOTFOUND. Chromium itself talks to Google services at start-up (component updater, account
check) whatever page it shows; those requests are made by the browser ("initiator: not an
origin") and are not on behalf of any page. A request a page causes carries the page's
site in its network isolation key (``file://`` here); `_page_requests` collects exactly
those, and `test_the_net_log_check_sees_a_leaky_page` shows that it does catch an image, a
stylesheet and a web font fetched by a file:// page.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from server.export.html import control_slug, render_pages
from tests.unit.test_export_html import HOSTILE_HOSTNAME, build_large_summary, build_summary

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / ".cache" / "artifacts"

# .ci/run installs Debian's chromium: without it these tests fail, they never skip.
pytestmark = [pytest.mark.slow]

# Quiet the browser's own background traffic as far as flags allow; what is left is
# browser-initiated and told apart from page requests in `_page_requests`.
QUIET = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--disable-client-side-phishing-detection",
    "--disable-domain-reliability",
    "--no-pings",
    "--disable-features=NetworkTimeServiceQuerying,OptimizationHints,Translate,MediaRouter",
    "--hide-scrollbars",
)


def chromium(tmp_path: Path, name: str, *args: str) -> tuple[str, dict[str, Any]]:
    """Run headless Chromium once with DNS blackholed and a net log; return its stdout
    and the parsed net log."""
    run = tmp_path / f"chromium-{name}"
    run.mkdir()
    netlog = run / "netlog.json"
    result = subprocess.run(
        [
            CHROMIUM,
            *QUIET,
            f"--user-data-dir={run / 'profile'}",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            f"--log-net-log={netlog}",
            "--net-log-capture-mode=Everything",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "HOME": str(run)},
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout, json.loads(netlog.read_text())


def _page_requests(netlog: dict[str, Any]) -> list[str]:
    """Every network request or host resolution made on behalf of a file:// page, and every
    request for a URL that is not file:// unless the browser itself made it for no page."""
    event_types = {number: name for name, number in netlog["constants"]["logEventTypes"].items()}
    found: list[str] = []
    for event in netlog["events"]:
        kind = event_types.get(event["type"], "")
        params = event.get("params") or {}
        if kind == "URL_REQUEST_START_JOB" and "url" in params:
            url = str(params["url"])
            for_page = "file://" in str(params.get("network_isolation_key", ""))
            from_browser = params.get("initiator") == "not an origin"
            if not url.startswith("file://") and (for_page or not from_browser):
                found.append(f"{params.get('method')} {url}")
        elif (
            kind == "HOST_RESOLVER_MANAGER_REQUEST"
            and "host" in params
            and "file://" in str(params.get("network_anonymization_key", ""))
        ):
            found.append(f"DNS {params['host']}")
    return found


def _urls_in(netlog: dict[str, Any]) -> set[str]:
    text = json.dumps(netlog["events"])
    return set(re.findall(r"\b[a-z][a-z0-9+.-]*://[^\"\\ ;\]]*", text))


def _site(url: str) -> str:
    """Scheme-less registrable-ish site: the last two labels of the host."""
    host = url.split("://", 1)[1].split("/", 1)[0].split(":", 1)[0]
    return ".".join(host.split(".")[-2:])


def _unexplained_urls(netlog: dict[str, Any]) -> set[str]:
    """Every URL named anywhere in the net log's events that is neither file:// nor on a
    site the browser itself requested for no page (its own start-up traffic). The DNS
    blackhole name and the proxy word "direct://" are the log's own vocabulary."""
    event_types = {number: name for name, number in netlog["constants"]["logEventTypes"].items()}
    browser_sites = {
        _site(str(event["params"]["url"]))
        for event in netlog["events"]
        if event_types.get(event["type"]) == "URL_REQUEST_START_JOB"
        and "url" in (event.get("params") or {})
        and event["params"].get("initiator") == "not an origin"
        and "file://" not in str(event["params"].get("network_isolation_key", ""))
    }
    return {
        url
        for url in _urls_in(netlog)
        if not url.startswith(("file://", "direct://"))
        and _site(url) != "~notfound"
        and _site(url) not in browser_sites
    }


def assert_offline(netlog: dict[str, Any]) -> None:
    assert _page_requests(netlog) == []
    assert _unexplained_urls(netlog) == set()


class _Dom(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[dict[str, str]] = []
        self.gap_checks: list[str] = []
        self.tags: list[str] = []
        self.links: list[str] = []
        self.text: list[str] = []
        self._row: dict[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        attributes = {k: v or "" for k, v in attrs}
        if tag == "tr" and "control" in attributes.get("class", "").split():
            self._row = {"id": attributes.get("data-control-id", ""), "href": ""}
            self.rows.append(self._row)
        if tag == "tr" and "data-check-id" in attributes:
            self.gap_checks.append(attributes["data-check-id"])
        if tag == "a":
            self.links.append(attributes.get("href", ""))
            if self._row is not None and not self._row["href"]:
                self._row["href"] = attributes.get("href", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr":
            self._row = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _dom(html: str) -> _Dom:
    parser = _Dom()
    parser.feed(html)
    parser.close()
    return parser


@pytest.fixture(scope="module")
def summary() -> dict[str, Any]:
    return build_summary()


@pytest.fixture(scope="module")
def package(summary: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("export")
    for name, body in render_pages(summary):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
    return root


def test_index_renders_and_is_kept_as_a_screenshot(package: Path, tmp_path: Path) -> None:
    shot = tmp_path / "index.png"
    _, netlog = chromium(
        tmp_path,
        "shot",
        f"--screenshot={shot}",
        "--window-size=1280,1800",
        package.joinpath("index.html").as_uri(),
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000  # a page with content, not a blank viewport
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, ARTIFACTS / "export-index.png")
    assert_offline(netlog)


def test_dom_has_every_control_row(summary: dict[str, Any], package: Path, tmp_path: Path) -> None:
    dom_html, netlog = chromium(
        tmp_path, "dom", "--dump-dom", package.joinpath("index.html").as_uri()
    )
    dom = _dom(dom_html)
    assert [row["id"] for row in dom.rows] == [c["id"] for c in summary["controls"]]
    for row in dom.rows:
        assert row["href"] == f"controls/{control_slug(row['id'])}.html"
        assert (package / row["href"]).is_file()
    text = "".join(dom.text)
    assert "如何验证本导出包" in text and "dossier verify FILE.zip" in text
    assert "不符合" in text and "Fail" in text
    assert HOSTILE_HOSTNAME in text  # shown as text …
    assert "b" not in dom.tags  # … not parsed as markup
    # Gaps are grouped: one row per (check, status), titled from summary["checks"].
    check_gaps = [g for g in summary["gaps"] if g["kind"] == "check"]
    assert dom.gap_checks == [g["check_id"] for g in check_gaps]
    for gap in check_gaps:
        assert summary["checks"][gap["check_id"]]["title"]["zh"] in text
    assert_offline(netlog)


def test_index_for_1000_hosts_renders_offline(tmp_path: Path) -> None:
    summary = build_large_summary(1000, 10)
    name, body = next(render_pages(summary))
    index = tmp_path / name
    index.write_bytes(body)
    dom_html, netlog = chromium(tmp_path, "large", "--dump-dom", index.as_uri())
    dom = _dom(dom_html)
    assert [row["id"] for row in dom.rows] == [c["id"] for c in summary["controls"]]
    assert dom.gap_checks == [g["check_id"] for g in summary["gaps"]]
    assert "and 480 more" in "".join(dom.text)
    assert_offline(netlog)


def test_hostile_control_page_stays_inert(package: Path, tmp_path: Path) -> None:
    page = package / "controls" / "8.1.4.1.c.html"
    dom_html, netlog = chromium(tmp_path, "hostile", "--dump-dom", page.as_uri())
    dom = _dom(dom_html)
    text = "".join(dom.text)
    assert "<script>alert(1)</script>" in text
    assert r"</pre><img src=\"http://evil.example/x.png\" onerror=\"alert(2)\">" in text
    assert "script" not in dom.tags and "img" not in dom.tags
    assert any(link.startswith("../bundles/") for link in dom.links)
    assert_offline(netlog)
    assert not any("evil.example" in url for url in _urls_in(netlog))


def test_the_net_log_check_sees_a_leaky_page(tmp_path: Path) -> None:
    leaky = tmp_path / "leaky.html"
    leaky.write_text(
        "<!DOCTYPE html><html><head>"
        '<link rel="stylesheet" href="https://cdn.leak.example/x.css">'
        "<style>@font-face{font-family:L;src:url(https://fonts.leak.example/l.woff2)}"
        "body{font-family:L}</style></head>"
        '<body>leak<img src="http://img.leak.example/x.png"></body></html>'
    )
    _, netlog = chromium(tmp_path, "leaky", "--dump-dom", leaky.as_uri())
    found = "\n".join(_page_requests(netlog))
    assert "https://cdn.leak.example/x.css" in found
    assert "http://img.leak.example/x.png" in found
    assert "https://fonts.leak.example/l.woff2" in found
    assert "DNS " in found
    assert {_site(url) for url in _unexplained_urls(netlog)} >= {"leak.example"}
