"""Inspector package: a real server's evidence exported, verified offline, and every
kind of tampering detected and named by `dossier verify`."""

from __future__ import annotations

import hashlib
import json
import warnings
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from subprocess import CompletedProcess

import pytest

from evidence import dsse
from evidence.bundle import build_bundle, verify_bundle
from evidence.keys import SigningKey
from evidence.package import MANIFEST, manifest_line
from evidence.treehead import TreeHead, sign_tree_head
from tests.conftest import RunningServer, dossier, enroll_agent, make_server, write_agent_config
from tests.debian_root import copy_tree, debian_tree

Members = dict[str, bytes]


@dataclass
class Exported:
    server: RunningServer
    package: Path
    members: Members


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exported]:
    base = tmp_path_factory.mktemp("export")
    server = make_server(base / "server")
    # Agent one: this machine, twice.
    local = base / "agent-local"
    enroll_agent(server, local)
    config = write_agent_config(base / "agent.yaml", server.url)
    for _ in range(2):
        dossier("agent", "run", "--once", "--state", str(local), "--config", str(config))
    # Agent two: a Debian tree, collected from another enrolled node.
    other = base / "agent-tree"
    enroll_agent(server, other)
    tree = copy_tree(debian_tree(), base / "tree")
    (tree / "etc" / "machine-id").write_text("e0e00000000000000000000000000001\n")
    dossier(
        "collect", "--root", str(tree), "--state", str(other), "--config", str(config), "--ship"
    )
    # Two documents.
    until = (datetime.now(UTC).date() + timedelta(days=300)).isoformat()
    for control, kind, name in (
        ("Art.13", "policy", "policy.pdf"),
        ("Art.17", "risk_assessment", "assessment.pdf"),
    ):
        document = base / name
        document.write_bytes(f"%PDF-1.7 {kind} for {control}\n".encode())
        dossier(
            "documents",
            "add",
            "--data",
            str(server.data.root),
            "--framework",
            "cii-2021",
            "--control",
            control,
            "--type",
            kind,
            "--file",
            str(document),
            "--valid-until",
            until,
        )
    package = base / "cii.zip"
    dossier(
        "export", "--data", str(server.data.root), "--framework", "cii-2021", "--out", str(package)
    )
    with zipfile.ZipFile(package) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    yield Exported(server, package, members)
    server.stop()


def verify(package: Path, *args: str) -> tuple[int, str]:
    result = dossier("verify", str(package), *args, check=False)
    return result.returncode, result.stdout + result.stderr


def write(path: Path, members: Members) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def rehash(members: Members) -> Members:
    """What a careful forger does: recompute the manifest (but cannot sign it)."""
    names = sorted(n for n in members if not n.startswith(MANIFEST))
    manifest = "".join(manifest_line(hashlib.sha256(members[n]).hexdigest(), n) for n in names)
    return {**members, MANIFEST: manifest.encode()}


def test_round_trip_verifies(exported: Exported, tmp_path: Path) -> None:
    code, out = verify(exported.package)
    assert code == 0, out
    assert "package verified" in out
    summary = json.loads(exported.members["summary.json"])
    assert len({b["agent_id"] for b in summary["bundles"]}) == 2
    assert len(summary["scope"]["hosts"]) == 2
    # Each check's text is said once; rows per host only carry what differs.
    assert summary["type"] == "dossier.export/v2"
    rows = [row for c in summary["controls"] for row in c["checks"]]
    assert rows and all("remediation" not in row and "title" not in row for row in rows)
    assert {row["check_id"] for row in rows} == set(summary["checks"])
    check_gaps = [g for g in summary["gaps"] if g["kind"] == "check"]
    assert len({(g["check_id"], g["status"]) for g in check_gaps}) == len(check_gaps)
    documents = [d for c in summary["controls"] for d in c["documents"]]
    assert sorted(d["type"] for d in documents) == ["policy", "risk_assessment"]
    assert {"index.html", "oscal/assessment-results.json", "log/tree-head.json"} <= set(
        exported.members
    )
    assert f"checked {len(exported.members) - 2} files, 3 bundles, 2 documents" in out
    # With the server key given out of band, the same result.
    key_file = tmp_path / "server.pub"
    key_file.write_bytes(exported.members["keys/server.pub"])
    assert verify(exported.package, "--server-key", str(key_file))[0] == 0


def first(members: Members, prefix: str) -> str:
    return sorted(n for n in members if n.startswith(prefix))[0]


