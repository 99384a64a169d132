"""The real-server benchmark: the example site under gunicorn on PostgreSQL, driven by ``wrk``.

    .venv/bin/python bench/server.py                 # or: make bench (writes bench/RESULTS.md)
    .venv/bin/python bench/server.py --quick         # short runs, small volumes (a smoke run)

What a person running the site would see, measured the way it runs in production: a fresh
PostgreSQL database per run (``CREATE DATABASE ome_bench_<random>`` on 127.0.0.1:5432, dropped
at the end), seeded with the demo, served by gunicorn (sync workers) on a loopback port and
loaded by ``wrk`` with 16 connections and a signed-in session cookie. Every throughput figure is
a share of the host's own ``/account`` page, measured just before it in the same run, so a busy
machine moves both sides alike. One table, each figure beside its target.

The in-process figures of ``bench/run.py`` (Flask test client on SQLite) stay as they were.
Every loop is bounded in count and in time; only loopback traffic.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

import sqlalchemy as sa

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
sys.path.insert(0, str(REPO_ROOT))  # example_app and bench.run: imported where used, as in run.py

ALICE = "alice@example.com"
STAFF = "staff@example.com"
PASSWORD = "demo-password"
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
RESULTS = BENCH_DIR / "RESULTS.md"
CONNECTIONS = 16
#: Latency targets are per request: one staff member's requests one after another, not a queue
#: of 16 waiting for 2 workers (that would measure throughput again, as 16/2 x the service time).
LATENCY_CONNECTIONS = 1
NOT_BUILT = "n/a — page not built yet"
STEPS = ("throughput", "profile", "sql", "queue", "export", "erasure", "audit")

#: (path, who is signed in, target share of /account throughput). ``{ref}`` is alice's request
#: (just submitted), ``{pkg}`` her granted and released disclosure, ``{draft}`` her request draft
#: (a disclosure, so the fee step shows); ``Fixtures`` makes them. A path no route of the site
#: matches is "page not built yet".
PAGES: tuple[tuple[str, str | None, float], ...] = (
    ("/account/privacy/", ALICE, 0.80),
    ("/account/privacy/data", ALICE, 0.60),
    ("/account/privacy/data/export", ALICE, 0.80),
    ("/account/privacy/purposes", ALICE, 0.80),
    ("/account/privacy/sns", ALICE, 0.80),
    ("/account/privacy/notifications", ALICE, 0.80),
    ("/account/privacy/requests", ALICE, 0.80),
    ("/account/privacy/requests/{ref}", ALICE, 0.80),
    ("/account/privacy/requests/{pkg}/package", ALICE, 0.80),
    ("/account/privacy/requests/new", ALICE, 0.80),
    ("/account/privacy/requests/new/{draft}/data", ALICE, 0.80),
    ("/account/privacy/requests/new/{draft}/who", ALICE, 0.80),
    ("/account/privacy/requests/new/{draft}/documents", ALICE, 0.80),
    ("/account/privacy/requests/new/{draft}/fee", ALICE, 0.80),
    ("/account/privacy/requests/new/{draft}/check", ALICE, 0.80),
    ("/privacy/purposes", None, 1.0),
    ("/privacy/purposes", ALICE, 1.0),
    ("/privacy/policy", None, 0.80),
    ("/admin/privacy/", STAFF, 0.80),
    ("/admin/privacy/requests/{ref}", STAFF, 0.80),
    ("/admin/privacy/audit", STAFF, 0.80),
    ("/admin/privacy/report", STAFF, 0.80),
)

#: The requester's download of a released disclosure (issue 8), once the route exists.
PACKAGE_ENDPOINT = "ome_privacy_account.request_package"

#: The staff queue's filters (issue 9) as query strings; measured once the queue's form offers them.
QUEUE_FILTERS: tuple[tuple[str, str], ...] = (
    ("status", "status=submitted"),
    ("kind", "kind=disclose"),
    ("overdue", "overdue=1"),
    ("assignee", "assignee={staff_id}"),
    ("mine", "mine=1"),
    ("unassigned", "unassigned=1"),
    ("search by reference", "ref=BENCH-000123"),
)

#: Prints one machine-readable line when wrk finishes (latencies in microseconds).
WRK_SCRIPT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH %d %d %d %d %d %d %d\\n", summary.requests, summary.duration,
    e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""


class NotAvailable(Exception):
    """The page or the data a step needs is not there (yet)."""


def complete_row(table: sa.Table, row: dict[str, Any], n: int) -> dict[str, Any]:
    """Fill the NOT NULL columns ``row`` leaves out (run.py's helper: the schema grows)."""
    from bench.run import complete_row as fill

    return fill(table, row, n)


@dataclass
class Volumes:
    duration: float
    queue: int
    export: int
    audit_small: int
    audit_large: int
    rounds: int = 4
    scaled: tuple[int, int] = (1, 1_000)


FULL = Volumes(duration=2.0, queue=100_000, export=100_000, audit_small=100_000, audit_large=1_000_000)
QUICK = Volumes(duration=1.0, queue=2_000, export=2_000, audit_small=2_000, audit_large=20_000, rounds=1)


@dataclass
class Table:
    """Rows of (measure, figure, target, verdict); sections start with a heading row."""

    rows: list[tuple[str, str, str, str]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    #: Throughput rows whose target was not met: (label, path, who), profiled by ``where_time_goes``.
    missed: list[tuple[str, str, str | None]] = field(default_factory=list)

    def section(self, title: str) -> None:
        self.rows.append((f"**{title}**", "", "", ""))
        print(f"\n== {title}", flush=True)

    def add(self, measure: str, figure: str, target: str = "", met: bool | None = None) -> None:
        verdict = "" if met is None else ("met" if met else "**NOT met**")
        self.rows.append((measure, figure, target, verdict))
        print(f"  {measure:<58} {figure:<34} {target:<14} {verdict}", flush=True)

    def markdown(self) -> str:
        lines = ["| measure | figure | target | |", "| --- | --- | --- | --- |"]
        lines += [f"| {' | '.join(cell.replace('|', '/') for cell in row)} |" for row in self.rows]
        return "\n".join(lines)


# --- the database ----------------------------------------------------------------------------


class Database:
    """A fresh PostgreSQL database for one run; dropped in ``drop`` whatever happened."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = sa.make_url(admin_url)
        self.name = f"ome_bench_{secrets.token_hex(4)}"
        self.url = self.admin_url.set(database=self.name)

    def admin(self) -> sa.Engine:
        return sa.create_engine(
            self.admin_url,
            isolation_level="AUTOCOMMIT",
            poolclass=sa.pool.NullPool,
            connect_args={"connect_timeout": 3},
        )

    def create(self) -> None:
        engine = self.admin()
        try:
            with engine.connect() as conn:
                conn.execute(sa.text(f'CREATE DATABASE "{self.name}"'))
        except sa.exc.OperationalError as exc:
            raise SystemExit(
                f"bench: PostgreSQL at {self.admin_url.render_as_string(hide_password=True)} does not answer "
                f"({type(exc.orig).__name__}). Start it, or set OME_BENCH_PG_URL."
            ) from None
        finally:
            engine.dispose()

    def drop(self) -> None:
        engine = self.admin()
        try:
            with engine.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        finally:
            engine.dispose()

    @property
    def url_string(self) -> str:
        return self.url.render_as_string(hide_password=False)


def build_app(db_url: str, document_key: str) -> Any:
    """The example site in this process, on the bench database (for seeding and in-process counts)."""
    import example_app

    return example_app.create_app(
        {
            "SQLALCHEMY_DATABASE_URI": db_url,
            "SECRET_KEY": "bench-in-process",
            "PROPAGATE_EXCEPTIONS": True,
            "OME_PRIVACY_DOCUMENT_KEYS": document_key,
        }
    )


def seed(app: Any) -> None:
    from example_app.cli import create_schema
    from example_app.models import db
    from example_app.seed import seed_demo

    with app.app_context():
        create_schema(app)
        seed_demo()
        db.session.commit()


def uid(app: Any, email: str) -> int:
    from example_app.models import User, db

    with app.app_context():
        found = db.session.scalar(sa.select(User.id).where(User.email == email))
    if found is None:
        raise NotAvailable(f"no demo user {email}")
    return int(found)


@dataclass(frozen=True)
class Fixtures:
    """What the pages with a reference in their path open: made through the domain functions,
    so the audit trail, the status counts and the drafts are what the site itself writes."""

    ref: str
    pkg: str
    draft: str

    def path(self, template: str) -> str:
        return template.format(ref=self.ref, pkg=self.pkg, draft=self.draft)

    def label(self, template: str) -> str:
        """The path as the table shows it: the draft's long random token as ``<draft>``."""
        return template.format(ref=self.ref, pkg=self.pkg, draft="<draft>")


def make_fixtures(app: Any) -> Fixtures:
    """alice's disclosure just submitted, her disclosure granted (every source) and released,
    and a request draft of hers that reached the last step."""
    from example_app.models import db
    from flask_ome_privacy import drafts, privacy_requests
    from flask_ome_privacy.lifecycle import Status
    from flask_ome_privacy.models import DecisionItem
    from flask_ome_privacy.state import get_state

    alice, staff = str(uid(app, ALICE)), str(uid(app, STAFF))
    with app.app_context():
        state = get_state(app)
        keys = [source.key for source in state.sources]
        submitted = privacy_requests.submit(
            state, user_id=alice, kind="disclose", reference="DEMO-000000", scope={"sources": keys}
        )
        submitted.disclosure_method = "electronic"
        granted = privacy_requests.submit(
            state, user_id=alice, kind="disclose", reference="DEMO-PKG-0001", scope={"sources": keys}
        )
        granted.disclosure_method = "electronic"

        def walk(*statuses: Status) -> None:
            for status in statuses:
                privacy_requests.move(db.session, granted, status, actor_id=staff, actor_role="staff")

        walk(Status.IDENTITY_REVIEW, Status.UNDER_REVIEW)
        db.session.add_all(
            DecisionItem(request_id=granted.id, item=key, granted=True, source=key, verdict="granted")
            for key in keys
        )
        granted.decision = "granted"
        granted.decided_at = granted.updated_at
        granted.decided_by = staff
        walk(Status.APPROVED, Status.EXECUTING, Status.COMPLETED)
        granted.released_at = granted.closed_at
        draft = drafts.new_draft(db.session, alice, {})
        drafts.save_answers(
            db.session, draft, {"kinds": ["disclose"], "sources": keys, "fields": []}, "check"
        )
        fixtures = Fixtures(ref=submitted.reference, pkg=granted.reference, draft=draft.token)
        db.session.commit()
    return fixtures


def built(app: Any, path: str) -> bool:
    """Does a GET route of the site answer ``path``? (No: the page is not built yet.)"""
    from werkzeug.exceptions import HTTPException

    try:
        app.url_map.bind("localhost").match(path, method="GET")
    except HTTPException:
        return False
    return True


def insert_batched(app: Any, table: sa.Table, rows: Iterator[dict[str, Any]], batch: int = 5_000) -> int:
    from example_app.models import db

    count = 0
    with app.app_context():
        chunk: list[dict[str, Any]] = []
        for row in rows:
            chunk.append(row)
            if len(chunk) == batch:
                db.session.execute(table.insert(), chunk)
                count += len(chunk)
                chunk = []
        if chunk:
            db.session.execute(table.insert(), chunk)
            count += len(chunk)
        db.session.commit()
    return count


def request_rows(user_ids: list[str], count: int, prefix: str) -> Iterator[dict[str, Any]]:
    from flask_ome_privacy import models
    from flask_ome_privacy.lifecycle import RequestKind, Status

    table = models.PrivacyRequest.__table__
    states = [Status.SUBMITTED, Status.IDENTITY_REVIEW, Status.UNDER_REVIEW, Status.AWAITING_REQUESTER]
    kinds = list(RequestKind)
    now = dt.datetime.now(dt.timezone.utc)
    for n in range(count):
        received = now - dt.timedelta(minutes=n)
        row = {
            "reference": f"{prefix}-{n:06d}",
            "user_id": user_ids[n % len(user_ids)],
            "kind": kinds[n % len(kinds)].value,
            "status": states[n % len(states)].value,
            "received_at": received,
            "due_at": received + dt.timedelta(days=14),
            "created_at": received,
            "updated_at": received,
        }
        yield complete_row(table, row, n)


def set_volume(app: Any, n: int, fixtures: Fixtures) -> None:
    """Alice holds ``n`` of everything the pages list: survey answers, requests, notifications,
    provisions and consent decisions; her submitted request has ``n`` messages; the queue
    holds ``n`` requests besides the fixtures."""
    from example_app.models import SurveyResponse, db
    from flask_ome_privacy import privacy_requests
    from flask_ome_privacy.models import (
        ConsentRecord,
        Notification,
        PrivacyRequest,
        ProvisionRecord,
        RequestMessage,
    )

    alice = uid(app, ALICE)
    start = dt.datetime(2025, 4, 1, tzinfo=dt.timezone.utc)
    with app.app_context():
        db.session.execute(sa.delete(SurveyResponse).where(SurveyResponse.user_id == alice))
        for model in (ConsentRecord, Notification, ProvisionRecord):
            db.session.execute(sa.delete(model).where(model.user_id == str(alice)))
        db.session.execute(sa.delete(PrivacyRequest).where(PrivacyRequest.reference.like("SCALE-%")))
        request_id = db.session.scalar(
            sa.select(PrivacyRequest.id).where(PrivacyRequest.reference == fixtures.ref)
        )
        db.session.execute(sa.delete(RequestMessage).where(RequestMessage.request_id == request_id))
        db.session.commit()
    insert_batched(
        app,
        RequestMessage.__table__,
        (
            {
                "request_id": request_id,
                "author": ("staff", "requester")[i % 2],
                "kind": ("note", "answer")[i % 2],
                "body": f"Message {i}",
                "items": [],
                "created_at": start + dt.timedelta(minutes=i),
            }
            for i in range(n)
        ),
    )
    insert_batched(
        app,
        SurveyResponse.__table__,
        (
            {
                "user_id": alice,
                "employer_name": "Bench Works KK",
                "survey_name": f"Survey {i // 50 + 1}",
                "question": f"Question {i % 50 + 1}",
                "answer": "Mostly good",
                "score": i % 5 + 1,
                "received_at": start + dt.timedelta(minutes=i),
            }
            for i in range(n)
        ),
    )
    insert_batched(app, PrivacyRequest.__table__, request_rows([str(alice)], n, "SCALE"))
    with app.app_context():
        privacy_requests.recount_statuses(db.session)  # the rows above came without submit/move
        db.session.commit()
    insert_batched(
        app,
        Notification.__table__,
        (
            complete_row(
                Notification.__table__,
                {
                    "user_id": str(alice),
                    "kind": "bench",
                    "subject": "Your request was received",
                    "body": "",
                    "params": {},
                    "created_at": start + dt.timedelta(minutes=i),
                },
                i,
            )
            for i in range(n)
        ),
    )
    insert_batched(
        app,
        ProvisionRecord.__table__,
        (
            complete_row(
                ProvisionRecord.__table__,
                {
                    "user_id": str(alice),
                    "recipient": f"Client company {i % 7}",
                    "categories": ["org_service"],
                    "purpose": None,
                    "basis": "consent",
                    "provided_at": start + dt.timedelta(minutes=i),
                },
                i,
            )
            for i in range(n)
        ),
    )
    insert_batched(
        app,
        ConsentRecord.__table__,
        (
            {
                "user_id": str(alice),
                "purpose_key": "user_info.career_newsletter",
                "purpose_version": 1,
                "granted": i % 2 == 0,
                "decided_at": start + dt.timedelta(minutes=i),
            }
            for i in range(n)
        ),
    )


# --- the server ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """gunicorn serving ``example_app:create_app()``; stopped (its own pid only) in ``stop``."""

    def __init__(self, db_url: str, document_key: str, workers: int, log_path: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ)
        env.update(
            DATABASE_URL=db_url,
            SECRET_KEY=secrets.token_hex(32),
            OME_PRIVACY_DOCUMENT_KEYS=document_key,
            PYTHONPATH=str(REPO_ROOT),
        )
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            str(workers),
            "--worker-class",
            "sync",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--timeout",
            "300",
            "--graceful-timeout",
            "5",
            "--log-level",
            "warning",
            "example_app:create_app()",
        ]
        self.log = log_path.open("w")
        self.process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=self.log, stderr=self.log)

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(
                    f"bench: gunicorn exited with {self.process.returncode}; see {self.log.name}"
                )
            try:
                with urllib.request.urlopen(self.base + "/login", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        raise SystemExit(f"bench: gunicorn did not answer within {timeout:.0f} s; see {self.log.name}")

    def workers(self) -> list[int]:
        """The master's children (the workers), from /proc."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == self.process.pid:
                found.append(int(entry.name))
        return found

    def cpu_seconds(self) -> float:
        """User + system CPU the workers have used so far (from /proc/<pid>/stat)."""
        ticks = 0
        for pid in self.workers():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
        return ticks / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.log.close()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def sign_in(base: str, email: str) -> str:
    """Sign in through the real /login form once; returns the Cookie header for wrk."""
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect())
    with opener.open(base + "/login", timeout=10) as response:
        html = response.read().decode()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    if token is None:
        raise NotAvailable("no csrf_token on /login")
    form = urllib.parse.urlencode(
        {"email": email, "password": PASSWORD, "csrf_token": token.group(1)}
    ).encode()
    try:
        opener.open(base + "/login", data=form, timeout=10)
        raise NotAvailable(f"sign-in as {email} did not redirect")
    except urllib.error.HTTPError as exc:  # the 302 after a good sign-in, with redirects off
        if exc.code not in (302, 303):
            raise NotAvailable(f"sign-in as {email} answered {exc.code}") from None
    return "; ".join(f"{c.name}={c.value}" for c in jar)


def fetch(url: str, cookie: str | None) -> tuple[int, str]:
    """One GET without following redirects: status and body."""
    opener = urllib.request.build_opener(NoRedirect())
    headers = {"Accept-Language": "ja"}
    if cookie:
        headers["Cookie"] = cookie
    try:
        with opener.open(urllib.request.Request(url, headers=headers), timeout=60) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, ""


@dataclass
class Load:
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    requests: int
    errors: int


def wrk(url: str, cookie: str | None, duration: float, script: Path, connections: int = CONNECTIONS) -> Load:
    """``connections`` at once for ``duration`` seconds (at most one wrk thread per connection)."""
    command = [
        "wrk",
        "-t",
        str(min(2, connections)),
        "-c",
        str(connections),
        "-d",
        f"{max(1, round(duration))}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        "-H",
        "Accept-Language: ja",
    ]
    if cookie:
        command += ["-H", f"Cookie: {cookie}"]
    result = subprocess.run(
        [*command, url], capture_output=True, text=True, timeout=duration + 60, check=False
    )
    line = next((x for x in result.stdout.splitlines() if x.startswith("BENCH ")), None)
    if result.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({result.returncode}): {result.stderr.strip()[:200]}")
    requests, duration_us, socket_errors, status_errors, p50, p95, p99 = (int(v) for v in line.split()[1:])
    return Load(
        rps=requests / (duration_us / 1e6),
        p50_ms=p50 / 1000,
        p95_ms=p95 / 1000,
        p99_ms=p99 / 1000,
        requests=requests,
        errors=socket_errors + status_errors,
    )


# --- the measurements --------------------------------------------------------------------------


def throughput(
    table: Table,
    app: Any,
    server: Server,
    cookies: dict[str, str],
    vol: Volumes,
    script: Path,
    fixtures: Fixtures,
    only: str = "",
) -> list[float]:
    """Each page against /account (alice): ``vol.rounds`` rounds of /account then the page, back to
    back; the share is the median of the rounds' shares, so a burst of other work on the machine
    during one round does not decide the figure."""
    table.section(
        f"Throughput, share of /account (gunicorn, {CONNECTIONS} connections, median of {vol.rounds} "
        f"rounds of {vol.duration:.0f} s + {vol.duration:.0f} s per page, demo data)"
    )
    account_rates: list[float] = []
    wanted = [w for w in only.split(",") if w]
    for path, who, target in PAGES:
        if wanted and not any(path == w[1:] if w.startswith("=") else w in path for w in wanted):
            continue
        label = f"{fixtures.label(path)} ({'anonymous' if who is None else who.split('@')[0]})"
        path = fixtures.path(path)
        cookie = cookies.get(who) if who else None
        if not built(app, path):
            table.add(label, NOT_BUILT, f"≥ {target:.2f}")
            continue
        status, _ = fetch(server.base + path, cookie)
        if status != 200:
            table.add(label, f"n/a ({status})", f"≥ {target:.2f}", False)
            continue
        shares, cpu_shares, pages, accounts, errors = [], [], [], [], 0
        for _ in range(vol.rounds):
            cpu_0 = server.cpu_seconds()
            account = wrk(server.base + "/account", cookies[ALICE], vol.duration, script)
            cpu_1 = server.cpu_seconds()
            page = wrk(server.base + path, cookie, vol.duration, script)
            cpu_2 = server.cpu_seconds()
            shares.append(page.rps / account.rps)
            if cpu_2 > cpu_1 and account.requests and page.requests:
                cpu_shares.append(((cpu_1 - cpu_0) / account.requests) / ((cpu_2 - cpu_1) / page.requests))
            pages.append(page.rps)
            accounts.append(account.rps)
            errors += page.errors + account.errors
        account_rates += accounts
        share = statistics.median(shares)
        spread = f", rounds {min(shares):.2f}–{max(shares):.2f}" if len(shares) > 1 else ""
        cpu = f"; by worker CPU {statistics.median(cpu_shares):.2f}" if cpu_shares else ""
        table.add(
            label,
            f"{share:.2f} ({statistics.median(pages):.0f} vs {statistics.median(accounts):.0f} req/s{spread}"
            f"{cpu}{f', {errors} errors' if errors else ''})",
            f"≥ {target:.2f}",
            share >= target and not errors,
        )
        if share < target or errors:
            table.missed.append((label, path, who))
    if account_rates:
        table.add(
            "/account itself (alice), over all rounds",
            f"median {statistics.median(account_rates):.0f} req/s (min {min(account_rates):.0f}, "
            f"max {max(account_rates):.0f})",
        )
    return account_rates


@dataclass
class CpuSplit:
    """Where one page's CPU time goes in this process (ms per request)."""

    total_ms: float
    sql_ms: float
    render_ms: float
    statements: int

    @property
    def rest_ms(self) -> float:
        return max(0.0, self.total_ms - self.sql_ms - self.render_ms)

    def text(self) -> str:
        return (
            f"CPU {self.total_ms:.1f} ms: SQL {self.sql_ms:.1f} ms ({self.statements} statements), "
            f"rendering {self.render_ms:.1f} ms, the rest {self.rest_ms:.1f} ms"
        )


def cpu_split(app: Any, client: Any, path: str, requests: int) -> CpuSplit:
    """CPU per request of ``path`` in this process, and its share in SQLAlchemy's statement
    execution (``Session.execute``: compiling, the driver, loading rows; building a statement
    before it is executed counts as "the rest") and in template rendering (from a CPU-time
    profile of the same requests; lazy loads during rendering count as SQL, not twice)."""
    import cProfile
    import pstats

    from example_app.models import db

    client.get(path)
    cpu = []
    for _ in range(requests):
        started = time.thread_time()
        client.get(path)
        cpu.append(time.thread_time() - started)
    statements = [0]

    def count(*_: Any) -> None:
        statements[0] += 1

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        client.get(path)
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    profile = cProfile.Profile(time.thread_time)
    profile.enable()
    for _ in range(requests):
        client.get(path)
    profile.disable()
    stats: dict[tuple[str, int, str], tuple[Any, ...]] = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    whole = sum(entry[2] for entry in stats.values()) or 1.0

    def cumulative(file_end: str, name: str) -> float:
        return sum(v[3] for (f, _line, n), v in stats.items() if n == name and f.endswith(file_end))

    sql = cumulative("sqlalchemy/orm/session.py", "_execute_internal")
    render = cumulative("flask/templating.py", "_render")
    in_render_sql = 0.0  # SQL run from inside a render (lazy loads): count it once, as SQL
    for (f, _line, n), v in stats.items():
        if n == "_execute_internal" and f.endswith("sqlalchemy/orm/session.py"):
            for caller, timing in v[4].items():
                if caller[0].endswith(".html"):
                    in_render_sql += timing[3]
    total = statistics.median(cpu) * 1000
    return CpuSplit(
        total_ms=total,
        sql_ms=total * sql / whole,
        render_ms=total * max(0.0, render - in_render_sql) / whole,
        statements=statements[0],
    )


def largest_part(split: CpuSplit) -> str:
    parts = {"SQL": split.sql_ms, "rendering": split.render_ms, "the rest": split.rest_ms}
    return max(parts, key=lambda name: parts[name])


def where_time_goes(table: Table, app: Any, fixtures: Fixtures, requests: int = 60) -> None:
    """For every page whose throughput target was not met: its CPU per request in this process
    against /account's, split into SQL, rendering and the rest, and which part is largest (what
    would close the gap)."""
    if not table.missed:
        return
    table.section(
        "Where the time goes, for each throughput target not met (in-process on the same database, "
        "CPU per request)"
    )
    clients = {email: signed_in_test_client(app, email) for email in (ALICE, STAFF)}
    account = cpu_split(app, clients[ALICE], "/account", requests)
    table.add("/account (alice), for comparison", account.text())
    for label, path, who in table.missed:
        client = clients[who] if who else app.test_client()
        split = cpu_split(app, client, path, requests)
        extra = split.total_ms - account.total_ms
        table.add(
            label,
            f"{split.text()}; {extra:+.1f} ms over /account, largest part: {largest_part(split)}",
        )


def signed_in_test_client(app: Any, email: str) -> Any:
    """A test client signed in through the /login form, CSRF token and all."""
    client = app.test_client()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', client.get("/login").get_data(as_text=True))
    if token is None:
        raise NotAvailable("no csrf_token on /login")
    form = {"email": email, "password": PASSWORD, "csrf_token": token.group(1)}
    response = client.post("/login", data=form)
    if response.status_code not in (302, 303):
        raise NotAvailable(f"sign-in as {email} answered {response.status_code}")
    return client


def sql_counts(table: Table, app: Any, vol: Volumes, fixtures: Fixtures) -> None:
    """Statements per request at 1 and at 1,000 records, counted in-process on the same database."""
    from example_app.models import db

    low, high = vol.scaled
    table.section(
        f"SQL statements per request, alice with {low:,} and {high:,} records of each kind "
        f"(in-process, same PostgreSQL)"
    )
    labels = {fixtures.path(path): fixtures.label(path) for path, _who, _target in PAGES}
    counts: dict[str, dict[int, int | str]] = {path: {} for path in labels}
    statements = [0]

    def count(*_: Any) -> None:
        statements[0] += 1

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        for n in (low, high):
            set_volume(app, n, fixtures)
            clients = {email: signed_in_test_client(app, email) for email in (ALICE, STAFF)}
            for template, who, _ in PAGES:
                path = fixtures.path(template)
                if not built(app, path):
                    continue
                client = clients[who] if who else app.test_client()
                client.get(path)  # warm: first-request caches must not count
                statements[0] = 0
                response = client.get(path)
                counts[path][n] = (
                    statements[0] if response.status_code == 200 else f"({response.status_code})"
                )
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    for path, label in sorted(labels.items(), key=lambda item: item[1]):
        if not built(app, path):
            table.add(label, NOT_BUILT, "equal")
            continue
        at_low, at_high = counts[path].get(low), counts[path].get(high)
        fine = at_low == at_high and isinstance(at_low, int)
        table.add(label, f"{at_low} at {low:,}, {at_high} at {high:,}", "equal", fine)
    with app.app_context():  # the queue step fills its own
        from flask_ome_privacy import privacy_requests
        from flask_ome_privacy.models import PrivacyRequest

        db.session.execute(sa.delete(PrivacyRequest).where(PrivacyRequest.reference.like("SCALE-%")))
        privacy_requests.recount_statuses(db.session)
        db.session.commit()


def deep_cursor(app: Any, position: int) -> str:
    """The queue's keyset cursor for the open request at ``position`` (most urgent first): what
    "Next" carries after walking that far, without walking there."""
    import sqlalchemy as sa

    from example_app.models import db
    from flask_ome_privacy.models import PrivacyRequest
    from flask_ome_privacy.staff_queue import Cursor

    with app.app_context():
        due_at, row_id = db.session.execute(
            sa.select(PrivacyRequest.due_at, PrivacyRequest.id)
            .order_by(PrivacyRequest.due_at, PrivacyRequest.id)
            .offset(position)
            .limit(1)
        ).one()
        return Cursor(due_at, row_id).token()


def staff_queue(
    table: Table, app: Any, server: Server, cookies: dict[str, str], vol: Volumes, script: Path
) -> None:
    from flask_ome_privacy.models import PrivacyRequest

    table.section(
        f"Staff queue with {vol.queue:,} open requests (gunicorn, {LATENCY_CONNECTIONS} connection)"
    )
    users = [str(uid(app, email)) for email in (ALICE, "bob@example.com")]
    started = time.perf_counter()
    insert_batched(app, PrivacyRequest.__table__, request_rows(users, vol.queue, "BENCH"))
    from example_app.models import db
    from flask_ome_privacy import privacy_requests

    with app.app_context():
        privacy_requests.recount_statuses(db.session)  # the rows above came without submit/move
        db.session.commit()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(sa.text("VACUUM ANALYZE ome_privacy_requests"))  # as autovacuum would
    print(f"  ({vol.queue:,} requests inserted in {time.perf_counter() - started:.1f} s)", flush=True)
    staff = cookies[STAFF]
    pages = -(-vol.queue // 50)
    deep = max(1, pages * 95 // 100)
    status, html = fetch(server.base + "/admin/privacy/", staff)
    if status != 200:
        table.add("/admin/privacy/", f"n/a ({status})", "p95 < 50 ms", False)
        return
    for label, query in (
        ("page 1", ""),
        (f"deep page ({deep:,} of {pages:,}, keyset paging)", f"?after={deep_cursor(app, deep * 50)}"),
    ):
        load = wrk(server.base + "/admin/privacy/" + query, staff, vol.duration, script, LATENCY_CONNECTIONS)
        table.add(
            f"queue {label}",
            f"p50 {load.p50_ms:.1f} ms, p95 {load.p95_ms:.1f} ms",
            "p95 < 50 ms",
            load.p95_ms < 50 and not load.errors,
        )
    staff_id = uid(app, STAFF)
    missed = False
    for label, query in QUEUE_FILTERS:
        query = query.format(staff_id=staff_id)
        name = query.split("=", 1)[0]
        if f'name="{name}"' not in html:
            table.add(f"queue filter: {label}", NOT_BUILT, "p95 < 50 ms")
            continue
        load = wrk(server.base + "/admin/privacy/?" + query, staff, vol.duration, script, LATENCY_CONNECTIONS)
        table.add(
            f"queue filter: {label}",
            f"p50 {load.p50_ms:.1f} ms, p95 {load.p95_ms:.1f} ms",
            "p95 < 50 ms",
            load.p95_ms < 50 and not load.errors,
        )
        missed = missed or load.p95_ms >= 50
    if missed or any(row[0].startswith("queue ") and "NOT" in row[3] for row in table.rows):
        split = cpu_split(app, signed_in_test_client(app, STAFF), "/admin/privacy/", 30)
        table.add(
            f"where a queue page's time goes ({vol.queue:,} requests, in-process)",
            f"{split.text()}; largest part: {largest_part(split)}",
        )


def rss_kb(pid: int, key: str = "VmRSS") -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class PeakRss:
    """The highest resident memory of ``pids`` while the block runs, over their RSS at its start:
    sampled every 20 ms, and the kernel's own high-water mark (VmHWM, reset at the start where
    the kernel allows it) catches what sampling missed."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.baseline = {pid: rss_kb(pid) for pid in pids}
        self.peak = dict(self.baseline)
        self.reset: set[int] = set()
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            for pid in self.pids:
                self.peak[pid] = max(self.peak[pid], rss_kb(pid))

    def __enter__(self) -> PeakRss:
        for pid in self.pids:
            try:
                Path(f"/proc/{pid}/clear_refs").write_text("5")
                self.reset.add(pid)
            except OSError:
                pass
        self._sampler.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        self._sampler.join(timeout=5)
        for pid in self.reset:
            self.peak[pid] = max(self.peak[pid], rss_kb(pid, "VmHWM"))

    @property
    def growth_mb(self) -> float:
        return max(self.peak[pid] - self.baseline[pid] for pid in self.pids) / 1024


def download(url: str, cookie: str) -> int:
    """GET ``url`` to nowhere; the bytes received."""
    size = 0
    request = urllib.request.Request(url, headers={"Cookie": cookie})
    with urllib.request.urlopen(request, timeout=600) as response:
        while chunk := response.read(1 << 16):
            size += len(chunk)
    return size


def export(
    table: Table, app: Any, server: Server, cookies: dict[str, str], vol: Volumes, fixtures: Fixtures
) -> None:
    """Stream alice's JSON export through a worker, sampling every worker's resident memory; then
    her disclosure package (``disclosure.disclosure_package``), in this process and, once the
    requester's download exists, through a worker."""
    from example_app.models import SurveyResponse, User, db
    from example_app.seed import add_bulk_survey_rows
    from flask_ome_privacy import disclosure
    from flask_ome_privacy.extension import current_privacy
    from flask_ome_privacy.models import PrivacyRequest
    from flask_ome_privacy.state import get_state

    table.section(f"Export of one user with {vol.export:,} records (gunicorn worker)")
    alice = uid(app, ALICE)
    with app.app_context():
        db.session.execute(sa.delete(SurveyResponse).where(SurveyResponse.user_id == alice))
        user = db.session.get(User, alice)
        add_bulk_survey_rows(user, vol.export)
        records = sum(source.count(user) for source in current_privacy().sources)
    started = time.perf_counter()
    with PeakRss(server.workers()) as workers:
        size = download(server.base + "/account/privacy/data/export.json", cookies[ALICE])
    elapsed = time.perf_counter() - started
    table.add(
        f"JSON export, {records:,} records ({size / 1e6:.1f} MB)",
        f"{records / elapsed:,.0f} records/s ({elapsed:.1f} s)",
    )
    table.add(
        "peak RSS growth of the worker", f"{workers.growth_mb:.1f} MB", "< 50 MB", workers.growth_mb < 50
    )

    with app.app_context():
        state = get_state(app)
        request = db.session.scalar(sa.select(PrivacyRequest).where(PrivacyRequest.reference == fixtures.pkg))
        started = time.perf_counter()
        with PeakRss([os.getpid()]) as here:
            size = sum(len(chunk) for chunk in disclosure.disclosure_package(state, request, "ja"))
        elapsed = time.perf_counter() - started
        db.session.rollback()
    table.add(
        f"disclosure package (zip), {records:,} records ({size / 1e6:.2f} MB), in-process",
        f"{records / elapsed:,.0f} records/s ({elapsed:.1f} s)",
    )
    table.add("peak RSS growth while building it", f"{here.growth_mb:.1f} MB", "< 50 MB", here.growth_mb < 50)
    path = fixtures.path("/account/privacy/requests/{pkg}/package")
    if not built(app, path):
        table.add("disclosure package through a worker (the requester's download)", NOT_BUILT, "< 50 MB")
        return
    started = time.perf_counter()
    with PeakRss(server.workers()) as workers:
        size = download(server.base + path, cookies[ALICE])
    elapsed = time.perf_counter() - started
    table.add(
        f"disclosure package download, {records:,} records ({size / 1e6:.1f} MB)",
        f"{records / elapsed:,.0f} records/s ({elapsed:.1f} s)",
    )
    table.add(
        "peak RSS growth of the worker (package)",
        f"{workers.growth_mb:.1f} MB",
        "< 50 MB",
        workers.growth_mb < 50,
    )


def erasure(table: Table, app: Any, vol: Volumes) -> None:
    """Every source that can erase, erasing alice, in one transaction (as a decided request would)."""
    from example_app.models import User, db
    from flask_ome_privacy.extension import current_privacy
    from flask_ome_privacy.sources import Action

    table.section("Erasure of that user across the sources (in-process, PostgreSQL)")
    with app.app_context():
        user = db.session.get(User, uid(app, ALICE))
        sources = [s for s in current_privacy().sources if Action.ERASE in s.actions]
        started = time.perf_counter()
        summaries = [f"{s.key}: {s.erase(user)}" for s in sources]
        db.session.commit()
        elapsed = time.perf_counter() - started
    print("  " + "; ".join(summaries), flush=True)
    table.add(
        f"erase across {len(sources)} sources ({', '.join(s.key for s in sources)})",
        f"{elapsed:.2f} s",
        "< 5 s",
        elapsed < 5 and len(sources) >= 3,
    )


def add_audit_events(db_url: str, count: int) -> None:
    """Append ``count`` chained events with COPY (the app's own hash function, so the chain holds)."""
    import psycopg

    from flask_ome_privacy.audit import GENESIS, event_hash

    url = sa.make_url(db_url).set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False)) as conn:
        last = conn.execute("SELECT hash FROM ome_privacy_audit_events ORDER BY id DESC LIMIT 1").fetchone()
        prev = last[0] if last else GENESIS
        start = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(days=400)
        columns = "at, actor_id, actor_role, action, request_id, subject_user_id, data, prev_hash, hash"
        with conn.cursor().copy(f"COPY ome_privacy_audit_events ({columns}) FROM STDIN") as copy:
            for n in range(count):
                at = start + dt.timedelta(microseconds=n * 30_001)
                data = {"source": "profile", "n": n}
                digest = event_hash(prev, at, "7", "staff", "request.transition", n % 5000, "1", data)
                copy.write_row(
                    (at, "7", "staff", "request.transition", n % 5000, "1", json.dumps(data), prev, digest)
                )
                prev = digest


def verify_audit(table: Table, db_url: str, document_key: str, vol: Volumes) -> None:
    table.section("verify-audit (flask ome-privacy verify-audit, a process of its own)")
    env = dict(
        os.environ, DATABASE_URL=db_url, OME_PRIVACY_DOCUMENT_KEYS=document_key, PYTHONPATH=str(REPO_ROOT)
    )
    flask = [sys.executable, "-m", "flask", "--app", "example_app", "ome-privacy", "verify-audit"]
    peaks: list[float] = []
    have = 0
    for target in (vol.audit_small, vol.audit_large):
        started = time.perf_counter()
        add_audit_events(db_url, target - have)
        have = target
        print(
            f"  ({target:,} events in the trail, added in {time.perf_counter() - started:.1f} s)", flush=True
        )
        started = time.perf_counter()
        code, out, peak_mb = run_measured(flask, env, timeout=1800)
        elapsed = time.perf_counter() - started
        peaks.append(peak_mb)
        intact = code == 0 and "intact" in out
        table.add(
            f"verify-audit over {target:,} events",
            f"{target / elapsed:,.0f} events/s ({elapsed:.1f} s), peak RSS {peak_mb:.0f} MB",
            "intact",
            intact,
        )
        if not intact:
            print(f"  verify-audit said: {out.strip()[:300]}", flush=True)
    if len(peaks) == 2 and peaks[0] > 0:
        growth = peaks[1] - peaks[0]
        table.add(
            f"memory from {vol.audit_small:,} to {vol.audit_large:,} events",
            f"{growth:+.0f} MB ({peaks[0]:.0f} → {peaks[1]:.0f} MB)",
            "flat (±10 MB)",
            abs(growth) <= 10,
        )


def run_measured(command: list[str], env: dict[str, str], timeout: float) -> tuple[int, str, float]:
    """Run ``command``; its exit code, output and its own peak RSS in MB (``wait4``'s rusage)."""
    with tempfile.TemporaryFile("w+") as out:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                process.kill()
                pid, status, usage = os.wait4(process.pid, 0)
                break
            time.sleep(0.05)
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        out.seek(0)
        return process.returncode, out.read(), usage.ru_maxrss / 1024


# --- the run ---------------------------------------------------------------------------------


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        memory_kb = next(
            int(x.split()[1])
            for x in Path("/proc/meminfo").read_text().splitlines()
            if x.startswith("MemTotal:")
        )
    except (OSError, StopIteration):
        memory_kb = 0
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} CPUs (nproc), {memory_kb / 1024 / 1024:.1f} GiB memory, {model}; "
        f"load average at start {load}; Linux {platform.release()}, Python {platform.python_version()}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 s per page and small volumes (a smoke run)")
    parser.add_argument(
        "--duration",
        type=float,
        help="seconds per wrk run (default 2, three rounds per page; quick 1, one round)",
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers (default 2)")
    parser.add_argument(
        "--output",
        type=Path,
        help=f"write the table here (default {RESULTS.relative_to(REPO_ROOT)};"
        " --quick writes nothing unless given)",
    )
    parser.add_argument(
        "--steps", default=",".join(STEPS), help=f"comma-separated subset of {','.join(STEPS)} (default all)"
    )
    parser.add_argument(
        "--pages",
        default="",
        help="throughput: only pages whose path contains one of these comma-separated texts (=path: exactly)",
    )
    args = parser.parse_args(argv)
    chosen = [step.strip() for step in args.steps.split(",") if step.strip()]
    unknown = sorted(set(chosen) - set(STEPS))
    if unknown:
        parser.error(f"unknown step(s): {', '.join(unknown)}")
    vol = QUICK if args.quick else FULL
    if args.duration:
        vol.duration = args.duration
    output = args.output or (None if args.quick else RESULTS)
    for tool in ("wrk",):
        if shutil.which(tool) is None:
            print(
                f"bench: `{tool}` is not installed (make bench installs it: apt-get install wrk)",
                file=sys.stderr,
            )
            return 2

    from cryptography.fernet import Fernet

    document_key = Fernet.generate_key().decode()
    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    about = machine()
    print(f"flask-ome-privacy real-server bench — {when}\n{about}", flush=True)
    table = Table()
    database = Database(os.environ.get("OME_BENCH_PG_URL", DEFAULT_PG_URL))
    database.create()
    server: Server | None = None
    with tempfile.TemporaryDirectory(prefix="ome-bench-") as tmp:
        script = Path(tmp) / "report.lua"
        script.write_text(WRK_SCRIPT)
        try:
            started = time.perf_counter()
            app = build_app(database.url_string, document_key)
            seed(app)
            # alice's requests and a draft, so the pages with a reference have something to open.
            fixtures = make_fixtures(app)
            server = Server(database.url_string, document_key, args.workers, Path(tmp) / "gunicorn.log")
            server.wait_ready()
            cookies = {email: sign_in(server.base, email) for email in (ALICE, STAFF)}
            print(
                f"database {database.name} seeded, gunicorn ({args.workers} sync workers) up on "
                f"{server.base} in {time.perf_counter() - started:.1f} s",
                flush=True,
            )
            steps: list[tuple[str, Callable[[], Any]]] = [
                (
                    "throughput",
                    lambda: throughput(table, app, server, cookies, vol, script, fixtures, args.pages),
                ),
                ("profile", lambda: where_time_goes(table, app, fixtures)),
                ("sql", lambda: sql_counts(table, app, vol, fixtures)),
                ("queue", lambda: staff_queue(table, app, server, cookies, vol, script)),
                ("export", lambda: export(table, app, server, cookies, vol, fixtures)),
                ("erasure", lambda: erasure(table, app, vol)),
                ("audit", lambda: verify_audit(table, database.url_string, document_key, vol)),
            ]
            for name, step in steps:
                if name not in chosen:
                    continue
                try:
                    step()
                except NotAvailable as exc:
                    table.add(name, f"n/a ({exc})")
                except Exception as exc:  # one broken step must not hide the others' figures
                    table.add(name, f"failed: {type(exc).__name__}: {str(exc)[:120]}", "", False)
                    table.failures.append(name)
        finally:
            if server is not None:
                server.stop()
            database.drop()
    report = (
        f"# flask-ome-privacy benchmark results\n\n"
        f"Written by `make bench` (`bench/server.py`{' --quick' if args.quick else ''}) on {when}.\n\n"
        f"Machine: {about}.\n\n"
        f"The example site under gunicorn ({args.workers} sync workers) on a fresh PostgreSQL database, "
        f"loaded by `wrk` with {CONNECTIONS} connections on loopback. Each throughput share is the median of "
        f"{vol.rounds} rounds of `/account` then the page ({vol.duration:.0f} s each), back to back in the "
        f"same run; latencies are for one connection (one person's requests, one after another). "
        f"“by worker CPU” is the same share computed from the gunicorn workers' CPU time per request "
        f"(`/account`'s ÷ the page's): on a machine shared with other work it moves far less than "
        f"requests per second do. "
        f"“{NOT_BUILT}” marks pages the benchmark already knows about that the product does not have yet.\n\n"
        f"{table.markdown()}\n"
    )
    if output is not None:
        output.write_text(report)
        print(f"\nwritten to {output}", flush=True)
    if table.failures:
        print(f"bench: steps that failed: {', '.join(table.failures)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
