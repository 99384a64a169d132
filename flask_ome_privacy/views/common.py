"""What every privacy page shares: access guards, no-store caching, template helpers."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, current_app, url_for
from flask_babel import get_locale
from flask_login import current_user

from ..config import config_value
from ..extension import current_privacy, user_id_of
from ..i18n import template_i18n, translate

#: The endpoint of the online request form, once the requests flow is registered.
REQUEST_FORM_ENDPOINT = "ome_privacy_account.new_request"


def request_url(kind: str, **params: str) -> str:
    """Where a person starts a rights request of ``kind`` (``correct``, ``delete``, ...).

    The online form when the app has it (``kind`` and e.g. ``source`` prefilled); until then,
    the public page's entry for that kind, which says how to make it by post. Never a dead link.
    """
    if REQUEST_FORM_ENDPOINT in current_app.view_functions:
        return url_for(REQUEST_FORM_ENDPOINT, kind=kind, **params)
    return url_for("ome_privacy_public.purposes", _anchor=f"request-{kind}")


def template_context() -> dict[str, Any]:
    """Names our templates rely on, whatever the host's Jinja set-up."""
    return {
        "request_url": request_url,
        "tr": translate,
        "ome_locale": str(get_locale() or "ja"),
        "ome_contact": config_value("CONTACT"),
        "ome_config": config_value,
        "ome_is_staff": current_privacy().is_staff(current_user),
        # ``_``, ``ngettext``, ``tr`` and the date helpers, bound once per render (replaces ``tr``).
        **template_i18n(),
    }


def no_store(response: Response) -> Response:
    """Pages with personal data must not be kept by browsers or proxies."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


def require_signed_in() -> Any:
    """``before_request`` guard: send anonymous visitors to the host's sign-in page."""
    if not current_user.is_authenticated:
        login_manager = getattr(current_app, "login_manager", None)
        if login_manager is not None:
            return login_manager.unauthorized()
        abort(401)
    return None


def require_staff() -> Any:
    """``before_request`` guard for staff pages: sign-in first, then 403 for non-staff."""
    redirect_response = require_signed_in()
    if redirect_response is not None:
        return redirect_response
    if not current_privacy().is_staff(current_user):
        abort(403)
    return None


def current_user_id() -> str:
    return user_id_of(current_user)


def make_blueprint(name: str, *, personal: bool, guard: Any = None) -> Blueprint:
    """A blueprint with our template helpers, and no-store plus a guard when it shows personal data."""
    bp = Blueprint(name, __name__)
    bp.context_processor(template_context)
    if guard is not None:
        bp.before_request(guard)
    if personal:
        bp.after_request(no_store)
    return bp
