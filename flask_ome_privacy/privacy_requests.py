"""Rights requests (policy Art. 4) in the database: submit, the one guarded move, and queries.

``lifecycle.py`` says what is allowed (states, moves, fee, clock) without a database;
this module is the only place that writes a request's ``status``, its clock
(``received_at``, ``target_days``, ``paused_seconds``, ``paused_since``) and ``due_at``:

* ``submit`` starts a request: status ``submitted``, the fee it carries, and the clock
  with ``OME_PRIVACY_RESPONSE_DAYS`` (so the model has no target of its own to disagree);
* ``move`` takes it one step (``lifecycle.check_transition``), pauses the clock while the
  requester owes an answer and resumes it after, keeps ``due_at`` equal to the clock's,
  stamps ``closed_at``, and leaves an audit event (ids and codes only).

Both keep ``StatusCount`` (requests per status, for the desk) in step with the change.

Like every domain module: add and flush, the caller commits once (README, "How the package
is built"). Request queries live here too, so views hold no SQL.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from typing import Any, NamedTuple, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from . import audit
from .lifecycle import (
    CLOSED_STATUSES,
    Clock,
    RequesterType,
    RequestKind,
    Status,
    check_transition,
    initial_fee_status,
)
from .locks import serialize
from .models import PrivacyRequest, StatusCount, utcnow
from .state import PrivacyState

__all__ = [
    "submit",
    "move",
    "clock_of",
    "new_reference",
    "open_requests_for",
    "id_for_reference",
    "recount_statuses",
    "AUDIT_LOCK",
    "SUBMITTED_ACTION",
    "MOVED_ACTION",
]

SUBMITTED_ACTION = "request.submitted"
MOVED_ACTION = "request.moved"
#: The lock ``audit.append`` holds until the transaction ends; the status counts are written under it.
AUDIT_LOCK = "ome_privacy:audit"

_REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I


def new_reference() -> str:
    """A request reference such as ``PR-7KQM-3XTA``: unguessable enough, easy to read aloud."""
    chars = "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(8))
    return f"PR-{chars[:4]}-{chars[4:]}"


def clock_of(request: PrivacyRequest) -> Clock:
    """The request's response clock, as ``lifecycle.Clock`` computes it."""
    return Clock(request.received_at, request.target_days, request.paused_seconds, request.paused_since)


def _set_clock(request: PrivacyRequest, clock: Clock) -> None:
    request.received_at = clock.received_at
    request.target_days = clock.target_days
    request.paused_seconds = clock.paused_seconds
    request.paused_since = clock.paused_since
    request.due_at = clock.due_at


def submit(
    state: PrivacyState,
    *,
    user_id: str | None,
    kind: RequestKind | str,
    requester_type: RequesterType | str = RequesterType.SELF,
    channel: str = "online",
    scope: Mapping[str, Any] | None = None,
    details: str = "",
    reference: str | None = None,
    actor_id: str | None = None,
    actor_role: str = "user",
    now: datetime | None = None,
) -> PrivacyRequest:
    """Add a new request, received ``now``, due ``OME_PRIVACY_RESPONSE_DAYS`` later.

    Reads ``OME_PRIVACY_RESPONSE_DAYS`` and ``OME_PRIVACY_FEE_YEN``. The caller commits.
    """
    kind = RequestKind(kind)
    now = now or utcnow()
    fee_status = initial_fee_status(kind)
    request = PrivacyRequest(
        reference=reference or new_reference(),
        user_id=user_id,
        kind=kind.value,
        status=Status.SUBMITTED.value,
        requester_type=RequesterType(requester_type).value,
        channel=channel,
        scope=dict(scope or {}),
        details=details,
        fee_status=fee_status.value,
        fee_amount=int(state.config("FEE_YEN")) if kind.carries_fee else 0,
        created_at=now,
        updated_at=now,
    )
    _set_clock(request, Clock(now, int(state.config("RESPONSE_DAYS"))))
    session = state.session
    session.add(request)
    session.flush()
    audit.append(
        session,
        SUBMITTED_ACTION,
        actor_id=actor_id if actor_id is not None else (user_id if actor_role == "user" else None),
        actor_role=actor_role,
        request_id=request.id,
        subject_user_id=user_id,
        data={"reference": request.reference, "kind": kind.value},
    )
    _count(session, None, Status.SUBMITTED)
    return request


