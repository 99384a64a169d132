"""Helpers the tests share: the test database, emptying tables, CSRF tokens, counting queries.

Import them from here (``from helpers import extract_csrf_token``); ``conftest.py`` holds
only fixtures and hooks, and imports these like any test file.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

REPO_ROOT = Path(__file__).resolve().parent.parent
DEMO_PASSWORD = "demo-password"
LOGIN_URL = "/login"
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
# Tables that record migration state, never emptied between tests.
KEEP_TABLES = {"alembic_version", "ome_privacy_alembic_version"}


def db_kind() -> str:
    kind = os.environ.get("OME_TEST_DB", "sqlite").strip().lower()
    if kind in ("postgres", "postgresql", "pg"):
        return "postgresql"
    if kind in ("", "sqlite"):
        return "sqlite"
    raise pytest.UsageError(f"OME_TEST_DB={kind!r}: use 'sqlite' or 'postgresql'")


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def pg_admin_url() -> sa.URL:
    return sa.make_url(os.environ.get("OME_TEST_PG_URL", DEFAULT_PG_URL))


def create_pg_database() -> tuple[str, Callable[[], None]]:
    admin_url = pg_admin_url()
    name = f"ome_test_{secrets.token_hex(4)}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as connection:
        connection.execute(sa.text(f"CREATE DATABASE \"{name}\" ENCODING 'UTF8' TEMPLATE template0"))

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return admin_url.set(database=name).render_as_string(hide_password=False), drop


@contextlib.contextmanager
def fresh_database(folder: Path) -> Iterator[str]:
    """A new, empty database of this run's kind (a SQLite file in ``folder``), dropped afterwards."""
    if db_kind() == "postgresql":
        url, drop = create_pg_database()
        try:
            yield url
        finally:
            drop()
    else:
        yield f"sqlite:///{folder / 'test.sqlite'}"


def data_tables(engine: sa.Engine) -> list[str]:
    """Every table in the database except migration bookkeeping."""
    return sorted(set(sa.inspect(engine).get_table_names()) - KEEP_TABLES)


def empty_tables(engine: sa.Engine, tables: list[str]) -> None:
    """Delete every row and reset id sequences, on SQLite as on PostgreSQL."""
    if not tables:
        return
    preparer = engine.dialect.identifier_preparer
    quoted = [preparer.quote(name) for name in tables]
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            # Only the tables a test wrote to: TRUNCATE costs per table, even an empty one.
            probe = " UNION ALL ".join(
                f"SELECT {n} WHERE EXISTS (SELECT 1 FROM {name})" for n, name in enumerate(quoted)
            )
            dirty = [quoted[n] for (n,) in connection.execute(sa.text(probe))]
            # A session a test left open would make TRUNCATE wait for ever: fail instead.
            connection.execute(sa.text("SET LOCAL lock_timeout = '10s'"))
            if dirty:
                # TRUNCATE fires no row triggers, so append-only guards on the audit table stay out of it.
                connection.execute(sa.text(f"TRUNCATE {', '.join(dirty)} RESTART IDENTITY CASCADE"))
            # Ids handed out to rows that are gone again (inserted then deleted) start over too.
            used = connection.execute(
                sa.text(
                    "SELECT quote_ident(schemaname) || '.' || quote_ident(sequencename) FROM pg_sequences "
                    "WHERE schemaname = current_schema() AND last_value IS NOT NULL"
                )
            ).scalars()
            for sequence in used:
                connection.execute(sa.text(f"ALTER SEQUENCE {sequence} RESTART"))
        else:
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            for name in quoted:
                connection.exec_driver_sql(f"DELETE FROM {name}")
            has_sequence = connection.exec_driver_sql(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name='sqlite_sequence'"
            ).first()
            if has_sequence:
                connection.exec_driver_sql("DELETE FROM sqlite_sequence")
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")


class _FormFields(HTMLParser):
    """Collects ``<input name=... value=...>`` pairs (last one wins)."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "input":
            attributes = dict(attrs)
            if attributes.get("name"):
                self.values[attributes["name"] or ""] = attributes.get("value") or ""


def extract_csrf_token(html: str) -> str:
    parser = _FormFields()
    parser.feed(html)
    token = parser.values.get("csrf_token")
    if not token:
        meta = re.search(r'<meta\s+name="csrf-token"\s+content="([^"]+)"', html)
        token = meta.group(1) if meta else None
    if not token:
        raise AssertionError("no csrf_token field on the page")
    return token


@dataclass
class QueryLog:
    statements: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.statements)

    def __len__(self) -> int:
        return len(self.statements)

    def __str__(self) -> str:
        return "\n".join(f"{n}. {sql}" for n, sql in enumerate(self.statements, 1))


@contextlib.contextmanager
def log_queries(engine: sa.Engine) -> Iterator[QueryLog]:
    """``with log_queries(engine) as queries: ...``: every SQL statement sent on ``engine`` meanwhile."""
    log = QueryLog()

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        log.statements.append(" ".join(statement.split()))

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield log
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


def seed_demo_data(app: Any) -> Any:
    """Run ``example_app.seed.seed_demo`` in an app context and commit; returns what it returns."""
    from example_app.models import db
    from example_app.seed import seed_demo

    with app.app_context():
        result = seed_demo(db) if inspect.signature(seed_demo).parameters else seed_demo()
        db.session.commit()
        return result


def base_config(database_url: str, document_key: str) -> dict[str, Any]:
    return {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "WTF_CSRF_ENABLED": True,
        "SECRET_KEY": "test",
        "OME_PRIVACY_DOCUMENT_KEYS": document_key,
        # The demo "Continue with Facebook" (carol signs in with it); tests without it turn it off.
        "WORLD_OME_DEMO": True,
    }
