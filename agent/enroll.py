"""`dossier agent enroll`: make a key on this host and register its public half."""

from __future__ import annotations

import shutil
from pathlib import Path

from agent.files import write_atomic
from agent.state import Enrollment, StateDir, StateError
from collectors.host import LocalHost
from collectors.identity import host_ref
from evidence.canonical import utc_now_iso
from evidence.offline_enroll import (
    MAX_FILE_BYTES,
    REQUEST_PREFIX,
    EnrollRequest,
    OfflineEnrollError,
    read_response,
    sign_request,
)


class EnrollError(Exception):
    """Enrollment was refused or the server could not be reached."""


def enroll(state: StateDir, server_url: str, token: str, ca_file: Path | None) -> Enrollment:
    # HTTP is loaded only by commands that talk to a server: see agent.shipping.
    from agent.shipper import error_of, make_session

    _refuse_if_enrolled(state)
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


def write_enroll_request(state: StateDir, token: str, media: Path) -> Path:
    """Create this host's key (or reuse one no server has answered for yet) and write an
    enrollment request signed by it onto `media`, for a host with no route to the server."""
    _refuse_if_enrolled(state)
    if not media.is_dir():
        raise EnrollError(f"media directory {media} does not exist (is the medium mounted?)")
    state.create()
    key = state.load_or_create_key()
    identity = host_ref(LocalHost())
    request = EnrollRequest(
        token=token,
        public_key=key.public.b64(),
        hostname=identity.hostname,
        machine_id=identity.machine_id,
        created_at=utc_now_iso(),
    )
    path = media / f"{REQUEST_PREFIX}{key.keyid[:16]}.json"
    write_atomic(path, sign_request(request, key), mode=0o600)  # it carries the token
    return path


def accept_enroll_response(
    state: StateDir,
    response_file: Path,
    server_keyid: str,
    server_url: str | None,
    ca_file: Path | None = None,
) -> Enrollment:
    """Enroll from the server's response file, if it is signed by the server key the
    operator was told (`server_keyid`) and answers this host's own request."""
    _refuse_if_enrolled(state)
    if not state.key_file.exists():
        raise EnrollError(
            f"{state.root} has no agent key: write a request first (dossier agent enroll-request)"
        )
    key = state.load_key()
    try:
        with response_file.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise EnrollError(f"cannot read {response_file}: {exc.strerror or exc}") from exc
    try:
        response = read_response(data, server_keyid, key.public)
    except OfflineEnrollError as exc:
        raise EnrollError(f"{response_file}: {exc}") from exc
    if ca_file is not None:
        if not ca_file.is_file():
            raise EnrollError(f"CA file {ca_file} does not exist")
        shutil.copyfile(ca_file, state.ca_file)
    enrollment = Enrollment(
        agent_id=response.agent_id,
        server_url=server_url,
        enrolled_at=response.enrolled_at,
        server_public_key=response.server_public_key,
        server_keyid=response.server_keyid,
    )
    state.save_enrollment(enrollment)
    return enrollment


def _refuse_if_enrolled(state: StateDir) -> None:
    if state.is_enrolled():
        current = state.enrollment()
        where = current.server_url or "a server, by removable media"
        raise StateError(
            f"{state.root} is already enrolled as {current.agent_id} with {where}; "
            "use a new state directory to enroll again"
        )
