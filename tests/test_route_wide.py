"""Route-wide checks, generated from ``app.url_map`` (issue 7): nobody has to remember a new route.

Every rule of the example site, and every rule of ours on the package's own test host
(tests/privacy_host.py), is walked as anonymous, as a signed-in person ("owner"), as another
person ("other") and as staff:

* every POST without a valid CSRF token is refused (400);
* every route under the account prefixes sends anonymous visitors to sign-in; every staff
  route does too, and answers 403 to a signed-in person who is not staff;
* every route that takes a reference or an id answers 404 for another person's;
* every page under the account and staff prefixes (and the site's own ``/account``) sends
  ``Cache-Control: no-store``; every response carries the security headers of item 7;
* no route answers 500 to hostile values (newlines, 2**64, negative numbers, 10,000
  characters, ``../``, NUL) in any of its parameters.

How a new route is covered: its path parameters are recognised by name. A parameter that
names something of one person's (``reference``, ``*_id``, any ``int``) needs a factory in
``OWNED`` that makes one for a given person; any other parameter needs a value in
``PUBLIC``; query and form parameters a view reads are listed in ``QUERY_PARAMS``. A rule the
walker cannot check goes into ``ALLOW_LIST`` with the reason. ``test_every_route_is_checked_or_listed``
fails when a route is neither.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from flask import Flask
from helpers import DEMO_PASSWORD, LOGIN_URL, extract_csrf_token
from privacy_host import NEWSLETTER, ChirpSource, MakeHost, NotesSource, SurveySource
from werkzeug.routing import IntegerConverter, Rule

from flask_ome_privacy import N_, drafts, execution, jobs, mail, notify, privacy_requests
from flask_ome_privacy.config import DEFAULT_CONFIG, config_value
from flask_ome_privacy.decisions import ItemDecision, Verdict
from flask_ome_privacy.extension import get_state
from flask_ome_privacy.lifecycle import Status
from flask_ome_privacy.models import ExecutionReceipt, RequestMessage, SnsWithdrawal
from flask_ome_privacy.request_decisions import find_request, release, save_decision
from flask_ome_privacy.withdrawal import new_reference

ROLES = ("anonymous", "owner", "other", "staff")
HOSTILE = (
    "\n",
    "/x\r\nSet-Cookie: injected=1",
    str(2**64),
    str(2**31),  # one past a 32-bit INTEGER id
    "-1",
    "x" * 10_000,
    "../../../etc/passwd",
    "a\x00b",
)
#: Checked as they are; the CSP only for ``frame-ancestors 'none'`` (a host may widen the rest).
HEADERS = {k: v for k, v in DEFAULT_CONFIG["SECURITY_HEADERS"].items() if k != "Content-Security-Policy"}


# --- how to make parameter values ----------------------------------------------------------------


def _receipt_for(site: Site, user_id: str) -> dict[str, Any]:
    with site.app.app_context():
        receipt = SnsWithdrawal(
            reference=new_reference(),
            user_id=user_id,
            source_key=site.sns_key,
            provider="Test",
            erased=[],
            summary="",
        )
        site.session.add(receipt)
        site.session.commit()
        return {"reference": receipt.reference}


def _notification_for(site: Site, user_id: str) -> dict[str, Any]:
    with site.app.app_context():
        notification = notify.add(site.session, user_id, "test", N_("Notice number %(n)s"), params={"n": 1})
        site.session.commit()
        return {"notification_id": notification.id}


def _draft_for(site: Site, user_id: str) -> dict[str, Any]:
    with site.app.app_context():
        draft = drafts.new_draft(site.session, user_id, {"kinds": ["delete"]})
        site.session.commit()
        return {"draft_id": draft.token, "step": "check"}


def _submitted_request_for(site: Site, user_id: str) -> dict[str, Any]:
    with site.app.app_context():
        request = privacy_requests.submit(get_state(site.app), user_id=user_id, kind="delete")
        site.session.commit()
        return {"reference": request.reference}


def _request_for(site: Site, user_id: str) -> dict[str, Any]:
    with site.app.app_context():
        request = privacy_requests.submit(get_state(site.app), user_id=user_id, kind="correct")
        site.session.commit()
        return {"reference": request.reference}


def _request_with_notice_for(site: Site, user_id: str) -> dict[str, Any]:
    """A request waiting for its requester with a deficiency notice, as the desk leaves one."""
    with site.app.app_context():
        request = privacy_requests.submit(get_state(site.app), user_id=user_id, kind="correct")
        for status in (Status.IDENTITY_REVIEW, Status.AWAITING_REQUESTER):
            privacy_requests.move(site.session, request, status, actor_id=None, actor_role="staff")
        site.session.add(
            RequestMessage(
                request_id=request.id, author="staff", kind="deficiency", body="", items=["person_identity"]
            )
        )
        site.session.commit()
        return {"reference": request.reference}


def _staff_request_for(site: Site, user_id: str) -> dict[str, Any]:
    """A request of ``user_id``'s under identity review, with one stored document (a PNG)."""
    import io

    from PIL import Image

    from flask_ome_privacy import documents, privacy_requests
    from flask_ome_privacy.lifecycle import Status

    out = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 20, 30)).save(out, "PNG")
    with site.app.app_context():
        state = get_state(site.app)
        request = privacy_requests.submit(state, user_id=user_id, kind="disclose")
        stored = documents.store(
            site.session,
            request.id,
            "person_identity",
            "drivers_licence",
            documents.check_upload(out.getvalue()),
        )
        privacy_requests.move(
            site.session, request, Status.IDENTITY_REVIEW, actor_id=None, actor_role="system"
        )
        site.session.commit()
        return {"reference": request.reference, "document_id": stored.id}


