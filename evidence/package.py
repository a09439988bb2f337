"""The inspector package: its layout, manifest format, and offline verification.

Shared by the server (which writes packages) and `dossier verify` (which needs nothing
but the zip file and, ideally, the server's public key obtained out of band).
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

from evidence import dsse
from evidence.bundle import verify_bundle
from evidence.errors import BundleRejected, EvidenceError
from evidence.keys import PublicKey
from evidence.merkle import verify_inclusion
from evidence.treehead import TreeHead, entry_leaf, verify_tree_head

MANIFEST = "MANIFEST.sha256"
MANIFEST_SIGNATURE = "MANIFEST.sha256.sig"
MANIFEST_PAYLOAD_TYPE = "application/vnd.dossier.manifest+sha256"
SUMMARY = "summary.json"
SERVER_KEY = "keys/server.pub"
AGENT_KEYS = "keys/agents.json"
TREE_HEAD = "log/tree-head.json"
PROOFS = "log/proofs.json"
# The members whose content the verifier reads, not only hashes.
READ_AFTER_HASHING = frozenset({AGENT_KEYS, TREE_HEAD, PROOFS, SUMMARY})
BUNDLES = "bundles/"
DOCUMENTS = "documents/"
MAX_MEMBER_BYTES = 256 * 1024 * 1024


def manifest_line(sha256: str, name: str) -> str:
    return f"{sha256}  {name}\n"


def parse_manifest(text: str) -> dict[str, str]:
    entries: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64 or not name:
            raise PackageError(f"{MANIFEST} line {number} is not '<sha256>  <path>'")
        if name in entries:
            raise PackageError(f"{MANIFEST} lists {name} twice")
        entries[name] = digest
    return entries


class PackageError(EvidenceError):
    """The package cannot be read at all (not a zip, no manifest)."""

    code = "package_unreadable"


@dataclass
class VerifyReport:
    server_keyid: str = ""
    server_key_source: str = ""
    files: int = 0
    bundles: int = 0
    documents: int = 0
    proofs: int = 0
    verdicts: int = 0
    tree_size: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class BundleFacts:
    """What verification keeps of a bundle once its signature checked out: enough for
    chains, proofs and citations, so a package of any size is checked in bounded memory."""

    bundle_id: str
    agent_id: str
    host_id: str
    seq: int
    prev: str | None
    record_times: tuple[str, ...]


def verify_package(path: Path, server_key: PublicKey | None = None) -> VerifyReport:
    """Check everything in the package offline; every failure is named in `problems`."""
    report = VerifyReport()
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise PackageError(f"{path}: not a readable zip file: {exc}") from exc
    with archive:
        names = [info.filename for info in archive.infolist() if not info.is_dir()]
        # A zip may hold two members of one name; a reader checks one (the last) while
        # unzip may extract the other, so an unchecked page could pass as verified.
        for name in sorted({name for name in names if names.count(name) > 1}):
            report.problems.append(f"{name}: appears {names.count(name)} times in the package")
        if MANIFEST not in names or MANIFEST_SIGNATURE not in names:
            raise PackageError(
                f"{path}: no {MANIFEST} and {MANIFEST_SIGNATURE}: not a Dossier package"
            )
        key = _server_key(archive, server_key, report)
        manifest_bytes = _read(archive, MANIFEST)
        _check_manifest_signature(archive, manifest_bytes, key, report)
        try:
            manifest = parse_manifest(manifest_bytes.decode("utf-8"))
        except (UnicodeDecodeError, PackageError) as exc:
            report.problems.append(f"{MANIFEST}: {exc}")
            return report
        present = set(names) - {MANIFEST, MANIFEST_SIGNATURE}
        for name in sorted(set(manifest) - present):
            report.problems.append(f"{name}: listed in {MANIFEST} but missing from the package")
        for name in sorted(present - set(manifest)):
            report.problems.append(f"{name}: in the package but not in {MANIFEST}")
        listed = sorted(present & set(manifest))
        contents: dict[str, bytes] = {}
        for name in listed:
            if not name.startswith((BUNDLES, DOCUMENTS)):
                data = _checked(archive, name, manifest, report)
                # pages and OSCAL need only their hash; holding them would cost memory
                if data is not None and name in READ_AFTER_HASHING:
                    contents[name] = data
        agents = _json(contents, AGENT_KEYS, report) or []
        keys = {a["id"]: PublicKey.from_b64(a["public_key"]) for a in agents if isinstance(a, dict)}
        bundles: dict[str, BundleFacts] = {}
        documents: set[str] = set()
        for name in listed:
            if name.startswith(BUNDLES):
                data = _checked(archive, name, manifest, report)
                facts = _bundle_facts(name, data, keys, report) if data is not None else None
                if facts is not None:
                    bundles[facts.bundle_id] = facts
            elif name.startswith(DOCUMENTS) and _checked(archive, name, manifest, report):
                documents.add(name)
    _check_chains(bundles, report)
    _check_evidence(contents, bundles, documents, key, report)
    return report


def _checked(
    archive: zipfile.ZipFile, name: str, manifest: dict[str, str], report: VerifyReport
) -> bytes | None:
    data = _read(archive, name)
    report.files += 1
    if hashlib.sha256(data).hexdigest() != manifest[name]:
        report.problems.append(f"{name}: SHA-256 differs from {MANIFEST} (altered)")
        return None
    return data


def _read(archive: zipfile.ZipFile, name: str) -> bytes:
    info = archive.getinfo(name)
    if info.file_size > MAX_MEMBER_BYTES:
        raise PackageError(f"{name} is larger than {MAX_MEMBER_BYTES} bytes")
    return archive.read(name)


def _server_key(
    archive: zipfile.ZipFile, given: PublicKey | None, report: VerifyReport
) -> PublicKey:
    if given is not None:
        report.server_keyid, report.server_key_source = given.keyid, "given"
        return given
    try:
        packaged = PublicKey.from_b64(_read(archive, SERVER_KEY).decode("ascii").strip())
    except (KeyError, UnicodeDecodeError, EvidenceError) as exc:
        raise PackageError(f"no usable {SERVER_KEY} and no --server-key given: {exc}") from exc
    report.server_keyid, report.server_key_source = packaged.keyid, "packaged"
    return packaged


def _check_manifest_signature(
    archive: zipfile.ZipFile, manifest: bytes, key: PublicKey, report: VerifyReport
) -> None:
    try:
        envelope = dsse.parse(_read(archive, MANIFEST_SIGNATURE))
        signed = dsse.verify(envelope, MANIFEST_PAYLOAD_TYPE, key)
    except BundleRejected as exc:
        report.problems.append(f"{MANIFEST_SIGNATURE}: {exc}")
        return
    if signed != manifest:
        report.problems.append(
            f"{MANIFEST}: differs from what the server signed ({MANIFEST_SIGNATURE})"
        )


def _json(contents: dict[str, bytes], name: str, report: VerifyReport) -> Any:
    data = contents.pop(name, None)  # parsed once; the bytes are not needed again
    if data is None:
        report.problems.append(f"{name}: missing or altered; cannot check what depends on it")
        return None
    try:
        return json.loads(data)
    except ValueError as exc:
        report.problems.append(f"{name}: not JSON: {exc}")
        return None


def _check_evidence(
    contents: dict[str, bytes],
    bundles: dict[str, BundleFacts],
    documents: set[str],
    server_key: PublicKey,
    report: VerifyReport,
) -> None:
    head = _check_tree_head(contents, server_key, report)
    proofs = _json(contents, PROOFS, report) or {}
    summary = _json(contents, SUMMARY, report)
    if head is not None:
        _check_proofs(bundles, summary, proofs, head, report)
    if summary is not None:
        _check_summary(summary, bundles, documents, report)


def _bundle_facts(
    name: str, data: bytes, keys: dict[str, PublicKey], report: VerifyReport
) -> BundleFacts | None:
    report.bundles += 1
    claimed = name.removeprefix(BUNDLES).removesuffix(".json")
    try:
        envelope = dsse.parse(data)
        keyid = dsse.single_keyid(envelope)
        key = next((k for k in keys.values() if k.keyid == keyid), None)
        if key is None:
            report.problems.append(f"{name}: signed by key {keyid[:16]}…, not a packaged agent key")
            return None
        bundle = verify_bundle(envelope, key)
    except BundleRejected as exc:
        report.problems.append(f"{name}: {exc.code}: {exc}")
        return None
    if bundle.bundle_id != claimed:
        report.problems.append(f"{name}: holds bundle {bundle.bundle_id}, not {claimed}")
        return None
    if keys.get(bundle.payload.agent_id) is not key:
        report.problems.append(
            f"{name}: names agent {bundle.payload.agent_id} but another agent's key signed it"
        )
        return None
    payload = bundle.payload
    return BundleFacts(
        bundle.bundle_id,
        payload.agent_id,
        payload.host.id,
        payload.seq,
        payload.prev,
        tuple(record.collected_at for record in payload.records),
    )


def _check_chains(bundles: dict[str, BundleFacts], report: VerifyReport) -> None:
    chains: dict[tuple[str, str], list[BundleFacts]] = defaultdict(list)
    for bundle in bundles.values():
        chains[(bundle.agent_id, bundle.host_id)].append(bundle)
    for (agent, host), chain in chains.items():
        chain.sort(key=lambda b: b.seq)
        for before, after in pairwise(chain):
            if after.seq == before.seq:
                report.problems.append(f"chain {agent}/{host}: two bundles claim seq {after.seq}")
            elif after.seq == before.seq + 1 and after.prev != before.bundle_id:
                report.problems.append(
                    f"chain {agent}/{host}: seq {after.seq} does not link to seq {before.seq}"
                )


def _check_tree_head(
    contents: dict[str, bytes], key: PublicKey, report: VerifyReport
) -> TreeHead | None:
    data = contents.get(TREE_HEAD)
    if data is None:
        report.problems.append(f"{TREE_HEAD}: missing or altered")
        return None
    try:
        head = verify_tree_head(dsse.parse(data), key)
    except BundleRejected as exc:
        report.problems.append(f"{TREE_HEAD}: {exc}")
        return None
    report.tree_size = head.size
    return head


def _check_proofs(
    bundles: dict[str, BundleFacts],
    summary: Any,
    proofs: dict[str, Any],
    head: TreeHead,
    report: VerifyReport,
) -> None:
    root = bytes.fromhex(head.root)
    listed = {b["id"]: b for b in (summary or {}).get("bundles", []) if isinstance(b, dict)}
    for bundle_id in bundles:
        proof = proofs.get(f"bundle:{bundle_id}")
        if proof is None:
            report.problems.append(f"bundle {bundle_id}: no inclusion proof in {PROOFS}")
            continue
        nodes = [bytes.fromhex(n) for n in proof.get("proof", [])]
        index = proof.get("index")
        if not verify_inclusion(entry_leaf("bundle", bundle_id), index, head.size, nodes, root):
            report.problems.append(
                f"bundle {bundle_id}: inclusion proof does not verify against the signed tree head"
            )
            continue
        report.proofs += 1
        if bundle_id in listed and listed[bundle_id].get("log_index") != index:
            report.problems.append(
                f"bundle {bundle_id}: {SUMMARY} gives another log index than its proof"
            )
    for ref, proof in proofs.items():
        if not ref.startswith("document:"):
            continue
        nodes = [bytes.fromhex(n) for n in proof.get("proof", [])]
        if verify_inclusion(
            entry_leaf("document", ref.removeprefix("document:")),
            proof.get("index"),
            head.size,
            nodes,
            root,
        ):
            report.proofs += 1
        else:
            report.problems.append(
                f"{ref}: inclusion proof does not verify against the signed tree head"
            )


def _check_summary(
    summary: dict[str, Any],
    bundles: dict[str, BundleFacts],
    documents: set[str],
    report: VerifyReport,
) -> None:
    for entry in summary.get("bundles", []):
        bundle = bundles.get(entry.get("id"))
        if bundle is None:
            report.problems.append(
                f"{SUMMARY}: lists bundle {entry.get('id')}, which is not in the package"
            )
            continue
        described = (entry.get("agent_id"), entry.get("host_id"), entry.get("seq"))
        if described != (bundle.agent_id, bundle.host_id, bundle.seq):
            report.problems.append(
                f"{SUMMARY}: bundle {bundle.bundle_id} is described as another agent, "
                "host or seq than it is"
            )
    chains: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for entry in summary.get("bundles", []):
        chains[(entry.get("agent_id"), entry.get("host_id"))].append(entry)
    for chain in chains.values():
        by_seq = sorted(chain, key=lambda e: e.get("seq", 0))
        indexes = [e.get("log_index", 0) for e in by_seq]
        if indexes != sorted(indexes):
            report.problems.append(
                f"{SUMMARY}: chain of host {chain[0].get('host_id')} is out of order in the log"
            )
    definitions = summary.get("checks", {})
    for control in summary.get("controls", []):
        for check in control.get("checks", []):
            report.verdicts += 1
            where = f"control {control.get('id')}: {check.get('check_id')}"
            if check.get("check_id") not in definitions:
                report.problems.append(f"{where}: no definition of this check in {SUMMARY}")
            evidence = check.get("evidence")
            if evidence is None:
                if check.get("status") in ("pass", "fail", "error", "not_applicable"):
                    report.problems.append(
                        f"{where}: verdict on {check.get('host_id')} cites no evidence"
                    )
                continue
            bundle = bundles.get(evidence.get("bundle_id"))
            if bundle is None:
                report.problems.append(
                    f"{where}: cites bundle {evidence.get('bundle_id')}, "
                    "not in the package (or not valid)"
                )
                continue
            index = evidence.get("record_index", -1)
            times = bundle.record_times
            if not 0 <= index < len(times) or times[index] != evidence.get("collected_at"):
                report.problems.append(f"{where}: cites a record its bundle does not hold")
        for document in control.get("documents", []):
            if f"{DOCUMENTS}{document.get('sha256')}" in documents:
                report.documents += 1
            else:
                report.problems.append(
                    f"control {control.get('id')}: document {document.get('filename')} "
                    "is missing or altered"
                )
