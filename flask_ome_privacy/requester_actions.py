"""The requester's side of a rights request (policy Art. 4.3, 4.4): follow it, answer, withdraw.

What a person may see of their own requests and do with them, without a request context:

* ``requests_for`` / ``request_for`` — their requests only (another person's reference is
  None, which the views turn into a 404, never a 403);
* ``timeline`` — every step they may see, from the audit trail's status moves and the
  messages addressed to them; staff-internal notes and any other audit event are never in it;
* ``deficiency_notice`` — what staff said is missing and by when (``RequestMessage`` of kind
  ``deficiency`` with ``items`` as stable codes: ``documents`` checklist roles, or
  ``{"code": ..., "message": ...}`` as ``deficiency.MissingItem`` keeps them);
* ``answer_deficiency`` — the person answers in place: documents (checked and encrypted by
  ``documents``), corrected details, a message; the request goes back to the step it waited
  in, with the clock resumed (``privacy_requests.move``);
* ``withdraw_request`` — before execution only (``lifecycle.may_withdraw``).

Request data is used only to answer the request (Art. 4.4): nothing here is read by the
data page or the export. Like every domain module: add and flush, the caller commits once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from . import audit, documents
from .deficiency import JST
from .documents import CleanDocument, DocType, DocumentRole
from .lifecycle import CLOSED_STATUSES, FeeStatus, RequestKind, Status, WaitingOn, may_withdraw, waiting_on
from .models import AuditEvent, DecisionItem, PrivacyRequest, RequestMessage, utcnow
from .privacy_requests import MOVED_ACTION, SUBMITTED_ACTION, move

__all__ = [
    "ANSWERED_ACTION",
    "MAX_ANSWER_LENGTH",
    "VISIBLE_MESSAGE_KINDS",
    "AnswerError",
    "AnswerUpload",
    "ChangedMeanwhile",
    "DeficiencyItem",
    "Notice",
    "RequestSummary",
    "TimelineEntry",
    "WithdrawRefused",
    "answer_deficiency",
    "days_since_receipt",
    "deficiency_notice",
    "decision_items",
    "fee_status",
    "is_released",
    "request_for",
    "requests_for",
    "summary_of",
    "timeline",
    "withdraw_request",
]

ANSWERED_ACTION = "request.answered"
#: Raised at flush or commit when someone (staff) changed the request at the same moment: the
#: model's version counter refuses the older write, so nothing is lost; the person reloads.
ChangedMeanwhile = StaleDataError
#: Messages the requester reads; ``note`` (staff-internal) and anything else never reach them.
VISIBLE_MESSAGE_KINDS = ("deficiency", "answer", "decision")
#: The longest answer or corrected details a person may send (characters).
MAX_ANSWER_LENGTH = 4000
#: Where a request goes back to when its answer arrives and we cannot tell where it waited.
_DEFAULT_RETURN = Status.IDENTITY_REVIEW


# --- reading --------------------------------------------------------------------------------------


def days_since_receipt(request: PrivacyRequest, now: datetime | None = None) -> int:
    """Whole days since we received the request (0 on the day itself)."""
    return max(0, ((now or utcnow()) - request.received_at).days)


@dataclass(frozen=True)
class RequestSummary:
    """One of a person's requests as their list shows it."""

    request: PrivacyRequest
    kind: RequestKind
    status: Status
    days: int
    waiting_on: tuple[WaitingOn, ...]

    @property
    def is_open(self) -> bool:
        return self.status.is_open

    @property
    def waits_on_requester(self) -> bool:
        return any(wait.on_requester for wait in self.waiting_on)


def summary_of(request: PrivacyRequest, now: datetime | None = None) -> RequestSummary:
    status = Status(request.status)
    return RequestSummary(
        request=request,
        kind=RequestKind(request.kind),
        status=status,
        days=days_since_receipt(request, now),
        waiting_on=waiting_on(status, request.fee_status),
    )


def _is_closed() -> sa.ColumnElement[bool]:
    return PrivacyRequest.status.in_([s.value for s in CLOSED_STATUSES])


def requests_for(session: Session, user_id: str, now: datetime | None = None) -> list[RequestSummary]:
    """The person's requests: open ones first, then closed ones, newest first within each (one query)."""
    rows = session.scalars(
        sa.select(PrivacyRequest)
        .where(PrivacyRequest.user_id == str(user_id))
        .order_by(
            sa.case((_is_closed(), 1), else_=0),
            PrivacyRequest.received_at.desc(),
            PrivacyRequest.id.desc(),
        )
    )
    now = now or utcnow()
    return [summary_of(request, now) for request in rows]


