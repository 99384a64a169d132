"""The audit trail: append-only events chained by SHA-256 (policy Art. 1.4, 3.2).

Each event's hash covers its content and the previous event's hash, so editing or
deleting any row breaks the chain from there on; ``verify_chain`` finds the first break.
Events carry ids and codes only — never names, addresses or document contents.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from .locks import serialize
from .models import AuditEvent, utcnow

GENESIS = "0" * 64


def event_hash(
    prev_hash: str,
    at: datetime,
    actor_id: str | None,
    actor_role: str,
    action: str,
    request_id: int | None,
    subject_user_id: str | None,
    data: dict[str, Any],
) -> str:
    payload = json.dumps(
        [prev_hash, at.isoformat(), actor_id, actor_role, action, request_id, subject_user_id, data],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def append(
    session: Session,
    action: str,
    *,
    actor_id: str | None,
    actor_role: str,
    request_id: int | None = None,
    subject_user_id: str | None = None,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add one event to the chain in the caller's transaction (the caller commits)."""
    # Two transactions appending at once would both link to the same predecessor.
    serialize(session, "ome_privacy:audit")
    last = session.execute(
        sa.select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)
    ).scalar_one_or_none()
    prev = last or GENESIS
    # Microsecond precision survives both SQLite and PostgreSQL round trips.
    at = utcnow()
    payload = dict(data or {})
    event = AuditEvent(
        at=at,
        actor_id=actor_id,
        actor_role=actor_role,
        action=action,
        request_id=request_id,
        subject_user_id=subject_user_id,
        data=payload,
        prev_hash=prev,
        hash=event_hash(prev, at, actor_id, actor_role, action, request_id, subject_user_id, payload),
    )
    session.add(event)
    session.flush()
    return event


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    first_bad_id: int | None = None
    problem: str = ""


def verify_chain(events: Iterable[AuditEvent]) -> ChainReport:
    """Walk events in id order; report the first one whose link or hash does not hold."""
    prev = GENESIS
    checked = 0
    for event in events:
        if event.prev_hash != prev:
            return ChainReport(False, checked, event.id, "link to the previous event is broken")
        expected = event_hash(
            event.prev_hash,
            event.at,
            event.actor_id,
            event.actor_role,
            event.action,
            event.request_id,
            event.subject_user_id,
            event.data or {},
        )
        if expected != event.hash:
            return ChainReport(False, checked, event.id, "event content does not match its hash")
        prev = event.hash
        checked += 1
    return ChainReport(True, checked)


def verify_session(session: Session, batch: int = 1000) -> ChainReport:
    stmt = sa.select(AuditEvent).order_by(AuditEvent.id).execution_options(yield_per=batch)
    return verify_chain(session.scalars(stmt))
