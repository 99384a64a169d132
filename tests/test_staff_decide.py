"""The staff desk's decision (issue 9, "Working one request"): decide item by item, four-eyes,
carry it out with receipts and retries, the disclosure package, and the release of the notice.

Driven through the staff routes on the example site (staff and staff2 sign in through the
real form). The request page itself is another part of the desk; until it is merged these
tests post to the decision routes directly and read the result from the database, the
flashed messages and the requester's own pages.
"""

from __future__ import annotations

import io
import json
import threading
import zipfile
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
from flask import render_template_string
from flask_babel import force_locale
from flask_login import login_user
from helpers import extract_csrf_token

from flask_ome_privacy import execution, privacy_requests
from flask_ome_privacy.decisions import ItemDecision, Verdict
from flask_ome_privacy.disclosure import disclosure_package
from flask_ome_privacy.extension import get_state
from flask_ome_privacy.lifecycle import Status
from flask_ome_privacy.models import (
    AuditEvent,
    Notification,
    PrivacyRequest,
    RequestMessage,
)
from flask_ome_privacy.request_decisions import STALE_ERRORS, find_request, save_decision, scope_keys
from flask_ome_privacy.sources import SourceError
from flask_ome_privacy.state import user_id_of
from flask_ome_privacy.stops import ProvisionStopped

STAFF = "/admin/privacy"


# --- helpers ----------------------------------------------------------------------------------


def _user(db: Any, email: str) -> Any:
    from example_app.models import User

    return db.session.scalar(sa.select(User).where(User.email == email))


def open_request(
    app: Any, db: Any, email: str, kind: str, *, scope: dict[str, Any] | None = None, verified: bool = True
) -> str:
    """A request of ``email``'s, under review (identity verified unless told otherwise)."""
    with app.app_context():
        state = get_state(app)
        user = _user(db, email)
        request = privacy_requests.submit(state, user_id=user_id_of(user), kind=kind, scope=scope)
        privacy_requests.move(
            db.session, request, Status.IDENTITY_REVIEW, actor_id="staff", actor_role="staff"
        )
        privacy_requests.move(db.session, request, Status.UNDER_REVIEW, actor_id="staff", actor_role="staff")
        if verified:
            request.identity_verified_at = request.received_at
            request.identity_verified_by = "staff"
            request.identity_method = "online_documents"
        db.session.commit()
        return request.reference


def load(app: Any, reference: str) -> PrivacyRequest:
    with app.app_context():
        state = get_state(app)
        request = find_request(state.session, reference)
        assert request is not None
        # Touch what the tests read, then detach a plain copy of the state.
        _loaded = (request.receipts, request.decision_items, request.messages)
        state.session.expunge_all()
        return request


def flashes(client: Any) -> list[str]:
    with client.session_transaction() as session:
        return [message for _category, message in session.get("_flashes", [])]


@pytest.fixture
def staff_client(seeded_app: Any, login: Callable[..., Any]) -> Callable[[str], Any]:
    clients: dict[str, Any] = {}

    def client_for(email: str) -> Any:
        if email not in clients:
            client = seeded_app.test_client()
            login(client, email)
            with client.session_transaction() as session:
                session["lang"] = "en"  # the messages below are read in English
            clients[email] = client
        return clients[email]

    return client_for


def post(client: Any, app: Any, reference: str, action: str, data: dict[str, Any] | None = None) -> Any:
    """POST to a decision route with a valid token and the version the staff member sees now."""
    token = extract_csrf_token(client.get(f"{STAFF}/").get_data(as_text=True))
    version = load(app, reference).version
    form = {"csrf_token": token, "version": str(version), **(data or {})}
    response = client.post(f"{STAFF}/requests/{reference}/{action}", data=form)
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    return response


def grant_all(count: int) -> dict[str, str]:
    return {f"item-{i}-verdict": "granted" for i in range(count)}


def sources(app: Any) -> list[str]:
    with app.app_context():
        return [s.key for s in get_state(app).sources]


# --- deciding ----------------------------------------------------------------------------------


