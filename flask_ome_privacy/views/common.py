"""What every privacy page shares: access guards, security headers, no-store caching, template helpers."""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import date, datetime, timezone
from functools import lru_cache
from typing import Any, TypeVar
from urllib.parse import urlsplit

from babel import dates as babel_dates
from babel.dates import get_timezone_name
from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    flash,
    g,
    has_request_context,
    redirect,
    request,
    url_for,
)
from flask_babel import format_date, format_time, get_babel, get_locale, get_timezone
from flask_login import current_user, login_url
from jinja2 import pass_context
from markupsafe import Markup
from werkzeug.routing import BuildError

from ..config import config_value
from ..i18n import gettext, template_i18n, translate
from ..policy_text import Policy, anchor_for, citation_label, load_policies
from ..state import current_privacy, user_id_of

#: The endpoint of the online request form, once the requests flow is registered.
REQUEST_FORM_ENDPOINT = "ome_privacy_account.new_request"
#: The public policy page, and where the parsed policy texts of an app are kept.
POLICY_ENDPOINT = "ome_privacy_public.policy"
POLICY_STATE_KEY = "ome_privacy.policy_text"


def request_form_url() -> str | None:
    """The online request form, or None while the app has none: texts that describe online
    requests appear only when this is not None (the rule ``request_url`` follows too)."""
    if REQUEST_FORM_ENDPOINT in current_app.view_functions:
        return url_for(REQUEST_FORM_ENDPOINT)
    return None


def has_endpoint(endpoint: str) -> bool:
    """Is ``endpoint`` registered on this app? (A host may decline or move our pages.)"""
    return endpoint in current_app.view_functions


def optional_url(endpoint: str, **values: Any) -> str | None:
    """``url_for(endpoint, **values)`` when this app has that page, else None (no dead links)."""
    return url_for(endpoint, **values) if has_endpoint(endpoint) else None


def request_url(kind: str, **params: Any) -> str:
    """Where a person starts a rights request of ``kind`` (``correct``, ``delete``, ...).

    The online form when the app has it (``kind`` and e.g. ``source`` prefilled); until then,
    the public page's entry for that kind, which says how to make it by post. Never a dead link.
    """
    if not has_request_context():  # a mail or a job: built each time, as the app's URLs say
        return _build_request_url(kind, params)
    try:
        return _kept_url((kind, tuple(sorted(params.items()))), lambda: _build_request_url(kind, params))
    except TypeError:  # an argument that cannot be a key: built each time
        return _build_request_url(kind, params)


#: Where each app keeps the request links it built (``app.extensions``), and how many at most.
REQUEST_URLS_KEY = "ome_privacy_request_urls"
REQUEST_URLS_KEPT = 4096

T_URL = TypeVar("T_URL", str, dict[str, str])


def _kept_url(key: tuple[Any, ...], build: Callable[[], T_URL]) -> T_URL:
    """The app's request links, built once per key within a request's URL root and language.

    The data page links every field to a request about it; building those links was a
    tenth of the page. They depend only on the URL root, the language (a host's
    ``url_defaults`` may add it) and the arguments, so each app keeps them once built.
    """
    full = (request.script_root, str(get_locale()), *key)
    built: dict[Hashable, Any] = current_app.extensions.setdefault(REQUEST_URLS_KEY, {})
    found: T_URL | None = built.get(full)
    if found is None:
        if len(built) >= REQUEST_URLS_KEPT:
            built.clear()
        found = built[full] = build()
    return found


def _build_request_url(kind: str, params: dict[str, Any]) -> str:
    if has_endpoint(REQUEST_FORM_ENDPOINT):
        return url_for(REQUEST_FORM_ENDPOINT, kind=kind, **params)
    return url_for("ome_privacy_public.purposes", _anchor=f"request-{kind}")


#: Stands in for the varying value while ``url_pattern`` builds a URL once.
_URL_MARKER = "0omep0marker0"
#: Values that need no quoting in a path: placed as they are.
_PLAIN_URL_VALUE = re.compile(r"[A-Za-z0-9_.~-]+\Z")


def url_pattern(endpoint: str, name: str, **values: Any) -> Callable[[Any], str]:
    """``url_for(endpoint, **{name: value}, **values)`` for each row of a table, built once.

    A queue of 50 rows with four links each spent a fifth of its time in Werkzeug's URL
    building; the links differ only by the reference. The URL is built once with a marker
    for the value, which each row replaces; a value that would need quoting (or a rule the
    marker does not fit) is built by ``url_for`` as usual.
    """
    marked: dict[str, Any] = {**values, name: _URL_MARKER}
    try:
        head, found, tail = url_for(endpoint, **marked).partition(_URL_MARKER)
    except (BuildError, ValueError):  # e.g. an int converter: the marker is no number
        found = ""

    def url(value: Any) -> str:
        text = str(value)
        if found and _PLAIN_URL_VALUE.match(text):
            return head + text + tail
        return url_for(endpoint, **{name: value}, **values)

    return url


