"""Every form and query parameter of every route, fuzzed with hypothesis (issue 10, "Security tests").

The routes come from ``app.url_map`` of the example site and of the package's test host, as in
tests/test_route_wide.py (whose path-value factories this file reuses: a route registered there is
fuzzed here too). What each route reads is found, not listed:

* every page a GET route renders is parsed for its ``<form>`` elements; a form's fields (with the
  values the page fills in: the CSRF token, hidden versions, options) belong to the route its
  ``action`` names;
* every request is made through a request class whose ``args``/``form``/``files`` record each
  name the view asks for, so a parameter read without a form field (``?page=``, ``?after=``) is
  fuzzed as well. ``route_wide.QUERY_PARAMS`` adds the names listed there.

Then, for every route and method, as the person who may use it (staff for staff routes, the
owner of the seeded objects in its path, anonymous and signed in for public ones), the fields
are filled with hostile values — any unicode, NUL and control characters, very long strings,
numbers beyond 64 bits, dates out of range, formulas and markup, several values where one is
expected, junk files — while the other fields keep the page's own values and the CSRF token is
real. No answer may be a 500, and nothing may log an exception.

``OME_FUZZ_EXAMPLES`` sets the total (default 10,000 on SQLite, 2,000 on PostgreSQL, where the
same views run and only type and range handling of the database differs); it is shared evenly
between the routes that read something. Under ``CI=true`` the examples are derandomized (the
same every run) and hypothesis keeps no example database. ``OME_FUZZ_LIST=1`` prints every
target with the parameters found for it, and the slowest ones.
"""

from __future__ import annotations

import io
import logging
import math
import os
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
from flask import has_request_context, request
from helpers import db_kind, in_ci
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_route_wide import ALLOW_LIST, FORM_DATA, QUERY_PARAMS, Site, methods, path
from test_route_wide import example_site as example_site  # fixtures, used by name
from test_route_wide import host_site as host_site
from werkzeug.datastructures import ImmutableMultiDict, MultiDict
from werkzeug.routing import Rule

TOTAL_EXAMPLES = int(os.environ.get("OME_FUZZ_EXAMPLES") or (2_000 if db_kind() == "postgresql" else 10_000))

#: Routes fuzzed after all the others, with the reason: what they do would spoil the rest.
RUN_LAST: dict[str, str] = {
    "site.set_password": "a valid new password ends the person's sessions and the demo password",
    "auth.logout": "signs the client out (each route has its own client, so only for symmetry)",
}

#: Routes whose first request (with the page's own values) may be refused before the view reads
#: anything, with the reason. Any other route must answer < 400 or read a parameter: a view
#: stopped by a guard (404, 409) before it reads its form would be fuzzed in vain.
REFUSED_BASELINE: dict[str, str] = {
    "ome_privacy_public.policy": "the test host publishes no policy text (404); the example site does",
}


# --- hostile values -------------------------------------------------------------------------------

ANY_CHARACTER = st.characters(codec="utf-8")  # every code point but surrogates (unsendable)
CONTROL = st.one_of(
    st.characters(max_codepoint=0x1F), st.sampled_from("\x7f\x85\u2028\u2029\ufeff\u202e\u200b")
)
EDGE_STRINGS = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\r\nSet-Cookie: injected=1",
    "../../../etc/passwd",
    "%00",
    "%2e%2e%2f",
    "<script>alert(1)</script>",
    "\"'><svg onload=x()>",
    "=HYPERLINK(\"http://x\")",
    "＝1+1",  # a full-width formula
    "' OR 1=1 --",
    "{{ 7 * 7 }}",
    "%(x)s %s {0}",
    "null",
    "true",
    "on",
    "\\",
    "\U0001f600" * 3,
    "ﾃｽﾄ　全角",
    "١٢٣",  # Arabic-Indic digits: int() reads them
    "１２３",  # full-width digits
]
NUMBERS = [
    "0",
    "-0",
    "-1",
    "2147483647",
    "2147483648",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775809",
    "18446744073709551616",
    "1" * 5_000,  # past Python's int() digit limit
    "1e309",
    "NaN",
    "inf",
    "-inf",
    "0x10",
    "1_000",
    "3.5",
    " 7 ",
]
DATES = [
    "0000-00-00",
    "0001-01-01",
    "9999-12-31",
    "10000-01-01",
    "-2026-01-01",
    "2026-02-29",
    "2026-02-30",
    "2026-13-01",
    "2026-1-1",
    "20261120",
    "2026-11-20T25:61:00",
    "2026-11-20T10:00:00+99:00",
    "１９９０-０１-０１",
]

