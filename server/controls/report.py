"""Status reports shared by the API and the CLI: JSON-ready dictionaries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from evidence.canonical import format_timestamp
from server.controls.catalog import Configs
from server.controls.errors import ReportError
from server.controls.evaluate import CheckStatus, DocumentState, control_results
from server.controls.store import check_statuses, document_states, host_names


def framework_status(
    session: Session,
    configs: Configs,
    framework: str,
    as_of: datetime,
    host_id: str | None = None,
) -> dict[str, Any]:
    catalog = configs.catalogs.get(framework)
    if catalog is None:
        raise ReportError(f"unknown framework {framework}; known: {', '.join(configs.catalogs)}")
    names = host_names(session)
    if host_id is not None and host_id not in names:
        raise ReportError(f"unknown host {host_id}")
    statuses = check_statuses(session, configs, as_of, [host_id] if host_id else None)
    mapped = {c.id for c in configs.checks if framework in c.maps_to}
    statuses = [s for s in statuses if s.check_id in mapped]
    documents = document_states(session, framework, as_of)
    results = control_results(configs, framework, statuses, documents)
    oldest_age = {
        control_id: _age_days(result.oldest_evidence, as_of)
        for control_id, result in results.items()
    }
    return {
        "framework": catalog.framework.model_dump(),
        "as_of": format_timestamp(as_of),
        "host": host_id,
        "hosts": sorted({s.host_id for s in statuses}),
        "controls": [
            {
                "id": control.id,
                "parent": control.parent,
                "title": control.title.model_dump(),
                "evidence": control.evidence,
                "status": results[control.id].status,
                "hosts_passing": results[control.id].hosts_passing,
                "hosts_failing": results[control.id].hosts_failing,
                "oldest_evidence": results[control.id].oldest_evidence,
                "oldest_evidence_age_days": oldest_age[control.id],
                "documents": _documents_json(results[control.id].documents),
                "checks": [check_json(s, names) for s in results[control.id].checks],
            }
            for control in catalog.controls
        ],
    }


def _documents_json(state: DocumentState | None) -> dict[str, int] | None:
    return None if state is None else {"valid": state.valid, "expired": state.expired}


def check_json(status: CheckStatus, names: dict[str, str]) -> dict[str, Any]:
    return {
        "host_id": status.host_id,
        "hostname": names.get(status.host_id),
        "check_id": status.check_id,
        "status": status.status,
        "reason": status.reason,
        "observed": status.observed,
        "evidence": (
            None
            if status.bundle_id is None
            else {
                "bundle_id": status.bundle_id,
                "record_index": status.record_index,
                "collected_at": status.collected_at,
            }
        ),
    }


def host_checks(
    session: Session, configs: Configs, host_id: str, as_of: datetime
) -> list[dict[str, Any]]:
    names = host_names(session)
    if host_id not in names:
        raise ReportError(f"unknown host {host_id}")
    return [check_json(s, names) for s in check_statuses(session, configs, as_of, [host_id])]


def _age_days(timestamp: str | None, as_of: datetime) -> int | None:
    if timestamp is None:
        return None
    from evidence.canonical import parse_timestamp

    return max(0, (as_of - parse_timestamp(timestamp)).days)


def parse_as_of(text: str | None) -> datetime:
    """Now, a day (`2026-11-01`: the end of that day, UTC) or an RFC 3339 timestamp."""
    from datetime import UTC, date, time

    from evidence.canonical import parse_timestamp

    if text is None:
        return datetime.now(UTC)
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time.max, tzinfo=UTC)
        if text.endswith("Z"):
            return parse_timestamp(text)
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ReportError(f"as-of {text!r} is not a date (YYYY-MM-DD) or timestamp") from exc
    if moment.tzinfo is None:
        raise ReportError(f"as-of {text!r} needs a time zone (e.g. Z or +08:00)")
    return moment.astimezone(UTC)


def parse_since(text: str) -> datetime:
    """A day (`2026-11-01`: its start, UTC) or an RFC 3339 timestamp."""
    from datetime import UTC, date, time

    if len(text) == 10:
        try:
            return datetime.combine(date.fromisoformat(text), time.min, tzinfo=UTC)
        except ValueError as exc:
            raise ReportError(f"since {text!r} is not a date (YYYY-MM-DD)") from exc
    return parse_as_of(text)


def changes_report(session: Session, configs: Configs, since: datetime) -> dict[str, Any]:
    from datetime import UTC

    from server.controls.changes import host_changes

    now = datetime.now(UTC)
    changes = host_changes(session, since, now, configs.default_freshness)
    names = host_names(session)
    return {
        "since": format_timestamp(since),
        "until": format_timestamp(now),
        "changes": [c.as_dict() | {"hostname": names.get(c.host_id)} for c in changes],
    }
