"""Rights requests in the database: one function owns status, clock and due date (issue 6).

``submit`` starts the clock with ``OME_PRIVACY_RESPONSE_DAYS``; ``move`` is the only way a
status changes: it refuses a move the life cycle does not allow, pauses the clock while
the requester owes an answer, resumes it after, and audits each move with codes only.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from privacy_host import Host, MakeHost

from flask_ome_privacy import privacy_requests
from flask_ome_privacy.lifecycle import Status, TransitionError
from flask_ome_privacy.models import AuditEvent, PrivacyRequest
from flask_ome_privacy.state import get_state

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def host(make_host: MakeHost) -> Host:
    return make_host(members=["1"], OME_PRIVACY_RESPONSE_DAYS=10, OME_PRIVACY_FEE_YEN=1000)


def test_a_submitted_request_is_due_after_the_configured_response_days(host: Host) -> None:
    with host.app.app_context():
        request = privacy_requests.submit(get_state(host.app), user_id="1", kind="disclose", now=T0)
        host.db.session.commit()
        stored = host.db.session.get(PrivacyRequest, request.id)
        assert stored.status == "submitted"
        assert stored.target_days == 10
        assert stored.due_at == T0 + timedelta(days=10)
        assert (stored.fee_status, stored.fee_amount) == ("outstanding", 1000)
        event = host.db.session.scalar(sa.select(AuditEvent).where(AuditEvent.request_id == request.id))
        assert event.action == "request.submitted"
        assert event.data == {"reference": stored.reference, "kind": "disclose"}


def test_waiting_for_the_requester_pauses_the_clock_and_answering_resumes_it(host: Host) -> None:
    with host.app.app_context():
        session = host.db.session
        request = privacy_requests.submit(get_state(host.app), user_id="1", kind="correct", now=T0)
        privacy_requests.move(
            session, request, Status.IDENTITY_REVIEW, actor_id="s", actor_role="staff", now=T0
        )
        day2 = T0 + timedelta(days=2)
        privacy_requests.move(
            session, request, Status.AWAITING_REQUESTER, actor_id="s", actor_role="staff", now=day2
        )
        assert request.paused_since == day2
        assert request.due_at == T0 + timedelta(days=10)
        day5 = T0 + timedelta(days=5)
        privacy_requests.move(
            session, request, Status.UNDER_REVIEW, actor_id="1", actor_role="user", now=day5
        )
        session.commit()
        assert request.paused_since is None
        assert request.due_at == T0 + timedelta(days=13)  # three days waiting for the requester
        assert privacy_requests.clock_of(request).due_at == request.due_at
        moves = session.scalars(
            sa.select(AuditEvent.data).where(AuditEvent.action == "request.moved").order_by(AuditEvent.id)
        ).all()
        assert [(m["from"], m["to"]) for m in moves] == [
            ("submitted", "identity_review"),
            ("identity_review", "awaiting_requester"),
            ("awaiting_requester", "under_review"),
        ]


def test_a_move_the_life_cycle_does_not_allow_changes_nothing(host: Host) -> None:
    with host.app.app_context():
        session = host.db.session
        request = privacy_requests.submit(get_state(host.app), user_id="1", kind="erase", now=T0)
        with pytest.raises(TransitionError, match="cannot become completed"):
            privacy_requests.move(session, request, Status.COMPLETED, actor_id="s", actor_role="staff")
        assert request.status == "submitted"
        assert session.scalar(sa.select(sa.func.count()).where(AuditEvent.action == "request.moved")) == 0


def test_closing_a_request_stamps_when_and_takes_it_off_the_open_list(host: Host) -> None:
    with host.app.app_context():
        session = host.db.session
        state = get_state(host.app)
        kept = privacy_requests.submit(state, user_id="1", kind="disclose", now=T0)
        gone = privacy_requests.submit(state, user_id="1", kind="erase", now=T0 + timedelta(hours=1))
        later = T0 + timedelta(days=1)
        privacy_requests.move(session, gone, Status.WITHDRAWN, actor_id="1", actor_role="user", now=later)
        session.commit()
        assert gone.closed_at == later
        assert [r.reference for r in privacy_requests.open_requests_for(session, "1")] == [kept.reference]