def move(
    session: Session,
    request: PrivacyRequest,
    target: Status | str,
    *,
    actor_id: str | None,
    actor_role: str,
    now: datetime | None = None,
) -> PrivacyRequest:
    """Move ``request`` to ``target`` if the life cycle allows it (else ``TransitionError``).

    Waiting for the requester pauses the clock; any move out of it resumes the clock. The
    caller commits; two staff moving one request at once fail at the second commit
    (``StaleDataError``, the model's version counter).
    """
    current, target = Status(request.status), Status(target)
    check_transition(current, target)
    now = now or utcnow()
    clock = clock_of(request)
    if target is Status.AWAITING_REQUESTER:
        clock = clock.pause(now)
    elif current is Status.AWAITING_REQUESTER:
        clock = clock.resume(now)
    _set_clock(request, clock)
    request.status = target.value
    if target in CLOSED_STATUSES:
        request.closed_at = now
    session.flush()
    audit.append(
        session,
        MOVED_ACTION,
        actor_id=actor_id,
        actor_role=actor_role,
        request_id=request.id,
        subject_user_id=request.user_id,
        data={"reference": request.reference, "from": current.value, "to": target.value},
    )
    _count(session, current, target)
    return request


# --- requests per status ----------------------------------------------------------------------


def _count(session: Session, leaving: Status | None, entering: Status) -> None:
    """One request left ``leaving`` (None: a new one) for ``entering``: adjust ``StatusCount``.

    Called after the change's audit event, so the audit chain's lock (``locks.serialize``,
    held until the transaction ends) is held: no two transactions adjust the counts at once,
    and a rollback takes the adjustment back with the change. One UPDATE for both rows; a
    status seen for the first time gets its row.
    """
    changes = {entering.value: 1}
    if leaving is not None:
        changes[leaving.value] = changes.get(leaving.value, 0) - 1
    changes = {status: delta for status, delta in changes.items() if delta}
    if not changes:
        return
    column = StatusCount.status
    delta = sa.case(*((column == status, step) for status, step in changes.items()), else_=0)
    updated = cast(
        "sa.CursorResult[Any]",
        session.execute(
            sa.update(StatusCount)
            .where(column.in_(list(changes)))
            .values(count=StatusCount.count + delta)
            .execution_options(synchronize_session=False)  # no StatusCount objects are loaded
        ),
    )
    if updated.rowcount == len(changes):
        return
    present = set(session.scalars(sa.select(column).where(column.in_(list(changes)))))
    missing = [{"status": s, "count": max(step, 0)} for s, step in changes.items() if s not in present]
    session.execute(sa.insert(StatusCount), missing)


def recount_statuses(session: Session) -> dict[str, int]:
    """Rebuild ``StatusCount`` from the requests themselves; returns the counts.

    For rows written without ``submit``/``move`` (a bulk import, a benchmark's fill). Takes
    the audit chain's lock first, as every other writer of the counts holds it.
    """
    serialize(session, AUDIT_LOCK)
    counted = {
        str(status): int(count)
        for status, count in session.execute(
            sa.select(PrivacyRequest.status, sa.func.count()).group_by(PrivacyRequest.status)
        )
    }
    session.execute(sa.delete(StatusCount))
    if counted:
        session.execute(sa.insert(StatusCount), [{"status": s, "count": n} for s, n in counted.items()])
    session.flush()
    return counted


# --- queries ------------------------------------------------------------------------------------


def _is_open() -> sa.ColumnElement[bool]:
    return PrivacyRequest.status.not_in([s.value for s in CLOSED_STATUSES])


class OpenRequest(NamedTuple):
    """What the account overview lists of an open request: its reference and where it stands."""

    reference: str
    kind: RequestKind
    status: Status


def open_requests_for(session: Session, user_id: str) -> list[OpenRequest]:
    """The person's open requests, newest first (the account overview).

    Three columns, not the wide row (scope, details, identity notes): the overview is the
    most visited privacy page and shows only these.
    """
    rows = session.execute(_open_requests_statement(), {"user_id": str(user_id)})
    return [OpenRequest(ref, RequestKind(kind), Status(status)) for ref, kind, status in rows]


@cache
def _open_requests_statement() -> sa.Select[str, str, str]:
    """Built once (the overview asks it on every visit; building costs more than running)."""
    return (
        sa.select(PrivacyRequest.reference, PrivacyRequest.kind, PrivacyRequest.status)
        .where(PrivacyRequest.user_id == sa.bindparam("user_id"), _is_open())
        .order_by(PrivacyRequest.received_at.desc(), PrivacyRequest.id.desc())
    )


def id_for_reference(session: Session, reference: str) -> int | None:
    """The id of the request with this reference (staff look-ups such as the audit filter), or None."""
    return session.scalar(sa.select(PrivacyRequest.id).where(PrivacyRequest.reference == reference.strip()))