def test_a_refusal_without_a_reason_is_kept_as_a_draft_and_not_decided(seeded_app, db, staff_client):
    reference = open_request(seeded_app, db, "alice@example.com", "disclose", scope={"items": ["profile"]})
    staff = staff_client("staff@example.com")
    post(staff, seeded_app, reference, "decision", {"item-0-verdict": "refused", "item-0-reason": ""})
    request = load(seeded_app, reference)
    assert request.decided_at is None and request.decision is None
    assert request.status == "under_review"
    assert [item.verdict for item in request.decision_items] == ["refused"]  # nothing entered is lost
    assert any("not decided" in message for message in flashes(staff))

    post(
        staff,
        seeded_app,
        reference,
        "decision",
        {"item-0-verdict": "refused", "item-0-ground": "business_interference"},
    )
    request = load(seeded_app, reference)
    assert request.decided_at is not None and request.decision == "refused"
    # A full refusal stays in review until its notice is released.
    assert request.status == "under_review"


def test_another_reason_must_be_written_out(seeded_app, db, staff_client):
    reference = open_request(seeded_app, db, "alice@example.com", "disclose", scope={"items": ["profile"]})
    staff = staff_client("staff@example.com")
    post(staff, seeded_app, reference, "decision", {"item-0-verdict": "refused", "item-0-ground": "other"})
    assert load(seeded_app, reference).decided_at is None
    post(
        staff,
        seeded_app,
        reference,
        "decision",
        {"item-0-verdict": "refused", "item-0-ground": "other", "item-0-reason": "Held by a court order."},
    )
    request = load(seeded_app, reference)
    assert request.decided_at is not None
    assert request.decision_items[0].reason == "Held by a court order."


# --- four-eyes -------------------------------------------------------------------------------------


def test_the_decider_cannot_approve_their_own_deletion_and_nothing_runs_without_approval(
    seeded_app, db, staff_client
):
    reference = open_request(seeded_app, db, "bob@example.com", "delete")
    staff, staff2 = staff_client("staff@example.com"), staff_client("staff2@example.com")
    post(staff, seeded_app, reference, "decision", grant_all(len(sources(seeded_app))))
    assert load(seeded_app, reference).status == "approved"

    post(staff, seeded_app, reference, "approval")
    assert load(seeded_app, reference).approved_by is None
    assert any("another staff member must approve" in m for m in flashes(staff))

    post(staff, seeded_app, reference, "execution")
    request = load(seeded_app, reference)
    assert request.status == "approved" and request.receipts == []
    assert any("has not approved" in m for m in flashes(staff))

    post(staff2, seeded_app, reference, "approval")
    with seeded_app.app_context():
        staff2_id = user_id_of(_user(db, "staff2@example.com"))
    assert load(seeded_app, reference).approved_by == staff2_id


def test_an_approved_decision_is_sent_back_to_review_with_a_reason_and_its_approval_cleared(
    seeded_app, db, staff_client, login
):
    reference = open_request(seeded_app, db, "bob@example.com", "delete")
    staff, staff2 = staff_client("staff@example.com"), staff_client("staff2@example.com")
    post(staff, seeded_app, reference, "decision", grant_all(len(sources(seeded_app))))
    post(staff2, seeded_app, reference, "approval")
    assert load(seeded_app, reference).approved_by is not None

    # Without a reason: refused with the reason on the page, nothing changes.
    post(staff2, seeded_app, reference, "send-back", {"reason": "   "})
    assert load(seeded_app, reference).status == "approved"
    assert any("Say why the decision goes back to review" in m for m in flashes(staff2))

    post(staff2, seeded_app, reference, "send-back", {"reason": "Bob wrote again: keep the survey answers."})
    request = load(seeded_app, reference)
    assert request.status == "under_review"
    assert request.approved_by is None and request.approved_fingerprint is None
    assert request.decided_at is None and request.decision is None
    # The items stay as entered (nothing lost); the reason is an internal note.
    assert [item.verdict for item in request.decision_items] == ["granted"] * len(sources(seeded_app))
    notes = [m.body for m in request.messages if m.kind == "note"]
    assert notes == ["Bob wrote again: keep the survey answers."]
    with seeded_app.app_context():
        event = db.session.scalar(
            sa.select(AuditEvent).where(
                AuditEvent.request_id == request.id, AuditEvent.action == "request.sent_back"
            )
        )
        assert event is not None and event.data["had_approval"] is True
        assert "survey" not in json.dumps(event.data)  # ids and codes only, never the reason
    # Nothing can be carried out until it is decided and approved again.
    post(staff, seeded_app, reference, "execution")
    assert load(seeded_app, reference).status == "under_review"
    page = staff.get(f"{STAFF}/requests/{reference}").get_data(as_text=True)
    assert 'name="item-0-verdict"' in page and "Bob wrote again" in page
    # The requester never sees the reason.
    bob = seeded_app.test_client()
    login(bob, "bob@example.com")
    mine = bob.get(f"/account/privacy/requests/{reference}")
    assert mine.status_code == 200 and "Bob wrote again" not in mine.get_data(as_text=True)
    # Decided again (the survey kept) and approved again by the second staff member.
    post(staff, seeded_app, reference, "decision", grant_all(len(sources(seeded_app))))
    assert load(seeded_app, reference).status == "approved"
    post(staff2, seeded_app, reference, "approval")
    assert load(seeded_app, reference).approved_by is not None


