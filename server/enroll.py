"""Enrollment: an agent proves it holds a valid token and registers its public key."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from evidence.canonical import parse_timestamp, utc_now_iso
from evidence.errors import KeyFileError
from evidence.keys import PublicKey
from server.admin import token_digest
from server.errors import ApiError
from server.models import Agent, EnrollmentToken


class EnrollRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: str = Field(min_length=1, max_length=200)
    public_key: str = Field(min_length=1, max_length=100, description="raw Ed25519, base64")
    hostname: str = Field(min_length=1, max_length=255)
    machine_id: str | None = Field(default=None, max_length=128)


@dataclass(frozen=True)
class EnrollResult:
    agent_id: str
    enrolled_at: str


def agent_id_for(key: PublicKey) -> str:
    return "agt-" + key.keyid[:20]


def enroll(session: Session, request: EnrollRequest) -> EnrollResult:
    try:
        key = PublicKey.from_b64(request.public_key)
    except KeyFileError as exc:
        raise ApiError(400, "invalid_public_key", str(exc)) from exc
    token = session.scalars(
        select(EnrollmentToken).where(EnrollmentToken.token_sha256 == token_digest(request.token))
    ).first()
    if token is None:
        raise ApiError(401, "invalid_token", "enrollment token is not known to this server")
    now = utc_now_iso()
    if parse_timestamp(token.expires_at) <= parse_timestamp(now):
        raise ApiError(
            401,
            "token_expired",
            f"enrollment token {token.id} expired at "
            f"{token.expires_at}; ask an administrator for a new one",
        )
    if session.scalars(select(Agent).where(Agent.keyid == key.keyid)).first() is not None:
        raise ApiError(
            409,
            "key_already_enrolled",
            "this public key is already enrolled; generate a new key to re-enroll",
        )
    # Spend one use atomically, so two agents racing for the last use cannot both win.
    spent = session.execute(
        update(EnrollmentToken)
        .where(EnrollmentToken.id == token.id, EnrollmentToken.uses < EnrollmentToken.max_uses)
        .values(uses=EnrollmentToken.uses + 1)
    )
    if getattr(spent, "rowcount", 0) != 1:
        session.rollback()
        raise ApiError(
            401,
            "token_used_up",
            f"enrollment token {token.id} has been used {token.max_uses} time(s) "
            "already; ask an administrator for a new one",
        )
    agent = Agent(
        id=agent_id_for(key),
        keyid=key.keyid,
        public_key=key.b64(),
        hostname=request.hostname,
        machine_id=request.machine_id,
        enrolled_at=now,
        token_id=token.id,
    )
    session.add(agent)
    try:
        session.commit()
    except IntegrityError as exc:  # the same key enrolled by a concurrent request
        session.rollback()
        raise ApiError(
            409,
            "key_already_enrolled",
            "this public key is already enrolled; generate a new key to re-enroll",
        ) from exc
    return EnrollResult(agent_id=agent.id, enrolled_at=now)
