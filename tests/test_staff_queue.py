"""The staff queue: staff only, most urgent first, filters, keyset pages, claim/assign/release,
and registering a request that came by post (issue 9)."""

from __future__ import annotations

import io
import re
import threading
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from helpers import extract_csrf_token
from PIL import Image

from flask_ome_privacy import privacy_requests, staff_queue
from flask_ome_privacy.lifecycle import Status
from flask_ome_privacy.models import AuditEvent, PrivacyRequest, RequestDocument, RequestMessage, utcnow
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


# --- desk-queue: filters, keyset paging, claim/assign/release, mailed requests ----------------------

EN = {"Accept-Language": "en"}


def user_ids(app: Any, db: Any) -> dict[str, str]:
    from example_app.models import User

    with app.app_context():
        return {email: str(uid) for email, uid in db.session.execute(sa.select(User.email, User.id))}


def queue_text(client: Any, query: str = "") -> str:
    response = client.get(f"/admin/privacy/{query}", headers=EN)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def references(html: str) -> list[str]:
    return re.findall(r'<th scope="row" class="omep-ref"><a href="[^"]+">(PR-[A-Z0-9-]+)</a>', html)


def mixed_queue(app: Any, db: Any) -> dict[str, str]:
    """Six open requests of different kinds, states and assignees; returns reference -> description."""
    ids = user_ids(app, db)
    staff, staff2, alice = ids["staff@example.com"], ids["staff2@example.com"], ids["alice@example.com"]
    now = utcnow()
    with app.app_context():
        state = get_state(app)

        def make(
            ref: str, kind: str, days_ago: float, status: Status | None = None, who: str | None = None
        ) -> Any:
            req = privacy_requests.submit(
                state, user_id=alice, kind=kind, reference=ref, now=now - timedelta(days=days_ago)
            )
            if status is not None:
                privacy_requests.move(
                    db.session, req, Status.IDENTITY_REVIEW, actor_id=staff, actor_role="staff"
                )
                if status is not Status.IDENTITY_REVIEW:
                    privacy_requests.move(db.session, req, status, actor_id=staff, actor_role="staff")
            req.assigned_to = who
            return req

        make("PR-OVER-0001", "disclose", 20, Status.IDENTITY_REVIEW, staff)  # overdue, mine
        make("PR-SOON-0002", "erase", 12.5, Status.UNDER_REVIEW, staff2)  # due within 3 days
        make("PR-NEWX-0003", "correct", 0.1)  # submitted, unassigned
        make("PR-WAIT-0004", "delete", 10, Status.AWAITING_REQUESTER)  # paused with 4 days left
        make("PR-ANSW-0005", "disclose", 5, Status.IDENTITY_REVIEW)
        answered = db.session.scalar(
            sa.select(PrivacyRequest).where(PrivacyRequest.reference == "PR-ANSW-0005")
        )
        db.session.add_all(
            [
                RequestMessage(request_id=answered.id, author="staff", kind="deficiency", body="x"),
                RequestMessage(request_id=answered.id, author="requester", kind="answer", body="y"),
            ]
        )
        closed = make("PR-DONE-0006", "erase", 3)
        privacy_requests.move(db.session, closed, Status.WITHDRAWN, actor_id=alice, actor_role="user")
        db.session.commit()
    return ids


def test_each_row_shows_what_the_desk_needs_and_urgent_rows_say_so_in_words(
    seeded_app: Any, db: Any, client: Any, login: Any
) -> None:
    mixed_queue(seeded_app, db)
    login(client, "staff@example.com")
    html = queue_text(client)
    assert references(html) == [
        "PR-OVER-0001",
        "PR-SOON-0002",
        "PR-WAIT-0004",
        "PR-ANSW-0005",
        "PR-NEWX-0003",
    ]
    over = html[html.index("PR-OVER-0001") : html.index("PR-SOON-0002")]
    assert "omep-row--overdue" in html and "⚠ 6 days overdue" in over and ">You<" in over
    soon = html[html.index("PR-SOON-0002") : html.index("PR-WAIT-0004")]
    assert "△ 1 days left — due soon" in soon and "Outstanding" not in soon and "No fee" in soon
    assert "✉ Answered" in html[html.index("PR-ANSW-0005") : html.index("PR-NEWX-0003")]
    assert html.count("✉ Answered") == 1
    wait = html[html.index("PR-WAIT-0004") : html.index("PR-ANSW-0005")]
    assert "Paused: waiting for the requester" in wait and "overdue" not in wait.split("</tr>")[0]
    assert "Online" in over and "The person" in over and "Outstanding" in over
    # Counts per status, open requests only.
    assert re.search(r"Checking identity: <strong>2</strong>", html)
    assert re.search(r"All open: <strong>5</strong>", html)


