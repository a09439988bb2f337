"""Ingest: verify a bundle, store it immutably, log it and sign a receipt.

Order of checks (DESIGN.md): envelope → signature by an enrolled key → key not revoked
→ payload schema → chain (`seq`, `prev`). Nothing is written before every check passed.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from evidence import dsse
from evidence.bundle import BUNDLE_PAYLOAD_TYPE, SignedBundle, decode_payload
from evidence.canonical import utc_now_iso
from evidence.errors import BundleRejected
from evidence.keys import PublicKey, SigningKey
from evidence.receipt import Receipt, sign_receipt
from server.blobs import BlobStore
from server.controls.catalog import Configs
from server.controls.store import record_decisions
from server.errors import REJECTION_STATUS, ApiError
from server.evidence_log import EvidenceLog
from server.models import Agent, Bundle, Finding, Host, Record


@dataclass(frozen=True)
class IngestOutcome:
    receipt: bytes  # the signed receipt envelope, canonical JSON
    bundle_id: str
    duplicate: bool


class Ingestor:
    """Verifies and stores bundles; safe to call from many threads."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        blobs: BlobStore,
        server_key: SigningKey,
        controls: Configs | None = None,
    ) -> None:
        self._sessions = sessions
        self._blobs = blobs
        self._server_key = server_key
        # Checks are evaluated in the same transaction that stores the evidence.
        self._controls = controls
        self.log = EvidenceLog(server_key)
        # One writer at a time in this process keeps the log index contiguous; unique
        # constraints still guard against other processes (retry below).
        self._lock = threading.Lock()

    @property
    def log_lock(self) -> threading.Lock:
        """Held by whoever appends to the evidence log in this process."""
        return self._lock

    def ingest(self, body: bytes) -> IngestOutcome:
        envelope = _parse(body)
        with self._sessions() as session:
            agent = _enrolled_agent(session, envelope)
            bundle = _verified(envelope, agent)
        for attempt in range(3):
            try:
                with self._lock, self._sessions() as session:
                    return self._store(session, agent, bundle)
            except IntegrityError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _store(self, session: Session, agent: Agent, bundle: SignedBundle) -> IngestOutcome:
        bundle_id = bundle.bundle_id
        existing = session.get(Bundle, bundle_id)
        if existing is not None:
            return IngestOutcome(existing.receipt.encode(), bundle_id, duplicate=True)
        payload = bundle.payload
        same_seq = _bundle_at(session, agent.id, payload.host.id, payload.seq)
        if same_seq is not None:
            _finding(
                session,
                "fork",
                agent.id,
                payload.host.id,
                f"agent {agent.id} sent a second, different bundle for seq {payload.seq}: "
                f"stored {same_seq.id}, refused {bundle_id}",
            )
            session.commit()
            raise ApiError(
                409,
                "fork",
                f"seq {payload.seq} is already stored with other "
                f"content (bundle {same_seq.id}); refusing {bundle_id}",
            )
        before = _bundle_at(session, agent.id, payload.host.id, payload.seq - 1)
        if before is not None and payload.prev != before.id:
            _finding(
                session,
                "fork",
                agent.id,
                payload.host.id,
                f"bundle {bundle_id} seq {payload.seq} names prev {payload.prev}, but the "
                f"stored seq {payload.seq - 1} is {before.id}",
            )
            session.commit()
            raise ApiError(
                409,
                "chain_broken",
                f"prev {payload.prev} does not match stored seq {payload.seq - 1} ({before.id})",
            )
        after = _bundle_at(session, agent.id, payload.host.id, payload.seq + 1)
        if after is not None and after.prev != bundle_id:
            raise ApiError(
                409,
                "chain_broken",
                f"stored seq {payload.seq + 1} links to "
                f"{after.prev}, not to this bundle {bundle_id}",
            )
        if before is None and payload.seq > 1:
            lower = session.scalar(
                select(func.max(Bundle.seq)).where(
                    Bundle.agent_id == agent.id,
                    Bundle.host_id == payload.host.id,
                    Bundle.seq < payload.seq,
                )
            )
            _finding(
                session,
                "gap",
                agent.id,
                payload.host.id,
                f"evidence missing between seq {lower or 0} and {payload.seq} of agent {agent.id}",
            )

        now = utc_now_iso()
        logged = self.log.append(session, "bundle", bundle_id, now)
        receipt = sign_receipt(
            Receipt(
                bundle_id=bundle_id,
                agent_id=agent.id,
                seq=payload.seq,
                log_index=logged.index,
                received_at=now,
                tree_size=logged.size,
                root=logged.root.hex(),
            ),
            self._server_key,
        ).to_bytes()
        stored = bundle.envelope.to_bytes()
        self._blobs.put(bundle_id, stored)
        session.add(
            Bundle(
                id=bundle_id,
                agent_id=agent.id,
                host_id=payload.host.id,
                seq=payload.seq,
                prev=payload.prev,
                created_at=payload.created_at,
                received_at=now,
                size=len(stored),
                log_index=logged.index,
                receipt=receipt.decode(),
            )
        )
        session.flush()
        for index, record in enumerate(payload.records):
            session.add(
                Record(
                    bundle_id=bundle_id,
                    idx=index,
                    host_id=payload.host.id,
                    collector=record.collector,
                    collector_version=record.collector_version,
                    category=record.category,
                    collected_at=record.collected_at,
                    digest=record.digest(),
                    facts=json.dumps(record.facts, ensure_ascii=False),
                    errors=json.dumps(record.errors, ensure_ascii=False),
                )
            )
        _note_host(
            session, agent.id, payload.host.id, payload.host.hostname, payload.host.machine_id, now
        )
        if self._controls is not None:
            record_decisions(
                session, self._controls, payload.host.id, bundle_id, payload.records, now
            )
        session.commit()
        return IngestOutcome(receipt, bundle_id, duplicate=False)


