"""Two requests enrolling one key at once: both pass the "already enrolled?" check, one
insert wins, and the loser must get the 409 a sequential second request gets, not a 500
from the database's unique constraint.

The race window cannot be hit on demand, so the loser's view is built directly: a row
that the check does not see (it looks the key up by key id) but that holds the agent id
the insert needs, committed before the request runs. The insert then fails on the same
unique constraint as in the race, and that failure is what is under test.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from evidence.keys import SigningKey
from server.admin import create_enrollment_token
from server.db import make_engine, migrate, session_factory
from server.enroll import EnrollRequest, agent_id_for, enroll
from server.errors import ApiError
from server.models import Agent, EnrollmentToken


def test_a_unique_constraint_lost_at_commit_is_key_already_enrolled(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'race.db'}")
    migrate(engine)
    sessions = session_factory(engine)
    key = SigningKey.generate().public
    with sessions() as session:
        created = create_enrollment_token(session, uses=2, expires_in=timedelta(hours=1))
        token = created.token
        session.add(
            Agent(
                id=agent_id_for(key),
                keyid="0" * 64,  # not found by the key-id check: the race's blind spot
                public_key=key.b64(),
                hostname="winner",
                machine_id=None,
                enrolled_at="2026-11-26T10:00:00.000000Z",
                token_id=created.id,
            )
        )
        session.commit()
    request = EnrollRequest(token=token, public_key=key.b64(), hostname="loser")
    with sessions() as session, pytest.raises(ApiError) as refused:
        enroll(session, request)
    assert (refused.value.status, refused.value.code) == (409, "key_already_enrolled")
    with sessions() as check:
        assert check.query(Agent).count() == 1
        # The refused request did not spend a use of the token.
        assert check.get(EnrollmentToken, created.id).uses == 0
