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


# --- anchoring the chain outside the database (issue 7, item 10) -----------------------------------

KEY_2025 = "old-audit-key-kept-outside-the-database"
KEY_2026 = "new-audit-key-kept-outside-the-database"


def append_n(app: Any, db: Any, count: int, start: int = 0) -> None:
    with app.app_context():
        for number in range(start, start + count):
            audit.append(db.session, "test.step", actor_id="9", actor_role="staff", data={"n": number})
        db.session.commit()


def rewrite_and_recompute(app: Any, db: Any, position: int) -> int:
    """What someone with write access to the database can do: edit one event, then recompute
    its hash and every later one with the published algorithm, so the chain links again."""
    with app.app_context():
        events = db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id)).all()
        events[position].data = {"n": "rewritten"}
        prev = events[position - 1].hash if position else audit.GENESIS
        for event in events[position:]:
            event.prev_hash = prev
            event.hash = audit.event_hash(
                prev,
                event.at,
                event.actor_id,
                event.actor_role,
                event.action,
                event.request_id,
                event.subject_user_id,
                event.data,
            )
            prev = event.hash
        db.session.commit()
        return events[position].id


def delete_last(app: Any, db: Any, count: int) -> None:
    with app.app_context():
        last = db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id.desc()).limit(count)).all()
        for event in last:
            db.session.delete(event)
        db.session.commit()


def verify(app: Any, db: Any, **kwargs: Any) -> audit.ChainReport:
    with app.app_context():
        return audit.verify_session(db.session, **kwargs)


def test_a_rewrite_with_recomputed_hashes_fools_the_chain_alone(app, db):
    """Why the anchors exist: the algorithm is published, so the chain alone can be rebuilt."""
    append_n(app, db, 10)
    rewrite_and_recompute(app, db, 3)
    assert verify(app, db).ok


def test_a_rewrite_with_recomputed_hashes_is_reported_by_the_hmac(app, db):
    app.config["OME_PRIVACY_AUDIT_KEYS"] = KEY_2026
    append_n(app, db, 10)
    assert verify(app, db).ok
    rewritten = rewrite_and_recompute(app, db, 3)
    report = verify(app, db)
    assert not report.ok
    assert report.first_bad_id == rewritten
    assert "signature" in report.problem


def test_deleting_the_last_five_events_is_reported_by_the_anchor(app, db, tmp_path):
    append_n(app, db, 10)
    anchor_file = tmp_path / "audit-anchor.json"
    runner = app.test_cli_runner()
    first = runner.invoke(args=["ome-privacy", "verify-audit", "--anchor", str(anchor_file)])
    assert first.exit_code == 0, first.output
    assert "Anchor created" in first.output
    written = anchor_file.read_text()
    delete_last(app, db, 5)
    assert verify(app, db).ok  # the shortened chain still links: only the anchor can tell
    broken = runner.invoke(args=["ome-privacy", "verify-audit", "--anchor", str(anchor_file)])
    assert broken.exit_code == 1
    assert "BROKEN at event 10" in broken.output
    assert "deleted from the end" in broken.output
    assert anchor_file.read_text() == written  # a failed check never moves the anchor


def test_a_rewrite_with_recomputed_hashes_is_reported_by_the_anchor(app, db, tmp_path):
    append_n(app, db, 10)
    anchor_file = tmp_path / "anchor.json"
    runner = app.test_cli_runner()
    assert runner.invoke(args=["ome-privacy", "verify-audit", "--anchor", str(anchor_file)]).exit_code == 0
    rewrite_and_recompute(app, db, 4)
    broken = runner.invoke(args=["ome-privacy", "verify-audit", "--anchor", str(anchor_file)])
    assert broken.exit_code == 1
    assert "BROKEN at event 10" in broken.output and "rewritten" in broken.output