hostile_text = st.one_of(
    st.text(ANY_CHARACTER, max_size=40),
    st.text(CONTROL, min_size=1, max_size=12),
    st.builds(lambda c, n: c * n, ANY_CHARACTER, st.integers(1_000, 20_000)),  # very long
    st.sampled_from(EDGE_STRINGS + NUMBERS + DATES),
    st.integers(-(2**80), 2**80).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.dates().map(lambda d: d.isoformat()),
    st.builds(
        "{}-{:02d}-{:02d}".format, st.integers(-(10**6), 10**7), st.integers(0, 99), st.integers(0, 99)
    ),
)
FILE_HEADS = [b"%PDF-1.7\n", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"\x7fELF", b"MZ"]
#: A file field's contents: nothing, junk, or the start of a real format cut short.
hostile_file = st.tuples(
    st.one_of(
        st.binary(max_size=300),
        st.sampled_from(FILE_HEADS).flatmap(lambda head: st.binary(max_size=200).map(lambda t: head + t)),
    ),
    st.text(st.characters(codec="utf-8", exclude_characters='\r\n"\\\x00'), max_size=40),
)


# --- finding what each route reads ----------------------------------------------------------------

#: Endpoint -> every name a view asked ``request.args``/``form``/``files`` for (in this process).
READS: dict[str, set[str]] = defaultdict(set)


class RecordingParameters(ImmutableMultiDict):  # type: ignore[type-arg]
    """``request.args``/``form``/``files`` that note each name asked for under the endpoint."""

    def _note(self, key: Any) -> None:
        if isinstance(key, str) and has_request_context() and request.endpoint:
            READS[request.endpoint].add(key)

    def __getitem__(self, key: Any) -> Any:
        self._note(key)
        return super().__getitem__(key)

    def __contains__(self, key: Any) -> bool:
        self._note(key)
        return super().__contains__(key)

    def getlist(self, key: Any, type: Any = None) -> Any:  # noqa: A002 (werkzeug's name)
        self._note(key)
        return super().getlist(key, type=type)


def record_reads(site: Site) -> None:
    base = site.app.request_class
    if not issubclass(base.parameter_storage_class, RecordingParameters):
        recording = {"parameter_storage_class": RecordingParameters}
        site.app.request_class = type("RecordingRequest", (base,), recording)


@dataclass
class Form:
    """One ``<form>`` as the page renders it."""

    page: str
    action: str
    method: str
    #: Name -> the values the page puts there (hidden and text values, checked boxes, the first option).
    values: MultiDict[str, str] = field(default_factory=MultiDict)
    #: Name -> every value the page offers (options, radio and checkbox values).
    choices: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    files: set[str] = field(default_factory=set)
    hidden: set[str] = field(default_factory=set)

    @property
    def names(self) -> set[str]:
        return (set(self.values) | set(self.choices) | self.files) - {"csrf_token"}


