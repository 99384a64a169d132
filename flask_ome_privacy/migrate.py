"""Our Alembic migrations, applied with their own version table.

The scripts ship inside the package (``flask_ome_privacy/migrations``) and record their
state in ``ome_privacy_alembic_version``, so they coexist with the host's own Alembic
(or Flask-Migrate) history without either seeing the other's tables.
"""

from __future__ import annotations

import os

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask
from sqlalchemy.engine import Engine

MIGRATIONS_DIR = os.path.join(os.path.dirname(__file__), "migrations")
VERSION_TABLE = "ome_privacy_alembic_version"


def alembic_config(app: Flask) -> Config:
    config = Config()
    config.set_main_option("script_location", MIGRATIONS_DIR)
    config.attributes["engine"] = _engine(app)
    config.attributes["version_table"] = VERSION_TABLE
    return config


def upgrade(app: Flask, revision: str = "head") -> None:
    """Bring our tables up to ``revision`` on the app's default engine."""
    command.upgrade(alembic_config(app), revision)


def downgrade(app: Flask, revision: str) -> None:
    command.downgrade(alembic_config(app), revision)


def current_revision(app: Flask) -> str | None:
    with _engine(app).connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        return context.get_current_revision()


def head_revision() -> str | None:
    config = Config()
    config.set_main_option("script_location", MIGRATIONS_DIR)
    return ScriptDirectory.from_config(config).get_current_head()


def _engine(app: Flask) -> Engine:
    state = app.extensions.get("ome_privacy")
    if state is None:
        raise RuntimeError(
            "flask-ome-privacy is not initialised on this app; call privacy.init_app(app, db=db)"
        )
    with app.app_context():
        engine: Engine = state.db.engine
    return engine
