"""Per-app state and the lookups every layer needs: the bottom of the package.

Like Flask-Security's ``proxies.py``: views, domain modules and the CLI find the app's
extension object, database session, purposes register and sources here, so none of them
has to import ``extension.py`` (which wires the views and the CLI, and so sits on top).
A job worker with an app context but no request uses the same lookups.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app, has_app_context
from flask_babel import get_timezone
from sqlalchemy.orm import Session

from .config import config_value
from .purposes import PurposeRegister
from .sources import SourceRegistry

if TYPE_CHECKING:  # the facade sits on top; only its type is needed here
    from .extension import OmePrivacy

__all__ = ["EXTENSION_KEY", "PrivacyState", "get_state", "current_state", "current_privacy", "user_id_of"]

EXTENSION_KEY = "ome_privacy"


@dataclass
class PrivacyState:
    """What one app knows: its extension object, its database and its purposes register.

    Domain functions take this (or a session) instead of reaching for the request, so an
    RQ worker can call them inside ``app.app_context()``.
    """

    extension: OmePrivacy
    app: Flask
    db: Any  # the host's flask_sqlalchemy.SQLAlchemy
    purposes: PurposeRegister

    @property
    def session(self) -> Session:
        session: Session = self.db.session
        return session

    @property
    def sources(self) -> SourceRegistry:
        return self.extension.sources

    def config(self, key: str) -> Any:
        """``OME_PRIVACY_<key>`` of this app (unknown keys raise ``ConfigError``)."""
        return config_value(key, self.app)

    def today(self) -> date:
        """Today in the host's time zone (``BABEL_DEFAULT_TIMEZONE``, else UTC); needs an app context."""
        return datetime.now(get_timezone()).date()


def get_state(app: Flask) -> PrivacyState:
    try:
        state: PrivacyState = app.extensions[EXTENSION_KEY]
    except KeyError:
        raise RuntimeError(
            "flask-ome-privacy is not initialised on this app. "
            "Did you forget to call privacy.init_app(app, db=db)?"
        ) from None
    return state


def current_state() -> PrivacyState:
    """The current app's state; fails with the fix when there is no app context."""
    if not has_app_context():
        raise RuntimeError(
            "flask-ome-privacy needs an application context here (with app.app_context(): ...)."
        )
    return get_state(current_app)


def current_privacy() -> OmePrivacy:
    return current_state().extension


def user_id_of(user: Any) -> str:
    """The host's stable id for ``user`` as a string: ``user.privacy_id`` if set, else ``get_id()``.

    Our rows keep this id for years. A host whose ``get_id()`` changes (Flask-Login's
    alternative-id pattern, to end sessions) gives its users a ``privacy_id`` that never does.
    """
    privacy_id = getattr(user, "privacy_id", None)
    if privacy_id is not None:
        return str(privacy_id)
    get_id = getattr(user, "get_id", None)
    if get_id is None:
        raise TypeError("users must have get_id() (Flask-Login's UserMixin provides it)")
    value = get_id()
    if value is None:
        raise ValueError("an anonymous user has no id")
    return str(value)