class FormParser(HTMLParser):
    """Every form of a page, with its fields (buttons with a name count: they say which action)."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.page = page
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._select: str | None = None
        self._textarea: str | None = None
        self._first_option = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "option" and self._form is not None and self._select:
            value = a.get("value", "")
            self._form.choices[self._select].append(value)
            if self._first_option or "selected" in a:
                self._form.values.setlist(self._select, [value])
                self._first_option = False
            return
        if tag == "form":
            action = urljoin(self.page, a.get("action") or self.page)
            self._form = Form(self.page, action, (a.get("method") or "get").upper())
            self.forms.append(self._form)
        form, name = self._form, a.get("name")
        if form is None or not name:
            return
        if tag == "input":
            kind = a.get("type", "text").lower()
            if kind == "file":
                form.files.add(name)
            elif kind in ("checkbox", "radio"):
                form.choices[name].append(a.get("value", "on"))
                if "checked" in a:
                    form.values.add(name, a.get("value", "on"))
            elif kind not in ("submit", "button", "image", "reset"):
                form.values.add(name, a.get("value", ""))
                if kind == "hidden" and name != "csrf_token":
                    form.hidden.add(name)
            else:
                form.choices[name].append(a.get("value", ""))
        elif tag == "button" and a.get("type", "submit") == "submit":
            form.choices[name].append(a.get("value", ""))
        elif tag == "select":
            self._select, self._first_option = name, True
        elif tag == "textarea":
            self._textarea = name
            form.values.add(name, "")

    def handle_data(self, data: str) -> None:
        if self._form is not None and self._textarea:
            values = self._form.values.getlist(self._textarea)
            self._form.values.setlist(self._textarea, values[:-1] + [values[-1] + data])

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)


def forms_of(page: str, html: str) -> list[Form]:
    parser = FormParser(page)
    parser.feed(html)
    return parser.forms


# --- the targets --------------------------------------------------------------------------------


@dataclass
class Target:
    """One route and method, as one role, with the values its page fills in."""

    site: Site
    rule: Rule
    method: str
    role: str
    url: str
    baseline: MultiDict[str, str]
    params: list[str]
    files: list[str]
    choices: dict[str, list[str]]
    #: The page whose form posts here (its values are read again after a state change).
    form_page: str | None = None
    client: Any = None
    #: The client's CSRF token, fetched again after a redirect (signing in or out starts a new session).
    token: str | None = None
    #: Whether the form has hidden values (a version) that change with the object's state.
    hidden: bool = False

    @property
    def name(self) -> str:
        return f"{self.site.name}: {self.method} {self.rule.rule} as {self.role}"


def client_as(site: Site, role: str) -> Any:
    client = site.app.test_client()
    if role != "anonymous":
        try:
            site.sign_in(client, site.logins[role])
        except AssertionError as failed:
            raise AssertionError(
                f"{site.name}: {role} can no longer sign in ({failed}); a route fuzzed earlier changed "
                "their password or ended their sessions: add it to RUN_LAST"
            ) from failed
    return client


def roles_for(site: Site, rule: Rule) -> list[str]:
    if site.is_account(rule) or site.is_staff(rule):
        return [site.acting_role(rule)]
    return ["anonymous", "owner"]


def fetch(client: Any, url: str) -> tuple[int, str]:
    """GET ``url`` to its end (a streamed export must not stay open): its status and, for a page, its HTML."""
    response = client.get(url)
    body = response.get_data(as_text=True) if "html" in (response.content_type or "") else ""
    response.close()
    return response.status_code, body


def find_form(site: Site, client: Any, rule: Rule, url: str, values: dict[str, Any]) -> Form | None:
    """The form posting to ``url``: on the route's own page, or on a page about the same objects."""
    wanted = urlsplit(url).path
    candidates = [url] if "GET" in methods(rule) else []
    for other in site.rules():
        if "GET" in methods(other) and other.arguments and set(other.arguments) <= set(values):
            candidates.append(path(other, values))
    for page in candidates:
        status, html = fetch(client, page)
        if status != 200:
            continue
        for form in forms_of(page, html):
            if form.method == "POST" and urlsplit(form.action).path == wanted:
                return form
    return None


