"""Decisions, freshness over time, control aggregation, change detection (pure parts)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from collectors.registry import all_collectors
from server.controls.catalog import Check, load_configs
from server.controls.changes import diff
from server.controls.evaluate import (
    CheckStatus,
    DocumentState,
    RecordView,
    StoredDecision,
    control_results,
    decide,
    status_at,
)
from tests.controls.test_catalog import CHECK, write

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def check(**changes: Any) -> Check:
    return Check.model_validate({**CHECK, **changes})


def view(facts: dict[str, Any], errors: list[str] | None = None) -> RecordView:
    return RecordView(
        "b" * 64, 2, "access.accounts", "2026-11-20T08:00:00.000000Z", facts, errors or []
    )


def test_decisions_cite_the_record() -> None:
    failed = decide(check(), view({"uid0_accounts": ["root", "toor"]}))
    assert (failed.decision, failed.observed) == ("fail", ["root", "toor"])
    assert (failed.bundle_id, failed.record_index) == ("b" * 64, 2)
    assert "expected ['root']" in failed.reason
    assert decide(check(), view({"uid0_accounts": ["root"]})).decision == "pass"


def test_unknown_facts_are_an_error_with_the_collectors_reason() -> None:
    decision = decide(check(), view({"uid0_accounts": None}, ["/etc/passwd: permission denied"]))
    assert decision.decision == "error"
    assert "cannot decide" in decision.reason and "permission denied" in decision.reason


def test_when_makes_a_check_not_applicable() -> None:
    guarded = check(when={"path": "facts.shadow_readable", "equals": True})
    decision = decide(guarded, view({"uid0_accounts": ["root", "x"], "shadow_readable": False}))
    assert decision.decision == "not_applicable"


def stored(collected: datetime) -> StoredDecision:
    stamp = collected.strftime("%Y-%m-%dT%H:%M:%S.000000Z")
    return StoredDecision("h1", CHECK["id"], "pass", ["root"], "ok", "b" * 64, 0, stamp, stamp)


def test_freshness_window_makes_old_evidence_stale_and_silent_hosts_unknown() -> None:
    one_day = check()  # freshness 1d
    fresh = status_at(
        one_day,
        "h1",
        stored(T0),
        "2026-11-20T08:00:00.000000Z",
        T0 + timedelta(hours=23),
        timedelta(days=7),
    )
    assert fresh.status == "pass"
    # The host still reports (other collectors), but this check's evidence is old.
    stale = status_at(
        one_day,
        "h1",
        stored(T0),
        "2026-11-22T07:00:00.000000Z",
        T0 + timedelta(days=2),
        timedelta(days=7),
    )
    assert stale.status == "stale" and "older than the 1d window" in stale.reason
    # The host stopped reporting altogether.
    silent = status_at(
        one_day,
        "h1",
        stored(T0),
        "2026-11-20T08:00:00.000000Z",
        T0 + timedelta(days=2),
        timedelta(days=7),
    )
    assert silent.status == "no_evidence" and "host silent since" in silent.reason
    assert status_at(one_day, "h1", None, None, T0, timedelta(days=7)).status == "no_evidence"


def test_controls_aggregate_checks_documents_and_children(tmp_path: Path) -> None:
    configs = load_configs([write(tmp_path)], all_collectors())

    def status(*states: str) -> list[CheckStatus]:
        return [CheckStatus(f"h{i}", CHECK["id"], s, "r") for i, s in enumerate(states)]  # type: ignore[arg-type]

    results = control_results(configs, "sector-x", status("pass", "pass"), {})
    assert results["X.1.a"].status == "pass" and results["X.1"].status == "pass"
    assert results["X.2"].status == "document_missing"
    results = control_results(
        configs, "sector-x", status("pass", "fail", "stale"), {"X.2": DocumentState(1, 0)}
    )
    assert (results["X.1.a"].status, results["X.1"].status) == ("fail", "fail")
    assert (results["X.1.a"].hosts_passing, results["X.1.a"].hosts_failing) == (1, 1)
    assert results["X.2"].status == "pass"
    results = control_results(
        configs, "sector-x", status("pass", "stale"), {"X.2": DocumentState(0, 2)}
    )
    assert results["X.1.a"].status == "stale" and results["X.2"].status == "document_expired"
    assert control_results(configs, "sector-x", [], {})["X.1.a"].status == "no_evidence"


def socket(port: int, process: str = "sshd") -> dict[str, Any]:
    address = "0.0.0.0"  # noqa: S104 (facts of a socket, nothing binds here)
    return {"protocol": "tcp", "family": 4, "address": address, "port": port, "process": process}


def test_changes_between_snapshots() -> None:
    before = {"listening": [socket(22)]}
    after = {
        "listening": [
            socket(22),
            socket(8080, "python3"),
            {**socket(8080), "family": 6, "address": "::"},
        ]
    }
    (delta,) = diff("configuration.services", before, after)
    assert delta.kind == "new_listening_service" and "port 8080" in delta.summary
    assert diff("configuration.services", before, {"listening": None}) == []
    accounts = diff(
        "access.accounts",
        {"uid0_accounts": ["root"], "admin_groups": {"sudo": ["alice"], "root": ["root"]}},
        {
            "uid0_accounts": ["root", "toor"],
            "admin_groups": {"sudo": ["alice", "bob"], "root": ["root", "toor"]},
        },
    )
    assert [(d.kind, d.summary) for d in accounts] == [
        ("new_uid0_account", "account toor now has uid 0"),
        ("new_admin_account", "account bob joined admin group sudo"),
    ]
    upgrade = diff(
        "inventory.system",
        {"os_release": {"id": "debian", "version_id": "11", "pretty_name": "Debian 11"}},
        {"os_release": {"id": "debian", "version_id": "12", "pretty_name": "Debian 12"}},
    )
    assert [d.kind for d in upgrade] == ["os_upgrade"]
    point = diff(
        "inventory.system",
        {"os_release": {"id": "rocky", "version_id": "9.3"}},
        {"os_release": {"id": "rocky", "version_id": "9.4"}},
    )
    assert point == []
    sshd = diff(
        "configuration.sshd",
        {"settings": {"permitrootlogin": "no", "port": [22]}},
        {"settings": {"permitrootlogin": "yes", "port": [22]}},
    )
    assert [d.after for d in sshd] == [{"permitrootlogin": "yes"}]
    firewall = diff(
        "configuration.network",
        {"firewall": {"rulesets": [{"sha256": "a"}]}},
        {"firewall": {"rulesets": [{"sha256": "b"}]}},
    )
    assert [d.kind for d in firewall] == ["firewall_changed"]
