"""Enrollment from a request file carried on removable media (air-gapped hosts).

The request passes the same checks as `POST /api/v1/enroll` (token valid, unexpired,
not used up; key not yet enrolled); the answer is a response file signed by the server
key, which the agent verifies against the key id its operator was given.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from evidence.keys import PublicKey, SigningKey
from evidence.offline_enroll import EnrollResponse, read_request, sign_response
from server.enroll import EnrollRequest, enroll
from server.errors import AdminError, ApiError
from server.models import Agent


@dataclass(frozen=True)
class OfflineEnrollment:
    agent_id: str
    hostname: str
    response: bytes  # the signed response file's content


def enroll_from_request(
    session: Session, server_key: SigningKey, request_bytes: bytes
) -> OfflineEnrollment:
    """Enroll the request's key, or answer again for a key this server already enrolled
    from it (a response lost on the way back must not strand the host: the request is
    signed by the agent's key and the response holds no secret)."""
    request = read_request(request_bytes)
    key = PublicKey.from_b64(request.public_key)
    known = session.scalars(select(Agent).where(Agent.keyid == key.keyid)).first()
    if known is not None and known.revoked_at is not None:
        raise AdminError(f"agent {known.id} was revoked at {known.revoked_at}; not answering")
    if known is not None:
        agent_id, enrolled_at = known.id, known.enrolled_at
    else:
        try:
            result = enroll(
                session,
                EnrollRequest(
                    token=request.token,
                    public_key=request.public_key,
                    hostname=request.hostname,
                    machine_id=request.machine_id,
                ),
            )
        except ApiError as exc:
            raise AdminError(f"enrollment refused ({exc.code}): {exc.detail}") from exc
        agent_id, enrolled_at = result.agent_id, result.enrolled_at
    response = EnrollResponse(
        agent_id=agent_id,
        agent_public_key=request.public_key,
        enrolled_at=enrolled_at,
        server_public_key=server_key.public.b64(),
        server_keyid=server_key.keyid,
    )
    return OfflineEnrollment(agent_id, request.hostname, sign_response(response, server_key))
