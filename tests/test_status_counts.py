"""The desk's counts per status come from ``StatusCount``, kept by ``submit`` and ``move``
(issue 10: no scan of every request), and always equal a real count of the requests."""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from helpers import fresh_database

from flask_ome_privacy import OmePrivacy, migrate, privacy_requests, staff_queue
from flask_ome_privacy.lifecycle import Status
from flask_ome_privacy.models import PrivacyRequest, StatusCount
from flask_ome_privacy.state import get_state

EN = {"Accept-Language": "en"}


def real_counts(db: Any) -> dict[Status, int]:
    """What ``status_counts`` must say: the requests themselves, counted."""
    counted = dict(
        db.session.execute(
            sa.select(PrivacyRequest.status, sa.func.count()).group_by(PrivacyRequest.status)
        ).all()
    )
    return {status: int(counted.get(status.value, 0)) for status in Status if status.is_open}


def submit(app: Any, db: Any, reference: str, *moves: Status) -> None:
    with app.app_context():
        request = privacy_requests.submit(get_state(app), user_id="1", kind="disclose", reference=reference)
        for status in moves:
            privacy_requests.move(db.session, request, status, actor_id="7", actor_role="staff")
        db.session.commit()


def by_reference(db: Any, reference: str) -> PrivacyRequest:
    found = db.session.scalar(sa.select(PrivacyRequest).where(PrivacyRequest.reference == reference))
    assert found is not None
    return found


def shown_counts(html: str) -> dict[str, int]:
    return {label: int(n) for label, n in re.findall(r">([^<>:]+): <strong>(\d+)</strong>", html)}


def test_the_queue_counts_follow_every_submit_and_move(
    seeded_app: Any, db: Any, client: Any, login: Any
) -> None:
    submit(seeded_app, db, "PR-CNT-0001")
    submit(seeded_app, db, "PR-CNT-0002", Status.IDENTITY_REVIEW)
    submit(seeded_app, db, "PR-CNT-0003", Status.IDENTITY_REVIEW, Status.UNDER_REVIEW)
    submit(seeded_app, db, "PR-CNT-0004", Status.WITHDRAWN)  # closed: in no open count
    login(client, "staff@example.com")
    counts = shown_counts(client.get("/admin/privacy/", headers=EN).get_data(as_text=True))
    assert counts["Submitted"] == 1 and counts["Checking identity"] == 1 and counts["Under review"] == 1
    assert counts["All open"] == 3
    with seeded_app.app_context():
        assert staff_queue.status_counts(db.session) == real_counts(db)
        request = by_reference(db, "PR-CNT-0002")
        privacy_requests.move(db.session, request, Status.UNDER_REVIEW, actor_id="7", actor_role="staff")
        db.session.commit()
    counts = shown_counts(client.get("/admin/privacy/", headers=EN).get_data(as_text=True))
    assert counts["Checking identity"] == 0 and counts["Under review"] == 2 and counts["All open"] == 3


def test_a_move_rolled_back_leaves_the_counts_as_they_were(seeded_app: Any, db: Any) -> None:
    submit(seeded_app, db, "PR-CNT-0010")
    with seeded_app.app_context():
        before = staff_queue.status_counts(db.session)
        request = by_reference(db, "PR-CNT-0010")
        privacy_requests.move(db.session, request, Status.IDENTITY_REVIEW, actor_id="7", actor_role="staff")
        db.session.rollback()
        assert staff_queue.status_counts(db.session) == before == real_counts(db)


def test_recount_rebuilds_the_counts_after_rows_written_in_bulk(seeded_app: Any, db: Any) -> None:
    submit(seeded_app, db, "PR-CNT-0020")
    with seeded_app.app_context():
        request = by_reference(db, "PR-CNT-0020")
        db.session.execute(  # behind move's back, as a bulk import would
            sa.update(PrivacyRequest).where(PrivacyRequest.id == request.id).values(status="under_review")
        )
        assert staff_queue.status_counts(db.session) != real_counts(db)
        privacy_requests.recount_statuses(db.session)
        db.session.commit()
        assert staff_queue.status_counts(db.session) == real_counts(db)


@pytest.mark.postgres  # real concurrency needs PostgreSQL (SQLite has one writer at a time)
def test_eight_clients_moving_requests_at_once_lose_no_count(seeded_app: Any, db: Any) -> None:
    """Eight threads, each with its own session and transactions, submit and move requests at
    the same time; afterwards the counts equal a real count (no lost update, no deadlock)."""
    errors: list[BaseException] = []
    start = threading.Barrier(8, timeout=30)

    def work(worker: int) -> None:
        try:
            with seeded_app.app_context():
                start.wait()
                for n in range(6):
                    request = privacy_requests.submit(
                        get_state(seeded_app), user_id="1", kind="erase", reference=f"PR-RACE-{worker}{n:02d}"
                    )
                    db.session.commit()
                    for status in (Status.IDENTITY_REVIEW, Status.UNDER_REVIEW)[: 1 + n % 2]:
                        privacy_requests.move(db.session, request, status, actor_id="7", actor_role="staff")
                        db.session.commit()
                db.session.remove()
        except BaseException as exc:  # reported below, with the thread's own traceback
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    with seeded_app.app_context():
        counts = staff_queue.status_counts(db.session)
        assert counts == real_counts(db)
        assert counts[Status.IDENTITY_REVIEW] == 24 and counts[Status.UNDER_REVIEW] == 24


def test_migration_0011_counts_the_requests_already_stored(tmp_path: Path) -> None:
    with fresh_database(tmp_path) as url:
        app = Flask(__name__)
        app.config.update(SECRET_KEY="x", SQLALCHEMY_DATABASE_URI=url)
        db = SQLAlchemy(app)
        OmePrivacy(app, db=db)
        try:
            migrate.upgrade(app, "0009")
            with app.app_context():
                table = PrivacyRequest.__table__
                now = sa.func.now()
                rows = [
                    {
                        "reference": f"PR-OLD-{n:04d}",
                        "user_id": "1",
                        "kind": "disclose",
                        "status": ("submitted", "under_review", "completed")[n % 3],
                        "requester_type": "self",
                        "channel": "online",
                        "scope": {},
                        "details": "",
                        "fee_status": "not_required",
                        "fee_amount": 0,
                        "received_at": now,
                        "due_at": now,
                        "target_days": 14,
                        "paused_seconds": 0.0,
                        "representation_verified": False,
                        "created_at": now,
                        "updated_at": now,
                        "version": 1,
                    }
                    for n in range(7)
                ]
                with db.engine.begin() as connection:
                    for row in rows:
                        connection.execute(table.insert().values(**row))
            migrate.upgrade(app)
            with app.app_context():
                stored = dict(db.session.execute(sa.select(StatusCount.status, StatusCount.count)).all())
            assert stored == {"submitted": 3, "under_review": 2, "completed": 2}
        finally:
            with app.app_context():
                db.engine.dispose()
