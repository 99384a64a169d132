"""Load (issue 10, "Reliability tests"): mixed requester and staff traffic against gunicorn, on PostgreSQL.

The example site runs the production way — gunicorn with several sync workers on a fresh
PostgreSQL database, started by ``bench/server.py``'s helpers — and for
``OME_TEST_LOAD_SECONDS`` (default 60) signed-in requesters read their privacy pages and
requests and file disclosure requests through the wizard (documents uploaded), while two
staff members read the queue and request pages and make whatever step is legal from what
they see (``test_reliability_races.legal_steps``). Loopback only, bounded in time and in
count; client timeouts are generous, so a loaded 2-core machine is slow but not wrong.

What must hold: zero connection errors, zero 5xx, no traceback in the server's log. The
p50/p95 per kind of request are printed (not asserted: timings depend on the machine).
"""

from __future__ import annotations

import http.client
import io
import os
import random
import re
import secrets
import statistics
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from helpers import DEMO_PASSWORD, extract_csrf_token, pg_admin_url
from test_reliability_races import STAFF, choose, legal_steps, look

from bench import server as bench
from flask_ome_privacy.lifecycle import CLOSED_STATUSES, RequestKind
from flask_ome_privacy.models import PrivacyRequest
from flask_ome_privacy.state import get_state, user_id_of

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

SECONDS = float(os.environ.get("OME_TEST_LOAD_SECONDS", "60"))
#: Upper bound on requests, whatever the duration (a runaway loop stops here).
MAX_REQUESTS = 50_000
GUNICORN_WORKERS = 3
REQUESTERS = 4
#: Filings per requester account stay under OME_PRIVACY_REQUEST_LIMIT_PER_HOUR (16).
MAX_FILINGS = 12
TIMEOUT = 60.0


def pdf_bytes() -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


# --- a browser over HTTP ---------------------------------------------------------------------------


@dataclass
class Stats:
    """Every answer, by kind of request; failures kept with what was asked."""

    timings: dict[str, list[float]] = field(default_factory=dict)
    statuses: dict[str, Counter[int]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    total: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, ms: float, status: int) -> None:
        with self.lock:
            self.total += 1
            self.timings.setdefault(kind, []).append(ms)
            self.statuses.setdefault(kind, Counter())[status] += 1

    def table(self) -> str:
        lines = [f"{'kind of request':<34} {'count':>6} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  statuses"]
        for kind in sorted(self.timings):
            values = sorted(self.timings[kind])
            p95 = values[min(len(values) - 1, int(len(values) * 0.95))]
            statuses = " ".join(f"{code}x{n}" for code, n in sorted(self.statuses[kind].items()))
            lines.append(
                f"{kind:<34} {len(values):>6} {statistics.median(values):>8.0f} {p95:>8.0f} "
                f"{values[-1]:>8.0f}  {statuses}"
            )
        return "\n".join(lines)


class Answer:
    def __init__(self, status: int, body: str, location: str | None) -> None:
        self.status, self.body, self.location = status, body, location


class Browser:
    """One person's browser: its own cookies, redirects not followed (the test follows them)."""

    def __init__(self, base: str, stats: Stats) -> None:
        self.base = base
        self.stats = stats
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(CookieJar()), bench.NoRedirect()
        )

    def call(self, kind: str, path: str, data: bytes | None = None, content_type: str = "") -> Answer | None:
        headers = {"Accept-Language": "en", "Referer": self.base + "/"}
        if content_type:
            headers["Content-Type"] = content_type
        request = urllib.request.Request(self.base + path, data=data, headers=headers)
        started = time.perf_counter()
        try:
            with self.opener.open(request, timeout=TIMEOUT) as response:
                answer = Answer(response.status, response.read().decode("utf-8", "replace"), None)
        except urllib.error.HTTPError as exc:  # 3xx (not followed), 4xx, 5xx
            answer = Answer(exc.code, exc.read().decode("utf-8", "replace"), exc.headers.get("Location"))
        except (urllib.error.URLError, ConnectionError, TimeoutError, http.client.HTTPException) as exc:
            with self.stats.lock:
                self.stats.errors.append(f"{kind} {path}: {type(exc).__name__}: {exc}")
            return None
        self.stats.add(kind, (time.perf_counter() - started) * 1000, answer.status)
        if answer.status >= 500:
            with self.stats.lock:
                self.stats.errors.append(f"{kind} {path}: {answer.status}")
        return answer

    def get(self, kind: str, path: str) -> Answer | None:
        return self.call(kind, path)

    def post(
        self, kind: str, path: str, form: dict[str, Any], files: dict[str, tuple[str, bytes]] | None = None
    ) -> Answer | None:
        if files:
            body, content_type = multipart(form, files)
            return self.call(kind, path, body, content_type)
        return self.call(
            kind, path, urllib.parse.urlencode(form, doseq=True).encode(), "application/x-www-form-urlencoded"
        )

    def expect(self, answer: Answer | None, *statuses: int) -> Answer | None:
        """The answer if its status is one of ``statuses``; else noted as unexpected (None)."""
        if answer is None or answer.status not in statuses:
            if answer is not None and answer.status < 500:
                with self.stats.lock:
                    self.stats.unexpected.append(f"{answer.status}: {answer.body[:200]}")
            return None
        return answer

    def sign_in(self, email: str) -> None:
        page = self.get("GET /login", "/login")
        assert page is not None and page.status == 200
        form = {"email": email, "password": DEMO_PASSWORD, "csrf_token": extract_csrf_token(page.body)}
        answer = self.post("POST /login", "/login", form)
        assert answer is not None and answer.status == 302, f"signing in as {email}"


