"""Ed25519 keys: generation, safe storage (0600) and loading, key ids.

A private key never leaves its host. Loading refuses a key file that group or
others can read, the way OpenSSH refuses an unprotected identity file.

Key files are PKCS#8 PEM, as `openssl genpkey -algorithm ed25519` writes them. They are
written with `cryptography` but read without `cryptography.hazmat.primitives.serialization`:
that package also loads the OpenSSH key code and bcrypt (1.5 MB), and every agent cycle
loads its key. RFC 8410 fixes the encoding of an unencrypted Ed25519 PKCS#8 key byte for
byte (a 16-byte DER prefix, then the 32-byte seed), so reading it is a prefix comparison.
"""

from __future__ import annotations

import base64
import binascii
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from evidence.canonical import sha256_hex
from evidence.errors import KeyFileError

# RFC 8410 §7: SEQUENCE { INTEGER 0, SEQUENCE { OID 1.3.101.112 }, OCTET STRING {
# OCTET STRING (32 bytes) } }, the form of every unencrypted Ed25519 PKCS#8 v1 key.
PKCS8_ED25519_PREFIX = bytes.fromhex("302e020100300506032b657004220420")
PEM_LABEL = "PRIVATE KEY"

# Encodings of the Ed25519 points of small order, including the non-canonical ones
# (y = p, p + 1), compared with the sign bit cleared: libsodium's blocklist
# (ge25519_has_small_order). Under such a "public key" a signature that verifies can be
# made without any private key, so it can never identify an agent.
SMALL_ORDER_ENCODINGS = frozenset(
    bytes.fromhex(text)
    for text in (
        "00" * 32,
        "01" + "00" * 31,
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        "ec" + "ff" * 30 + "7f",
        "ed" + "ff" * 30 + "7f",
        "ee" + "ff" * 30 + "7f",
    )
)


def has_small_order(raw_public_key: bytes) -> bool:
    return raw_public_key[:31] + bytes([raw_public_key[31] & 0x7F]) in SMALL_ORDER_ENCODINGS


def keyid_of(raw_public_key: bytes) -> str:
    """Key id = SHA-256 (hex) of the 32-byte raw Ed25519 public key."""
    return sha256_hex(raw_public_key)


@dataclass(frozen=True)
class PublicKey:
    raw: bytes

    @classmethod
    def from_b64(cls, text: str) -> PublicKey:
        try:
            raw = base64.b64decode(text, validate=True)
        except ValueError as exc:
            raise KeyFileError(f"public key is not valid base64: {exc}") from exc
        if len(raw) != 32:
            raise KeyFileError(f"an Ed25519 public key has 32 bytes, got {len(raw)}")
        if has_small_order(raw):
            raise KeyFileError(
                "public key is a point of small order: anyone could sign as it, so it is refused"
            )
        return cls(raw)

    @property
    def keyid(self) -> str:
        return keyid_of(self.raw)

    def b64(self) -> str:
        return base64.b64encode(self.raw).decode("ascii")

    def verify(self, signature: bytes, message: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.raw).verify(signature, message)
        except InvalidSignature:
            return False
        return True

    def to_pem(self) -> bytes:
        from cryptography.hazmat.primitives import serialization  # see the module docstring

        return Ed25519PublicKey.from_public_bytes(self.raw).public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


class SigningKey:
    """An Ed25519 private key with its public half and key id."""

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        self.public = PublicKey(private.public_key().public_bytes_raw())

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    @property
    def keyid(self) -> str:
        return self.public.keyid

    def sign(self, message: bytes) -> bytes:
        return self._private.sign(message)

    def save(self, path: Path) -> None:
        """Write the key as PKCS#8 PEM, created with mode 0600 and never overwritten."""
        from cryptography.hazmat.primitives import serialization  # see the module docstring

        pem = self._private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError as exc:
            raise KeyFileError(f"{path} already exists; refusing to overwrite a key") from exc
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())

    @classmethod
    def load(cls, path: Path) -> SigningKey:
        try:
            mode = path.stat().st_mode
        except FileNotFoundError as exc:
            raise KeyFileError(f"private key {path} does not exist") from exc
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyFileError(
                f"private key {path} has mode {stat.S_IMODE(mode):04o}, readable by others; "
                f"run 'chmod 600 {path}' (and check who could have copied it)"
            )
        try:
            seed = seed_of_pkcs8_pem(path.read_bytes())
        except ValueError as exc:
            raise KeyFileError(f"private key {path} {exc}") from exc
        return cls(Ed25519PrivateKey.from_private_bytes(seed))


def seed_of_pkcs8_pem(data: bytes) -> bytes:
    """The 32-byte seed of an unencrypted Ed25519 PKCS#8 PEM key; ValueError, worded to
    follow "private key PATH", for anything else."""
    try:
        lines = data.decode("ascii").strip().splitlines()
    except UnicodeDecodeError:
        raise ValueError("is not a valid PEM key (not ASCII text)") from None
    if not lines or not lines[0].startswith("-----BEGIN "):
        raise ValueError("is not a valid PEM key (no BEGIN line)")
    if lines[0] != f"-----BEGIN {PEM_LABEL}-----":
        label = lines[0].removeprefix("-----BEGIN ").removesuffix("-----")
        raise ValueError(f"is a PEM {label}, expected an unencrypted PKCS#8 {PEM_LABEL}")
    if lines[-1] != f"-----END {PEM_LABEL}-----":
        raise ValueError("is not a valid PEM key (no END line: truncated?)")
    try:
        der = base64.b64decode("".join(line.strip() for line in lines[1:-1]), validate=True)
    except binascii.Error as exc:
        raise ValueError(f"is not a valid PEM key ({exc})") from None
    if len(der) != len(PKCS8_ED25519_PREFIX) + 32 or not der.startswith(PKCS8_ED25519_PREFIX):
        raise ValueError("is not an Ed25519 key in PKCS#8 form (RFC 8410)")
    return der[len(PKCS8_ED25519_PREFIX) :]
