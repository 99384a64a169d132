"""A small host site of our own, for testing the package apart from the example site.

It proves the extension works for any Flask host: its own member table (string ids it
chooses itself, a password flag, a staff flag), its own data sources, a test-only sign-in
route, and no more than Flask, Flask-SQLAlchemy and Flask-Login. It runs on the test
session's database (conftest.py: ``database_url``, ``_schema``), so on PostgreSQL too.

Loaded by conftest.py as a plugin, so every test file has these fixtures:

* ``make_host(**options)`` builds a host (as many as a test needs; options in ``build_host``);
  after the test every table is emptied, ours, the example site's and the host's.
* ``host``: ``make_host(**host_config)``; override or parametrize ``host_config`` to configure it.

``with host.count_queries() as queries:`` counts statements as conftest's ``count_queries`` does.

The sources, one of each kind the package knows:

* ``AccountSource`` (direct: the member row) and ``NotesSource`` (direct, no table at all);
* ``ChatSource`` ("Chatter") and ``ChirpSource`` ("Chirp", which also shows the account id):
  SNS sources over the ``host_sns_*`` tables, with ``is_linked`` and ``unlink``;
* ``SurveySource``: organisational-service data with a COUNT query and a streamed ``collect``;
* ``BrokenSource`` (reading fails) and ``BrokenChirpSource`` (unlinking fails half-way).
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

import pytest
import sqlalchemy as sa
from flask import Flask, abort
from flask_login import LoginManager, UserMixin, login_user
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import generate_csrf
from helpers import QueryLog, empty_tables, log_queries
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from flask_ome_privacy import Action, DataSource, OmePrivacy, Origin, Record, SourceError, SourceField
from flask_ome_privacy.models import UTCDateTime


class HostBase(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=HostBase)
#: When the host obtained its data, unless a test says otherwise.
T0 = datetime(2024, 4, 1, 9, 0, tzinfo=timezone.utc)

#: Two purposes a host adds to the policy's table: one asked of each user, one published.
NEWSLETTER = {
    "key": "user_info.newsletter",
    "category": "user_info",
    "text": "Sending a newsletter about career events",
    "added_on": "2026-10-01",
}
BENCHMARK = {
    "key": "org_service.benchmark",
    "category": "org_service",
    "text": "Anonymised industry benchmarks",
    "added_on": "2026-09-15",
}


# --- the host's tables ---------------------------------------------------------------------------


class Member(UserMixin, db.Model):
    __tablename__ = "host_members"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(255))
    email: Mapped[str] = mapped_column(sa.String(255))
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: Can sign in with a password; None (so no default): the host cannot say how they sign in.
    has_password: Mapped[bool | None] = mapped_column()
    staff: Mapped[bool] = mapped_column(default=False)


class Answer(db.Model):
    """Organisational-service data: survey answers, grouped by survey."""

    __tablename__ = "host_answers"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[str] = mapped_column(sa.ForeignKey("host_members.id"), index=True)
    survey: Mapped[str] = mapped_column(sa.String(255))
    text: Mapped[str] = mapped_column(sa.Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SnsLink(db.Model):
    """A member's link to an SNS (``network`` is the source key): one row while linked."""

    __tablename__ = "host_sns_links"
    __table_args__ = (sa.UniqueConstraint("member_id", "network"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[str] = mapped_column(sa.ForeignKey("host_members.id"), index=True)
    network: Mapped[str] = mapped_column(sa.String(32))
    account_id: Mapped[str] = mapped_column(sa.String(64))
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SnsValue(db.Model):
    """What an SNS sent when the member linked it, one value a row."""

    __tablename__ = "host_sns_values"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[str] = mapped_column(sa.ForeignKey("host_members.id"), index=True)
    network: Mapped[str] = mapped_column(sa.String(32))
    field: Mapped[str] = mapped_column(sa.String(64))
    value: Mapped[str] = mapped_column(sa.Text)
    obtained_at: Mapped[datetime] = mapped_column(UTCDateTime())


# --- the host's data sources ----------------------------------------------------------------------


class AccountSource(DataSource):
    """Direct: the member's own row."""

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


class NotesSource(DataSource):
    """Direct, and needs no table: one note for everyone."""

    key = "notes"
    label = "Notes"
    origin = Origin.DIRECT
    category = "user_info"
    fields = (SourceField("note", "Note"),)
    obtained = datetime(2025, 3, 1, 9, 30, tzinfo=timezone.utc)

    def collect(self, user: Any) -> Iterator[Record]:
        yield Record("note", "a note", self.obtained)


class ChatSource(DataSource):
    """An SNS ("Chatter") that does not override ``count``: pages count its stream."""

    key = "chatter"
    label = "Chatter"
    origin = Origin.SNS
    provider = "Chatter"
    category = "sns"
    fields = (SourceField("handle", "Chatter handle"), SourceField("bio", "Chatter bio"))
    actions = frozenset({Action.COLLECT, Action.UNLINK})
    #: The field that shows the member's account id at the SNS (None: not shown).
    account_id_field: str | None = None

    def collect(self, user: Member) -> Iterator[Record]:
        if self.account_id_field is not None:
            link = db.session.execute(
                sa.select(SnsLink.account_id, SnsLink.linked_at).where(*self._mine(SnsLink, user))
            ).first()
            if link is not None:
                yield Record(self.account_id_field, link.account_id, link.linked_at)
        rows = db.session.execute(
            sa.select(SnsValue.field, SnsValue.value, SnsValue.obtained_at)
            .where(*self._mine(SnsValue, user))
            .order_by(SnsValue.id)
        )
        for name, value, obtained_at in rows:
            yield Record(name, value, obtained_at)

    def is_linked(self, user: Member) -> bool:
        return db.session.scalar(sa.select(SnsLink.id).where(*self._mine(SnsLink, user))) is not None

    def unlink(self, user: Member) -> str:
        erased = db.session.execute(sa.delete(SnsValue).where(*self._mine(SnsValue, user))).rowcount
        db.session.execute(sa.delete(SnsLink).where(*self._mine(SnsLink, user)))
        return f"unlinked; erased {erased} row(s)"

    def _mine(self, model: type[SnsLink] | type[SnsValue], user: Member) -> tuple[Any, ...]:
        return model.member_id == user.get_id(), model.network == self.key


class ChirpSource(ChatSource):
    """Another SNS ("Chirp"), which also shows the account id it links to."""

    key = "chirp"
    label = "Chirp"
    provider = "Chirp"
    fields = (
        SourceField("chirp_id", "Chirp account ID"),
        SourceField("handle", "Chirp handle"),
        SourceField("follower", "Follower"),
    )
    account_id_field = "chirp_id"


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


class BrokenSource(ChatSource):
    """An SNS source whose backing query fails (on PostgreSQL it also aborts the transaction)."""

    key = "broken"
    label = "Broken network"
    provider = "Broken"

    def collect(self, user: Any) -> Iterator[Any]:
        db.session.execute(sa.text("SELECT * FROM no_such_table_for_this_test"))
        yield from ()


class BrokenChirpSource(ChirpSource):
    """Erases the data rows, then fails before removing the link: a half-done unlink."""

    def unlink(self, user: Any) -> str:
        db.session.execute(sa.delete(SnsValue).where(*self._mine(SnsValue, user)))
        raise SourceError("the Chirp API did not answer")


def default_sources() -> list[DataSource]:
    return [AccountSource(), ChatSource(), SurveySource()]


def sign_in_methods(member: Member) -> set[str]:
    """A password if the member has one, and every SNS linked; nothing when the host cannot say."""
    if member.has_password is None:
        return set()
    linked = db.session.scalars(sa.select(SnsLink.network).where(SnsLink.member_id == member.id))
    return ({"password"} if member.has_password else set()) | set(linked)


# --- the host --------------------------------------------------------------------------------------


@dataclass
class Host:
    """A host app on the test database, and what its tests do with it."""

    app: Flask
    privacy: OmePrivacy
    db: ClassVar[SQLAlchemy] = db
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1), init=False, repr=False)

    def client_for(self, member_id: str, *, language: str | None = None) -> Any:
        """A test client signed in as ``member_id`` (asking for ``language`` pages, if given)."""
        client = self.app.test_client()
        if language is not None:
            client.environ_base["HTTP_ACCEPT_LANGUAGE"] = language
        assert client.get(f"/_test/sign-in/{member_id}").status_code == 200
        return client

    def add_member(
        self,
        name: str | None = None,
        email: str | None = None,
        *,
        id: str | None = None,
        password: bool | None = True,
        staff: bool = False,
    ) -> str:
        """Add a member and return their id ("1", "2", ... unless given). ``password=None``: unknown."""
        member_id = id if id is not None else str(next(self._ids))
        with self.app.app_context():
            db.session.add(
                Member(
                    id=member_id,
                    name=name if name is not None else f"Member {member_id}",
                    email=email if email is not None else f"member-{member_id}@host.example",
                    joined_at=T0,
                    has_password=password,
                    staff=staff,
                )
            )
            db.session.commit()
        return member_id

    def add_answers(self, member_id: str, count: int, *, prefix: str, surveys: int = 2) -> None:
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

    def link_sns(
        self,
        member_id: str,
        network: str,
        values: Iterable[tuple[str, str]],
        *,
        account_id: str | None = None,
        linked_at: datetime = T0,
    ) -> None:
        """Link ``network`` (a source key) for the member, with the ``(field, value)`` pairs it sent."""
        with self.app.app_context():
            db.session.add(
                SnsLink(
                    member_id=member_id,
                    network=network,
                    account_id=account_id or f"{network}-{member_id}",
                    linked_at=linked_at,
                )
            )
            db.session.add_all(
                SnsValue(member_id=member_id, network=network, field=k, value=v, obtained_at=linked_at)
                for k, v in values
            )
            db.session.commit()

    def link_chat(self, member_id: str, **values: str) -> None:
        self.link_sns(member_id, ChatSource.key, values.items())

    def sns_rows(self, member_id: str, network: str) -> tuple[int, int]:
        """(link rows, value rows) the host holds for the member at ``network``."""
        with self.app.app_context():
            links, values = (
                db.session.scalar(
                    sa.select(sa.func.count())
                    .select_from(model)
                    .where(model.member_id == member_id, model.network == network)
                )
                for model in (SnsLink, SnsValue)
            )
        return int(links or 0), int(values or 0)

    def record_provision(self, member_id: str, recipient: str, categories: list[str]) -> None:
        with self.app.app_context():
            member = db.session.get(Member, member_id)
            self.privacy.record_provision(member, recipient, categories, provided_at=T0)
            db.session.commit()

    def count_queries(self) -> contextlib.AbstractContextManager[QueryLog]:
        """``with host.count_queries() as queries:``: the SQL sent on this host's engine meanwhile."""
        with self.app.app_context():
            engine = db.engine
        return log_queries(engine)


