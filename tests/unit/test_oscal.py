"""OSCAL assessment-results: validity against compliance-trestle's OSCAL 1.1.x models,
determinism, references that resolve, and the status mapping."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest

from server.export.oscal import (
    DOSSIER_NS,
    OSCAL_VERSION,
    OscalExportError,
    assessment_results,
    control_token,
)

trestle_ar = pytest.importorskip(
    "trestle.oscal.assessment_results", reason="compliance-trestle (dev extra) validates OSCAL"
)
trestle_oscal = pytest.importorskip("trestle.oscal")

WEB = "h-8f14e45fceea167a"
DB = "h-c9f0f895fb98ab91"
BUNDLE_WEB = "b-01JD3Q8Z6K4N2W5X7Y9A1B3C5D"
BUNDLE_DB = "b-01JD3Q9A2M6P8R0T2V4X6Z8B0C"
POLICY_SHA = "3f1a9c0e5d7b2a4c6e8f0a1b3c5d7e9f1a2b4c6d8e0f2a4b6c8d0e2f4a6b8c0d"

REMEDIATION_ROOT = {
    "en": "Set `PermitRootLogin no` in /etc/ssh/sshd_config, check with `sshd -t`, then reload.",
    "zh": "在 /etc/ssh/sshd_config 中设置 `PermitRootLogin no`，用 `sshd -t` 检查后重新加载。",
}
REMEDIATION_EMPTY = {
    "en": "Set `PermitEmptyPasswords no` in /etc/ssh/sshd_config, run `sshd -t` and reload.",
    "zh": "在 /etc/ssh/sshd_config 中设置 `PermitEmptyPasswords no`，运行 `sshd -t` 并重新加载。",
}


def check(
    check_id: str,
    host_id: str,
    hostname: str,
    status: str,
    reason: str,
    observed: Any,
    bundle_id: str,
    collected_at: str,
) -> dict[str, Any]:
    """One v2 result row: the check's title, severity and remediation are in the
    summary's top-level "checks", not here."""
    return {
        "check_id": check_id,
        "host_id": host_id,
        "hostname": hostname,
        "status": status,
        "reason": reason,
        "observed": observed,
        "evidence": {
            "bundle_id": bundle_id,
            "record_index": 2,
            "collected_at": collected_at,
            "collector": "configuration.sshd",
        },
    }


ROOT_LOGIN = {
    "en": "SSH does not allow root to log in with a password",
    "zh": "禁止 root 用户通过 SSH 以口令直接登录",
}
EMPTY_PASSWORDS = {
    "en": "SSH refuses accounts with empty passwords",
    "zh": "SSH 拒绝空口令账户登录",
}


