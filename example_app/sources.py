"""The site's three data sources, one per policy category (policy Art. 2.1).

Each tells flask-ome-privacy what the site holds about a person and carries out the
actions a decided request needs. None of them commits: the extension runs them inside
its own transaction. Summaries name fields and counts, never values.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import date
from typing import Any

import sqlalchemy as sa

from flask_ome_privacy import Action, DataSource, Origin, Record, SourceField
from flask_ome_privacy.sources import N_, ActionNotSupported, SourceError

from .models import PROFILE_FIELDS, FacebookData, FacebookLink, Profile, SurveyResponse, User, db, utcnow

#: Items on the ``users`` row itself; both are required for the service (policy Art. 1.2).
ACCOUNT_FIELDS = ("email", "name")


def _display(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


# The reads every privacy page makes, built once at import: building a select costs more
# than running one this small, and the person is a bound parameter (``{"user_id": ...}``).
_PERSON = sa.bindparam("user_id")
FACEBOOK_DATA = (
    sa.select(FacebookData.field, FacebookData.value, FacebookData.obtained_at)
    .where(FacebookData.user_id == _PERSON)
    .order_by(FacebookData.id)
)
FACEBOOK_COUNT = sa.select(
    sa.select(sa.func.count()).where(FacebookLink.user_id == _PERSON).scalar_subquery()
    + sa.select(sa.func.count()).where(FacebookData.user_id == _PERSON).scalar_subquery()
)
SURVEY_ANSWERS_FIRST = (  # the first batch of a person's answers
    sa.select(
        SurveyResponse.employer_name,
        SurveyResponse.survey_name,
        SurveyResponse.question,
        SurveyResponse.answer,
        SurveyResponse.score,
        SurveyResponse.received_at,
        SurveyResponse.id,
    )
    .where(SurveyResponse.user_id == _PERSON)
    .order_by(SurveyResponse.survey_name, SurveyResponse.id)
    .limit(sa.bindparam("batch"))
)
SURVEY_ANSWERS_AFTER = SURVEY_ANSWERS_FIRST.where(  # the next batch: after the last (survey, id) seen
    sa.tuple_(SurveyResponse.survey_name, SurveyResponse.id)
    > sa.tuple_(sa.bindparam("after_survey"), sa.bindparam("after_id"))
)
_SURVEYS = (
    sa.select(SurveyResponse.survey_name, SurveyResponse.employer_name)
    .where(SurveyResponse.user_id == _PERSON)
    .distinct()
    .subquery()
)
SURVEY_COUNT = sa.select(  # one answer per row plus one employer line per survey, as collect yields
    sa.select(sa.func.count()).where(SurveyResponse.user_id == _PERSON).scalar_subquery()
    + sa.select(sa.func.count()).select_from(_SURVEYS).scalar_subquery()
)
SURVEY_ANY = sa.select(SurveyResponse.id).where(SurveyResponse.user_id == _PERSON).limit(1)


class ProfileSource(DataSource):
    """What the person entered: account name and email plus the profile page."""

    key = "profile"
    label = N_("Profile and account")
    origin = Origin.DIRECT
    category = "user_info"
    description = N_("What you entered when you registered and on your profile page.")
    fields = (
        SourceField(
            "email", N_("Email address"), required=True, description=N_("Used to sign in and to contact you.")
        ),
        SourceField("name", N_("Name"), required=True),
        SourceField("display_name", N_("Display name")),
        SourceField("name_kana", N_("Name (kana)")),
        SourceField("phone", N_("Phone number")),
        SourceField("postal_address", N_("Postal address")),
        SourceField("birth_date", N_("Date of birth")),
        SourceField("company", N_("Company")),
        SourceField("job_title", N_("Job title")),
    )
    actions = frozenset(
        {Action.COLLECT, Action.CORRECT, Action.ADD, Action.ERASE, Action.STOP_USE, Action.STOP_THIRD_PARTY}
    )

    def collect(self, user: User) -> Iterator[Record]:
        yield Record("email", user.email, user.email_updated_at or user.created_at)
        if user.name:
            yield Record("name", user.name, user.name_updated_at or user.created_at)
        profile = user.profile
        if profile is None:
            return
        for name in PROFILE_FIELDS:
            value = profile.get(name)
            if value is not None:
                yield Record(name, _display(value), profile.updated_at(name))

    def is_linked(self, user: User) -> bool:
        return True  # every account has at least an email address

    def correct(self, user: User, changes: Mapping[str, Any]) -> str:
        self._check_names(changes)
        held = {r.field for r in self.collect(user)}
        missing = sorted(set(changes) - held)
        if missing:
            # Correcting something we do not hold is an addition, a different request kind.
            raise SourceError(f"not held, cannot correct: {', '.join(missing)}")
        self._write(user, changes)
        return f"corrected {len(changes)} field(s): {', '.join(sorted(changes))}"

    def add(self, user: User, additions: Mapping[str, Any]) -> str:
        self._check_names(additions)
        self._write(user, additions)
        return f"added {len(additions)} field(s): {', '.join(sorted(additions))}"

    def erase(self, user: User, fields: Iterable[str] | None = None) -> str:
        """Erase profile items. Email and name are required to run the account (Art. 1.2):
        erasing them means closing the account, which staff do by hand."""
        names = list(PROFILE_FIELDS) if fields is None else list(fields)
        self._check_names(dict.fromkeys(names))
        required = [n for n in names if n in ACCOUNT_FIELDS]
        if required:
            raise ActionNotSupported(
                f"{', '.join(required)} required for the service; erasing means closing the account (manual)"
            )
        profile = user.profile
        erased = []
        if profile is not None:
            for name in names:
                if profile.get(name) is not None:
                    profile.set(name, None)
                    erased.append(name)
        summary = f"erased {len(erased)} field(s)"
        if erased:
            summary += f": {', '.join(erased)}"
        if fields is None:
            summary += "; email and name kept (required for the service)"
        return summary

    def stop_use(self, user: User) -> str:
        if user.processing_stopped_at is None:
            user.processing_stopped_at = utcnow()
            return "use stopped"
        return "use was already stopped"

    def stop_third_party(self, user: User) -> str:
        if user.third_party_stopped_at is None:
            user.third_party_stopped_at = utcnow()
            return "provision to third parties stopped"
        return "provision to third parties was already stopped"

    # --- helpers ---------------------------------------------------------------------
    def _check_names(self, names: Mapping[str, Any]) -> None:
        unknown = sorted(n for n in names if self.field(n) is None)
        if unknown:
            raise SourceError(f"unknown field(s): {', '.join(unknown)}")

    def _write(self, user: User, values: Mapping[str, Any]) -> None:
        now = utcnow()
        for name, value in values.items():
            if name == "email":
                value = str(value).strip().lower()
                if not value or "@" not in value:
                    raise SourceError("email must be an email address")
                taken = db.session.scalar(sa.select(User.id).where(User.email == value, User.id != user.id))
                if taken is not None:
                    raise SourceError("email is already used by another account")
                user.email, user.email_updated_at = value, now
            elif name == "name":
                if not str(value).strip():
                    raise SourceError("name must not be empty")
                user.name, user.name_updated_at = str(value).strip(), now
            else:
                if user.profile is None:
                    user.profile = Profile()
                try:
                    user.profile.set(name, value, now)
                except ValueError:
                    raise SourceError(f"{name}: not a valid value") from None


class FacebookSource(DataSource):
    """What Facebook supplied when the person linked their account."""

    key = "facebook"
    label = N_("Facebook")
    origin = Origin.SNS
    provider = "Facebook"
    category = "sns"
    description = N_("What Facebook sent us when you signed in with Facebook.")
    fields = (
        SourceField("facebook_user_id", N_("Facebook user ID")),
        SourceField("name", N_("Name on Facebook")),
        SourceField("email", N_("Email address on Facebook")),
        SourceField("picture_url", N_("Profile picture URL")),
        SourceField("birthday", N_("Birthday")),
        SourceField("friends_count", N_("Number of friends")),
        SourceField("gender", N_("Gender")),
        SourceField("hometown", N_("Hometown")),
    )
    actions = frozenset({Action.COLLECT, Action.ERASE, Action.UNLINK})

    def collect(self, user: User) -> Iterator[Record]:
        # The relationship, not a query of its own: loaded once per request, it also answers
        # ``is_linked`` and the sign-in methods on the same page (``unlink`` expires it).
        link = user.facebook_link
        if link is not None:
            yield Record("facebook_user_id", link.facebook_user_id, link.linked_at)
        for field, value, obtained_at in db.session.execute(FACEBOOK_DATA, {"user_id": user.id}):
            yield Record(field, value, obtained_at)

    def count(self, user: User) -> int:
        """The link's ID plus what Facebook sent, counted in one query: the overview loads no rows."""
        return int(db.session.execute(FACEBOOK_COUNT, {"user_id": user.id}).scalar_one())

    def is_linked(self, user: User) -> bool:
        return user.facebook_link is not None

    def erase(self, user: User, fields: Iterable[str] | None = None) -> str:
        """Erase what Facebook supplied. The link itself (the Facebook user ID) goes only with ``unlink``."""
        statement = sa.delete(FacebookData).where(FacebookData.user_id == user.id)
        if fields is not None:
            names = [n for n in fields if n != "facebook_user_id"]
            statement = statement.where(FacebookData.field.in_(names))
        count = db.session.execute(statement).rowcount
        return f"erased {count} field(s) supplied by Facebook"

    def unlink(self, user: User) -> str:
        count = db.session.execute(sa.delete(FacebookData).where(FacebookData.user_id == user.id)).rowcount
        links = db.session.execute(sa.delete(FacebookLink).where(FacebookLink.user_id == user.id)).rowcount
        db.session.expire(user, ["facebook_link"])
        if not links:
            return f"no Facebook link; erased {count} field(s)"
        return f"Facebook unlinked; erased {count} field(s) supplied by Facebook"


