"""Database schema (SQLAlchemy 2). Alembic migrations in `server/migrations` create it.

Evidence tables (`bundles`, `records`, `log_entries`) are append-only: the migration
installs triggers that abort any UPDATE or DELETE on them.
"""

from __future__ import annotations

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class EnrollmentToken(Base):
    __tablename__ = "enrollment_tokens"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[str] = mapped_column(String(32))
    expires_at: Mapped[str] = mapped_column(String(32))
    max_uses: Mapped[int] = mapped_column(Integer)
    uses: Mapped[int] = mapped_column(Integer, default=0)


class Agent(Base):
    __tablename__ = "agents"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    keyid: Mapped[str] = mapped_column(String(64), unique=True)
    public_key: Mapped[str] = mapped_column(String(64))
    hostname: Mapped[str] = mapped_column(String(255))
    machine_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    enrolled_at: Mapped[str] = mapped_column(String(32))
    token_id: Mapped[str] = mapped_column(ForeignKey("enrollment_tokens.id"))
    revoked_at: Mapped[str | None] = mapped_column(String(32), nullable=True)
    revoked_reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class Bundle(Base):
    __tablename__ = "bundles"
    __table_args__ = (UniqueConstraint("agent_id", "host_id", "seq", name="uq_bundles_chain_seq"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id"), index=True)
    host_id: Mapped[str] = mapped_column(String(128), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    prev: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(Integer)
    log_index: Mapped[int] = mapped_column(Integer, unique=True)
    receipt: Mapped[str] = mapped_column(Text)


class Record(Base):
    __tablename__ = "records"
    __table_args__ = (UniqueConstraint("bundle_id", "idx", name="uq_records_bundle_idx"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    bundle_id: Mapped[str] = mapped_column(ForeignKey("bundles.id"), index=True)
    idx: Mapped[int] = mapped_column(Integer)
    host_id: Mapped[str] = mapped_column(String(128), index=True)
    collector: Mapped[str] = mapped_column(String(128), index=True)
    collector_version: Mapped[str] = mapped_column(String(32))
    category: Mapped[str] = mapped_column(String(32))
    collected_at: Mapped[str] = mapped_column(String(32))
    digest: Mapped[str] = mapped_column(String(64))
    facts: Mapped[str] = mapped_column(Text)
    errors: Mapped[str] = mapped_column(Text)


class Host(Base):
    __tablename__ = "hosts"
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(255))
    machine_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    first_agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id"))
    first_seen: Mapped[str] = mapped_column(String(32))
    last_seen: Mapped[str] = mapped_column(String(32))


class Finding(Base):
    __tablename__ = "findings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(32), index=True)
    agent_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    host_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    detail: Mapped[str] = mapped_column(Text)


class LogEntry(Base):
    """Append-only evidence log; `idx` is contiguous from 0 (a Merkle log leaf index)."""

    __tablename__ = "log_entries"
    idx: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(16))
    ref: Mapped[str] = mapped_column(String(64), unique=True)
    appended_at: Mapped[str] = mapped_column(String(32))


class CheckResult(Base):
    """A check's decision on a host, made when evidence arrived; rows are only added,
    so the status at any past moment can be read back (`evaluated_at` <= moment)."""

    __tablename__ = "check_results"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    host_id: Mapped[str] = mapped_column(String(128), index=True)
    check_id: Mapped[str] = mapped_column(String(96), index=True)
    decision: Mapped[str] = mapped_column(String(16))
    observed: Mapped[str] = mapped_column(Text)  # JSON
    reason: Mapped[str] = mapped_column(Text)
    bundle_id: Mapped[str] = mapped_column(ForeignKey("bundles.id"))
    record_index: Mapped[int] = mapped_column(Integer)
    collected_at: Mapped[str] = mapped_column(String(32))
    evaluated_at: Mapped[str] = mapped_column(String(32), index=True)


class Document(Base):
    """Document evidence for a control (policy, training record, drill, ...): the file is
    a content-addressed blob; the row says for which control, by whom, until when."""

    __tablename__ = "documents"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    framework: Mapped[str] = mapped_column(String(48))
    control_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    filename: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(Integer)
    uploaded_by: Mapped[str] = mapped_column(String(128))
    uploaded_at: Mapped[str] = mapped_column(String(32))
    valid_until: Mapped[str] = mapped_column(String(10))  # YYYY-MM-DD, inclusive
    log_index: Mapped[int] = mapped_column(Integer, unique=True)


class ControlSet(Base):
    """A version of the checks (by fingerprint) the latest evidence was evaluated with."""

    __tablename__ = "control_sets"
    fingerprint: Mapped[str] = mapped_column(String(64), primary_key=True)
    checks: Mapped[int] = mapped_column(Integer)
    applied_at: Mapped[str] = mapped_column(String(32))