STAFF_REQUEST_ENDPOINTS = (
    "request",
    "document",
    "masked_copy",
    "start_identity_review",
    "identity_checks",
    "verify_identity",
    "fee",
    "deficiency",
    "note",
)


def _open_request_for(site: Site, user_id: str) -> dict[str, Any]:
    """An open rights request filed by ``user_id`` (staff routes act on it)."""
    from flask_ome_privacy import privacy_requests

    with site.app.app_context():
        made = privacy_requests.submit(get_state(site.app), user_id=user_id, kind="disclose")
        site.session.commit()
        return {"reference": made.reference}


def _decided_request_for(site: Site, user_id: str) -> dict[str, Any]:
    """A disclosure of one source, decided (granted), with one open manual task: the decision routes."""
    with site.app.app_context():
        state = get_state(site.app)
        source = next(iter(site.privacy.sources)).key
        request = privacy_requests.submit(state, user_id=user_id, kind="disclose", scope={"items": [source]})
        for status in (Status.IDENTITY_REVIEW, Status.UNDER_REVIEW):
            privacy_requests.move(state.session, request, status, actor_id="staff", actor_role="staff")
        request.identity_verified_at = request.received_at
        save_decision(state, request, [ItemDecision(source, verdict=Verdict.GRANTED)], staff_id="staff")
        receipt = ExecutionReceipt(target="processor:Test", action="collect", status="manual", checklist=[])
        request.receipts.append(receipt)
        state.session.commit()
        return {"reference": request.reference, "receipt_id": receipt.id}


def _released_disclosure_for(site: Site, user_id: str) -> dict[str, Any]:
    """A disclosure of one source, granted, carried out and released: its package downloads."""
    with site.app.app_context():
        state = get_state(site.app)
        source = next(iter(site.privacy.sources)).key
        request = privacy_requests.submit(state, user_id=user_id, kind="disclose", scope={"items": [source]})
        request.disclosure_method = "electronic"
        for status in (Status.IDENTITY_REVIEW, Status.UNDER_REVIEW):
            privacy_requests.move(state.session, request, status, actor_id="staff", actor_role="staff")
        request.identity_verified_at = request.received_at
        request.fee_status = "waived"
        save_decision(state, request, [ItemDecision(source, verdict=Verdict.GRANTED)], staff_id="staff")
        execution.start(state, request, staff_id="staff", language="en")
        reference = request.reference
        state.session.commit()  # the inline execution job runs after this commit
        release(state, find_request(state.session, reference), staff_id="staff")
        state.session.commit()
        return {"reference": reference}


