"""WTForms for the privacy pages. Flask-WTF's FlaskForm brings CSRF to every one of them,
whether or not the host enabled CSRFProtect."""

from __future__ import annotations

from flask_wtf import FlaskForm


class ConfirmForm(FlaskForm):
    """A form with nothing but its CSRF token: for POST-only buttons (mark read, confirm)."""
