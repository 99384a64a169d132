"""Consents to additional purposes (policy Art. 2.2(1)): recording decisions and reading them back.

The rules (what needs consent, what a decision on an older wording is worth) live in
``purposes.py``; this module stores decisions in ``ome_privacy_consents`` and answers the
questions pages and hosts ask, each in a bounded number of statements:

* ``latest_decisions`` — a person's latest decision per purpose: one query;
* ``pending_asks`` — what the person still has to grant or decline: one query;
* ``may_use`` — one person, one purpose: at most one query (none for purposes that need
  no consent);
* ``users_who_may_use`` — many people, one purpose: one query per 500 ids.

Decisions are append-only rows; the newest row per (person, purpose) is the decision in
force, so the history of changes stays on record.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from . import audit
from .locks import serialize
from .models import ConsentRecord, utcnow
from .purposes import (
    ConsentAsk,
    ConsentDecision,
    ConsentRule,
    Purpose,
    PurposeRegister,
    consent_asks_for,
)
from .purposes import (
    may_use as rule_may_use,
)

#: How many user ids go into one ``IN (...)`` list in ``users_who_may_use``.
ID_CHUNK = 500


class StaleWordingError(ValueError):
    """The person decided on a wording (version) that is no longer the current one."""

    def __init__(self, purpose: Purpose, seen_version: int) -> None:
        super().__init__(
            f"Purpose {purpose.key!r} is at version {purpose.version}; "
            f"the decision was made on version {seen_version}"
        )
        self.purpose = purpose
        self.seen_version = seen_version


class NotAConsentPurposeError(ValueError):
    """Only additional purposes on directly obtained data are granted or declined (Art. 2.2(1))."""


def _latest_per(partition: Any, *where: Any) -> sa.Subquery:
    """Consent rows numbered newest-first within ``partition`` (row 1 is the decision in force)."""
    number = (
        sa.func.row_number()
        .over(partition_by=partition, order_by=(ConsentRecord.decided_at.desc(), ConsentRecord.id.desc()))
        .label("rank")
    )
    return (
        sa.select(
            ConsentRecord.user_id,
            ConsentRecord.purpose_key,
            ConsentRecord.purpose_version,
            ConsentRecord.granted,
            ConsentRecord.decided_at,
            number,
        )
        .where(*where)
        .subquery()
    )


@cache
def _latest_decisions_statement(some_keys: bool) -> sa.Select[Any]:
    """``latest_decisions``'s query, built once: every privacy page asks it, and building a
    window-function select costs more than running it (the values are bound parameters)."""
    where = [ConsentRecord.user_id == sa.bindparam("user_id")]
    if some_keys:
        where.append(ConsentRecord.purpose_key.in_(sa.bindparam("keys", expanding=True)))
    latest = _latest_per(ConsentRecord.purpose_key, *where)
    return (
        sa.select(latest.c.purpose_key, latest.c.purpose_version, latest.c.granted, latest.c.decided_at)
        .where(latest.c.rank == 1)
        .order_by(latest.c.purpose_key)
    )


def latest_decisions(
    session: Session, user_id: str, purpose_keys: Iterable[str] | None = None
) -> dict[str, ConsentDecision]:
    """The person's decision in force per purpose key, in one query.

    Keys of purposes no longer configured are included too (the page shows them as such).
    """
    params: dict[str, Any] = {"user_id": str(user_id)}
    if purpose_keys is not None:
        params["keys"] = list(purpose_keys)
        if not params["keys"]:
            return {}
    rows = session.execute(_latest_decisions_statement(purpose_keys is not None), params)
    return {
        key: ConsentDecision(purpose_key=key, version=version, granted=bool(granted), decided_at=decided_at)
        for key, version, granted, decided_at in rows
    }


def pending_asks(session: Session, register: PurposeRegister, user_id: str) -> list[ConsentAsk]:
    """The consent asks the person has not answered at the current wording (one query, none if
    the host configured no purpose that needs consent)."""
    keys = [p.key for p in register.consent_asks()]
    if not keys:
        return []
    return consent_asks_for(register, latest_decisions(session, user_id, keys))


@dataclass(frozen=True)
class ConsentSummary:
    """Everything the purposes page shows about one person's consents, from one query."""

    asks: list[ConsentAsk]
    #: Latest decision per purpose key (including purposes the host has since removed).
    decisions: dict[str, ConsentDecision]


def consent_summary(session: Session, register: PurposeRegister, user_id: str) -> ConsentSummary:
    decisions = latest_decisions(session, user_id)
    return ConsentSummary(asks=consent_asks_for(register, decisions), decisions=decisions)