def make_summary() -> dict[str, Any]:
    """An mlps2-l3 export of two Debian hosts: a heading, an automated control failing on
    one host, and a document control with a valid policy."""
    return {
        "type": "dossier.export/v2",
        "generated_at": "2026-11-26T09:15:02.481516Z",
        "as_of": "2026-11-26T09:00:00.000000Z",
        "period": {"from": "2025-11-27", "to": "2026-11-26"},
        "framework": {
            "id": "mlps2-l3",
            "title": {
                "en": "MLPS 2.0 baseline, level 3: general security requirements",
                "zh": "网络安全等级保护基本要求（第三级 安全通用要求）",
            },
            "source": "GB/T 22239-2019 信息安全技术 网络安全等级保护基本要求",
            "version": "2019 (published 2019-05-10, effective 2019-12-01)",
        },
        "server": {"keyid": "9c2b6f1d0e4a7b3c"},
        "scope": {
            "hosts": [
                {
                    "id": WEB,
                    "hostname": "web01",
                    "first_seen": "2026-10-28T02:00:11.000000Z",
                    "last_seen": "2026-11-26T02:00:09.000000Z",
                    "days_with_evidence": 30,
                    "bundles": 30,
                },
                {
                    "id": DB,
                    "hostname": "db01",
                    "first_seen": "2026-10-28T02:03:40.000000Z",
                    "last_seen": "2026-11-26T02:03:37.000000Z",
                    "days_with_evidence": 30,
                    "bundles": 31,
                },
            ],
            "days_in_period": 365,
        },
        "coverage": {"host_days_with_evidence": 60, "host_days_in_period": 730, "ratio": "0.08"},
        "checks": {
            "ssh.no_empty_passwords": {
                "title": EMPTY_PASSWORDS,
                "severity": "high",
                "remediation": REMEDIATION_EMPTY,
                "collector": "configuration.sshd",
            },
            "ssh.root_login_disabled": {
                "title": ROOT_LOGIN,
                "severity": "critical",
                "remediation": REMEDIATION_ROOT,
                "collector": "configuration.sshd",
            },
        },
        "controls": [
            {
                "id": "8.1.4.1",
                "parent": "8.1.4",
                "title": {"en": "Identification and authentication", "zh": "身份鉴别"},
                "summary": {
                    "en": "Users who log in are identified and authenticated.",
                    "zh": "应对登录的用户进行身份标识和鉴别。",
                },
                "evidence_kind": None,
                "status": "fail",
                "hosts_passing": 0,
                "hosts_failing": 0,
                "oldest_evidence": None,
                "older_than_12_months": False,
                "checks": [],
                "documents": [],
            },
            {
                "id": "8.1.4.1.c",
                "parent": "8.1.4.1",
                "title": {
                    "en": "Protect credentials during remote administration",
                    "zh": "远程管理时防止鉴别信息被窃听",
                },
                "summary": {
                    "en": "Remote administration uses encrypted channels; root cannot log in "
                    "with a password.",
                    "zh": "远程管理时应采取必要措施防止鉴别信息在网络传输过程中被窃听。",
                },
                "evidence_kind": "automated",
                "status": "fail",
                "hosts_passing": 1,
                "hosts_failing": 1,
                "oldest_evidence": "2026-11-26T02:00:09.000000Z",
                "older_than_12_months": False,
                "checks": [
                    check(
                        "ssh.root_login_disabled",
                        WEB,
                        "web01",
                        "pass",
                        "permitrootlogin is 'no'",
                        "no",
                        BUNDLE_WEB,
                        "2026-11-26T02:00:09.000000Z",
                    ),
                    check(
                        "ssh.root_login_disabled",
                        DB,
                        "db01",
                        "fail",
                        "permitrootlogin is 'yes', expected one of no, prohibit-password, "
                        "forced-commands-only",
                        "yes",
                        BUNDLE_DB,
                        "2026-11-26T02:03:37.000000Z",
                    ),
                    check(
                        "ssh.no_empty_passwords",
                        WEB,
                        "web01",
                        "pass",
                        "permitemptypasswords is 'no'",
                        "no",
                        BUNDLE_WEB,
                        "2026-11-26T02:00:09.000000Z",
                    ),
                    check(
                        "ssh.no_empty_passwords",
                        DB,
                        "db01",
                        "pass",
                        "permitemptypasswords is 'no'",
                        "no",
                        BUNDLE_DB,
                        "2026-11-26T02:03:37.000000Z",
                    ),
                ],
                "documents": [],
            },
            {
                "id": "8.1.4.2.e",
                "parent": "8.1.4.2",
                "title": {
                    "en": "Access policy configured by authorised subjects",
                    "zh": "由授权主体配置访问控制策略",
                },
                "summary": {
                    "en": "An authorised subject configures the access control policy.",
                    "zh": "应由授权主体配置访问控制策略。",
                },
                "evidence_kind": "document",
                "status": "pass",
                "hosts_passing": 0,
                "hosts_failing": 0,
                "oldest_evidence": None,
                "older_than_12_months": False,
                "checks": [],
                "documents": [
                    {
                        "sha256": POLICY_SHA,
                        "filename": "访问控制策略-v3.pdf",
                        "type": "policy",
                        "uploaded_by": "admin",
                        "uploaded_at": "2026-03-02T06:41:19.204311Z",
                        "valid_until": "2027-03-01",
                        "expired": False,
                    }
                ],
            },
        ],
        "gaps": [
            {
                "kind": "check",
                "check_id": "ssh.root_login_disabled",
                "status": "fail",
                "controls": ["8.1.4.1.c"],
                "hosts": [
                    {"host_id": DB, "hostname": "db01", "reason": "permitrootlogin is 'yes'"}
                ],
            }
        ],
        "bundles": [
            {
                "id": BUNDLE_WEB,
                "agent_id": "a-web01",
                "host_id": WEB,
                "seq": 30,
                "created_at": "2026-11-26T02:00:10.000000Z",
                "log_index": 58,
            },
            {
                "id": BUNDLE_DB,
                "agent_id": "a-db01",
                "host_id": DB,
                "seq": 31,
                "created_at": "2026-11-26T02:03:38.000000Z",
                "log_index": 59,
            },
        ],
        "counts": {"fail": 1, "pass": 1},
    }


