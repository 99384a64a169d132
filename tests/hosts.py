"""A minimal host site for testing the package on its own, apart from example_app.

It proves the extension works for any Flask app: its users live in a dict, its one data
source reads a dict, and it signs people in through a test-only route.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

from flask import Flask
from flask_login import LoginManager, UserMixin, login_user
from flask_sqlalchemy import SQLAlchemy

from flask_ome_privacy import DataSource, OmePrivacy, Origin, Record, SourceField


class HostUser(UserMixin):
    def __init__(self, user_id: str, *, staff: bool = False) -> None:
        self.id = user_id
        self.staff = staff


class NotesSource(DataSource):
    """Profile-like data held in a dict: user id → {field: value}."""

    key = "notes"
    label = "Notes"
    origin = Origin.DIRECT
    category = "user_info"
    fields = (SourceField("nickname", "Nickname", required=True), SourceField("hobby", "Hobby"))

    def __init__(self, data: dict[str, dict[str, Any]] | None = None) -> None:
        self.data = data if data is not None else {}

    def collect(self, user: Any) -> Iterable[Record]:
        obtained = datetime(2026, 1, 1, tzinfo=timezone.utc)
        for name, value in self.data.get(user.get_id(), {}).items():
            yield Record(name, value, obtained)


def make_host(
    database_url: str,
    *,
    config: dict[str, Any] | None = None,
    sources: Iterable[DataSource] = (),
    template_folder: str | None = None,
) -> tuple[Flask, SQLAlchemy, OmePrivacy]:
    """A fresh host app using ``database_url`` (whose ome_privacy tables already exist)."""
    app = Flask("host_site", template_folder=template_folder)
    app.config.update(
        TESTING=True,
        SECRET_KEY="host-secret",
        SQLALCHEMY_DATABASE_URI=database_url,
        **(config or {}),
    )
    db = SQLAlchemy(app)
    users = {"1": HostUser("1"), "2": HostUser("2"), "9": HostUser("9", staff=True)}
    login_manager = LoginManager(app)
    login_manager.user_loader(users.get)
    privacy = OmePrivacy(sources=sources)
    privacy.staff_loader(lambda user: user.staff)
    privacy.init_app(app, db=db)

    @app.route("/_test/sign-in/<user_id>")
    def sign_in(user_id: str) -> str:
        login_user(users[user_id])
        return "signed in"

    return app, db, privacy
