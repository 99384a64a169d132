"""WTForms for the privacy pages. Flask-WTF's FlaskForm brings CSRF to every one of them,
whether or not the host enabled CSRFProtect."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import IntegerField, StringField
from wtforms.validators import AnyOf, InputRequired


class ConfirmForm(FlaskForm):
    """A form with nothing but its CSRF token: for POST-only buttons (mark read, confirm)."""


class ConsentDecisionForm(FlaskForm):
    """Grant or decline one consent ask (policy Art. 2.2(1)).

    ``version`` is the wording the person read; the page renders two submit buttons named
    ``decision`` with values ``grant`` and ``decline``.
    """

    decision = StringField(validators=[InputRequired(), AnyOf(("grant", "decline"))])
    version = IntegerField(validators=[InputRequired()])
