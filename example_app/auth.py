"""Signing in and out: password, and (demo only) a stand-in for "Continue with Facebook".

Sessions end for real. The session cookie names the user by ``User.session_token``
(Flask-Login's alternative id), which changes on sign-out, on a password change and when
the staff desk deletes the account (``end_all_sessions``), so a copied or forgotten cookie
stops working. Each sign-in and sign-out also starts a new session (only the language is
kept), which renews the CSRF secret.

Failed sign-ins are limited per email address and per client address (Flask-Limiter,
``limit_sign_in``); the answer is the same whether the account exists or not.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_limiter import Limiter, RequestLimit
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_user, logout_user
from werkzeug.routing import BuildError
from werkzeug.security import check_password_hash, generate_password_hash
from werkzeug.wrappers import Response

from .extensions import db, privacy
from .forms import FacebookDemoForm, LoginForm
from .models import FacebookLink, User, utcnow

__all__ = ["bp", "demo_bp", "safe_next", "end_all_sessions", "limit_sign_in", "LANGUAGE_SESSION_KEY"]

bp = Blueprint("auth", __name__)
#: Registered only with ``WORLD_OME_DEMO`` on: it signs anyone in as any Facebook-linked account.
demo_bp = Blueprint("demo", __name__)

LANGUAGE_SESSION_KEY = "lang"
#: The longest ``next`` we follow; anything longer falls back to the default page.
MAX_NEXT_LENGTH = 2000

# Checked when the email is unknown, so a wrong email takes as long as a wrong password.
_DUMMY_HASH = generate_password_hash("not-a-password")


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a plain path on this site, else None (no open redirects, no bad headers).

    Control characters (a newline would break the ``Location`` header; a tab is dropped by
    browsers, turning ``/\\t/evil`` into ``//evil``) and backslashes are refused outright.
    """
    if not target or len(target) > MAX_NEXT_LENGTH:
        return None
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in target) or "\\" in target:
        return None
    if not target.startswith("/") or target.startswith("//"):
        return None
    try:
        parts = urlsplit(target)
    except ValueError:
        return None
    if parts.scheme or parts.netloc:
        return None
    return target


def end_all_sessions(user: User) -> None:
    """Sign ``user`` out everywhere: every session cookie issued until now stops working.

    For the staff desk when it deletes or locks an account, and for anyone who suspects a
    stolen session. Flushes only: the caller commits with the rest of its change.
    """
    user.end_sessions()
    db.session.flush()


def _new_session() -> None:
    """Forget everything in the session but the language (a new CSRF secret comes with it)."""
    language = session.get(LANGUAGE_SESSION_KEY)
    session.clear()
    if language is not None:
        session[LANGUAGE_SESSION_KEY] = language


def default_landing(user: User) -> str:
    """Where a sign-in without ``next`` lands: staff on the privacy queue, everyone else on the account."""
    if privacy.is_staff(user):
        try:
            return url_for("ome_privacy_staff.queue")
        except BuildError:  # the staff pages are not registered on this app
            pass
    return url_for("site.account")


def _sign_in(user: User, next_url: str | None) -> Response:
    _new_session()
    login_user(user)  # the privacy extension records the sign-in time for its recent-sign-in checks
    user.last_login_at = utcnow()
    db.session.commit()
    return redirect(safe_next(next_url) or default_landing(user))


def _facebook_demo_form(next_url: str | None) -> FacebookDemoForm | None:
    """The demo's account picker (names and emails of linked accounts), only when the demo is on."""
    if "demo" not in current_app.blueprints:
        return None
    form = FacebookDemoForm(next=next_url)
    linked = db.session.execute(
        sa.select(User.email, User.name)
        .join(FacebookLink, FacebookLink.user_id == User.id)
        .order_by(User.email)
    ).all()
    form.email.choices = [(email, f"{name} <{email}>") for email, name in linked]
    return form


def _render_login(
    form: LoginForm, next_url: str | None, error: str | None = None, *, wrong_credentials: bool = False
) -> str:
    return render_template(
        "auth/login.html",
        form=form,
        facebook_form=_facebook_demo_form(next_url),
        error=error,
        wrong_credentials=wrong_credentials,
    )


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | str:
    next_url = safe_next(request.values.get("next"))
    form = LoginForm(next=next_url)
    error = None
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        user = db.session.scalar(sa.select(User).where(User.email == email))
        if user is not None and user.check_password(form.password.data):
            return _sign_in(user, form.next.data)
        if user is None or user.password_hash is None:
            check_password_hash(_DUMMY_HASH, form.password.data)
        # Never say which part was wrong.
        error = _("The email address or password is incorrect.")
        form.password.data = ""
    elif current_user.is_authenticated and not form.email.data:
        form.email.data = current_user.email  # signing in again: only the password is asked for
    return _render_login(form, next_url, error, wrong_credentials=error is not None)


