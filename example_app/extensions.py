"""The site's extension objects, created once and initialised per app in ``create_app``.

The privacy extension's registrations (data sources, staff and sign-in callbacks) belong
to the ``privacy`` object, so they are made once, at import time, in ``example_app/__init__.py``;
every app the tests create shares them.
"""

from __future__ import annotations

from flask import Flask
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_wtf import CSRFProtect

from flask_ome_privacy import OmePrivacy

from .models import db

__all__ = ["db", "login_manager", "babel", "csrf", "privacy", "make_limiter"]

login_manager = LoginManager()
babel = Babel()
csrf = CSRFProtect()
privacy = OmePrivacy()


def make_limiter(app: Flask) -> Limiter:
    """One Flask-Limiter per app (it keeps its storage on itself), counting in ``RATELIMIT_STORAGE_URI``.

    No default limits: only the routes ``auth.limit_sign_in`` wraps are limited. Behind a
    proxy, wrap the app in ``werkzeug.middleware.proxy_fix.ProxyFix`` so the client's address
    is the one counted.
    """
    limiter = Limiter(key_func=get_remote_address, default_limits=[], headers_enabled=False)
    limiter.init_app(app)
    return limiter
