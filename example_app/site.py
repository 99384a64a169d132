"""The site's own pages: home, account settings (with the password form), and the language switch."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException
from werkzeug.routing import BuildError
from werkzeug.wrappers import Response

from flask_ome_privacy import reauth

from .auth import LANGUAGE_SESSION_KEY, safe_next
from .extensions import db, privacy
from .forms import PasswordForm
from .models import PROFILE_FIELDS

bp = Blueprint("site", __name__)


def privacy_url(endpoint: str, fallback: str, **values: str) -> str:
    """``url_for`` an extension page, or its documented default path if the endpoint is absent."""
    try:
        return url_for(endpoint, **values)
    except BuildError:
        return fallback


def is_privacy_staff(user: Any) -> bool:
    """For the layout: does ``user`` work the privacy desk (and so get a link to the queue)?"""
    return privacy.is_staff(user)


@bp.route("/")
def home() -> str:
    return render_template("home.html")


@bp.route("/account")
@login_required
def account() -> Response:
    return _render_account(PasswordForm())


def _render_account(password_form: PasswordForm) -> Response:
    """The account page: phone, address and birth date, so never stored by a browser or proxy."""
    profile_source = privacy.sources["profile"]
    profile = current_user.profile
    items = []
    for name in PROFILE_FIELDS:
        value = profile.get(name) if profile is not None else None
        items.append((profile_source.field(name).label, value))
    response = Response(
        render_template(
            "account.html",
            profile_items=items,
            sign_in_methods=privacy.sign_in_methods(current_user),
            password_form=password_form,
        ),
        mimetype="text/html",
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _keep_signed_in_here(user: Any) -> None:
    """After the session token changed: this session follows it; its sign-in time stays as it was."""
    signed_in_at = session.get(reauth.AUTH_AT_KEY)
    login_user(user)
    if signed_in_at is not None:
        session[reauth.AUTH_AT_KEY] = signed_in_at


@bp.route("/account/password", methods=["POST"])
@login_required
def set_password() -> Response:
    """Change the password, or set a first one for an account that signs in with Facebook only.

    Either way every other session of the account ends (a new session token); this one goes on.
    A first password needs a recent sign-in, as the privacy extension's SNS withdrawal does.
    """
    has_password = bool(current_user.password_hash)
    if not has_password:
        again = reauth.require_recent(next_url=url_for("site.account", _anchor="password"))
        if again is not None:
            return again
    form = PasswordForm()
    if form.validate_on_submit():
        if has_password and not current_user.check_password(form.current_password.data or ""):
            form.current_password.errors = [_("The current password is incorrect.")]
        else:
            user = current_user._get_current_object()
            user.set_password(form.new_password.data)
            user.end_sessions()
            db.session.commit()
            _keep_signed_in_here(user)
            flash(
                _("Your password has been saved.")
                if has_password
                else _("You can now sign in with your email address and password."),
                "info",
            )
            return redirect(url_for("site.account"))
    return _render_account(form)


@bp.route("/lang", methods=["POST"])
def set_language() -> Response:
    lang = request.form.get("lang")
    if lang in ("ja", "en"):
        session[LANGUAGE_SESSION_KEY] = lang
    return redirect(safe_next(request.form.get("next")) or url_for("site.home"))


@bp.app_errorhandler(403)
@bp.app_errorhandler(404)
def error_page(error: HTTPException) -> tuple[str, int]:
    """Errors in the site's own layout and language, with a way back."""
    code = error.code or 500
    return render_template("error.html", code=code), code


@bp.app_errorhandler(DBAPIError)
def database_unavailable(error: DBAPIError) -> tuple[str, int, dict[str, str]]:
    """The database went away mid-request (a failover, a restart): say so, and to try again.

    Every change is one transaction, so the rolled-back one left nothing half done and
    sending the form again is safe. Other database errors are bugs and stay a 500.
    The page does not touch the database (no signed-in user's name in the header).
    """
    if not error.connection_invalidated:
        raise error
    db.session.rollback()
    return render_template("unavailable.html"), 503, {"Retry-After": "5", "Cache-Control": "no-store"}