def test_each_reference_opens_its_request_page(seeded_app: Any, db: Any, client: Any, login: Any) -> None:
    mixed_queue(seeded_app, db)
    login(client, "staff@example.com")
    html = queue_text(client)
    links = re.findall(r'<th scope="row" class="omep-ref"><a href="([^"]+)">(PR-[A-Z0-9-]+)</a>', html)
    assert links and all(href == f"/admin/privacy/requests/{ref}" for href, ref in links)
    page = client.get(links[0][0], headers=EN)
    assert page.status_code == 200 and links[0][1] in page.get_data(as_text=True)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?status=identity_review", ["PR-OVER-0001", "PR-ANSW-0005"]),
        ("?kind=disclose", ["PR-OVER-0001", "PR-ANSW-0005"]),
        ("?overdue=1", ["PR-OVER-0001"]),
        ("?mine=1", ["PR-OVER-0001"]),
        ("?unassigned=1", ["PR-WAIT-0004", "PR-ANSW-0005", "PR-NEWX-0003"]),
        ("?ref=pr-wait-0004", ["PR-WAIT-0004"]),
        ("?ref=PR-DONE-0006", []),
        ("?sort=-due", ["PR-NEWX-0003", "PR-ANSW-0005", "PR-WAIT-0004", "PR-SOON-0002", "PR-OVER-0001"]),
        ("?status=identity_review&unassigned=1", ["PR-ANSW-0005"]),
        (
            "?status=nonsense&kind=%00",
            ["PR-OVER-0001", "PR-SOON-0002", "PR-WAIT-0004", "PR-ANSW-0005", "PR-NEWX-0003"],
        ),
    ],
)
def test_filters_narrow_the_queue(
    seeded_app: Any, db: Any, client: Any, login: Any, query: str, expected: list[str]
) -> None:
    mixed_queue(seeded_app, db)
    login(client, "staff@example.com")
    assert references(queue_text(client, query)) == expected


def test_the_assignee_filter_takes_a_staff_user_id(seeded_app: Any, db: Any, client: Any, login: Any) -> None:
    ids = mixed_queue(seeded_app, db)
    login(client, "staff@example.com")
    assert references(queue_text(client, f"?assignee={ids['staff2@example.com']}")) == ["PR-SOON-0002"]


def next_link(html: str) -> str | None:
    found = re.search(r'<a href="([^"]+)" rel="next">', html)
    return found.group(1).replace("&amp;", "&") if found else None


def prev_link(html: str) -> str | None:
    found = re.search(r'<a href="([^"]+)" rel="prev">', html)
    return found.group(1).replace("&amp;", "&") if found else None


def test_keyset_pages_walk_the_whole_queue_once_in_order_with_flat_queries(
    seeded_app: Any, db: Any, client: Any, login: Any, count_queries: Any
) -> None:
    add_requests(seeded_app, db, 120, overdue=30)
    login(client, "staff@example.com")
    seen: list[str] = []
    url: str | None = "/admin/privacy/"
    pages: list[str] = []
    while url:
        with count_queries() as queries:
            html = client.get(url, headers=EN).get_data(as_text=True)
        assert queries.count <= 7, str(queries)
        pages.append(url)
        seen.extend(references(html))
        url = next_link(html)
    assert len(pages) == 3 and len(seen) == 120 and len(set(seen)) == 120
    with seeded_app.app_context():
        in_due_order = db.session.scalars(
            sa.select(PrivacyRequest.reference)
            .where(PrivacyRequest.reference.like("PR-TEST-%"))
            .order_by(PrivacyRequest.due_at, PrivacyRequest.id)
        ).all()
    assert seen == list(in_due_order)
    # Back from the last page gives the middle page again, then the first.
    last = client.get(pages[2], headers=EN).get_data(as_text=True)
    middle = client.get(prev_link(last) or "", headers=EN).get_data(as_text=True)
    assert references(middle) == seen[50:100]
    first = client.get(prev_link(middle) or "", headers=EN).get_data(as_text=True)
    assert references(first) == seen[:50]


