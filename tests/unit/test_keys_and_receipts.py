"""Keys on disk (mode 0600, refuse unsafe ones) and server receipts."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import pytest

from evidence.errors import BundleRejected, KeyFileError
from evidence.keys import PublicKey, SigningKey, keyid_of
from evidence.receipt import Receipt, sign_receipt, verify_receipt


def test_saved_key_is_0600_and_loads_back(tmp_path: Path) -> None:
    key = SigningKey.generate()
    path = tmp_path / "sub" / "agent.key"
    key.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert SigningKey.load(path).keyid == key.keyid


def test_existing_key_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "agent.key"
    SigningKey.generate().save(path)
    before = path.read_bytes()
    with pytest.raises(KeyFileError, match="refusing to overwrite"):
        SigningKey.generate().save(path)
    assert path.read_bytes() == before


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660, 0o700])
def test_group_or_world_accessible_key_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "agent.key"
    SigningKey.generate().save(path)
    path.chmod(mode)
    if mode & 0o077:
        with pytest.raises(KeyFileError, match=f"chmod 600 {path}"):
            SigningKey.load(path)
    else:
        assert SigningKey.load(path).keyid


def test_missing_and_garbage_keys_are_named(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="does not exist"):
        SigningKey.load(tmp_path / "absent.key")
    garbage = tmp_path / "garbage.key"
    garbage.write_bytes(b"not a key")
    garbage.chmod(0o600)
    with pytest.raises(KeyFileError, match="not a valid PEM key"):
        SigningKey.load(garbage)


def test_keyid_is_sha256_of_raw_public_key() -> None:
    key = SigningKey.generate()
    public = key.public
    raw = PublicKey.from_b64(public.b64()).raw
    assert key.keyid == keyid_of(raw) == hashlib.sha256(raw).hexdigest()


def receipt(bundle_id: str = "a" * 64) -> Receipt:
    return Receipt(
        bundle_id=bundle_id,
        agent_id="agent-1",
        seq=3,
        log_index=7,
        received_at="2026-11-24T08:00:00Z",
        tree_size=8,
        root="c" * 64,
    )


def test_receipt_verifies_for_its_bundle_only() -> None:
    server = SigningKey.generate()
    envelope = sign_receipt(receipt(), server)
    assert verify_receipt(envelope, server.public, bundle_id="a" * 64).log_index == 7
    with pytest.raises(BundleRejected) as caught:
        verify_receipt(envelope, server.public, bundle_id="b" * 64)
    assert caught.value.code == "receipt_mismatch"


def test_receipt_from_another_server_is_refused() -> None:
    envelope = sign_receipt(receipt(), SigningKey.generate())
    with pytest.raises(BundleRejected) as caught:
        verify_receipt(envelope, SigningKey.generate().public, bundle_id="a" * 64)
    assert caught.value.code == "unknown_key"