def flip(data: bytes) -> bytes:
    changed = bytearray(data)
    changed[len(changed) // 2] ^= 0x01
    return bytes(changed)


def forged_bundle(members: Members) -> bytes:
    name = first(members, "bundles/")
    envelope = dsse.parse(members[name])
    payload = json.loads(envelope.payload_bytes())
    stranger = SigningKey.generate()
    from evidence.bundle import HostRef
    from evidence.records import EvidenceRecord

    return build_bundle(
        stranger,
        agent_id=payload["agent_id"],
        host=HostRef.model_validate(payload["host"]),
        seq=payload["seq"],
        prev=payload["prev"],
        records=[EvidenceRecord.model_validate(r) for r in payload["records"]],
        created_at=payload["created_at"],
    ).envelope.to_bytes()


def swap_two_bundles(members: Members) -> Members:
    a, b = sorted(n for n in members if n.startswith("bundles/"))[:2]
    return {**members, a: members[b], b: members[a]}


def forged_head(members: Members) -> bytes:
    head = TreeHead(size=999, root="ab" * 32, timestamp="2026-01-01T00:00:00Z")
    return sign_tree_head(head, SigningKey.generate()).to_bytes()


TAMPERING: dict[str, tuple[Callable[[Members], Members], list[str]]] = {
    "bundle byte": (
        lambda m: {**m, first(m, "bundles/"): flip(m[first(m, "bundles/")])},
        ["{bundle}: SHA-256 differs from MANIFEST.sha256 (altered)"],
    ),
    "document byte": (
        lambda m: {**m, first(m, "documents/"): flip(m[first(m, "documents/")])},
        ["{document}: SHA-256 differs", "is missing or altered"],
    ),
    "index.html byte": (
        lambda m: {**m, "index.html": flip(m["index.html"])},
        ["index.html: SHA-256 differs from MANIFEST.sha256 (altered)"],
    ),
    "summary.json byte": (
        lambda m: {**m, "summary.json": m["summary.json"].replace(b'"fail"', b'"pass"', 1)},
        ["summary.json: SHA-256 differs from MANIFEST.sha256 (altered)"],
    ),
    "bundle removed": (
        lambda m: {k: v for k, v in m.items() if k != first(m, "bundles/")},
        ["{bundle}: listed in MANIFEST.sha256 but missing from the package"],
    ),
    "bundle re-signed by another key, manifest re-hashed": (
        lambda m: rehash({**m, first(m, "bundles/"): forged_bundle(m)}),
        ["MANIFEST.sha256: differs from what the server signed", "{bundle}: signed by key"],
    ),
    "manifest edited and re-hashed": (
        lambda m: rehash({**m, "summary.json": m["summary.json"] + b" "}),
        ["MANIFEST.sha256: differs from what the server signed"],
    ),
    "forged tree head": (
        lambda m: rehash({**m, "log/tree-head.json": forged_head(m)}),
        ["log/tree-head.json: signature keyid", "differs from what the server signed"],
    ),
    "two bundles swapped (reordered chain)": (
        lambda m: rehash(swap_two_bundles(m)),
        ["holds bundle", "differs from what the server signed"],
    ),
    "file slipped in": (
        lambda m: {**m, "bundles/extra.json": b"{}"},
        ["bundles/extra.json: in the package but not in MANIFEST.sha256"],
    ),
    "manifest signature removed": (
        lambda m: {
            **m,
            "MANIFEST.sha256.sig": b'{"payload": "", "payloadType": "x", "signatures": []}',
        },
        ["MANIFEST.sha256.sig:"],
    ),
}


@pytest.mark.parametrize("case", sorted(TAMPERING))
def test_tampering_is_detected_and_named(exported: Exported, tmp_path: Path, case: str) -> None:
    change, expected = TAMPERING[case]
    tampered = write(tmp_path / "tampered.zip", change(dict(exported.members)))
    code, out = verify(tampered)
    assert code == 1, out
    names = {
        "bundle": first(exported.members, "bundles/"),
        "document": first(exported.members, "documents/"),
    }
    for phrase in expected:
        assert phrase.format(**names) in out, (case, out)
    assert "the package cannot be trusted" in out


def test_a_second_member_of_the_same_name_is_named(exported: Exported, tmp_path: Path) -> None:
    # A zip may hold two members of one name: verification would read one while unzip
    # extracts the other, so a forged page could pass as verified.
    doubled = tmp_path / "doubled.zip"
    with warnings.catch_warnings(), zipfile.ZipFile(doubled, "w") as archive:
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name
        archive.writestr("index.html", b"<h1>ALL CONTROLS PASS</h1>")
        for name, data in exported.members.items():
            archive.writestr(name, data)
    code, out = verify(doubled)
    assert code == 1, out
    assert "index.html: appears 2 times in the package" in out
    assert "the package cannot be trusted" in out


def test_verify_refuses_what_is_not_a_package(tmp_path: Path) -> None:
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip")
    code, out = verify(junk)
    assert code == 2 and "not a readable zip file" in out
    empty = write(tmp_path / "empty.zip", {"index.html": b"<html></html>"})
    code, out = verify(empty)
    assert code == 2 and "not a Dossier package" in out


def test_bundles_in_the_package_verify_with_packaged_agent_keys(exported: Exported) -> None:
    from evidence.keys import PublicKey

    agents = json.loads(exported.members["keys/agents.json"])
    keys = {a["id"]: PublicKey.from_b64(a["public_key"]) for a in agents}
    for name, data in exported.members.items():
        if name.startswith("bundles/"):
            envelope = dsse.parse(data)
            agent = json.loads(envelope.payload_bytes())["agent_id"]
            assert verify_bundle(envelope, keys[agent]).bundle_id == name[8:-5]


def test_export_over_the_api_verifies_too(exported: Exported, tmp_path: Path) -> None:
    import requests

    server = exported.server
    response = requests.get(
        f"{server.url}/api/v1/export",
        params={"framework": "mlps2-l3"},
        headers={"Authorization": f"Bearer {server.admin_token}"},
        verify=server.ca,
        timeout=120,
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    package = tmp_path / "api.zip"
    package.write_bytes(response.content)
    code, out = verify(package)
    assert code == 0, out
    for query, message in (
        ({"period": "2026-12-01..2026-01-01"}, "period '2026-12-01..2026-01-01' must be FROM..TO"),
        ({"lang": "fr"}, "lang 'fr': expected a comma-separated list of zh, en"),  # not --lang
    ):
        bad = requests.get(
            f"{server.url}/api/v1/export",
            params={"framework": "mlps2-l3", **query},
            headers={"Authorization": f"Bearer {server.admin_token}"},
            verify=server.ca,
            timeout=30,
        )
        assert bad.status_code == 422 and bad.json()["detail"].startswith(message), query
    unauthenticated = requests.get(
        f"{server.url}/api/v1/export",
        params={"framework": "mlps2-l3"},
        verify=server.ca,
        timeout=30,
    )
    assert unauthenticated.status_code == 401


def test_a_missing_blob_stops_the_export_and_leaves_no_package(
    exported: Exported, tmp_path: Path
) -> None:
    import shutil

    data = tmp_path / "data"
    shutil.copytree(exported.server.data.root, data)  # plain files: SQLite, blobs, keys
    victim = json.loads(exported.members["summary.json"])["bundles"][0]["id"]
    (data / "blobs" / "sha256" / victim[:2] / victim).unlink()
    out = tmp_path / "broken.zip"
    result = dossier(
        "export", "--data", str(data), "--framework", "cii-2021", "--out", str(out), check=False
    )
    assert result.returncode == 2
    assert f"stored bundle {victim} is missing; no package was written" in result.stderr
    assert not out.exists() and not out.with_name("broken.zip.partial").exists()


def export_in(exported: Exported, lang: str, package: Path) -> CompletedProcess[str]:
    data = str(exported.server.data.root)
    return dossier(
        "export",
        "--data",
        data,
        "--framework",
        "cii-2021",
        "--lang",
        lang,
        "--out",
        str(package),
        check=False,
    )


def test_english_only_export_verifies(exported: Exported, tmp_path: Path) -> None:
    package = tmp_path / "cii-en.zip"
    assert export_in(exported, "en", package).returncode == 0
    code, out = verify(package)
    assert code == 0, out
    with zipfile.ZipFile(package) as archive:
        summary = json.loads(archive.read("summary.json"))
        index = archive.read("index.html").decode()
        names = archive.namelist()
    assert summary["languages"] == ["en"]
    assert '<html lang="en">' in index and 'lang="zh-CN"' not in index
    assert "Hosts in scope" in index and "主机范围" not in index
    # the same evidence as the bilingual package: only the words differ
    assert sorted(names) == sorted(exported.members)
    bilingual = json.loads(exported.members["summary.json"])
    assert bilingual["languages"] == ["zh", "en"]
    assert summary["controls"] == bilingual["controls"]


def test_unknown_language_is_refused_and_nothing_written(
    exported: Exported, tmp_path: Path
) -> None:
    package = tmp_path / "cii-fr.zip"
    result = export_in(exported, "fr", package)
    assert result.returncode == 2
    assert "--lang 'fr': expected a comma-separated list of zh, en" in result.stderr
    assert not package.exists()
