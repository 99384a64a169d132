"""A small host site of our own for the data page and export tests.

Not the example site on purpose: it proves the package works for any host — its own user
table, its own data sources (one direct, one SNS, one organisational service), and no
more than Flask, Flask-SQLAlchemy, Flask-Login and our migrations. It runs on the test
session's database (``database_url`` from conftest.py), so on PostgreSQL too, with table
names of its own, and leaves the database as it found it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa
from flask import Flask, redirect
from flask_login import LoginManager, UserMixin, login_user
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from flask_ome_privacy import DataSource, OmePrivacy, Origin, Record, SourceField
from flask_ome_privacy.migrate import upgrade
from flask_ome_privacy.models import Base as PrivacyBase
from flask_ome_privacy.models import UTCDateTime


class HostBase(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=HostBase)
T0 = datetime(2024, 4, 1, 9, 0, tzinfo=timezone.utc)


class Member(UserMixin, db.Model):
    __tablename__ = "dp_members"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(255))
    email: Mapped[str] = mapped_column(sa.String(255))
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Answer(db.Model):
    """Organisational-service data: survey answers, grouped by survey."""

    __tablename__ = "dp_answers"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("dp_members.id"), index=True)
    survey: Mapped[str] = mapped_column(sa.String(255))
    text: Mapped[str] = mapped_column(sa.Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ChatLink(db.Model):
    """SNS data: what the "Chatter" network sent when the member linked it."""

    __tablename__ = "dp_chat"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("dp_members.id"), index=True)
    field: Mapped[str] = mapped_column(sa.String(64))
    value: Mapped[str] = mapped_column(sa.Text)


HOST_TABLES = [Member.__table__, Answer.__table__, ChatLink.__table__]


class AccountSource(DataSource):
    key = "account"
    label = "Account"
    origin = Origin.DIRECT
    category = "user_info"
    fields = (
        SourceField("name", "Name", required=True),
        SourceField("email", "Email address", required=True),
        SourceField("nickname", "Nickname"),
    )

    def collect(self, user: Member) -> Iterator[Record]:
        yield Record("name", user.name, user.joined_at)
        yield Record("email", user.email, user.joined_at)


class ChatSource(DataSource):
    """An SNS source that does not override ``count``: the page counts its stream."""

    key = "chatter"
    label = "Chatter"
    origin = Origin.SNS
    provider = "Chatter"
    category = "sns"
    fields = (SourceField("handle", "Chatter handle"), SourceField("bio", "Chatter bio"))

    def collect(self, user: Member) -> Iterator[Record]:
        rows = db.session.execute(
            sa.select(ChatLink.field, ChatLink.value)
            .where(ChatLink.member_id == user.id)
            .order_by(ChatLink.id)
        )
        for name, value in rows:
            yield Record(name, value, T0)

    def is_linked(self, user: Member) -> bool:
        statement = sa.select(ChatLink.id).where(ChatLink.member_id == user.id).limit(1)
        return db.session.scalar(statement) is not None


class SurveySource(DataSource):
    """An organisational-service source with a COUNT query and a streamed ``collect``."""

    key = "surveys"
    label = "Surveys"
    origin = Origin.ORG_SERVICE
    category = "org_service"
    fields = (SourceField("answer", "Survey answer"),)

    def collect(self, user: Member) -> Iterator[Record]:
        statement = (
            sa.select(Answer.survey, Answer.text, Answer.received_at)
            .where(Answer.member_id == user.id)
            .order_by(Answer.survey, Answer.id)
            .execution_options(yield_per=500)
        )
        for survey, text, received_at in db.session.execute(statement):
            yield Record("answer", text, received_at, group=survey)

    def count(self, user: Member) -> int:
        statement = sa.select(sa.func.count(Answer.id)).where(Answer.member_id == user.id)
        return db.session.scalar(statement) or 0


@dataclass
class Host:
    app: Flask
    privacy: OmePrivacy

    def client_for(self, member_id: int) -> Any:
        """A test client signed in as ``member_id``."""
        client = self.app.test_client()
        response = client.get(f"/_sign_in/{member_id}")
        assert response.status_code == 302
        return client

    def add_member(self, name: str, email: str) -> int:
        with self.app.app_context():
            member = Member(name=name, email=email, joined_at=T0)
            db.session.add(member)
            db.session.commit()
            return member.id

    def add_answers(self, member_id: int, count: int, *, prefix: str, surveys: int = 2) -> None:
        with self.app.app_context():
            db.session.execute(
                sa.insert(Answer),
                [
                    {
                        "member_id": member_id,
                        "survey": f"{prefix} survey {n % surveys + 1}",
                        "text": f"{prefix} answer {n}",
                        "received_at": T0 + timedelta(minutes=n),
                    }
                    for n in range(count)
                ],
            )
            db.session.commit()

    def link_chat(self, member_id: int, **values: str) -> None:
        with self.app.app_context():
            db.session.add_all(ChatLink(member_id=member_id, field=k, value=v) for k, v in values.items())
            db.session.commit()

    def record_provision(self, member_id: int, recipient: str, categories: list[str]) -> None:
        with self.app.app_context():
            member = db.session.get(Member, member_id)
            self.privacy.record_provision(member, recipient, categories, provided_at=T0)
            db.session.commit()


def build_host(database_url: str, *, sources: list[DataSource] | None = None, **config: Any) -> Host:
    """The host app with our tables migrated and its own tables created (empty)."""
    app = Flask(__name__)
    app.config.update(
        TESTING=True,
        SECRET_KEY="test",
        SQLALCHEMY_DATABASE_URI=database_url,
        **config,
    )
    db.init_app(app)
    login = LoginManager(app)

    @login.user_loader
    def load(user_id: str) -> Member | None:
        return db.session.get(Member, int(user_id))

    privacy = OmePrivacy(sources=sources or [AccountSource(), ChatSource(), SurveySource()])
    privacy.init_app(app, db=db)

    @app.get("/_sign_in/<int:member_id>")
    def sign_in(member_id: int) -> Any:
        login_user(db.session.get(Member, member_id))
        return redirect("/account/privacy/data")

    upgrade(app)
    with app.app_context():
        HostBase.metadata.create_all(db.engine)
        empty(db.engine)
    return Host(app=app, privacy=privacy)


def tear_down(host: Host) -> None:
    with host.app.app_context():
        db.session.remove()
        empty(db.engine)
        HostBase.metadata.drop_all(db.engine)
        db.engine.dispose()


def empty(engine: sa.Engine) -> None:
    """Empty our host's tables and the extension's, resetting ids (as conftest's fixtures do)."""
    tables = [t.name for t in PrivacyBase.metadata.sorted_tables] + [t.name for t in HOST_TABLES]
    present = set(sa.inspect(engine).get_table_names())
    names = [engine.dialect.identifier_preparer.quote(n) for n in reversed(tables) if n in present]
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(sa.text(f"TRUNCATE {', '.join(names)} RESTART IDENTITY CASCADE"))
        else:
            for name in names:
                connection.exec_driver_sql(f"DELETE FROM {name}")
            if connection.exec_driver_sql(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name='sqlite_sequence'"
            ).first():
                connection.exec_driver_sql("DELETE FROM sqlite_sequence")


class StatementLog:
    """``with StatementLog(engine) as log: ...`` then ``len(log.statements)``."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.statements: list[str] = []

    def _record(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.statements.append(" ".join(statement.split()))

    def __enter__(self) -> StatementLog:
        sa.event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc: Any) -> None:
        sa.event.remove(self.engine, "before_cursor_execute", self._record)

    def __str__(self) -> str:
        return "\n".join(f"{n}. {s}" for n, s in enumerate(self.statements, 1))
