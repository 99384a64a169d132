"""WORLD OME NET: Crafters Inc.'s example site, embedding flask-ome-privacy.

Run it with ``flask --app example_app demo-setup`` then ``flask --app example_app run``.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, request, session
from flask_babel import get_locale

from flask_ome_privacy import N_

from .extensions import babel, csrf, db, login_manager, privacy
from .models import User
from .sources import FacebookSource, ProfileSource, SurveySource

__all__ = ["create_app", "db", "privacy", "LANGUAGES"]

#: Languages the site is offered in; the first is the default.
LANGUAGES = ("ja", "en")
LANGUAGE_SESSION_KEY = "lang"
DEV_SECRET_KEY = "dev-only-not-secret-change-me"

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
def load_user(user_id: str) -> User | None:
    try:
        return db.session.get(User, int(user_id))
    except (TypeError, ValueError):
        return None


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
        "SECRET_KEY": os.environ.get("SECRET_KEY", DEV_SECRET_KEY),
        "SQLALCHEMY_DATABASE_URI": database_url,
        "BABEL_DEFAULT_LOCALE": "ja",
        # Japanese users read Japanese time; stored times stay UTC.
        "BABEL_DEFAULT_TIMEZONE": "Asia/Tokyo",
        "OME_PRIVACY_BASE_TEMPLATE": "base.html",
        "OME_PRIVACY_LOGIN_VIEW": "auth.login",
        # Where a Facebook-only user can add a password before withdrawing Facebook.
        "OME_PRIVACY_SIGN_IN_SETTINGS_URL": "site.account",
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
        "OME_PRIVACY_COMPLAINTS_CONTACT": N_(
            "Our Privacy Inquiry Desk (privacy@crafters.example) first. You may also consult the "
            "Personal Information Protection Commission of Japan: https://www.ppc.go.jp/"
        ),
        "OME_PRIVACY_DOCUMENT_KEYS": os.environ.get("OME_PRIVACY_DOCUMENT_KEYS"),
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
            "user_info": [N_("Mailer KK (email delivery)")],
            "org_service": [N_("Survey Cloud Inc. (survey hosting)")],
        },
    }


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the site. ``config`` overrides the defaults (tests pass their database URL here)."""
    app = Flask(__name__, instance_relative_config=True)
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.from_mapping(default_config(app))
    if config:
        app.config.update(config)
    if app.config["SECRET_KEY"] == DEV_SECRET_KEY and not (app.debug or app.testing):
        app.logger.warning("SECRET_KEY is the development default; set SECRET_KEY in the environment.")
    if not app.config["OME_PRIVACY_DOCUMENT_KEYS"] and not app.config.get("TESTING"):
        app.config["OME_PRIVACY_DOCUMENT_KEYS"] = _local_document_key(app)

    db.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = None  # the sign-in page explains itself; no untranslated flash
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale)  # before the privacy extension merges its catalogs
    privacy.init_app(app, db=db)

    from . import auth, cli, site

    app.register_blueprint(auth.bp)
    app.register_blueprint(site.bp)
    cli.register(app)

    @app.context_processor
    def inject_locale() -> dict[str, Any]:
        return {"current_locale": str(get_locale() or LANGUAGES[0]), "privacy_url": site.privacy_url}

    return app


def _local_document_key(app: Flask) -> str:
    """A development-only key for identity documents, kept in the instance folder.

    Production sets ``OME_PRIVACY_DOCUMENT_KEYS`` in the environment instead.
    """
    path = os.path.join(app.instance_path, "document-keys.txt")
    if not os.path.exists(path):
        from cryptography.fernet import Fernet

        try:
            with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as handle:
                handle.write(Fernet.generate_key().decode())
        except FileExistsError:  # another process made it first
            pass
    with open(path) as handle:
        return handle.read().strip()
