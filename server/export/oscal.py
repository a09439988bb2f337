"""NIST OSCAL assessment-results for the inspector export (`oscal/assessment-results.json`).

`assessment_results(summary)` is a pure function of the export's `summary.json` data
(`dossier.export/v2`, see the export brief): the same summary always gives the same
document, byte for byte once serialised, because every UUID is a UUID 5 over a fixed
namespace and the Dossier ids it stands for, and every list follows the summary's own
order.

What a caller may rely on:

* The document targets OSCAL `OSCAL_VERSION` (1.1.x) and parses with
  compliance-trestle's 1.1.x models (the unit test checks this).
* One result, `start` = the first instant of the period, `end` = `as_of`.
* Hosts are inventory items (observation subjects). Their UUIDs depend on the host id
  only, so the same host has the same UUID in every export.
* One observation per distinct evidence record `(bundle_id, record_index)` cited by a
  check (method TEST), and one per distinct document `sha256` (method EXAMINE); their
  UUIDs depend on the record or document only.
* One finding per control, in summary order; `related-observations` lists exactly the
  observations built from that control's checks and documents. Its description names
  each check once, with its title and severity from the summary's top-level `checks`,
  followed by one line per host result.

Mapping decisions (OSCAL has two objective states, Dossier has eight statuses):

* OSCAL control and objective ids are tokens (XML NCNames): they cannot start with a
  digit or hold `(`. `control_token` keeps a valid id as it is and otherwise writes
  `_` + the id with every character outside `[A-Za-z0-9.-]` escaped as `_<hex>_`, so
  "8.1.4.1.a" becomes "_8.1.4.1.a" and "Art.21(3)" becomes "_Art.21_28_3_29_". The
  original id is always kept in the `control-id` property (Dossier namespace).
* `pass` -> `satisfied`; `fail`, `error`, `stale`, `no_evidence`, `document_missing`,
  `document_expired` -> `not-satisfied`. The objective status `reason` is the Dossier
  status word itself (OSCAL's reason is an open token list: `pass`, `fail`, `other`
  and any other token), and its `remarks` say in Chinese and English what it means.
* `not_applicable` is neither satisfied nor a deficiency, so the finding carries no
  objective `status` (it is optional in OSCAL) and instead the OSCAL-native
  `implementation-status` `not-applicable`, plus the `status` property. Tools that
  count not-satisfied findings therefore do not count it as a gap.
* Evidence hrefs are relative to this document, which sits in `oscal/` inside the zip,
  hence `../bundles/<bundle_id>.json` and `../documents/<sha256>`.
* `import-ap` points at a back-matter resource: Dossier has no separate OSCAL
  assessment plan; the plan is the framework catalog named in that resource.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

from server.export.languages import LANGUAGES, summary_languages

OSCAL_VERSION = "1.1.2"
# Namespace of Dossier's own property names. OSCAL wants a URI; trestle's models only
# accept one with an authority, so this is an https URI under the reserved `.invalid`
# TLD (RFC 2606): an identifier, not something to fetch.
DOSSIER_NS = "https://dossier.invalid/ns/oscal"
# Fixed root of every UUID in the document; never change it, or UUIDs change too.
UUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, DOSSIER_NS)
# Where package files are, relative to `oscal/assessment-results.json`.
PACKAGE_ROOT = "../"

SATISFIED = "satisfied"
NOT_SATISFIED = "not-satisfied"

# Dossier status -> (OSCAL objective state or None for "not applicable", zh, en meaning).
STATUS_MAP: dict[str, tuple[str | None, str, str]] = {
    "pass": (SATISFIED, "符合", "every check passed and every required document is valid"),
    "fail": (NOT_SATISFIED, "不符合", "at least one check failed"),
    "error": (NOT_SATISFIED, "无法判定", "at least one check could not be evaluated"),
    "stale": (
        NOT_SATISFIED,
        "证据过期",
        "the newest evidence is older than the check's freshness window",
    ),
    "no_evidence": (NOT_SATISFIED, "无证据", "a required check has no evidence record"),
    "document_missing": (NOT_SATISFIED, "缺少文档", "no valid document has been provided"),
    "document_expired": (NOT_SATISFIED, "文档已过期", "the provided document has expired"),
    "not_applicable": (None, "不适用", "the control does not apply to the hosts in scope"),
}

# XML NCName, as OSCAL's token datatype defines it.
_NAME_START = (
    "_A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u02ff\u0370-\u037d\u037f-\u1fff"
    "\u200c-\u200d\u2070-\u218f\u2c00-\u2fef\u3001-\ud7ff\uf900-\ufdcf\ufdf0-\ufffd"
)
_TOKEN = re.compile(f"[{_NAME_START}][{_NAME_START}\\-.0-9\u00b7\u0300-\u036f\u203f-\u2040]*")
_UNSAFE = re.compile(r"[^A-Za-z0-9.-]")
_SPACE = re.compile(r"\s+")


class OscalExportError(ValueError):
    """The summary cannot be expressed as OSCAL (unknown status, clashing control ids)."""


def control_token(control_id: str) -> str:
    """The OSCAL token standing for a Dossier control id (see the module docstring)."""
    if _TOKEN.fullmatch(control_id):
        return control_id
    return "_" + _UNSAFE.sub(lambda m: f"_{ord(m[0]):x}_", control_id)


def assessment_results(summary: Mapping[str, Any]) -> dict[str, Any]:
    """Build the OSCAL assessment-results document (`{"assessment-results": {...}}`)."""
    return {"assessment-results": _Builder(summary).document()}


class _Builder:
    def __init__(self, summary: Mapping[str, Any]) -> None:
        self.summary = summary
        self.languages = summary_languages(summary)
        self.framework: Mapping[str, Any] = summary["framework"]
        hosts = summary["scope"]["hosts"]
        period = summary["period"]
        # Findings and the result belong to one assessment; observations and hosts do not.
        self.assessment_key = "|".join(
            [
                str(self.framework["id"]),
                str(period["from"]),
                str(period["to"]),
                str(summary["as_of"]),
                ",".join(str(h["id"]) for h in hosts),
            ]
        )
        self.tool_uuid = _uuid("component", "dossier")
        self.hostnames: dict[str, str] = {}
        for host in hosts:
            self.hostnames[host["id"]] = host["hostname"]
        for control in summary["controls"]:
            for check in control["checks"]:
                self.hostnames.setdefault(check["host_id"], check.get("hostname") or "")
        self.log_index = {b["id"]: b.get("log_index") for b in summary.get("bundles", [])}
        # Title, severity, remediation and collector of each check, once per export.
        self.checks: Mapping[str, Mapping[str, Any]] = summary.get("checks") or {}
        self.tokens = self._tokens()

    def _tokens(self) -> dict[str, str]:
        tokens: dict[str, str] = {}
        seen: dict[str, str] = {}
        for control in self.summary["controls"]:
            control_id = control["id"]
            token = control_token(control_id)
            if seen.get(token, control_id) != control_id:
                raise OscalExportError(
                    f"controls {seen[token]!r} and {control_id!r} map to the same OSCAL id"
                )
            seen[token] = control_id
            tokens[control_id] = token
        return tokens

    # -- document --------------------------------------------------------------------

    def document(self) -> dict[str, Any]:
        digest = hashlib.sha256(
            json.dumps(self.summary, sort_keys=True, ensure_ascii=False).encode()
        ).hexdigest()
        plan_uuid = _uuid("resource", "assessment-plan", str(self.framework["id"]))
        return {
            "uuid": _uuid("assessment-results", digest),
            "metadata": self.metadata(),
            "import-ap": {
                "href": f"#{plan_uuid}",
                "remarks": "Dossier keeps no separate OSCAL assessment plan: the plan is the "
                "framework catalog described by the referenced back-matter resource.",
            },
            "results": [self.result()],
            "back-matter": {"resources": [self.plan_resource(plan_uuid)]},
        }

    def metadata(self) -> dict[str, Any]:
        title = self.framework.get("title") or {}
        summary = self.summary
        return {
            "title": "Dossier "
            + _bilingual({"zh": "评估结果", "en": "assessment results"}, "", self.languages)
            + f": {_bilingual(title, str(self.framework['id']), self.languages)}",
            "last-modified": summary["generated_at"],
            "version": summary["as_of"],
            "oscal-version": OSCAL_VERSION,
            "props": _props(
                ("export-type", summary.get("type")),
                ("framework-id", self.framework["id"]),
                ("framework-version", self.framework.get("version")),
                ("server-keyid", (summary.get("server") or {}).get("keyid")),
            ),
        }

    def plan_resource(self, plan_uuid: str) -> dict[str, Any]:
        framework = self.framework
        resource: dict[str, Any] = {
            "uuid": plan_uuid,
            "title": _bilingual(framework.get("title") or {}, str(framework["id"]), self.languages),
            "description": "The framework catalog whose controls this assessment evaluates "
            "(Dossier framework id, source and version in the properties).",
            "props": _props(
                ("framework-id", framework["id"]),
                ("framework-source", framework.get("source")),
                ("framework-version", framework.get("version")),
            ),
        }
        return _drop_empty(resource)

    # -- result ----------------------------------------------------------------------

    def result(self) -> dict[str, Any]:
        summary = self.summary
        period = summary["period"]
        coverage = summary.get("coverage") or {}
        hosts = summary["scope"]["hosts"]
        observations, by_control = self.observations()
        result: dict[str, Any] = {
            "uuid": _uuid("result", self.assessment_key),
            "title": f"Dossier evaluation as of {summary['as_of']}",
            "description": (
                f"Continuous evaluation of {len(hosts)} host(s) against framework "
                f"{self.framework['id']} for the period {period['from']} to {period['to']}, "
                f"as of {summary['as_of']}. Host-days with evidence: "
                f"{coverage.get('host_days_with_evidence', 0)} of "
                f"{coverage.get('host_days_in_period', 0)}."
            ),
            "start": f"{period['from']}T00:00:00.000000Z",
            "end": summary["as_of"],
            "props": _props(
                ("period-from", period["from"]),
                ("period-to", period["to"]),
                ("coverage-ratio", coverage.get("ratio")),
                ("host-days-with-evidence", coverage.get("host_days_with_evidence")),
                ("host-days-in-period", coverage.get("host_days_in_period")),
            ),
            "local-definitions": self.local_definitions(),
            "reviewed-controls": {
                "control-selections": [
                    _drop_empty(
                        {
                            "description": "Every control of the framework, headings included.",
                            "include-controls": [
                                {"control-id": self.tokens[c["id"]]} for c in summary["controls"]
                            ],
                        }
                    )
                ]
            },
            "observations": observations,
            "findings": [self.finding(c, by_control[c["id"]]) for c in summary["controls"]],
        }
        return _drop_empty(result)

    def local_definitions(self) -> dict[str, Any]:
        scope = {h["id"]: h for h in self.summary["scope"]["hosts"]}
        items = []
        for host_id, hostname in self.hostnames.items():
            host = scope.get(host_id, {})
            items.append(
                {
                    "uuid": self.host_uuid(host_id),
                    "description": f"Host {hostname or host_id} (Dossier host {host_id})",
                    "props": [
                        {"name": "asset-id", "value": _one_line(host_id)},
                        *_props(
                            ("host-id", host_id),
                            ("hostname", hostname),
                            ("first-seen", host.get("first_seen")),
                            ("last-seen", host.get("last_seen")),
                            ("days-with-evidence", host.get("days_with_evidence")),
                            ("bundles", host.get("bundles")),
                            ("in-scope", "true" if host_id in scope else "false"),
                        ),
                    ],
                }
            )
        return _drop_empty(
            {
                "inventory-items": items,
                "assessment-assets": {
                    "components": [
                        {
                            "uuid": self.tool_uuid,
                            "type": "software",
                            "title": "Dossier",
                            "description": "Dossier: agents collect signed evidence bundles "
                            "on each host; the server evaluates the framework's checks.",
                            "status": {"state": "operational"},
                        }
                    ],
                    "assessment-platforms": [
                        {
                            "uuid": _uuid("assessment-platform", "dossier"),
                            "title": "Dossier",
                            "uses-components": [{"component-uuid": self.tool_uuid}],
                        }
                    ],
                },
            }
        )

    def host_uuid(self, host_id: str) -> str:
        return _uuid("host", host_id)

    # -- observations ----------------------------------------------------------------

    def observations(self) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
        """All observations in first-cited order, and each control's observation uuids."""
        built: dict[str, dict[str, Any]] = {}
        by_control: dict[str, list[str]] = {}
        for control in self.summary["controls"]:
            related: list[str] = []
            for check in control["checks"]:
                evidence = check.get("evidence")
                if not evidence:
                    continue
                key = _uuid(
                    "observation", "record", evidence["bundle_id"], evidence["record_index"]
                )
                if key not in built:
                    built[key] = self.record_observation(key, check, evidence)
                if key not in related:
                    related.append(key)
            for document in control.get("documents") or []:
                key = _uuid("observation", "document", document["sha256"])
                if key not in built:
                    built[key] = self.document_observation(key, document)
                if key not in related:
                    related.append(key)
            by_control[control["id"]] = related
        return list(built.values()), by_control

    def record_observation(
        self, key: str, check: Mapping[str, Any], evidence: Mapping[str, Any]
    ) -> dict[str, Any]:
        bundle_id = evidence["bundle_id"]
        index = evidence["record_index"]
        # v2 rows keep the collector in their evidence; the check's own is the fallback.
        named = evidence.get("collector") or self.checks.get(check["check_id"], {}).get("collector")
        collector = named or "unknown collector"
        host_id = check["host_id"]
        hostname = self.hostnames.get(host_id) or host_id
        return _drop_empty(
            {
                "uuid": key,
                "title": f"{collector} on {hostname}",
                "description": (
                    f"Evidence record {index} of signed bundle {bundle_id}: output of "
                    f"collector {collector} on host {hostname} ({host_id}), collected "
                    f"{evidence['collected_at']}."
                ),
                "props": _props(
                    ("bundle-id", bundle_id),
                    ("record-index", index),
                    ("collector", named),
                    ("log-index", self.log_index.get(bundle_id)),
                ),
                "methods": ["TEST"],
                "types": ["control-objective"],
                "origins": [self.origin()],
                "subjects": [
                    {
                        "subject-uuid": self.host_uuid(host_id),
                        "type": "inventory-item",
                        "title": hostname,
                    }
                ],
                "relevant-evidence": [
                    {
                        "href": f"{PACKAGE_ROOT}bundles/{bundle_id}.json",
                        "description": f"DSSE envelope of evidence bundle {bundle_id} "
                        f"(record {index}), signed by the host's agent key.",
                    }
                ],
                "collected": evidence["collected_at"],
            }
        )

    def document_observation(self, key: str, document: Mapping[str, Any]) -> dict[str, Any]:
        sha256 = document["sha256"]
        filename = document.get("filename") or sha256
        valid_until = document.get("valid_until")
        observation: dict[str, Any] = {
            "uuid": key,
            "title": f"Document {filename}",
            "description": (
                f"Document {filename} ({document.get('type') or 'document'}, sha256 {sha256}) "
                f"uploaded by {document.get('uploaded_by') or 'unknown'} at "
                f"{document.get('uploaded_at')}, valid until {valid_until or 'unspecified'}"
                f"{' (expired)' if document.get('expired') else ''}."
            ),
            "props": _props(
                ("document-sha256", sha256),
                ("document-type", document.get("type")),
                ("valid-until", valid_until),
                ("expired", _bool(document.get("expired"))),
            ),
            "methods": ["EXAMINE"],
            "types": ["control-objective"],
            "origins": [self.origin()],
            "relevant-evidence": [
                {
                    "href": f"{PACKAGE_ROOT}documents/{sha256}",
                    "description": f"Original bytes of {filename}.",
                }
            ],
            "collected": document["uploaded_at"],
        }
        if valid_until:
            # Valid through `valid_until` (a UTC date); out of date from the next midnight.
            expires = date.fromisoformat(valid_until) + timedelta(days=1)
            observation["expires"] = f"{expires.isoformat()}T00:00:00.000000Z"
        return _drop_empty(observation)

    def origin(self) -> dict[str, Any]:
        return {"actors": [{"type": "tool", "actor-uuid": self.tool_uuid}]}

    # -- findings --------------------------------------------------------------------

    def finding(self, control: Mapping[str, Any], related: list[str]) -> dict[str, Any]:
        control_id = control["id"]
        status = control["status"]
        if status not in STATUS_MAP:
            raise OscalExportError(f"control {control_id!r} has unknown status {status!r}")
        state, zh, en = STATUS_MAP[status]
        meaning = _bilingual({"zh": zh, "en": en}, status, self.languages)
        remarks = f"{status} {zh}: {en}." if len(self.languages) > 1 else f"{status} {meaning}."
        title = _bilingual(control.get("title") or {}, "", self.languages)
        target: dict[str, Any] = {
            "type": "objective-id",
            "target-id": self.tokens[control_id],
            "title": f"{control_id} {title}".strip(),
            "description": _bilingual(
                control.get("summary") or {}, f"Control {control_id}.", self.languages
            ),
            "props": _props(
                ("control-id", control_id),
                ("evidence-kind", control.get("evidence_kind") or "heading"),
            ),
        }
        if state is None:
            target["implementation-status"] = {
                "state": "not-applicable",
                "remarks": remarks,
            }
        else:
            target["status"] = {
                "state": state,
                "reason": status,
                "remarks": remarks,
            }
        return _drop_empty(
            {
                "uuid": _uuid("finding", self.assessment_key, control_id),
                "title": f"{control_id} {title}".strip(),
                "description": self.finding_description(control, meaning),
                "props": _props(
                    ("status", status),
                    ("hosts-passing", control.get("hosts_passing")),
                    ("hosts-failing", control.get("hosts_failing")),
                    ("oldest-evidence", control.get("oldest_evidence")),
                    ("older-than-12-months", _bool(control.get("older_than_12_months"))),
                ),
                "origins": [self.origin()],
                "target": target,
                "related-observations": [{"observation-uuid": u} for u in related],
            }
        )

    def finding_description(self, control: Mapping[str, Any], meaning: str) -> str:
        control_id = control["id"]
        lines = [f"Status: {control['status']} ({meaning})."]
        if control.get("evidence_kind") is None:
            children = [c["id"] for c in self.summary["controls"] if c.get("parent") == control_id]
            lines.append(
                "Heading: its status is the worst status of its sub-controls"
                + (f" ({', '.join(children)})." if children else ".")
            )
        by_check: dict[str, list[Mapping[str, Any]]] = {}
        for check in control["checks"]:
            by_check.setdefault(check["check_id"], []).append(check)
        for check_id, rows in by_check.items():
            definition = self.checks.get(check_id) or {}
            title = _bilingual(definition.get("title") or {}, "", self.languages)
            severity = definition.get("severity")
            lines.append(
                f"Check {check_id}"
                + (f": {title}" if title else "")
                + (f" (severity {severity})" if severity else "")
                + "."
            )
            for check in rows:
                host = self.hostnames.get(check["host_id"]) or check["host_id"]
                reason = _one_line(check.get("reason"))
                lines.append(
                    f"- {host}: check {check_id}: {check['status']}"
                    + (f": {reason}" if reason else "")
                )
        for document in control.get("documents") or []:
            lines.append(
                f"- document {document.get('filename') or document['sha256']}: valid until "
                f"{document.get('valid_until') or 'unspecified'}"
                + (" (expired)" if document.get("expired") else "")
            )
        return "\n".join(lines)


