"""Significant changes between consecutive snapshots of a host (CII Regulations Art. 11).

`diff` is pure: the facts of one collector before and after, to the changes that an
operator may have to report. `host_changes` reads the records and pairs them up.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from evidence.canonical import format_timestamp, parse_timestamp
from server.models import Bundle, Host, Record

# Collectors whose facts carry the changes that matter, and what is compared.
WATCHED = (
    "configuration.services",
    "access.accounts",
    "inventory.system",
    "configuration.network",
    "configuration.sshd",
)
ADMIN_GROUPS = ("sudo", "wheel", "admin", "root")
SSHD_POLICY = (
    "permitrootlogin",
    "passwordauthentication",
    "permitemptypasswords",
    "pubkeyauthentication",
    "kbdinteractiveauthentication",
    "maxauthtries",
    "ciphers",
    "macs",
    "kexalgorithms",
    "allowusers",
    "allowgroups",
    "denyusers",
    "denygroups",
    "port",
    "listenaddress",
)


@dataclass(frozen=True)
class EvidenceRef:
    bundle_id: str
    record_index: int
    collected_at: str


@dataclass(frozen=True)
class Change:
    host_id: str
    kind: str
    summary: str
    before: Any
    after: Any
    at: str  # when the later snapshot was collected
    before_evidence: EvidenceRef | None
    after_evidence: EvidenceRef | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Delta:
    kind: str
    summary: str
    before: Any
    after: Any


def diff(collector: str, before: Mapping[str, Any], after: Mapping[str, Any]) -> list[Delta]:
    """Significant differences of one collector's facts between two snapshots."""
    if collector == "configuration.services":
        return _listening(before, after)
    if collector == "access.accounts":
        return _accounts(before, after)
    if collector == "inventory.system":
        return _os(before, after)
    if collector == "configuration.network":
        return _firewall(before, after)
    if collector == "configuration.sshd":
        return _sshd(before, after)
    return []