def test_keyset_pages_stay_stable_when_a_request_is_added_at_the_top(
    seeded_app: Any, db: Any, client: Any, login: Any
) -> None:
    """With offsets, a new urgent request would push a row from page 1 onto page 2 twice."""
    add_requests(seeded_app, db, 60, overdue=10)
    login(client, "staff@example.com")
    first = client.get("/admin/privacy/", headers=EN).get_data(as_text=True)
    with seeded_app.app_context():
        privacy_requests.submit(
            get_state(seeded_app),
            user_id="1",
            kind="erase",
            reference="PR-URGENT",
            now=utcnow() - timedelta(days=40),
        )
        db.session.commit()
    second = client.get(next_link(first) or "", headers=EN).get_data(as_text=True)
    assert not set(references(first)) & set(references(second))
    assert len(references(first)) + len(references(second)) == 60


def test_hostile_cursors_are_ignored(seeded_app: Any, db: Any, client: Any, login: Any) -> None:
    add_requests(seeded_app, db, 3)
    login(client, "staff@example.com")
    for cursor in ("x", "%00", "A" * 500, "MjAyNi0xMS0yNXxub3RhbmlkXw", "bm9uc2Vuc2U"):
        assert len(references(queue_text(client, f"?after={cursor}&before={cursor}"))) == 3


def post_action(client: Any, reference: str, action: str, version: int | str, **data: str) -> Any:
    token = extract_csrf_token(client.get("/admin/privacy/", headers=EN).get_data(as_text=True))
    return client.post(
        f"/admin/privacy/requests/{reference}/{action}",
        data={"csrf_token": token, "version": str(version), **data},
        headers={**EN, "Referer": "http://localhost/admin/privacy/?unassigned=1"},
    )


def request_row(app: Any, db: Any, reference: str) -> PrivacyRequest:
    with app.app_context():
        row = db.session.scalar(sa.select(PrivacyRequest).where(PrivacyRequest.reference == reference))
        db.session.expunge(row)
        return row


def test_claim_assign_and_release_are_audited_posts(
    seeded_app: Any, db: Any, client: Any, login: Any
) -> None:
    ids = mixed_queue(seeded_app, db)
    login(client, "staff@example.com")
    row = request_row(seeded_app, db, "PR-NEWX-0003")
    response = post_action(client, "PR-NEWX-0003", "claim", row.version)
    assert response.status_code == 303 and response.headers["Location"].endswith(
        "/admin/privacy/?unassigned=1"
    )
    html = client.get(response.headers["Location"], headers=EN).get_data(as_text=True)
    assert "You now work request PR-NEWX-0003." in html and "PR-NEWX-0003" not in references(html)
    row = request_row(seeded_app, db, "PR-NEWX-0003")
    assert row.assigned_to == ids["staff@example.com"]
    response = post_action(client, "PR-NEWX-0003", "assign", row.version, assignee=ids["staff2@example.com"])
    assert response.status_code == 303
    row = request_row(seeded_app, db, "PR-NEWX-0003")
    assert row.assigned_to == ids["staff2@example.com"]
    post_action(client, "PR-NEWX-0003", "release", row.version)
    assert request_row(seeded_app, db, "PR-NEWX-0003").assigned_to is None
    with seeded_app.app_context():
        events = db.session.scalars(
            sa.select(AuditEvent)
            .where(AuditEvent.action == staff_queue.ASSIGNED_ACTION)
            .order_by(AuditEvent.id)
        ).all()
        assert [e.data["how"] for e in events] == ["claim", "assign", "release"]
        assert all(e.actor_id == ids["staff@example.com"] and e.actor_role == "staff" for e in events)
        assert events[1].data["to"] == ids["staff2@example.com"]