def _failed_job_for(site: Site, user_id: str) -> dict[str, Any]:
    """A request of ``user_id``'s whose receipt mail job failed (recorded as the job layer does)."""
    with site.app.app_context():
        request = privacy_requests.submit(get_state(site.app), user_id=user_id, kind="correct")
        arguments = {
            "request_id": request.id,
            "message_key": "request_received",
            "language": config_value("LANGUAGES", site.app)[0],
        }
        failure = jobs.record_failure(
            site.session, mail.SEND_TASK, arguments, attempts=1, error_type="ConnectionRefusedError"
        )
        site.session.commit()
        return {"reference": request.reference, "job_id": failure.id}


DECISION_ENDPOINTS = (
    "decide",
    "approve_decision",
    "send_back",
    "execute",
    "retry_execution",
    "manual_task_done",
    "disclosure_print",
    "disclosure_mailed",
    "release_notice",
)

#: Endpoint -> ``factory(site, user_id)``: path values naming something that belongs to that person.
#: Add one for every new route that takes a person's reference or id (requests, documents, ...).
OWNED: dict[str, Callable[[Site, str], dict[str, Any]]] = {
    "ome_privacy_account.sns_receipt": _receipt_for,
    "ome_privacy_account.notification_read": _notification_for,
    "ome_privacy_account.new_request_step": _draft_for,
    "ome_privacy_account.new_request_done": _submitted_request_for,
    "ome_privacy_account.request_detail": _request_for,
    "ome_privacy_account.request_withdraw": _request_for,
    "ome_privacy_account.request_answer": _request_with_notice_for,
    "ome_privacy_account.request_package": _released_disclosure_for,
    **{f"ome_privacy_staff.{name}": _staff_request_for for name in STAFF_REQUEST_ENDPOINTS},
    "ome_privacy_staff.claim": _open_request_for,
    "ome_privacy_staff.assign": _open_request_for,
    "ome_privacy_staff.release": _open_request_for,
    **{f"ome_privacy_staff.{name}": _decided_request_for for name in DECISION_ENDPOINTS},
    "ome_privacy_staff.retry_job": _failed_job_for,
}


def _source_key(site: Site, endpoint: str) -> str:
    return site.sns_key if ".sns" in endpoint else next(iter(site.privacy.sources)).key


#: Parameter name -> ``value(site, endpoint)`` for parameters that name nothing personal.
PUBLIC: dict[str, Callable[[Site, str], Any]] = {
    "source_key": _source_key,
    "purpose_key": lambda site, endpoint: site.privacy.purposes.consent_asks()[0].key,
    "step": lambda site, endpoint: "check",
    "filename": lambda site, endpoint: "privacy.css" if endpoint.startswith("ome_privacy") else "site.css",
}