def parse(doc: dict[str, Any]) -> Any:
    """Parse with trestle's pydantic models (every model forbids unknown keys)."""
    model = trestle_ar.AssessmentResults
    body = doc["assessment-results"]
    if hasattr(model, "model_validate"):  # trestle built on pydantic v2 proper
        return model.model_validate(body)
    return model.parse_obj(body)


def result_of(doc: dict[str, Any]) -> dict[str, Any]:
    results: list[dict[str, Any]] = doc["assessment-results"]["results"]
    assert len(results) == 1
    return results[0]


def findings_by_control(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = {}
    for finding in result_of(doc)["findings"]:
        (control_id,) = [
            p["value"] for p in finding["target"]["props"] if p["name"] == "control-id"
        ]
        found[control_id] = finding
    return found


def test_document_parses_with_trestle_oscal_models() -> None:
    doc = assessment_results(make_summary())
    model = parse(doc)
    assert str(model.metadata.oscal_version.__root__) == OSCAL_VERSION
    # The version is one the installed models are written for.
    assert OSCAL_VERSION.startswith("1.1.")
    assert trestle_oscal.OSCAL_VERSION.startswith("1.1.")
    assert len(model.results[0].findings) == 3
    assert len(model.results[0].observations) == 3  # two sshd records, one document


def test_validator_rejects_a_raw_numeric_control_id() -> None:
    """The trestle models do check tokens: a control id such as "8.1.4.1.c" is not an
    OSCAL token, which is why the generator escapes it."""
    doc = assessment_results(make_summary())
    broken = copy.deepcopy(doc)
    result_of(broken)["findings"][1]["target"]["target-id"] = "8.1.4.1.c"
    with pytest.raises(Exception, match=r"target-id|target_id"):
        parse(broken)


def test_same_input_gives_identical_json() -> None:
    first = json.dumps(assessment_results(make_summary()), ensure_ascii=False)
    second = json.dumps(assessment_results(make_summary()), ensure_ascii=False)
    assert first == second


def test_summary_is_not_modified() -> None:
    summary = make_summary()
    assessment_results(summary)
    assert summary == make_summary()


def test_uuids_are_unique_and_stable_per_subject() -> None:
    doc = assessment_results(make_summary())
    text = json.dumps(doc)
    body = doc["assessment-results"]
    result = result_of(doc)
    defined = (
        [body["uuid"], result["uuid"]]
        + [r["uuid"] for r in body["back-matter"]["resources"]]
        + [i["uuid"] for i in result["local-definitions"]["inventory-items"]]
        + [o["uuid"] for o in result["observations"]]
        + [f["uuid"] for f in result["findings"]]
    )
    assert len(defined) == len(set(defined))
    # A later export (new as_of) keeps host and observation uuids, changes findings.
    later = make_summary()
    later["as_of"] = "2026-11-27T09:00:00.000000Z"
    later_doc = assessment_results(later)
    later_result = result_of(later_doc)
    assert [i["uuid"] for i in later_result["local-definitions"]["inventory-items"]] == [
        i["uuid"] for i in result["local-definitions"]["inventory-items"]
    ]
    assert [o["uuid"] for o in later_result["observations"]] == [
        o["uuid"] for o in result["observations"]
    ]
    assert later_result["findings"][0]["uuid"] != result["findings"][0]["uuid"]
    assert later_doc["assessment-results"]["uuid"] != body["uuid"]
    assert text == json.dumps(assessment_results(make_summary()))


def test_every_reference_resolves() -> None:
    doc = assessment_results(make_summary())
    body = doc["assessment-results"]
    result = result_of(doc)
    observations = {o["uuid"]: o for o in result["observations"]}
    hosts = {i["uuid"] for i in result["local-definitions"]["inventory-items"]}
    tools = {c["uuid"] for c in result["local-definitions"]["assessment-assets"]["components"]}
    resources = {r["uuid"] for r in body["back-matter"]["resources"]}

    assert body["import-ap"]["href"].removeprefix("#") in resources
    for finding in result["findings"]:
        for related in finding.get("related-observations", []):
            assert related["observation-uuid"] in observations
    for item in [*result["findings"], *result["observations"]]:
        for origin in item["origins"]:
            for actor in origin["actors"]:
                assert actor["actor-uuid"] in tools
    for observation in result["observations"]:
        for subject in observation.get("subjects", []):
            assert subject["type"] == "inventory-item"
            assert subject["subject-uuid"] in hosts
    # Every observation is used by some finding.
    used = {
        r["observation-uuid"] for f in result["findings"] for r in f.get("related-observations", [])
    }
    assert used == set(observations)


def test_result_window_and_reviewed_controls() -> None:
    summary = make_summary()
    doc = assessment_results(summary)
    result = result_of(doc)
    metadata = doc["assessment-results"]["metadata"]
    assert metadata["last-modified"] == summary["generated_at"]
    assert metadata["oscal-version"] == OSCAL_VERSION
    assert "网络安全等级保护基本要求" in metadata["title"]
    assert "MLPS 2.0 baseline" in metadata["title"]
    assert result["start"] == "2025-11-27T00:00:00.000000Z"
    assert result["end"] == summary["as_of"]
    (selection,) = result["reviewed-controls"]["control-selections"]
    assert [c["control-id"] for c in selection["include-controls"]] == [
        control_token(c["id"]) for c in summary["controls"]
    ]
    assert [c["control-id"] for c in selection["include-controls"]] == [
        "_8.1.4.1",
        "_8.1.4.1.c",
        "_8.1.4.2.e",
    ]
    items = result["local-definitions"]["inventory-items"]
    assert [i["description"] for i in items] == [
        f"Host web01 (Dossier host {WEB})",
        f"Host db01 (Dossier host {DB})",
    ]


def test_one_observation_per_cited_record_and_document() -> None:
    doc = assessment_results(make_summary())
    result = result_of(doc)
    hosts = {
        next(p["value"] for p in i["props"] if p["name"] == "hostname"): i["uuid"]
        for i in result["local-definitions"]["inventory-items"]
    }
    web, db, policy = result["observations"]
    assert web["methods"] == ["TEST"]
    assert web["collected"] == "2026-11-26T02:00:09.000000Z"
    assert web["subjects"][0]["subject-uuid"] == hosts["web01"]
    assert db["subjects"][0]["subject-uuid"] == hosts["db01"]
    assert web["relevant-evidence"][0]["href"] == f"../bundles/{BUNDLE_WEB}.json"
    assert {p["name"]: p["value"] for p in web["props"]} == {
        "bundle-id": BUNDLE_WEB,
        "record-index": "2",
        "collector": "configuration.sshd",
        "log-index": "58",
    }
    assert all(p["ns"] == DOSSIER_NS for p in web["props"])
    assert policy["methods"] == ["EXAMINE"]
    assert policy["relevant-evidence"][0]["href"] == f"../documents/{POLICY_SHA}"
    assert policy["collected"] == "2026-03-02T06:41:19.204311Z"
    assert policy["expires"] == "2027-03-02T00:00:00.000000Z"
    assert "subjects" not in policy


def test_findings_map_statuses() -> None:
    doc = assessment_results(make_summary())
    findings = findings_by_control(doc)
    observations = {o["uuid"]: o for o in result_of(doc)["observations"]}

    heading = findings["8.1.4.1"]
    assert heading["target"]["type"] == "objective-id"
    assert heading["target"]["target-id"] == "_8.1.4.1"
    assert heading["target"]["status"] == {
        "state": "not-satisfied",
        "reason": "fail",
        "remarks": "fail 不符合: at least one check failed.",
    }
    assert "related-observations" not in heading
    assert "sub-controls (8.1.4.1.c)" in heading["description"]

    ssh = findings["8.1.4.1.c"]
    assert ssh["target"]["status"]["state"] == "not-satisfied"
    related = [observations[r["observation-uuid"]] for r in ssh["related-observations"]]
    assert [o["title"] for o in related] == [
        "configuration.sshd on web01",
        "configuration.sshd on db01",
    ]
    line = "- db01: check ssh.root_login_disabled: fail: permitrootlogin is 'yes'"
    assert line in ssh["description"]
    # Each check is named once, with its title from summary["checks"], before its hosts.
    lines = ssh["description"].splitlines()
    heading = (
        "Check ssh.root_login_disabled: 禁止 root 用户通过 SSH 以口令直接登录 / "
        "SSH does not allow root to log in with a password (severity critical)."
    )
    assert lines.count(heading) == 1
    assert lines.index(heading) < next(i for i, x in enumerate(lines) if x.startswith(line))
    assert (
        sum(x.startswith("Check ssh.no_empty_passwords: SSH 拒绝空口令账户登录") for x in lines)
        == 1
    )
    assert sum(x.startswith("- ") for x in lines) == 4  # one line per host result

    policy = findings["8.1.4.2.e"]
    assert policy["target"]["status"] == {
        "state": "satisfied",
        "reason": "pass",
        "remarks": "pass 符合: every check passed and every required document is valid.",
    }
    (document,) = [observations[r["observation-uuid"]] for r in policy["related-observations"]]
    assert document["methods"] == ["EXAMINE"]


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("pass", "satisfied"),
        ("fail", "not-satisfied"),
        ("error", "not-satisfied"),
        ("stale", "not-satisfied"),
        ("no_evidence", "not-satisfied"),
        ("document_missing", "not-satisfied"),
        ("document_expired", "not-satisfied"),
    ],
)
def test_every_status_maps_and_validates(status: str, state: str) -> None:
    summary = make_summary()
    summary["controls"][2]["status"] = status
    doc = assessment_results(summary)
    parse(doc)
    target = findings_by_control(doc)["8.1.4.2.e"]["target"]
    assert target["status"]["state"] == state
    assert target["status"]["reason"] == status
    assert target["status"]["remarks"].startswith(f"{status} ")


