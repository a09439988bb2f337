"""The export's HTML pages: one per control, escaped, linked, and with no network URLs."""

from __future__ import annotations

import html
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
    """A dossier.export/v2 summary over the shipped catalog and checks, for two hosts:
    web01 passes most checks, db01 fails some, errs on one and has stale evidence on one.
    A check has one result per host, repeated under every control it maps to; its title,
    severity, remediation and collector are in the top-level "checks", and gaps are
    grouped per (check, status). Hostile strings sit where host-supplied data goes
    (reason, observed, hostname)."""
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
    definitions: dict[str, dict[str, Any]] = {}
    results: dict[tuple[str, int], dict[str, Any]] = {}
    check_gaps: dict[tuple[str, str], dict[str, Any]] = {}
    document_gaps: list[dict[str, Any]] = []
    counter = 0
    for control in catalog.controls:
        checks: list[dict[str, Any]] = []
        for check in configs.checks_for(framework, control.id):
            definitions[check.id] = {
                "title": check.title.model_dump(),
                "severity": check.severity,
                "remediation": check.remediation.model_dump(),
                "collector": check.collector,
            }
            for n, host in enumerate(hosts):
                if (check.id, n) not in results:
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
                    results[(check.id, n)] = {
                        "check_id": check.id,
                        "host_id": host["id"],
                        "hostname": host["hostname"],
                        "status": status,
                        "reason": reason,
                        "observed": observed,
                        "evidence": None
                        if observed is None
                        else {
                            "bundle_id": f"b-{host['id'][2:]}-0002",
                            "record_index": counter % 7,
                            "collected_at": _ts(29 + n),
                            "collector": check.collector,
                        },
                    }
                row = dict(results[(check.id, n)])
                checks.append(row)
                if row["status"] not in ("pass", "not_applicable"):
                    gap = check_gaps.setdefault(
                        (check.id, row["status"]),
                        {
                            "kind": "check",
                            "check_id": check.id,
                            "status": row["status"],
                            "controls": [],
                            "hosts": [],
                        },
                    )
                    if control.id not in gap["controls"]:
                        gap["controls"].append(control.id)
                    if all(h["host_id"] != host["id"] for h in gap["hosts"]):
                        gap["hosts"].append(
                            {
                                "host_id": host["id"],
                                "hostname": host["hostname"],
                                "reason": row["reason"],
                            }
                        )
        documents: list[dict[str, Any]] = []
        doc_status: str | None = None
        if control.evidence in ("document", "both"):
            if len(controls) % 4 == 1:
                doc_status = "document_missing"
                document_gaps.append(
                    {
                        "kind": "document",
                        "control_id": control.id,
                        "status": "document_missing",
                        "reason": {
                            "en": "no document of this control is on file",
                            "zh": "该控制项没有在案文档",
                        },
                        "remediation": {
                            "en": "Upload the current policy with `dossier document add`.",
                            "zh": "使用 `dossier document add` 上传现行制度文件。",
                        },
                    }
                )
            else:
                expired = len(controls) % 4 == 3
                doc_status = "document_expired" if expired else None
                if expired:
                    document_gaps.append(
                        {
                            "kind": "document",
                            "control_id": control.id,
                            "status": "document_expired",
                            "reason": {
                                "en": "the document for this control has expired",
                                "zh": "该控制项的文档已过期",
                            },
                            "remediation": {
                                "en": "Upload the renewed policy with `dossier document add`.",
                                "zh": "使用 `dossier document add` 上传更新后的制度文件。",
                            },
                        }
                    )
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
        "type": "dossier.export/v2",
        "generated_at": _ts(31, 9),
        "as_of": _ts(31, 0),
        "period": {"from": "2025-02-01", "to": "2026-01-31"},
        "framework": catalog.framework.model_dump(),
        "server": {"keyid": "5c1f0e9a2b7d4c3e8f6a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6"},
        "scope": {"hosts": hosts, "days_in_period": 365},
        "coverage": {"host_days_with_evidence": 55, "host_days_in_period": 730, "ratio": "0.08"},
        "checks": dict(sorted(definitions.items())),
        "controls": controls,
        "gaps": [*check_gaps.values(), *document_gaps],
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


def _unescape(page: str) -> str:
    return html.unescape(page)


def test_control_page_cites_evidence_and_documents(
    summary: dict[str, Any], pages: dict[str, bytes]
) -> None:
    both = next(c for c in summary["controls"] if c["evidence_kind"] == "both" and c["documents"])
    page = pages[f"controls/{control_slug(both['id'])}.html"].decode()
    links = {value for _, _, value in _parse(page.encode()).urls}
    log_index = {b["id"]: b["log_index"] for b in summary["bundles"]}
    for check in both["checks"]:
        if check["evidence"]:
            bundle = check["evidence"]["bundle_id"]
            assert f"../bundles/{bundle}.json" in links
            assert f"log</span> #{log_index[bundle]}" in page
    # The check's own data comes from summary["checks"] and is shown once per check.
    for check_id in {c["check_id"] for c in both["checks"]}:
        definition = summary["checks"][check_id]
        assert _unescape(page).count(definition["remediation"]["zh"]) == 1, check_id
        assert _unescape(page).count(definition["title"]["zh"]) == 1, check_id
        assert page.count(f'id="check-{check_id}"') == 1
    assert page.count('<tr class="result">') == len(both["checks"])
    document = both["documents"][0]
    assert f"../documents/{document['sha256']}" in links
    assert document["valid_until"] in page
    assert "符合" in page and "Pass" in page


