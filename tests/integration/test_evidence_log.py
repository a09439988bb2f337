"""The evidence log: signed tree heads, inclusion and consistency proofs from a real
server, and `dossier server check-integrity` catching rewritten or deleted evidence."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from evidence import dsse
from evidence.keys import PublicKey, SigningKey
from evidence.merkle import verify_consistency, verify_inclusion
from evidence.receipt import Receipt, verify_receipt
from evidence.treehead import entry_leaf, verify_tree_head
from tests.conftest import RunningServer, dossier, make_server
from tests.integration.test_ingest_rejections import Agent, send


@pytest.fixture(scope="module")
def logged(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningServer, list[Receipt]]]:
    server = make_server(tmp_path_factory.mktemp("log") / "data")
    receipts = []
    for _ in range(2):
        agent = Agent(server)
        for _ in range(3):
            bundle = agent.bundle()
            response = send(server, bundle.envelope.to_bytes())
            assert response.status_code == 201, response.text
            receipts.append(
                verify_receipt(
                    dsse.parse(response.content), agent.server_key, bundle_id=bundle.bundle_id
                )
            )
    yield server, receipts
    server.stop()


def get(server: RunningServer, path: str, **params: str) -> requests.Response:
    return requests.get(f"{server.url}/api/v1{path}", params=params, verify=server.ca, timeout=30)


def server_key(server: RunningServer) -> PublicKey:
    return PublicKey.from_b64(get(server, "/server-key").json()["public_key"])


def test_receipts_tree_heads_and_proofs_verify(logged: tuple[RunningServer, list[Receipt]]) -> None:
    server, receipts = logged
    key = server_key(server)
    assert [r.log_index for r in receipts] == list(range(6))
    assert [r.tree_size for r in receipts] == list(range(1, 7))
    head = verify_tree_head(dsse.parse(get(server, "/log/head").content), key)
    assert head.size == 6 and head.root == receipts[-1].root
    for receipt in receipts:
        proof = server.admin_get("/log/proof", bundle=receipt.bundle_id)
        nodes = [bytes.fromhex(n) for n in proof["proof"]]
        leaf = entry_leaf("bundle", receipt.bundle_id)
        assert verify_inclusion(leaf, receipt.log_index, head.size, nodes, bytes.fromhex(head.root))
        assert not verify_inclusion(leaf, receipt.log_index, head.size, nodes, bytes(32))
        # Each receipt's root is an earlier state of the same log: consistent with now.
        consistency = server.admin_get(
            "/log/consistency", **{"from": receipt.tree_size, "to": head.size}
        )
        assert verify_consistency(
            receipt.tree_size,
            head.size,
            bytes.fromhex(receipt.root),
            bytes.fromhex(head.root),
            [bytes.fromhex(n) for n in consistency["proof"]],
        )
    refused = get(server, "/log/proof", bundle=receipts[0].bundle_id)
    assert refused.status_code == 401
    forged = dsse.parse(get(server, "/log/head").content)
    other = SigningKey.generate().public
    with pytest.raises(Exception, match="does not match key"):
        verify_tree_head(forged, other)


def copy_data(server: RunningServer, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(server.data.root, target)  # plain files only: SQLite, blobs, keys
    return target


def check(data: Path) -> tuple[int, str]:
    result = dossier("server", "check-integrity", "--data", str(data), check=False)
    return result.returncode, result.stdout + result.stderr


def test_intact_store_passes(logged: tuple[RunningServer, list[Receipt]], tmp_path: Path) -> None:
    code, out = check(copy_data(logged[0], tmp_path))
    assert code == 0 and "checked 6 bundles" in out and "integrity OK" in out


def blob(data: Path, bundle_id: str) -> Path:
    return data / "blobs" / "sha256" / bundle_id[:2] / bundle_id


def test_rewritten_bundle_is_named(
    logged: tuple[RunningServer, list[Receipt]], tmp_path: Path
) -> None:
    data = copy_data(logged[0], tmp_path)
    victim = logged[1][2].bundle_id
    path = blob(data, victim)
    path.chmod(0o644)
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    path.write_bytes(bytes(raw))
    code, out = check(data)
    assert code == 1 and f"bundle {victim}: stored bundle does not verify" in out


def test_deleted_bundle_is_named(
    logged: tuple[RunningServer, list[Receipt]], tmp_path: Path
) -> None:
    data = copy_data(logged[0], tmp_path)
    victim = logged[1][4].bundle_id
    blob(data, victim).unlink()
    code, out = check(data)
    assert code == 1 and f"bundle {victim}: stored bundle is missing" in out


def test_rewritten_log_is_caught_by_the_receipts(
    logged: tuple[RunningServer, list[Receipt]], tmp_path: Path
) -> None:
    data = copy_data(logged[0], tmp_path)
    database = sqlite3.connect(data / "dossier.db")
    # Someone with the database file drops the guard and rewrites history.
    database.execute("DROP TRIGGER log_entries_no_update")
    database.execute("UPDATE log_entries SET ref = ? WHERE idx = 1", ("0" * 64,))
    database.execute("UPDATE log_entries SET kind = 'document' WHERE idx = 3")
    database.commit()
    database.close()
    code, out = check(data)
    assert code == 1
    receipts = logged[1]
    assert f"bundle {receipts[1].bundle_id}: log entry 1 does not name it" in out
    assert f"bundle {receipts[3].bundle_id}: log entry 3 does not name it" in out
    # Every receipt signed after the first rewritten entry exposes it, the first does not.
    for receipt in receipts[1:]:
        assert f"bundle {receipt.bundle_id}: the log no longer has the root" in out
    assert f"bundle {receipts[0].bundle_id}: the log" not in out
