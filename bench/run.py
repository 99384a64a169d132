"""Timings of the main pages, on the example site with Flask's test client and a SQLite file.

    .venv/bin/python bench/run.py            # or: make bench
    .venv/bin/python bench/run.py --quick    # smaller volumes, fewer requests (a smoke run)

Each row: how many requests were timed, requests per second, median and 95th-percentile
milliseconds. A page that does not exist yet prints ``n/a (404)``; any other failure prints
``n/a (...)`` and the run goes on, so this file can grow with the product. The export is
also measured for peak Python memory (tracemalloc) while the download is streamed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import sqlalchemy as sa

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

ALICE = "alice@example.com"
STAFF = "staff@example.com"
PASSWORD = "demo-password"
# /account/privacy/data/export is the page offering the downloads; this is the JSON one.
EXPORT_JSON = "/account/privacy/data/export.json"


@dataclass
class Row:
    name: str
    result: str


class NotAvailable(Exception):
    """The page or the data it needs is not there (yet)."""


# --- the site --------------------------------------------------------------------------------


def build_site(workdir: Path) -> Any:
    from cryptography.fernet import Fernet

    import example_app
    from example_app.models import db
    from example_app.seed import seed_demo
    from flask_ome_privacy.migrate import upgrade

    app = example_app.create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{workdir / 'bench.sqlite'}",
            "SECRET_KEY": "bench",
            "WTF_CSRF_ENABLED": False,  # only the sign-in form is posted
            "PROPAGATE_EXCEPTIONS": True,  # a broken page shows its exception in the table
            "OME_PRIVACY_DOCUMENT_KEYS": Fernet.generate_key().decode(),
        }
    )
    upgrade(app)
    with app.app_context():
        db.create_all()
        seed_demo()
        db.session.commit()
    return app


def signed_in_client(app: Any, email: str) -> Any:
    client = app.test_client()
    response = client.post("/login", data={"email": email, "password": PASSWORD})
    if response.status_code not in (302, 303):
        raise NotAvailable(f"sign-in as {email} answered {response.status_code}")
    return client


def user_id(app: Any, email: str) -> int:
    from example_app.models import User, db

    with app.app_context():
        found = db.session.scalar(sa.select(User.id).where(User.email == email))
    if found is None:
        raise NotAvailable(f"no demo user {email}")
    return found


def set_survey_records(app: Any, email: str, count: int) -> None:
    """Give the user exactly ``count`` survey answers (the organisational-improvement source)."""
    from example_app import models
    from example_app.models import db

    survey = getattr(models, "SurveyResponse", None)
    if survey is None:
        raise NotAvailable("no SurveyResponse model")
    uid = user_id(app, email)
    start = datetime(2025, 4, 1, tzinfo=timezone.utc)
    with app.app_context():
        db.session.execute(sa.delete(survey).where(survey.user_id == uid))
        batch: list[dict[str, Any]] = []
        for n in range(count):
            batch.append(
                {
                    "user_id": uid,
                    "employer_name": "Bench Works KK",
                    "survey_name": f"Engagement survey {n // 50 + 1}",
                    "question": f"Question {n % 50 + 1}: how do you rate the team's communication?",
                    "answer": "Mostly good; weekly meetings help.",
                    "score": n % 5 + 1,
                    "received_at": start + timedelta(minutes=n),
                }
            )
            if len(batch) == 5000:
                db.session.execute(sa.insert(survey), batch)
                batch.clear()
        if batch:
            db.session.execute(sa.insert(survey), batch)
        db.session.commit()


def fill_request_queue(app: Any, count: int) -> None:
    """``count`` open rights requests from the demo users, written straight into the table."""
    from example_app.models import db
    from flask_ome_privacy import models
    from flask_ome_privacy.lifecycle import RequestKind, Status

    table = models.PrivacyRequest.__table__
    open_states = [Status.SUBMITTED, Status.IDENTITY_REVIEW, Status.UNDER_REVIEW, Status.AWAITING_REQUESTER]
    kinds = list(RequestKind)
    users = [str(user_id(app, email)) for email in (ALICE, "bob@example.com")]
    now = datetime.now(timezone.utc)
    rows = []
    for n in range(count):
        received = now - timedelta(hours=n)
        row = {
            "reference": f"BENCH-{n:06d}",
            "user_id": users[n % len(users)],
            "kind": kinds[n % len(kinds)].value,
            "status": open_states[n % len(open_states)].value,
            "received_at": received,
            "due_at": received + timedelta(days=14),
            "created_at": received,
            "updated_at": received,
        }
        rows.append(complete_row(table, row, n))
    with app.app_context():
        db.session.execute(table.insert(), rows)
        db.session.commit()


def complete_row(table: sa.Table, row: dict[str, Any], n: int) -> dict[str, Any]:
    """Fill the NOT NULL columns without a default that ``row`` leaves out (the schema grows)."""
    for column in table.columns:
        if column.name in row or column.nullable or column.primary_key:
            continue
        if column.default is not None or column.server_default is not None:
            continue
        python_type = _python_type(column)
        if python_type is bool:
            row[column.name] = False
        elif python_type is int:
            row[column.name] = 0
        elif python_type is float:
            row[column.name] = 0.0
        elif python_type is datetime:
            row[column.name] = datetime.now(timezone.utc)
        elif python_type is date:
            row[column.name] = date.today()
        elif python_type in (dict, list):
            row[column.name] = python_type()
        else:
            row[column.name] = f"bench-{n}"
    return row


def _python_type(column: sa.Column) -> type | None:
    try:
        return column.type.python_type
    except NotImplementedError:
        impl = getattr(column.type, "impl", None)
        try:
            return impl.python_type if impl is not None else None
        except NotImplementedError:
            return None


# --- measuring -------------------------------------------------------------------------------


def time_gets(client: Any, url: str, requests: int, budget_s: float) -> str:
    """GET ``url`` up to ``requests`` times (or until ``budget_s`` is spent) after a warm-up."""
    first = client.get(url)
    if first.status_code != 200:
        return f"n/a ({first.status_code})"
    timings: list[float] = []
    deadline = time.perf_counter() + budget_s
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(url)
        timings.append(time.perf_counter() - started)
        if response.status_code != 200:
            return f"n/a ({response.status_code} on a repeat)"
        if time.perf_counter() > deadline and len(timings) >= 5:
            break
    return summarize(timings)


def summarize(timings: list[float]) -> str:
    ms = sorted(t * 1000 for t in timings)
    p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
    per_second = len(ms) / (sum(ms) / 1000)
    median = statistics.median(ms)
    return f"{len(ms):>5} req  {per_second:8.1f} req/s  median {median:8.1f} ms  p95 {p95:8.1f} ms"


def download(client: Any, url: str) -> tuple[int, str, int]:
    """Stream ``url`` to nowhere; returns status, content type and bytes."""
    response = client.get(url, buffered=False)
    size = 0
    try:
        if response.status_code == 200:
            for chunk in response.response:
                size += len(chunk)
    finally:
        response.close()
    return response.status_code, response.headers.get("Content-Type", ""), size


def time_export(client: Any, url: str) -> str:
    started = time.perf_counter()
    status, content_type, size = download(client, url)
    elapsed = time.perf_counter() - started
    if status != 200:
        return f"n/a ({status})"
    tracemalloc.start()
    try:
        download(client, url)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    kind = content_type.split(";")[0] or "?"
    return f"{elapsed:6.2f} s  {size / 1e6:7.1f} MB {kind}  peak Python memory {peak / 1e6:6.1f} MB"


# --- the run ---------------------------------------------------------------------------------


def scenarios(app: Any, quick: bool, requests: int, budget: float) -> Iterable[tuple[str, Callable[[], str]]]:
    small, large, export = (100, 1_000, 5_000) if quick else (1_000, 10_000, 100_000)
    queue = 100 if quick else 1_000
    anonymous = app.test_client()
    clients: dict[str, Any] = {}

    def as_user(email: str) -> Any:
        if email not in clients:
            clients[email] = signed_in_client(app, email)
        return clients[email]

    yield (
        "GET /privacy/purposes (anonymous)",
        lambda: time_gets(anonymous, "/privacy/purposes", requests, budget),
    )
    yield (
        "GET /account/privacy/ (alice, demo data)",
        lambda: time_gets(as_user(ALICE), "/account/privacy/", requests, budget),
    )

    for count in (small, large):

        def data_page(count: int = count) -> str:
            set_survey_records(app, ALICE, count)
            return time_gets(as_user(ALICE), "/account/privacy/data", requests, budget)

        yield f"GET /account/privacy/data (alice, {count:,} survey records)", data_page

    def export_json() -> str:
        set_survey_records(app, ALICE, export)
        return time_export(as_user(ALICE), EXPORT_JSON)

    yield f"GET {EXPORT_JSON} (JSON, {export:,} records)", export_json

    def staff_queue() -> str:
        fill_request_queue(app, queue)
        return time_gets(as_user(STAFF), "/admin/privacy/", requests, budget)

    yield f"GET /admin/privacy/ (staff, {queue:,} requests queued)", staff_queue


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small volumes and few requests (smoke run)")
    parser.add_argument("--requests", type=int, default=None, help="timed requests per page (default 200)")
    parser.add_argument("--budget", type=float, default=10.0, help="seconds at most per page (default 10)")
    args = parser.parse_args(argv)
    requests = args.requests or (20 if args.quick else 200)

    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="ome-bench-") as tmp:
        setup_started = time.perf_counter()
        app = build_site(Path(tmp))
        print(f"flask-ome-privacy bench — SQLite file, Flask test client, Python {sys.version.split()[0]}")
        print(f"site built and seeded in {time.perf_counter() - setup_started:.1f} s\n")
        for name, measure in scenarios(app, args.quick, requests, args.budget):
            try:
                result = measure()
            except NotAvailable as exc:
                result = f"n/a ({exc})"
            except Exception as exc:  # one broken page must not stop the table
                result = f"n/a ({type(exc).__name__}: {str(exc).splitlines()[0][:80] if str(exc) else ''})"
            rows.append(Row(name, result))
            print(f"{name:<58} {result}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
