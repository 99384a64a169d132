"""The extension's tables, all prefixed ``ome_privacy_``.

They live on their own ``MetaData`` (so our Alembic scripts and the host's never see each
other's tables) but are used through the host's Flask-SQLAlchemy session: our rows and
the host's rows change in one transaction. Users are referred to by the host's user id
as a string (``user.get_id()``), so no foreign key ties us to the host's user table.

Request data and documents (policy Art. 4.4) are kept in their own tables and are never
joined into profile data.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """Timezone-aware now; stored as UTC."""
    return datetime.now(timezone.utc)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on SQLite as on PostgreSQL."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use an aware UTC datetime")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: sa.JSON, list[Any]: sa.JSON}


UserId = sa.String(64)


class PrivacyRequest(Base):
    """A rights request (policy Art. 4) through its whole life cycle (lifecycle.py)."""

    __tablename__ = "ome_privacy_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(sa.String(32), unique=True)
    user_id: Mapped[str | None] = mapped_column(UserId, index=True)
    kind: Mapped[str] = mapped_column(sa.String(32))
    status: Mapped[str] = mapped_column(sa.String(32), index=True)
    requester_type: Mapped[str] = mapped_column(sa.String(32), default="self")
    channel: Mapped[str] = mapped_column(sa.String(16), default="online")  # online | postal
    # What is asked: sources/fields in scope, requested changes, ground for stop/erase.
    scope: Mapped[dict[str, Any]] = mapped_column(default=dict)
    details: Mapped[str] = mapped_column(sa.Text, default="")
    ground: Mapped[str | None] = mapped_column(sa.String(32))
    disclosure_method: Mapped[str | None] = mapped_column(sa.String(16))  # electronic | paper
    disclosure_method_note: Mapped[str | None] = mapped_column(sa.Text)
    # Fee (Art. 4.3)
    fee_status: Mapped[str] = mapped_column(sa.String(16), default="not_required")
    fee_amount: Mapped[int] = mapped_column(default=0)
    fee_method: Mapped[str | None] = mapped_column(sa.String(32))
    fee_received_on: Mapped[date | None] = mapped_column(sa.Date)
    fee_recorded_by: Mapped[str | None] = mapped_column(UserId)
    # Clock
    # Clock: written only by privacy_requests.submit/move (target from OME_PRIVACY_RESPONSE_DAYS);
    # due_at is lifecycle.Clock's, stored so the queue can sort by it.
    received_at: Mapped[datetime]
    due_at: Mapped[datetime]
    target_days: Mapped[int]
    paused_seconds: Mapped[float] = mapped_column(sa.Float, default=0.0)
    paused_since: Mapped[datetime | None]
    answer_deadline: Mapped[datetime | None]
    # Identity and representation (Art. 4.5, Art. 5)
    identity_verified_at: Mapped[datetime | None]
    identity_verified_by: Mapped[str | None] = mapped_column(UserId)
    identity_method: Mapped[str | None] = mapped_column(sa.String(64))
    representation_verified: Mapped[bool] = mapped_column(default=False)
    # Decision (Art. 4.2) and result
    # decisions.Outcome: approved | partially_approved | refused | no_data (32 since migration 0009)
    decision: Mapped[str | None] = mapped_column(sa.String(32))
    decision_reason: Mapped[str | None] = mapped_column(sa.Text)
    substitute_measure: Mapped[str | None] = mapped_column(sa.Text)
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(UserId)
    released_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    documents_purged_at: Mapped[datetime | None]
    assigned_to: Mapped[str | None] = mapped_column(UserId)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # Optimistic locking: two staff acting at once → the second gets StaleDataError.
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}

    documents: Mapped[list[RequestDocument]] = relationship(
        back_populates="request", cascade="all, delete-orphan", order_by="RequestDocument.id"
    )
    receipts: Mapped[list[ExecutionReceipt]] = relationship(
        back_populates="request", cascade="all, delete-orphan", order_by="ExecutionReceipt.id"
    )
    messages: Mapped[list[RequestMessage]] = relationship(
        back_populates="request", cascade="all, delete-orphan", order_by="RequestMessage.id"
    )
    decision_items: Mapped[list[DecisionItem]] = relationship(
        back_populates="request", cascade="all, delete-orphan", order_by="DecisionItem.id"
    )
    # Staff review (identity_checks.py): which identity checks staff ticked, by whom and when
    # ({code: {"by": staff id, "at": ISO time}}), and why a fee was waived.
    identity_checks: Mapped[dict[str, Any]] = mapped_column(default=dict)
    fee_waiver_reason: Mapped[str | None] = mapped_column(sa.Text)
    # A request that arrived by post (desk-queue): for someone without an account, the name and
    # postal address are kept only to send the reply (policy Art. 4.4); what happened to the
    # originals that came with it (returned | destroyed | none).
    postal_name: Mapped[str | None] = mapped_column(sa.Text)
    postal_address: Mapped[str | None] = mapped_column(sa.Text)
    originals: Mapped[str | None] = mapped_column(sa.String(16))

    __table_args__ = (
        # The queue's keyset: page 500 as fast as page 1 (staff_queue.py).
        sa.Index("ix_ome_privacy_requests_due_at_id", "due_at", "id"),
        sa.Index("ix_ome_privacy_requests_assigned_due", "assigned_to", "due_at", "id"),
        sa.Index("ix_ome_privacy_requests_status_due", "status", "due_at", "id"),
    )
    # Four-eyes (decisions.Approval): who approved which version of the decision (its fingerprint).
    approved_by: Mapped[str | None] = mapped_column(UserId)
    approved_fingerprint: Mapped[str | None] = mapped_column(sa.String(64))
    approved_at: Mapped[datetime | None]
    # Paper delivery of a disclosure (APPI Art. 33(1)): the day staff mailed the printed package.
    disclosure_mailed_on: Mapped[date | None] = mapped_column(sa.Date)


class RequestDocument(Base):
    """An identity or representation document; the file itself is encrypted at rest."""

    __tablename__ = "ome_privacy_documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    # None while the document belongs to an unfinished request draft (``draft_id``).
    request_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("ome_privacy_requests.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(
        sa.String(32)
    )  # person_identity, representative_identity, authority, ...
    doc_type: Mapped[str] = mapped_column(sa.String(32))  # drivers_licence, passport, ...
    content_type: Mapped[str] = mapped_column(sa.String(64))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(sa.String(64))
    # Encrypted file (documents/storage.py), None once purged. Deferred: loading a request and
    # its documents never reads the bytes; documents.read() fetches them for one document.
    ciphertext: Mapped[bytes | None] = mapped_column(sa.LargeBinary, deferred=True)
    issued_on: Mapped[date | None] = mapped_column(sa.Date)  # seal registration certificate
    masked_by_staff: Mapped[bool] = mapped_column(default=False)
    checked: Mapped[str | None] = mapped_column(sa.String(16))  # accepted | rejected
    check_note: Mapped[str | None] = mapped_column(sa.Text)
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)
    purged_at: Mapped[datetime | None]

    request: Mapped[PrivacyRequest] = relationship(back_populates="documents")
    # Uploaded in the request wizard before submission; moved to the request(s) on submit.
    draft_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("ome_privacy_request_drafts.id", ondelete="CASCADE"), index=True
    )


class ExecutionReceipt(Base):
    """What carrying out a decision did in one source (or for one processor)."""

    __tablename__ = "ome_privacy_receipts"
    __table_args__ = (
        sa.UniqueConstraint("request_id", "target", "action", name="uq_ome_privacy_receipts_target"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(
        sa.ForeignKey("ome_privacy_requests.id", ondelete="CASCADE"), index=True
    )
    target: Mapped[str] = mapped_column(sa.String(128))  # source key, or "processor:<name>"
    action: Mapped[str] = mapped_column(sa.String(32))
    status: Mapped[str] = mapped_column(sa.String(16))  # pending | done | failed | not_applicable | manual
    summary: Mapped[str] = mapped_column(sa.Text, default="")
    checklist: Mapped[list[Any]] = mapped_column(default=list)
    attempts: Mapped[int] = mapped_column(default=0)
    executed_at: Mapped[datetime | None]
    executed_by: Mapped[str | None] = mapped_column(UserId)

    request: Mapped[PrivacyRequest] = relationship(back_populates="receipts")
    # The message of the source's last ``SourceError`` (safe to show staff), and staff's note
    # when they ticked a manual task done.
    error: Mapped[str | None] = mapped_column(sa.Text)
    note: Mapped[str | None] = mapped_column(sa.Text)


class RequestMessage(Base):
    """Deficiency notices, the requester's answers, and decision notices on one request."""

    __tablename__ = "ome_privacy_request_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(
        sa.ForeignKey("ome_privacy_requests.id", ondelete="CASCADE"), index=True
    )
    author: Mapped[str] = mapped_column(sa.String(16))  # staff | requester
    kind: Mapped[str] = mapped_column(sa.String(32))  # deficiency | answer | decision | note
    body: Mapped[str] = mapped_column(sa.Text)
    items: Mapped[list[Any]] = mapped_column(default=list)  # what exactly is missing
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    request: Mapped[PrivacyRequest] = relationship(back_populates="messages")