def field_request_urls(kind: str, source: Any) -> dict[str, str]:
    """``request_url(kind, source=..., field=...)`` for each field ``source`` declares.

    The data page links every value to a request about its own field ("Ask to correct" opens
    the form with kind, source and field filled in); built once per source, not once per row,
    and kept with the app's request links (``request_url``) once built: the dict is shared,
    read it, do not change it.
    """
    names = tuple(spec.name for spec in source.fields)

    def build() -> dict[str, str]:
        return {name: _build_request_url(kind, {"source": source.key, "field": name}) for name in names}

    if not has_request_context():
        return build()
    return _kept_url(("fields", kind, source.key, names), build)


def load_policy_texts(app: Flask) -> None:
    """Parse ``OME_PRIVACY_POLICY_TEXT`` once per app, when the public pages are registered.

    A missing file or a text without articles raises here, at start-up.
    """
    app.extensions[POLICY_STATE_KEY] = load_policies(
        config_value("POLICY_TEXT", app), config_value("LANGUAGES", app), app.root_path
    )


def policy_for(language: str) -> tuple[Policy | None, str]:
    """The policy in ``language``, else in the first configured language that has one.

    Returns the policy and the language it is written in (None when there is no policy page).
    """
    if POLICY_ENDPOINT not in current_app.view_functions:
        return None, language
    policies: dict[str, Policy] = current_app.extensions.get(POLICY_STATE_KEY) or {}
    if language in policies:
        return policies[language], language
    for other in [*config_value("LANGUAGES"), *policies]:
        if other in policies:
            return policies[other], other
    return None, language


@dataclass(frozen=True)
class Citation:
    """A reference to the policy as a page shows it: the label, and the paragraph's address."""

    label: str
    href: str | None


def cite(ref: str) -> Citation:
    """``cite("2.2(1)")``: "Article 2.2(1)" / 「第2条第2項第1号」, linked to that paragraph of the
    policy page when the app publishes the policy and it has that paragraph (else plain text).

    Templates use the ``m.cite(ref)`` macro, which renders this.
    """
    language = _language()
    anchor = anchor_for(ref)
    policy, _written_in = policy_for(language)
    href = None
    if policy is not None and anchor in policy.anchors:
        href = url_for(POLICY_ENDPOINT, _anchor=anchor)
    return Citation(citation_label(ref, language), href)


def _language() -> str:
    return str(get_locale() or config_value("LANGUAGES")[0])


# --- dates and times: one format per language on every page ------------------------------------


#: (zone, locale) -> (the zone's name, the UTC example time): the same for every request of a
#: language and zone, and formatting them took a noticeable part of every render.
_ZONE_TEXTS: dict[tuple[str, str], tuple[str, str]] = {}


def _zone_texts() -> tuple[str, str]:
    zone, locale = get_timezone(), get_locale()
    key = (str(zone), str(locale))
    found = _ZONE_TEXTS.get(key)
    if found is None:
        name = "UTC" if key[0] in ("UTC", "Etc/UTC") else str(get_timezone_name(zone, "long", locale=locale))
        example = str(format_time(datetime(2026, 9, 15, 5, 30, tzinfo=timezone.utc), "HH:mm"))
        if len(_ZONE_TEXTS) > 64:  # a handful of languages and zones; never grows without bound
            _ZONE_TEXTS.clear()
        found = _ZONE_TEXTS[key] = (name, example)
    return found


def timezone_name() -> str:
    """The zone pages show times in, named for the reader: "Japan Time" / 「日本時間」, or "UTC"."""
    return _zone_texts()[0]


def format_day(value: date | datetime) -> str:
    """ "September 15, 2026" / 「2026年9月15日」 (a datetime is taken in the reader's zone first)."""
    return str(format_date(value, "long"))


def format_moment(value: datetime) -> str:
    """ "September 15, 2026 14:05 (Japan Time)" / 「2026年9月15日 14:05（日本時間）」.

    Stored times are UTC (naive ones are read as UTC); pages show them in the app's zone and
    say which, so nobody has to guess.
    """
    return str(
        gettext(
            "%(date)s %(time)s (%(zone)s)",
            date=format_day(value),
            time=format_time(value, "HH:mm"),
            zone=timezone_name(),
        )
    )


