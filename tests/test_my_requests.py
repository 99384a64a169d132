"""Following one's own requests (issue 8): the list, the detail page, answering a notice, withdrawing,
the decision notice and the download of a released disclosure package.

Requests are made through ``privacy_requests.submit`` and moved through ``move``; a deficiency
notice is made the way the desk makes one (a move to ``awaiting_requester`` plus a
``RequestMessage`` of kind ``deficiency`` and an answer deadline). A decision is made and
released through the desk's domain functions (``save_decision``, ``approve``,
``execution.start``, ``release``). Every check goes through the pages a person uses.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from PIL import Image
from privacy_host import Host, MakeHost, NotesSource, SurveySource

from flask_ome_privacy import execution, privacy_requests
from flask_ome_privacy.decisions import ItemDecision, RefusalGround, Verdict
from flask_ome_privacy.deficiency import answer_deadline
from flask_ome_privacy.lifecycle import Status
from flask_ome_privacy.models import (
    AuditEvent,
    DecisionItem,
    PrivacyRequest,
    RequestDocument,
    RequestMessage,
    utcnow,
)
from flask_ome_privacy.request_decisions import approve, release, save_decision
from flask_ome_privacy.state import get_state

LIST = "/account/privacy/requests"


@pytest.fixture
def host(make_host: MakeHost, document_key: str) -> Host:
    return make_host(
        sources=[NotesSource(), SurveySource()],
        members=["1", "2"],
        login_view="sign_in_page",
        OME_PRIVACY_DOCUMENT_KEYS=document_key,
        OME_PRIVACY_RESPONSE_DAYS=14,
    )


def submit(host: Host, user_id: str, kind: str = "correct", *, days_ago: int = 0, **kwargs: Any) -> str:
    with host.app.app_context():
        request = privacy_requests.submit(
            get_state(host.app), user_id=user_id, kind=kind, now=utcnow() - timedelta(days=days_ago), **kwargs
        )
        host.db.session.commit()
        return request.reference


def load(host: Host, reference: str) -> PrivacyRequest:
    return host.db.session.scalar(sa.select(PrivacyRequest).where(PrivacyRequest.reference == reference))


def walk(host: Host, reference: str, *statuses: Status, at: datetime | None = None) -> None:
    with host.app.app_context():
        request = load(host, reference)
        for status in statuses:
            privacy_requests.move(host.db.session, request, status, actor_id="s", actor_role="staff", now=at)
        host.db.session.commit()


def send_notice(
    host: Host, reference: str, items: list[Any], text: str = "", *, via: Status = Status.IDENTITY_REVIEW
) -> datetime:
    """What the desk does: wait for the requester, with a notice naming what is missing."""
    with host.app.app_context():
        request = load(host, reference)
        if request.status == Status.SUBMITTED.value:
            privacy_requests.move(
                host.db.session, request, Status.IDENTITY_REVIEW, actor_id="s", actor_role="staff"
            )
        if via is Status.UNDER_REVIEW and request.status != via.value:
            privacy_requests.move(host.db.session, request, via, actor_id="s", actor_role="staff")
        now = utcnow()
        privacy_requests.move(
            host.db.session, request, Status.AWAITING_REQUESTER, actor_id="s", actor_role="staff", now=now
        )
        _answer_by, expires_at = answer_deadline(now, 14)
        request.answer_deadline = expires_at
        host.db.session.add(
            RequestMessage(request_id=request.id, author="staff", kind="deficiency", body=text, items=items)
        )
        host.db.session.commit()
        return expires_at


def token(client: Any) -> str:
    """The signed-in client's CSRF token (the host's bare token page)."""
    return client.get("/_test/csrf").get_data(as_text=True)


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (30, 30, 200)).save(out, "PNG")
    return out.getvalue()


# --- the list --------------------------------------------------------------------------------------


def test_the_list_shows_only_my_requests_open_ones_first_with_what_each_waits_on(host: Host) -> None:
    done = submit(host, "1", "correct", days_ago=20)
    walk(host, done, Status.IDENTITY_REVIEW, Status.WITHDRAWN)
    fee = submit(host, "1", "disclose", days_ago=3)
    theirs = submit(host, "2", "erase")
    page = host.client_for("1", language="en").get(LIST)
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    html = page.get_data(as_text=True)
    assert theirs not in html
    assert html.index(fee) < html.index(done)  # open first, though older ones exist
    assert "3 days" in html and "20 days" in html
    row = re.search(rf"{fee}.*?</tr>", html, re.S).group(0)
    assert "The fee" in row and "Our review" in row and "Disclose" in row and "Submitted" in row
    assert "Withdrawn" in html


def test_the_overview_links_each_open_request_to_its_page(host: Host) -> None:
    reference = submit(host, "1")
    older = submit(host, "1", "erase", days_ago=2)
    done = submit(host, "1", "disclose", days_ago=5)
    walk(host, done, Status.IDENTITY_REVIEW, Status.WITHDRAWN)
    theirs = submit(host, "2", "delete")
    html = host.client_for("1", language="en").get("/account/privacy/").get_data(as_text=True)
    assert f'href="{LIST}/{reference}"' in html
    assert f'href="{LIST}"' in html
    section = re.search(r'id="omep-open-requests".*?</section>', html, re.S).group(0)
    assert done not in section and theirs not in section  # closed ones and others' are not listed
    items = re.findall(r"<li>(.*?)</li>", section, re.S)
    assert [reference in items[0], older in items[1]] == [True, True]  # newest first
    assert "Correct" in items[0] and "Submitted" in items[0]
    assert "Erase" in items[1]


# --- another person's requests ----------------------------------------------------------------------


def test_another_persons_reference_is_not_found_on_every_url(host: Host) -> None:
    theirs = submit(host, "2", "disclose")
    send_notice(host, theirs, ["person_identity"])
    me = host.client_for("1")
    csrf = token(me)
    for url in (f"{LIST}/{theirs}", f"{LIST}/{theirs}/withdraw"):
        assert me.get(url).status_code == 404
    assert me.post(f"{LIST}/{theirs}/answer", data={"csrf_token": csrf, "message": "x"}).status_code == 404
    assert me.post(f"{LIST}/{theirs}/withdraw", data={"csrf_token": csrf}).status_code == 404
    assert me.get(f"{LIST}/PR-NONE-XIST").status_code == 404
    with host.app.app_context():
        request = load(host, theirs)
        assert request.status == "awaiting_requester" and not [
            m for m in request.messages if m.kind == "answer"
        ]


# --- the detail page ------------------------------------------------------------------------------------


def test_the_detail_page_shows_the_fee_how_to_pay_it_and_the_timeline(host: Host) -> None:
    reference = submit(host, "1", "disclose", days_ago=2)
    walk(host, reference, Status.IDENTITY_REVIEW)
    html = host.client_for("1", language="en").get(f"{LIST}/{reference}").get_data(as_text=True)
    assert "2 days ago" in html
    assert (
        "1,000 yen" in html and "registered cash mail" in html and f"write the reference {reference}" in html
    )
    assert "We received your request." in html and "We started checking your identity." in html
    assert html.index("We received your request.") < html.index("We started checking your identity.")
    assert "The fee" in html and "Our review" in html


def test_internal_notes_never_reach_the_requester(host: Host) -> None:
    reference = submit(host, "1")
    with host.app.app_context():
        request = load(host, reference)
        host.db.session.add(
            RequestMessage(request_id=request.id, author="staff", kind="note", body="INTERNAL: looks odd")
        )
        host.db.session.commit()
    html = host.client_for("1", language="en").get(f"{LIST}/{reference}").get_data(as_text=True)
    assert "INTERNAL" not in html and "looks odd" not in html


def test_the_deficiency_notice_says_exactly_what_is_missing_and_by_when(host: Host) -> None:
    reference = submit(host, "1", "correct")
    expires = send_notice(
        host,
        reference,
        [
            "person_identity",
            {"code": "person_address", "message": "A second document showing your current address"},
        ],
        "The copy of your licence is too dark to read.",
    )
    html = host.client_for("1", language="en").get(f"{LIST}/{reference}").get_data(as_text=True)
    missing = re.search(r'id="omep-missing-items">(.*?)</ul>', html, re.S).group(1)
    assert "Your identity document" in missing
    assert "A second document showing your current address" in missing
    assert "too dark to read" in html
    answer_by = (expires - timedelta(microseconds=1)).astimezone(timezone(timedelta(hours=9))).date()
    assert f"Please answer by {answer_by.strftime('%B')} {answer_by.day}, {answer_by.year}." in html
    assert "Paused until you answer" in html
    assert 'type="file"' in html and 'name="document-person_identity"' in html


# --- answering --------------------------------------------------------------------------------------------


def test_answering_with_a_document_returns_the_request_to_staff_and_resumes_the_clock(host: Host) -> None:
    reference = submit(host, "1", "correct", days_ago=4)
    send_notice(host, reference, ["person_identity"], via=Status.UNDER_REVIEW)
    with host.app.app_context():
        due_while_paused = load(host, reference).due_at
    me = host.client_for("1", language="en")
    url = f"{LIST}/{reference}"
    response = me.post(
        f"{url}/answer",
        data={
            "csrf_token": token(me),
            "doc_type-person_identity": "drivers_licence",
            "document-person_identity": (io.BytesIO(png()), "licence.png"),
            "message": "Here is a clearer copy.",
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 303 and response.location.endswith(url)
    with host.app.app_context():
        request = load(host, reference)
        assert request.status == "under_review"  # back where it waited, marked answered
        assert request.paused_since is None and request.answer_deadline is None
        assert request.due_at > due_while_paused  # the paused time is added to the due date
        answer = [m for m in request.messages if m.kind == "answer"][0]
        assert answer.author == "requester" and answer.body == "Here is a clearer copy."
        document = host.db.session.scalar(
            sa.select(RequestDocument).where(RequestDocument.request_id == request.id)
        )
        assert (document.role, document.doc_type, document.content_type) == (
            "person_identity",
            "drivers_licence",
            "image/png",
        )
        assert answer.items == [{"code": "person_identity", "document_id": document.id}]
        answered = host.db.session.scalar(
            sa.select(AuditEvent).where(
                AuditEvent.action == "request.answered", AuditEvent.request_id == request.id
            )
        )
        assert answered.actor_role == "user" and "clearer" not in str(answered.data)
    html = me.get(url).get_data(as_text=True)
    assert "Your answer was sent" in html and "You answered." in html
    assert "Something is missing" not in html  # the notice is answered


def test_answering_with_corrected_details_only_goes_back_to_identity_review(host: Host) -> None:
    reference = submit(host, "1", "correct")
    send_notice(host, reference, [], "Which e-mail address should we use?")
    me = host.client_for("1", language="en")
    url = f"{LIST}/{reference}"
    response = me.post(f"{url}/answer", data={"csrf_token": token(me), "corrected": "new@example.com"})
    assert response.status_code == 303
    with host.app.app_context():
        request = load(host, reference)
        assert request.status == "identity_review"
        assert [m.items for m in request.messages if m.kind == "answer"] == [
            [{"code": "corrected_details", "text": "new@example.com"}]
        ]


def test_an_empty_or_refused_answer_is_explained_and_keeps_what_was_typed(host: Host) -> None:
    reference = submit(host, "1", "correct")
    send_notice(host, reference, ["person_identity"])
    me = host.client_for("1", language="en")
    url = f"{LIST}/{reference}"
    empty = me.post(f"{url}/answer", data={"csrf_token": token(me)})
    assert empty.status_code == 200
    assert "Please upload a document, correct the details or write a message" in empty.get_data(as_text=True)
    bad = me.post(
        f"{url}/answer",
        data={
            "csrf_token": token(me),
            "doc_type-person_identity": "drivers_licence",
            "document-person_identity": (io.BytesIO(b"MZ\x90\x00 not a document"), "licence.pdf"),
            "message": "My message stays",
        },
        content_type="multipart/form-data",
    )
    html = bad.get_data(as_text=True)
    assert bad.status_code == 200 and "My message stays" in html and "PDF, JPEG or PNG" in html
    assert 'href="#document-person_identity"' in html  # the error summary links to the field
    forged = me.post(f"{url}/answer", data={"csrf_token": "forged", "message": "x"})
    assert forged.status_code == 400
    with host.app.app_context():
        request = load(host, reference)
        assert request.status == "awaiting_requester" and not request.documents
        assert not [m for m in request.messages if m.kind == "answer"]


def test_a_request_not_waiting_for_an_answer_refuses_one(host: Host) -> None:
    reference = submit(host, "1")
    me = host.client_for("1", language="en")
    url = f"{LIST}/{reference}"
    response = me.post(f"{url}/answer", data={"csrf_token": token(me), "message": "hello"})
    assert response.status_code == 409
    assert "not waiting for an answer" in response.get_data(as_text=True)


# --- withdrawing -----------------------------------------------------------------------------------------


def test_withdrawing_asks_to_confirm_then_withdraws(host: Host) -> None:
    reference = submit(host, "1", "erase")
    me = host.client_for("1", language="en")
    detail = f"{LIST}/{reference}"
    assert f'href="{detail}/withdraw"' in me.get(detail).get_data(as_text=True)
    confirm = me.get(f"{detail}/withdraw")
    assert confirm.status_code == 200 and "Withdraw this request" in confirm.get_data(as_text=True)
    with host.app.app_context():
        assert load(host, reference).status == "submitted"  # the GET changed nothing
    assert me.post(f"{detail}/withdraw", data={"csrf_token": "forged"}).status_code == 400
    response = me.post(f"{detail}/withdraw", data={"csrf_token": token(me)})
    assert response.status_code == 303
    with host.app.app_context():
        request = load(host, reference)
        assert request.status == "withdrawn" and request.closed_at is not None
        moved = host.db.session.scalars(
            sa.select(AuditEvent).where(
                AuditEvent.request_id == request.id, AuditEvent.action == "request.moved"
            )
        ).all()
        assert (moved[-1].actor_id, moved[-1].actor_role, moved[-1].data["to"]) == ("1", "user", "withdrawn")
    html = me.get(detail).get_data(as_text=True)
    assert "was withdrawn" in html and f'href="{detail}/withdraw"' not in html


def test_a_request_being_carried_out_can_no_longer_be_withdrawn(host: Host) -> None:
    reference = submit(host, "1", "erase")
    walk(host, reference, Status.IDENTITY_REVIEW, Status.UNDER_REVIEW, Status.APPROVED, Status.EXECUTING)
    me = host.client_for("1", language="en")
    detail = f"{LIST}/{reference}"
    assert "/withdraw" not in me.get(detail).get_data(as_text=True)
    page = me.get(f"{detail}/withdraw").get_data(as_text=True)
    assert (
        "can no longer be withdrawn" in page
        and "<form" not in page.split("omep-tabs")[-1].split("omep-contact")[0]
    )
    response = me.post(f"{detail}/withdraw", data={"csrf_token": token(me)})
    assert response.status_code == 409
    with host.app.app_context():
        assert load(host, reference).status == "executing"


# --- the decision notice -----------------------------------------------------------------------------------


def test_the_released_decision_notice_lists_each_item_with_the_reason_for_a_refusal(host: Host) -> None:
    reference = submit(host, "1", "erase")
    walk(host, reference, Status.IDENTITY_REVIEW, Status.UNDER_REVIEW)
    with host.app.app_context():
        request = load(host, reference)
        host.db.session.add_all(
            [
                DecisionItem(request_id=request.id, item="notes", granted=True),
                DecisionItem(
                    request_id=request.id,
                    item="surveys.answer",
                    granted=False,
                    reason="Kept for seven years under the Labour Standards Act.",
                ),
            ]
        )
        host.db.session.commit()
    me = host.client_for("1", language="en")
    detail = f"{LIST}/{reference}"
    assert "Labour Standards Act" not in me.get(detail).get_data(as_text=True)  # a draft is not a notice
    walk(host, reference, Status.APPROVED, Status.EXECUTING, Status.COMPLETED)
    html = me.get(detail).get_data(as_text=True)
    table = re.search(r"What we decided, item by item.*?</table>", html, re.S).group(0)
    rows = re.findall(r"<tr>(.*?)</tr>", table.split("<tbody>")[1], re.S)
    assert len(rows) == 2
    assert "Notes" in rows[0] and "Done" in rows[0]
    assert "Refused" in rows[1] and "Labour Standards Act" in rows[1]


# --- request data is used only for the request (policy Art. 4.4) ---------------------------


def test_request_data_never_appears_in_the_data_page_the_export_or_the_overview(host: Host) -> None:
    reference = submit(host, "1", "correct", details="SECRET-DETAIL-4711", scope={"new": "SECRET-SCOPE-0815"})
    send_notice(host, reference, [], "SECRET-NOTICE-1234")
    me = host.client_for("1", language="en")
    url = f"{LIST}/{reference}"
    me.post(f"{url}/answer", data={"csrf_token": token(me), "message": "SECRET-ANSWER-9999"})
    pages = ["/account/privacy/", "/account/privacy/data", "/account/privacy/data/export.json"]
    pages += [f"/account/privacy/data/export/{key}.csv" for key in ("notes", "surveys")]
    for page in pages:
        response = me.get(page)
        assert response.status_code == 200, page
        body = response.get_data(as_text=True)
        for secret in ("SECRET-DETAIL", "SECRET-SCOPE", "SECRET-NOTICE", "SECRET-ANSWER"):
            assert secret not in body, f"{secret} on {page}"


# --- the demo's requests ------------------------------------------------------------------------------


def test_the_demo_requests_fill_the_list_the_detail_page_and_the_staff_queue(
    seeded_app: Any, db: Any, client: Any, login: Any, logout: Any
) -> None:
    from example_app.seed import seed_demo_requests

    with seeded_app.app_context():
        assert seed_demo_requests() == 9
        assert seed_demo_requests() == 0  # a second run adds nothing
        from flask_ome_privacy.models import PrivacyRequest, RequestDocument

        verified = db.session.scalars(
            sa.select(PrivacyRequest).where(PrivacyRequest.identity_verified_at.is_not(None))
        ).all()
        assert verified, "the demo has a request past identity review"
        for request in verified:  # verified from documents that are really there, for staff to open
            assert db.session.scalar(
                sa.select(sa.func.count(RequestDocument.id)).where(RequestDocument.request_id == request.id)
            )
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    login(client, "alice@example.com")
    html = client.get(LIST).get_data(as_text=True)
    references = re.findall(r'class="omep-ref" href="/account/privacy/requests/(PR-[A-Z0-9-]+)"', html)
    assert len(references) == 3
    statuses = re.findall(r'omep-badge--(\w+)"', html)
    assert statuses == ["submitted", "awaiting_requester", "completed"]  # open first, newest first
    # The requester reads what is owed as theirs, not as "the requester's".
    assert "<strong>Documents or an answer</strong> (from you)" in html
    waiting = client.get(f"{LIST}/{references[1]}").get_data(as_text=True)
    assert "Something is missing from your request" in waiting and "Your identity document" in waiting
    assert "<strong>Documents or an answer</strong> (from you)" in waiting
    assert "from the requester" not in html + waiting
    done = client.get(f"{LIST}/{references[2]}").get_data(as_text=True)
    assert "What we decided, item by item" in done and "Refused" in done
    logout(client)
    login(client, "bob@example.com")
    bobs = client.get(LIST).get_data(as_text=True)
    assert all(reference not in bobs for reference in references) and "Erase" in bobs
    assert "omep-badge--withdrawn" in bobs and "omep-badge--executing" in bobs
    logout(client)
    login(client, "staff@example.com")
    queue = client.get("/admin/privacy/").get_data(as_text=True)
    assert all(reference in queue for reference in references[:2])
    assert "overdue" in queue
    # What a real day at the desk looks like: every open state, a row due soon, one by post.
    badges = set(re.findall(r'omep-badge--(\w+)"', queue))
    assert {
        "submitted",
        "identity_review",
        "awaiting_requester",
        "under_review",
        "approved",
        "executing",
    } <= badges
    assert "omep-row--due-soon" in queue and "omep-row--overdue" in queue
    assert "Postal" in queue


# --- cost: statements per page stay flat as requests and their steps grow ---------------------------


def test_the_list_and_the_detail_page_cost_the_same_statements_however_many_requests_and_steps(
    host: Host,
) -> None:
    me = host.client_for("1", language="en")

    def statements(url: str) -> int:
        with host.count_queries() as queries:
            assert me.get(url).status_code == 200
        return queries.count

    first = submit(host, "1", "disclose")
    send_notice(host, first, ["person_identity"])
    few = statements(LIST), statements(f"{LIST}/{first}")
    for _ in range(20):
        submit(host, "1", "correct")
    walk(host, first, Status.IDENTITY_REVIEW)  # the answer path's moves, many times over
    for _ in range(5):
        send_notice(host, first, ["person_identity"], "again")
        walk(host, first, Status.IDENTITY_REVIEW)
    send_notice(host, first, ["person_identity"])
    many = statements(LIST), statements(f"{LIST}/{first}")
    assert many == few, (few, many)


# --- someone changes the request at the same moment ---------------------------------------------------


@pytest.fixture
def staff_changes_it_first(host: Host) -> Any:
    """``arm()``: from then on, just before a page writes the request, the desk's change lands
    (its version moves on in the same database), as when two people act at once."""

    def bump(mapper: Any, connection: Any, target: PrivacyRequest) -> None:
        table = PrivacyRequest.__table__
        connection.execute(table.update().where(table.c.id == target.id).values(version=table.c.version + 1))

    armed: list[bool] = []

    def arm() -> None:
        sa.event.listen(PrivacyRequest, "before_update", bump)
        armed.append(True)

    yield arm
    if armed:
        sa.event.remove(PrivacyRequest, "before_update", bump)


def test_an_answer_crossing_a_staff_change_is_refused_and_keeps_what_was_typed(
    host: Host, staff_changes_it_first: Any
) -> None:
    reference = submit(host, "1", "correct")
    send_notice(host, reference, [])
    me = host.client_for("1", language="en")
    url = f"{LIST}/{reference}"
    staff_changes_it_first()
    response = me.post(f"{url}/answer", data={"csrf_token": token(me), "message": "My typed answer"})
    html = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "changed while you were answering" in html and "My typed answer" in html
    with host.app.app_context():
        request = load(host, reference)
        assert request.status == "awaiting_requester"
        assert not [m for m in request.messages if m.kind == "answer"]


def test_a_withdrawal_crossing_a_staff_change_asks_again(host: Host, staff_changes_it_first: Any) -> None:
    reference = submit(host, "1", "erase")
    me = host.client_for("1", language="en")
    detail = f"{LIST}/{reference}"
    staff_changes_it_first()
    response = me.post(f"{detail}/withdraw", data={"csrf_token": token(me)})
    assert response.status_code == 303 and response.location.endswith(f"{detail}/withdraw")
    assert "changed meanwhile" in me.get(response.location).get_data(as_text=True)
    with host.app.app_context():
        assert load(host, reference).status == "submitted"


# --- a decision made and released through the desk's domain functions ------------------------------


def decide_and_release(
    host: Host, reference: str, items: Sequence[ItemDecision], *, staff: str = "s", approver: str = "s2"
) -> None:
    """What the desk does, step by step: identity checked, the fee settled, the decision saved,
    approved by a second staff member where four-eyes asks for it, carried out (the inline job
    runs after the commit; manual tasks ticked), and the notice released."""
    with host.app.app_context():
        state = get_state(host.app)
        request = load(host, reference)
        for status in (Status.IDENTITY_REVIEW, Status.UNDER_REVIEW):
            privacy_requests.move(state.session, request, status, actor_id=staff, actor_role="staff")
        request.identity_verified_at = utcnow()
        request.identity_verified_by = staff
        request.identity_method = "online_documents"
        if request.fee_status == "outstanding":
            request.fee_status = "received"
            request.fee_received_on = utcnow().date()
        assert save_decision(state, request, items, staff_id=staff) == {}
        if request.kind in ("delete", "erase", "stop_use", "stop_third_party") and any(
            item.verdict in (Verdict.GRANTED, Verdict.SUBSTITUTE) for item in items
        ):
            approve(state, request, staff_id=approver)
        if request.status == Status.APPROVED.value:
            execution.start(state, request, staff_id=staff, language="en")
        state.session.commit()  # the execution job runs inline after this commit
        request = load(host, reference)
        for receipt in request.receipts:
            if receipt.status == "manual":
                execution.complete_manual_task(
                    state, request, receipt.id, staff_id=staff, note="Done by hand."
                )
        release(state, request, staff_id=staff)
        state.session.commit()


def released_disclosure(host: Host, user_id: str = "1", *, method: str = "electronic") -> str:
    """A disclosure of notes and surveys, both granted, released."""
    reference = submit(host, user_id, "disclose")
    with host.app.app_context():
        load(host, reference).disclosure_method = method
        host.db.session.commit()
    decide_and_release(
        host,
        reference,
        [ItemDecision("notes", verdict=Verdict.GRANTED), ItemDecision("surveys", verdict=Verdict.GRANTED)],
    )
    return reference


def downloads(host: Host, reference: str) -> list[AuditEvent]:
    with host.app.app_context():
        request = load(host, reference)
        return list(
            host.db.session.scalars(
                sa.select(AuditEvent).where(
                    AuditEvent.request_id == request.id, AuditEvent.action == "request.package_downloaded"
                )
            )
        )


def test_the_notice_names_each_refusals_legal_ground_and_reason_and_each_substitute_measure(
    host: Host,
) -> None:
    reference = submit(host, "1", "erase")
    decide_and_release(
        host,
        reference,
        [
            ItemDecision(
                "notes",
                verdict=Verdict.REFUSED,
                ground=RefusalGround.CONDITIONS_NOT_MET,
                explanation="The note was obtained with your consent and is still needed.",
            ),
            ItemDecision(
                "surveys",
                verdict=Verdict.SUBSTITUTE,
                substitute="We stopped using your survey answers for any purpose.",
            ),
        ],
    )
    html = host.client_for("1", language="en").get(f"{LIST}/{reference}").get_data(as_text=True)
    table = re.search(r'id="omep-decision-items">.*?</table>', html, re.S).group(0)
    notes, surveys = re.findall(r"<tr>(.*?)</tr>", table.split("<tbody>")[1], re.S)
    assert "Notes" in notes and "Refused" in notes
    assert "The conditions the law sets for this request are not met." in notes  # the ground's label
    assert "still needed" in notes  # and staff's own words
    assert "Surveys" in surveys and "Substitute measure taken" in surveys
    assert "What we did instead:" in surveys and "We stopped using your survey answers" in surveys
    assert "If you disagree with a refusal" in html
    ja = host.client_for("1", language="ja").get(f"{LIST}/{reference}").get_data(as_text=True)
    assert "The conditions the law sets" not in ja  # the ground is said in the page's language
    assert "still needed" in ja


# --- the disclosure package: download after release ------------------------------------------------


def test_a_released_electronic_disclosure_downloads_as_a_zip_of_json_and_a_csv_per_source(host: Host) -> None:
    host.add_answers("1", 3, prefix="mine")
    host.add_answers("2", 2, prefix="theirs")
    reference = released_disclosure(host)
    me = host.client_for("1", language="en")
    detail = me.get(f"{LIST}/{reference}").get_data(as_text=True)
    assert f'href="{LIST}/{reference}/package"' in detail
    with host.app.app_context():
        released_at = load(host, reference).released_at
    expires = (released_at + timedelta(days=30)).astimezone(timezone(timedelta(hours=9)))  # the site's zone
    until = (
        f"You can download it until {expires.strftime('%B')} {expires.day}, {expires.year} {expires:%H:%M}"
    )
    assert until in detail
    assert "Outcome:</strong> Approved" in detail
    items = re.search(r'id="omep-decision-items">.*?</table>', detail, re.S).group(0)
    assert items.count("Disclosed") == 2 and "Reason" not in items  # nothing refused: no reasons column
    assert "Decision notice sent. (Approved)" in re.sub(r"\s+", " ", detail)  # not the raw code

    response = me.get(f"{LIST}/{reference}/package")
    assert response.status_code == 200
    assert response.mimetype == "application/zip"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="privacy-disclosure-{reference}.zip"'
    )
    archive = zipfile.ZipFile(io.BytesIO(response.get_data()))
    assert set(archive.namelist()) == {
        "notice.json",
        "data.json",
        "notes.csv",
        "surveys.csv",
        "provisions.csv",
    }
    data = json.loads(archive.read("data.json"))
    assert data["reference"] == reference
    values = {s["key"]: [r["value"] for r in s["records"]] for s in data["sources"]}
    assert values == {"notes": ["a note"], "surveys": ["mine answer 0", "mine answer 2", "mine answer 1"]}
    assert json.loads(archive.read("notice.json"))["kind_label"] == "Disclose"
    surveys = list(csv.reader(io.StringIO(archive.read("surveys.csv").decode("utf-8-sig"))))
    assert surveys[0][:4] == ["group", "field", "label", "value"]
    assert sorted(row[3] for row in surveys[1:]) == ["mine answer 0", "mine answer 1", "mine answer 2"]
    assert "theirs" not in archive.read("surveys.csv").decode("utf-8-sig")
    notes = list(csv.reader(io.StringIO(archive.read("notes.csv").decode("utf-8-sig"))))
    assert [row[3] for row in notes[1:]] == ["a note"]

    (event,) = downloads(host, reference)
    assert (event.actor_id, event.actor_role, event.subject_user_id) == ("1", "user", "1")
    assert event.data == {"reference": reference, "kind": "disclose"}  # ids and codes, no data


def test_a_head_request_is_not_a_download(host: Host) -> None:
    reference = released_disclosure(host)
    me = host.client_for("1")
    head = me.head(f"{LIST}/{reference}/package")
    assert head.status_code == 200 and head.headers["Content-Disposition"].startswith("attachment")
    assert downloads(host, reference) == []
    me.get(f"{LIST}/{reference}/package").get_data()
    me.get(f"{LIST}/{reference}/package").get_data()
    assert len(downloads(host, reference)) == 2  # each download is on the record


def test_another_persons_package_is_not_found(host: Host) -> None:
    reference = released_disclosure(host, "2")
    me = host.client_for("1")
    assert me.get(f"{LIST}/{reference}/package").status_code == 404
    assert me.head(f"{LIST}/{reference}/package").status_code == 404
    assert me.get(f"{LIST}/PR-NONE-XIST/package").status_code == 404
    assert downloads(host, reference) == []


def test_before_the_release_there_is_nothing_to_download_and_the_page_says_why(host: Host) -> None:
    reference = submit(host, "1", "disclose")
    walk(host, reference, Status.IDENTITY_REVIEW, Status.UNDER_REVIEW)
    me = host.client_for("1", language="en")
    assert "/package" not in me.get(f"{LIST}/{reference}").get_data(as_text=True)
    response = me.get(f"{LIST}/{reference}/package")
    assert response.status_code == 409
    assert response.mimetype == "text/html"
    assert "we have not released the decision on this request" in response.get_data(as_text=True)
    assert downloads(host, reference) == []


def test_a_request_with_nothing_disclosed_has_no_package(host: Host) -> None:
    reference = submit(host, "1", "disclose")
    refused = ItemDecision(
        "notes", verdict=Verdict.REFUSED, ground=RefusalGround.BUSINESS_INTERFERENCE, explanation=""
    )
    no_data = ItemDecision("surveys", verdict=Verdict.NO_DATA)
    decide_and_release(host, reference, [refused, no_data])
    me = host.client_for("1", language="en")
    html = me.get(f"{LIST}/{reference}").get_data(as_text=True)
    assert "/package" not in html and "We hold no such data" in html
    response = me.get(f"{LIST}/{reference}/package")
    assert response.status_code == 409 and "nothing was disclosed" in response.get_data(as_text=True)


def test_after_result_days_the_download_has_expired_and_the_page_says_how_to_ask_again(
    make_host: MakeHost, document_key: str
) -> None:
    host = make_host(
        sources=[NotesSource(), SurveySource()],
        members=["1", "2"],
        OME_PRIVACY_DOCUMENT_KEYS=document_key,
        OME_PRIVACY_RESULT_DAYS=3,
    )
    reference = released_disclosure(host)
    me = host.client_for("1", language="en")
    assert me.get(f"{LIST}/{reference}/package").status_code == 200  # within the three days
    with host.app.app_context():
        request = load(host, reference)
        request.released_at = utcnow() - timedelta(days=3, minutes=1)
        host.db.session.commit()
    response = me.get(f"{LIST}/{reference}/package")
    html = response.get_data(as_text=True)
    assert response.status_code == 410 and response.mimetype == "text/html"
    assert "The download has expired." in html and "for 3 days after the decision was released" in html
    assert 'href="/account/privacy/requests/new?kind=disclose"' in html  # how to ask again
    assert 'href="/account/privacy/data/export"' in html
    detail = me.get(f"{LIST}/{reference}").get_data(as_text=True)
    assert "The download has expired." in detail and f"{reference}/package" not in detail
    assert len(downloads(host, reference)) == 1  # only the one inside the three days


def test_a_paper_disclosure_has_no_download_link(host: Host) -> None:
    reference = released_disclosure(host, method="paper")
    me = host.client_for("1", language="en")
    html = me.get(f"{LIST}/{reference}").get_data(as_text=True)
    assert "/package" not in html and "we will send it by post" in html
    response = me.get(f"{LIST}/{reference}/package")
    assert response.status_code == 409 and "on paper" in response.get_data(as_text=True)
    assert downloads(host, reference) == []
