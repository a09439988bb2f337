"""Keys on disk (mode 0600, refuse unsafe ones) and server receipts."""

from __future__ import annotations

import base64
import hashlib
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from evidence.errors import BundleRejected, KeyFileError
from evidence.keys import SMALL_ORDER_ENCODINGS, PublicKey, SigningKey, has_small_order, keyid_of
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


def openssl_key(path: Path, *args: str) -> Path:
    subprocess.run(["openssl", "genpkey", *args, "-out", str(path)], check=True)
    path.chmod(0o600)
    return path


def test_key_written_by_openssl_loads_with_the_same_public_key(tmp_path: Path) -> None:
    path = openssl_key(tmp_path / "openssl.key", "-algorithm", "ed25519")
    public = subprocess.run(
        ["openssl", "pkey", "-in", str(path), "-pubout", "-outform", "DER"],
        check=True,
        capture_output=True,
    ).stdout
    # An Ed25519 SubjectPublicKeyInfo ends with the 32-byte raw public key.
    assert SigningKey.load(path).public.raw == public[-32:]


def test_key_written_by_cryptography_loads_to_the_same_private_key(tmp_path: Path) -> None:
    private = Ed25519PrivateKey.generate()
    path = tmp_path / "lib.key"
    path.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)
    loaded = SigningKey.load(path)
    assert loaded.public.raw == private.public_key().public_bytes_raw()
    assert loaded.public.verify(loaded.sign(b"m"), b"m")


def test_other_key_files_are_refused_by_what_they_are(tmp_path: Path) -> None:
    encrypted = openssl_key(
        tmp_path / "enc.key", "-algorithm", "ed25519", "-aes256", "-pass", "pass:secret"
    )
    with pytest.raises(KeyFileError, match="is a PEM ENCRYPTED PRIVATE KEY, expected"):
        SigningKey.load(encrypted)
    rsa = openssl_key(tmp_path / "rsa.key", "-algorithm", "rsa", "-pkeyopt", "rsa_keygen_bits:1024")
    with pytest.raises(KeyFileError, match=r"not an Ed25519 key in PKCS#8 form \(RFC 8410\)"):
        SigningKey.load(rsa)
    x448 = openssl_key(tmp_path / "x448.key", "-algorithm", "x448")
    with pytest.raises(KeyFileError, match="not an Ed25519 key"):
        SigningKey.load(x448)
    good = openssl_key(tmp_path / "good.key", "-algorithm", "ed25519").read_bytes()
    truncated = tmp_path / "truncated.key"
    truncated.write_bytes(good[: len(good) // 2])
    truncated.chmod(0o600)
    with pytest.raises(KeyFileError, match="no END line"):
        SigningKey.load(truncated)
    damaged = tmp_path / "damaged.key"
    damaged.write_bytes(good.replace(b"MC4C", b"MC4*"))
    damaged.chmod(0o600)
    with pytest.raises(KeyFileError, match=f"private key {damaged} is not a valid PEM key"):
        SigningKey.load(damaged)


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


# RFC 8032 §6 reference arithmetic, enough to check the small-order list independently.
P = 2**255 - 19
D = -121665 * pow(121666, P - 2, P) % P
IDENTITY = (0, 1, 1, 0)


def _add(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    e1, e2 = (a[1] - a[0]) * (b[1] - b[0]) % P, (a[1] + a[0]) * (b[1] + b[0]) % P
    c, d = 2 * a[3] * b[3] * D % P, 2 * a[2] * b[2] % P
    e, f, g, h = e2 - e1, d - c, d + c, e2 + e1
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _decompress(raw: bytes) -> tuple[int, ...] | None:
    y = int.from_bytes(raw, "little")
    sign, y = y >> 255, y & ((1 << 255) - 1)
    if y >= P:
        return None
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P) % P
    if x2 == 0:
        return None if sign else (0, y, 1, 0)
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P:
        x = x * pow(2, (P - 1) // 4, P) % P
    if (x * x - x2) % P:
        return None
    if (x & 1) != sign:
        x = P - x
    return (x, y, 1, x * y % P)


def _is_identity(point: tuple[int, ...]) -> bool:
    return point[0] % P == 0 and (point[1] - point[2]) % P == 0


@pytest.mark.parametrize("encoding", sorted(SMALL_ORDER_ENCODINGS))
def test_every_refused_encoding_is_a_point_of_small_order(encoding: bytes) -> None:
    for raw in (encoding, encoding[:31] + bytes([encoding[31] | 0x80])):
        point = _decompress(raw)
        if point is None:  # y >= p (non-canonical) or no such x: still refused
            assert has_small_order(raw)
            continue
        eight = point
        for _ in range(3):
            eight = _add(eight, eight)
        assert _is_identity(eight), raw.hex()
        assert has_small_order(raw)
        with pytest.raises(KeyFileError, match="small order"):
            PublicKey.from_b64(base64.b64encode(raw).decode())


def test_real_keys_are_not_of_small_order() -> None:
    for _ in range(50):
        raw = SigningKey.generate().public.raw
        assert not has_small_order(raw)
        point = _decompress(raw)
        assert point is not None
        for _ in range(3):
            point = _add(point, point)
        assert not _is_identity(point)