def post_target(site: Site, rule: Rule, role: str, client: Any, url: str, form: Form | None,
                elsewhere: list[Form]) -> Target:
    """A POST target: the values of ``form`` (this object's own), else the names of a form found
    for another object and ``route_wide.FORM_DATA``. A radio group, checkbox group or button the
    page leaves unset takes its first value, as a person clicking through would."""
    baseline: MultiDict[str, str] = MultiDict(FORM_DATA.get(rule.endpoint, {}))
    choices: dict[str, list[str]] = defaultdict(list)
    files: set[str] = set()
    for found in ([form] if form else []) + elsewhere[:1]:
        for name, offered in found.choices.items():
            choices[name].extend(offered)
        files |= found.files
    if form is not None:
        for name in form.values:
            baseline.setlist(name, form.values.getlist(name))
    elif elsewhere:
        for name in elsewhere[0].values:
            if name not in baseline:
                baseline.setlist(name, elsewhere[0].values.getlist(name))
    for name, offered in choices.items():
        if name not in baseline and offered:
            baseline[name] = offered[0]
    baseline.pop("csrf_token", None)
    return Target(
        site, rule, "POST", role, url, baseline, [], sorted(files), dict(choices),
        form_page=form.page if form else None, client=client, hidden=bool(form and form.hidden),
    )


def discover(site: Site) -> tuple[list[Target], dict[str, int]]:
    """Every target of ``site`` and the status each route's first request with its page's values got.

    A POST that redirects to a page with a form of its own (the wizard's next step) adds that
    form's target too, so every step of a multi-page form is reached."""
    record_reads(site)
    seen_forms: dict[str, list[Form]] = defaultdict(list)  # endpoint -> forms found anywhere
    adapter = site.app.url_map.bind("localhost")
    first_status: dict[str, int] = {}

    def note(endpoint: str, status: int) -> None:
        first_status[endpoint] = min(first_status.get(endpoint, 999), status)

    def endpoint_of(url: str, method: str) -> str | None:
        try:
            return str(adapter.match(urlsplit(url).path, method=method)[0])
        except Exception:  # a form or redirect pointing elsewhere (another site, a removed route)
            return None

    rules = [r for r in site.rules() if r.endpoint not in ALLOW_LIST and "static" not in r.endpoint]
    by_endpoint = {r.endpoint: r for r in rules}
    get_targets: list[Target] = []
    for rule in rules:
        if "GET" not in methods(rule):
            continue
        for role in roles_for(site, rule):
            client = client_as(site, role)
            url = path(rule, site.values(rule))
            status, html = fetch(client, url)
            note(rule.endpoint, status)
            for form in forms_of(url, html):
                if endpoint := endpoint_of(form.action, form.method):
                    seen_forms[endpoint].append(form)
            get_targets.append(Target(site, rule, "GET", role, url, MultiDict(), [], [], {}, client=client))
    post_targets: list[Target] = []
    posted: set[tuple[str, str]] = set()
    for rule in rules:
        if "POST" not in methods(rule):
            continue
        for role in roles_for(site, rule):
            client = client_as(site, role)
            values = site.values(rule)
            url = path(rule, values)
            pending = [(rule, url, find_form(site, client, rule, url, values))]
            while pending:  # this form, then the forms its answers lead to
                current, url, form = pending.pop(0)
                if (role, urlsplit(url).path) in posted:
                    continue
                posted.add((role, urlsplit(url).path))
                target = post_target(site, current, role, client, url, form, seen_forms[current.endpoint])
                post_targets.append(target)
                response = send(target, MultiDict())
                note(current.endpoint, response.status_code)
                location = response.headers.get("Location") if response.status_code in (302, 303) else None
                if not location or len(posted) > 200:
                    continue
                status, html = fetch(client, location)
                landed = endpoint_of(location, "GET")
                targeted = {(t.role, t.rule.endpoint) for t in post_targets}
                for next_form in forms_of(urlsplit(location).path, html) if status == 200 else []:
                    endpoint = endpoint_of(next_form.action, "POST") if next_form.method == "POST" else None
                    if endpoint not in by_endpoint or (role, urlsplit(next_form.action).path) in posted:
                        continue
                    # A route not reached yet, or the next page of this same form (a wizard step):
                    # not the same route for every other row of a list the answer lands on.
                    if (role, endpoint) not in targeted or endpoint == landed == current.endpoint:
                        pending.append((by_endpoint[endpoint], urlsplit(next_form.action).path, next_form))
                        targeted.add((role, endpoint))
    for target in get_targets + post_targets:
        names = set(READS.get(target.rule.endpoint, ())) | set(QUERY_PARAMS.get(target.rule.endpoint, ()))
        names |= set(target.baseline) | set(target.choices)
        if target.method == "GET":  # the page's own filter forms (method="get") name its query parameters
            for form in seen_forms.get(target.rule.endpoint, []):
                if form.method == "GET":
                    names |= form.names
                    for name, offered in form.choices.items():
                        target.choices.setdefault(name, []).extend(offered)
        target.params = sorted(names - {"csrf_token"} - set(target.files))
    ordered = sorted(get_targets + post_targets, key=lambda t: (t.rule.endpoint in RUN_LAST, t.rule.rule))
    return ordered, first_status


