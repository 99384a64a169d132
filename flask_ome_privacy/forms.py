"""WTForms for the privacy pages. Flask-WTF's FlaskForm brings CSRF to every one of them,
whether or not the host enabled CSRFProtect."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, StringField
from wtforms.validators import AnyOf, DataRequired, InputRequired

from .i18n import lazy_gettext


class ConfirmForm(FlaskForm):
    """A form with nothing but its CSRF token: for POST-only buttons (mark read, confirm)."""


class ConsentDecisionForm(FlaskForm):
    """Grant or decline one consent ask (policy Art. 2.2(1)).

    ``version`` is the wording the person read; the page renders two submit buttons named
    ``decision`` with values ``grant`` and ``decline``.
    """

    decision = StringField(validators=[InputRequired(), AnyOf(("grant", "decline"))])
    version = IntegerField(validators=[InputRequired()])


class SnsWithdrawForm(FlaskForm):
    """Confirm withdrawing one SNS link: the person ticks that they understand it cannot be undone."""

    confirm = BooleanField(
        lazy_gettext(
            "I understand that this unlinks the account and erases this data, and that it cannot be undone."
        ),
        validators=[DataRequired(lazy_gettext("Please tick the box to confirm."))],
        # Only a ticked box confirms: "0", "off", "no" (a crafted or scripted POST) do not.
        false_values=(False, "false", "", "0", "off", "no", "n"),
    )
