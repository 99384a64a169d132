"""Signing in and out: password, and a demo stand-in for "Continue with Facebook"."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from werkzeug.security import check_password_hash, generate_password_hash
from werkzeug.wrappers import Response

from .extensions import db
from .forms import FacebookDemoForm, LoginForm
from .models import FacebookLink, User, utcnow

bp = Blueprint("auth", __name__)

#: The extension's SNS withdrawal asks for a recent sign-in; this is where it looks.
AUTH_AT_SESSION_KEY = "ome_privacy_auth_at"

# Checked when the email is unknown, so a wrong email takes as long as a wrong password.
_DUMMY_HASH = generate_password_hash("not-a-password")


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a path on this site, else None (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def _facebook_demo_form(next_url: str | None) -> FacebookDemoForm:
    form = FacebookDemoForm(next=next_url)
    linked = db.session.execute(
        sa.select(User.email, User.name)
        .join(FacebookLink, FacebookLink.user_id == User.id)
        .order_by(User.email)
    ).all()
    form.email.choices = [(email, f"{name} <{email}>") for email, name in linked]
    return form


def _sign_in(user: User) -> Response:
    login_user(user)
    session[AUTH_AT_SESSION_KEY] = int(time.time())
    user.last_login_at = utcnow()
    db.session.commit()
    return redirect(safe_next(request.form.get("next")) or url_for("site.account"))


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | str:
    next_url = safe_next(request.values.get("next"))
    form = LoginForm(next=next_url)
    error = None
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        user = db.session.scalar(sa.select(User).where(User.email == email))
        if user is not None and user.check_password(form.password.data):
            return _sign_in(user)
        if user is None or user.password_hash is None:
            check_password_hash(_DUMMY_HASH, form.password.data)
        # Never say which part was wrong.
        error = _("The email address or password is incorrect.")
        form.password.data = ""
    return render_template(
        "auth/login.html", form=form, facebook_form=_facebook_demo_form(next_url), error=error
    )


@bp.route("/login/facebook/demo", methods=["POST"])
def facebook_demo() -> Response | str:
    """A stand-in for Facebook's OAuth round trip: no request leaves this site.

    The demo account picked in the form is treated as the one Facebook vouched for; only
    accounts with a Facebook link can be picked.
    """
    form = _facebook_demo_form(safe_next(request.form.get("next")))
    if form.validate_on_submit():
        user = db.session.scalar(sa.select(User).where(User.email == form.email.data))
        if user is not None and user.facebook_link is not None:
            return _sign_in(user)
    flash(_("Signing in with Facebook did not work. Please try again."), "error")
    return redirect(url_for("auth.login"))


@bp.route("/logout", methods=["POST"])
def logout() -> Response:
    if current_user.is_authenticated:
        logout_user()
    session.pop(AUTH_AT_SESSION_KEY, None)
    flash(_("You have signed out."), "info")
    return redirect(url_for("site.home"))
