"""The privacy desk's queue (issue 9, policy Art. 4): what is open, who works it, mailed requests.

* ``queue`` — one keyset page of open requests in the order of their due date, filtered by
  status, kind, overdue, assignee (or nobody), reference; an index on ``(due_at, id)``
  (migration 0007) makes page 500 of 100,000 as fast as page 1, because no page counts or
  skips the rows before it. ``status_counts`` gives the desk its overview from the
  per-status counts ``privacy_requests`` keeps (no scan of the requests).
* ``claim`` / ``assign`` / ``release`` — who works a request. Guarded twice against two staff
  acting at once: the version the page showed must still be current (``StaleRequest``), and
  the model's version counter makes the second of two simultaneous commits fail
  (``StaleDataError``). Either way the view says "someone else changed this request".
* ``register_postal`` — a request that came by post (Art. 4.3): the receipt date starts the
  clock; for someone without an account the name and postal address are kept only for the
  reply (Art. 4.4); scanned documents go through the same checks and encryption as uploads.

Domain functions flush; the caller commits once. Audit events hold ids and codes only.
"""

from __future__ import annotations

import base64
import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from . import audit, documents, jobs, privacy_requests
from .documents import CleanDocument, DocType, DocumentRole
from .lifecycle import CLOSED_STATUSES, FeeStatus, RequesterType, RequestKind, Status
from .models import PrivacyRequest, RequestMessage, StatusCount, utcnow
from .state import PrivacyState

__all__ = [
    "ASSIGNED_ACTION",
    "POSTAL_REGISTERED_ACTION",
    "DUE_SOON_DAYS",
    "Originals",
    "QueueFilters",
    "QueueRow",
    "QueuePage",
    "Cursor",
    "StaleRequest",
    "CONCURRENT_CHANGE",
    "queue",
    "status_counts",
    "open_request",
    "claim",
    "assign",
    "release",
    "MailedDocument",
    "register_postal",
]

ASSIGNED_ACTION = "request.assigned"
POSTAL_REGISTERED_ACTION = "request.postal_registered"
#: Rows due within this many days stand out on the queue.
DUE_SOON_DAYS = 3


class StaleRequest(Exception):
    """The request changed since the page that asked for this was shown."""


#: What "someone else changed this request" looks like to a caller: the version the page showed
#: is gone (``StaleRequest``, at once), or another transaction committed first (``StaleDataError``,
#: at flush or commit). Views catch this tuple, so they need no SQLAlchemy import.
CONCURRENT_CHANGE: tuple[type[Exception], ...] = (StaleRequest, StaleDataError)


class Originals(str, enum.Enum):
    """What became of the paper originals of a mailed request (recorded, Art. 4.4)."""

    RETURNED = "returned"
    DESTROYED = "destroyed"
    NONE = "none"  # only copies came


# --- the queue ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cursor:
    """A position in the queue: the ``(due_at, id)`` of a row; pages start after (or before) it."""

    due_at: datetime
    id: int

    def token(self) -> str:
        raw = f"{self.due_at.isoformat()}|{self.id}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def parse(cls, token: str | None) -> Cursor | None:
        """The cursor in ``token``, or None for anything that is not one (a page link is public input)."""
        if not token or len(token) > 100:
            return None
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
            when, _, ident = raw.partition("|")
            due_at, row_id = datetime.fromisoformat(when), int(ident)
        except (ValueError, UnicodeDecodeError):
            return None
        if due_at.tzinfo is None or not 0 < row_id < 2**31:
            return None
        return cls(due_at, row_id)


@dataclass(frozen=True)
class QueueFilters:
    """What the desk narrows the queue to; empty values mean "any"."""

    status: str | None = None
    kind: str | None = None
    overdue: bool = False
    assignee: str | None = None
    unassigned: bool = False
    reference: str = ""
    newest_due_first: bool = False


@dataclass(frozen=True)
class QueueRow:
    """One open request as the desk sees it."""

    request: PrivacyRequest
    kind: RequestKind
    status: Status
    requester_type: RequesterType
    fee_status: FeeStatus
    days_open: int
    days_left: int
    paused: bool
    answered: bool
    #: A background job about it failed and is not resolved (retry it on the request page).
    failed_job: bool = False

    @property
    def overdue(self) -> bool:
        return self.days_left < 0

    @property
    def due_soon(self) -> bool:
        return 0 <= self.days_left <= DUE_SOON_DAYS


@dataclass(frozen=True)
class QueuePage:
    rows: list[QueueRow]
    next_cursor: Cursor | None
    prev_cursor: Cursor | None
    counts: dict[Status, int] = field(default_factory=dict)


def _is_open() -> sa.ColumnElement[bool]:
    return PrivacyRequest.status.not_in([s.value for s in CLOSED_STATUSES])


