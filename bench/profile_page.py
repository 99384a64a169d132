"""Where a page's time goes: cProfile of one page in-process, on a fresh PostgreSQL database.

    .venv/bin/python bench/profile_page.py /account/privacy/data
    .venv/bin/python bench/profile_page.py /admin/privacy/ --as staff@example.com --queue 100000
    .venv/bin/python bench/profile_page.py /account/privacy/ --requests 300 --top 40 --sort tottime

The same site and demo data as ``bench/server.py`` (its database is created and dropped the
same way), requested through Flask's test client signed in through the real form. Prints the
page's and ``/account``'s median time in this process (the ratio ``server.py`` measures, less
gunicorn and the network), the SQL statements per request, then the profile's top functions.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import server  # noqa: E402  (the repository root is on the path just above)


def median_ms(client: Any, path: str, requests: int) -> tuple[float, float]:
    """Median wall time and median CPU time of this process per request, in ms (the CPU time
    moves less when the machine is busy; the wall time includes the database's share)."""
    client.get(path)
    timings, cpu = [], []
    for _ in range(requests):
        started, started_cpu = time.perf_counter(), time.process_time()
        response = client.get(path)
        timings.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
        assert response.status_code == 200, (path, response.status_code)
    return statistics.median(timings) * 1000, statistics.median(cpu) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("path", help="the page, e.g. /account/privacy/data")
    parser.add_argument("--as", dest="who", default=server.ALICE, help="who is signed in (default alice)")
    parser.add_argument("--requests", type=int, default=200, help="requests timed and profiled (default 200)")
    parser.add_argument("--top", type=int, default=30, help="profile rows printed (default 30)")
    parser.add_argument("--sort", default="cumulative", help="pstats sort key (default cumulative)")
    parser.add_argument("--sql", action="store_true", help="print each SQL statement of one request")
    parser.add_argument(
        "--cpu", action="store_true", help="profile this thread's CPU time, not wall time (a busy machine)"
    )
    parser.add_argument("--queue", type=int, default=0, help="open requests queued first (default none)")
    args = parser.parse_args(argv)

    from cryptography.fernet import Fernet

    from example_app.models import db

    database = server.Database(server.DEFAULT_PG_URL)
    database.create()
    try:
        app = server.build_app(database.url_string, Fernet.generate_key().decode())
        server.seed(app)
        if args.queue:
            from flask_ome_privacy.models import PrivacyRequest

            users = [str(server.uid(app, email)) for email in (server.ALICE, "bob@example.com")]
            rows = server.request_rows(users, args.queue, "BENCH")
            server.insert_batched(app, PrivacyRequest.__table__, rows)
            with (
                app.app_context(),
                db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection,
            ):
                connection.execute(sa.text("VACUUM ANALYZE ome_privacy_requests"))
        alice = server.signed_in_test_client(app, server.ALICE)
        client = alice if args.who == server.ALICE else server.signed_in_test_client(app, args.who)
        account = median_ms(alice, "/account", args.requests)
        page = median_ms(client, args.path, args.requests)
        statements = [0]

        def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            statements[0] += 1
            if args.sql:
                print(f"  SQL {statements[0]}: {' '.join(statement.split())[:300]}")

        with app.app_context():
            engine = db.engine
        sa.event.listen(engine, "before_cursor_execute", count)
        client.get(args.path)
        sa.event.remove(engine, "before_cursor_execute", count)
        print(
            f"{args.path}: median {page[0]:.2f} ms (CPU {page[1]:.2f} ms); /account {account[0]:.2f} ms "
            f"(CPU {account[1]:.2f} ms); share {account[0] / page[0]:.2f} (by CPU "
            f"{account[1] / max(page[1], 1e-6):.2f}); {statements[0]} SQL statements"
        )
        profile = cProfile.Profile(time.thread_time) if args.cpu else cProfile.Profile()
        profile.enable()
        for _ in range(args.requests):
            client.get(args.path)
        profile.disable()
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats(args.sort).print_stats(args.top)
        print(out.getvalue())
    finally:
        database.drop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
