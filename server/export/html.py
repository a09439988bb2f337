"""Offline, bilingual HTML pages of an inspector export, rendered from its summary.json.

`render_pages` turns the export summary (the ``dossier.export/v2`` dictionary the package
builder also writes as ``summary.json``) into ``index.html`` and one
``controls/<slug>.html`` per control. Callers may rely on:

* Every page is self-contained: CSS is inline, there are no scripts, and no attribute
  points at a network URL. A Content-Security-Policy meta tag forbids loading anything
  but inline styles, so even a rendering mistake cannot fetch from the network.
* Every value from the summary is HTML-escaped (facts and reasons come from hosts).
* Links are relative to the zip layout: ``controls/<slug>.html`` from the index,
  ``../bundles/<bundle_id>.json``, ``../documents/<sha256>`` and ``../index.html`` from a
  control page, so the pages work straight from an unpacked package.
* Chinese comes first, English beside or below it; a summary whose ``languages`` names
  one of them gets pages in that language only.
* The output depends only on the summary (no clock, no environment), so the same summary
  always renders to the same bytes.
* The index stays small however many hosts there are: gaps are shown once per
  (check, status) with the number of hosts, the first `GAP_HOSTS_SHOWN` host names and
  the first `GAP_REASONS_SHOWN` distinct reasons; a check's title, severity, collector
  and remediation come from the summary's top-level ``checks`` and are shown once per
  check, on the index and on each control page. Only the host table lists every host.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2

from server.export.languages import LANGUAGES, summary_languages

TEMPLATES = Path(__file__).parent / "templates"

# Observed values are shown up to this many UTF-8 bytes; the full value is in the bundle.
OBSERVED_LIMIT = 2048
# A grouped gap names this many hosts, then "and N more" (the control pages list them all).
GAP_HOSTS_SHOWN = 20
# … and this many distinct reasons, each cut to REASON_LIMIT characters.
GAP_REASONS_SHOWN = 5
REASON_LIMIT = 500

STATUS_LABELS: dict[str, tuple[str, str]] = {
    "pass": ("符合", "Pass"),
    "fail": ("不符合", "Fail"),
    "error": ("无法判定", "Error"),
    "stale": ("证据过期", "Stale evidence"),
    "no_evidence": ("无证据", "No evidence"),
    "not_applicable": ("不适用", "Not applicable"),
    "document_missing": ("缺少文档", "Document missing"),
    "document_expired": ("文档已过期", "Document expired"),
}

SEVERITY_LABELS: dict[str, tuple[str, str]] = {
    "critical": ("严重", "Critical"),
    "high": ("高", "High"),
    "medium": ("中", "Medium"),
    "low": ("低", "Low"),
    "info": ("提示", "Info"),
}

EVIDENCE_KIND_LABELS: dict[str, tuple[str, str]] = {
    "automated": ("自动采集", "Automated"),
    "document": ("文档", "Document"),
    "both": ("自动采集与文档", "Automated and document"),
}

_SLUG_UNSAFE = re.compile(r"[^A-Za-z0-9.-]")
_TIMESTAMP = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.\d+)?Z$")


class RenderError(ValueError):
    """The summary cannot be rendered as the package layout requires (e.g. two controls
    whose ids map to the same page name)."""


def control_slug(control_id: str) -> str:
    """The page name of a control: its id with every character outside [A-Za-z0-9.-]
    replaced by "_" ("Art.21(3)" -> "Art.21_3_"). The same rule names the file in the zip."""
    return _SLUG_UNSAFE.sub("_", control_id)


def control_page_path(control_id: str) -> str:
    """Path of a control's page inside the package, e.g. "controls/8.1.4.1.a.html"."""
    return f"controls/{control_slug(control_id)}.html"