def _overdue(now: datetime) -> sa.ColumnElement[bool]:
    """Days left < 0, as ``Clock.days_left`` counts: a paused clock is compared at its pause."""
    return sa.or_(
        sa.and_(PrivacyRequest.paused_since.is_(None), PrivacyRequest.due_at < now),
        sa.and_(
            PrivacyRequest.paused_since.is_not(None), PrivacyRequest.due_at < PrivacyRequest.paused_since
        ),
    )


def _conditions(filters: QueueFilters, now: datetime) -> list[sa.ColumnElement[bool]]:
    conditions = [_is_open()]
    if filters.status:
        conditions.append(PrivacyRequest.status == Status(filters.status).value)
    if filters.kind:
        conditions.append(PrivacyRequest.kind == RequestKind(filters.kind).value)
    if filters.overdue:
        conditions.append(_overdue(now))
    if filters.unassigned:
        conditions.append(PrivacyRequest.assigned_to.is_(None))
    elif filters.assignee:
        conditions.append(PrivacyRequest.assigned_to == filters.assignee)
    if filters.reference.strip():
        conditions.append(PrivacyRequest.reference == filters.reference.strip().upper())
    return conditions


def queue(
    session: Session,
    filters: QueueFilters,
    *,
    page_size: int,
    after: Cursor | None = None,
    before: Cursor | None = None,
    now: datetime | None = None,
) -> QueuePage:
    """One page of open requests in due order, starting after ``after`` (or ending before ``before``).

    Keyset paging on ``(due_at, id)``: three queries for the rows (the page, what the
    requester answered, which have a failed job), whatever the depth. ``newest_due_first`` reverses the order.
    """
    now = now or utcnow()
    key = sa.tuple_(PrivacyRequest.due_at, PrivacyRequest.id)
    descending = filters.newest_due_first
    backwards = before is not None and after is None
    conditions = _conditions(filters, now)
    if after is not None:
        conditions.append(key < (after.due_at, after.id) if descending else key > (after.due_at, after.id))
    elif before is not None:
        conditions.append(
            key > (before.due_at, before.id) if descending else key < (before.due_at, before.id)
        )
    ascending_sql = descending == backwards  # walking back through a descending list goes up
    order = (
        (PrivacyRequest.due_at, PrivacyRequest.id)
        if ascending_sql
        else (PrivacyRequest.due_at.desc(), PrivacyRequest.id.desc())
    )
    found = list(
        session.scalars(sa.select(PrivacyRequest).where(*conditions).order_by(*order).limit(page_size + 1))
    )
    more = len(found) > page_size
    found = found[:page_size]
    if backwards:
        found.reverse()
    ids = [r.id for r in found]
    answered = _answered(session, ids)
    failed = jobs.requests_with_failed_jobs(session, ids)
    rows = [_row(r, now, r.id in answered, r.id in failed) for r in found]
    first, last = (
        (Cursor(found[0].due_at, found[0].id), Cursor(found[-1].due_at, found[-1].id))
        if found
        else (None, None)
    )
    if backwards:
        next_cursor, prev_cursor = last, first if more else None
    else:
        next_cursor = last if more else None
        prev_cursor = first if after is not None else None
    return QueuePage(rows=rows, next_cursor=next_cursor, prev_cursor=prev_cursor)


def _row(request: PrivacyRequest, now: datetime, answered: bool, failed_job: bool) -> QueueRow:
    clock = privacy_requests.clock_of(request)
    return QueueRow(
        request=request,
        kind=RequestKind(request.kind),
        status=Status(request.status),
        requester_type=RequesterType(request.requester_type),
        fee_status=FeeStatus(request.fee_status),
        days_open=max(0, (now - request.received_at).days),
        days_left=clock.days_left(now),
        paused=clock.paused_since is not None,
        answered=answered,
        failed_job=failed_job,
    )


def _answered(session: Session, request_ids: Sequence[int]) -> set[int]:
    """The requests whose requester answered the latest deficiency notice, while it is ours to act.

    "Answered": the newest of the request's deficiency and answer messages is an answer
    (requests-follow writes it), and the request no longer waits on the requester. A new
    deficiency notice clears the mark; so does the request moving on to a decision.
    """
    if not request_ids:
        return set()
    newest = (
        sa.select(RequestMessage.request_id, RequestMessage.kind, sa.func.max(RequestMessage.id))
        .where(RequestMessage.request_id.in_(request_ids), RequestMessage.kind.in_(("deficiency", "answer")))
        .group_by(RequestMessage.request_id, RequestMessage.kind)
    )
    latest: dict[int, dict[str, int]] = {}
    for request_id, kind, message_id in session.execute(newest):
        latest.setdefault(request_id, {})[kind] = message_id
    statuses = (
        dict(
            session.execute(
                sa.select(PrivacyRequest.id, PrivacyRequest.status).where(PrivacyRequest.id.in_(latest))
            ).all()
        )
        if latest
        else {}
    )
    return {
        request_id
        for request_id, by_kind in latest.items()
        if "deficiency" in by_kind
        and by_kind.get("answer", 0) > by_kind["deficiency"]
        and statuses.get(request_id)
        in (Status.SUBMITTED.value, Status.IDENTITY_REVIEW.value, Status.UNDER_REVIEW.value)
    }


