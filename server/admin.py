"""Administrative operations run on the server machine: init, tokens, agents."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from evidence import durations
from evidence.canonical import format_timestamp, utc_now_iso
from evidence.keys import SigningKey
from server.config import DataDir
from server.controls.catalog import Configs
from server.db import make_engine, migrate, session_factory
from server.errors import AdminError
from server.models import Agent, EnrollmentToken
from server.tls import create_ca_and_server_cert


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def constant_time_equal(left: str, right: str) -> bool:
    return hmac.compare_digest(left.encode(), right.encode())


def init_server(
    data: DataDir, *, database_url: str | None = None, tls_names: list[str] | None = None
) -> str:
    """Create keys, TLS material, config and database; return the admin token (once)."""
    if data.is_initialised():
        raise AdminError(f"{data.root} is already initialised; refusing to replace its keys")
    data.root.mkdir(parents=True, exist_ok=True)
    data.root.chmod(0o700)
    key = SigningKey.generate()
    key.save(data.server_key)
    data.server_public_key.write_text(key.public.b64() + "\n", encoding="ascii")
    admin_token = "dsa_" + secrets.token_urlsafe(32)
    data.admin_token_hash.write_text(token_digest(admin_token) + "\n", encoding="ascii")
    data.admin_token_hash.chmod(0o600)
    create_ca_and_server_cert(data.tls_dir, extra_names=tls_names)
    settings: dict[str, object] = {}
    if database_url:
        settings["database_url"] = database_url
    data.config_file.write_text(
        "# Dossier server settings; see README 'Configuration reference'.\n"
        + (yaml.safe_dump(settings) if settings else "{}\n"),
        encoding="utf-8",
    )
    migrate(make_engine(data.database_url()))
    return admin_token


def parse_duration(text: str) -> timedelta:
    try:
        return durations.parse_duration(text)
    except ValueError as exc:
        raise AdminError(str(exc)) from exc


@dataclass(frozen=True)
class CreatedToken:
    id: str
    token: str
    expires_at: str
    max_uses: int


def create_enrollment_token(session: Session, *, uses: int, expires_in: timedelta) -> CreatedToken:
    if uses < 1:
        raise AdminError("an enrollment token must allow at least one use")
    token = "dse_" + secrets.token_urlsafe(24)
    now = datetime.now(UTC)
    row = EnrollmentToken(
        id="tok-" + secrets.token_hex(6),
        token_sha256=token_digest(token),
        created_at=format_timestamp(now),
        expires_at=format_timestamp(now + expires_in),
        max_uses=uses,
        uses=0,
    )
    session.add(row)
    session.commit()
    return CreatedToken(id=row.id, token=token, expires_at=row.expires_at, max_uses=uses)


def revoke_agent(session: Session, agent_id: str, reason: str) -> Agent:
    agent = session.get(Agent, agent_id)
    if agent is None:
        raise AdminError(f"no agent with id {agent_id}")
    if agent.revoked_at is None:
        agent.revoked_at = utc_now_iso()
        agent.revoked_reason = reason
        session.commit()
    return agent


def list_agents(session: Session) -> list[Agent]:
    return list(session.scalars(select(Agent).order_by(Agent.enrolled_at)))


def open_session(data: DataDir) -> Session:
    data.require_initialised()
    return session_factory(make_engine(data.database_url()))()


def load_evaluated_controls(data: DataDir) -> Configs:
    """The catalogs and checks in force, with the stored evidence evaluated by them
    (migrating an older data dir first): what every status, export or document command
    must see, whether or not the server process has run since the checks changed."""
    from server.controls.store import ensure_evaluated
    from server.db import migrate

    data.require_initialised()
    engine = make_engine(data.database_url())
    migrate(engine)
    controls = data.load_settings().load_controls(data.root)
    ensure_evaluated(session_factory(engine), controls)
    return controls