def render_pages(summary: Mapping[str, Any]) -> Iterator[tuple[str, bytes]]:
    """Yield ("index.html", bytes) and then ("controls/<slug>.html", bytes) for every
    control, in tree order. Pages are UTF-8 HTML. Raises RenderError before yielding
    anything if two controls would share a page."""
    controls = _tree_order(list(summary.get("controls") or []))
    slugs: dict[str, str] = {}
    for control, _depth in controls:
        control_id = str(control["id"])
        slug = control_slug(control_id)
        if slug in slugs and slugs[slug] != control_id:
            raise RenderError(
                f"controls {slugs[slug]!r} and {control_id!r} would both be {slug}.html"
            )
        slugs[slug] = control_id

    env = _environment()
    common = _common_context(summary, controls)
    index = env.get_template("index.html.j2").render(**common, root="")
    yield "index.html", index.encode("utf-8")

    control_template = env.get_template("control.html.j2")
    children: dict[str, list[dict[str, Any]]] = {}
    for control, _depth in controls:
        if control.get("parent") is not None:
            children.setdefault(str(control["parent"]), []).append(control)
    titles = {str(c["id"]): c for c, _ in controls}
    check_gaps_of: dict[str, list[dict[str, Any]]] = {}
    for gap in common["check_gaps"]:
        for control_id in dict.fromkeys(gap["controls"]):
            check_gaps_of.setdefault(control_id, []).append(gap)
    document_gaps_of: dict[str, list[dict[str, Any]]] = {}
    for gap in common["document_gaps"]:
        document_gaps_of.setdefault(gap["control_id"], []).append(gap)
    for control, _depth in controls:
        control_id = str(control["id"])
        page = control_template.render(
            **common,
            root="../",
            control=control,
            ancestors=_ancestors(control, titles),
            children=children.get(control_id, []),
            check_groups=_check_groups(control.get("checks") or [], common["checks"]),
            control_check_gaps=check_gaps_of.get(control_id, []),
            control_document_gaps=document_gaps_of.get(control_id, []),
        )
        yield control_page_path(control_id), page.encode("utf-8")


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["ts"] = format_timestamp
    env.filters["observed"] = format_observed
    env.filters["path_segment"] = path_segment
    env.filters["page"] = control_page_path
    env.filters["slug"] = control_slug
    env.filters["clip"] = clip
    env.globals["status_label"] = lambda s: _label(STATUS_LABELS, s)
    env.globals["severity_label"] = lambda s: _label(SEVERITY_LABELS, s)
    env.globals["kind_label"] = lambda s: _label(EVIDENCE_KIND_LABELS, s)
    env.globals["status_class"] = status_class
    return env


def _label(labels: Mapping[str, tuple[str, str]], key: Any) -> tuple[str, str]:
    if key is None:
        return ("—", "—")
    return labels.get(str(key), (str(key), str(key)))


def status_class(status: Any) -> str:
    """CSS class for a status badge; unknown statuses get a neutral class."""
    return f"st-{status}" if str(status) in STATUS_LABELS else "st-unknown"


def path_segment(value: Any) -> str:
    """Percent-encode one path segment of a relative link (a bundle id or a digest), so
    an odd id can neither leave its directory nor become a scheme-qualified URL."""
    return quote(str(value), safe="")


def format_timestamp(value: Any) -> str:
    """ "2026-01-02T03:04:05.000000Z" -> "2026-01-02 03:04:05 UTC"; anything else as is."""
    if value is None:
        return "—"
    match = _TIMESTAMP.match(str(value))
    if match is None:
        return str(value)
    return f"{match.group(1)} {match.group(2)} UTC"


def format_observed(
    value: Any, languages: Sequence[str] = LANGUAGES, limit: int = OBSERVED_LIMIT
) -> str:
    """Observed value as indented JSON, cut to about `limit` UTF-8 bytes with a note."""
    text = json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True, default=str)
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text
    cut = encoded[:limit].decode("utf-8", errors="ignore")
    words = {"zh": "已截断", "en": "truncated"}
    note = " ".join(words[lang] for lang in LANGUAGES if lang in languages)
    return f"{cut}\n… [{note}: {len(encoded)} bytes in total, see the bundle]"


def clip(value: Any, limit: int = REASON_LIMIT) -> str:
    """A host-supplied text cut to `limit` characters, with an ellipsis if cut."""
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _tree_order(controls: Sequence[Mapping[str, Any]]) -> list[tuple[dict[str, Any], int]]:
    """Controls depth-first from the roots, siblings in summary order, with their depth.
    A control whose parent is not in the summary is a root; none is dropped or repeated."""
    ids = {str(c["id"]) for c in controls}
    children: dict[str | None, list[dict[str, Any]]] = {}
    for control in controls:
        parent = control.get("parent")
        key = str(parent) if parent is not None and str(parent) in ids else None
        children.setdefault(key, []).append(dict(control))
    ordered: list[tuple[dict[str, Any], int]] = []
    seen: set[str] = set()

    def visit(control: dict[str, Any], depth: int) -> None:
        control_id = str(control["id"])
        if control_id in seen:
            return
        seen.add(control_id)
        ordered.append((control, depth))
        for child in children.get(control_id, []):
            visit(child, depth + 1)

    for root in children.get(None, []):
        visit(root, 0)
    # Parent cycles have no root; keep them, flat, in summary order.
    for control in controls:
        if str(control["id"]) not in seen:
            visit(dict(control), 0)
    return ordered


