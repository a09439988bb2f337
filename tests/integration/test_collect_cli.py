"""`dossier collect`: signed bundles without a server."""

from __future__ import annotations

import json
from pathlib import Path

from collectors.registry import all_collectors
from evidence import dsse
from evidence.bundle import verify_bundle
from evidence.keys import PublicKey, SigningKey
from tests.conftest import dossier


def test_collect_local_writes_a_bundle_that_verifies(tmp_path: Path) -> None:
    out = tmp_path / "local.json"
    report = json.loads(dossier("collect", "--local", "--out", str(out), "--json").stdout)
    public = PublicKey.from_b64((tmp_path / "local.json.pub").read_text().strip())
    bundle = verify_bundle(dsse.parse(out.read_bytes()), public)
    assert bundle.bundle_id == report["bundle_id"]
    assert [r.collector for r in bundle.payload.records] == sorted(all_collectors())
    assert bundle.payload.seq == 1 and bundle.payload.prev is None


def test_collect_with_a_persistent_key_and_only(tmp_path: Path) -> None:
    key = tmp_path / "collect.key"
    out = tmp_path / "one.json"
    dossier("collect", "--local", "--only", "access.accounts", "--key", str(key), "--out", str(out))
    assert key.stat().st_mode & 0o777 == 0o600
    assert not (tmp_path / "one.json.pub").exists()
    envelope = dsse.parse(out.read_bytes())
    bundle = verify_bundle(envelope, SigningKey.load(key).public)
    assert [r.collector for r in bundle.payload.records] == ["access.accounts"]


def test_collect_refuses_bad_arguments(tmp_path: Path) -> None:
    out = str(tmp_path / "x.json")
    unknown = dossier("collect", "--local", "--only", "no.such", "--out", out, check=False)
    assert unknown.returncode == 2 and "unknown collector" in unknown.stderr
    both = dossier("collect", "--local", "--root", str(tmp_path), "--out", out, check=False)
    assert both.returncode == 2 and "exactly one of --local or --root" in both.stderr
    neither = dossier("collect", "--out", out, check=False)
    assert neither.returncode == 2
    assert not Path(out).exists()


def test_collectors_are_listed_with_their_schemas() -> None:

    listed = json.loads(dossier("collectors", "--json").stdout)
    assert [row["name"] for row in listed] == list(all_collectors())
    assert all(row["description"] and row["version"] for row in listed)
    schema = json.loads(dossier("collectors", "--schema", "access.accounts").stdout)
    assert "uid0_accounts" in schema["properties"]
    unknown = dossier("collectors", "--schema", "no.such", check=False)
    assert unknown.returncode == 2 and "unknown collector no.such" in unknown.stderr