class SurveySource(DataSource):
    """Organisational-improvement survey answers sent by the person's employer."""

    key = "org_survey"
    label = N_("Organisational improvement surveys")
    origin = Origin.ORG_SERVICE
    category = "org_service"
    description = N_("Survey answers your employer sent us for the organisational improvement service.")
    fields = (
        SourceField("employer", N_("Employer")),
        SourceField("answer", N_("Survey answer")),
    )
    actions = frozenset({Action.COLLECT, Action.ERASE, Action.STOP_USE})

    #: Rows per query while streaming: one query for most people, one per batch for many rows.
    batch_size = 1000

    def _answer_rows(self, user: User) -> Iterator[Any]:
        """Every answer row, in batches that resume after the last one (keyset, on the index).

        Plain queries, not a server-side cursor: a cursor costs DECLARE, FETCH and CLOSE round
        trips on every page view, while a batch of this size holds what almost everyone has.
        """
        params: dict[str, Any] = {"user_id": user.id, "batch": self.batch_size}
        batch = db.session.execute(SURVEY_ANSWERS_FIRST, params).all()
        while batch:
            yield from batch
            if len(batch) < self.batch_size:
                return
            params.update(after_survey=batch[-1].survey_name, after_id=batch[-1].id)
            batch = db.session.execute(SURVEY_ANSWERS_AFTER, params).all()

    def collect(self, user: User) -> Iterator[Record]:
        """Stream every answer; ``Record.group`` is the survey's name."""
        current: tuple[str, str] | None = None
        for employer, survey, question, answer, score, received_at, _id in self._answer_rows(user):
            if current != (survey, employer):
                current = (survey, employer)
                yield Record("employer", employer, received_at, group=survey)
            value = answer if score is None else f"{answer} ({score})"
            # The question labels its answer, so the page reads as the survey did.
            yield Record("answer", value, received_at, group=survey, label=question)

    def count(self, user: User) -> int:
        """As many as ``collect`` yields (one answer each, one employer per survey), in one query."""
        return int(db.session.execute(SURVEY_COUNT, {"user_id": user.id}).scalar_one())

    def is_linked(self, user: User) -> bool:
        return db.session.scalar(SURVEY_ANY, {"user_id": user.id}) is not None

    def erase(self, user: User, fields: Iterable[str] | None = None) -> str:
        # Every row is one answer with its employer: erasing either erases the rows.
        if fields is not None and not set(fields) & {"employer", "answer"}:
            return "erased 0 survey answer(s)"
        count = db.session.execute(
            sa.delete(SurveyResponse).where(SurveyResponse.user_id == user.id)
        ).rowcount
        return f"erased {count} survey answer(s)"

    def stop_use(self, user: User) -> str:
        if user.survey_use_stopped_at is None:
            user.survey_use_stopped_at = utcnow()
            return "use of survey answers stopped"
        return "use of survey answers was already stopped"
