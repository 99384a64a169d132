"""Staff review of one request: identity checks, the fee, internal notes, and its timeline.

Policy Art. 4.5 and APPI Art. 37(3): before anything is disclosed or changed, a named staff
member checks the documents against the checklist for the requester type and records that
identity is verified and how. The checks staff tick are kept on the request
(``identity_checks``: who ticked what, when); the seal certificate's three months are never
ticked but computed from the issue date recorded at upload and the day the request was
received (``documents.check_seal_certificate``). Art. 4.3: the fee is recorded as received
(date, amount, method) or waived (with the reason); the release gate in ``decisions.py``
reads ``fee_status``.

Domain functions: they take a session, the request and ids; they flush and audit (ids and
codes only), the caller commits once. Status moves go through ``privacy_requests.move``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from . import audit
from .deficiency import JST
from .documents import CleanDocument, DocumentCipher, cipher_for
from .documents.rules import (
    ChecklistItem,
    DocType,
    DocumentRole,
    IdentityChoice,
    Problem,
    Requester,
    check_seal_certificate,
    checklist,
)
from .lifecycle import FeeMethod, FeeStatus, RequesterType, Status
from .models import AuditEvent, PrivacyRequest, RequestDocument, RequestMessage, utcnow
from .privacy_requests import move
from .sources import N_

__all__ = [
    "PrivacyRequest",
    "utcnow",
    "StaleDataError",
    "days_since_receipt",
    "Check",
    "IdentityMethod",
    "ReviewError",
    "checks_for",
    "checklist_for",
    "request_by_reference",
    "document_of",
    "seal_problem",
    "needs_seal_certificate",
    "identity_problems",
    "start_identity_review",
    "record_checks",
    "verify_identity",
    "replace_with_masked_copy",
    "record_document_view",
    "record_fee_received",
    "waive_fee",
    "add_note",
    "TimelineEntry",
    "timeline",
    "MAX_NOTE_LENGTH",
    "check_text",
]

MAX_NOTE_LENGTH = 4000


class ReviewError(ValueError):
    """A staff action that cannot be done as asked; ``message`` is a message id to show."""

    def __init__(self, message: str, **params: Any) -> None:
        super().__init__(message)
        self.message = message
        self.params = params


class Check(str, enum.Enum):
    """What staff tick for a request's documents (policy Art. 4.5)."""

    TYPE_ACCEPTED = "type_accepted"
    NAME_ADDRESS_MATCH = "name_address_match"
    MASKING_DONE = "masking_done"
    AUTHORITY_PROVEN = "authority_proven"

    @property
    def label(self) -> str:
        return CHECK_LABELS[self]


CHECK_LABELS: dict[Check, str] = {
    Check.TYPE_ACCEPTED: N_("Each document is of a type accepted for its place on the checklist"),
    Check.NAME_ADDRESS_MATCH: N_("Name and current address match the account"),
    Check.MASKING_DONE: N_("Masking done (or masked by staff, with the masked copy uploaded)"),
    Check.AUTHORITY_PROVEN: N_("The representative's authority is proven"),
}


class IdentityMethod(str, enum.Enum):
    """How identity was verified, recorded with the decision."""

    UPLOADED_DOCUMENTS = "uploaded_documents"
    MAILED_COPIES = "mailed_copies"

    @property
    def label(self) -> str:
        return METHOD_LABELS[self]


METHOD_LABELS: dict[IdentityMethod, str] = {
    IdentityMethod.UPLOADED_DOCUMENTS: N_("Copies of documents uploaded online"),
    IdentityMethod.MAILED_COPIES: N_("Copies of documents sent by post"),
}

IDENTITY_NOT_READY = N_("Tick every check first.")
SEAL_NOT_READY = N_("The seal registration certificate does not pass its check.")
WRONG_STATUS = N_("This cannot be done while the request is in this state.")


def request_by_reference(session: Session, reference: str) -> PrivacyRequest | None:
    """The request with this reference (staff pages: any person's)."""
    return session.scalar(sa.select(PrivacyRequest).where(PrivacyRequest.reference == reference))


def days_since_receipt(request: PrivacyRequest, now: datetime | None = None) -> int:
    """Whole days since the request was received (the queue and the page show both this and days left)."""
    return ((now or utcnow()) - request.received_at).days


def document_of(request: PrivacyRequest, document_id: int) -> RequestDocument | None:
    """One of the request's own documents, or None (another request's id is not found)."""
    return next((doc for doc in request.documents if doc.id == document_id), None)


def requester_of(request: PrivacyRequest) -> Requester:
    """The precise requester for the checklist: ``scope["requester"]`` when the form kept it."""
    precise = (request.scope or {}).get("requester")
    if precise in {r.value for r in Requester}:
        return Requester(precise)
    coarse = RequesterType(request.requester_type)
    if coarse is RequesterType.SELF:
        return Requester.SELF
    if coarse is RequesterType.APPOINTED_REPRESENTATIVE:
        return Requester.APPOINTED_REPRESENTATIVE
    # A minor's and an adult ward's representatives need the same documents.
    return Requester.LEGAL_REPRESENTATIVE_MINOR


