"""The site's own pages: home, account settings, and the language switch."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required
from werkzeug.routing import BuildError
from werkzeug.wrappers import Response

from .auth import safe_next
from .extensions import privacy
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


@bp.route("/account")
@login_required
def account() -> str:
    profile_source = privacy.sources["profile"]
    profile = current_user.profile
    items = []
    for name in PROFILE_FIELDS:
        value = profile.get(name) if profile is not None else None
        items.append((profile_source.field(name).label, value))
    methods = privacy.sign_in_methods(current_user)
    return render_template("account.html", profile_items=items, sign_in_methods=methods)


@bp.route("/lang", methods=["POST"])
def set_language() -> Response:
    lang = request.form.get("lang")
    if lang in ("ja", "en"):
        session["lang"] = lang
    return redirect(safe_next(request.form.get("next")) or url_for("site.home"))
