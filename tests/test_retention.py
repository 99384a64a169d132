"""Retention (policy Art. 4.4): request documents are deleted after the request closes plus
``OME_PRIVACY_DOCUMENT_RETENTION_DAYS``; the minimal record and the audit trail stay."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from PIL import Image

from flask_ome_privacy import audit, documents, drafts, privacy_requests, retention
from flask_ome_privacy.lifecycle import Status
from flask_ome_privacy.models import (
    AuditEvent,
    PrivacyRequest,
    RequestDocument,
    RequestDraft,
    RequestMessage,
    utcnow,
)
from flask_ome_privacy.state import get_state

RETENTION_DAYS = 30


def photo(colour: tuple[int, int, int]) -> documents.CleanDocument:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), colour).save(out, "PNG")
    return documents.clean_upload(out.getvalue(), max_bytes=1024 * 1024)


def closed_request(
    app: Any, db: Any, reference: str, *, closed_days_ago: float | None, files: int = 1
) -> int:
    """A disclosure request with ``files`` identity documents, the requester's words, and (unless
    ``closed_days_ago`` is None) closed as refused that many days ago."""
    now = utcnow()
    with app.app_context():
        state = get_state(app)
        received = now - timedelta(days=(closed_days_ago or 0) + 10)
        request = privacy_requests.submit(
            state,
            user_id="1",
            kind="disclose",
            reference=reference,
            details="My address: Tokyo 1-2-3",
            now=received,
        )
        for number in range(files):
            documents.store(
                db.session, request.id, "person_identity", "drivers_licence", photo((number, 90, 200))
            )
        db.session.add(
            RequestMessage(
                request_id=request.id, author="requester", kind="answer", body="New address: Osaka 4-5"
            )
        )
        db.session.add(
            RequestMessage(request_id=request.id, author="staff", kind="deficiency", body="Please send")
        )
        privacy_requests.move(
            db.session, request, Status.IDENTITY_REVIEW, actor_id="s", actor_role="staff", now=received
        )
        request.identity_method = "drivers_licence"
        request.identity_verified_at = received + timedelta(days=1)
        request.identity_verified_by = "s"
        if closed_days_ago is not None:
            privacy_requests.move(
                db.session,
                request,
                Status.REFUSED,
                actor_id="s",
                actor_role="staff",
                now=now - timedelta(days=closed_days_ago),
            )
        db.session.commit()
        return request.id


def stored_ciphertexts(app: Any, db: Any) -> dict[int, bytes]:
    """Every encrypted file in the table, read straight from the column (document id -> bytes)."""
    with app.app_context():
        table = RequestDocument.__table__
        rows = db.session.execute(sa.select(table.c.id, table.c.ciphertext)).all()
        return {row.id: bytes(row.ciphertext) for row in rows if row.ciphertext is not None}


def run_purge(app: Any) -> str:
    result = app.test_cli_runner().invoke(args=["ome-privacy", "purge"])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def requests(app: Any, db: Any) -> dict[str, int]:
    return {
        "old": closed_request(app, db, "PR-OLDD-0001", closed_days_ago=RETENTION_DAYS + 1, files=2),
        "recent": closed_request(app, db, "PR-RCNT-0001", closed_days_ago=RETENTION_DAYS - 1),
        "open": closed_request(app, db, "PR-OPEN-0001", closed_days_ago=None),
    }


def test_documents_past_retention_are_gone_from_the_database(
    app: Any, db: Any, requests: dict[str, int]
) -> None:
    with app.app_context():
        old_ids = list(
            db.session.scalars(
                sa.select(RequestDocument.id).where(RequestDocument.request_id == requests["old"])
            )
        )
    before = stored_ciphertexts(app, db)
    old_bytes = [before[i] for i in old_ids]
    assert len(before) == 4 and len(old_bytes) == 2

    output = run_purge(app)
    assert (
        "Purged 1 closed request(s) past 30 days: 2 document file(s) deleted, 1 requester message(s) cleared"
        in output
    )

    after = stored_ciphertexts(app, db)
    assert set(after) == set(before) - set(old_ids)
    # Scan every stored file: the old ones' encrypted bytes are nowhere in the column.
    assert not any(token in stored for token in old_bytes for stored in after.values())
    with app.app_context():
        with pytest.raises(documents.DocumentPurged):
            documents.read(db.session, old_ids[0])
        # The others can still be read by staff.
        documents.read(db.session, next(iter(after)))


def test_the_minimal_record_stays(app: Any, db: Any, requests: dict[str, int]) -> None:
    run_purge(app)
    with app.app_context():
        request = db.session.get(PrivacyRequest, requests["old"])
        assert request is not None
        # Reference, dates, kind, outcome, that identity was verified and how.
        assert (request.reference, request.kind, request.status) == ("PR-OLDD-0001", "disclose", "refused")
        assert request.received_at and request.closed_at and request.documents_purged_at
        assert (request.identity_method, request.identity_verified_by) == ("drivers_licence", "s")
        assert request.identity_verified_at is not None
        assert [(d.role, d.doc_type) for d in request.documents] == [
            ("person_identity", "drivers_licence")
        ] * 2
        assert all(d.purged_at is not None for d in request.documents)
        # What the requester wrote is gone; the staff's own notice stays.
        assert request.details == ""
        assert {m.author: m.body for m in request.messages} == {"requester": "", "staff": "Please send"}
        # The others are untouched.
        recent = db.session.get(PrivacyRequest, requests["recent"])
        assert (
            recent is not None
            and recent.details == "My address: Tokyo 1-2-3"
            and recent.documents_purged_at is None
        )
        # The trail keeps every event of the request, says what was purged, and still verifies.
        events = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.request_id == requests["old"]).order_by(AuditEvent.id)
        ).all()
        assert [e.action for e in events] == [
            "request.submitted",
            "request.moved",
            "request.moved",
            retention.PURGED_ACTION,
        ]
        assert events[-1].data == {"reference": "PR-OLDD-0001", "documents": 2, "messages": 1}
        run = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == retention.RUN_ACTION)).one()
        assert run.data == {"requests": 1, "documents": 2, "messages": 1, "drafts": 0}
        assert audit.verify_session(db.session).ok


def test_running_the_purge_again_changes_nothing(app: Any, db: Any, requests: dict[str, int]) -> None:
    run_purge(app)
    files = stored_ciphertexts(app, db)
    again = run_purge(app)
    assert (
        "Purged 0 closed request(s) past 30 days: 0 document file(s) deleted, 0 requester message(s) cleared"
        in again
    )
    assert stored_ciphertexts(app, db) == files
    with app.app_context():
        purged = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == retention.PURGED_ACTION)
        ).all()
        assert len(purged) == 1  # the request was done once


def test_a_request_is_purged_once_its_own_retention_has_passed(
    app: Any, db: Any, requests: dict[str, int]
) -> None:
    run_purge(app)
    later = utcnow() + timedelta(days=2)
    with app.app_context():
        result = retention.purge_due(get_state(app), now=later)
        db.session.commit()
        assert (result.requests, result.documents) == (1, 1)
        still_open = db.session.get(PrivacyRequest, requests["open"])
        assert still_open is not None and still_open.documents_purged_at is None
    assert len(stored_ciphertexts(app, db)) == 1  # only the open request's file


def test_the_retention_period_is_configurable(app: Any, db: Any, requests: dict[str, int]) -> None:
    app.config["OME_PRIVACY_DOCUMENT_RETENTION_DAYS"] = 0
    output = run_purge(app)
    assert "Purged 2 closed request(s) past 0 days: 3 document file(s) deleted" in output


def test_documents_past_retention_are_counted_until_purged(
    app: Any, db: Any, requests: dict[str, int]
) -> None:
    with app.app_context():
        cutoff = retention.retention_cutoff(get_state(app), utcnow())
        assert retention.documents_past_retention(db.session, cutoff) == 2
    run_purge(app)
    with app.app_context():
        assert retention.documents_past_retention(db.session, cutoff) == 0


def test_the_run_deletes_drafts_nobody_finished(app: Any, db: Any) -> None:
    """Drafts untouched for ``OME_PRIVACY_DRAFT_DAYS`` go in the same run; a recent one stays."""
    with app.app_context():
        stale = drafts.new_draft(db.session, "1", {"kinds": ["delete"]})
        fresh = drafts.new_draft(db.session, "1", {"kinds": ["disclose"]})
        days = int(get_state(app).config("DRAFT_DAYS"))
        stale.updated_at = utcnow() - timedelta(days=days + 1)
        db.session.commit()
        stale_id, fresh_id = stale.id, fresh.id
    assert "1 stale draft(s) deleted" in run_purge(app)
    with app.app_context():
        assert db.session.get(RequestDraft, stale_id) is None
        assert db.session.get(RequestDraft, fresh_id) is not None


def mailed_request(app: Any, db: Any, *, closed_days_ago: float) -> int:
    """A request that came by post from someone without an account (name and address kept for
    the reply), filed by an appointed representative, closed ``closed_days_ago`` days ago."""
    from flask_ome_privacy import staff_queue

    now = utcnow()
    with app.app_context():
        state = get_state(app)
        received = now - timedelta(days=closed_days_ago + 10)
        request = staff_queue.register_postal(
            state,
            staff_id="s",
            kind="erase",
            requester_type="appointed_representative",
            received_at=received,
            user_id=None,
            postal_name="山田 花子",
            postal_address="東京都千代田区丸の内 9-9-9",
            originals="returned",
        )
        request.scope = {
            "sources": ["profile"],
            "representative": {
                "name": "佐藤 弁護士",
                "postal_address": "大阪市北区 1-1",
                "email": "rep@example.jp",
            },
        }
        request.identity_method = "mailed_copies"
        request.identity_verified_at = received + timedelta(days=1)
        for status in (Status.IDENTITY_REVIEW, Status.REFUSED):
            privacy_requests.move(
                db.session,
                request,
                status,
                actor_id="s",
                actor_role="staff",
                now=now - timedelta(days=closed_days_ago),
            )
        db.session.commit()
        return request.id


def test_the_purge_clears_a_mailed_requests_name_and_address_and_keeps_the_minimal_record(
    app: Any, db: Any
) -> None:
    old = mailed_request(app, db, closed_days_ago=RETENTION_DAYS + 1)
    recent = mailed_request(app, db, closed_days_ago=RETENTION_DAYS - 1)
    run_purge(app)
    with app.app_context():
        request = db.session.get(PrivacyRequest, old)
        assert request is not None
        assert request.postal_name is None and request.postal_address is None
        # The representative's contact details written into the scope go too; what was asked stays.
        assert request.scope == {"sources": ["profile"]}
        assert (request.kind, request.status, request.channel, request.originals) == (
            "erase",
            "refused",
            "postal",
            "returned",
        )
        assert request.identity_verified_at is not None and request.identity_method == "mailed_copies"
        assert request.received_at and request.closed_at and request.documents_purged_at
        # Not in any column of the row any more (read straight from the table).
        row = db.session.execute(
            sa.select(PrivacyRequest.__table__).where(PrivacyRequest.__table__.c.id == old)
        ).one()
        assert not any("山田" in str(value) or "佐藤" in str(value) for value in row)
        # The one still within retention keeps the address staff reply to.
        kept = db.session.get(PrivacyRequest, recent)
        assert kept is not None and kept.postal_name == "山田 花子" and "representative" in kept.scope
    # A second run changes nothing.
    assert "Purged 0 closed request(s)" in run_purge(app)