def test_not_applicable_uses_implementation_status_not_objective_status() -> None:
    summary = make_summary()
    summary["controls"][1]["status"] = "not_applicable"
    for row in summary["controls"][1]["checks"]:
        row["status"] = "not_applicable"
    doc = assessment_results(summary)
    parse(doc)
    finding = findings_by_control(doc)["8.1.4.1.c"]
    assert "status" not in finding["target"]
    assert finding["target"]["implementation-status"]["state"] == "not-applicable"
    assert {"name": "status", "ns": DOSSIER_NS, "value": "not_applicable"} in finding["props"]


def test_check_without_evidence_and_host_outside_scope() -> None:
    summary = make_summary()
    rows = summary["controls"][1]["checks"]
    rows[1]["evidence"] = None
    rows[1]["status"] = "no_evidence"
    rows.append({**rows[0], "host_id": "h-0000000000000001", "hostname": "old01"})
    rows[-1]["evidence"] = {**rows[0]["evidence"], "bundle_id": "b-old", "record_index": 0}
    doc = assessment_results(summary)
    parse(doc)
    result = result_of(doc)
    items = result["local-definitions"]["inventory-items"]
    assert len(items) == 3
    assert {"name": "in-scope", "ns": DOSSIER_NS, "value": "false"} in items[2]["props"]
    assert [o["title"] for o in result["observations"]] == [
        "configuration.sshd on web01",
        "configuration.sshd on db01",  # still cited by ssh.no_empty_passwords
        "configuration.sshd on old01",
        "Document 访问控制策略-v3.pdf",
    ]