def send(target: Target, fuzzed: MultiDict[str, Any], dropped: frozenset[str] = frozenset()) -> Any:
    """One request of ``target`` with ``fuzzed`` in place of the page's values (``dropped`` left out)."""
    client = target.client
    for _attempt in range(2):  # again with a new token when signing in or out replaced the session
        if target.method == "GET":
            response = client.get(target.url, query_string=fuzzed)
        else:
            data: MultiDict[str, Any] = MultiDict()
            for name in target.baseline:
                if name not in fuzzed and name not in dropped:
                    data.setlist(name, target.baseline.getlist(name))
            for name, value in fuzzed.items(multi=True):
                if isinstance(value, tuple):  # a file: a fresh stream each time it is sent
                    value = (io.BytesIO(value[0]), value[1])
                data.add(name, value)
            if target.token is None:
                target.token = target.site.token(client)
            data["csrf_token"] = target.token
            multipart = any(isinstance(v, tuple) for v in data.values())
            response = client.post(
                target.url, data=data, content_type="multipart/form-data" if multipart else None
            )
        body = response.get_data()  # a streamed body runs to its end
        response.close()
        if response.status_code != 400 or b"CSRF" not in body or target.token is None:
            return response
        target.token = None
    return response


def refresh(target: Target) -> None:
    """After a change of state: the page's hidden values again (a new version number, say)."""
    if target.form_page is None or not target.hidden:
        return
    status, html = fetch(target.client, target.form_page)
    if status != 200:
        return
    for form in forms_of(target.form_page, html):
        if form.method == "POST" and urlsplit(form.action).path == urlsplit(target.url).path:
            for name in form.values:
                if name != "csrf_token":
                    target.baseline.setlist(name, form.values.getlist(name))
            return


# --- watching the log -----------------------------------------------------------------------------