@dataclass(frozen=True)
class ChecklistEntry:
    """A checklist item as a deficiency notice names it: a stable code and a message id."""

    code: str
    message: str
    item: ChecklistItem
    documents: tuple[RequestDocument, ...]


def checklist_for(request: PrivacyRequest) -> list[ChecklistEntry]:
    """The documents this request needs, each with the documents uploaded for it."""
    identity: dict[DocumentRole | str, IdentityChoice] = {}
    for doc in request.documents:
        if doc.role in (DocumentRole.PERSON_IDENTITY.value, DocumentRole.REPRESENTATIVE_IDENTITY.value):
            identity[doc.role] = IdentityChoice(DocType(doc.doc_type), doc.issued_on)
    entries = []
    for item in checklist(requester_of(request), identity):
        docs = tuple(doc for doc in request.documents if doc.role == item.role.value)
        entries.append(ChecklistEntry(item.role.value, item.role.label, item, docs))
    return entries


def checks_for(request: PrivacyRequest) -> list[Check]:
    """The checks staff tick for this request (authority only for a representative)."""
    checks = [Check.TYPE_ACCEPTED, Check.NAME_ADDRESS_MATCH, Check.MASKING_DONE]
    if requester_of(request).is_representative:
        checks.append(Check.AUTHORITY_PROVEN)
    return checks


def received_on(request: PrivacyRequest) -> date:
    """The day the request was received, in Japan (where the three months are counted)."""
    return request.received_at.astimezone(JST).date()


def needs_seal_certificate(request: PrivacyRequest) -> bool:
    """An appointed representative proves the power of attorney with the person's seal certificate."""
    return requester_of(request) is Requester.APPOINTED_REPRESENTATIVE


def seal_problem(request: PrivacyRequest) -> Problem | None:
    """The seal certificate's problem on the day the request was received (None: fine or not needed)."""
    if not needs_seal_certificate(request):
        return None
    seals = [d for d in request.documents if d.role == DocumentRole.SEAL_CERTIFICATE.value]
    issued = max((d.issued_on for d in seals if d.issued_on), default=None)
    return check_seal_certificate(issued, received_on(request))


def identity_problems(request: PrivacyRequest) -> list[str]:
    """Message ids of what stops "identity verified" (empty: it may be recorded)."""
    problems = []
    missing = [c for c in checks_for(request) if c.value not in (request.identity_checks or {})]
    if missing:
        problems.append(IDENTITY_NOT_READY)
    if seal_problem(request) is not None:
        problems.append(SEAL_NOT_READY)
    return problems


CONTROL_CHARACTERS = N_("Remove the control characters from the text.")


def check_text(text: str) -> str:
    """Staff's free text, stripped; control characters (NUL above all) refused with a message."""
    if any(not ch.isprintable() and ch not in "\r\n\t" for ch in text):
        raise ReviewError(CONTROL_CHARACTERS)
    return text.strip()


def _touch(request: PrivacyRequest, now: datetime) -> None:
    """Every staff change bumps the request's version, so a second staff member's stale form fails."""
    request.updated_at = now


def _audit(session: Session, action: str, request: PrivacyRequest, actor_id: str, **data: Any) -> None:
    audit.append(
        session,
        action,
        actor_id=actor_id,
        actor_role="staff",
        request_id=request.id,
        subject_user_id=request.user_id,
        data={"reference": request.reference, **data},
    )


def start_identity_review(session: Session, request: PrivacyRequest, *, actor_id: str) -> None:
    """Submitted → checking identity: a staff member has opened the documents."""
    move(session, request, Status.IDENTITY_REVIEW, actor_id=actor_id, actor_role="staff")


def record_checks(
    session: Session,
    request: PrivacyRequest,
    ticked: Iterable[str],
    *,
    actor_id: str,
    now: datetime | None = None,
) -> None:
    """Keep the checks now ticked; a newly ticked check records who and when, an unticked one goes."""
    if Status(request.status) is not Status.IDENTITY_REVIEW:
        raise ReviewError(WRONG_STATUS)
    now = now or utcnow()
    allowed = {c.value for c in checks_for(request)}
    chosen = set(ticked)
    if chosen - allowed:
        raise ReviewError(N_("That check does not apply to this request."))
    current = dict(request.identity_checks or {})
    updated = {code: current.get(code) or {"by": actor_id, "at": now.isoformat()} for code in sorted(chosen)}
    request.identity_checks = updated
    _touch(request, now)
    session.flush()
    _audit(session, "identity.checks_recorded", request, actor_id, checks=sorted(chosen))


def verify_identity(
    session: Session,
    request: PrivacyRequest,
    method: IdentityMethod | str,
    *,
    actor_id: str,
    now: datetime | None = None,
) -> None:
    """Record "identity verified" by ``actor_id`` with ``method``, and move on to the review."""
    if Status(request.status) is not Status.IDENTITY_REVIEW:
        raise ReviewError(WRONG_STATUS)
    try:
        method = IdentityMethod(method)
    except ValueError:
        raise ReviewError(N_("Choose how identity was verified.")) from None
    problems = identity_problems(request)
    if problems:
        raise ReviewError(problems[0])
    now = now or utcnow()
    request.identity_verified_at = now
    request.identity_verified_by = actor_id
    request.identity_method = method.value
    request.representation_verified = requester_of(request).is_representative
    _touch(request, now)
    session.flush()
    _audit(session, "identity.verified", request, actor_id, method=method.value)
    move(session, request, Status.UNDER_REVIEW, actor_id=actor_id, actor_role="staff", now=now)


