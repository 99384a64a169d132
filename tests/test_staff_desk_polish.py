"""The staff desk as a privacy officer reads it (issue 9): staff named by the host's
``staff_names`` hook (one call per page), the requester's answers in words rather than stored
keys, and "stop using" naming exactly which uses stop — from the wizard to the notice.

Through the example site and its database; staff sign in through the real form.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa
from helpers import extract_csrf_token

from flask_ome_privacy import privacy_requests
from flask_ome_privacy.lifecycle import Status
from flask_ome_privacy.models import PrivacyRequest, PrivacyStop
from flask_ome_privacy.state import get_state, user_id_of

EN = {"Accept-Language": "en"}
JA = {"Accept-Language": "ja"}
STAFF = "/admin/privacy"
NEW = "/account/privacy/requests/new"
SASAKI = "佐々木 恵 (個人情報窓口)"  # staff@example.com's display name in the demo
NAKAMURA = "中村 大輔 (個人情報窓口)"  # staff2@example.com's


def _user(db: Any, email: str) -> Any:
    from example_app.models import User

    return db.session.scalar(sa.select(User).where(User.email == email))


def uid(app: Any, db: Any, email: str) -> str:
    with app.app_context():
        return user_id_of(_user(db, email))


def under_review(
    app: Any, db: Any, email: str, kind: str, *, scope: dict[str, Any] | None = None, by: str = ""
) -> str:
    """A request of ``email``'s under review, identity verified by staff member ``by``."""
    with app.app_context():
        state = get_state(app)
        request = privacy_requests.submit(state, user_id=uid(app, db, email), kind=kind, scope=scope)
        for status in (Status.IDENTITY_REVIEW, Status.UNDER_REVIEW):
            privacy_requests.move(db.session, request, status, actor_id=by or None, actor_role="staff")
        request.identity_verified_at = request.received_at
        request.identity_verified_by = by or None
        request.identity_method = "uploaded_documents"
        db.session.commit()
        return request.reference


def load(app: Any, reference: str) -> PrivacyRequest:
    with app.app_context():
        session = get_state(app).session
        found = session.scalar(sa.select(PrivacyRequest).where(PrivacyRequest.reference == reference))
        assert found is not None
        _touch = (found.receipts, found.decision_items, found.messages)
        session.expunge_all()
        return found


@pytest.fixture
def signed_in(seeded_app: Any, login: Any) -> Any:
    clients: dict[str, Any] = {}

    def client_for(email: str) -> Any:
        if email not in clients:
            client = seeded_app.test_client()
            login(client, email)
            clients[email] = client
        return clients[email]

    return client_for


def post(client: Any, app: Any, reference: str, action: str, data: dict[str, Any] | None = None) -> Any:
    page = client.get(f"{STAFF}/requests/{reference}", headers=EN).get_data(as_text=True)
    form = {
        "csrf_token": extract_csrf_token(page),
        "version": str(load(app, reference).version),
        **(data or {}),
    }
    response = client.post(f"{STAFF}/requests/{reference}/{action}", data=form, headers=EN)
    assert response.status_code == 303, response.get_data(as_text=True)[:800]
    return response


