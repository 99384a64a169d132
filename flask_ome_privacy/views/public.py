"""The public purposes page (``/privacy/purposes``): no sign-in, no personal data.

It is where the business publishes what APPI Art. 32(1) asks for — its name, address and
representative; every purpose of use; how to make each kind of request and its fee; the
safety measures; where to complain — and the change history of policy Art. 2.2(2): each
purpose added for data obtained other than directly, with the date it was added.

Everything comes from configuration, so the page is the same for every visitor of one
language and may be cached (see ``cache_headers``).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any
from weakref import WeakKeyDictionary

from flask import Blueprint, Flask, Response, current_app, render_template, request, session
from flask_babel import get_locale, get_timezone
from flask_login import current_user
from jinja2 import pass_context
from markupsafe import Markup

from ..config import config_value
from ..extension import current_privacy
from ..lifecycle import FEE_KINDS, RequestKind
from ..purposes import ChangeKind, ConsentRule, in_effect, processors_for
from .common import make_blueprint

#: How long browsers (and, when allowed, shared caches) may keep the page.
MAX_AGE_SECONDS = 3600


def build_public_blueprint() -> Blueprint:
    bp = make_blueprint("ome_privacy_public", personal=False)
    bp.add_url_rule("/purposes", "purposes", purposes)
    bp.after_request(cache_headers)
    bp.context_processor(fragment_cache_context)
    return bp


def purposes() -> str:
    privacy = current_privacy()
    register = privacy.purposes
    today = privacy.today()
    processors = config_value("PROCESSORS")
    categories = [
        {
            "category": category,
            "purposes": [
                {"purpose": p, "rule": register.rule_for(p), "in_effect": in_effect(p, today)}
                for p in register.for_category(category.key)
            ],
            "processors": processors_for(processors, category.key),
        }
        for category in register
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
    return response.make_conditional(request)


# --- the render cache -------------------------------------------------------------------------
# The page's own part (its ``privacy_content`` block) is the same for every visitor of one
# language and configuration, so it is rendered once and kept. The host's layout around it is
# rendered on every request: it may be personal ("signed in as", a CSRF token in a language
# switch, flashed messages), and one person's layout must never reach another.

#: Fragments kept per app (languages x time zones x days x configurations seen recently).
FRAGMENT_CACHE_SIZE = 64

#: Settings besides ``OME_PRIVACY_*`` that change what the fragment says or links to.
_KEYED_SETTINGS = ("BABEL_", "SERVER_NAME", "APPLICATION_ROOT", "PREFERRED_URL_SCHEME")


class FragmentCache:
    """A small thread-safe LRU of rendered fragments for one app (gthread workers share it)."""

    def __init__(self, size: int = FRAGMENT_CACHE_SIZE) -> None:
        self.size = size
        self.hits = 0
        self.misses = 0
        self._items: OrderedDict[Hashable, Markup] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_render(self, key: Hashable, render: Callable[[], Markup]) -> Markup:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                self.hits += 1
                return found
        fragment = Markup(render())  # outside the lock: two first visitors may both render
        with self._lock:
            self.misses += 1
            self._items[key] = fragment
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return fragment


_caches: WeakKeyDictionary[Flask, FragmentCache] = WeakKeyDictionary()


def fragment_cache(app: Flask) -> FragmentCache:
    """The app's fragment cache (per app, so two apps in one process never share pages)."""
    cache = _caches.get(app)
    if cache is None:
        cache = _caches.setdefault(app, FragmentCache())
    return cache


def configuration_key(app: Flask) -> str:
    """A digest of every setting the public page is built from (read on each use: tests and
    hosts may change settings between requests)."""
    settings = sorted(
        (key, repr(value))
        for key, value in app.config.items()
        if key.startswith("OME_PRIVACY_") or key.startswith(_KEYED_SETTINGS)
    )
    return hashlib.sha256(repr(settings).encode()).hexdigest()


@pass_context
def cached_fragment(context: Any, name: str, caller: Callable[[], str]) -> Markup:
    """``{% call ome_cached_fragment("name") %}...{% endcall %}``: render the body once per
    template, language, time zone, day (purposes come into effect on a date), URL root and
    configuration; serve it from the app's cache after that."""
    app = current_app._get_current_object()
    key = (
        context.name,
        name,
        str(get_locale()),
        str(get_timezone()),
        current_privacy().today(),
        request.script_root,
        configuration_key(app),
    )
    return fragment_cache(app).get_or_render(key, lambda: Markup(caller()))


def fragment_cache_context() -> dict[str, Any]:
    return {"ome_cached_fragment": cached_fragment}
