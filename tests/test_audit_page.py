"""The staff audit page (policy Art. 1.4, 3.2): filters, keyset pages, the chain's state, CSV."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa

from flask_ome_privacy import audit, privacy_requests
from flask_ome_privacy.lifecycle import Status
from flask_ome_privacy.models import AuditEvent
from flask_ome_privacy.state import get_state

EN = {"Accept-Language": "en"}


def add_events(app: Any, db: Any, count: int, *, action: str = "test.step", actor: str = "9") -> None:
    with app.app_context():
        for number in range(count):
            audit.append(db.session, action, actor_id=actor, actor_role="staff", data={"n": number})
        db.session.commit()


def head_id(app: Any, db: Any) -> int:
    with app.app_context():
        return int(db.session.scalar(sa.select(sa.func.max(AuditEvent.id))))


def page(client: Any, query: str = "") -> str:
    response = client.get(f"/admin/privacy/audit{query}", headers=EN)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    return response.get_data(as_text=True)


@pytest.fixture
def staff(seeded_app: Any, client: Any, login: Any) -> Any:
    login(client, "staff@example.com")
    return client


def test_only_staff_see_the_trail(seeded_app: Any, client: Any, login: Any) -> None:
    assert client.get("/admin/privacy/audit").status_code == 302
    login(client, "alice@example.com")
    assert client.get("/admin/privacy/audit").status_code == 403
    assert client.get("/admin/privacy/audit.csv").status_code == 403


def test_the_newest_events_come_first_and_older_ones_are_a_click_away(
    seeded_app: Any, db: Any, staff: Any, count_queries: Any
) -> None:
    add_events(seeded_app, db, 120)
    last = head_id(seeded_app, db)
    first_page = page(staff)
    assert first_page.count('id="event-') == 50
    assert first_page.index(f'id="event-{last}"') < first_page.index(f'id="event-{last - 1}"')
    assert f"before={last - 49}" in first_page and "Newer events" not in first_page
    second = page(staff, f"?before={last - 49}")
    assert f'id="event-{last - 50}"' in second and f'id="event-{last - 49}"' not in second
    assert f"after={last - 50}" in second  # and back
    back = page(staff, f"?after={last - 50}")
    assert f'id="event-{last}"' in back and f'id="event-{last - 49}"' in back
    assert back.count('id="event-') == 50
    # A page deep in the trail costs what the first one does (keyset, not OFFSET).
    with count_queries() as deep:
        page(staff, "?before=3")
    with count_queries() as top:
        page(staff)
    assert deep.count <= top.count + 1, str(deep)
    assert any("ome_privacy_audit_events.id <" in statement for statement in deep.statements), str(deep)


def test_filters_by_request_actor_action_and_dates(seeded_app: Any, db: Any, staff: Any) -> None:
    with seeded_app.app_context():
        state = get_state(seeded_app)
        mine = privacy_requests.submit(state, user_id="1", kind="disclose", reference="PR-AUDT-0001")
        other = privacy_requests.submit(state, user_id="2", kind="erase", reference="PR-AUDT-0002")
        privacy_requests.move(db.session, mine, Status.IDENTITY_REVIEW, actor_id="77", actor_role="staff")
        db.session.commit()
        other_id = other.id
    add_events(seeded_app, db, 3, action="test.other", actor="88")

    by_request = page(staff, "?reference=PR-AUDT-0001")
    assert by_request.count('id="event-') == 2  # submitted + moved
    assert "PR-AUDT-0002" not in by_request.split("<table")[1]
    by_actor = page(staff, "?actor=77")
    assert by_actor.count('id="event-') == 1 and "request.moved" in by_actor
    by_action = page(staff, "?action=test.other")
    assert by_action.count('id="event-') == 3
    assert page(staff, "?action=test.other&actor=77").count('id="event-') == 0

    # Dates are days in the site's zone (Japan), both included.
    with seeded_app.app_context():
        event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.request_id == other_id))
        event.at = datetime(2026, 3, 1, 15, 30, tzinfo=timezone.utc)  # 2026-03-02 00:30 in Japan
        db.session.commit()
    assert page(staff, "?since=2026-03-02&until=2026-03-02").count('id="event-') == 1
    assert page(staff, "?since=2026-03-01&until=2026-03-01").count('id="event-') == 0


def test_bad_filter_values_are_explained_not_500(seeded_app: Any, staff: Any) -> None:
    text = page(staff, "?since=yesterday&until=2026-13-40&reference=PR-NONE-0000&actor=" + "x" * 300)
    assert "a date such as 2026-09-15" in text
    assert "No request has the reference PR-NONE-0000." in text
    assert "at most 64 letters" in text
    assert "No event matches this filter." in text
    swapped = page(staff, "?since=2026-05-02&until=2026-05-01")
    assert "The end date is before the start date." in swapped


def test_dates_at_the_ends_of_the_calendar_are_refused_with_the_range(seeded_app: Any, staff: Any) -> None:
    # The fuzz found these: the day after 9999-12-31 overflowed into a 500.
    for url in ("/admin/privacy/audit?until=9999-12-31", "/admin/privacy/audit.csv?until=9999-12-31",
                "/admin/privacy/audit?since=0001-01-01"):
        response = staff.get(url, headers=EN)
        assert response.status_code < 500, url
    text = page(staff, "?until=9999-12-31")
    assert "between 2000-01-01 and 9998-12-31" in text


def test_the_chain_status_says_how_far_it_is_verified(seeded_app: Any, db: Any, staff: Any) -> None:
    add_events(seeded_app, db, 5)
    last = head_id(seeded_app, db)
    assert f"verified up to event {last}, the newest" in page(staff)
    add_events(seeded_app, db, 2)
    assert f"verified up to event {last + 2}, the newest" in page(staff)


def test_a_large_trail_is_checked_a_piece_per_visit(
    seeded_app: Any, db: Any, staff: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audit, "STATUS_BATCH", 10)
    add_events(seeded_app, db, 25)
    last = head_id(seeded_app, db)
    for visit in range(1, last // 10 + 1):  # ten more events per visit, the first ten first
        if visit * 10 < last:
            assert f"verified up to event {visit * 10} of {last}" in page(staff)
    assert f"verified up to event {last}, the newest" in page(staff)


def test_a_changed_event_is_shown_as_a_break(seeded_app: Any, db: Any, staff: Any) -> None:
    add_events(seeded_app, db, 5)
    with seeded_app.app_context():
        target = db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id.desc()).limit(3)).all()[-1]
        target.data = {"n": 99}
        db.session.commit()
        target_id = target.id
    text = page(staff)
    assert "Broken" in text and f"does not hold at event {target_id}" in text


def test_a_change_to_an_already_verified_event_is_caught_on_the_next_visit(
    seeded_app: Any, db: Any, staff: Any
) -> None:
    add_events(seeded_app, db, 5)
    last = head_id(seeded_app, db)
    assert f"verified up to event {last}, the newest" in page(staff)
    with seeded_app.app_context():
        db.session.execute(sa.delete(AuditEvent).where(AuditEvent.id == last))
        db.session.commit()
    text = page(staff)
    assert "Broken" in text and f"event {last}, where the last check stopped, is missing" in text


def test_the_csv_download_is_streamed_formula_safe_and_audited(seeded_app: Any, db: Any, staff: Any) -> None:
    with seeded_app.app_context():
        audit.append(db.session, "=HYPERLINK(1)", actor_id="+9", actor_role="staff", data={"x": "@SUM"})
        db.session.commit()
    add_events(seeded_app, db, 3, action="test.other")
    response = staff.get("/admin/privacy/audit.csv?action=test.other", headers=EN)
    assert response.status_code == 200
    assert response.is_streamed
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="privacy-audit-')
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))
    assert [row["action"] for row in rows] == ["test.other"] * 3
    everything = staff.get("/admin/privacy/audit.csv").get_data(as_text=True)
    assert "'=HYPERLINK(1)" in everything and "'+9" in everything
    with seeded_app.app_context():
        exported = sa.select(AuditEvent).where(AuditEvent.action == "audit.exported")
        assert len(db.session.scalars(exported).all()) == 2
        assert audit.verify_session(db.session).ok


def test_recent_events_across_midnight_in_japan(seeded_app: Any, db: Any, staff: Any) -> None:
    """Today's events (in Japan) are found by today's date."""
    add_events(seeded_app, db, 1, action="test.today")
    today = (datetime.now(timezone.utc) + timedelta(hours=9)).date().isoformat()
    assert page(staff, f"?action=test.today&since={today}&until={today}").count('id="event-') == 1