def test_the_anchor_moves_on_with_the_trail_and_stays_private(app, db, tmp_path):
    import os
    import stat

    anchor_file = tmp_path / "anchor.json"
    runner = app.test_cli_runner()
    append_n(app, db, 2)
    assert runner.invoke(args=["ome-privacy", "verify-audit", "--anchor", str(anchor_file)]).exit_code == 0
    append_n(app, db, 3, start=2)
    second = runner.invoke(args=["ome-privacy", "verify-audit", "--anchor", str(anchor_file)])
    assert second.exit_code == 0, second.output
    assert "moved on to event 5" in second.output
    anchor = audit.read_anchor(anchor_file)
    assert anchor is not None and (anchor.last_id, anchor.events) == (5, 5)
    assert stat.S_IMODE(os.stat(anchor_file).st_mode) == 0o600


def test_a_garbled_anchor_fails_the_check(app, db, tmp_path):
    append_n(app, db, 2)
    anchor_file = tmp_path / "anchor.json"
    anchor_file.write_text("{not json")
    result = app.test_cli_runner().invoke(args=["ome-privacy", "verify-audit", "--anchor", str(anchor_file)])
    assert result.exit_code == 1
    assert "NOT verified" in result.output


def test_keys_rotate_newest_first_and_any_listed_key_verifies(app, db):
    app.config["OME_PRIVACY_AUDIT_KEYS"] = KEY_2025
    append_n(app, db, 3)
    app.config["OME_PRIVACY_AUDIT_KEYS"] = [KEY_2026, KEY_2025]  # rotated: new events use the first
    append_n(app, db, 3, start=3)
    assert verify(app, db).ok
    with app.app_context():
        macs = db.session.scalars(sa.select(AuditEvent.mac).order_by(AuditEvent.id)).all()
        last = db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        assert last.mac == audit.event_mac(KEY_2026.encode(), last.hash)
    assert len(set(macs)) == 6
    report = verify(app, db, keys=audit.parse_keys(KEY_2026))  # the old key dropped too early
    assert not report.ok and report.first_bad_id == 1


def test_events_from_before_the_keys_are_reported_as_unauthenticated(app, db):
    append_n(app, db, 2)
    app.config["OME_PRIVACY_AUDIT_KEYS"] = KEY_2026
    append_n(app, db, 2, start=2)
    report = verify(app, db)
    assert report.ok
    assert report.unsigned_ids == (1, 2)
    assert report.first_signed_id == 3
    result = app.test_cli_runner().invoke(args=["ome-privacy", "verify-audit"])
    assert result.exit_code == 0, result.output
    assert "2 events (ids 1-2) were written before OME_PRIVACY_AUDIT_KEYS was set" in result.output


def test_an_unsigned_event_after_signed_ones_is_reported(app, db):
    app.config["OME_PRIVACY_AUDIT_KEYS"] = KEY_2026
    append_n(app, db, 2)
    app.config["OME_PRIVACY_AUDIT_KEYS"] = None  # written by a process without the key
    append_n(app, db, 1, start=2)
    app.config["OME_PRIVACY_AUDIT_KEYS"] = KEY_2026
    report = verify(app, db)
    assert not report.ok and report.first_bad_id == 3
    assert "not signed" in report.problem


def test_stripping_every_hmac_is_reported_once_an_anchor_saw_them(app, db, tmp_path):
    app.config["OME_PRIVACY_AUDIT_KEYS"] = KEY_2026
    append_n(app, db, 4)
    anchor_file = tmp_path / "anchor.json"
    runner = app.test_cli_runner()
    assert runner.invoke(args=["ome-privacy", "verify-audit", "--anchor", str(anchor_file)]).exit_code == 0
    with app.app_context():
        db.session.execute(sa.update(AuditEvent).values(mac=None))
        db.session.commit()
    broken = runner.invoke(args=["ome-privacy", "verify-audit", "--anchor", str(anchor_file)])
    assert broken.exit_code == 1
    assert "BROKEN at event 1" in broken.output and "not signed" in broken.output
