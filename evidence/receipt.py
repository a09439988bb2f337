"""Signed receipts: the server's proof that it stored a bundle.

The agent deletes a spooled bundle only after such a receipt verifies against the
server key it pinned at enrollment.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from evidence import dsse
from evidence.errors import BundleRejected
from evidence.keys import PublicKey, SigningKey
from evidence.records import Sha256Hex, Timestamp

RECEIPT_PAYLOAD_TYPE = "application/vnd.dossier.receipt+json"


class Receipt(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["dossier.receipt/v1"] = "dossier.receipt/v1"
    bundle_id: Sha256Hex
    agent_id: str
    seq: int = Field(ge=1)
    log_index: int = Field(ge=0)
    received_at: Timestamp
    # The evidence log right after this bundle was appended (signed with the receipt):
    # an inclusion proof for `log_index` against this root shows the bundle is logged.
    tree_size: int = Field(ge=1)
    root: Sha256Hex


def sign_receipt(receipt: Receipt, key: SigningKey) -> dsse.Envelope:
    return dsse.sign_model(RECEIPT_PAYLOAD_TYPE, receipt, key)


def verify_receipt(envelope: dsse.Envelope, server_key: PublicKey, *, bundle_id: str) -> Receipt:
    """Verify the server's signature and that the receipt is for `bundle_id`."""
    receipt = dsse.verify_model(
        envelope, RECEIPT_PAYLOAD_TYPE, server_key, Receipt, "receipt", "malformed_receipt"
    )
    if receipt.bundle_id != bundle_id:
        raise BundleRejected(
            f"receipt is for bundle {receipt.bundle_id}, not {bundle_id}", "receipt_mismatch"
        )
    return receipt