#: Query-string or form parameters a view reads, which the hostile values are sent in too.
QUERY_PARAMS: dict[str, tuple[str, ...]] = {
    "auth.login": ("next",),
    "auth.facebook_demo": ("next", "email"),
    "site.set_language": ("next", "lang"),
    "ome_privacy_staff.queue": (
        "status",
        "kind",
        "overdue",
        "assignee",
        "mine",
        "unassigned",
        "ref",
        "sort",
        "after",
        "before",
    ),
    "ome_privacy_staff.claim": ("version",),
    "ome_privacy_staff.assign": ("version", "assignee"),
    "ome_privacy_staff.release": ("version",),
    "ome_privacy_staff.register_mailed": (
        "q",
        "account",
        "user_id",
        "postal_name",
        "postal_address",
        "kind",
        "requester",
        "received_on",
        "details",
        "originals",
        "scan_1_role",
        "scan_1_type",
    ),
    "ome_privacy_staff.audit": ("reference", "actor", "action", "since", "until", "before", "after"),
    "ome_privacy_staff.audit_csv": ("reference", "actor", "action", "since", "until"),
    "ome_privacy_staff.report": ("since", "until"),
    "ome_privacy_staff.report_csv": ("since", "until"),
    "ome_privacy_account.notifications": ("page",),
    "ome_privacy_account.notification_read": ("page",),
    "ome_privacy_account.notifications_read_all": ("page",),
    "ome_privacy_account.new_request": ("kind", "source", "field", "kinds"),
    "ome_privacy_account.new_request_step": ("action", "fields", "value-profile:email"),
    "ome_privacy_account.request_answer": ("message", "corrected", "doc_type-person_identity"),


    "ome_privacy_staff.identity_checks": ("version", "check"),
    "ome_privacy_staff.verify_identity": ("version", "method"),
    "ome_privacy_staff.fee": ("version", "outcome", "received_on", "amount", "method", "reason"),
    "ome_privacy_staff.deficiency": ("version", "item", "text"),
    "ome_privacy_staff.note": ("body",),
    "ome_privacy_staff.decide": (
        "version",
        "item-0-verdict",
        "item-0-ground",
        "item-0-reason",
        "item-0-substitute",
    ),
    **{
        f"ome_privacy_staff.{name}": ("version",)
        for name in ("approve_decision", "execute", "retry_execution", "release_notice")
    },
    "ome_privacy_staff.manual_task_done": ("version", "note"),
    "ome_privacy_staff.send_back": ("version", "reason"),
    "ome_privacy_staff.disclosure_mailed": ("version", "mailed_on"),
}

#: Form data that makes a POST valid apart from the parameter under test, so the hostile
#: value reaches the code that uses it (``next`` matters only after a successful sign-in).
FORM_DATA: dict[str, dict[str, str]] = {
    "auth.login": {"email": "alice@example.com", "password": DEMO_PASSWORD},
    "auth.facebook_demo": {"email": "alice@example.com"},
    "ome_privacy_staff.claim": {"version": "1"},
    "ome_privacy_staff.assign": {"version": "1", "assignee": "1"},
    "ome_privacy_staff.release": {"version": "1"},
    "ome_privacy_staff.register_mailed": {
        "account": "none",
        "postal_name": "Test Name",
        "postal_address": "1-1 Test",
        "kind": "erase",
        "requester": "self",
        "received_on": "2026-11-20",
        "originals": "none",
    },
    # The version a fresh decided request has (submitted, two moves, the decision's move).
    **{f"ome_privacy_staff.{name}": {"version": "4"} for name in DECISION_ENDPOINTS},
    "ome_privacy_staff.decide": {"version": "4", "item-0-verdict": "granted"},
    "ome_privacy_staff.manual_task_done": {"version": "4", "note": "Done."},
    "ome_privacy_staff.send_back": {"version": "4", "reason": "The approver disagrees."},
    "ome_privacy_staff.disclosure_mailed": {"version": "4", "mailed_on": "2026-11-20"},
}

#: Rules the walker cannot check, with the reason. Keep it short; every entry must still exist.
ALLOW_LIST: dict[str, str] = {}


def is_owned(rule: Rule, name: str) -> bool:
    """Does this path parameter name something of one person's?"""
    return name == "reference" or name.endswith("_id") or isinstance(rule._converters[name], IntegerConverter)


# --- the sites ------------------------------------------------------------------------------------


