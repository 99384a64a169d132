"""The site's forms (Flask-WTF, so every POST carries a CSRF token)."""

from __future__ import annotations

from flask_babel import lazy_gettext
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, SelectField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Length


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


class PasswordForm(FlaskForm):
    """Set a first password (Facebook-only accounts) or change the current one."""

    current_password = PasswordField(lazy_gettext("Current password"))
    new_password = PasswordField(
        lazy_gettext("New password"),
        validators=[
            DataRequired(lazy_gettext("Enter a new password.")),
            Length(min=10, max=1024, message=lazy_gettext("Use at least 10 characters.")),
        ],
    )
    confirm = PasswordField(
        lazy_gettext("New password (again)"),
        validators=[
            DataRequired(lazy_gettext("Enter the new password again.")),
            EqualTo("new_password", message=lazy_gettext("The two passwords do not match.")),
        ],
    )
    submit = SubmitField(lazy_gettext("Save password"))