def replace_with_masked_copy(
    session: Session,
    request: PrivacyRequest,
    document: RequestDocument,
    masked: CleanDocument,
    *,
    actor_id: str,
    cipher: DocumentCipher | None = None,
    now: datetime | None = None,
) -> None:
    """Staff masked what the requester should have covered: the masked copy replaces the original."""
    if not Status(request.status).is_open or document.purged_at is not None:
        raise ReviewError(WRONG_STATUS)
    cipher = cipher or cipher_for()
    now = now or utcnow()
    document.ciphertext = cipher.encrypt(masked.data)
    document.content_type = masked.content_type
    document.size = masked.size
    document.sha256 = masked.sha256
    document.masked_by_staff = True
    _touch(request, now)
    session.flush()
    _audit(session, "document.masked_by_staff", request, actor_id, document_id=document.id)


def record_document_view(
    session: Session, request: PrivacyRequest, document_id: int, *, actor_id: str
) -> None:
    """Each time staff open a document it is on the record (id only)."""
    _audit(session, "document.viewed", request, actor_id, document_id=document_id)


def _fee_open(request: PrivacyRequest) -> None:
    if FeeStatus(request.fee_status) is not FeeStatus.OUTSTANDING or not Status(request.status).is_open:
        raise ReviewError(N_("This request has no outstanding fee."))


def record_fee_received(
    session: Session,
    request: PrivacyRequest,
    *,
    received_on: date,
    amount: int,
    method: FeeMethod | str,
    actor_id: str,
    today: date,
    now: datetime | None = None,
) -> None:
    """The fee arrived (Art. 4.3): on which day, how much, and how it was paid."""
    _fee_open(request)
    try:
        method = FeeMethod(method)
    except ValueError:
        raise ReviewError(N_("Choose how the fee was paid.")) from None
    if received_on > today:
        raise ReviewError(N_("The day the fee was received cannot be in the future."))
    if amount < 1 or amount > 1_000_000:
        raise ReviewError(N_("Enter the amount received in yen."))
    now = now or utcnow()
    request.fee_status = FeeStatus.RECEIVED.value
    request.fee_amount = amount
    request.fee_method = method.value
    request.fee_received_on = received_on
    request.fee_recorded_by = actor_id
    _touch(request, now)
    session.flush()
    _audit(session, "fee.received", request, actor_id, method=method.value, amount=amount)


def waive_fee(
    session: Session, request: PrivacyRequest, reason: str, *, actor_id: str, now: datetime | None = None
) -> None:
    """The fee is waived; the reason is kept on the request (not in the audit trail)."""
    _fee_open(request)
    reason = check_text(reason)
    if not reason:
        raise ReviewError(N_("Say why the fee is waived."))
    if len(reason) > MAX_NOTE_LENGTH:
        raise ReviewError(N_("Keep the text under 4,000 characters."))
    now = now or utcnow()
    request.fee_status = FeeStatus.WAIVED.value
    request.fee_waiver_reason = reason
    request.fee_recorded_by = actor_id
    _touch(request, now)
    session.flush()
    _audit(session, "fee.waived", request, actor_id)


def add_note(
    session: Session, request: PrivacyRequest, body: str, *, actor_id: str, now: datetime | None = None
) -> RequestMessage:
    """An internal note: for staff only, never shown to the requester."""
    body = check_text(body)
    if not body:
        raise ReviewError(N_("Write the note first."))
    if len(body) > MAX_NOTE_LENGTH:
        raise ReviewError(N_("Keep the text under 4,000 characters."))
    note = RequestMessage(
        request_id=request.id, author="staff", kind="note", body=body, items=[], created_at=now or utcnow()
    )
    session.add(note)
    session.flush()
    _audit(session, "note.added", request, actor_id, message_id=note.id)
    return note


# --- the timeline -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineEntry:
    """One event on a request: an audit event, or a message (notice, answer, note)."""

    at: datetime
    actor_role: str
    actor_id: str | None
    action: str
    data: dict[str, Any]
    message: RequestMessage | None = None


def timeline(session: Session, request: PrivacyRequest) -> list[TimelineEntry]:
    """Every event on the request, staff and requester side, oldest first."""
    events = session.scalars(
        sa.select(AuditEvent).where(AuditEvent.request_id == request.id).order_by(AuditEvent.id)
    )
    entries = [TimelineEntry(e.at, e.actor_role, e.actor_id, e.action, dict(e.data or {})) for e in events]
    for message in request.messages:
        role = "staff" if message.author == "staff" else "user"
        entries.append(
            TimelineEntry(message.created_at, role, None, f"message.{message.kind}", {}, message=message)
        )
    return sorted(entries, key=lambda entry: entry.at)