def _listening(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[Delta]:
    old, new = before.get("listening"), after.get("listening")
    if old is None or new is None:  # not observed on one side: no claim either way
        return []

    # A service is its protocol and port: the same port on another address is not new.
    def key(socket: Mapping[str, Any]) -> tuple[str, int]:
        return str(socket.get("protocol")), int(socket.get("port") or 0)

    known = {key(s) for s in old}
    deltas = []
    reported: set[tuple[str, int]] = set()
    for socket in new:
        if key(socket) in known or key(socket) in reported:
            continue
        reported.add(key(socket))
        owner = socket.get("process") or socket.get("user") or socket.get("uid")
        deltas.append(
            Delta(
                "new_listening_service",
                f"{socket.get('protocol')} port {socket.get('port')} on "
                f"{socket.get('address')} now listening ({owner if owner is not None else '?'})",
                None,
                socket,
            )
        )
    return deltas


def _accounts(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[Delta]:
    deltas: list[Delta] = []
    old_root = set(before.get("uid0_accounts") or [])
    new_root = set(after.get("uid0_accounts") or [])
    if before.get("uid0_accounts") is not None and after.get("uid0_accounts") is not None:
        for name in sorted(new_root - old_root):
            deltas.append(
                Delta(
                    "new_uid0_account",
                    f"account {name} now has uid 0",
                    sorted(old_root),
                    sorted(new_root),
                )
            )
    old_groups = before.get("admin_groups") or {}
    new_groups = after.get("admin_groups") or {}
    if before.get("admin_groups") is not None and after.get("admin_groups") is not None:
        for group in ADMIN_GROUPS:
            added = set(new_groups.get(group) or []) - set(old_groups.get(group) or [])
            for name in sorted(added - (new_root - old_root)):  # a new uid 0 is said once
                deltas.append(
                    Delta(
                        "new_admin_account",
                        f"account {name} joined admin group {group}",
                        sorted(old_groups.get(group) or []),
                        sorted(new_groups.get(group) or []),
                    )
                )
    return deltas


def _os(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[Delta]:
    old = (before.get("os_release") or {}) if isinstance(before.get("os_release"), dict) else {}
    new = (after.get("os_release") or {}) if isinstance(after.get("os_release"), dict) else {}
    old_major = str(old.get("version_id") or "").split(".")[0]
    new_major = str(new.get("version_id") or "").split(".")[0]
    if (old.get("id"), old_major) != (new.get("id"), new_major) and old and new:
        return [
            Delta(
                "os_upgrade",
                f"operating system changed from {old.get('pretty_name')} "
                f"to {new.get('pretty_name')}",
                old,
                new,
            )
        ]
    return []


def _firewall(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[Delta]:
    def hashes(facts: Mapping[str, Any]) -> list[str] | None:
        firewall = facts.get("firewall")
        rulesets = firewall.get("rulesets") if isinstance(firewall, dict) else None
        if rulesets is None:
            return None
        return sorted(str(r.get("sha256")) for r in rulesets)

    old, new = hashes(before), hashes(after)
    if old is None or new is None or old == new:
        return []
    return [Delta("firewall_changed", "firewall ruleset changed", old, new)]


def _sshd(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[Delta]:
    old, new = before.get("settings"), after.get("settings")
    if not isinstance(old, dict) or not isinstance(new, dict):
        return []
    changed = {k: (old.get(k), new.get(k)) for k in SSHD_POLICY if old.get(k) != new.get(k)}
    if not changed:
        return []
    return [
        Delta(
            "sshd_policy_changed",
            "sshd " + ", ".join(f"{k}: {a!r} → {b!r}" for k, (a, b) in changed.items()),
            {k: a for k, (a, _) in changed.items()},
            {k: b for k, (_, b) in changed.items()},
        )
    ]


def host_changes(
    session: Session, since: datetime, now: datetime, silent_after: timedelta
) -> list[Change]:
    """Changes collected since `since` on every host, plus new and silent hosts."""
    moment = format_timestamp(since)
    changes: list[Change] = []
    for host in session.scalars(select(Host).order_by(Host.id)).all():
        if host.first_seen >= moment:
            changes.append(
                Change(
                    host.id,
                    "new_host",
                    f"new host {host.hostname} first reported",
                    None,
                    {"hostname": host.hostname},
                    host.first_seen,
                    None,
                    None,
                )
            )
        last = _newest_collected(session, host.id)
        if last is not None and now - parse_timestamp(last) > silent_after:
            changes.append(
                Change(
                    host.id,
                    "host_silent",
                    f"host {host.hostname} has not reported since {last}",
                    last,
                    None,
                    format_timestamp(now),
                    None,
                    None,
                )
            )
        for collector in WATCHED:
            changes.extend(_collector_changes(session, host.id, collector, moment))
    return sorted(changes, key=lambda c: (c.at, c.host_id, c.kind))


def _newest_collected(session: Session, host_id: str) -> str | None:
    rows = session.scalars(
        select(Record.collected_at)
        .where(Record.host_id == host_id)
        .order_by(Record.collected_at.desc())
        .limit(1)
    ).all()
    return rows[0] if rows else None


def _collector_changes(session: Session, host_id: str, collector: str, since: str) -> list[Change]:
    query = (
        select(Record)
        .join(Bundle, Bundle.id == Record.bundle_id)
        .where(Record.host_id == host_id, Record.collector == collector)
    )
    baseline = session.scalars(
        query.where(Record.collected_at < since).order_by(Record.collected_at.desc()).limit(1)
    ).all()
    later = session.scalars(
        query.where(Record.collected_at >= since).order_by(Record.collected_at)
    ).all()
    snapshots = [*baseline, *later]
    changes = []
    for older, newer in pairwise(snapshots):
        for delta in diff(collector, json.loads(older.facts), json.loads(newer.facts)):
            changes.append(
                Change(
                    host_id,
                    delta.kind,
                    delta.summary,
                    delta.before,
                    delta.after,
                    newer.collected_at,
                    EvidenceRef(older.bundle_id, older.idx, older.collected_at),
                    EvidenceRef(newer.bundle_id, newer.idx, newer.collected_at),
                )
            )
    return changes