def request_for(session: Session, user_id: str, reference: str) -> PrivacyRequest | None:
    """The person's request ``reference``; None when there is none or it is someone else's."""
    return session.scalar(
        sa.select(PrivacyRequest).where(
            PrivacyRequest.reference == reference, PrivacyRequest.user_id == str(user_id)
        )
    )


@dataclass(frozen=True)
class TimelineEntry:
    """One step the requester may see: a status reached, or a message to or from them."""

    at: datetime
    #: ``submitted``, ``moved`` or ``message``.
    event: str
    status: Status | None = None
    message: RequestMessage | None = None


def timeline(session: Session, request: PrivacyRequest) -> list[TimelineEntry]:
    """Every step the requester may see, oldest first (two queries).

    Only status moves, the receipt and the answer come from the audit trail, and only the
    message kinds in ``VISIBLE_MESSAGE_KINDS``: an internal note, a claim or any staff-only
    event never shows.
    """
    entries: list[TimelineEntry] = []
    events = session.execute(
        sa.select(AuditEvent.at, AuditEvent.action, AuditEvent.data)
        .where(
            AuditEvent.request_id == request.id,
            AuditEvent.action.in_([SUBMITTED_ACTION, MOVED_ACTION]),
        )
        .order_by(AuditEvent.id)
    )
    for at, action, data in events:
        if action == SUBMITTED_ACTION:  # when we received it (a letter may be registered later)
            entries.append(TimelineEntry(request.received_at, "submitted", Status.SUBMITTED))
            continue
        target = str((data or {}).get("to"))
        if target in Status._value2member_map_:
            entries.append(TimelineEntry(at, "moved", Status(target)))
    messages = session.scalars(
        sa.select(RequestMessage)
        .where(RequestMessage.request_id == request.id, RequestMessage.kind.in_(VISIBLE_MESSAGE_KINDS))
        .order_by(RequestMessage.id)
    )
    entries.extend(TimelineEntry(message.created_at, "message", message=message) for message in messages)
    # Stable: within one moment, the audit order (a move) comes before the message it explains.
    return sorted(entries, key=lambda entry: entry.at)


@dataclass(frozen=True)
class DeficiencyItem:
    """One thing named as missing: its stable code, what to show, and the document role it asks for."""

    code: str
    #: An ``N_`` message id (translate when shown) or the code itself when nothing else is known.
    message: str
    role: DocumentRole | None = None

    @property
    def accepted(self) -> tuple[DocType, ...]:
        return documents.accepted_types(self.role) if self.role is not None else ()


def _item(raw: Any) -> DeficiencyItem:
    code = str(raw.get("code", "")) if isinstance(raw, dict) else str(raw)
    message = str(raw.get("message") or "") if isinstance(raw, dict) else ""
    role = DocumentRole(code) if code in DocumentRole._value2member_map_ else None
    if role is not None and not message:
        message = role.label
    return DeficiencyItem(code=code, message=message or code, role=role)


@dataclass(frozen=True)
class Notice:
    """The open deficiency notice of a request: what is missing, in staff's words too, and by when."""

    message: RequestMessage
    items: tuple[DeficiencyItem, ...]
    #: When the notice expires (``PrivacyRequest.answer_deadline``, as ``deficiency.answer_deadline``
    #: gives it: the midnight after the answer date, in the business's time zone).
    expires_at: datetime | None

    @property
    def answer_by(self) -> date | None:
        """The date the person must answer by, as the notice says it (the day before it expires)."""
        if self.expires_at is None:
            return None
        return (self.expires_at - timedelta(microseconds=1)).astimezone(JST).date()

    @property
    def text(self) -> str:
        return self.message.body

    @property
    def document_items(self) -> tuple[DeficiencyItem, ...]:
        return tuple(item for item in self.items if item.role is not None)


def deficiency_notice(request: PrivacyRequest) -> Notice | None:
    """The notice to answer now: the latest deficiency message while the request waits on the person."""
    if Status(request.status) is not Status.AWAITING_REQUESTER:
        return None
    notices = [m for m in request.messages if m.kind == "deficiency"]
    if not notices:
        return None
    latest = notices[-1]
    return Notice(latest, tuple(_item(raw) for raw in latest.items or ()), request.answer_deadline)


