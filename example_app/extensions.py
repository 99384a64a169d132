"""The site's extension objects, created once and initialised per app in ``create_app``.

The privacy extension's registrations (data sources, staff and sign-in callbacks) belong
to the ``privacy`` object, so they are made once, at import time, in ``example_app/__init__.py``;
every app the tests create shares them.
"""

from __future__ import annotations

from flask_babel import Babel
from flask_login import LoginManager
from flask_wtf import CSRFProtect

from flask_ome_privacy import OmePrivacy

from .models import db

__all__ = ["db", "login_manager", "babel", "csrf", "privacy"]

login_manager = LoginManager()
babel = Babel()
csrf = CSRFProtect()
privacy = OmePrivacy()