def build_host(
    database_url: str,
    *,
    sources: Iterable[DataSource] | None = None,
    members: Iterable[str] = (),
    template_folder: str | None = None,
    login_view: str | None = None,
    remember_members: bool = False,
    callbacks: Mapping[str, Callable[..., Any]] | None = None,
    host_class: type[Host] = Host,
    **config: Any,
) -> Host:
    """A host app on ``database_url``, whose tables (ours and the host's) already exist.

    * ``sources``: default ``AccountSource``, ``ChatSource``, ``SurveySource``.
    * ``members``: ids of members to add unless there already ("Member <id>", with a password).
    * ``template_folder``: the host's own templates (to override ours, or a base layout).
    * ``login_view``: where Flask-Login sends signed-out visitors (``"sign_in_page"`` is the
      host's page at /sign-in); without it they get a 401.
    * ``remember_members``: load each member from the table once and keep it, as a host with
      its users in memory would, so that a page's queries are the package's alone.
    * ``callbacks``: more loaders, by the name of the ``OmePrivacy`` method that registers
      them, e.g. ``{"locale_loader": lambda: "en"}``.
    * ``host_class``: a subclass of ``Host`` with a test file's own helpers.
    * ``config``: ``OME_PRIVACY_*`` and other Flask settings.
    """
    app = Flask(__name__, template_folder=template_folder)
    app.config.update(TESTING=True, SECRET_KEY="host-secret", SQLALCHEMY_DATABASE_URI=database_url, **config)
    db.init_app(app)
    login_manager = LoginManager(app)
    login_manager.login_view = login_view

    remembered: dict[str, Member] = {}

    @login_manager.user_loader
    def load_member(member_id: str) -> Member | None:
        if member_id in remembered:
            return remembered[member_id]
        member = db.session.get(Member, member_id)
        if member is not None and remember_members:
            db.session.expunge(member)
            remembered[member_id] = member
        return member

    privacy = OmePrivacy(sources=default_sources() if sources is None else sources)
    privacy.staff_loader(lambda member: member.staff)
    privacy.sign_in_methods_loader(sign_in_methods)
    for name, callback in (callbacks or {}).items():
        getattr(privacy, name)(callback)
    privacy.init_app(app, db=db)

    @app.route("/sign-in")
    def sign_in_page() -> str:
        return "the host's sign-in page"

    @app.route("/_test/sign-in/<member_id>")
    def sign_in(member_id: str) -> str:
        member = load_member(member_id)
        if member is None:
            abort(404)
        login_user(member)
        return "signed in"

    @app.route("/_test/csrf")
    def csrf_token() -> str:
        return generate_csrf()

    host = host_class(app=app, privacy=privacy)
    if members := list(members):
        with app.app_context():  # a second host in one test finds them there already
            present = set(db.session.scalars(sa.select(Member.id).where(Member.id.in_(members))))
        for member_id in members:
            if member_id not in present:
                host.add_member(id=member_id)
    return host