class MomentFormatter:
    """``format_day`` and ``format_moment`` bound to one render: the same text, cheaper.

    Flask-Babel looks up the locale, the zone and the date pattern on every call, and the
    zone's name is formatted afresh each time; a page that lists many rows paid that per row.
    Here they are looked up once, and each distinct value is formatted once per render.
    """

    def __init__(self) -> None:
        self.locale = get_locale()
        self.zone = get_timezone()
        self.day_pattern = _date_pattern("date", "long")
        self.zone_name = timezone_name()
        self.moment_text = str(gettext("%(date)s %(time)s (%(zone)s)"))
        self._days: dict[date | datetime, str] = {}
        self._moments: dict[datetime, str] = {}

    def _local(self, value: datetime) -> datetime:
        """As Flask-Babel's ``to_user_timezone``: naive values are UTC."""
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return self.zone.normalize(value.astimezone(self.zone))  # type: ignore[no-any-return]

    def day(self, value: date | datetime) -> str:
        found = self._days.get(value)
        if found is None:
            local = self._local(value).date() if isinstance(value, datetime) else value
            found = self._days[value] = _day_text(local, self.day_pattern, self.locale)
        return found

    def moment(self, value: datetime) -> str:
        found = self._moments.get(value)
        if found is None:
            found = self._moments[value] = self.moment_text % {
                "date": self.day(value),
                # Babel's "HH:mm": 24-hour, zero-padded, the same digits in every language.
                "time": self._local(value).strftime("%H:%M"),
                "zone": self.zone_name,
            }
        return found


@lru_cache(maxsize=4096)
def _day_text(day: date, pattern: str, locale: Any) -> str:
    """A calendar day in a language's pattern, kept process-wide: days repeat on every page
    and for every person (a day is not personal), and Babel took most of each row's time."""
    return str(babel_dates.format_date(day, pattern, locale=locale))


def _date_pattern(kind: str, name: str) -> str:
    """The pattern Flask-Babel would use for ``format_date(value, name)`` (its own ``_get_format``):
    the app's ``date_formats`` may replace a named format."""
    formats = get_babel().instance.date_formats
    return str(formats.get(f"{kind}.{name}") or name)


def template_context() -> dict[str, Any]:
    """Names our templates rely on, whatever the host's Jinja set-up.

    Installed app-wide, so it also runs for templates rendered outside a request (mails, jobs):
    links to pages are given only where a URL can be built.
    """
    in_request = has_request_context()
    ours = in_request and (request.blueprint or "").startswith("ome_privacy")
    moments = MomentFormatter() if ours else None
    return {
        "request_url": request_url,
        "field_request_urls": field_request_urls,
        "ome_url_pattern": url_pattern,
        "ome_request_form_url": request_form_url() if in_request else None,
        "ome_cite": cite,
        # On our own pages bound once per render (MomentFormatter); elsewhere Flask-Babel's own.
        "ome_format_day": moments.day if moments else format_day,
        "ome_format_moment": moments.moment if moments else format_moment,
        "ome_timezone_name": moments.zone_name if moments else timezone_name(),
        "ome_utc_example": _zone_texts()[1],
        "ome_policy_url": (
            optional_url(POLICY_ENDPOINT) if in_request and policy_for(_language())[0] is not None else None
        ),
        "tr": translate,
        "ome_locale": str(get_locale() or "ja"),
        "ome_contact": config_value("CONTACT"),
        "ome_config": config_value,
        "ome_cached_fragment": cached_fragment,
        # On our own pages: ``_``, ``ngettext`` and ``tr`` bound to the request's translations once
        # per render (i18n.template_i18n); the host's pages and mails keep Flask-Babel's own.
        **(template_i18n() if ours else {}),
    }


#: The largest id a ``<int:...>`` rule of ours accepts. Our ids are INTEGER columns (32-bit on
#: PostgreSQL), so a larger number is a page that cannot exist (404), not a database error (500).
MAX_ID = 2**31 - 1
#: The converter for database ids in our URL rules, e.g. ``f"/notes/<{ID}:note_id>"``.
ID = f"int(min=1, max={MAX_ID})"


def reference_or_404(value: str, max_length: int = 32) -> str:
    """A reference from a URL, or 404 when no stored reference could look like it.

    Too long, or with control characters (PostgreSQL refuses NUL in a query): a page that
    cannot exist, not a database error.
    """
    if not value or len(value) > max_length or not value.isprintable():
        abort(404)
    return value


def security_headers(response: Response) -> Response:
    """Add ``OME_PRIVACY_SECURITY_HEADERS`` (CSP with ``frame-ancestors 'none'``, ``X-Frame-Options``,
    nosniff, ``Referrer-Policy``) to ``response``, keeping any the response already has.

    Our withdrawal, consent and notification pages are one click from a change, so no other
    site may frame them (clickjacking). ``setdefault``: a header a view or the host set first
    stays; a host that sets headers after us (e.g. Flask-Talisman) overwrites ours anyway.
    Usable as a host's own ``app.after_request`` (see ``OmePrivacy.security_headers``).
    """
    for name, value in (config_value("SECURITY_HEADERS") or {}).items():
        if value:
            response.headers.setdefault(name, value)
    return response


