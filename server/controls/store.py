"""Storage side of controls: decisions made on ingest, read back as of a moment."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from evidence.canonical import format_timestamp, utc_now_iso
from evidence.records import EvidenceRecord
from server.controls.catalog import Configs
from server.controls.evaluate import (
    CheckDecision,
    CheckStatus,
    DocumentState,
    RecordView,
    StoredDecision,
    decide,
    status_at,
)
from server.models import Bundle, CheckResult, ControlSet, Document, Host, Record


def record_decisions(
    session: Session,
    configs: Configs,
    host_id: str,
    bundle_id: str,
    records: Sequence[EvidenceRecord],
    evaluated_at: str,
) -> int:
    """Evaluate every check on the matching records of a newly stored bundle and add the
    decisions. A record older than the one a check last decided on (a late bundle, an
    old medium imported after newer evidence) does not override it."""
    latest = _latest_collected(session, host_id)
    added = 0
    for index, record in enumerate(records):
        checks = [c for c in configs.checks if c.collector == record.collector]
        if not checks:
            continue
        view = RecordView(
            bundle_id, index, record.collector, record.collected_at, record.facts, record.errors
        )
        for check in checks:
            if latest.get(check.id, "") > record.collected_at:
                continue
            session.add(stored_decision(host_id, decide(check, view), evaluated_at))
            added += 1
    return added


def stored_decision(host_id: str, decision: CheckDecision, evaluated_at: str) -> CheckResult:
    """The row that keeps a decision: it cites the record it was made on."""
    return CheckResult(
        host_id=host_id,
        check_id=decision.check_id,
        decision=decision.decision,
        observed=json.dumps(decision.observed, ensure_ascii=False, default=str),
        reason=decision.reason,
        bundle_id=decision.bundle_id,
        record_index=decision.record_index,
        collected_at=decision.collected_at,
        evaluated_at=evaluated_at,
    )


def _latest_collected(session: Session, host_id: str) -> dict[str, str]:
    rows = session.execute(
        select(CheckResult.check_id, func.max(CheckResult.collected_at))
        .where(CheckResult.host_id == host_id)
        .group_by(CheckResult.check_id)
    ).all()
    return {check_id: collected for check_id, collected in rows}


def decisions_as_of(
    session: Session, as_of: datetime, host_ids: Iterable[str] | None = None
) -> dict[tuple[str, str], StoredDecision]:
    """The newest decision per (host, check) made at or before `as_of`."""
    moment = format_timestamp(as_of)
    newest = (
        select(func.max(CheckResult.id))
        .where(CheckResult.evaluated_at <= moment)
        .group_by(CheckResult.host_id, CheckResult.check_id)
    )
    if host_ids is not None:
        newest = newest.where(CheckResult.host_id.in_(list(host_ids)))
    rows = session.scalars(select(CheckResult).where(CheckResult.id.in_(newest))).all()
    return {
        (row.host_id, row.check_id): StoredDecision(
            row.host_id,
            row.check_id,
            row.decision,  # type: ignore[arg-type]  # written only from Decision values
            json.loads(row.observed),
            row.reason,
            row.bundle_id,
            row.record_index,
            row.collected_at,
            row.evaluated_at,
        )
        for row in rows
    }


def hosts_as_of(session: Session, as_of: datetime) -> dict[str, str]:
    """Hosts known at `as_of`, each with the collection time of its newest evidence
    received by then."""
    moment = format_timestamp(as_of)
    rows = session.execute(
        select(Record.host_id, func.max(Record.collected_at))
        .join(Bundle, Bundle.id == Record.bundle_id)
        .where(Bundle.received_at <= moment)
        .group_by(Record.host_id)
    ).all()
    return {host_id: last for host_id, last in rows}


def check_statuses(
    session: Session,
    configs: Configs,
    as_of: datetime,
    host_ids: Iterable[str] | None = None,
) -> list[CheckStatus]:
    """Every (host, check) status at `as_of`, freshness applied."""
    hosts = hosts_as_of(session, as_of)
    if host_ids is not None:
        wanted = set(host_ids)
        hosts = {h: seen for h, seen in hosts.items() if h in wanted}
    stored = decisions_as_of(session, as_of, hosts)
    return [
        status_at(
            check,
            host_id,
            stored.get((host_id, check.id)),
            last_seen,
            as_of,
            configs.default_freshness,
        )
        for host_id, last_seen in sorted(hosts.items())
        for check in configs.checks
    ]


def document_states(session: Session, framework: str, as_of: datetime) -> dict[str, DocumentState]:
    moment = format_timestamp(as_of)
    today = as_of.date().isoformat()
    rows = session.scalars(
        select(Document).where(Document.framework == framework, Document.uploaded_at <= moment)
    ).all()
    states: dict[str, DocumentState] = {}
    for row in rows:
        current = states.get(row.control_id, DocumentState(0, 0))
        if row.valid_until >= today:
            states[row.control_id] = DocumentState(current.valid + 1, current.expired)
        else:
            states[row.control_id] = DocumentState(current.valid, current.expired + 1)
    return states


def host_names(session: Session) -> dict[str, str]:
    return {host.id: host.hostname for host in session.scalars(select(Host)).all()}


def controls_fingerprint(configs: Configs) -> str:
    """SHA-256 of the checks as loaded: any change to a condition, window or mapping
    gives another fingerprint."""
    from evidence.canonical import canonical_json

    checks = sorted(
        (check.model_dump(mode="json") for check in configs.checks), key=lambda c: c["id"]
    )
    return hashlib.sha256(canonical_json(checks)).hexdigest()


def ensure_evaluated(sessions: sessionmaker[Session], configs: Configs) -> int:
    """When the checks changed since evidence was last evaluated (a new Dossier version,
    a sector's own checks edited), decide them again on every host's newest records, so
    status reflects the rules in force without waiting for new evidence. Past decisions
    stay: status as of an earlier moment is what it was then. Returns decisions added."""
    fingerprint = controls_fingerprint(configs)
    with sessions() as session:
        if session.get(ControlSet, fingerprint) is not None:
            return 0
        now = utc_now_iso()
        added = 0
        hosts = session.scalars(select(Record.host_id).distinct()).all()
        for host_id in hosts:
            newest = (
                select(Record.collector, func.max(Record.collected_at).label("collected_at"))
                .where(Record.host_id == host_id)
                .group_by(Record.collector)
                .subquery()
            )
            rows = session.scalars(
                select(Record)
                .join(
                    newest,
                    (Record.collector == newest.c.collector)
                    & (Record.collected_at == newest.c.collected_at),
                )
                .where(Record.host_id == host_id)
            ).all()
            for row in rows:
                checks = [c for c in configs.checks if c.collector == row.collector]
                view = RecordView(
                    row.bundle_id,
                    row.idx,
                    row.collector,
                    row.collected_at,
                    json.loads(row.facts),
                    json.loads(row.errors),
                )
                for check in checks:
                    session.add(stored_decision(host_id, decide(check, view), now))
                    added += 1
        session.add(ControlSet(fingerprint=fingerprint, checks=len(configs.checks), applied_at=now))
        try:
            session.commit()
        except IntegrityError:  # another process did the same at the same time
            session.rollback()
            return 0
        return added
