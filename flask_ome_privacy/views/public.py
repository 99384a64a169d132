"""The public pages: the purposes page (``/privacy/purposes``) and the policy itself
(``/privacy/policy``). No sign-in, no personal data.

It is where the business publishes what APPI Art. 32(1) asks for — its name, address and
representative; every purpose of use; how to make each kind of request and its fee; the
safety measures; where to complain — and the change history of policy Art. 2.2(2): each
purpose added for data obtained other than directly, with the date it was added.

The policy page shows the policy as the host publishes it (``OME_PRIVACY_POLICY_TEXT``),
every article and provision with an anchor (``#art-1-2``), so every citation on every page
("Article 1.2") can link to the paragraph it names (``common.cite``).

Everything comes from configuration, so the pages are the same for every visitor of one
language and may be cached (see ``cache_headers``).
"""

from __future__ import annotations

from typing import cast

from babel import Locale
from flask import Blueprint, Flask, Response, abort, render_template, request, session
from flask_babel import get_locale
from flask_login import current_user

from ..config import config_value
from ..lifecycle import FEE_KINDS, RequestKind
from ..purposes import ChangeKind, ConsentRule, in_effect, purposes_table
from ..state import current_privacy
from .common import load_policy_texts, make_blueprint, policy_for

#: How long browsers (and, when allowed, shared caches) may keep the page.
MAX_AGE_SECONDS = 3600


def build_public_blueprint() -> Blueprint:
    bp = make_blueprint("ome_privacy_public", personal=False)
    bp.add_url_rule("/purposes", "purposes", purposes)
    bp.add_url_rule("/policy", "policy", policy)
    bp.record_once(lambda state: load_policy_texts(cast(Flask, state.app)))
    bp.after_request(cache_headers)
    return bp


def purposes() -> str:
    privacy = current_privacy()
    register = privacy.purposes
    today = privacy.today()
    processors = config_value("PROCESSORS")
    categories = [
        {
            "category": row.category,
            "purposes": [
                {"purpose": p, "rule": register.rule_for(p), "in_effect": in_effect(p, today)}
                for p in row.purposes
            ],
            "processors": row.processors,
        }
        for row in purposes_table(register, processors)
    ]
    return render_template(
        "ome_privacy/public/purposes.html",
        categories=categories,
        changes=register.change_history(),
        categories_by_key=register.categories,
        kinds=list(RequestKind),
        fee_kinds=FEE_KINDS,
        fee_yen=config_value("FEE_YEN"),
        ConsentRule=ConsentRule,
        ChangeKind=ChangeKind,
        today=today,
    )


def policy() -> str:
    """The policy in the reader's language, else in the language it is published in (404 when
    the host publishes none)."""
    language = str(get_locale() or config_value("LANGUAGES")[0])
    shown, written_in = policy_for(language)
    if shown is None:
        abort(404)
    return render_template(
        "ome_privacy/public/policy.html",
        policy=shown,
        policy_language=written_in,
        # "English" / 「英語」: named in the reader's language when the text is in another.
        policy_language_name=Locale.parse(written_in).get_display_name(language) or written_in,
    )


def cache_headers(response: Response) -> Response:
    """Let the page be cached, without ever sharing what the host's layout made personal.

    The page itself carries nothing personal, but the host's layout may (a "signed in as"
    line, a CSRF token in a language switch). So shared caches may keep it only when the
    visitor is anonymous and no session is involved; otherwise the visitor's own browser
    keeps it and asks again each time. Either way an ETag lets a revisit end in 304.
    """
    if response.status_code != 200:
        return response
    shared = not current_user.is_authenticated and not session and not request.cookies
    policy = f"public, max-age={MAX_AGE_SECONDS}" if shared else "private, no-cache"
    response.headers["Cache-Control"] = policy
    response.vary.update(("Accept-Language", "Cookie"))
    response.add_etag()
    response.make_conditional(request)  # changes the response in place (304 when it matches)
    return response