def test_only_an_approved_decision_can_be_sent_back(seeded_app, db, staff_client):
    reference = open_request(seeded_app, db, "bob@example.com", "delete")
    staff = staff_client("staff@example.com")
    post(staff, seeded_app, reference, "send-back", {"reason": "Too early."})
    assert load(seeded_app, reference).status == "under_review"
    assert any("Only an approved decision" in m for m in flashes(staff))


def test_four_eyes_off_lets_the_decider_carry_out_alone(seeded_app, db, staff_client):
    seeded_app.config["OME_PRIVACY_FOUR_EYES"] = False
    reference = open_request(seeded_app, db, "bob@example.com", "delete")
    staff = staff_client("staff@example.com")
    post(staff, seeded_app, reference, "decision", grant_all(len(sources(seeded_app))))
    post(staff, seeded_app, reference, "execution")
    assert load(seeded_app, reference).status == "executing"


# --- bob's deletion, end to end ----------------------------------------------------------------


def test_bobs_deletion_staff_decides_staff2_approves_receipts_and_his_data_is_gone(
    seeded_app, db, staff_client, login
):
    bob = seeded_app.test_client()
    login(bob, "bob@example.com")
    assert "鈴木設計事務所" in bob.get("/account/privacy/data").get_data(as_text=True)

    reference = open_request(seeded_app, db, "bob@example.com", "delete")
    staff, staff2 = staff_client("staff@example.com"), staff_client("staff2@example.com")
    post(staff, seeded_app, reference, "decision", grant_all(len(sources(seeded_app))))
    post(staff2, seeded_app, reference, "approval")
    post(staff, seeded_app, reference, "execution")

    request = load(seeded_app, reference)
    assert request.status == "executing"
    receipts = {(r.target, r.action): r.status for r in request.receipts}
    assert receipts == {
        ("profile", "erase"): "done",
        ("facebook", "erase"): "done",
        ("org_survey", "erase"): "done",
        # The outsourced processors of those categories (policy Art. 1.5): tasks for staff.
        ("processor:Mailer KK", "erase"): "manual",
        ("processor:Survey Cloud Inc.", "erase"): "manual",
    }
    assert all(r.summary and r.attempts == 1 for r in request.receipts if r.status == "done")
    # Staff read where and what in words, and the timeline names every step.
    html = staff.get(f"/admin/privacy/requests/{reference}", headers={"Accept-Language": "en"}).get_data(
        as_text=True
    )
    receipts_table = html[
        html.index("<caption>Receipts</caption>") : html.index("</table>", html.index("<caption>Receipts"))
    ]
    assert '<th scope="row">Mailer KK (processor)</th>' in receipts_table
    assert '<th scope="row">Profile and account</th>' in receipts_table and "<td>Erase</td>" in receipts_table
    assert "org_survey" not in receipts_table
    timeline = html[html.index('id="timeline"') :]
    assert "Decision recorded" in timeline and "Decision approved by a second staff member" in timeline
    assert "Carrying out started" in timeline and "request." not in timeline

    # His sessions ended with the deletion (the host's account_deleted hook).
    assert bob.get("/account/privacy/data").status_code == 302
    login(bob, "bob@example.com")
    page = bob.get("/account/privacy/data").get_data(as_text=True)
    assert "鈴木設計事務所" not in page and "スズキ イチロウ" not in page

    post(staff, seeded_app, reference, "release-notice")
    assert load(seeded_app, reference).status == "executing"
    assert any("A manual task is still open" in m for m in flashes(staff)), flashes(staff)
    for receipt in load(seeded_app, reference).receipts:
        if receipt.status == "manual":
            post(
                staff,
                seeded_app,
                reference,
                f"tasks/{receipt.id}/done",
                {"note": "Deletion confirmed in writing."},
            )
    post(staff, seeded_app, reference, "release-notice")
    request = load(seeded_app, reference)
    assert request.status == "completed" and request.released_at is not None
    with seeded_app.app_context():
        notice = db.session.scalar(sa.select(Notification).where(Notification.request_id == request.id))
        assert notice is not None and notice.params["granted"] == 3
        actions = set(
            db.session.scalars(sa.select(AuditEvent.action).where(AuditEvent.request_id == request.id))
        )
    assert {"request.decided", "request.approved", "request.execution_started", "request.executed"} <= actions
    assert "request.released" in actions


