"""The audit trail is append-only and tamper-evident (policy Art. 1.4, 3.2)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from flask_ome_privacy import audit
from flask_ome_privacy.models import AuditEvent


def append_three(app: Any, db: Any) -> None:
    with app.app_context():
        for number in range(3):
            audit.append(db.session, "test.step", actor_id="9", actor_role="staff", data={"n": number})
        db.session.commit()


def test_a_fresh_chain_verifies(app: Any, db: Any) -> None:
    append_three(app, db)
    with app.app_context():
        report = audit.verify_session(db.session)
    assert report.ok
    assert report.checked == 3


def test_editing_an_event_is_detected(app: Any, db: Any) -> None:
    append_three(app, db)
    with app.app_context():
        second = db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id)).all()[1]
        second.data = {"n": 99}
        db.session.commit()
        report = audit.verify_session(db.session)
    assert not report.ok
    assert report.first_bad_id == second.id
    assert "hash" in report.problem


def test_deleting_an_event_breaks_the_chain(app: Any, db: Any) -> None:
    append_three(app, db)
    with app.app_context():
        first = db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id)).first()
        db.session.delete(first)
        db.session.commit()
        report = audit.verify_session(db.session)
    assert not report.ok
    assert "link" in report.problem


def test_appends_from_two_workers_at_once_keep_one_chain(app: Any, db: Any) -> None:
    import threading

    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            with app.app_context():
                barrier.wait()
                for number in range(10):
                    audit.append(
                        db.session, "test.concurrent", actor_id=name, actor_role="staff", data={"n": number}
                    )
                    db.session.commit()
                db.session.remove()
        except BaseException as exc:  # surfaced below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    with app.app_context():
        report = audit.verify_session(db.session)
    assert report.ok, report
    assert report.checked == 20


def test_the_cli_reports_an_intact_trail_and_fails_on_a_broken_one(app: Any, db: Any) -> None:
    append_three(app, db)
    runner = app.test_cli_runner()
    intact = runner.invoke(args=["ome-privacy", "verify-audit"])
    assert intact.exit_code == 0, intact.output
    assert "3 events checked" in intact.output
    with app.app_context():
        last = db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        last.action = "test.rewritten"
        db.session.commit()
        last_id = last.id
    broken = runner.invoke(args=["ome-privacy", "verify-audit"])
    assert broken.exit_code == 1
    assert f"BROKEN at event {last_id}" in broken.output