#: The type of the ``make_host`` fixture.
MakeHost = Callable[..., Host]


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def _host_tables(_schema: list[str], database_url: str) -> Iterator[list[str]]:
    """The host's own tables, created once per session next to ours; returns their names."""
    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    try:
        HostBase.metadata.create_all(engine)
        yield [table.name for table in HostBase.metadata.sorted_tables]
        HostBase.metadata.drop_all(engine)
    finally:
        engine.dispose()


@pytest.fixture
def make_host(_schema: list[str], _host_tables: list[str], database_url: str) -> Iterator[MakeHost]:
    """``make_host(**options)``: a host (see ``build_host``); every table is emptied after the test."""
    made: list[Host] = []

    def make(**options: Any) -> Host:
        made.append(build_host(database_url, **options))
        return made[-1]

    yield make
    engines = []
    for host in made:
        with host.app.app_context():
            db.session.remove()
            engines.append(db.engine)
    if engines:
        empty_tables(engines[0], [*_schema, *_host_tables])
    for engine in engines:
        engine.dispose()


@pytest.fixture
def host_config() -> dict[str, Any]:
    """Options for the ``host`` fixture: override it, or ``@pytest.mark.parametrize("host_config", ...)``."""
    return {}


@pytest.fixture
def host(make_host: MakeHost, host_config: dict[str, Any]) -> Host:
    """A host with the default sources and no members yet."""
    return make_host(**host_config)


@pytest.fixture
def bob(host: Host) -> str:
    """Another member with data of every kind: what must never show on someone else's pages."""
    member = host.add_member("Bob Bravo", "bob-secret@bravo.example")
    host.link_chat(member, handle="@bob-handle", bio="bob bio text")
    host.add_answers(member, 3, prefix="bob", surveys=1)
    host.record_provision(member, "Bob's Recipient KK", ["user_info"])
    return member
