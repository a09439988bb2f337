"""Evaluation: checks over a host's newest records, and the status of controls.

Pure functions. A stored decision (`pass`, `fail`, `not_applicable`, `error`) is made
when evidence arrives; `status_at` turns it into what is true at a moment, where time
adds `stale` (this check's evidence is older than its window) and `no_evidence` (no
record at all, or the host fell silent for longer than the window).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from evidence.canonical import parse_timestamp
from server.controls.catalog import Catalog, Check, Configs, Control
from server.controls.conditions import evaluate

Decision = Literal["pass", "fail", "not_applicable", "error"]
Status = Literal["pass", "fail", "not_applicable", "no_evidence", "stale", "error"]
ControlStatus = Literal[
    "pass",
    "fail",
    "error",
    "stale",
    "no_evidence",
    "not_applicable",
    "document_missing",
    "document_expired",
]
# Worst first: a control shows the worst status of its parts.
SEVERITY_ORDER: tuple[ControlStatus, ...] = (
    "fail",
    "error",
    "document_expired",
    "document_missing",
    "stale",
    "no_evidence",
    "pass",
    "not_applicable",
)


@dataclass(frozen=True)
class RecordView:
    """The newest record of one collector for one host, as evaluation sees it."""

    bundle_id: str
    record_index: int
    collector: str
    collected_at: str
    facts: Mapping[str, Any]
    errors: Sequence[str]

    def data(self) -> dict[str, Any]:
        return {"facts": self.facts, "errors": list(self.errors), "collector": self.collector}


@dataclass(frozen=True)
class CheckDecision:
    check_id: str
    decision: Decision
    observed: Any
    reason: str
    bundle_id: str
    record_index: int
    collected_at: str


def decide(check: Check, record: RecordView) -> CheckDecision:
    """The verdict of `check` on `record`, citing it."""

    def result(decision: Decision, observed: Any, reason: str) -> CheckDecision:
        return CheckDecision(
            check.id,
            decision,
            observed,
            reason,
            record.bundle_id,
            record.record_index,
            record.collected_at,
        )

    data = record.data()
    if check.when is not None:
        applies = evaluate(check.when, data)
        if applies.value is False:
            return result("not_applicable", applies.observed, f"not applicable: {applies.reason}")
        if applies.value is None:
            return result("error", None, _undecided(applies.reason, record))
    outcome = evaluate(check.condition, data)
    if outcome.value is None:
        return result("error", outcome.observed, _undecided(outcome.reason, record))
    return result("pass" if outcome.value else "fail", outcome.observed, outcome.reason)


def _undecided(reason: str, record: RecordView) -> str:
    errors = f"; collector reported: {'; '.join(record.errors[:3])}" if record.errors else ""
    return f"cannot decide: {reason}{errors}"


@dataclass(frozen=True)
class StoredDecision:
    """A decision as stored, with the moment it was made."""

    host_id: str
    check_id: str
    decision: Decision
    observed: Any
    reason: str
    bundle_id: str
    record_index: int
    collected_at: str
    evaluated_at: str


@dataclass(frozen=True)
class CheckStatus:
    host_id: str
    check_id: str
    status: Status
    reason: str
    observed: Any = None
    bundle_id: str | None = None
    record_index: int | None = None
    collected_at: str | None = None


def status_at(
    check: Check,
    host_id: str,
    stored: StoredDecision | None,
    host_last_seen: str | None,
    as_of: datetime,
    default_window: timedelta,
) -> CheckStatus:
    window = check.window(default_window)
    if host_last_seen is None or stored is None:
        return CheckStatus(host_id, check.id, "no_evidence", "no record from this host yet")
    seen = parse_timestamp(host_last_seen)
    if as_of - seen > window:
        return CheckStatus(
            host_id,
            check.id,
            "no_evidence",
            f"host silent since {host_last_seen}, longer than the {_days(window)} window",
            stored.observed,
            stored.bundle_id,
            stored.record_index,
            stored.collected_at,
        )
    if as_of - parse_timestamp(stored.collected_at) > window:
        return CheckStatus(
            host_id,
            check.id,
            "stale",
            f"evidence from {stored.collected_at} is older than the {_days(window)} window",
            stored.observed,
            stored.bundle_id,
            stored.record_index,
            stored.collected_at,
        )
    return CheckStatus(
        host_id,
        check.id,
        stored.decision,
        stored.reason,
        stored.observed,
        stored.bundle_id,
        stored.record_index,
        stored.collected_at,
    )


def _days(window: timedelta) -> str:
    seconds = window.total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


@dataclass(frozen=True)
class DocumentState:
    valid: int  # documents valid at the moment
    expired: int  # documents whose validity ended


@dataclass
class ControlResult:
    framework: str
    control_id: str
    status: ControlStatus
    hosts_passing: int = 0
    hosts_failing: int = 0
    oldest_evidence: str | None = None
    checks: list[CheckStatus] = field(default_factory=list)
    documents: DocumentState | None = None
    children: list[str] = field(default_factory=list)


def worst(statuses: Iterable[ControlStatus]) -> ControlStatus | None:
    present = set(statuses)
    return next((s for s in SEVERITY_ORDER if s in present), None)


def control_results(
    configs: Configs,
    framework: str,
    statuses: Sequence[CheckStatus],
    documents: Mapping[str, DocumentState],
) -> dict[str, ControlResult]:
    """Aggregate check statuses (all hosts) and documents into every control's status,
    leaves first, headings showing the worst of their children."""
    catalog = configs.catalogs[framework]
    by_check: dict[str, list[CheckStatus]] = {}
    for status in statuses:
        by_check.setdefault(status.check_id, []).append(status)
    results: dict[str, ControlResult] = {}
    for control in _leaves_first(catalog):
        results[control.id] = _control_result(
            configs, framework, control, by_check, documents.get(control.id), results, catalog
        )
    return results


def _leaves_first(catalog: Catalog) -> list[Control]:
    depth: dict[str, int] = {}

    def level(control: Control) -> int:
        if control.id not in depth:
            parent = catalog.control(control.parent) if control.parent else None
            depth[control.id] = 0 if parent is None else level(parent) + 1
        return depth[control.id]

    return sorted(catalog.controls, key=lambda c: -level(c))


def _control_result(
    configs: Configs,
    framework: str,
    control: Control,
    by_check: Mapping[str, list[CheckStatus]],
    documents: DocumentState | None,
    done: Mapping[str, ControlResult],
    catalog: Catalog,
) -> ControlResult:
    children = [c.id for c in catalog.children(control.id)]
    parts: list[ControlStatus] = [done[c].status for c in children]
    checks: list[CheckStatus] = []
    if control.evidence in ("automated", "both"):
        for check in configs.checks_for(framework, control.id):
            checks.extend(by_check.get(check.id, []))
        if checks:
            parts.extend(s.status for s in checks)
        else:
            parts.append("no_evidence")
    if control.evidence in ("document", "both"):
        if documents is not None and documents.valid:
            parts.append("pass")
        elif documents is not None and documents.expired:
            parts.append("document_expired")
        else:
            parts.append("document_missing")
    hosts = {s.host_id for s in checks}
    failing = {s.host_id for s in checks if s.status in ("fail", "error")}
    passing = {
        h
        for h in hosts
        if h not in failing and any(s.host_id == h and s.status == "pass" for s in checks)
    }
    dated = [s.collected_at for s in checks if s.collected_at]
    return ControlResult(
        framework,
        control.id,
        worst(parts) or "not_applicable",
        hosts_passing=len(passing),
        hosts_failing=len(failing),
        oldest_evidence=min(dated) if dated else None,
        checks=checks,
        documents=documents,
        children=children,
    )
