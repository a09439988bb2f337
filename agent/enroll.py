"""`dossier agent enroll`: make a key on this host and register its public half."""

from __future__ import annotations

import shutil
from pathlib import Path

from agent.shipper import error_of, make_session
from agent.state import Enrollment, StateDir, StateError
from collectors.host import LocalHost
from collectors.identity import host_ref


class EnrollError(Exception):
    """Enrollment was refused or the server could not be reached."""


def enroll(state: StateDir, server_url: str, token: str, ca_file: Path | None) -> Enrollment:
    if state.is_enrolled():
        current = state.enrollment()
        raise StateError(
            f"{state.root} is already enrolled as {current.agent_id} with "
            f"{current.server_url}; use a new state directory to enroll again"
        )
    state.create()
    if ca_file is not None:
        if not ca_file.is_file():
            raise EnrollError(f"CA file {ca_file} does not exist")
        shutil.copyfile(ca_file, state.ca_file)
    # A key left by an earlier, failed attempt is reused: it never left this host.
    key = state.load_or_create_key()
    identity = host_ref(LocalHost())
    session = make_session(server_url, state.ca_file if ca_file else None, retries=2)
    try:
        response = session.post(
            server_url.rstrip("/") + "/api/v1/enroll",
            json={
                "token": token,
                "public_key": key.public.b64(),
                "hostname": identity.hostname,
                "machine_id": identity.machine_id,
            },
            timeout=30,
        )
    except Exception as exc:
        raise EnrollError(f"cannot reach {server_url}: {exc}") from exc
    if response.status_code != 201:
        code, detail = error_of(response)
        raise EnrollError(f"enrollment refused ({response.status_code} {code}): {detail}")
    body = response.json()
    enrollment = Enrollment(
        agent_id=body["agent_id"],
        server_url=server_url,
        enrolled_at=body["enrolled_at"],
        server_public_key=body["server_public_key"],
        server_keyid=body["server_keyid"],
    )
    if enrollment.server_key().keyid != enrollment.server_keyid:
        raise EnrollError("server key and key id disagree; refusing this enrollment")
    state.save_enrollment(enrollment)
    return enrollment