@demo_bp.route("/login/facebook/demo", methods=["POST"])
def facebook_sign_in() -> Response | str:
    """A stand-in for Facebook's OAuth round trip: no request leaves this site.

    The demo account picked in the form is treated as the one Facebook vouched for; only
    accounts with a Facebook link can be picked. Registered only with ``WORLD_OME_DEMO`` on.
    """
    next_url = safe_next(request.form.get("next"))
    form = _facebook_demo_form(next_url)
    if form is not None and form.validate_on_submit():
        user = db.session.scalar(sa.select(User).where(User.email == form.email.data))
        if user is not None and user.facebook_link is not None:
            return _sign_in(user, next_url)
    flash(_("Signing in with Facebook did not work. Please try again."), "error")
    return redirect(url_for("auth.login", next=next_url) if next_url else url_for("auth.login"))


@bp.route("/logout", methods=["POST"])
def logout() -> Response:
    """Sign out here and everywhere else: the user's session token changes."""
    if current_user.is_authenticated:
        user = current_user._get_current_object()
        logout_user()
        end_all_sessions(user)
        db.session.commit()
    _new_session()
    flash(_("You have signed out."), "info")
    return redirect(url_for("site.home"))


# --- rate limit ------------------------------------------------------------------------------


def _pseudonym(kind: str, value: str) -> str:
    """A keyed hash of ``value``: the limiter logs and stores its keys, never the email or address."""
    digest = hmac.new(str(current_app.secret_key).encode(), f"{kind}:{value}".encode(), hashlib.sha256)
    return f"{kind}:{digest.hexdigest()[:32]}"


def _account_key() -> str:
    """The email address typed in, normalised as sign-in does; known or not, it is counted."""
    return _pseudonym("account", (request.form.get("email") or "").strip().lower()[:255])


def _address_key() -> str:
    return _pseudonym("address", get_remote_address() or "unknown")


def _failed(response: Response) -> bool:
    """Only attempts that did not sign in count (a successful sign-in redirects)."""
    return response.status_code not in (302, 303)


def _too_many_attempts(limit: RequestLimit) -> Response:
    """The sign-in page again, email kept, saying how long to wait; 429 with ``Retry-After``."""
    retry_after = max(1, math.ceil(limit.reset_at - time.time()))
    minutes = max(1, math.ceil((retry_after - 1) / 60))  # the limiter rounds its reset up a second
    message = ngettext(
        "Too many sign-in attempts. Please wait %(num)d minute and try again.",
        "Too many sign-in attempts. Please wait %(num)d minutes and try again.",
        minutes,
    )
    form = LoginForm()
    form.password.data = ""
    next_url = safe_next(request.values.get("next"))
    response = current_app.make_response((_render_login(form, next_url, message), 429))
    response.headers["Retry-After"] = str(retry_after)
    response.headers["Cache-Control"] = "no-store"
    return response


def _setting(name: str) -> Callable[[], str]:
    return lambda: str(current_app.config[name])


def limit_sign_in(app: Flask, limiter: Limiter) -> None:
    """Limit failed sign-ins on ``app``: per email address and per client address.

    ``SIGN_IN_LIMIT_PER_ACCOUNT`` / ``SIGN_IN_LIMIT_PER_ADDRESS`` (Flask-Limiter strings, read
    per request). The limiter is the app's own, so the view is wrapped here rather than
    decorated at import time.
    """
    limited: dict[str, list[tuple[Callable[[], str], str]]] = {
        "auth.login": [
            (_account_key, "SIGN_IN_LIMIT_PER_ACCOUNT"),
            (_address_key, "SIGN_IN_LIMIT_PER_ADDRESS"),
        ],
        "demo.facebook_sign_in": [(_address_key, "SIGN_IN_LIMIT_PER_ADDRESS")],
    }
    for endpoint, limits in limited.items():
        view: Any = app.view_functions.get(endpoint)
        if view is None:  # the demo is off
            continue
        for key_func, setting in limits:
            view = limiter.limit(
                _setting(setting),
                key_func=key_func,
                methods=["POST"],
                deduct_when=_failed,
                on_breach=_too_many_attempts,
            )(view)
        app.view_functions[endpoint] = view
