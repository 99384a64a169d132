"""WORLD OME NET: Crafters Inc.'s example site, embedding flask-ome-privacy.

Run it with ``flask --app example_app demo-setup`` then ``flask --app example_app run``.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from flask import Flask, request, session
from flask_babel import get_locale
from flask_babel import gettext as _

from flask_ome_privacy import N_

from .auth import LANGUAGE_SESSION_KEY, end_all_sessions
from .extensions import babel, csrf, db, login_manager, make_limiter, privacy
from .models import User
from .sources import FacebookSource, ProfileSource, SurveySource

__all__ = ["create_app", "db", "privacy", "LANGUAGES"]

#: Languages the site is offered in; the first is the default.
LANGUAGES = ("ja", "en")
#: Keys that were ever published (in this repository's history): a site signed with one of
#: them lets anyone forge a session cookie, so the site refuses to start with them.
PUBLISHED_SECRET_KEYS = frozenset({"dev-only-not-secret-change-me"})

# Registrations belong to the extension object: made once, shared by every app.
privacy.register_source(ProfileSource())
privacy.register_source(FacebookSource())
privacy.register_source(SurveySource())


@privacy.staff_loader
def is_staff(user: User) -> bool:
    return bool(getattr(user, "is_staff", False))


@privacy.sign_in_methods_loader
def sign_in_methods(user: User) -> set[str]:
    methods = set()
    if user.password_hash:
        methods.add("password")
    if FacebookSource().is_linked(user):
        methods.add("facebook")
    return methods


@login_manager.user_loader
def load_user(session_token: str) -> User | None:
    """The user whose current session token the cookie holds; an old token finds nobody."""
    if not session_token:
        return None
    return db.session.scalar(sa.select(User).where(User.session_token == session_token))


@privacy.account_deleted
def end_sessions_of_deleted_account(user: User) -> None:
    """The desk carried out the deletion of this whole account: every session of it ends now."""
    end_all_sessions(user)


@privacy.user_loader
def load_user_by_privacy_id(user_id: str) -> User | None:
    """The privacy extension names users by ``User.privacy_id`` (the row id), not the session token."""
    try:
        number = int(user_id)
    except (TypeError, ValueError, OverflowError):
        return None
    if not 0 < number < 2**31:  # ids are INTEGER: a larger number is nobody, not a database error
        return None
    return db.session.get(User, number)


@privacy.staff_members
def everyone_at_the_desk() -> list[tuple[int, str]]:
    """Staff accounts by name, offered on the queue to assign a request to."""
    rows = db.session.execute(
        sa.select(User.id, User.name).where(User.is_staff.is_(True)).order_by(User.name)
    )
    return [(user_id, name or "") for user_id, name in rows]


@privacy.staff_names
def staff_display_names(ids: list[str]) -> dict[str, str]:
    """The desk names staff by their display name: one query for every staff id on a page.

    Only staff accounts are named; any other id (or a staff account without a name) falls
    back to the package's "Staff #<id>".
    """
    numbers = [int(i) for i in ids if i.isdigit() and len(i) < 10]
    if not numbers:
        return {}
    rows = db.session.execute(
        sa.select(User.id, User.name).where(User.id.in_(numbers), User.is_staff.is_(True))
    )
    return {str(user_id): name for user_id, name in rows if name}


#: At most this many accounts are offered for one search on the staff's "register a mailed request" page.
USER_LOOKUP_LIMIT = 20


@privacy.user_lookup
def look_up_users(query: str) -> list[tuple[int, str]]:
    """Accounts for a staff search: an exact user id, or an email containing the query."""
    query = query.strip()
    if query.isdigit() and len(query) < 10:
        condition = User.id == int(query)
    else:
        escaped = query.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        condition = sa.func.lower(User.email).like(f"%{escaped}%", escape="\\")
    users = db.session.scalars(sa.select(User).where(condition).order_by(User.id).limit(USER_LOOKUP_LIMIT))
    return [(user.id, f"{user.email} (#{user.id})") for user in users]


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def select_locale() -> str:
    """The language switch's choice, else the browser's, else Japanese."""
    chosen = session.get(LANGUAGE_SESSION_KEY)
    if chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(LANGUAGES) or LANGUAGES[0]


BUSINESS_ADDRESS = N_("8F Marunouchi Craft Building, 2-4-1 Marunouchi, Chiyoda-ku, Tokyo 100-0005, Japan")


def default_config(app: Flask) -> dict[str, Any]:
    database_url = (
        os.environ.get("DATABASE_URL") or f"sqlite:///{os.path.join(app.instance_path, 'demo.sqlite')}"
    )
    if database_url.startswith("postgres://"):  # Heroku-style URLs
        database_url = "postgresql://" + database_url[len("postgres://") :]
    return {
        # None: a random key is made once in the instance folder (see create_app).
        "SECRET_KEY": os.environ.get("SECRET_KEY") or None,
        # The demo "Continue with Facebook" signs anyone in as any linked account: demo only.
        "WORLD_OME_DEMO": _flag("WORLD_OME_DEMO"),
        # Session cookie: never sent on cross-site POSTs; only over HTTPS when served over HTTPS.
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _flag("WORLD_OME_HTTPS"),
        "SESSION_COOKIE_HTTPONLY": True,
        # Failed sign-ins allowed per email address and per client address (Flask-Limiter syntax).
        "SIGN_IN_LIMIT_PER_ACCOUNT": "10 per 15 minutes",
        "SIGN_IN_LIMIT_PER_ADDRESS": "30 per 15 minutes",
        # Where the counts live: memory (one process) unless Redis is configured.
        "RATELIMIT_STORAGE_URI": (
            os.environ.get("RATELIMIT_STORAGE_URI") or os.environ.get("REDIS_URL") or "memory://"
        ),
        "SQLALCHEMY_DATABASE_URI": database_url,
        "BABEL_DEFAULT_LOCALE": "ja",
        # Japanese users read Japanese time; stored times stay UTC.
        "BABEL_DEFAULT_TIMEZONE": "Asia/Tokyo",
        "OME_PRIVACY_BASE_TEMPLATE": "base.html",
        "OME_PRIVACY_LOGIN_VIEW": "auth.login",
        # Where a Facebook-only user can add a password before withdrawing Facebook.
        "OME_PRIVACY_SIGN_IN_SETTINGS_URL": "/account#password",
        "OME_PRIVACY_SERVICE_NAME": "WORLD OME NET",
        # Text settings are shown through gettext, so the site's catalog gives their Japanese.
        "OME_PRIVACY_BUSINESS_NAME": N_("Crafters Inc."),
        "OME_PRIVACY_BUSINESS_ADDRESS": BUSINESS_ADDRESS,
        "OME_PRIVACY_BUSINESS_REPRESENTATIVE": N_("Kenichi Sato, Representative Director"),
        "OME_PRIVACY_CONTACT": {
            "name": N_("Crafters Inc. Privacy Inquiry Desk"),
            "email": "privacy@crafters.example",
            "postal_address": BUSINESS_ADDRESS,
        },
        # The package adds the Personal Information Protection Commission, with a link.
        "OME_PRIVACY_COMPLAINTS_CONTACT": N_(
            "Our Privacy Inquiry Desk first: privacy@crafters.example, or by post to the address above."
        ),
        "OME_PRIVACY_DOCUMENT_KEYS": os.environ.get("OME_PRIVACY_DOCUMENT_KEYS"),
        # The policy as published (English) and its Japanese text, for /privacy/policy.
        "OME_PRIVACY_POLICY_TEXT": {"ja": "policy/ja.txt", "en": "policy/en.txt"},
        # Background jobs: inline in the web process (the demo), or "rq" with a worker
        # (`make serve`: OME_PRIVACY_JOBS=rq, REDIS_URL=redis://127.0.0.1:6379/0).
        "OME_PRIVACY_JOBS": os.environ.get("OME_PRIVACY_JOBS", "inline"),
        "OME_PRIVACY_REDIS_URL": os.environ.get("REDIS_URL"),
        # Purposes added after the policy: one needs each user's consent (directly obtained data,
        # policy Art. 2.2(1)); the other is published with its date (Art. 2.2(2)).
        "OME_PRIVACY_PURPOSES": [
            {
                "key": "user_info.career_newsletter",
                "category": "user_info",
                "text": N_("Sending a newsletter about career events and seminars"),
                "version": 1,
                "added_on": "2026-10-01",
            },
            {
                "key": "org_service.benchmarking",
                "category": "org_service",
                "text": N_("Creating anonymised industry benchmarks from organisational survey results"),
                "added_on": "2026-09-15",
            },
        ],
        "OME_PRIVACY_PROCESSORS": {
            "user_info": [{"name": N_("Mailer KK"), "task": N_("email delivery")}],
            "org_service": [{"name": N_("Survey Cloud Inc."), "task": N_("survey hosting")}],
        },
    }


def create_app(config: dict[str, Any] | None = None, *, instance_path: str | None = None) -> Flask:
    """Build the site. ``config`` overrides the defaults (tests pass their database URL here).

    ``instance_path`` is where a generated ``SECRET_KEY`` and the development document key
    are kept (default: Flask's ``instance/`` folder).
    """
    app = Flask(__name__, instance_relative_config=True, instance_path=instance_path)
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.from_mapping(default_config(app))
    if config:
        app.config.update(config)
    if app.config["SECRET_KEY"] in PUBLISHED_SECRET_KEYS:
        raise RuntimeError(
            "SECRET_KEY is a published key: anyone could sign session cookies for this site. "
            "Set a random SECRET_KEY in the environment, or unset it to have one made in the instance folder."
        )
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = _instance_secret(app, "secret-key.txt", _random_secret_key)
    if not app.config["OME_PRIVACY_DOCUMENT_KEYS"] and not app.config.get("TESTING"):
        app.config["OME_PRIVACY_DOCUMENT_KEYS"] = _instance_secret(app, "document-keys.txt", _fernet_key)

    db.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    # Shown on the sign-in page when a signed-out visitor opens a page that needs signing in.
    login_manager.login_message = SIGN_IN_TO_CONTINUE
    login_manager.login_message_category = "info"
    login_manager.localize_callback = _
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale)  # before the privacy extension merges its catalogs
    privacy.init_app(app, db=db)
    limiter = make_limiter(app)

    from . import auth, cli, site

    app.register_blueprint(auth.bp)
    if app.config["WORLD_OME_DEMO"]:
        if not app.testing:
            app.logger.warning(
                "WORLD_OME_DEMO is on: anyone can sign in as any Facebook-linked account. "
                "Never in production."
            )
        app.register_blueprint(auth.demo_bp)
    app.register_blueprint(site.bp)
    auth.limit_sign_in(app, limiter)
    cli.register(app)
    # The site's own pages get the headers the privacy pages send (CSP, X-Frame-Options, ...).
    app.after_request(privacy.security_headers)

    @app.context_processor
    def inject_locale() -> dict[str, Any]:
        return {
            "current_locale": str(get_locale() or LANGUAGES[0]),
            "privacy_url": site.privacy_url,
            "is_privacy_staff": site.is_privacy_staff,
        }

    return app


SIGN_IN_TO_CONTINUE = N_("Please sign in to continue.")


def _random_secret_key() -> str:
    return secrets.token_hex(32)


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


def _instance_secret(app: Flask, filename: str, make: Callable[[], str]) -> str:
    """A key made once and kept in the instance folder (mode 0600), for sites without one set.

    Production sets ``SECRET_KEY`` and ``OME_PRIVACY_DOCUMENT_KEYS`` in the environment
    instead. ``O_EXCL`` makes the first of several starting processes the only writer.
    """
    path = os.path.join(app.instance_path, filename)
    if not os.path.exists(path):
        # Written whole under a private name, then linked into place: os.link fails if another
        # process got there first, and nobody ever reads a half-written key.
        partial = f"{path}.{os.getpid()}.{secrets.token_hex(4)}"
        with open(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as handle:
            handle.write(make())
        try:
            os.link(partial, path)
        except FileExistsError:  # another process made it first: use theirs
            pass
        finally:
            os.unlink(partial)
    with open(path) as handle:
        key = handle.read().strip()
    if not key:
        raise RuntimeError(f"{path} is empty: delete it to have a new key made.")
    return key