def _uuid(*parts: object) -> str:
    return str(uuid.uuid5(UUID_NAMESPACE, "\x1f".join(str(p) for p in parts)))


def _bilingual(text: Mapping[str, Any], fallback: str, languages: Sequence[str] = LANGUAGES) -> str:
    """The text in the package's languages, joined as "zh / en" when both exist; a text
    missing in those languages falls back to the other before `fallback`."""
    parts = [_one_line(text.get(lang)) for lang in languages]
    joined = " / ".join(p for p in dict.fromkeys(parts) if p)
    if not joined:
        joined = next((_one_line(v) for v in text.values() if _one_line(v)), "")
    return joined or fallback


def _one_line(value: object) -> str:
    return "" if value is None else _SPACE.sub(" ", str(value)).strip()


def _bool(value: object) -> str | None:
    return None if value is None else ("true" if value else "false")


def _props(*pairs: tuple[str, object]) -> list[dict[str, Any]]:
    """Dossier-namespaced properties, skipping absent values (OSCAL values are non-empty
    single lines)."""
    props = []
    for name, value in pairs:
        text = _one_line(value)
        if text:
            props.append({"name": name, "ns": DOSSIER_NS, "value": text})
    return props


def _drop_empty(obj: dict[str, Any]) -> dict[str, Any]:
    """Remove keys whose value is an empty list or dict: OSCAL JSON arrays need at least
    one item, and optional objects are better left out than empty."""
    return {k: v for k, v in obj.items() if not (isinstance(v, list | dict) and not v)}