class ExceptionLog(logging.Handler):
    """Every record logged with an exception attached (or at ERROR and above), from any logger."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info or record.levelno >= logging.ERROR:
            self.records.append(record)


@pytest.fixture
def exception_log() -> Iterator[ExceptionLog]:
    handler = ExceptionLog()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    """Failed sign-ins from the fuzzed sign-in form must not lock out the clients of later routes."""
    unlimited = "1000000 per hour"
    return {**app_config, "SIGN_IN_LIMIT_PER_ADDRESS": unlimited, "SIGN_IN_LIMIT_PER_ACCOUNT": unlimited}


# --- the fuzzing ---------------------------------------------------------------------------------


def profile(examples: int) -> settings:
    return settings(
        max_examples=examples,
        derandomize=in_ci(),
        database=None if in_ci() else settings.default.database,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )


def fuzz(target: Target, examples: int, counter: list[int]) -> None:
    """``examples`` hostile requests of ``target``; fails on a 500 with the parameters that caused it."""
    params, files = target.params, target.files

    def value(name: str) -> st.SearchStrategy[Any]:
        if name in files:
            return hostile_file
        offered = target.choices.get(name) or []
        one = st.one_of(hostile_text, st.sampled_from(offered)) if offered else hostile_text
        return st.one_of(one, st.lists(one, min_size=2, max_size=4))  # several where one is expected

    @profile(examples)
    @given(st.data())
    def run(data: st.DataObject) -> None:
        names = params + files
        chosen = data.draw(st.lists(st.sampled_from(names), min_size=1, max_size=4, unique=True))
        fuzzed: MultiDict[str, Any] = MultiDict()
        for name in chosen:
            drawn = data.draw(value(name), label=name)
            for one in drawn if isinstance(drawn, list) else [drawn]:
                fuzzed.add(name, (one[0], one[1] or "upload.bin") if name in files else one)
        dropped = frozenset(data.draw(st.sets(st.sampled_from(sorted(target.baseline) or [""]), max_size=2)))
        shown = {k: [str(v)[:80] for v in fuzzed.getlist(k)] for k in fuzzed}
        try:
            response = send(target, fuzzed, dropped)
        except Exception as exc:  # TESTING re-raises what would be a 500
            raise AssertionError(f"{target.name}: 500 ({type(exc).__name__}: {exc}) with {shown}") from exc
        counter[0] += 1
        assert response.status_code < 500, f"{target.name}: {response.status_code} with {shown}"
        if target.method == "POST" and response.status_code in (302, 303):
            refresh(target)

    run()


def test_every_form_and_query_parameter_survives_hostile_values(
    example_site: Site, host_site: Site, exception_log: ExceptionLog
) -> None:
    started = time.perf_counter()
    targets: list[Target] = []
    baseline_problems: list[str] = []
    for site in (example_site, host_site):
        found, first_status = discover(site)
        targets += found
        for endpoint, status in sorted(first_status.items()):
            if status >= 400 and not READS.get(endpoint) and endpoint not in REFUSED_BASELINE:
                baseline_problems.append(f"{site.name}: {endpoint} answered {status} to its page's values")
    assert not baseline_problems, (
        "\n".join(baseline_problems) + "\n(the view must run to be fuzzed: give it values in "
        "route_wide.FORM_DATA / OWNED, or list it in REFUSED_BASELINE with the reason)"
    )
    fuzzed = [t for t in targets if t.params or t.files]
    if os.environ.get("OME_FUZZ_LIST"):
        for t in targets:
            print(t.name, t.params, t.files, t.form_page)
    per_target = math.ceil(TOTAL_EXAMPLES / len(fuzzed))
    counter = [0]
    timings = []
    for target in fuzzed:
        began = time.perf_counter()
        fuzz(target, per_target, counter)
        timings.append((time.perf_counter() - began, target.name))
    if os.environ.get("OME_FUZZ_LIST"):
        for spent, name in sorted(timings, reverse=True)[:25]:
            print(f"{spent:6.1f} s  {name}")
    elapsed = time.perf_counter() - started
    print(
        f"\nfuzzed {len(fuzzed)} routes x methods x roles ({len(targets) - len(fuzzed)} read nothing), "
        f"{counter[0]} examples in {elapsed:.0f} s"
    )
    assert counter[0] >= TOTAL_EXAMPLES
    logged = [f"{r.name}: {r.getMessage()[:200]}" for r in exception_log.records]
    assert not logged, "exceptions in the app log:\n" + "\n".join(logged)
