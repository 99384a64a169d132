"""The site's forms (Flask-WTF, so every POST carries a CSRF token)."""

from __future__ import annotations

from flask_babel import lazy_gettext
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, SelectField, SubmitField
from wtforms.validators import DataRequired, Length


class LoginForm(FlaskForm):
    email = EmailField(
        lazy_gettext("Email address"),
        validators=[DataRequired(lazy_gettext("Enter your email address.")), Length(max=255)],
    )
    password = PasswordField(
        lazy_gettext("Password"),
        validators=[DataRequired(lazy_gettext("Enter your password.")), Length(max=1024)],
    )
    next = HiddenField()
    submit = SubmitField(lazy_gettext("Sign in"))


class FacebookDemoForm(FlaskForm):
    """Stands in for Facebook's OAuth dialog: the tester picks which demo account Facebook "returns"."""

    email = SelectField(
        lazy_gettext("Demo: Facebook account to sign in as"), choices=[], validate_choice=True
    )
    next = HiddenField()
    submit = SubmitField(lazy_gettext("Continue with Facebook"))
