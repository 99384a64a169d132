"""Provision of personal data to third parties (policy Art. 1.3; APPI Art. 33(5)).

The host calls ``privacy.record_provision`` whenever it provides a person's data to a client
company; the person sees the log and can ask to stop it; disclosure includes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from . import audit
from .models import ProvisionRecord, utcnow
from .purposes import PurposeRegister
from .stops import ProvisionStopped, provision_stopped


def record_provision(
    session: Session,
    purposes: PurposeRegister,
    *,
    user_id: str,
    recipient: str,
    categories: Sequence[str],
    purpose: str | None = None,
    provided_at: datetime | None = None,
) -> ProvisionRecord:
    recipient = (recipient or "").strip()
    if not recipient:
        raise ValueError("record_provision needs the recipient's name")
    if not categories:
        raise ValueError("record_provision needs at least one category")
    if provision_stopped(session, user_id, recipient):
        raise ProvisionStopped(
            "this person asked us to stop providing their data to this recipient (APPI Art. 35(3)); "
            "check privacy.may_provide(user, recipient) first"
        )
    unknown = [c for c in categories if c not in purposes.categories]
    if unknown:
        raise ValueError(f"Unknown categories {unknown}; known: {', '.join(purposes.categories)}")
    record = ProvisionRecord(
        user_id=user_id,
        recipient=recipient,
        categories=list(categories),
        purpose=purpose,
        provided_at=provided_at or utcnow(),
    )
    session.add(record)
    session.flush()
    audit.append(
        session,
        "provision.recorded",
        actor_id=None,
        actor_role="host",
        subject_user_id=user_id,
        data={"provision_id": record.id, "categories": list(categories)},
    )
    return record


def provisions_for(session: Session, user_id: str, limit: int | None = None) -> list[ProvisionRecord]:
    """The person's provision log, newest first."""
    params: dict[str, Any] = {"user_id": str(user_id)}
    if limit is not None:
        params["limit"] = limit
    return list(session.scalars(_provisions_statement(limit is not None), params))


@cache
def _provisions_statement(limited: bool) -> sa.Select[ProvisionRecord]:
    """Built once (the data page asks it on every visit; building costs more than running)."""
    statement = (
        sa.select(ProvisionRecord)
        .where(ProvisionRecord.user_id == sa.bindparam("user_id"))
        .order_by(ProvisionRecord.provided_at.desc(), ProvisionRecord.id.desc())
    )
    return statement.limit(sa.bindparam("limit")) if limited else statement