def record_decision(
    session: Session,
    register: PurposeRegister,
    *,
    user_id: str,
    purpose_key: str,
    granted: bool,
    version: int | None = None,
    actor_id: str | None = None,
    actor_role: str = "user",
) -> ConsentRecord:
    """Record a person's grant or decline of ``purpose_key`` in the caller's transaction.

    ``version`` is the wording the person saw; when it is not the current one the decision
    is refused with ``StaleWordingError`` (they must read the new wording first). Omit it
    when the host records a consent it obtained itself on the current wording.
    Repeating the decision in force (a double click, two requests at once) records nothing
    new: the per-person, per-purpose lock is taken before the decision in force is read.
    Leaves an audit event ``consent.granted`` / ``consent.declined`` (purpose key and
    version only). The caller commits.
    """
    purpose = register.get(purpose_key)
    if not register.needs_consent(purpose):
        raise NotAConsentPurposeError(
            f"Purpose {purpose_key!r} does not need individual consent (rule: {register.rule_for(purpose)})"
        )
    if version is not None and version != purpose.version:
        raise StaleWordingError(purpose, version)
    user_id = str(user_id)
    # Held until the caller commits: a double-submitted form's second request reads the
    # decision only after the first one's row is in, and then records nothing new.
    serialize(session, f"ome_privacy:consent:{user_id}:{purpose_key}")
    current = latest_decisions(session, user_id, [purpose_key]).get(purpose_key)
    if current is not None and current.version == purpose.version and current.granted == bool(granted):
        existing = session.scalars(
            sa.select(ConsentRecord)
            .where(ConsentRecord.user_id == user_id, ConsentRecord.purpose_key == purpose_key)
            .order_by(ConsentRecord.decided_at.desc(), ConsentRecord.id.desc())
            .limit(1)
        ).one()
        return existing
    record = ConsentRecord(
        user_id=user_id,
        purpose_key=purpose_key,
        purpose_version=purpose.version,
        granted=bool(granted),
        decided_at=utcnow(),
    )
    session.add(record)
    session.flush()
    audit.append(
        session,
        "consent.granted" if granted else "consent.declined",
        actor_id=actor_id if actor_id is not None else (user_id if actor_role == "user" else None),
        actor_role=actor_role,
        subject_user_id=user_id,
        data={"consent_id": record.id, "purpose_key": purpose_key, "purpose_version": purpose.version},
    )
    return record


def may_use(session: Session, register: PurposeRegister, user_id: str, purpose_key: str, today: date) -> bool:
    """May the person's data be used for ``purpose_key`` today? (rules: ``purposes.may_use``)."""
    purpose = register.get(purpose_key)
    if register.rule_for(purpose) != ConsentRule.INDIVIDUAL_CONSENT:
        return rule_may_use(register, purpose_key, None, today)
    decision = latest_decisions(session, user_id, [purpose_key]).get(purpose_key)
    return rule_may_use(register, purpose_key, decision, today)


def users_who_may_use(
    session: Session, register: PurposeRegister, purpose_key: str, user_ids: Iterable[Any], today: date
) -> set[Any]:
    """Of ``user_ids``, those whose data may be used for ``purpose_key`` today.

    Returns the ids as given (ints stay ints). One query per ``ID_CHUNK`` ids for purposes
    that need consent; none otherwise.
    """
    ids = list(dict.fromkeys(user_ids))
    purpose = register.get(purpose_key)
    if register.rule_for(purpose) != ConsentRule.INDIVIDUAL_CONSENT:
        return set(ids) if rule_may_use(register, purpose_key, None, today) else set()
    if not rule_may_use(register, purpose_key, ConsentDecision(purpose_key, purpose.version, True), today):
        return set()  # not in effect yet: nobody, whatever they decided
    by_text = {str(i): i for i in ids}
    allowed: set[Any] = set()
    texts = list(by_text)
    for start in range(0, len(texts), ID_CHUNK):
        chunk = texts[start : start + ID_CHUNK]
        latest = _latest_per(
            ConsentRecord.user_id,
            ConsentRecord.purpose_key == purpose_key,
            ConsentRecord.user_id.in_(chunk),
        )
        granted = session.scalars(
            sa.select(latest.c.user_id).where(
                latest.c.rank == 1,
                latest.c.granted.is_(True),
                latest.c.purpose_version == purpose.version,
            )
        )
        allowed.update(by_text[user_id] for user_id in granted)
    return allowed