def _parse(body: bytes) -> dsse.Envelope:
    try:
        return dsse.parse(body)
    except BundleRejected as exc:
        raise _as_api_error(exc) from exc


def _enrolled_agent(session: Session, envelope: dsse.Envelope) -> Agent:
    try:
        keyid = dsse.single_keyid(envelope)
    except BundleRejected as exc:
        raise _as_api_error(exc) from exc
    agent = session.scalars(select(Agent).where(Agent.keyid == keyid)).first()
    if agent is None:
        raise ApiError(
            403, "unknown_key", f"bundle is signed by key {keyid[:16]}…, which is not enrolled here"
        )
    session.expunge(agent)
    return agent


def _verified(envelope: dsse.Envelope, agent: Agent) -> SignedBundle:
    """Signature first (only the key's holder learns anything more), then revocation,
    then the payload's encoding and schema."""
    try:
        payload_bytes = dsse.verify(
            envelope, BUNDLE_PAYLOAD_TYPE, PublicKey.from_b64(agent.public_key)
        )
    except BundleRejected as exc:
        raise _as_api_error(exc) from exc
    if agent.revoked_at is not None:
        raise ApiError(
            403,
            "agent_revoked",
            f"agent {agent.id} was revoked at {agent.revoked_at}; new bundles "
            "are refused (its earlier evidence stays verifiable)",
        )
    try:
        bundle = SignedBundle(envelope, decode_payload(payload_bytes), payload_bytes)
    except BundleRejected as exc:
        raise _as_api_error(exc) from exc
    if bundle.payload.agent_id != agent.id:
        raise ApiError(
            422,
            "agent_mismatch",
            f"payload names agent {bundle.payload.agent_id}"
            f" but is signed by the key of agent {agent.id}",
        )
    return bundle


def _as_api_error(exc: BundleRejected) -> ApiError:
    return ApiError(REJECTION_STATUS.get(exc.code, 400), exc.code, exc.detail)


def _bundle_at(session: Session, agent_id: str, host_id: str, seq: int) -> Bundle | None:
    """The stored bundle at `seq` of the chain (agent, host), if any."""
    if seq < 1:
        return None
    return session.scalars(
        select(Bundle).where(
            Bundle.agent_id == agent_id, Bundle.host_id == host_id, Bundle.seq == seq
        )
    ).first()


def _finding(session: Session, kind: str, agent_id: str, host_id: str, detail: str) -> None:
    session.add(
        Finding(
            created_at=utc_now_iso(), kind=kind, agent_id=agent_id, host_id=host_id, detail=detail
        )
    )


def _has_finding(session: Session, kind: str, agent_id: str, host_id: str) -> bool:
    return (
        session.scalars(
            select(Finding.id).where(
                Finding.kind == kind, Finding.agent_id == agent_id, Finding.host_id == host_id
            )
        ).first()
        is not None
    )


def _note_host(
    session: Session, agent_id: str, host_id: str, hostname: str, machine_id: str | None, now: str
) -> None:
    host = session.get(Host, host_id)
    if host is None:
        session.add(
            Host(
                id=host_id,
                hostname=hostname,
                machine_id=machine_id,
                first_agent_id=agent_id,
                first_seen=now,
                last_seen=now,
            )
        )
        return
    if host.first_agent_id != agent_id and not _has_finding(
        session, "host_claimed", agent_id, host_id
    ):
        _finding(
            session,
            "host_claimed",
            agent_id,
            host_id,
            f"host {host_id} ({hostname}) first reported by {host.first_agent_id} is now "
            f"also reported by {agent_id}",
        )
    host.hostname = hostname
    host.last_seen = now