def no_store(response: Response) -> Response:
    """Pages with personal data must not be kept by browsers or proxies."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def require_signed_in() -> Any:
    """``before_request`` guard: send anonymous visitors to the host's sign-in page.

    After signing in they come back to ``next``. For a POST that is not the URL posted to
    (a POST-only URL answers a GET with 405) but the page the form was on.
    """
    if current_user.is_authenticated:
        return None
    login_manager = getattr(current_app, "login_manager", None)
    if login_manager is None:
        abort(401)
    if request.method in ("GET", "HEAD") or login_manager.unauthorized_callback is not None:
        return login_manager.unauthorized()  # Flask-Login's way, or the host's own callback
    view = config_value("LOGIN_VIEW") or getattr(login_manager, "login_view", None)
    if not view:
        return login_manager.unauthorized()  # Flask-Login's 401
    if login_manager.login_message:
        flash(login_manager.login_message, login_manager.login_message_category)
    return redirect(login_url(view, next_url=form_page()), code=303)


def form_page() -> str:
    """The page a POST came from: the Referer when it is on this site, else the blueprint's first page."""
    referrer = urlsplit(request.referrer or "")
    here = urlsplit(request.host_url)
    same_site = referrer.netloc == here.netloc and referrer.scheme in ("", here.scheme)
    if same_site and referrer.path.startswith("/") and not referrer.path.startswith("//"):
        return referrer.path + (f"?{referrer.query}" if referrer.query else "")
    return blueprint_home()


def blueprint_home() -> str:
    """The shortest GET page without parameters of the current blueprint (its overview)."""
    prefix = f"{request.blueprint}."
    pages = [
        rule
        for rule in current_app.url_map.iter_rules()
        if rule.endpoint.startswith(prefix) and "GET" in (rule.methods or ()) and not rule.arguments
    ]
    if not pages:
        return request.script_root + "/"
    return url_for(min(pages, key=lambda rule: len(rule.rule)).endpoint)


def require_staff() -> Any:
    """``before_request`` guard for staff pages: sign-in first, then 403 for non-staff."""
    redirect_response = require_signed_in()
    if redirect_response is not None:
        return redirect_response
    if not current_privacy().is_staff(current_user):
        abort(403)
    return None


def current_user_id() -> str:
    return user_id_of(current_user)


def make_blueprint(name: str, *, personal: bool, guard: Any = None) -> Blueprint:
    """A page blueprint: security headers, and no-store plus a guard when it shows personal data.

    The template helpers (``template_context``) are installed app-wide by ``init_app``.
    """
    bp = Blueprint(name, __name__)
    bp.after_request(security_headers)
    if guard is not None:
        bp.before_request(guard)
    if personal:
        bp.after_request(no_store)
    return bp


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
        fragment = render()  # outside the lock: two first visitors may both render
        with self._lock:
            self.misses += 1
            self._items[key] = fragment
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return fragment


#: Where each app keeps its fragments (``app.extensions``: two apps in one process never share).
CACHE_KEY = "ome_privacy_fragments"


def fragment_cache(app: Flask) -> FragmentCache:
    """The app's fragment cache."""
    cache: FragmentCache | None = app.extensions.get(CACHE_KEY)
    if cache is None:
        cache = app.extensions.setdefault(CACHE_KEY, FragmentCache())
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
def cached_fragment(context: Any, name: str, caller: Callable[[], Markup]) -> Markup:
    """``{% call ome_cached_fragment("name") %}...{% endcall %}``: render the body once per
    template, language, time zone, day (purposes come into effect on a date), URL root,
    configuration and purposes register (a purpose added or reworded at run time, the policy
    version the page publishes); serve it from the app's cache after that.

    Only for fragments that are a pure function of those inputs: never anything personal.

    ``caller()`` is the call block rendered by Jinja, which hands it back as ``Markup``
    (already escaped) under autoescape: it is kept as it is, never wrapped again."""
    if not has_request_context():  # a mail or a job: render as is
        return caller()
    app = current_app
    privacy = current_privacy()
    key = (
        context.name,
        name,
        str(get_locale()),
        str(get_timezone()),
        privacy.today(),
        request.script_root,
        _request_configuration_key(app),
        privacy.purposes.fingerprint(),
    )
    return fragment_cache(app).get_or_render(key, caller)


def _request_configuration_key(app: Flask) -> str:
    """``configuration_key`` once per request: a page with a fragment per data source would
    otherwise digest the whole configuration for each of them."""
    found: str | None = g.get("_ome_privacy_configuration_key")
    if found is None:
        found = g._ome_privacy_configuration_key = configuration_key(app)
    return found