# --- failures, retries, manual tasks -------------------------------------------------------------


@pytest.fixture
def flaky_survey(seeded_app: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    """The survey store fails its first erase with a message staff may read, then works."""
    with seeded_app.app_context():
        source = get_state(seeded_app).sources["org_survey"]
    calls = {"erase": 0}
    real_erase = source.erase

    def erase(user: Any, fields: Any = None) -> str:
        calls["erase"] += 1
        if calls["erase"] == 1:
            raise SourceError("survey store unavailable")
        return real_erase(user, fields)

    monkeypatch.setattr(source, "erase", erase)
    yield calls


def test_a_failing_source_keeps_the_request_executing_and_a_retry_never_redoes_what_succeeded(
    seeded_app, db, staff_client, flaky_survey
):
    seeded_app.config["OME_PRIVACY_FOUR_EYES"] = False
    reference = open_request(seeded_app, db, "alice@example.com", "erase")
    staff = staff_client("staff@example.com")
    post(staff, seeded_app, reference, "decision", grant_all(len(sources(seeded_app))))
    post(staff, seeded_app, reference, "execution")

    request = load(seeded_app, reference)
    by_target = {r.target: r for r in request.receipts}
    assert request.status == "executing"
    assert by_target["org_survey"].status == "failed"
    assert by_target["org_survey"].error == "survey store unavailable"
    assert by_target["profile"].status == "done" and by_target["facebook"].status == "done"
    assert by_target["processor:Mailer KK"].status == "manual"  # waits for staff, never "run"

    post(staff, seeded_app, reference, "release-notice")
    assert load(seeded_app, reference).status == "executing"
    assert any("failed somewhere" in m for m in flashes(staff))

    post(staff, seeded_app, reference, "execution/retry")
    request = load(seeded_app, reference)
    by_target = {r.target: r for r in request.receipts}
    assert by_target["org_survey"].status == "done" and by_target["org_survey"].attempts == 2
    assert by_target["profile"].attempts == 1 and by_target["facebook"].attempts == 1  # not redone
    assert flaky_survey["erase"] == 2

    # Running the job once more (a duplicate delivery) changes nothing: erasing twice is harmless.
    with seeded_app.app_context():
        execution.run(db.session, request_id=request.id, language="ja")
        db.session.commit()
    assert {r.target: r.attempts for r in load(seeded_app, reference).receipts if r.status == "done"} == {
        "profile": 1,
        "facebook": 1,
        "org_survey": 2,
    }
    assert flaky_survey["erase"] == 2

    post(staff, seeded_app, reference, "execution/retry")
    assert any("nothing to retry" in m for m in flashes(staff))


def test_a_manual_task_is_ticked_done_with_a_note(seeded_app, db, staff_client):
    seeded_app.config["OME_PRIVACY_FOUR_EYES"] = False
    # Facebook cannot stop use by itself: that becomes a manual task with its checklist.
    reference = open_request(seeded_app, db, "alice@example.com", "stop_use", scope={"items": ["facebook"]})
    staff = staff_client("staff@example.com")
    post(staff, seeded_app, reference, "decision", grant_all(1))
    post(staff, seeded_app, reference, "execution")
    (receipt,) = load(seeded_app, reference).receipts
    assert receipt.status == "manual" and receipt.checklist

    post(staff, seeded_app, reference, f"tasks/{receipt.id}/done", {"note": ""})
    assert load(seeded_app, reference).receipts[0].status == "manual"
    post(
        staff, seeded_app, reference, f"tasks/{receipt.id}/done", {"note": "Flag set in the SNS import job."}
    )
    (receipt,) = load(seeded_app, reference).receipts
    assert receipt.status == "done" and receipt.note == "Flag set in the SNS import job."


# --- stops --------------------------------------------------------------------------------------


def test_after_stop_provision_may_provide_says_no_and_record_provision_refuses(seeded_app, db, staff_client):
    seeded_app.config["OME_PRIVACY_FOUR_EYES"] = False
    reference = open_request(
        seeded_app,
        db,
        "alice@example.com",
        "stop_third_party",
        scope={"items": ["profile"], "recipients": ["株式会社クライアントA"]},
    )
    with seeded_app.app_context():
        privacy = get_state(seeded_app).extension
        alice = _user(db, "alice@example.com")
        assert privacy.may_provide(alice, "株式会社クライアントA")
    staff = staff_client("staff@example.com")
    post(staff, seeded_app, reference, "decision", grant_all(1))
    post(staff, seeded_app, reference, "execution")
    with seeded_app.app_context():
        alice = _user(db, "alice@example.com")
        assert not privacy.may_provide(alice, "株式会社クライアントA")
        assert privacy.may_provide(alice, "株式会社クライアントB")
        with pytest.raises(ProvisionStopped):
            privacy.record_provision(alice, "株式会社クライアントA", ["user_info"])
        db.session.rollback()


def test_after_stop_use_may_use_says_no(seeded_app, db, staff_client):
    seeded_app.config["OME_PRIVACY_FOUR_EYES"] = False
    reference = open_request(seeded_app, db, "alice@example.com", "stop_use", scope={"items": ["profile"]})
    with seeded_app.app_context():
        privacy = get_state(seeded_app).extension
        purpose = next(iter(privacy.purposes.for_category("user_info"))).key
        assert privacy.may_use(_user(db, "alice@example.com"), purpose)
        assert privacy.may_use(_user(db, "bob@example.com"), purpose)
    staff = staff_client("staff@example.com")
    post(staff, seeded_app, reference, "decision", grant_all(1))
    post(staff, seeded_app, reference, "execution")
    with seeded_app.app_context():
        assert not privacy.may_use(_user(db, "alice@example.com"), purpose)
        assert privacy.may_use(_user(db, "bob@example.com"), purpose)
        ids = {user_id_of(_user(db, e)) for e in ("alice@example.com", "bob@example.com")}
        assert privacy.users_who_may_use(purpose, ids) == {user_id_of(_user(db, "bob@example.com"))}


# --- release gate and the disclosure package ---------------------------------------------------------


def test_release_waits_for_identity_and_fee_then_the_package_holds_what_was_granted(
    seeded_app, db, staff_client
):
    reference = open_request(
        seeded_app,
        db,
        "alice@example.com",
        "disclose",
        scope={"items": ["profile", "facebook"]},
        verified=False,
    )
    staff = staff_client("staff@example.com")
    post(
        staff,
        seeded_app,
        reference,
        "decision",
        {"item-0-verdict": "granted", "item-1-verdict": "refused", "item-1-ground": "violates_other_laws"},
    )
    assert load(seeded_app, reference).decision == "partially_approved"

    post(staff, seeded_app, reference, "execution")
    assert load(seeded_app, reference).status == "approved"
    assert any("Identity has not been verified" in m for m in flashes(staff))

    with seeded_app.app_context():
        request = find_request(db.session, reference)
        request.identity_verified_at = request.received_at
        db.session.commit()
    post(staff, seeded_app, reference, "execution")
    assert load(seeded_app, reference).status == "executing"

    post(staff, seeded_app, reference, "release-notice")
    assert load(seeded_app, reference).status == "executing"
    assert any("fee has not been received" in m for m in flashes(staff))

    with seeded_app.app_context():
        request = find_request(db.session, reference)
        request.fee_status = "received"
        request.fee_received_on = date(2026, 11, 20)
        db.session.commit()
    post(staff, seeded_app, reference, "release-notice")
    request = load(seeded_app, reference)
    assert request.status == "completed"

    with seeded_app.app_context():
        notice = db.session.scalar(
            sa.select(RequestMessage).where(
                RequestMessage.request_id == request.id, RequestMessage.kind == "decision"
            )
        )
        assert [(i["item"], i["verdict"], i["ground"]) for i in notice.items] == [
            ("profile", "granted", None),
            ("facebook", "refused", "violates_other_laws"),
        ]
        request = find_request(db.session, reference)
        data = b"".join(disclosure_package(get_state(seeded_app), request, "en"))
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert set(archive.namelist()) == {"notice.json", "data.json", "profile.csv", "provisions.csv"}
    payload = json.loads(archive.read("data.json"))
    assert [s["key"] for s in payload["sources"]] == ["profile"]  # the refused source is not in it
    assert any(r["value"] == "alice@example.com" for r in payload["sources"][0]["records"])
    assert {p["recipient"] for p in payload["provisions"]} == {
        "株式会社クライアントA",
        "株式会社クライアントB",
    }
    assert json.loads(archive.read("notice.json"))["kind_label"] == "Disclose"
    assert archive.read("profile.csv").decode("utf-8-sig").startswith("group,field,label,value")


def test_paper_delivery_printable_and_mailed_date(seeded_app, db, staff_client):
    reference = open_request(
        seeded_app, db, "alice@example.com", "notify_purpose", scope={"items": ["profile"]}
    )
    with seeded_app.app_context():
        find_request(db.session, reference).disclosure_method = "paper"
        db.session.commit()
    staff = staff_client("staff@example.com")
    post(staff, seeded_app, reference, "decision", grant_all(1))
    page = staff.get(f"{STAFF}/requests/{reference}/disclosure/print")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert reference in page.get_data(as_text=True)

    post(staff, seeded_app, reference, "disclosure/mailed", {"mailed_on": "not a date"})
    assert load(seeded_app, reference).disclosure_mailed_on is None
    post(staff, seeded_app, reference, "disclosure/mailed", {"mailed_on": "2026-11-20"})
    assert load(seeded_app, reference).disclosure_mailed_on == date(2026, 11, 20)


def test_decision_routes_refuse_a_stale_page_and_keep_the_first_decision(seeded_app, db, staff_client):
    """Two staff with the same page open: the second POST is refused, never a lost update."""
    reference = open_request(seeded_app, db, "alice@example.com", "disclose", scope={"items": ["profile"]})
    staff, staff2 = staff_client("staff@example.com"), staff_client("staff2@example.com")
    seen = load(seeded_app, reference).version
    for client, verdict in ((staff, "granted"), (staff2, "no_data")):
        token = extract_csrf_token(client.get(f"{STAFF}/").get_data(as_text=True))
        client.post(
            f"{STAFF}/requests/{reference}/decision",
            data={"csrf_token": token, "version": str(seen), "item-0-verdict": verdict},
        )
    assert load(seeded_app, reference).decision_items[0].verdict == "granted"
    assert any("Someone else changed this request" in m for m in flashes(staff2))


def test_other_users_get_403_and_bad_versions_400(seeded_app, db, staff_client, login):
    reference = open_request(seeded_app, db, "alice@example.com", "disclose")
    alice = seeded_app.test_client()
    login(alice, "alice@example.com")
    token = extract_csrf_token(alice.get("/account/privacy/").get_data(as_text=True))
    assert alice.post(f"{STAFF}/requests/{reference}/decision", data={"csrf_token": token}).status_code == 403
    staff = staff_client("staff@example.com")
    token = extract_csrf_token(staff.get(f"{STAFF}/").get_data(as_text=True))
    response = staff.post(
        f"{STAFF}/requests/{reference}/decision", data={"csrf_token": token, "version": "x"}
    )
    assert response.status_code == 400
    assert (
        staff.post(
            f"{STAFF}/requests/PR-NONE-NONE/decision", data={"csrf_token": token, "version": "1"}
        ).status_code
        == 404
    )


@pytest.mark.postgres
def test_two_staff_racing_on_postgresql_exactly_one_wins(seeded_app, db):
    """Both load version N at once and save different decisions: one commit wins, the other is
    refused (the version counter), and the stored decision is the winner's."""
    reference = open_request(seeded_app, db, "alice@example.com", "disclose", scope={"items": ["profile"]})
    barrier = threading.Barrier(2)
    results: dict[str, str] = {}

    def decide(staff_id: str, verdict: Verdict) -> None:
        with seeded_app.app_context():
            state = get_state(seeded_app)
            request = find_request(state.session, reference)
            assert request is not None
            version = request.version
            barrier.wait(timeout=10)
            try:
                save_decision(
                    state,
                    request,
                    [ItemDecision("profile", verdict=verdict)],
                    staff_id=staff_id,
                    expected_version=version,
                )
                state.session.commit()
                results[staff_id] = verdict.value
            except STALE_ERRORS:
                state.session.rollback()
                results[staff_id] = "stale"

    threads = [
        threading.Thread(target=decide, args=("s1", Verdict.GRANTED)),
        threading.Thread(target=decide, args=("s2", Verdict.NO_DATA)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results.values()).count("stale") == 1, results
    winner = next(v for v in results.values() if v != "stale")
    request = load(seeded_app, reference)
    assert [item.verdict for item in request.decision_items] == [winner]


# --- the section the request page includes -------------------------------------------------------


@pytest.mark.parametrize("language", ["ja", "en"])
def test_the_decision_section_renders_each_step_for_the_request_in_the_url(
    seeded_app, db, staff_client, language
):
    """The request page includes ``_decision.html``; here it is rendered for the URL's request."""
    seeded_app.config["OME_PRIVACY_FOUR_EYES"] = True
    reference = open_request(seeded_app, db, "bob@example.com", "delete")
    url = f"{STAFF}/requests/{reference}/disclosure/print"

    def section(email: str) -> str:
        with seeded_app.test_request_context(url), force_locale(language):
            login_user(_user(db, email))
            return render_template_string('{% include "ome_privacy/staff/_decision.html" %}')

    html = section("staff@example.com")
    assert 'name="item-0-verdict"' in html and "csrf_token" in html and 'name="version"' in html
    staff = staff_client("staff@example.com")
    post(staff, seeded_app, reference, "decision", grant_all(len(sources(seeded_app))))
    mine = section("staff@example.com")
    theirs = section("staff2@example.com")
    assert "/approval" not in mine  # the decider gets the reason instead of the button
    assert f"/admin/privacy/requests/{reference}/approval" in theirs


# --- correct / add, and the purpose notice ------------------------------------------------------------


def test_a_granted_correction_applies_the_requested_value_through_the_source(
    seeded_app, db, staff_client, login
):
    reference = open_request(
        seeded_app,
        db,
        "bob@example.com",
        "correct",
        # The online form's scope shape: sources, fields per source, changes per source.
        scope={
            "sources": ["profile"],
            "fields": {"profile": ["company"]},
            "changes": {"profile": {"company": "鈴木建築設計"}},
        },
    )
    staff = staff_client("staff@example.com")
    post(staff, seeded_app, reference, "decision", grant_all(1))
    post(staff, seeded_app, reference, "execution")
    receipts = {r.target: r for r in load(seeded_app, reference).receipts}
    assert receipts["profile"].status == "done" and "company" in receipts["profile"].summary
    bob = seeded_app.test_client()
    login(bob, "bob@example.com")
    page = bob.get("/account/privacy/data").get_data(as_text=True)
    assert "鈴木建築設計" in page and "鈴木設計事務所" not in page


def test_a_purpose_notice_package_lists_the_purposes_that_apply_to_the_person(seeded_app, db, staff_client):
    reference = open_request(
        seeded_app, db, "alice@example.com", "notify_purpose", scope={"items": ["profile"]}
    )
    with seeded_app.app_context():
        request = find_request(db.session, reference)
        request.fee_status = "waived"
        db.session.commit()
    staff = staff_client("staff@example.com")
    post(staff, seeded_app, reference, "decision", grant_all(1))
    post(staff, seeded_app, reference, "execution")
    post(staff, seeded_app, reference, "release-notice")
    assert load(seeded_app, reference).status == "completed"
    with seeded_app.app_context():
        state = get_state(seeded_app)
        request = find_request(db.session, reference)
        archive = zipfile.ZipFile(io.BytesIO(b"".join(disclosure_package(state, request, "en"))))
        expected = {
            p.key
            for p in state.purposes.for_category("user_info")
            if state.extension.may_use(_user(db, "alice@example.com"), p.key)
        }
    assert set(archive.namelist()) == {"notice.json", "data.json", "purposes.csv"}
    payload = json.loads(archive.read("data.json"))
    assert [row["category"] for row in payload["purposes"]] == ["user_info"]
    assert {p["key"] for p in payload["purposes"][0]["purposes"]} == expected and expected


def test_the_scope_of_the_online_form_becomes_the_items_to_decide(seeded_app, db):
    reference = open_request(
        seeded_app,
        db,
        "alice@example.com",
        "disclose",
        scope={"sources": ["facebook", "profile"], "fields": {"profile": ["phone", "company"]}},
    )
    with seeded_app.app_context():
        keys = scope_keys(get_state(seeded_app), find_request(db.session, reference))
    assert [str(k) for k in keys] == ["facebook", "profile.phone", "profile.company"]