def _ancestors(
    control: Mapping[str, Any], by_id: Mapping[str, Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    chain: list[Mapping[str, Any]] = []
    seen = {str(control["id"])}
    parent = control.get("parent")
    while parent is not None and str(parent) in by_id and str(parent) not in seen:
        seen.add(str(parent))
        chain.append(by_id[str(parent)])
        parent = by_id[str(parent)].get("parent")
    return list(reversed(chain))


def _check_meta(checks: Mapping[str, Any], check_id: str) -> dict[str, Any]:
    """A check's title, severity, remediation and collector from the summary's top-level
    ``checks``; a check missing there still renders, under its id."""
    meta = checks.get(check_id)
    meta = meta if isinstance(meta, Mapping) else {}
    return {
        "check_id": check_id,
        "title": _bilingual(meta.get("title")),
        "severity": meta.get("severity"),
        "remediation": _bilingual(meta.get("remediation")),
        "collector": meta.get("collector"),
    }


def _bilingual(value: Any) -> dict[str, Any]:
    """{"en", "zh"} as given; a bare string stands for both languages."""
    if isinstance(value, Mapping):
        return dict(value)
    if value:
        return {"en": str(value), "zh": str(value)}
    return {}


def _status_counts(statuses: Sequence[Any]) -> list[tuple[str, int]]:
    """(status, count) pairs, known statuses in label order, then unknown ones."""
    counts: dict[str, int] = {}
    for status in statuses:
        counts[str(status)] = counts.get(str(status), 0) + 1
    return [(s, counts[s]) for s in STATUS_LABELS if s in counts] + [
        (s, n) for s, n in counts.items() if s not in STATUS_LABELS
    ]


def _check_groups(
    checks: Sequence[Mapping[str, Any]], meta: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Check results grouped by check (first appearance order), one row per host, with
    the check's own data (from the summary's ``checks``) once per group."""
    groups: dict[str, dict[str, Any]] = {}
    for result in checks:
        check_id = str(result.get("check_id"))
        group = groups.get(check_id)
        if group is None:
            group = groups[check_id] = {**_check_meta(meta, check_id), "results": []}
        group["results"].append(result)
    for group in groups.values():
        group["counts"] = _status_counts([r.get("status") for r in group["results"]])
    return list(groups.values())


def _check_gap(gap: Mapping[str, Any], meta: Mapping[str, Any]) -> dict[str, Any]:
    """A grouped check gap as shown: the check once, a host count, the first hosts and
    the most common distinct reasons (first appearance order)."""
    hosts = [h for h in gap.get("hosts") or [] if isinstance(h, Mapping)]
    reasons: dict[str, int] = {}
    for host in hosts:
        reason = host.get("reason")
        if reason:
            reasons[str(reason)] = reasons.get(str(reason), 0) + 1
    shown = [
        {"hostname": h.get("hostname"), "host_id": h.get("host_id")}
        for h in hosts[:GAP_HOSTS_SHOWN]
    ]
    return {
        **_check_meta(meta, str(gap.get("check_id"))),
        "status": gap.get("status"),
        "controls": [str(c) for c in gap.get("controls") or []],
        "host_count": len(hosts),
        "hosts": shown,
        "hosts_more": len(hosts) - len(shown),
        "reasons": list(reasons.items())[:GAP_REASONS_SHOWN],
        "reasons_more": max(0, len(reasons) - GAP_REASONS_SHOWN),
    }


def _document_gap(gap: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "control_id": str(gap.get("control_id")),
        "status": gap.get("status"),
        "reason": _bilingual(gap.get("reason")),
        "remediation": _bilingual(gap.get("remediation")),
    }


def _common_context(
    summary: Mapping[str, Any], controls: Sequence[tuple[dict[str, Any], int]]
) -> dict[str, Any]:
    scope = summary.get("scope") or {}
    hosts = list(scope.get("hosts") or [])
    coverage = dict(summary.get("coverage") or {})
    with_evidence = coverage.get("host_days_with_evidence")
    in_period = coverage.get("host_days_in_period")
    if isinstance(with_evidence, int) and isinstance(in_period, int) and in_period > 0:
        coverage["percent"] = f"{100 * with_evidence / in_period:.1f}%"
    else:
        coverage["percent"] = None
    counts = summary.get("counts") or {}
    meta = summary.get("checks") or {}
    gaps = [g for g in summary.get("gaps") or [] if isinstance(g, Mapping)]
    return {
        "summary": summary,
        "langs": summary_languages(summary),
        "framework": summary.get("framework") or {},
        "period": summary.get("period") or {},
        "server": summary.get("server") or {},
        "hosts": hosts,
        "hostnames": {str(h.get("id")): h.get("hostname") for h in hosts},
        "days_in_period": scope.get("days_in_period"),
        "coverage": coverage,
        "controls": controls,
        "control_ids": {str(c["id"]) for c, _ in controls},
        "hosts_shown": hosts[:GAP_HOSTS_SHOWN],
        "checks": meta,
        "check_gaps": [_check_gap(g, meta) for g in gaps if g.get("kind") == "check"],
        "document_gaps": [_document_gap(g) for g in gaps if g.get("kind") != "check"],
        "bundles": {str(b.get("id")): b for b in summary.get("bundles") or []},
        "counts": [(s, counts[s]) for s in STATUS_LABELS if counts.get(s)]
        + [(s, n) for s, n in counts.items() if s not in STATUS_LABELS and n],
    }
