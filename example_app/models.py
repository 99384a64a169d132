"""The WORLD OME NET site's own tables (plain names, on the site's ``db``).

What the site holds about a person, by where it came from:

* ``User`` and ``Profile``: entered by the person (policy category "user info");
* ``FacebookLink`` and ``FacebookData``: supplied by Facebook when the person linked it;
* ``SurveyResponse``: organisational-improvement survey answers sent by the person's employer.

Every value keeps the time it was obtained, because the privacy pages show it.
"""

from __future__ import annotations

import secrets
from datetime import date, datetime, timezone
from typing import Any

import sqlalchemy as sa
from flask_login import UserMixin
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

# The extension's aware-UTC column type: SQLite forgets time zones, PostgreSQL keeps them.
from flask_ome_privacy.models import UTCDateTime


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    registry = sa.orm.registry(type_annotation_map={datetime: UTCDateTime()})


db = SQLAlchemy(model_class=Base)


def new_session_token() -> str:
    return secrets.token_urlsafe(32)


class User(UserMixin, db.Model):
    """A member or a staff member.

    Sessions name the user by ``session_token``, not by ``id`` (Flask-Login's alternative-id
    pattern): giving the user a new token ends every session that holds the old one. The
    privacy extension keeps the stable numeric id through ``privacy_id``.
    """

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(255), unique=True)
    name: Mapped[str] = mapped_column(sa.String(255), default="")
    #: None for people who only sign in with Facebook.
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    is_staff: Mapped[bool] = mapped_column(default=False)
    #: What the session cookie holds (``get_id``); replaced on sign-out, password change, deletion.
    session_token: Mapped[str] = mapped_column(sa.String(64), unique=True, default=new_session_token)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]
    email_updated_at: Mapped[datetime | None]
    name_updated_at: Mapped[datetime | None]
    # Set by privacy requests (policy Art. 4.1): the site stops using / providing the data.
    processing_stopped_at: Mapped[datetime | None]
    third_party_stopped_at: Mapped[datetime | None]
    survey_use_stopped_at: Mapped[datetime | None]

    profile: Mapped[Profile | None] = relationship(
        back_populates="user", uselist=False, cascade="all, delete-orphan"
    )
    facebook_link: Mapped[FacebookLink | None] = relationship(
        back_populates="user", uselist=False, cascade="all, delete-orphan"
    )

    def get_id(self) -> str:
        """Flask-Login's id for the session cookie: the current session token, never the row id."""
        return self.session_token

    @property
    def privacy_id(self) -> int:
        """The id the privacy extension stores in its rows: stable, unlike ``get_id()``."""
        return self.id

    def end_sessions(self) -> None:
        """Give the user a new session token, so every session signed in until now is signed out."""
        self.session_token = new_session_token()

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return self.password_hash is not None and check_password_hash(self.password_hash, password)

    def __repr__(self) -> str:  # no personal data in logs
        return f"<User id={self.id}>"


#: The profile items a person enters, in display order. Each has a ``<name>_updated_at`` column.
PROFILE_FIELDS: tuple[str, ...] = (
    "display_name",
    "name_kana",
    "phone",
    "postal_address",
    "birth_date",
    "company",
    "job_title",
)


class Profile(db.Model):
    """What the person entered about themselves; every item carries when it was entered or changed."""

    __tablename__ = "profiles"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), unique=True)

    display_name: Mapped[str | None] = mapped_column(sa.String(255))
    display_name_updated_at: Mapped[datetime | None]
    name_kana: Mapped[str | None] = mapped_column(sa.String(255))
    name_kana_updated_at: Mapped[datetime | None]
    phone: Mapped[str | None] = mapped_column(sa.String(64))
    phone_updated_at: Mapped[datetime | None]
    postal_address: Mapped[str | None] = mapped_column(sa.Text)
    postal_address_updated_at: Mapped[datetime | None]
    birth_date: Mapped[date | None] = mapped_column(sa.Date)
    birth_date_updated_at: Mapped[datetime | None]
    company: Mapped[str | None] = mapped_column(sa.String(255))
    company_updated_at: Mapped[datetime | None]
    job_title: Mapped[str | None] = mapped_column(sa.String(255))
    job_title_updated_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(back_populates="profile")

    def get(self, name: str) -> Any:
        return getattr(self, name)

    def updated_at(self, name: str) -> datetime | None:
        return getattr(self, f"{name}_updated_at")

    def set(self, name: str, value: Any, at: datetime | None = None) -> None:
        """Set one item and its timestamp (None erases both)."""
        if name not in PROFILE_FIELDS:
            raise KeyError(name)
        if name == "birth_date" and isinstance(value, str):
            value = date.fromisoformat(value) if value else None
        if value == "":
            value = None
        setattr(self, name, value)
        setattr(self, f"{name}_updated_at", (at or utcnow()) if value is not None else None)

    def __repr__(self) -> str:
        return f"<Profile user_id={self.user_id}>"


class FacebookLink(db.Model):
    __tablename__ = "facebook_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    facebook_user_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    linked_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship(back_populates="facebook_link")


class FacebookData(db.Model):
    """One item Facebook supplied (name, email, picture URL, birthday, ...)."""

    __tablename__ = "facebook_data"
    __table_args__ = (sa.UniqueConstraint("user_id", "field", name="uq_facebook_data_user_field"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    field: Mapped[str] = mapped_column(sa.String(64))
    value: Mapped[str] = mapped_column(sa.Text)
    obtained_at: Mapped[datetime] = mapped_column(default=utcnow)


class SurveyResponse(db.Model):
    """One answer in an organisational-improvement survey, as the person's employer sent it."""

    __tablename__ = "survey_responses"
    __table_args__ = (sa.Index("ix_survey_responses_user_survey", "user_id", "survey_name", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    employer_name: Mapped[str] = mapped_column(sa.String(255))
    survey_name: Mapped[str] = mapped_column(sa.String(255))
    question: Mapped[str] = mapped_column(sa.Text)
    answer: Mapped[str] = mapped_column(sa.Text)
    score: Mapped[int | None]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
