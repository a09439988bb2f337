"""Signed tree heads of the server's evidence log (RFC 6962 Merkle tree).

A tree head states "the log held `size` entries whose Merkle root is `root` at
`timestamp`", signed by the server key. Inclusion proofs (evidence.merkle) tie a bundle
or document to it; consistency proofs tie an older head to a newer one, so a log that
was rewritten or shortened after a head was handed out is caught.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from evidence import dsse
from evidence.keys import PublicKey, SigningKey
from evidence.merkle import leaf_hash
from evidence.records import Sha256Hex, Timestamp

TREE_HEAD_PAYLOAD_TYPE = "application/vnd.dossier.tree-head+json"


class TreeHead(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["dossier.tree-head/v1"] = "dossier.tree-head/v1"
    size: int = Field(ge=0)
    root: Sha256Hex
    timestamp: Timestamp


def sign_tree_head(head: TreeHead, key: SigningKey) -> dsse.Envelope:
    return dsse.sign_model(TREE_HEAD_PAYLOAD_TYPE, head, key)


def verify_tree_head(envelope: dsse.Envelope, server_key: PublicKey) -> TreeHead:
    return dsse.verify_model(
        envelope, TREE_HEAD_PAYLOAD_TYPE, server_key, TreeHead, "tree head", "malformed_tree_head"
    )


def entry_leaf(kind: str, ref: str) -> bytes:
    """The leaf hash of a log entry: a bundle (ref = bundle id) or a document."""
    return leaf_hash(f"dossier-log-entry:{kind}:{ref}".encode())
