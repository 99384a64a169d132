"""The staff queue at 100,000 open requests: page 1, a deep page and each filter (issue 9).

    .venv/bin/python bench/staff_queue.py                       # SQLite file in a temp dir
    .venv/bin/python bench/staff_queue.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/ome_bench
    .venv/bin/python bench/staff_queue.py --count 2000 --requests 5   # a smoke run

Rows are written with one bulk insert. Each line times the whole page through Flask's test
client (query, template, headers) as a signed-in staff member, and the queue query alone
(``staff_queue.queue``), and prints p50/p95. Keyset paging means the deep page (page 500 at
50 rows a page is row 25,000) costs what page 1 costs. The target is p95 < 50 ms.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import sqlalchemy as sa

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "bench"))

from run import complete_row, signed_in_client, user_id  # noqa: E402  (bench/ is not a package)

STAFF = "staff@example.com"
TARGET_P95_MS = 50.0


def build(url: str) -> Any:
    from cryptography.fernet import Fernet

    import example_app
    from example_app.models import db
    from example_app.seed import seed_demo
    from flask_ome_privacy.migrate import upgrade

    app = example_app.create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": "bench",
            "WTF_CSRF_ENABLED": False,
            "PROPAGATE_EXCEPTIONS": True,
            "OME_PRIVACY_DOCUMENT_KEYS": Fernet.generate_key().decode(),
        }
    )
    upgrade(app)
    with app.app_context():
        db.create_all()
        seed_demo()
        db.session.commit()
    return app


def fill(app: Any, count: int) -> str:
    """``count`` open requests in one bulk insert; every 7th overdue, every 5th the staff member's.

    Returns the staff member's id.
    """
    from example_app.models import db
    from flask_ome_privacy import models, privacy_requests
    from flask_ome_privacy.lifecycle import RequestKind, Status

    table = models.PrivacyRequest.__table__
    states = [
        Status.SUBMITTED,
        Status.IDENTITY_REVIEW,
        Status.UNDER_REVIEW,
        Status.AWAITING_REQUESTER,
        Status.APPROVED,
    ]
    kinds = list(RequestKind)
    staff = str(user_id(app, STAFF))
    owner = str(user_id(app, "alice@example.com"))
    now = datetime.now(timezone.utc)
    rows = []
    for n in range(count):
        received = now - timedelta(days=20 if n % 7 == 0 else 0, minutes=n)
        status = states[n % len(states)]
        row = {
            "reference": f"PR-B{n:07d}",
            "user_id": owner,
            "kind": kinds[n % len(kinds)].value,
            "status": status.value,
            "received_at": received,
            "due_at": received + timedelta(days=14),
            "target_days": 14,
            "paused_since": received + timedelta(days=1) if status is Status.AWAITING_REQUESTER else None,
            "assigned_to": staff if n % 5 == 0 else None,
            "created_at": received,
            "updated_at": received,
        }
        rows.append(complete_row(table, row, n))
    with app.app_context():
        for start in range(0, len(rows), 10_000):
            db.session.execute(table.insert(), rows[start : start + 10_000])
        privacy_requests.recount_statuses(db.session)  # the rows came without submit/move
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            # As autovacuum would: statistics, and the visibility map index-only scans need.
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(sa.text("VACUUM ANALYZE ome_privacy_requests"))
    return staff


def percentiles(timings: list[float]) -> tuple[float, float]:
    ms = sorted(t * 1000 for t in timings)
    return statistics.median(ms), ms[min(len(ms) - 1, int(len(ms) * 0.95))]


def timed(call: Callable[[], Any], requests: int) -> tuple[float, float]:
    call()  # warm-up
    timings = []
    for _ in range(requests):
        started = time.perf_counter()
        call()
        timings.append(time.perf_counter() - started)
    return percentiles(timings)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--database-url", default=None, help="default: a SQLite file in a temporary directory"
    )
    parser.add_argument(
        "--count", type=int, default=100_000, help="open requests to insert (default 100,000)"
    )
    parser.add_argument("--requests", type=int, default=50, help="timed requests per line (default 50)")
    args = parser.parse_args(argv)

    from example_app.models import db
    from flask_ome_privacy import staff_queue
    from flask_ome_privacy.models import PrivacyRequest
    from flask_ome_privacy.staff_queue import Cursor, QueueFilters
    from flask_ome_privacy.views.staff_queue import QUEUE_PAGE_SIZE

    with tempfile.TemporaryDirectory() as workdir:
        url = args.database_url or f"sqlite:///{Path(workdir) / 'queue.sqlite'}"
        app = build(url)
        started = time.perf_counter()
        staff = fill(app, args.count)
        backend = sa.engine.make_url(url).get_backend_name()
        print(f"{args.count:,} requests inserted in {time.perf_counter() - started:.1f} s ({backend})")
        deep_row = min(args.count - 1, 499 * QUEUE_PAGE_SIZE)  # the last row before page 500
        with app.app_context():
            cursor_row = db.session.execute(
                sa.select(PrivacyRequest.due_at, PrivacyRequest.id)
                .order_by(PrivacyRequest.due_at, PrivacyRequest.id)
                .offset(deep_row - 1)
                .limit(1)
            ).one()
        deep = Cursor(cursor_row[0], cursor_row[1])
        client = signed_in_client(app, STAFF)
        pages = {
            "page 1": ("", QueueFilters(), None),
            f"page {deep_row // QUEUE_PAGE_SIZE + 1} (keyset)": (
                f"after={deep.token()}",
                QueueFilters(),
                deep,
            ),
            "status=under_review": ("status=under_review", QueueFilters(status="under_review"), None),
            "kind=disclose": ("kind=disclose", QueueFilters(kind="disclose"), None),
            "overdue": ("overdue=1", QueueFilters(overdue=True), None),
            "mine": ("mine=1", QueueFilters(assignee=staff), None),
            "assignee=<staff>": (f"assignee={staff}", QueueFilters(assignee=staff), None),
            "unassigned": ("unassigned=1", QueueFilters(unassigned=True), None),
            "ref=PR-B0054321": ("ref=PR-B0054321", QueueFilters(reference="PR-B0054321"), None),
            "sort=-due": ("sort=-due", QueueFilters(newest_due_first=True), None),
            "overdue+kind, deep": (
                f"overdue=1&kind=erase&after={deep.token()}",
                QueueFilters(overdue=True, kind="erase"),
                deep,
            ),
        }
        worst = 0.0
        print(f"{'page':<28} {'page p50':>9} {'page p95':>9} {'query p50':>10} {'query p95':>10}")
        for name, (query, filters, after) in pages.items():

            def get(query: str = query) -> None:
                response = client.get(f"/admin/privacy/?{query}")
                assert response.status_code == 200, response.status_code

            def ask(filters: QueueFilters = filters, after: Cursor | None = after) -> None:
                with app.app_context():
                    staff_queue.queue(db.session, filters, page_size=QUEUE_PAGE_SIZE, after=after)

            page50, page95 = timed(get, args.requests)
            query50, query95 = timed(ask, args.requests)
            worst = max(worst, page95)
            print(f"{name:<28} {page50:8.1f}ms {page95:8.1f}ms {query50:9.1f}ms {query95:9.1f}ms")
        with app.app_context():
            counts = timed(lambda: staff_queue.status_counts(db.session), args.requests)
        print(f"{'counts per status (query)':<28} {'':>9} {'':>9} {counts[0]:9.1f}ms {counts[1]:9.1f}ms")
        print(f"worst page p95 {worst:.1f} ms (target < {TARGET_P95_MS:.0f} ms)")
        if args.database_url:
            with app.app_context():
                db.session.execute(sa.delete(PrivacyRequest))
                db.session.commit()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