@dataclass
class Site:
    """One app as the walker sees it: its rules, its people and their signed-in clients."""

    name: str
    app: Flask
    login_path: str
    #: Role -> what ``sign_in`` takes (an email, a member id).
    logins: dict[str, str]
    #: Role -> the person's id as the package stores it (``get_id()``), for ``OWNED`` factories.
    user_ids: dict[str, str]
    sign_in: Callable[[Any, str], None]
    token_page: str
    account_prefixes: tuple[str, ...]
    ours: Callable[[Rule], bool]
    #: Every response of this app must carry the headers (else: only those of our pages).
    headers_everywhere: bool
    _clients: dict[str, Any] = field(default_factory=dict)

    @property
    def privacy(self) -> Any:
        return get_state(self.app).extension

    @property
    def session(self) -> Any:
        return get_state(self.app).session

    @property
    def sns_key(self) -> str:
        with self.app.app_context():
            return self.privacy.sources.sns()[0].key

    @property
    def staff_prefix(self) -> str:
        return self.app.config["OME_PRIVACY_STAFF_URL_PREFIX"]

    def client(self, role: str) -> Any:
        if role not in self._clients:
            client = self.app.test_client()
            if role != "anonymous":
                self.sign_in(client, self.logins[role])
            self._clients[role] = client
        return self._clients[role]

    def token(self, client: Any) -> str:
        text = client.get(self.token_page).get_data(as_text=True)
        return text.strip() if "<" not in text else extract_csrf_token(text)  # the host's is bare

    def rules(self) -> list[Rule]:
        return sorted((r for r in self.app.url_map.iter_rules() if self.ours(r)), key=lambda r: r.rule)

    def under(self, rule: Rule, prefix: str) -> bool:
        prefix = prefix.rstrip("/")
        return rule.rule == prefix or rule.rule.startswith(prefix + "/")

    def is_account(self, rule: Rule) -> bool:
        return any(self.under(rule, prefix) for prefix in self.account_prefixes)

    def is_staff(self, rule: Rule) -> bool:
        return self.under(rule, self.staff_prefix)

    def acting_role(self, rule: Rule) -> str:
        """Who can use the rule: staff for staff routes, the owner for the rest."""
        return "staff" if self.is_staff(rule) else "owner"

    def values(self, rule: Rule, owner: str | None = None) -> dict[str, Any]:
        """Path values that exist, the owned ones belonging to ``owner`` (default: the acting role)."""
        values: dict[str, Any] = {}
        if any(is_owned(rule, name) for name in rule.arguments):
            values.update(OWNED[rule.endpoint](self, self.user_ids[owner or self.acting_role(rule)]))
        with self.app.app_context():
            for name in rule.arguments:
                if name not in values:
                    values[name] = PUBLIC[name](self, rule.endpoint)
        return values


def path(rule: Rule, values: dict[str, Any]) -> str:
    """The rule's path with ``values`` (quoted) in place of its parameters, whatever their converter."""
    return re.sub(r"<(?:[^<>:]+:)?(\w+)>", lambda m: quote(str(values[m.group(1)]), safe=""), rule.rule)


def methods(rule: Rule) -> list[str]:
    return sorted(m for m in rule.methods or () if m not in ("HEAD", "OPTIONS"))


def example_sign_in(client: Any, email: str) -> None:
    token = extract_csrf_token(client.get(LOGIN_URL).get_data(as_text=True))
    response = client.post(LOGIN_URL, data={"email": email, "password": DEMO_PASSWORD, "csrf_token": token})
    assert response.status_code in (302, 303), f"signing in as {email}: {response.status_code}"


def host_sign_in(client: Any, member_id: str) -> None:
    assert client.get(f"/_test/sign-in/{member_id}").status_code == 200


@pytest.fixture
def example_site(seeded_app: Flask) -> Site:
    import sqlalchemy as sa

    from example_app.models import User, db

    logins = {"owner": "alice@example.com", "other": "bob@example.com", "staff": "staff@example.com"}
    with seeded_app.app_context():
        ids = dict(db.session.execute(sa.select(User.email, User.id)).all())
    return Site(
        name="example site",
        app=seeded_app,
        login_path=LOGIN_URL,
        logins=logins,
        user_ids={role: str(ids[email]) for role, email in logins.items()},
        sign_in=example_sign_in,
        token_page="/",
        account_prefixes=(seeded_app.config["OME_PRIVACY_ACCOUNT_URL_PREFIX"], "/account"),
        ours=lambda rule: True,
        headers_everywhere=True,
    )