def status_counts(session: Session) -> dict[Status, int]:
    """Open requests per status, in the life cycle's order (statuses with none included).

    Read from ``StatusCount``, which ``privacy_requests.submit`` and ``move`` keep as
    statuses change: a few rows, however many requests there are (counting 100,000 requests
    took longer than the rest of the queue page).
    """
    open_statuses = [status for status in Status if status.is_open]
    query = sa.select(StatusCount.status, StatusCount.count).where(
        StatusCount.status.in_([status.value for status in open_statuses])
    )
    counted = {status: int(count) for status, count in session.execute(query)}
    return {status: max(0, counted.get(status.value, 0)) for status in open_statuses}


# --- who works a request -----------------------------------------------------------------------


def open_request(session: Session, reference: str) -> PrivacyRequest | None:
    """The open request with ``reference``, or None (closed requests are no longer assigned)."""
    return session.scalar(sa.select(PrivacyRequest).where(PrivacyRequest.reference == reference, _is_open()))


def _set_assignee(
    session: Session,
    request: PrivacyRequest,
    assignee: str | None,
    *,
    actor_id: str,
    expected_version: int,
    how: str,
) -> PrivacyRequest:
    if request.version != expected_version:
        raise StaleRequest(request.reference)
    previous = request.assigned_to
    request.assigned_to = assignee
    session.flush()  # the version counter: a second writer at the same time fails at its commit
    audit.append(
        session,
        ASSIGNED_ACTION,
        actor_id=actor_id,
        actor_role="staff",
        request_id=request.id,
        subject_user_id=request.user_id,
        data={"reference": request.reference, "how": how, "from": previous, "to": assignee},
    )
    return request


def claim(
    session: Session, request: PrivacyRequest, *, staff_id: str, expected_version: int
) -> PrivacyRequest:
    """``staff_id`` takes the request on (also from a colleague: the audit trail says so)."""
    return _set_assignee(
        session, request, staff_id, actor_id=staff_id, expected_version=expected_version, how="claim"
    )


def assign(
    session: Session, request: PrivacyRequest, assignee: str, *, staff_id: str, expected_version: int
) -> PrivacyRequest:
    """``staff_id`` hands the request to ``assignee`` (who must be staff: the caller checks)."""
    return _set_assignee(
        session, request, assignee, actor_id=staff_id, expected_version=expected_version, how="assign"
    )


def release(
    session: Session, request: PrivacyRequest, *, staff_id: str, expected_version: int
) -> PrivacyRequest:
    """Nobody works the request any more; it shows as unassigned."""
    return _set_assignee(
        session, request, None, actor_id=staff_id, expected_version=expected_version, how="release"
    )


# --- a request that came by post ---------------------------------------------------------------


@dataclass(frozen=True)
class MailedDocument:
    """One scanned document, already through ``documents.check_upload``."""

    role: DocumentRole
    doc_type: DocType
    document: CleanDocument


def register_postal(
    state: PrivacyState,
    *,
    staff_id: str,
    kind: RequestKind | str,
    requester_type: RequesterType | str,
    received_at: datetime,
    user_id: str | None,
    postal_name: str = "",
    postal_address: str = "",
    details: str = "",
    originals: Originals | str,
    scans: Sequence[MailedDocument] = (),
) -> PrivacyRequest:
    """Enter a request that came by post: the clock starts at ``received_at`` (the receipt date).

    For an account, ``user_id`` (found through the host's ``user_lookup``); for someone
    without one, the name and postal address for the reply. The caller commits.
    """
    if user_id is None and not (postal_name.strip() and postal_address.strip()):
        raise ValueError("a request without an account needs the name and postal address for the reply")
    session = state.session
    request = privacy_requests.submit(
        state,
        user_id=user_id,
        kind=kind,
        requester_type=requester_type,
        channel="postal",
        details=details,
        actor_id=staff_id,
        actor_role="staff",
        now=received_at,
    )
    if user_id is None:
        request.postal_name = postal_name.strip()
        request.postal_address = postal_address.strip()
    request.originals = Originals(originals).value
    for scan in scans:
        documents.store(session, request.id, scan.role, scan.doc_type, scan.document)
    session.flush()
    audit.append(
        session,
        POSTAL_REGISTERED_ACTION,
        actor_id=staff_id,
        actor_role="staff",
        request_id=request.id,
        subject_user_id=user_id,
        data={
            "reference": request.reference,
            "account": user_id is not None,
            "documents": len(scans),
            "originals": request.originals,
        },
    )
    return request