def test_assigning_to_someone_who_is_not_staff_is_refused_with_a_reason(
    seeded_app: Any, db: Any, client: Any, login: Any
) -> None:
    ids = mixed_queue(seeded_app, db)
    login(client, "staff@example.com")
    row = request_row(seeded_app, db, "PR-NEWX-0003")
    for who in (ids["alice@example.com"], "999999", "x" * 100, ""):
        response = post_action(client, "PR-NEWX-0003", "assign", row.version, assignee=who)
        assert response.status_code == 303
        html = client.get(response.headers["Location"], headers=EN).get_data(as_text=True)
        assert "is not a staff member: request PR-NEWX-0003 was not reassigned." in html
    assert request_row(seeded_app, db, "PR-NEWX-0003").assigned_to is None


def test_a_stale_page_gets_the_someone_else_message_and_changes_nothing(
    seeded_app: Any, db: Any, client: Any, login: Any
) -> None:
    ids = mixed_queue(seeded_app, db)
    login(client, "staff@example.com")
    other = seeded_app.test_client()
    login(other, "staff2@example.com")
    shown = request_row(seeded_app, db, "PR-NEWX-0003").version  # both pages show this version
    assert post_action(other, "PR-NEWX-0003", "claim", shown).status_code == 303
    response = post_action(client, "PR-NEWX-0003", "claim", shown)
    html = client.get(response.headers["Location"], headers=EN).get_data(as_text=True)
    assert "Someone else changed request PR-NEWX-0003 while you were looking at it" in html
    assert request_row(seeded_app, db, "PR-NEWX-0003").assigned_to == ids["staff2@example.com"]


def test_claiming_a_closed_request_says_it_changed_and_an_unknown_one_is_not_found(
    seeded_app: Any, db: Any, client: Any, login: Any
) -> None:
    mixed_queue(seeded_app, db)
    login(client, "staff@example.com")
    # It was open on the page the click came from: a colleague closed it meanwhile (found by the races).
    closed = post_action(client, "PR-DONE-0006", "claim", 1)
    assert closed.status_code == 303
    html = client.get(closed.headers["Location"], headers=EN).get_data(as_text=True)
    assert "Someone else changed request PR-DONE-0006 while you were looking at it" in html
    assert request_row(seeded_app, db, "PR-DONE-0006").assigned_to is None
    assert post_action(client, "PR-NONE-0000", "claim", 1).status_code == 404
    assert post_action(client, "PR-NEWX-0003", "claim", "x").status_code == 400


@pytest.mark.postgres  # the race needs PostgreSQL's row locks (conftest skips it on SQLite)
def test_two_staff_claiming_at_once_on_postgresql_exactly_one_wins(
    seeded_app: Any, db: Any, login: Any
) -> None:
    """Both load the request (same version) before either writes; the second UPDATE finds the
    version gone and gets the message. Without the model's version counter both would "win"."""
    ids = mixed_queue(seeded_app, db)
    clients = {email: seeded_app.test_client() for email in ("staff@example.com", "staff2@example.com")}
    for email, test_client in clients.items():
        login(test_client, email)
    version = request_row(seeded_app, db, "PR-NEWX-0003").version
    tokens = {
        email: extract_csrf_token(c.get("/admin/privacy/").get_data(as_text=True))
        for email, c in clients.items()
    }
    both_loaded = threading.Barrier(2, timeout=20)
    waited = threading.local()

    def hold_first_flush(session: Any, flush_context: Any, instances: Any) -> None:
        if any(isinstance(o, PrivacyRequest) for o in session.dirty) and not getattr(waited, "done", False):
            waited.done = True
            both_loaded.wait()

    results: dict[str, Any] = {}

    def claim_as(email: str) -> None:
        response = clients[email].post(
            "/admin/privacy/requests/PR-NEWX-0003/claim",
            data={"csrf_token": tokens[email], "version": str(version)},
            headers={**EN, "Referer": "http://localhost/admin/privacy/"},
        )
        results[email] = clients[email].get(response.headers["Location"], headers=EN).get_data(as_text=True)

    sa.event.listen(sa.orm.Session, "before_flush", hold_first_flush)
    try:
        threads = [threading.Thread(target=claim_as, args=(email,)) for email in clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        sa.event.remove(sa.orm.Session, "before_flush", hold_first_flush)
    won = [email for email, html in results.items() if "You now work request PR-NEWX-0003." in html]
    lost = [email for email, html in results.items() if "Someone else changed request PR-NEWX-0003" in html]
    assert len(won) == 1 and len(lost) == 1, results.keys()
    assert request_row(seeded_app, db, "PR-NEWX-0003").assigned_to == ids[won[0]]
    with seeded_app.app_context():
        claims = db.session.scalar(
            sa.select(sa.func.count(AuditEvent.id)).where(AuditEvent.action == staff_queue.ASSIGNED_ACTION)
        )
    assert claims == 1


# --- registering a mailed request ---------------------------------------------------------------


def scan_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (80, 60), "white").save(buffer, "PNG")
    return buffer.getvalue()