def test_control_page_lists_its_gaps(summary: dict[str, Any], pages: dict[str, bytes]) -> None:
    for control in summary["controls"]:
        page = pages[f"controls/{control_slug(control['id'])}.html"].decode()
        mine = [
            g
            for g in summary["gaps"]
            if control["id"] in g.get("controls", []) or g.get("control_id") == control["id"]
        ]
        assert page.count('<tr class="gap">') == len(mine), control["id"]
        for gap in mine:
            if gap["kind"] == "document":
                assert gap["reason"]["zh"] in page and gap["reason"]["en"] in page
                assert _unescape(page).count(gap["remediation"]["zh"]) == 1


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
    rows = re.findall(r'<tr class="gap" data-check-id="([^"]+)">(.*?)</tr>', index, re.S)
    check_gaps = [g for g in summary["gaps"] if g["kind"] == "check"]
    assert [r[0] for r in rows] == [g["check_id"] for g in check_gaps]
    for gap, (_, row) in zip(check_gaps, rows, strict=True):
        definition = summary["checks"][gap["check_id"]]
        assert definition["title"]["zh"] in row
        assert _unescape(row).count(definition["remediation"]["zh"]) == 1
        assert f'<strong class="host-count">{len(gap["hosts"])}</strong>' in row
        for control_id in gap["controls"]:
            assert f'href="controls/{control_slug(control_id)}.html"' in row
    root = next(r for c, r in rows if c == "ssh.root_login_disabled")
    assert "&lt;b&gt;bold&lt;/b&gt;" in root  # the failing host, escaped
    assert len(re.findall(r'href="controls/', root)) == 3  # every control it affects
    for gap in summary["gaps"]:
        if gap["kind"] == "document":
            assert f'href="controls/{control_slug(gap["control_id"])}.html"' in index
            assert gap["reason"]["zh"] in index
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
                "type": "dossier.export/v2",
                "framework": {"id": "x", "title": {"en": "X", "zh": "某框架"}},
                "controls": [{"id": "1", "parent": None, "status": "no_evidence"}],
            }
        )
    )
    assert set(pages) == {"index.html", "controls/1.html"}
    assert "无证据" in pages["controls/1.html"].decode()


def test_check_missing_from_definitions_still_renders(summary: dict[str, Any]) -> None:
    partial = dict(summary, checks={})
    pages = dict(render_pages(partial))
    page = pages["controls/8.1.4.1.c.html"].decode()
    assert 'id="check-ssh.root_login_disabled"' in page
    assert "ssh.root_login_disabled" in pages["index.html"].decode()


