"""Blueprints: thin views that turn HTTP into calls on the modules that decide.

Each blueprint is built by a function from config, so the prefixes are the host's to
choose and the host may decline to register them (``OME_PRIVACY_REGISTER_BLUEPRINTS``).
"""

from __future__ import annotations

from flask import Blueprint, Flask

from .account import build_account_blueprint
from .common import security_headers, template_context
from .public import build_public_blueprint
from .staff import build_staff_blueprint

__all__ = [
    "register_blueprints",
    "security_headers",
    "template_context",
    "build_assets_blueprint",
    "install_template_context",
    "build_account_blueprint",
    "build_public_blueprint",
    "build_staff_blueprint",
]


def build_assets_blueprint() -> Blueprint:
    """Our templates and stylesheet; registered even when the host declines the page blueprints.

    Blueprint template folders come after the app's own, so a host overrides any page by
    placing the same path (``ome_privacy/...``) in its templates folder.
    """
    bp = Blueprint(
        "ome_privacy",
        "flask_ome_privacy",
        static_folder="static",
        static_url_path="/_ome_privacy/static",
        template_folder="templates",
    )
    bp.after_request(security_headers)
    return bp


def install_template_context(app: Flask) -> None:
    """Our template helpers for every template of the app, not only our blueprints' pages:
    a host that declines the blueprints renders our templates from its own views."""
    app.context_processor(template_context)


def register_blueprints(app: Flask) -> None:
    app.register_blueprint(build_account_blueprint(), url_prefix=app.config["OME_PRIVACY_ACCOUNT_URL_PREFIX"])
    app.register_blueprint(build_public_blueprint(), url_prefix=app.config["OME_PRIVACY_PUBLIC_URL_PREFIX"])
    app.register_blueprint(build_staff_blueprint(), url_prefix=app.config["OME_PRIVACY_STAFF_URL_PREFIX"])