def register_form(client: Any, query: str = "") -> tuple[str, str]:
    response = client.get(f"/admin/privacy/register-mailed{query}", headers=EN)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    return html, extract_csrf_token(html)


def test_staff_register_a_mailed_request_for_an_account_found_by_email(
    seeded_app: Any, db: Any, client: Any, login: Any
) -> None:
    ids = user_ids(seeded_app, db)
    login(client, "staff@example.com")
    html, token = register_form(client, "?q=BOB@")
    assert "bob@example.com (#" in html and "alice@example.com" not in html
    received = (utcnow() - timedelta(days=4)).date()
    response = client.post(
        "/admin/privacy/register-mailed",
        data={
            "csrf_token": token,
            "q": "BOB@",
            "account": "existing",
            "user_id": ids["bob@example.com"],
            "kind": "disclose",
            "requester": "self",
            "received_on": received.isoformat(),
            "details": "All data held",
            "originals": "returned",
            "scan_1": (io.BytesIO(scan_png()), "licence.png"),
            "scan_1_role": "person_identity",
            "scan_1_type": "drivers_licence",
        },
        headers=EN,
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    page = client.get(response.headers["Location"], headers=EN).get_data(as_text=True)
    assert "Mailed request registered as PR-" in page and "Postal" in page
    with seeded_app.app_context():
        request = db.session.scalar(sa.select(PrivacyRequest).where(PrivacyRequest.channel == "postal"))
        assert request.user_id == ids["bob@example.com"] and request.kind == "disclose"
        assert request.received_at.date() in (received, received - timedelta(days=1))  # midnight, site zone
        assert request.due_at - request.received_at == timedelta(days=14)
        assert request.originals == "returned" and request.postal_name is None
        document = db.session.scalar(
            sa.select(RequestDocument).where(RequestDocument.request_id == request.id)
        )
        assert document.role == "person_identity" and document.content_type == "image/png"
        assert scan_png() not in (document.ciphertext or b"")  # encrypted at rest
        events = {
            e.action: e
            for e in db.session.scalars(sa.select(AuditEvent).where(AuditEvent.request_id == request.id))
        }
        assert events[staff_queue.POSTAL_REGISTERED_ACTION].data == {
            "reference": request.reference,
            "account": True,
            "documents": 1,
            "originals": "returned",
        }
        assert events["request.submitted"].actor_id == ids["staff@example.com"]
        assert "bob" not in str([e.data for e in events.values()])


def test_a_mailed_request_without_an_account_keeps_the_name_and_address_for_the_reply(
    seeded_app: Any, db: Any, client: Any, login: Any
) -> None:
    login(client, "staff@example.com")
    _html, token = register_form(client)
    response = client.post(
        "/admin/privacy/register-mailed",
        data={
            "csrf_token": token,
            "account": "none",
            "postal_name": "Yamada Hanako",
            "postal_address": "1-2-3 Chiyoda, Tokyo",
            "kind": "stop_use",
            "requester": "appointed_representative",
            "received_on": utcnow().date().isoformat(),
            "originals": "none",
        },
        headers=EN,
    )
    assert response.status_code == 303
    with seeded_app.app_context():
        request = db.session.scalar(sa.select(PrivacyRequest).where(PrivacyRequest.channel == "postal"))
        assert request.user_id is None and request.postal_name == "Yamada Hanako"
        assert request.postal_address == "1-2-3 Chiyoda, Tokyo"
        assert request.requester_type == "appointed_representative" and request.fee_status == "not_required"
        audit_text = str(db.session.scalars(sa.select(AuditEvent.data)).all())
        assert "Yamada" not in audit_text and "Chiyoda" not in audit_text


def test_a_mailed_request_with_mistakes_is_not_registered_and_nothing_typed_is_lost(
    seeded_app: Any, db: Any, client: Any, login: Any
) -> None:
    login(client, "staff@example.com")
    _html, token = register_form(client)
    future = (utcnow() + timedelta(days=3)).date().isoformat()
    response = client.post(
        "/admin/privacy/register-mailed",
        data={
            "csrf_token": token,
            "account": "none",
            "postal_name": "Sato Ken",
            "postal_address": "",
            "kind": "disclose",
            "requester": "self",
            "received_on": future,
            "details": "Please disclose my purchase history",
            "originals": "",
            "scan_1": (io.BytesIO(b"%PDF-1.4 not really"), "scan.pdf"),
            "scan_1_role": "person_identity",
            "scan_1_type": "passport",
        },
        headers=EN,
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    for message in (
        "The request was not registered.",
        "Enter the postal address to send the reply to.",
        "cannot be in the future",
        "Record what was done with the originals.",
    ):
        assert message in html
    assert 'value="Sato Ken"' in html and "Please disclose my purchase history" in html
    assert f'value="{future}"' in html
    with seeded_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(PrivacyRequest.id))) == 0