class DecisionItem(Base):
    """One item of a decision: granted or refused, with the reason for a refusal (APPI Art. 36)."""

    __tablename__ = "ome_privacy_decision_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(
        sa.ForeignKey("ome_privacy_requests.id", ondelete="CASCADE"), index=True
    )
    item: Mapped[str] = mapped_column(sa.String(255))
    granted: Mapped[bool]
    reason: Mapped[str | None] = mapped_column(sa.Text)

    request: Mapped[PrivacyRequest] = relationship(back_populates="decision_items")
    # The item as decisions.ItemDecision holds it; ``reason`` above is its explanation.
    source: Mapped[str | None] = mapped_column(sa.String(64))
    field: Mapped[str | None] = mapped_column(sa.String(64))
    verdict: Mapped[str] = mapped_column(sa.String(16), default="undecided")
    ground: Mapped[str | None] = mapped_column(sa.String(48))
    substitute: Mapped[str | None] = mapped_column(sa.Text)


class AuditEvent(Base):
    """Append-only, hash-chained trail. ``data`` holds ids and codes, never personal data."""

    __tablename__ = "ome_privacy_audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[str | None] = mapped_column(UserId)
    actor_role: Mapped[str] = mapped_column(sa.String(16))  # user | staff | system | host
    action: Mapped[str] = mapped_column(sa.String(64))
    request_id: Mapped[int | None] = mapped_column(index=True)
    subject_user_id: Mapped[str | None] = mapped_column(UserId, index=True)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    #: HMAC-SHA256 of ``hash`` with the newest ``OME_PRIVACY_AUDIT_KEYS`` key (None: no key set).
    mac: Mapped[str | None] = mapped_column(sa.String(64))


