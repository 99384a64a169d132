"""Recent sign-in: some actions need the person to have signed in a few minutes ago.

Flask-Login's ``fresh_login_required`` only knows "signed in with a password in this
session" versus "restored from a remember-me cookie"; it has no time window. We record
the time of every sign-in (Flask-Login's ``user_logged_in`` signal) in the session and
compare it with ``OME_PRIVACY_REAUTH_SECONDS``.

``user_logged_in`` is one global signal for every app in the process, so we connect to
it once and, in the receiver, act only for apps that registered this extension.

A host that signs people in without ``login_user`` (unusual) can call
``mark_signed_in()`` itself.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Flask, abort, current_app, flash, redirect, request, session
from flask_login import current_user, login_url, user_logged_in, user_logged_out
from werkzeug.wrappers import Response

from .config import config_value
from .i18n import ngettext
from .state import EXTENSION_KEY

__all__ = [
    "AUTH_AT_KEY",
    "AUTH_USER_KEY",
    "init_app",
    "mark_signed_in",
    "signed_in_at",
    "is_recent",
    "sign_in_url",
    "require_recent",
]

#: Session key holding the time (seconds since the epoch) of the last sign-in.
AUTH_AT_KEY = "ome_privacy_auth_at"
#: Session key holding whose sign-in that was, so another person's time never counts.
AUTH_USER_KEY = "ome_privacy_auth_user"

_connected = False


def init_app(app: Flask) -> None:
    """Start recording sign-in times (idempotent; the signals are connected once per process)."""
    global _connected
    if not _connected:
        user_logged_in.connect(_record_sign_in, weak=False)
        user_logged_out.connect(_forget_sign_in, weak=False)
        _connected = True


def _ours(app: Any) -> bool:
    return isinstance(app, Flask) and EXTENSION_KEY in app.extensions


def _record_sign_in(app: Any, user: Any = None, **extra: Any) -> None:
    if _ours(app):
        mark_signed_in(user)


def _forget_sign_in(app: Any, user: Any = None, **extra: Any) -> None:
    if _ours(app):
        session.pop(AUTH_AT_KEY, None)
        session.pop(AUTH_USER_KEY, None)


def mark_signed_in(user: Any = None) -> None:
    """Record "signed in just now" for ``user`` (default: the current user) in the session."""
    session[AUTH_AT_KEY] = int(time.time())
    who = user if user is not None else current_user
    user_id = who.get_id() if who is not None and hasattr(who, "get_id") else None
    if user_id is not None:
        session[AUTH_USER_KEY] = str(user_id)
    else:
        session.pop(AUTH_USER_KEY, None)


def signed_in_at() -> float | None:
    """When the current user last signed in, if this session knows; None otherwise."""
    value = session.get(AUTH_AT_KEY)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    recorded_for = session.get(AUTH_USER_KEY)
    if recorded_for is not None:
        user_id = current_user.get_id() if current_user.is_authenticated else None
        if user_id is None or str(user_id) != str(recorded_for):
            return None
    return float(value)


def is_recent(max_age: int | None = None) -> bool:
    """Did the signed-in user sign in within ``max_age`` seconds (default ``OME_PRIVACY_REAUTH_SECONDS``)?

    A session restored from a remember-me cookie is never recent, whatever it says.
    """
    if not current_user.is_authenticated:
        return False
    if max_age is None:
        max_age = int(config_value("REAUTH_SECONDS"))
    at = signed_in_at()
    if at is None or session.get("_fresh") is False:
        return False
    age = time.time() - at
    return -60 <= age <= max_age  # a minute of clock skew between workers is tolerated


def sign_in_url(next_url: str | None = None) -> str:
    """The host's sign-in page with ``next``.

    Reads ``OME_PRIVACY_LOGIN_VIEW`` (endpoint or URL), else Flask-Login's ``login_view``.
    """
    view = config_value("LOGIN_VIEW")
    if not view:
        login_manager = getattr(current_app, "login_manager", None)
        view = getattr(login_manager, "login_view", None)
    if not view:
        raise RuntimeError(
            "flask-ome-privacy needs the sign-in page to ask for a recent sign-in: "
            "set OME_PRIVACY_LOGIN_VIEW (an endpoint or URL) or Flask-Login's login_manager.login_view."
        )
    return str(login_url(view, next_url=next_url))


def require_recent(max_age: int | None = None, *, next_url: str | None = None) -> Response | None:
    """None when the sign-in is recent; otherwise a redirect to sign in again, with a message why.

    ``next_url`` is where to come back to (default: this page). For a POST, pass the page
    that shows the form: the browser comes back with a GET.
    """
    if not current_user.is_authenticated:
        abort(401)
    if is_recent(max_age):
        return None
    seconds = int(max_age if max_age is not None else config_value("REAUTH_SECONDS"))
    minutes = max(1, seconds // 60)
    flash(
        ngettext(
            "For your security, please sign in again to continue. "
            "This step needs a sign-in within the last %(num)d minute.",
            "For your security, please sign in again to continue. "
            "This step needs a sign-in within the last %(num)d minutes.",
            minutes,
        ),
        "ome_privacy",
    )
    if next_url is None:
        next_url = request.full_path if request.query_string else request.path
    return redirect(sign_in_url(next_url), code=303)