def test_choosing_an_account_that_the_search_does_not_find_is_refused(
    seeded_app: Any, db: Any, client: Any, login: Any
) -> None:
    login(client, "staff@example.com")
    _html, token = register_form(client)
    response = client.post(
        "/admin/privacy/register-mailed",
        data={
            "csrf_token": token,
            "account": "existing",
            "user_id": "987654",
            "kind": "erase",
            "requester": "self",
            "received_on": utcnow().date().isoformat(),
            "originals": "destroyed",
        },
        headers=EN,
    )
    assert response.status_code == 400
    assert "Choose the account from the search results." in response.get_data(as_text=True)


def test_the_queue_and_the_register_page_are_in_japanese(
    seeded_app: Any, db: Any, client: Any, login: Any
) -> None:
    mixed_queue(seeded_app, db)
    login(client, "staff@example.com")
    html = client.get("/admin/privacy/", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    assert "期限超過" in html and "郵送の請求を登録" in html
    html = client.get("/admin/privacy/register-mailed", headers={"Accept-Language": "ja"}).get_data(
        as_text=True
    )
    assert "郵送の請求を登録" in html and "原本" in html


def test_staff_are_offered_by_name_to_assign_to_and_filter_by(
    seeded_app: Any, db: Any, client: Any, login: Any, monkeypatch: Any
) -> None:
    ids = mixed_queue(seeded_app, db)
    login(client, "staff@example.com")
    html = queue_text(client)
    row = request_row(seeded_app, db, "PR-NEWX-0003")
    form = html[html.index(f'id="omep-assign-{row.id}"') :]
    options = re.findall(r'<option value="(\d+)">([^<]+)</option>', form[: form.index("</select>")])
    with seeded_app.app_context():
        from example_app.models import User

        names = dict(db.session.execute(sa.select(User.email, User.name)).all())
    # Every staff member by the name the site gives them, the signed-in one marked; nobody else.
    assert dict(options) == {
        ids["staff@example.com"]: f"{names['staff@example.com']} (you)",
        ids["staff2@example.com"]: names["staff2@example.com"],
    }
    assert ids["alice@example.com"] not in dict(options)
    assert "Assign to (staff user id)" not in html and '<select id="omep-assignee" name="assignee">' in html
    chosen = queue_text(client, f"?assignee={ids['staff2@example.com']}")
    assert f'<option value="{ids["staff2@example.com"]}" selected>' in chosen
    # The choice posts the same id the typed form did.
    response = post_action(client, "PR-NEWX-0003", "assign", row.version, assignee=ids["staff2@example.com"])
    assert response.status_code == 303
    assert request_row(seeded_app, db, "PR-NEWX-0003").assigned_to == ids["staff2@example.com"]

    # A site without the staff_members hook: staff type the user id, as before.
    from example_app.extensions import privacy

    monkeypatch.setattr(privacy, "_staff_members", None)
    plain = queue_text(client)
    assert "Assign to (staff user id)" in plain and 'name="assignee" type="text"' in plain