def is_released(request: PrivacyRequest) -> bool:
    """Has the result been released to the requester (the decision notice is theirs to read)?"""
    return request.released_at is not None or Status(request.status) in (Status.COMPLETED, Status.REFUSED)


def decision_items(request: PrivacyRequest) -> list[DecisionItem]:
    """The decision notice item by item, once released (nothing before: a draft is not a decision)."""
    return list(request.decision_items) if is_released(request) else []


def fee_status(request: PrivacyRequest) -> FeeStatus:
    return FeeStatus(request.fee_status)


# --- answering a deficiency notice ----------------------------------------------------------------


@dataclass(frozen=True)
class AnswerUpload:
    """One document sent with an answer, already checked by ``documents.check_upload``."""

    role: DocumentRole
    doc_type: DocType
    document: CleanDocument
    issued_on: date | None = None


class AnswerError(ValueError):
    """An answer that cannot be accepted as sent; ``code`` says why (the view words it)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _return_status(session: Session, request: PrivacyRequest) -> Status:
    """The step the request waited in before it was sent to the requester (identity or review)."""
    data = session.scalar(
        sa.select(AuditEvent.data)
        .where(AuditEvent.request_id == request.id, AuditEvent.action == MOVED_ACTION)
        .order_by(AuditEvent.id.desc())
        .limit(1)
    )
    previous = (data or {}).get("from") if (data or {}).get("to") == Status.AWAITING_REQUESTER.value else None
    if previous in (Status.IDENTITY_REVIEW.value, Status.UNDER_REVIEW.value):
        return Status(previous)
    return _DEFAULT_RETURN


def answer_deficiency(
    session: Session,
    request: PrivacyRequest,
    *,
    user_id: str,
    message: str = "",
    corrected: str = "",
    uploads: Sequence[AnswerUpload] = (),
    cipher: documents.DocumentCipher | None = None,
    now: datetime | None = None,
) -> RequestMessage:
    """Record the person's answer and give the request back to staff, clock resumed (flushed).

    Raises ``AnswerError``: ``not_waiting`` (no open notice: answered already, withdrawn,
    closed), ``empty`` (nothing sent), ``too_long``, ``wrong_document`` (a role the notice did
    not ask for). The caller commits; the documents, the answer and the move are one transaction.
    """
    notice = deficiency_notice(request)
    if notice is None:
        raise AnswerError("not_waiting")
    message, corrected = message.strip(), corrected.strip()
    if not (message or corrected or uploads):
        raise AnswerError("empty")
    if len(message) > MAX_ANSWER_LENGTH or len(corrected) > MAX_ANSWER_LENGTH:
        raise AnswerError("too_long")
    asked = {item.role for item in notice.document_items}
    if any(upload.role not in asked for upload in uploads):
        raise AnswerError("wrong_document")
    now = now or utcnow()
    stored = [
        documents.store(
            session,
            request.id,
            upload.role,
            upload.doc_type,
            upload.document,
            issued_on=upload.issued_on,
            cipher=cipher,
        )
        for upload in uploads
    ]
    items: list[dict[str, Any]] = [{"code": doc.role, "document_id": doc.id} for doc in stored]
    if corrected:
        items.append({"code": "corrected_details", "text": corrected})
    answer = RequestMessage(
        request_id=request.id, author="requester", kind="answer", body=message, items=items, created_at=now
    )
    session.add(answer)
    back_to = _return_status(session, request)
    request.answer_deadline = None
    move(session, request, back_to, actor_id=str(user_id), actor_role="user", now=now)
    audit.append(
        session,
        ANSWERED_ACTION,
        actor_id=str(user_id),
        actor_role="user",
        request_id=request.id,
        subject_user_id=request.user_id,
        data={
            "reference": request.reference,
            "notice_id": notice.message.id,
            "documents": [doc.id for doc in stored],
            "message": bool(message),
            "corrected": bool(corrected),
        },
    )
    return answer


# --- withdrawing ----------------------------------------------------------------------------------


class WithdrawRefused(ValueError):
    """The request can no longer be withdrawn (execution began, or it is closed)."""


def withdraw_request(
    session: Session, request: PrivacyRequest, *, user_id: str, now: datetime | None = None
) -> PrivacyRequest:
    """Withdraw the person's request before execution begins (flushed; the caller commits)."""
    if not may_withdraw(request.status):
        raise WithdrawRefused(request.status)
    request.answer_deadline = None
    return move(session, request, Status.WITHDRAWN, actor_id=str(user_id), actor_role="user", now=now)