def test_collector_and_titles_come_from_check_definitions() -> None:
    summary = make_summary()
    for row in summary["controls"][1]["checks"]:
        del row["evidence"]["collector"]
    summary["checks"]["ssh.root_login_disabled"]["collector"] = "configuration.sshd_config"
    del summary["checks"]["ssh.no_empty_passwords"]
    doc = assessment_results(summary)
    parse(doc)
    titles = [o["title"] for o in result_of(doc)["observations"]]
    assert titles[:2] == ["configuration.sshd_config on web01", "configuration.sshd_config on db01"]
    description = findings_by_control(doc)["8.1.4.1.c"]["description"]
    assert "Check ssh.no_empty_passwords." in description.splitlines()  # no definition: id only


def test_control_tokens() -> None:
    assert control_token("Art.11") == "Art.11"
    assert control_token("ac-2") == "ac-2"
    assert control_token("8.1.4.1.a") == "_8.1.4.1.a"
    assert control_token("Art.21(3)") == "_Art.21_28_3_29_"
    assert control_token("A 1_2") == "_A_20_1_5f_2"
    # Escaped and pass-through ids keep the original in a property; parsing stays valid.
    summary = make_summary()
    summary["controls"][2]["id"] = "Art.21(3)"
    doc = assessment_results(summary)
    parse(doc)
    assert "Art.21(3)" in findings_by_control(doc)