class ConsentRecord(Base):
    """A person's decision on an additional purpose (Art. 2.2(1)); the latest row wins."""

    __tablename__ = "ome_privacy_consents"
    __table_args__ = (
        sa.Index("ix_ome_privacy_consents_user_purpose", "user_id", "purpose_key", "decided_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[str] = mapped_column(UserId)
    purpose_key: Mapped[str] = mapped_column(sa.String(128))
    purpose_version: Mapped[int]
    granted: Mapped[bool]
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProvisionRecord(Base):
    """A provision of a person's data to a third party (policy Art. 1.3; APPI Art. 33(5))."""

    __tablename__ = "ome_privacy_provisions"
    __table_args__ = (sa.Index("ix_ome_privacy_provisions_user_at", "user_id", "provided_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[str] = mapped_column(UserId)
    recipient: Mapped[str] = mapped_column(sa.String(255))
    categories: Mapped[list[Any]] = mapped_column(default=list)
    purpose: Mapped[str | None] = mapped_column(sa.Text)
    basis: Mapped[str] = mapped_column(sa.String(32), default="consent")
    provided_at: Mapped[datetime] = mapped_column(default=utcnow)
    stopped_at: Mapped[datetime | None]


class Notification(Base):
    """An in-app notice to a person (decision notices, withdrawal receipts, consent asks)."""

    __tablename__ = "ome_privacy_notifications"
    __table_args__ = (sa.Index("ix_ome_privacy_notifications_user_created", "user_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[str] = mapped_column(UserId)
    kind: Mapped[str] = mapped_column(sa.String(32))
    # Message ids and parameters, translated on display so the notice follows the reader's language.
    subject: Mapped[str] = mapped_column(sa.String(255))
    body: Mapped[str] = mapped_column(sa.Text, default="")
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    request_id: Mapped[int | None]
    # Where the notice leads: an endpoint and its values, built into a URL on display, so a
    # changed URL prefix never breaks a stored link. ``link`` is a plain path (older rows,
    # or a host's own URL).
    link: Mapped[str | None] = mapped_column(sa.String(255))
    link_endpoint: Mapped[str | None] = mapped_column(sa.String(128))
    link_values: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]


class SnsWithdrawal(Base):
    """The receipt of a self-service SNS withdrawal: what was erased (names and counts, no values)."""

    __tablename__ = "ome_privacy_sns_withdrawals"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(sa.String(32), unique=True)
    user_id: Mapped[str] = mapped_column(UserId, index=True)
    source_key: Mapped[str] = mapped_column(sa.String(64))
    provider: Mapped[str] = mapped_column(sa.String(64))
    erased: Mapped[list[Any]] = mapped_column(default=list)  # [{"field": ..., "label": ..., "count": n}]
    summary: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class JobFailure(Base):
    """A background job that gave up (jobs.py), kept until a staff retry succeeds.

    Holds the task's name and arguments (ids and a language, never personal data), how
    often it was tried, and the *type* of the last error — never its message.
    """

    __tablename__ = "ome_privacy_job_failures"

    id: Mapped[int] = mapped_column(primary_key=True)
    task: Mapped[str] = mapped_column(sa.String(128))
    arguments: Mapped[dict[str, Any]] = mapped_column(default=dict)
    request_id: Mapped[int | None] = mapped_column(index=True)
    status: Mapped[str] = mapped_column(sa.String(16), index=True)  # failed | retrying | resolved
    attempts: Mapped[int] = mapped_column(default=0)
    error_type: Mapped[str] = mapped_column(sa.String(255))
    #: The task gave up for good (``jobs.GiveUp``): trying again cannot help until the cause is fixed.
    permanent: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    job_id: Mapped[str | None] = mapped_column(sa.String(64))  # the RQ job of the last attempt
    first_failed_at: Mapped[datetime] = mapped_column(default=utcnow)
    failed_at: Mapped[datetime] = mapped_column(default=utcnow)
    retried_at: Mapped[datetime | None]
    retried_by: Mapped[str | None] = mapped_column(UserId)
    resolved_at: Mapped[datetime | None]


class RequestDraft(Base):
    """A rights request being written in the wizard (drafts.py): the answers so far.

    Owned by one user and reached through ``token`` (random, in the URL); deleted when it
    is submitted, or after ``OME_PRIVACY_DRAFT_DAYS`` without a change (with its documents).
    """

    __tablename__ = "ome_privacy_request_drafts"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(sa.String(32), unique=True)
    user_id: Mapped[str] = mapped_column(UserId, index=True)
    answers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    step: Mapped[str] = mapped_column(sa.String(16), default="what")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class PrivacyStop(Base):
    """A stop a decided request put in place (APPI Art. 35): use for a purpose, or provision to a
    recipient. ``target`` None: every purpose / every recipient. ``may_use`` and ``may_provide`` ask it."""

    __tablename__ = "ome_privacy_stops"
    __table_args__ = (
        sa.UniqueConstraint("request_id", "kind", "target", name="uq_ome_privacy_stops_request_kind_target"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[str] = mapped_column(UserId, index=True)
    request_id: Mapped[int | None]
    kind: Mapped[str] = mapped_column(sa.String(16))  # use | provision
    target: Mapped[str | None] = mapped_column(sa.String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class StatusCount(Base):
    """How many requests are in each status, so the desk's counts read a handful of rows
    instead of scanning every request (issue 10: the queue at 100,000 requests).

    Kept by ``privacy_requests.submit`` and ``move``, the only writers of a request's status,
    in the same transaction as the change, after its audit event: the audit chain's lock is
    held then, so two writers never update these rows at once (no lost count, no deadlock).
    ``privacy_requests.recount_statuses`` rebuilds it from the requests (migration 0011 and
    anything that writes requests in bulk).
    """

    __tablename__ = "ome_privacy_status_counts"

    status: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    count: Mapped[int] = mapped_column(default=0)


ALL_MODELS = (
    PrivacyRequest,
    RequestDocument,
    ExecutionReceipt,
    RequestMessage,
    DecisionItem,
    AuditEvent,
    ConsentRecord,
    ProvisionRecord,
    Notification,
    SnsWithdrawal,
    JobFailure,
    RequestDraft,
    PrivacyStop,
    StatusCount,
)