def multipart(form: dict[str, Any], files: dict[str, tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = f"----ome{secrets.token_hex(8)}"
    out = io.BytesIO()
    for name, value in form.items():
        out.write(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        )
    for name, (filename, content) in files.items():
        out.write(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            "Content-Type: application/pdf\r\n\r\n".encode()
        )
        out.write(content + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


# --- who does what -----------------------------------------------------------------------------------


def path_of(location: str | None) -> str:
    return urllib.parse.urlsplit(location or "").path


REFERENCE = re.compile(r"/account/privacy/requests/(PR-[A-Z0-9]{4}-[A-Z0-9]{4})")


def file_a_disclosure(browser: Browser, pdf: bytes) -> bool:
    """The wizard from the first step to the receipt; True when a request was filed."""
    new = "/account/privacy/requests/new"
    page = browser.expect(browser.get("wizard GET step", new), 200)
    if page is None:
        return False
    token = extract_csrf_token(page.body)
    answer = browser.expect(
        browser.post("wizard POST step", new, {"csrf_token": token, "kinds": "disclose"}), 303
    )
    steps: list[tuple[str, dict[str, Any], dict[str, tuple[str, bytes]] | None]] = [
        ("data", {"method": "electronic"}, None),
        ("who", {"requester": "self"}, None),
        (
            "documents",
            {"doc_type-person_identity": "my_number_card", "action": "continue"},
            {"file-person_identity": ("card.pdf", pdf)},
        ),
    ]
    for step, form, files in steps:
        if answer is None or not path_of(answer.location).endswith(f"/{step}"):
            return False
        where = path_of(answer.location)
        page = browser.expect(browser.get("wizard GET step", where), 200)
        if page is None:
            return False
        answer = browser.expect(
            browser.post("wizard POST step", where, {"csrf_token": token, **form}, files), 303
        )
    if answer is None:
        return False
    check = path_of(answer.location).rsplit("/", 1)[0] + "/check"
    browser.expect(browser.get("wizard GET step", path_of(answer.location)), 200)  # the fee page
    browser.expect(browser.get("wizard GET step", check), 200)
    done = browser.expect(
        browser.post("wizard POST submit", check, {"csrf_token": token, "action": "submit"}), 303
    )
    if done is None:
        return False
    return browser.expect(browser.get("wizard GET receipt", path_of(done.location)), 200) is not None


def requester(
    browser: Browser, deadline: float, stats: Stats, filed: Counter[str], email: str, seed: int
) -> None:
    rng = random.Random(seed)
    pdf = pdf_bytes()
    references: list[str] = []
    pages = [
        "/account/privacy/",
        "/account/privacy/data",
        "/account/privacy/requests",
        "/account/privacy/purposes",
    ]
    while time.monotonic() < deadline and stats.total < MAX_REQUESTS:
        roll = rng.random()
        if roll < 0.15 and filed[email] < MAX_FILINGS:
            if file_a_disclosure(browser, pdf):
                filed[email] += 1
        elif roll < 0.3 and references:
            reference = rng.choice(references)
            browser.expect(browser.get("GET my request", f"/account/privacy/requests/{reference}"), 200)
        else:
            path = rng.choice(pages)
            page = browser.expect(browser.get(f"GET {path}", path), 200)
            if page is not None and path == "/account/privacy/requests":
                references = sorted(set(REFERENCE.findall(page.body)))


def open_disclosures(app: Any) -> list[int]:
    with app.app_context():
        session = get_state(app).session
        ids = list(
            session.scalars(
                sa.select(PrivacyRequest.id).where(
                    PrivacyRequest.kind == RequestKind.DISCLOSE.value,
                    PrivacyRequest.status.not_in([s.value for s in CLOSED_STATUSES]),
                )
            )
        )
        session.rollback()
        return ids


def staff_member(
    browser: Browser,
    app: Any,
    deadline: float,
    stats: Stats,
    me: str,
    other: str,
    seed: int,
    moves: Counter[str],
) -> None:
    rng = random.Random(seed)
    queue = browser.expect(browser.get("GET /admin/privacy/", "/admin/privacy/"), 200)
    assert queue is not None
    token = extract_csrf_token(queue.body)
    while time.monotonic() < deadline and stats.total < MAX_REQUESTS:
        roll = rng.random()
        if roll < 0.3:
            browser.expect(browser.get("GET /admin/privacy/", "/admin/privacy/"), 200)
            continue
        candidates = open_disclosures(app)
        if not candidates:
            time.sleep(0.2)
            continue
        seen = look(app, rng.choice(candidates))
        if roll < 0.55:
            browser.expect(
                browser.get("GET staff request page", f"/admin/privacy/requests/{seen.reference}"), 200
            )
            continue
        step = choose(rng, legal_steps(seen, me, other, frozenset()))
        form = {"csrf_token": token, "version": str(seen.version), **step.form}
        if step.name == "decide":  # a filed request may name several items: grant them all
            form.update({f"item-{n}-verdict": "granted" for n in range(12)})
        answer = browser.expect(browser.post("POST staff step", step.path, form), 303, 409)
        if answer is not None:
            moves[step.name if answer.status == 303 else "refused (changed meanwhile)"] += 1


# --- the run --------------------------------------------------------------------------------------------


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[bench.Server, Any, list[str]]]:
    """A fresh PostgreSQL database with the demo and requester accounts, and gunicorn serving it."""
    from cryptography.fernet import Fernet

    from example_app.models import User, db

    database = bench.Database(pg_admin_url().render_as_string(hide_password=False))
    database.create()
    served: bench.Server | None = None
    app: Any = None
    try:
        key = Fernet.generate_key().decode()
        app = bench.build_app(database.url_string, key)
        bench.seed(app)
        emails = [f"load-{n}@example.com" for n in range(REQUESTERS)]
        with app.app_context():
            for email in emails:
                user = User(email=email, name=f"Load {email[5]}")
                user.set_password(DEMO_PASSWORD)
                db.session.add(user)
            db.session.commit()
        served = bench.Server(database.url_string, key, GUNICORN_WORKERS, tmp_path / "gunicorn.log")
        served.wait_ready()
        yield served, app, emails
    finally:
        if served is not None:
            served.stop()
        if app is not None:
            with app.app_context():
                db.engine.dispose()
        database.drop()  # WITH (FORCE): whatever is still connected


def test_a_minute_of_mixed_traffic_under_gunicorn_gives_no_error_and_no_5xx(
    site: tuple[bench.Server, Any, list[str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from example_app.models import User

    server, app, emails = site
    stats = Stats()
    with app.app_context():
        session = get_state(app).session
        staff_ids = {e: user_id_of(session.scalar(sa.select(User).where(User.email == e))) for e in STAFF}
        session.rollback()
    filed: Counter[str] = Counter()
    moves: Counter[str] = Counter()
    people: list[threading.Thread] = []
    browsers = []
    for email in emails:
        browser = Browser(server.base, stats)
        browser.sign_in(email)
        browsers.append((email, browser))
    staff_browsers = []
    for email in STAFF:
        browser = Browser(server.base, stats)
        browser.sign_in(email)
        staff_browsers.append((email, browser))
    started = time.monotonic()
    deadline = started + SECONDS
    for n, (email, browser) in enumerate(browsers):
        people.append(threading.Thread(target=requester, args=(browser, deadline, stats, filed, email, n)))
    for n, (email, browser) in enumerate(staff_browsers):
        other = staff_ids[STAFF[1 - n]]
        args = (browser, app, deadline, stats, staff_ids[email], other, 100 + n, moves)
        people.append(threading.Thread(target=staff_member, args=args))
    for person in people:
        person.start()
    for person in people:
        person.join(timeout=SECONDS + 10 * TIMEOUT)
    elapsed = time.monotonic() - started
    assert not any(person.is_alive() for person in people), "a client hung"

    with capsys.disabled():  # the figures are the point: shown in every run, not only with -s
        print(
            f"\n{stats.total} requests in {elapsed:.0f} s against gunicorn ({GUNICORN_WORKERS} sync "
            f"workers) on PostgreSQL, {len(people)} clients; {sum(filed.values())} requests filed "
            "through the wizard; "
            f"staff steps {dict(moves)}\n{stats.table()}"
        )
    log = (tmp_path / "gunicorn.log").read_text(errors="replace")
    assert stats.errors == [], f"{len(stats.errors)} connection errors or 5xx: {stats.errors[:10]}"
    assert "Traceback" not in log, log[-4000:]
    assert stats.unexpected == [], f"unexpected answers: {stats.unexpected[:5]}"
    assert sum(filed.values()) >= 1 and sum(moves.values()) >= 1, "the mix never filed or never moved"