def test_clashing_control_tokens_are_refused() -> None:
    summary = make_summary()
    summary["controls"][0]["id"] = "_8.1.4.1.c"  # already a token, same as 8.1.4.1.c escaped
    with pytest.raises(OscalExportError, match="same OSCAL id"):
        assessment_results(summary)


def test_unknown_status_is_refused() -> None:
    summary = make_summary()
    summary["controls"][1]["status"] = "green"
    with pytest.raises(OscalExportError, match="unknown status 'green'"):
        assessment_results(summary)


CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")


@pytest.mark.parametrize("languages", [["en"], ["zh"]])
def test_one_language_package_writes_titles_and_remarks_in_it(languages: list[str]) -> None:
    both = assessment_results(make_summary())
    doc = assessment_results({**make_summary(), "languages": languages})
    parse(doc)
    text = json.dumps(doc, ensure_ascii=False)
    # the standard's official title and file names are data, in one language
    text = text.replace(make_summary()["framework"]["source"], "")
    for control in make_summary()["controls"]:
        for document in control.get("documents") or []:
            text = text.replace(document["filename"], "")
    findings = findings_by_control(doc)
    failing = next(f for f in findings.values() if f["target"]["status"]["reason"] == "fail")
    remarks = failing["target"]["status"]["remarks"]
    if languages == ["en"]:
        assert not CJK.search(text), CJK.search(text)
        assert remarks == "fail at least one check failed."
    else:
        assert remarks == "fail 不符合."
        assert findings_by_control(both).keys() == findings.keys()
        for control_id, finding in findings.items():
            title = finding["target"]["title"]
            assert CJK.search(title) or title == control_id, title
            assert " / " not in title
