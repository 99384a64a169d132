"""Our Alembic scripts: upgrade from empty, match the models, coexist with the host's history."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from helpers import fresh_database

from flask_ome_privacy import OmePrivacy, migrate
from flask_ome_privacy.models import ALL_MODELS, Base


@pytest.fixture
def empty_database_url(tmp_path: Path) -> Iterator[str]:
    """A database with nothing in it, of the kind this run tests."""
    with fresh_database(tmp_path) as url:
        yield url


@pytest.fixture
def host(empty_database_url: str) -> Iterator[tuple[Flask, SQLAlchemy]]:
    app = Flask(__name__)
    app.config.update(SECRET_KEY="x", SQLALCHEMY_DATABASE_URI=empty_database_url)
    db = SQLAlchemy(app)
    OmePrivacy(app, db=db)
    yield app, db
    with app.app_context():
        db.engine.dispose()


def table_names(app: Flask, db: SQLAlchemy) -> set[str]:
    with app.app_context():
        return set(sa.inspect(db.engine).get_table_names())


def test_upgrade_from_empty_creates_every_table(host: tuple[Flask, SQLAlchemy]) -> None:
    app, db = host
    assert migrate.current_revision(app) is None
    migrate.upgrade(app)
    assert migrate.current_revision(app) == migrate.head_revision()
    tables = table_names(app, db)
    assert {model.__tablename__ for model in ALL_MODELS} <= tables
    assert "ome_privacy_alembic_version" in tables
    assert all(name.startswith("ome_privacy_") for name in tables)


def test_migrations_match_the_models(host: tuple[Flask, SQLAlchemy]) -> None:
    app, db = host
    migrate.upgrade(app)

    def ours(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
        return type_ != "table" or (name or "").startswith("ome_privacy_") and name != migrate.VERSION_TABLE

    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "include_object": ours})
        assert compare_metadata(context, Base.metadata) == []


def test_upgrade_twice_is_harmless_and_downgrade_removes_our_tables(host: tuple[Flask, SQLAlchemy]) -> None:
    app, db = host
    migrate.upgrade(app)
    migrate.upgrade(app)
    migrate.downgrade(app, "base")
    assert not any(
        name.startswith("ome_privacy_") and name != "ome_privacy_alembic_version"
        for name in table_names(app, db)
    )


def test_coexists_with_the_hosts_own_alembic_history(host: tuple[Flask, SQLAlchemy]) -> None:
    app, db = host
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
        connection.execute(sa.text("INSERT INTO alembic_version VALUES ('host123')"))
        connection.execute(sa.text("CREATE TABLE host_users (id INTEGER PRIMARY KEY)"))
    migrate.upgrade(app)
    with app.app_context(), db.engine.connect() as connection:
        assert connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == "host123"
    assert "host_users" in table_names(app, db)
    migrate.downgrade(app, "base")
    assert "host_users" in table_names(app, db)


def test_cli_migrate_reports_what_it_did(host: tuple[Flask, SQLAlchemy]) -> None:
    app, _db = host
    runner = app.test_cli_runner()
    first = runner.invoke(args=["ome-privacy", "migrate"])
    assert first.exit_code == 0, first.output
    assert "upgraded from empty to" in first.output
    second = runner.invoke(args=["ome-privacy", "migrate"])
    assert "already at" in second.output