@pytest.fixture
def host_site(make_host: MakeHost, document_key: str) -> Site:
    host = make_host(
        OME_PRIVACY_DOCUMENT_KEYS=document_key,
        sources=[NotesSource(), ChirpSource(), SurveySource()],
        login_view="sign_in_page",
        members=["1", "2"],
        OME_PRIVACY_PURPOSES=[NEWSLETTER],
    )
    host.add_member(id="s", staff=True)
    for member in ("1", "2"):
        host.link_sns(member, "chirp", [("handle", f"@{member}")])
        host.add_answers(member, 2, prefix=member)
    return Site(
        name="test host",
        app=host.app,
        login_path="/sign-in",
        logins={"owner": "1", "other": "2", "staff": "s"},
        user_ids={"owner": "1", "other": "2", "staff": "s"},
        sign_in=host_sign_in,
        token_page="/_test/csrf",
        account_prefixes=(host.app.config["OME_PRIVACY_ACCOUNT_URL_PREFIX"],),
        ours=lambda rule: rule.endpoint.startswith("ome_privacy"),
        headers_everywhere=False,
    )


@pytest.fixture(params=["example", "host"])
def site(request: pytest.FixtureRequest) -> Site:
    return request.getfixturevalue("example_site" if request.param == "example" else "host_site")


# --- helpers -------------------------------------------------------------------------------------------


def request(site: Site, role: str, method: str, url: str, *, csrf: bool = True, **kwargs: Any) -> Any:
    """One request as ``role``; POSTs carry the client's CSRF token unless ``csrf=False``.

    Checks what every response must show: never a 500, and the security headers.
    """
    client = site.client(role) if role != "anonymous" else site.app.test_client()
    if method == "POST":
        data = dict(kwargs.pop("data", {}) or {})
        if csrf:
            data.setdefault("csrf_token", site.token(client))
        kwargs["data"] = data
    sent = kwargs.get("query_string") or kwargs.get("data", {})
    params = {k: v for k, v in sent.items() if k != "csrf_token"}
    where = f"{site.name}: {method} {url[:100]!r} {str(params)[:100]} as {role}"
    try:
        response = client.open(url, method=method, **kwargs)
        response.get_data()  # a streamed body runs to its end, in this request's context
        response.close()
    except Exception as exc:  # TESTING re-raises what would be a 500: say which request it was
        raise AssertionError(f"{where}: 500 ({type(exc).__name__}: {exc})") from exc
    assert response.status_code < 500, f"{where}: {response.status_code}"
    return response


def assert_headers(site: Site, response: Any, where: str) -> None:
    for name, value in HEADERS.items():
        sent = response.headers.get(name)
        assert sent == value, f"{site.name}: {where}: {name} is {sent!r}"
    csp = response.headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in csp, f"{site.name}: {where}: CSP {csp!r}"


def sent_to_sign_in(site: Site, response: Any) -> bool:
    if response.status_code not in (302, 303):
        return False
    return urlsplit(response.headers["Location"]).path == site.login_path


# --- the completeness check ----------------------------------------------------------------------------


def test_every_route_is_checked_or_listed(site: Site) -> None:
    unknown = []
    for rule in site.rules():
        if rule.endpoint in ALLOW_LIST:
            continue
        for name in rule.arguments:
            if is_owned(rule, name) and rule.endpoint not in OWNED:
                unknown.append(f"{rule.rule}: <{name}> names something personal; add a factory to OWNED")
            elif not is_owned(rule, name) and name not in PUBLIC:
                unknown.append(f"{rule.rule}: <{name}> has no value in PUBLIC")
        extra = set(methods(rule)) - {"GET", "POST"}
        if extra:
            unknown.append(f"{rule.rule}: methods {sorted(extra)} are not walked")
    assert not unknown, "\n".join(unknown) + "\n(or list the endpoint in ALLOW_LIST with the reason)"