def build_large_summary(hosts: int = 1000, checks: int = 10) -> dict[str, Any]:
    """A v2 summary of `hosts` hosts and `checks` checks over five controls (two checks
    each), every check failing on half the hosts with a host-specific reason."""
    host_list = [
        {
            "id": f"h-{n:08x}",
            "hostname": f"host{n:04d}.example.internal",
            "first_seen": _ts(1),
            "last_seen": _ts(30),
            "days_with_evidence": 30,
            "bundles": 30,
        }
        for n in range(hosts)
    ]
    definitions = {
        f"check.{k:02d}": {
            "title": {"en": f"Check number {k} is configured", "zh": f"第 {k} 项检查已配置"},
            "severity": "high",
            "remediation": {
                "en": f"Configure setting {k} as the baseline requires, then re-run the agent. "
                * 4,
                "zh": f"按基线要求配置第 {k} 项设置，然后重新运行代理。" * 4,
            },
            "collector": f"collector.{k:02d}",
        }
        for k in range(checks)
    }
    controls: list[dict[str, Any]] = []
    gaps: list[dict[str, Any]] = []
    for c in range(checks // 2):
        control_id = f"1.{c}"
        rows = []
        for check_id in list(definitions)[2 * c : 2 * c + 2]:
            failing = []
            for n, host in enumerate(host_list):
                status = "fail" if n % 2 else "pass"
                reason = f"value on {host['hostname']} is {n}, expected 0"
                rows.append(
                    {
                        "check_id": check_id,
                        "host_id": host["id"],
                        "hostname": host["hostname"],
                        "status": status,
                        "reason": reason,
                        "observed": {"value": n},
                        "evidence": {
                            "bundle_id": f"b-{n:08x}-0030",
                            "record_index": 3,
                            "collected_at": _ts(30),
                            "collector": definitions[check_id]["collector"],
                        },
                    }
                )
                if status == "fail":
                    failing.append(
                        {"host_id": host["id"], "hostname": host["hostname"], "reason": reason}
                    )
            gaps.append(
                {
                    "kind": "check",
                    "check_id": check_id,
                    "status": "fail",
                    "controls": [control_id],
                    "hosts": failing,
                }
            )
        controls.append(
            {
                "id": control_id,
                "parent": None,
                "title": {"en": f"Control {c}", "zh": f"控制项 {c}"},
                "summary": {"en": "", "zh": ""},
                "evidence_kind": "automated",
                "status": "fail",
                "hosts_passing": hosts // 2,
                "hosts_failing": hosts - hosts // 2,
                "oldest_evidence": _ts(1),
                "older_than_12_months": False,
                "checks": rows,
                "documents": [],
            }
        )
    return {
        "type": "dossier.export/v2",
        "generated_at": _ts(31, 9),
        "as_of": _ts(31, 0),
        "period": {"from": "2025-02-01", "to": "2026-01-31"},
        "framework": {"id": "big", "title": {"en": "Big", "zh": "大规模"}},
        "server": {"keyid": "00" * 32},
        "scope": {"hosts": host_list, "days_in_period": 365},
        "coverage": {
            "host_days_with_evidence": 30 * hosts,
            "host_days_in_period": 365 * hosts,
            "ratio": "0.08",
        },
        "checks": definitions,
        "controls": controls,
        "gaps": gaps,
        "bundles": [
            {
                "id": f"b-{n:08x}-0030",
                "agent_id": f"a-{n:08x}",
                "host_id": f"h-{n:08x}",
                "seq": 30,
                "created_at": _ts(30),
                "log_index": n,
            }
            for n in range(hosts)
        ],
        "counts": {"fail": len(controls)},
    }


def test_index_for_1000_hosts_and_10_checks_is_under_1_mb() -> None:
    summary = build_large_summary(1000, 10)
    pages = render_pages(summary)
    name, index = next(pages)
    assert name == "index.html"
    assert len(index) < 1_000_000, len(index)
    text = index.decode()
    assert text.count('<tr class="gap"') == 10
    assert text.count("and 480 more") == 10  # 500 failing hosts, 20 named
    assert "host0001.example.internal" in text  # the first failing host is named
    assert "host0999.example.internal" in text  # every host is in the scope table
    assert "and 495 other reasons" in text
    for definition in summary["checks"].values():
        assert text.count(definition["remediation"]["en"]) == 1
    # A control page lists every host once, the check's remediation once.
    name, page = next(pages)
    assert name == "controls/1.0.html"
    body = page.decode()
    assert body.count('<tr class="result">') == 2000
    assert body.count(summary["checks"]["check.00"]["remediation"]["zh"]) == 1


CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")


def _visible_text(page: bytes) -> str:
    return "".join(_parse(page).text)


@pytest.mark.parametrize("languages", [["en"], ["zh"], ["zh", "en"], ["en", "zh"]])
def test_pages_are_written_in_the_summary_languages(
    summary: dict[str, Any], languages: list[str]
) -> None:
    rendered = dict(render_pages({**summary, "languages": languages}))
    assert len(rendered) == len(dict(render_pages(summary)))  # same pages, other words
    for name, page in rendered.items():
        text = page.decode()
        # Chinese may remain only in data that has one language: the standard's official
        # title and the names of uploaded files
        visible = _visible_text(page).replace(str(summary["framework"]["source"]), "")
        for control in summary["controls"]:
            for document in control.get("documents") or []:
                visible = visible.replace(str(document.get("filename")), "")
        if languages == ["en"]:
            assert '<html lang="en">' in text, name
            assert not CJK.search(visible), f"{name}: {CJK.search(visible)!r}"
            assert 'lang="zh-CN"' not in text and 'class="en"' not in text, name
        elif languages == ["zh"]:
            assert '<html lang="zh-CN">' in text, name
            assert 'lang="en"' not in text, name
            assert CJK.search(visible), name
        else:  # both: Chinese first, English as the secondary text, whatever the order given
            assert '<html lang="zh-CN">' in text and 'class="en" lang="en"' in text, name
            assert CJK.search(visible), name
    index = rendered["index.html"].decode()
    if languages == ["en"]:
        assert "Hosts in scope" in index and "主机范围" not in index
        assert "How to verify this package" in index and "dossier verify FILE.zip" in index
    elif languages == ["zh"]:
        assert "主机范围" in index and "Hosts in scope" not in index
        assert "dossier verify FILE.zip" in index
    else:
        assert "主机范围" in index and "Hosts in scope" in index


def test_english_pages_keep_every_control_title_and_status(summary: dict[str, Any]) -> None:
    english = dict(render_pages({**summary, "languages": ["en"]}))
    index = _visible_text(english["index.html"])
    for control in summary["controls"]:
        assert control["title"]["en"] in index
    assert "Fail" in index and "Pass" in index
