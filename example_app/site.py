"""The site's own pages: home, account settings (with the password form), and the language switch."""

from __future__ import annotations

import time

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.exceptions import HTTPException
from werkzeug.routing import BuildError
from werkzeug.wrappers import Response

from .auth import AUTH_AT_SESSION_KEY, safe_next
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


@bp.route("/")
def home() -> str:
    return render_template("home.html")


#: Setting a first password needs a sign-in no older than this (seconds).
RECENT_SIGN_IN_SECONDS = 600


@bp.route("/account")
@login_required
def account() -> str:
    return _render_account(PasswordForm())


def _render_account(password_form: PasswordForm) -> str:
    profile_source = privacy.sources["profile"]
    profile = current_user.profile
    items = []
    for name in PROFILE_FIELDS:
        value = profile.get(name) if profile is not None else None
        items.append((profile_source.field(name).label, value))
    return render_template(
        "account.html",
        profile_items=items,
        sign_in_methods=privacy.sign_in_methods(current_user),
        password_form=password_form,
    )


def _signed_in_recently() -> bool:
    signed_in_at = session.get(AUTH_AT_SESSION_KEY) or 0
    return time.time() - float(signed_in_at) <= RECENT_SIGN_IN_SECONDS


@bp.route("/account/password", methods=["POST"])
@login_required
def set_password() -> Response | str:
    """Change the password, or set a first one for an account that signs in with Facebook only."""
    form = PasswordForm()
    has_password = bool(current_user.password_hash)
    if form.validate_on_submit():
        if has_password and not current_user.check_password(form.current_password.data or ""):
            form.current_password.errors = [_("The current password is incorrect.")]
        elif not has_password and not _signed_in_recently():
            flash(_("For your security, please sign in again before setting a password."), "error")
            return redirect(url_for("auth.login", next=url_for("site.account")))
        else:
            current_user.set_password(form.new_password.data)
            db.session.commit()
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
        session["lang"] = lang
    return redirect(safe_next(request.form.get("next")) or url_for("site.home"))


@bp.app_errorhandler(403)
@bp.app_errorhandler(404)
def error_page(error: HTTPException) -> tuple[str, int]:
    """Errors in the site's own layout and language, with a way back."""
    code = error.code or 500
    return render_template("error.html", code=code), code
