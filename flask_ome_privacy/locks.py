"""Serialising the few writes that must not interleave (audit chain links, withdrawals, decisions).

PostgreSQL: a transaction-scoped advisory lock on the key, released at commit or rollback.
SQLite: one writer at a time is the rule anyway, so taking the database's write lock now,
before reading, is enough — a second writer then reads only after the first committed.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session


def serialize(session: Session, key: str) -> None:
    """Hold ``key`` until this transaction ends; call before reading what you will write."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(key, 0))))
    elif dialect == "sqlite":
        # A write that matches no row still takes SQLite's RESERVED lock for the transaction.
        session.execute(sa.text("UPDATE ome_privacy_audit_events SET id = id WHERE 1 = 0"))
