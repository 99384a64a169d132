"""The site's forms (Flask-WTF, so every POST carries a CSRF token)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, SelectField, SubmitField
from wtforms.validators import DataRequired, Length


class LoginForm(FlaskForm):
    email = EmailField(
        _l("Email address"), validators=[DataRequired(_l("Enter your email address.")), Length(max=255)]
    )
    password = PasswordField(
        _l("Password"), validators=[DataRequired(_l("Enter your password.")), Length(max=1024)]
    )
    next = HiddenField()
    submit = SubmitField(_l("Sign in"))


class FacebookDemoForm(FlaskForm):
    """Stands in for Facebook's OAuth dialog: the tester picks which demo account Facebook "returns"."""

    email = SelectField(_l("Demo: Facebook account to sign in as"), choices=[], validate_choice=True)
    next = HiddenField()
    submit = SubmitField(_l("Continue with Facebook"))
