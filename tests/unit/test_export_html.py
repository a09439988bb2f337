"""The export's HTML pages: one per control, escaped, linked, and with no network URLs."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from typing import Any

import pytest

from server.controls.catalog import default_config_dir, load_configs
from server.export.html import (
    OBSERVED_LIMIT,
    RenderError,
    control_slug,
    format_observed,
    render_pages,
)

HOSTILE_REASON = "<script>alert(1)</script> PermitRootLogin is 'yes' & \"quoted\""
HOSTILE_OBSERVED = {
    "installed": True,
    "settings": {
        "permitrootlogin": "yes",
        "banner": '</pre><img src="http://evil.example/x.png" onerror="alert(2)">',
        "match": "<a href='https://evil.example/'>click</a>",
    },
}
HOSTILE_HOSTNAME = "db01<b>bold</b>"
WORST_FIRST = (
    "fail",
    "error",
    "document_expired",
    "document_missing",
    "stale",
    "no_evidence",
    "pass",
    "not_applicable",
)


def _ts(day: int, hour: int = 2) -> str:
    return f"2026-01-{day:02d}T{hour:02d}:15:07.123456Z"


def _oldest(control_id: str, checks: list[dict[str, Any]]) -> str | None:
    if not checks:
        return None
    return "2024-12-30T04:00:00.000000Z" if control_id == "8.1.4.3.c" else _ts(29)


def build_summary(framework: str = "mlps2-l3") -> dict[str, Any]:
    """A dossier.export/v1 summary over the shipped catalog and checks, for two hosts:
    web01 passes most checks, db01 fails some, errs on one and has stale evidence on one.
    Hostile strings sit where host-supplied data goes (reason, observed, hostname)."""
    configs = load_configs([default_config_dir()])
    catalog = configs.catalogs[framework]
    hosts = [
        {
            "id": "h-7f3a9c2e",
            "hostname": "web01",
            "first_seen": _ts(1),
            "last_seen": _ts(30),
            "days_with_evidence": 30,
            "bundles": 30,
        },
        {
            "id": "h-19b0d4aa",
            "hostname": HOSTILE_HOSTNAME,
            "first_seen": _ts(3),
            "last_seen": _ts(29),
            "days_with_evidence": 25,
            "bundles": 26,
        },
    ]
    bundles = [
        {
            "id": f"b-{host['id'][2:]}-{seq:04d}",
            "agent_id": f"a-{host['id'][2:]}",
            "host_id": host["id"],
            "seq": seq,
            "created_at": _ts(28 + seq),
            "log_index": 2 * seq + n,
        }
        for n, host in enumerate(hosts)
        for seq in (1, 2)
    ]
    controls: list[dict[str, Any]] = []
    gaps: list[dict[str, Any]] = []
    counter = 0
    for control in catalog.controls:
        checks: list[dict[str, Any]] = []
        for check in configs.checks_for(framework, control.id):
            for n, host in enumerate(hosts):
                counter += 1
                status = "pass"
                reason = f"{check.condition} holds"
                observed: Any = {"installed": True, "value": counter}
                if n == 1 and counter % 3 == 0:
                    status, reason = "fail", f"condition {check.condition} does not hold"
                if n == 1 and counter % 11 == 0:
                    status, reason = "error", "collector failed: sshd -T exited with status 255"
                    observed = None
                if n == 1 and counter % 13 == 0:
                    status, reason = "stale", "newest record is older than 1 day"
                if check.id == "ssh.root_login_disabled" and n == 1:
                    status, reason, observed = "fail", HOSTILE_REASON, HOSTILE_OBSERVED
                if counter == 5:
                    observed = {
                        "packages": [f"libexample{i}-2.3.{i}-1+deb12u1" for i in range(400)]
                    }
                bundle = f"b-{host['id'][2:]}-0002"
                checks.append(
                    {
                        "check_id": check.id,
                        "title": check.title.model_dump(),
                        "severity": check.severity,
                        "host_id": host["id"],
                        "hostname": host["hostname"],
                        "status": status,
                        "reason": reason,
                        "observed": observed,
                        "evidence": None
                        if observed is None
                        else {
                            "bundle_id": bundle,
                            "record_index": counter % 7,
                            "collected_at": _ts(29 + n),
                            "collector": check.collector,
                        },
                        "remediation": check.remediation.model_dump(),
                    }
                )
                if status != "pass":
                    gaps.append(
                        {
                            "control_id": control.id,
                            "status": status,
                            "host_id": host["id"],
                            "check_id": check.id,
                            "reason": reason,
                            "remediation": check.remediation.model_dump(),
                        }
                    )
        documents: list[dict[str, Any]] = []
        doc_status: str | None = None
        if control.evidence in ("document", "both"):
            if len(controls) % 4 == 1:
                doc_status = "document_missing"
                gaps.append(
                    {
                        "control_id": control.id,
                        "status": "document_missing",
                        "host_id": None,
                        "check_id": None,
                        "reason": "no document of this control is on file",
                        "remediation": {
                            "en": "Upload the current policy with `dossier document add`.",
                            "zh": "使用 `dossier document add` 上传现行制度文件。",
                        },
                    }
                )
            else:
                expired = len(controls) % 4 == 3
                doc_status = "document_expired" if expired else None
                documents.append(
                    {
                        "sha256": f"{len(controls):02x}" * 32,
                        "filename": f"安全管理制度-{control.id}.pdf",
                        "type": "policy",
                        "uploaded_by": "zhang.wei",
                        "uploaded_at": _ts(2),
                        "valid_until": "2025-12-31" if expired else "2026-12-31",
                        "expired": expired,
                    }
                )
        parts = [c["status"] for c in checks] + ([doc_status] if doc_status else [])
        status = next((s for s in WORST_FIRST if s in parts), None)
        if status is None:
            status = "not_applicable" if control.evidence is None else "no_evidence"
        failing = {c["host_id"] for c in checks if c["status"] in ("fail", "error")}
        passing = {c["host_id"] for c in checks if c["status"] == "pass"} - failing
        controls.append(
            {
                "id": control.id,
                "parent": control.parent,
                "title": control.title.model_dump(),
                "summary": control.summary.model_dump(),
                "evidence_kind": control.evidence,
                "status": status,
                "hosts_passing": len(passing),
                "hosts_failing": len(failing),
                "oldest_evidence": old if (old := _oldest(control.id, checks)) else None,
                "older_than_12_months": control.id == "8.1.4.3.c",
                "checks": checks,
                "documents": documents,
            }
        )
    # A heading shows the worst status of its children (children come after their parent).
    by_id = {c["id"]: c for c in controls}
    for control_json in reversed(controls):
        kids = [c for c in controls if c["parent"] == control_json["id"]]
        if control_json["evidence_kind"] is None and kids:
            parts = [c["status"] for c in kids]
            control_json["status"] = next(s for s in WORST_FIRST if s in parts)
            control_json["hosts_passing"] = min(c["hosts_passing"] for c in kids)
            control_json["hosts_failing"] = max(c["hosts_failing"] for c in kids)
            dated = [c["oldest_evidence"] for c in kids if c["oldest_evidence"]]
            control_json["oldest_evidence"] = min(dated) if dated else None
    assert len(by_id) == len(controls)
    counts: dict[str, int] = {}
    for control_json in controls:
        counts[control_json["status"]] = counts.get(control_json["status"], 0) + 1
    return {
        "type": "dossier.export/v1",
        "generated_at": _ts(31, 9),
        "as_of": _ts(31, 0),
        "period": {"from": "2025-02-01", "to": "2026-01-31"},
        "framework": catalog.framework.model_dump(),
        "server": {"keyid": "5c1f0e9a2b7d4c3e8f6a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6"},
        "scope": {"hosts": hosts, "days_in_period": 365},
        "coverage": {"host_days_with_evidence": 55, "host_days_in_period": 730, "ratio": "0.08"},
        "controls": controls,
        "gaps": gaps,
        "bundles": bundles,
        "counts": counts,
    }


class _Links(HTMLParser):
    """Every URL-bearing attribute, plus the text of the page."""

    URL_ATTRIBUTES = frozenset({"href", "src", "action", "srcset", "poster", "data", "formaction"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.urls: list[tuple[str, str, str]] = []
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name in self.URL_ATTRIBUTES and value is not None:
                self.urls.append((tag, name, value))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(page: bytes) -> _Links:
    parser = _Links()
    parser.feed(page.decode("utf-8"))
    parser.close()
    return parser


@pytest.fixture(scope="module")
def summary() -> dict[str, Any]:
    return build_summary()


@pytest.fixture(scope="module")
def pages(summary: dict[str, Any]) -> dict[str, bytes]:
    rendered = list(render_pages(summary))
    names = [name for name, _ in rendered]
    assert len(names) == len(set(names)), "a page was rendered twice"
    return dict(rendered)


def test_slug_rule() -> None:
    assert control_slug("Art.21(3)") == "Art.21_3_"
    assert control_slug("8.1.4.1.a") == "8.1.4.1.a"
    assert control_slug("A-1 b/c") == "A-1_b_c"
    assert control_slug("第二十一条") == "_____"


def test_every_control_has_a_page_linked_from_the_index(
    summary: dict[str, Any], pages: dict[str, bytes]
) -> None:
    expected = {f"controls/{control_slug(c['id'])}.html" for c in summary["controls"]}
    assert set(pages) == {"index.html"} | expected
    assert next(iter(pages)) == "index.html"
    index = _parse(pages["index.html"])
    hrefs = {value for tag, name, value in index.urls if tag == "a" and name == "href"}
    assert expected <= hrefs
    for control in summary["controls"]:
        page = pages[f"controls/{control_slug(control['id'])}.html"].decode()
        assert control["title"]["zh"] in page
        assert control["title"]["en"] in page
        assert 'href="../index.html"' in page


def test_index_rows_follow_the_tree(summary: dict[str, Any], pages: dict[str, bytes]) -> None:
    index = pages["index.html"].decode()
    rows = re.findall(
        r'<tr class="control[^"]*" id="c-([^"]+)" data-control-id="([^"]+)">'
        r'\s*<td class="tree-(\d)',
        index,
    )
    assert [r[1] for r in rows] == [c["id"] for c in summary["controls"]]
    depth = {r[1]: int(r[2]) for r in rows}
    assert depth["8.1.4"] == 0
    assert depth["8.1.4.1"] == 1
    assert depth["8.1.4.1.a"] == 2


def test_tree_order_regroups_children_listed_out_of_order() -> None:
    summary = build_summary("csl-2017")
    controls = summary["controls"]
    summary["controls"] = [controls[-1], *reversed(controls[:-1])]
    pages = dict(render_pages(summary))
    index = pages["index.html"].decode()
    order = re.findall(r'data-control-id="([^"]+)"', index)
    assert sorted(order) == sorted(c["id"] for c in controls)
    for control in controls:
        if control["parent"] is not None:
            assert order.index(control["parent"]) < order.index(control["id"])
    assert "controls/Art.21_3_.html" in pages
    assert 'href="controls/Art.21_3_.html"' in index


def test_host_strings_are_escaped(pages: dict[str, bytes]) -> None:
    page = pages["controls/8.1.4.1.c.html"].decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;/pre&gt;&lt;img src=" in page
    assert "&lt;b&gt;bold&lt;/b&gt;" in page
    for name, body in pages.items():
        parsed = _parse(body)
        assert "script" not in parsed.tags, name
        assert "img" not in parsed.tags, name
        assert "b" not in parsed.tags, name
        assert "<script" not in body.decode(), name
    index = pages["index.html"].decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in index  # the gaps list


def test_no_url_leaves_the_package(pages: dict[str, bytes]) -> None:
    for name, body in pages.items():
        for tag, attribute, url in _parse(body).urls:
            assert tag == "a" and attribute == "href", (name, tag, attribute, url)
            assert not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", url), (name, url)
            assert not url.startswith("//"), (name, url)
            assert url.startswith(("controls/", "../")), (name, url)
        text = body.decode()
        assert "@import" not in text and "url(" not in text, name
        assert "Content-Security-Policy" in text, name


def test_control_page_cites_evidence_and_documents(
    summary: dict[str, Any], pages: dict[str, bytes]
) -> None:
    both = next(c for c in summary["controls"] if c["evidence_kind"] == "both" and c["documents"])
    page = pages[f"controls/{control_slug(both['id'])}.html"].decode()
    links = {value for _, _, value in _parse(page.encode()).urls}
    for check in both["checks"]:
        if check["evidence"]:
            assert f"../bundles/{check['evidence']['bundle_id']}.json" in links
        assert check["remediation"]["zh"] in page.replace("&#39;", "'").replace("&#34;", '"')
    document = both["documents"][0]
    assert f"../documents/{document['sha256']}" in links
    assert document["valid_until"] in page
    assert "符合" in page and "Pass" in page
    assert "log entry" in page


def test_index_has_scope_gaps_and_verification(
    summary: dict[str, Any], pages: dict[str, bytes]
) -> None:
    index = pages["index.html"].decode()
    text = "".join(_parse(pages["index.html"]).text)
    assert summary["framework"]["title"]["zh"] in index
    assert summary["framework"]["title"]["en"] in index
    assert "2025-02-01" in index and "2026-01-31" in index
    assert "web01" in index
    assert "55 / 730" in text and "7.5%" in text
    assert "dossier verify FILE.zip" in text
    assert summary["server"]["keyid"] in text
    assert index.index("不符合") < index.index(">Fail<")  # Chinese first
    for gap in summary["gaps"]:
        assert gap["check_id"] is None or gap["check_id"] in index
    assert "缺少文档" in text and "Document missing" in text


def test_observed_is_truncated(pages: dict[str, bytes]) -> None:
    big = {"packages": [f"libexample{i}-2.3.{i}-1+deb12u1" for i in range(400)]}
    shown = format_observed(big)
    assert len(shown.encode()) < OBSERVED_LIMIT + 200
    assert "truncated" in shown
    assert format_observed({"a": "短"}) == json.dumps({"a": "短"}, ensure_ascii=False, indent=2)
    cut = format_observed("字" * 1000)  # a multi-byte character is never split
    cut.encode("utf-8")
    assert any("truncated" in body.decode() for body in pages.values())


def test_rendering_is_deterministic(summary: dict[str, Any]) -> None:
    assert list(render_pages(summary)) == list(render_pages(summary))


def test_colliding_slugs_are_refused(summary: dict[str, Any]) -> None:
    clash = dict(summary)
    first = dict(summary["controls"][0], id="Art.1(2)", parent=None)
    second = dict(summary["controls"][0], id="Art.1_2_", parent=None)
    clash["controls"] = [first, second]
    with pytest.raises(RenderError, match=re.escape("Art.1_2_")):
        list(render_pages(clash))


def test_minimal_summary_renders() -> None:
    pages = dict(
        render_pages(
            {
                "type": "dossier.export/v1",
                "framework": {"id": "x", "title": {"en": "X", "zh": "某框架"}},
                "controls": [{"id": "1", "parent": None, "status": "no_evidence"}],
            }
        )
    )
    assert set(pages) == {"index.html", "controls/1.html"}
    assert "无证据" in pages["controls/1.html"].decode()