def test_no_two_routes_answer_the_same_url_and_method(site: Site) -> None:
    """Two pages of ours on one URL: the first registered wins and the other is unreachable
    (the staff queue's "release" once hid the decision's "release the notice")."""
    seen: dict[tuple[str, str], str] = {}
    clashes = []
    for rule in site.rules():
        for method in methods(rule):
            key = (rule.rule, method)
            if key in seen and seen[key] != rule.endpoint:
                clashes.append(f"{method} {rule.rule}: {seen[key]} and {rule.endpoint}")
            seen.setdefault(key, rule.endpoint)
    assert not clashes, clashes


def test_the_registries_name_only_routes_that_exist(example_site: Site, host_site: Site) -> None:
    endpoints = {rule.endpoint for site in (example_site, host_site) for rule in site.rules()}
    for registry in (OWNED, ALLOW_LIST):  # the site's own entries may go with its routes
        assert set(registry) <= endpoints, sorted(set(registry) - endpoints)


# --- CSRF ------------------------------------------------------------------------------------------------


def test_every_post_without_a_valid_csrf_token_is_refused(site: Site) -> None:
    problems = []
    for rule in site.rules():
        if "POST" not in methods(rule) or rule.endpoint in ALLOW_LIST:
            continue
        role = site.acting_role(rule)
        roles = [role] if site.is_account(rule) or site.is_staff(rule) else ["anonymous", role]
        for who in roles:
            for token in (None, "forged-token"):
                data = {**FORM_DATA.get(rule.endpoint, {})}
                if token:
                    data["csrf_token"] = token
                url = path(rule, site.values(rule))
                response = request(site, who, "POST", url, csrf=False, data=data)
                if response.status_code != 400:
                    problems.append(f"POST {rule.rule} as {who}, token {token!r}: {response.status_code}")
    assert not problems, "\n".join(problems)


# --- who may open what --------------------------------------------------------------------------------


def test_account_routes_send_anonymous_visitors_to_sign_in(site: Site) -> None:
    problems = []
    for rule in site.rules():
        if not site.is_account(rule) or rule.endpoint in ALLOW_LIST:
            continue
        url = path(rule, site.values(rule))
        method = "GET" if "GET" in methods(rule) else "POST"
        response = request(site, "anonymous", method, url)
        if not sent_to_sign_in(site, response):
            problems.append(f"{method} {rule.rule} as anonymous: {response.status_code} {response.location}")
    assert not problems, "\n".join(problems)


def test_staff_routes_are_for_staff_only(site: Site) -> None:
    staff_rules = [r for r in site.rules() if site.is_staff(r) and r.endpoint not in ALLOW_LIST]
    assert staff_rules, "no staff route found: is the staff prefix right?"
    problems = []
    for rule in staff_rules:
        url = path(rule, site.values(rule))
        for method in methods(rule):
            anonymous = request(site, "anonymous", method, url)
            if not sent_to_sign_in(site, anonymous):
                problems.append(f"{method} {rule.rule} as anonymous: {anonymous.status_code}")
            for role in ("owner", "other"):
                response = request(site, role, method, url)
                if response.status_code != 403:
                    problems.append(f"{method} {rule.rule} as {role} (not staff): {response.status_code}")
            if method == "GET" and request(site, "staff", method, url).status_code != 200:
                problems.append(f"GET {rule.rule} as staff is not 200")
    assert not problems, "\n".join(problems)


def test_another_persons_reference_or_id_is_not_found(site: Site) -> None:
    owned_rules = [r for r in site.rules() if r.endpoint in OWNED and site.is_account(r)]
    assert owned_rules, "no route with a personal reference or id found"
    problems = []
    for rule in owned_rules:
        for method in methods(rule):
            theirs = path(rule, site.values(rule, owner="other"))
            response = request(site, "owner", method, theirs)
            if response.status_code != 404:
                problems.append(f"{method} {rule.rule} with another person's value: {response.status_code}")
            mine = request(site, "other", method, theirs)  # the same value works for its owner
            if mine.status_code not in (200, 303):
                problems.append(f"{method} {rule.rule} as its owner: {mine.status_code}")
    assert not problems, "\n".join(problems)


