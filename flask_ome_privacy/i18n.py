"""Translations: our catalogs join the host's Flask-Babel set-up, or we set one up.

Our messages live in the ``ome_privacy`` domain under ``translations/``. If the host
already uses Flask-Babel, that domain is merged into its default domain so both the
host's layout and our pages translate with one ``_()``. If it does not, we initialise
Flask-Babel with a locale taken from the host's choice, else Accept-Language, else
Japanese.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from flask import Flask, has_request_context, request, session
from flask_babel import Babel, get_translations, gettext, lazy_gettext, ngettext
from jinja2 import pass_context
from markupsafe import Markup

TRANSLATIONS_DIR = os.path.join(os.path.dirname(__file__), "translations")
DOMAIN = "ome_privacy"

__all__ = ["gettext", "lazy_gettext", "ngettext", "translate", "setup_babel", "LOCALE_SESSION_KEY"]

#: When the host has no locale selector of its own, a language switch may store its choice here.
LOCALE_SESSION_KEY = "ome_privacy_locale"


def translate(value: Any) -> str:
    """Translate a label marked with ``N_`` (or a lazy string) at display time."""
    if value is None:
        return ""
    text = str(value)
    return str(gettext(text)) if text else ""


def setup_babel(app: Flask, locale_loader: Callable[[], str | None] | None) -> None:
    """Make our catalogs part of the app's translations, initialising Flask-Babel if needed."""
    app.config.setdefault("BABEL_DEFAULT_LOCALE", "ja")
    # Only takes effect when we initialise Flask-Babel; a host that did keeps its own.
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "Asia/Tokyo")
    if "babel" not in app.extensions:
        Babel(app, locale_selector=lambda: _select_locale(app, locale_loader))
    _merge_our_domain(app)


def _merge_our_domain(app: Flask) -> None:
    babel_config = app.extensions["babel"]
    directories = list(babel_config.translation_directories)
    if TRANSLATIONS_DIR in directories:
        return
    domains = babel_config.default_domain.split(";")
    if len(domains) == 1:
        domains = domains * len(directories)
    babel_config.translation_directories = [*directories, TRANSLATIONS_DIR]
    babel_config.default_domain = ";".join([*domains, DOMAIN])


def _select_locale(app: Flask, locale_loader: Callable[[], str | None] | None) -> str:
    languages: list[str] = list(app.config.get("OME_PRIVACY_LANGUAGES") or ["ja", "en"])
    if locale_loader is not None:
        chosen = locale_loader()
        if chosen is not None and chosen in languages:
            return chosen
    if has_request_context():
        stored = session.get(LOCALE_SESSION_KEY)
        if isinstance(stored, str) and stored in languages:
            return stored
        best = request.accept_languages.best_match(languages)
        if best:
            return best
    return languages[0]


# --- per-request template helpers -----------------------------------------------------------------
# Flask-Babel's Jinja callables look the translations up again on every call (about 150 per data
# page). ``template_i18n`` resolves them once per render and binds them into the template
# context; the output is exactly what Flask-Babel's ``_``/``ngettext`` give.


def template_i18n() -> dict[str, Any]:
    """``_``, ``gettext``, ``ngettext`` and ``tr`` for one render.

    Same semantics as the ``jinja2.ext.i18n`` callables Flask-Babel installs (new style: the
    message is always %-formatted, and is ``Markup`` under autoescape so values are escaped).
    """
    translations = get_translations()
    ugettext, ungettext = translations.ugettext, translations.ungettext

    @pass_context
    def fast_gettext(context: Any, string: str, **variables: Any) -> str:
        rv: str = ugettext(string)
        if context.eval_ctx.autoescape:
            rv = Markup(rv)  # nosec B704  # our catalog's text; % escapes the values
        return rv % variables

    @pass_context
    def fast_ngettext(context: Any, singular: str, plural: str, num: int, **variables: Any) -> str:
        variables.setdefault("num", num)
        rv: str = ungettext(singular, plural, num)
        if context.eval_ctx.autoescape:
            rv = Markup(rv)  # nosec B704  # our catalog's text; % escapes the values
        return rv % variables

    def fast_translate(value: Any) -> str:
        """``translate`` without the per-call lookup."""
        if value is None:
            return ""
        text = str(value)
        return ugettext(text) if text else ""

    return {
        "_": fast_gettext,
        "gettext": fast_gettext,
        "ngettext": fast_ngettext,
        "tr": fast_translate,
    }
