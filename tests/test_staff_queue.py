"""The staff queue: staff only, most urgent first, days left on every row, paged."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask_ome_privacy import privacy_requests
from flask_ome_privacy.lifecycle import Status
from flask_ome_privacy.models import utcnow
from flask_ome_privacy.state import get_state


def add_requests(app: Any, db: Any, count: int, *, overdue: int = 0) -> None:
    """``count`` requests under identity review (``overdue`` of them past due) and one closed."""
    now = utcnow()
    with app.app_context():
        state = get_state(app)
        for number in range(count):
            received = now - timedelta(days=20 if number < overdue else 1, hours=number % 24)
            request = privacy_requests.submit(
                state, user_id="1", kind="disclose", reference=f"PR-TEST-{number:05d}", now=received
            )
            privacy_requests.move(
                db.session, request, Status.IDENTITY_REVIEW, actor_id=None, actor_role="system"
            )
        closed = privacy_requests.submit(state, user_id="1", kind="erase", reference="PR-CLOSED", now=now)
        privacy_requests.move(db.session, closed, Status.WITHDRAWN, actor_id="1", actor_role="user")
        db.session.commit()


def test_signed_out_visitors_are_sent_to_sign_in(seeded_app: Any, client: Any) -> None:
    response = client.get("/admin/privacy/")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_a_user_who_is_not_staff_gets_403(seeded_app: Any, client: Any, login: Any) -> None:
    login(client, "alice@example.com")
    assert client.get("/admin/privacy/").status_code == 403


def test_staff_see_open_requests_most_urgent_first(seeded_app: Any, db: Any, client: Any, login: Any) -> None:
    add_requests(seeded_app, db, 3, overdue=1)
    login(client, "staff@example.com")
    response = client.get("/admin/privacy/", headers={"Accept-Language": "en"})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    text = response.get_data(as_text=True)
    assert text.index("PR-TEST-00000") < text.index("PR-TEST-00001")
    assert "days overdue" in text
    assert "PR-CLOSED" not in text


def test_a_long_queue_is_paged_with_a_bounded_number_of_queries(
    seeded_app: Any, db: Any, client: Any, login: Any, count_queries: Any
) -> None:
    add_requests(seeded_app, db, 120)
    login(client, "staff@example.com")
    with count_queries() as queries:
        first = client.get("/admin/privacy/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Page 1 of 3 (120 open requests)" in first
    assert first.count("PR-TEST-") == 50
    assert queries.count <= 6, str(queries)
    last = client.get("/admin/privacy/?page=3", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert last.count("PR-TEST-") == 20
    # Past the end shows the last page rather than an empty one.
    beyond = client.get("/admin/privacy/?page=99", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Page 3 of 3" in beyond