@pytest.fixture
def hook_calls(seeded_app: Any, monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Every call of the site's ``staff_names`` hook, with the ids it was asked for."""
    with seeded_app.app_context():
        privacy = get_state(seeded_app).extension
    real = privacy._staff_names
    assert real is not None, "the example site names its staff"
    calls: list[list[str]] = []

    def counted(ids: list[str]) -> Any:
        calls.append(list(ids))
        return real(ids)

    monkeypatch.setattr(privacy, "_staff_names", counted)
    return calls


# --- staff by name ------------------------------------------------------------------------------------


def test_the_request_page_names_every_staff_member_with_one_lookup(
    seeded_app, db, signed_in, hook_calls
) -> None:
    staff_id, staff2_id = uid(seeded_app, db, "staff@example.com"), uid(seeded_app, db, "staff2@example.com")
    reference = under_review(seeded_app, db, "bob@example.com", "delete", by=staff_id)
    staff, staff2 = signed_in("staff@example.com"), signed_in("staff2@example.com")
    post(
        staff,
        seeded_app,
        reference,
        "decision",
        {"item-0-verdict": "granted", "item-1-verdict": "granted", "item-2-verdict": "granted"},
    )
    post(staff2, seeded_app, reference, "approval")
    with seeded_app.app_context():
        request = db.session.scalar(sa.select(PrivacyRequest).where(PrivacyRequest.reference == reference))
        request.assigned_to = staff2_id
        db.session.commit()

    hook_calls.clear()
    text = staff.get(f"{STAFF}/requests/{reference}", headers=EN).get_data(as_text=True)
    assert len(hook_calls) == 1 and set(hook_calls[0]) == {staff_id, staff2_id}
    summary = text[text.index('id="summary"') : text.index('id="answers"')]
    assert f"Verified by {SASAKI}" in summary
    assert NAKAMURA in summary  # the assignee
    decision = text[text.index('id="decision"') : text.index('id="notes"')]
    assert f"decided by {SASAKI}" in decision and f"Approved by {NAKAMURA}" in decision
    timeline = text[text.index('id="timeline"') :]
    assert f"Staff {SASAKI}" in timeline and f"Staff {NAKAMURA}" in timeline
    assert not re.search(rf"Staff {staff_id}\b", timeline)  # never the bare id

    # In Japanese too.
    japanese = staff.get(f"{STAFF}/requests/{reference}", headers=JA).get_data(as_text=True)
    assert SASAKI in japanese[japanese.index('id="timeline"') :]


def test_an_id_the_host_does_not_name_falls_back_to_staff_number(seeded_app, db, signed_in) -> None:
    reference = under_review(seeded_app, db, "bob@example.com", "delete", by="9876")
    staff = signed_in("staff@example.com")
    text = staff.get(f"{STAFF}/requests/{reference}", headers=EN).get_data(as_text=True)
    assert "Verified by Staff #9876" in text
    with seeded_app.app_context():
        privacy = get_state(seeded_app).extension
        with seeded_app.test_request_context(headers=JA):
            assert privacy.names_of_staff(["9876", None, ""]) == {"9876": "担当者 #9876"}


def test_the_queue_and_the_audit_page_name_staff_with_one_lookup_each(
    seeded_app, db, signed_in, hook_calls
) -> None:
    staff2_id = uid(seeded_app, db, "staff2@example.com")
    references = [under_review(seeded_app, db, "bob@example.com", "delete", by=staff2_id) for _ in range(3)]
    with seeded_app.app_context():
        for request in db.session.scalars(
            sa.select(PrivacyRequest).where(PrivacyRequest.reference.in_(references))
        ):
            request.assigned_to = staff2_id
        db.session.commit()
    staff = signed_in("staff@example.com")

    hook_calls.clear()
    queue = staff.get(f"{STAFF}/?assignee={staff2_id}", headers=EN).get_data(as_text=True)
    assert len(hook_calls) == 1
    rows = queue[queue.index("<tbody>") :]
    assert rows.count(f"<td>{NAKAMURA}</td>") == 3 and f"#{staff2_id}<" not in rows  # the assignee cells

    hook_calls.clear()
    audit = staff.get(f"{STAFF}/audit?actor={staff2_id}", headers=EN).get_data(as_text=True)
    assert len(hook_calls) == 1
    assert NAKAMURA in audit[audit.index("<tbody>") :]


def test_the_requester_never_sees_a_staff_members_name(seeded_app, db, signed_in) -> None:
    staff_id = uid(seeded_app, db, "staff@example.com")
    reference = under_review(seeded_app, db, "bob@example.com", "delete", by=staff_id)
    bob = signed_in("bob@example.com")
    for headers in (EN, JA):
        page = bob.get(f"/account/privacy/requests/{reference}", headers=headers).get_data(as_text=True)
        assert "佐々木" not in page and "Staff #" not in page


# --- the requester's answers, in words ----------------------------------------------------------------


def test_the_requesters_answers_are_shown_with_labels_not_stored_keys(seeded_app, db, signed_in) -> None:
    reference = under_review(
        seeded_app,
        db,
        "alice@example.com",
        "correct",
        scope={
            "sources": ["profile"],
            "fields": {"profile": ["company"]},
            "changes": {"profile": {"company": "鈴木建築設計"}},
            "requester": "appointed_representative",
            "representative": {
                "name": "佐藤 一郎",
                "relationship": "弁護士",
                "postal_address": "大阪市北区 1-1",
                "email": "rep@example.jp",
            },
            "submitted_with": [],
        },
    )
    staff = signed_in("staff@example.com")
    text = staff.get(f"{STAFF}/requests/{reference}", headers=EN).get_data(as_text=True)
    answers = re.sub(r"\s+", " ", text[text.index('id="answers"') : text.index('id="identity"')])
    assert "Information asked about" in answers and "Profile and account — Company" in answers
    assert "New values asked for" in answers and "鈴木建築設計" in answers
    assert "Representative" in answers and "Relationship" in answers and "佐藤 一郎" in answers
    for key in ("sources", "fields", "changes", "profile", "company", "representative", "postal_address"):
        assert f">{key}<" not in answers and f"{key} " not in answers.replace("Company", "")

    ja = staff.get(f"{STAFF}/requests/{reference}", headers=JA).get_data(as_text=True)
    ja_answers = ja[ja.index('id="answers"') : ja.index('id="identity"')]
    assert "New values asked for" not in ja_answers and "鈴木建築設計" in ja_answers


# --- stop using: exactly which uses -------------------------------------------------------------------


def test_the_wizard_asks_which_uses_to_stop_and_keeps_the_answer_explicit(seeded_app, db, signed_in) -> None:
    alice = signed_in("alice@example.com")

    def post_to(url: str, data: dict[str, Any]) -> Any:
        token = extract_csrf_token(alice.get(url, headers=EN).get_data(as_text=True))
        return alice.post(url, data={"csrf_token": token, **data}, headers=EN)

    started = post_to(NEW, {"kinds": ["stop_use"]})
    assert started.status_code == 303
    url = started.location.rsplit("/", 1)[0]
    page = alice.get(f"{url}/data", headers=EN).get_data(as_text=True)
    assert "Which uses of it should we stop?" in page and "Advertising distribution" in page
    # No answer: asked again on the same page, with what was ticked kept.
    missing = post_to(f"{url}/data", {"sources": ["profile"], "ground": "beyond_purpose"})
    assert missing.status_code == 400 and "Please say which uses we should stop." in missing.get_data(
        as_text=True
    )
    assert re.search(r'value="profile" id="source-profile" checked', missing.get_data(as_text=True))
    none_ticked = post_to(
        f"{url}/data", {"sources": ["profile"], "ground": "beyond_purpose", "purpose_scope": "chosen"}
    )
    assert "Please tick the uses to stop" in none_ticked.get_data(as_text=True)
    # A use of information not chosen: refused with what to do.
    outside = post_to(
        f"{url}/data",
        {
            "sources": ["profile"],
            "ground": "beyond_purpose",
            "purpose_scope": "chosen",
            "purposes": ["org_service.benchmarking"],
        },
    )
    assert outside.status_code == 400 and "tick that information too" in outside.get_data(as_text=True)
    chosen = post_to(
        f"{url}/data",
        {
            "sources": ["profile"],
            "ground": "beyond_purpose",
            "purpose_scope": "chosen",
            "purposes": ["user_info.advertising", "user_info.sales"],
        },
    )
    assert chosen.status_code == 303
    post_to(f"{url}/who", {"requester": "self"})
    check = alice.get(f"{url}/check", headers=EN).get_data(as_text=True)
    assert "Uses to stop:" in check and "Advertising distribution" in check
    assert post_to(f"{url}/check", {"action": "submit"}).status_code == 303
    with seeded_app.app_context():
        request = db.session.scalar(sa.select(PrivacyRequest).where(PrivacyRequest.kind == "stop_use"))
        assert request is not None
        assert request.scope["purposes"] == ["user_info.advertising", "user_info.sales"]
        assert request.scope["purposes_all"] is False


def test_stop_use_of_chosen_uses_stops_exactly_those_and_the_notice_names_them(
    seeded_app, db, signed_in
) -> None:
    seeded_app.config["OME_PRIVACY_FOUR_EYES"] = False
    reference = under_review(
        seeded_app,
        db,
        "alice@example.com",
        "stop_use",
        scope={"sources": ["profile"], "purposes": ["user_info.advertising"], "purposes_all": False},
    )
    staff = signed_in("staff@example.com")
    page = staff.get(f"{STAFF}/requests/{reference}", headers=EN).get_data(as_text=True)
    answers = page[page.index('id="answers"') : page.index('id="identity"')]
    assert "Uses to stop" in answers and "Advertising distribution" in answers
    post(staff, seeded_app, reference, "decision", {"item-0-verdict": "granted"})
    post(staff, seeded_app, reference, "execution")
    with seeded_app.app_context():
        privacy = get_state(seeded_app).extension
        alice = _user(db, "alice@example.com")
        assert not privacy.may_use(alice, "user_info.advertising")
        assert privacy.may_use(alice, "user_info.sales") and privacy.may_use(
            alice, "user_info.user_management"
        )
        # The site's own switch (all processing of the profile) was not thrown for one use.
        assert alice.processing_stopped_at is None
        targets = set(db.session.scalars(sa.select(PrivacyStop.target)))
        assert targets == {"user_info.advertising"}
    receipts = {r.target: r for r in load(seeded_app, reference).receipts}
    assert receipts["profile"].status == "done" and "user_info.advertising" in receipts["profile"].summary
    for receipt in receipts.values():  # the outsourced mailer: a task for staff
        if receipt.status == "manual":
            post(staff, seeded_app, reference, f"tasks/{receipt.id}/done", {"note": "Confirmed by email."})
    post(staff, seeded_app, reference, "release-notice")
    released = load(seeded_app, reference)
    assert released.status == "completed"
    notice = [m for m in released.messages if m.kind == "decision"][0]
    assert notice.items[0]["purposes"] == ["user_info.advertising"]
    # The staff page still opens once the notice is on its timeline (the notice's items are
    # decided items, not checklist codes).
    after = staff.get(f"{STAFF}/requests/{reference}", headers=EN)
    assert after.status_code == 200
    timeline = after.get_data(as_text=True).split('id="timeline"')[1]
    assert "Decision notice (Approved)" in re.sub(r"\s+", " ", timeline)
    # The notice names the use stopped, in the requester's language (the site's first: Japanese).
    assert released.decision_reason == "次の利用を停止しました: 広告配信。"
    mine = signed_in("alice@example.com").get(f"/account/privacy/requests/{reference}", headers=JA)
    assert "次の利用を停止しました: 広告配信。" in mine.get_data(as_text=True)


def test_stop_use_without_purposes_means_every_use_of_the_data_in_scope_only(
    seeded_app, db, signed_in
) -> None:
    """A request that named no uses (one that came by post): every use of the information it is
    about — not of other information (Facebook's registration use stays)."""
    seeded_app.config["OME_PRIVACY_FOUR_EYES"] = False
    reference = under_review(seeded_app, db, "alice@example.com", "stop_use", scope={"sources": ["profile"]})
    staff = signed_in("staff@example.com")
    page = staff.get(f"{STAFF}/requests/{reference}", headers=EN).get_data(as_text=True)
    assert "Every use of this information" in page[page.index('id="answers"') : page.index('id="identity"')]
    post(staff, seeded_app, reference, "decision", {"item-0-verdict": "granted"})
    post(staff, seeded_app, reference, "execution")
    with seeded_app.app_context():
        privacy = get_state(seeded_app).extension
        alice = _user(db, "alice@example.com")
        for key in ("user_info.sales", "user_info.user_management", "user_info.advertising"):
            assert not privacy.may_use(alice, key)
        assert privacy.may_use(alice, "sns.registration")
        # Every use of the profile stopped: the site's own switch is thrown too.
        assert alice.processing_stopped_at is not None
        assert None not in set(db.session.scalars(sa.select(PrivacyStop.target)))
