"""Stops a decided request puts in place (APPI Art. 35; policy Art. 4.1): use and provision.

When staff carry out a granted "stop using" or "stop providing to third parties" request,
the stop is recorded here, so the host can ask before it acts: ``privacy.may_use`` answers
no for a stopped purpose, ``privacy.may_provide`` answers no for a stopped recipient, and
``record_provision`` refuses to log a provision to one. A stop with no target covers every
purpose (or every recipient).
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from .models import PrivacyStop

__all__ = ["USE", "PROVISION", "ProvisionStopped", "record_stops", "use_stopped", "provision_stopped"]

USE = "use"
PROVISION = "provision"


class ProvisionStopped(ValueError):
    """``record_provision`` for a recipient the person asked us to stop providing to."""


def _normal(target: str) -> str:
    return " ".join(target.split()).casefold()


def record_stops(
    session: Session, *, user_id: str, request_id: int, kind: str, targets: Iterable[str] | None
) -> list[PrivacyStop]:
    """Record the stops of one request; recording them again adds nothing (idempotent)."""
    wanted: list[str | None] = [None] if targets is None else [_normal(t) for t in targets if t.strip()]
    existing = set(
        session.scalars(
            sa.select(PrivacyStop.target).where(
                PrivacyStop.request_id == request_id, PrivacyStop.kind == kind
            )
        )
    )
    added = []
    for target in dict.fromkeys(wanted):
        if target in existing:
            continue
        stop = PrivacyStop(user_id=str(user_id), request_id=request_id, kind=kind, target=target)
        session.add(stop)
        added.append(stop)
    session.flush()
    return added


def _stopped(session: Session, user_id: str, kind: str, target: str) -> bool:
    found = session.scalar(
        sa.select(PrivacyStop.id)
        .where(
            PrivacyStop.user_id == str(user_id),
            PrivacyStop.kind == kind,
            sa.or_(PrivacyStop.target.is_(None), PrivacyStop.target == _normal(target)),
        )
        .limit(1)
    )
    return found is not None


def use_stopped(session: Session, user_id: str, purpose_key: str) -> bool:
    """Has the person had use for ``purpose_key`` (or every use) stopped? One query."""
    return _stopped(session, user_id, USE, purpose_key)


def provision_stopped(session: Session, user_id: str, recipient: str) -> bool:
    """Has the person had provision to ``recipient`` (or to anyone) stopped? One query."""
    return _stopped(session, user_id, PROVISION, recipient)


def users_with_use_stopped(
    session: Session, purpose_key: str, user_ids: Iterable[str], chunk: int = 500
) -> set[str]:
    """Of ``user_ids`` (strings), those whose use for ``purpose_key`` is stopped; one query per ``chunk``."""
    ids = list(dict.fromkeys(str(i) for i in user_ids))
    stopped: set[str] = set()
    for start in range(0, len(ids), chunk):
        stopped.update(
            session.scalars(
                sa.select(PrivacyStop.user_id).where(
                    PrivacyStop.user_id.in_(ids[start : start + chunk]),
                    PrivacyStop.kind == USE,
                    sa.or_(PrivacyStop.target.is_(None), PrivacyStop.target == _normal(purpose_key)),
                )
            )
        )
    return stopped
