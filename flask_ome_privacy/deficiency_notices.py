"""Deficiency notices on the record (policy Art. 4.3; APPI Art. 37(4)), and closing unanswered ones.

``deficiency.py`` holds the pure rules (what a notice may name, its answer date); this module
writes them: the notice becomes a ``RequestMessage`` (kind ``deficiency``: the codes of the
missing checklist items and the staff's own words), the request's ``answer_deadline``, an
in-app notice for the requester, and the move to ``awaiting_requester`` (the clock pauses).

``close_expired`` closes every request whose notice went unanswered past its deadline as
incomplete, with a notice to the requester. It is idempotent and safe to run from cron every
minute (``flask ome-privacy close-expired``): a request is selected only while it is still
waiting, and two runs at once skip each other's rows (PostgreSQL ``SKIP LOCKED``; SQLite
has one writer anyway).

Add and flush; the caller commits once.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from . import audit, notify
from .deficiency import JST, DeficiencyNotice, build_notice, validate_notice
from .identity_checks import ReviewError, check_text, checklist_for
from .lifecycle import Status
from .models import PrivacyRequest, RequestMessage, utcnow
from .privacy_requests import move
from .sources import N_

__all__ = ["send_notice", "close_expired", "notice_problems", "REQUEST_PAGE_ENDPOINT"]

#: Where the requester reads their request (requests-follow's page); stored as an endpoint.
REQUEST_PAGE_ENDPOINT = "ome_privacy_account.request_detail"

NOTICE_SUBJECT = N_("Something is missing from your request %(reference)s")
NOTICE_BODY = N_("Please read what is missing and answer by %(answer_by)s, or the request will be closed.")
CLOSED_SUBJECT = N_("Your request %(reference)s was closed as incomplete")
CLOSED_BODY = N_(
    "We did not receive what was missing by %(answer_by)s, so the request was closed. "
    "You are welcome to make a new request."
)
NOTICE_STATUSES = frozenset({Status.IDENTITY_REVIEW, Status.UNDER_REVIEW})


def notice_problems(request: PrivacyRequest, chosen: Iterable[str], text: str) -> list[str]:
    """Message ids of why this notice cannot be sent (empty: it can)."""
    return [error.label for error in validate_notice(checklist_for(request), chosen, text)]


def send_notice(
    session: Session,
    request: PrivacyRequest,
    chosen: Iterable[str],
    text: str,
    *,
    answer_days: int,
    actor_id: str,
    now: datetime | None = None,
) -> DeficiencyNotice:
    """Tell the requester exactly what is missing and by when; the request waits for them.

    ``answer_days`` is ``OME_PRIVACY_DEFICIENCY_ANSWER_DAYS``. Raises ``ReviewError``.
    """
    if Status(request.status) not in NOTICE_STATUSES:
        raise ReviewError(N_("This cannot be done while the request is in this state."))
    chosen = list(chosen)
    text = check_text(text)
    problems = notice_problems(request, chosen, text)
    if problems:
        raise ReviewError(problems[0])
    now = now or utcnow()
    notice = build_notice(checklist_for(request), chosen, text, now, answer_days)
    message = RequestMessage(
        request_id=request.id,
        author="staff",
        kind="deficiency",
        body=notice.text,
        items=[item.code for item in notice.items],
        created_at=now,
    )
    session.add(message)
    request.answer_deadline = notice.expires_at
    session.flush()
    audit.append(
        session,
        "deficiency.sent",
        actor_id=actor_id,
        actor_role="staff",
        request_id=request.id,
        subject_user_id=request.user_id,
        data={
            "reference": request.reference,
            "message_id": message.id,
            "items": [item.code for item in notice.items],
            "answer_by": notice.answer_by.isoformat(),
        },
    )
    move(session, request, Status.AWAITING_REQUESTER, actor_id=actor_id, actor_role="staff", now=now)
    if request.user_id is not None:
        notify.add(
            session,
            request.user_id,
            "deficiency",
            NOTICE_SUBJECT,
            body=NOTICE_BODY,
            params={"reference": request.reference, "answer_by": notice.answer_by.isoformat()},
            link_endpoint=REQUEST_PAGE_ENDPOINT,
            link_values={"reference": request.reference},
            request_id=request.id,
        )
    return notice


def close_expired(session: Session, *, now: datetime | None = None) -> list[str]:
    """Close every request still waiting past its answer deadline; returns their references.

    Idempotent: a closed request is no longer waiting, so a second run finds nothing.
    """
    now = now or utcnow()
    query = (
        sa.select(PrivacyRequest)
        .where(
            PrivacyRequest.status == Status.AWAITING_REQUESTER.value,
            PrivacyRequest.answer_deadline.is_not(None),
            PrivacyRequest.answer_deadline <= now,
        )
        .order_by(PrivacyRequest.id)
        .with_for_update(skip_locked=True)
    )
    closed = []
    for request in session.scalars(query):
        deadline = request.answer_deadline
        assert deadline is not None  # nosec B101  # typing only: selected for it
        answer_by = (deadline - timedelta(days=1)).astimezone(JST).date().isoformat()
        move(session, request, Status.CLOSED_INCOMPLETE, actor_id=None, actor_role="system", now=now)
        if request.user_id is not None:
            notify.add(
                session,
                request.user_id,
                "closed_incomplete",
                CLOSED_SUBJECT,
                body=CLOSED_BODY,
                params={"reference": request.reference, "answer_by": answer_by},
                link_endpoint=REQUEST_PAGE_ENDPOINT,
                link_values={"reference": request.reference},
                request_id=request.id,
            )
        closed.append(request.reference)
    session.flush()
    return closed
