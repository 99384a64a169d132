"""Retention of request data (policy Art. 4.4; APPI Art. 22): what goes, and when.

Data given through a request is used only to answer it. ``OME_PRIVACY_DOCUMENT_RETENTION_DAYS``
after a request closes (``closed_at``), ``purge_due`` deletes what the requester handed in
for it — the bytes of every identity document (``documents.purge_request``: the encrypted
file is gone from the database, not hidden), the request's free text, the requester's
answers to deficiency notices, the name and postal address kept to reply to a mailed request
from someone without an account, and the contact details and new values written into the
scope (a representative's name and address, the values asked for by a correction) — and
keeps the minimal record SPEC names: the reference, the dates, the kind, the outcome, that
identity was verified and how (the document rows' role, type and checks,
``identity_verified_*``), and the audit trail.

Drafts nobody submitted go the same way when the wizard's ``drafts`` module is installed
(``purge_stale_drafts(session, now)``): ``STALE_DRAFTS_HOOK`` names where it is called.

Idempotent: a request is done once (``documents_purged_at``), a second run finds nothing.
Like every domain function: it flushes, the caller commits once.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from . import audit
from .documents import purge_request
from .lifecycle import CLOSED_STATUSES
from .models import PrivacyRequest, RequestDocument, RequestMessage, utcnow
from .state import PrivacyState

__all__ = [
    "PURGED_ACTION",
    "RUN_ACTION",
    "PurgeReport",
    "purge_due",
    "retention_cutoff",
    "documents_past_retention",
    "STALE_DRAFTS_HOOK",
]

#: One per request whose data was purged (on its timeline), and one per run with the counts.
PURGED_ACTION = "request.data_purged"
RUN_ACTION = "retention.purge_run"
#: ``module:function`` called with ``(session, now)`` to delete stale unsubmitted drafts, and
#: returning how many went. The online request wizard provides it; absent, drafts are skipped.
STALE_DRAFTS_HOOK = "flask_ome_privacy.drafts:purge_stale_drafts"


@dataclass(frozen=True)
class PurgeReport:
    """What one run did (counts only: the CLI prints them and the trail keeps them)."""

    requests: int
    documents: int
    messages: int
    drafts: int | None  # None: no drafts module installed

    def as_data(self) -> dict[str, int | None]:
        return {
            "requests": self.requests,
            "documents": self.documents,
            "messages": self.messages,
            "drafts": self.drafts,
        }


def retention_cutoff(state: PrivacyState, now: datetime) -> datetime:
    """Requests closed before this moment are past ``OME_PRIVACY_DOCUMENT_RETENTION_DAYS``."""
    return now - timedelta(days=int(state.config("DOCUMENT_RETENTION_DAYS")))


def _due() -> sa.ColumnElement[bool]:
    return sa.and_(
        PrivacyRequest.status.in_([s.value for s in CLOSED_STATUSES]),
        PrivacyRequest.closed_at.is_not(None),
        PrivacyRequest.documents_purged_at.is_(None),
    )


def documents_past_retention(session: Session, cutoff: datetime) -> int:
    """Identity documents still stored although their request closed before ``cutoff``.

    Anything but 0 means the purge is not running (the review report shows it, Art. 3.2).
    """
    return int(
        session.scalar(
            sa.select(sa.func.count(RequestDocument.id))
            .join(PrivacyRequest, RequestDocument.request_id == PrivacyRequest.id)
            .where(
                PrivacyRequest.status.in_([s.value for s in CLOSED_STATUSES]),
                PrivacyRequest.closed_at < cutoff,
                RequestDocument.ciphertext.is_not(None),
            )
        )
        or 0
    )


def _stale_drafts_purger() -> Callable[[Session, datetime], int] | None:
    module_name, _, function = STALE_DRAFTS_HOOK.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        return None
    purger: Callable[[Session, datetime], int] = getattr(module, function)
    return purger


def purge_due(state: PrivacyState, *, now: datetime | None = None, batch: int = 500) -> PurgeReport:
    """Purge every closed request past retention; audit each one and the run. The caller commits.

    Reads ``OME_PRIVACY_DOCUMENT_RETENTION_DAYS``. Requests are read ``batch`` ids at a time,
    so a large backlog never sits in memory at once.
    """
    session = state.session
    now = now or utcnow()
    cutoff = retention_cutoff(state, now)
    requests = documents = messages = 0
    last_id = 0
    while True:
        ids = list(
            session.scalars(
                sa.select(PrivacyRequest.id)
                .where(_due(), PrivacyRequest.closed_at < cutoff, PrivacyRequest.id > last_id)
                .order_by(PrivacyRequest.id)
                .limit(batch)
            )
        )
        if not ids:
            break
        last_id = ids[-1]
        for request_id in ids:
            purged, cleared = _purge_one(session, request_id, now)
            requests += 1
            documents += purged
            messages += cleared
    purger = _stale_drafts_purger()
    drafts = purger(session, now) if purger is not None else None
    report = PurgeReport(requests, documents, messages, drafts)
    audit.append(session, RUN_ACTION, actor_id=None, actor_role="system", data=report.as_data())
    return report


#: Scope entries that hold what a person wrote (contact details, requested values): purged.
PERSONAL_SCOPE_KEYS = ("representative", "changes")


def _minimal_scope(scope: dict[str, Any] | None) -> dict[str, Any]:
    """The scope without what a person wrote; what was asked about (sources, fields, purposes,
    recipients, who filed) stays, as the record of what the request was."""
    return {key: value for key, value in (scope or {}).items() if key not in PERSONAL_SCOPE_KEYS}


def _purge_one(session: Session, request_id: int, now: datetime) -> tuple[int, int]:
    """Delete one request's documents and requester texts; keep its minimal record."""
    request = session.get(PrivacyRequest, request_id)
    assert request is not None  # nosec B101  # typing only: selected just now
    documents = purge_request(session, request_id, now=now)
    result = session.execute(
        sa.update(RequestMessage)
        .where(
            RequestMessage.request_id == request_id,
            RequestMessage.author == "requester",
            RequestMessage.body != "",
        )
        .values(body="")
        .execution_options(synchronize_session="fetch")
    )
    cleared = int(getattr(result, "rowcount", 0) or 0)
    request.details = ""
    # The reply went out long ago: the postal requester's name and address are not kept.
    request.postal_name = request.postal_address = None
    request.scope = _minimal_scope(request.scope)
    request.documents_purged_at = now
    session.flush()
    audit.append(
        session,
        PURGED_ACTION,
        actor_id=None,
        actor_role="system",
        request_id=request.id,
        subject_user_id=request.user_id,
        data={"reference": request.reference, "documents": documents, "messages": cleared},
    )
    return documents, cleared