# --- caching and headers ---------------------------------------------------------------------------------


def test_personal_pages_are_not_stored_and_every_page_sends_the_security_headers(site: Site) -> None:
    problems = []
    for rule in site.rules():
        if "GET" not in methods(rule) or rule.endpoint in ALLOW_LIST:
            continue
        for role in ROLES:
            response = request(site, role, "GET", path(rule, site.values(rule)))
            try:
                assert_headers(site, response, f"GET {rule.rule} as {role}")
            except AssertionError as problem:
                problems.append(str(problem))
            personal = site.is_account(rule) or site.is_staff(rule)
            cache = response.headers.get("Cache-Control")
            if personal and response.status_code == 200 and cache != "no-store":
                problems.append(f"GET {rule.rule} as {role}: Cache-Control {cache!r}")
    assert not problems, "\n".join(problems)


def test_every_personal_page_is_reached_by_whoever_may_see_it(site: Site) -> None:
    """So the no-store check above really saw each page: it answers 200 to its acting role."""
    problems = []
    for rule in site.rules():
        if "GET" not in methods(rule) or not (site.is_account(rule) or site.is_staff(rule)):
            continue
        role = site.acting_role(rule)
        response = request(site, role, "GET", path(rule, site.values(rule)))
        if response.status_code != 200:
            problems.append(f"GET {rule.rule} as {role}: {response.status_code}")
        elif (cache := response.headers.get("Cache-Control")) != "no-store":
            problems.append(f"GET {rule.rule} as {role}: Cache-Control {cache!r}")
    assert not problems, "\n".join(problems)


# --- hostile values ------------------------------------------------------------------------------------


def hostile_requests(site: Site, rule: Rule) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    """(role, method, url, keyword arguments) for each hostile value in each parameter of ``rule``."""
    role = site.acting_role(rule)
    roles = [role] if site.is_account(rule) or site.is_staff(rule) else ["anonymous", role]
    good = site.values(rule)
    for method in methods(rule):
        for who in roles:
            for name in rule.arguments:
                for value in HOSTILE:
                    yield who, method, path(rule, {**good, name: value}), {}
            for name in QUERY_PARAMS.get(rule.endpoint, ()):
                for value in HOSTILE:
                    params = {**FORM_DATA.get(rule.endpoint, {}), name: value}
                    where = "data" if method == "POST" else "query_string"
                    yield who, method, path(rule, good), {where: params}


def hostile_problems(site: Site, rules: Iterable[Rule]) -> list[str]:
    """Each hostile request of each rule: 500s (caught by ``request``) and missing headers."""
    problems: list[str] = []
    for rule in rules:
        for role, method, url, kwargs in hostile_requests(site, rule):
            try:
                response = request(site, role, method, url, **kwargs)
                if site.headers_everywhere:
                    assert_headers(site, response, f"{method} {url[:80]!r} as {role}")
            except AssertionError as problem:
                problems.append(str(problem).splitlines()[0])
    return problems


def test_no_route_of_ours_answers_500_to_hostile_values(site: Site) -> None:
    rules = [r for r in site.rules() if r.endpoint.startswith("ome_privacy") and r.endpoint not in ALLOW_LIST]
    problems = hostile_problems(site, rules)
    assert not problems, "\n".join(problems)


def test_no_route_of_the_example_site_answers_500_to_hostile_values(example_site: Site) -> None:
    """The site's own ``next`` handling (/login, /lang) is the site's: issue 7, item 9."""
    rules = [r for r in example_site.rules() if not r.endpoint.startswith("ome_privacy")]
    rules = [r for r in rules if r.endpoint not in ALLOW_LIST]
    problems = hostile_problems(example_site, rules)
    assert not problems, "\n".join(problems)
