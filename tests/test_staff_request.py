"""The staff page of one request, part 1 (issue 9, "Working one request"): documents viewed only
there, identity checks and "identity verified", the fee, deficiency notices and `close-expired`,
internal notes the requester never sees, and the timeline.

Through the real example site and database (SQLite and PostgreSQL); every change is a POST
with CSRF and the request's version.
"""

from __future__ import annotations

import io
import re
from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from helpers import extract_csrf_token
from PIL import Image
from pypdf import PdfWriter

from flask_ome_privacy import deficiency_notices, documents, privacy_requests
from flask_ome_privacy.cli import privacy_cli
from flask_ome_privacy.lifecycle import Status
from flask_ome_privacy.models import AuditEvent, Notification, PrivacyRequest, RequestMessage, utcnow
from flask_ome_privacy.state import get_state

EN = {"Accept-Language": "en"}
STALE = "Someone else changed this request"


def png_bytes(color: tuple[int, int, int] = (30, 30, 200)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), color).save(out, "PNG")
    return out.getvalue()


def pdf_bytes() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def user_id(app: Any, email: str) -> str:
    from example_app.models import User, db

    with app.app_context():
        return str(db.session.scalar(sa.select(User.id).where(User.email == email)))


def make_request(
    app: Any,
    *,
    email: str = "alice@example.com",
    kind: str = "disclose",
    requester_type: str = "self",
    scope: dict[str, Any] | None = None,
    docs: tuple[tuple[str, str, bytes, date | None], ...] = (
        ("person_identity", "drivers_licence", b"", None),
    ),
    status: Status | None = None,
    received_days_ago: int = 1,
) -> str:
    """A request of ``email``'s with its documents (a PNG unless bytes are given); its reference."""
    state = get_state(app)
    with app.app_context():
        request = privacy_requests.submit(
            state,
            user_id=user_id(app, email),
            kind=kind,
            requester_type=requester_type,
            scope=scope or {"sources": ["profile"]},
            now=utcnow() - timedelta(days=received_days_ago),
        )
        for role, doc_type, data, issued_on in docs:
            clean = documents.check_upload(data or png_bytes(), app)
            documents.store(state.session, request.id, role, doc_type, clean, issued_on=issued_on)
        if status is not None:
            privacy_requests.move(
                state.session, request, Status.IDENTITY_REVIEW, actor_id=None, actor_role="system"
            )
            if status is not Status.IDENTITY_REVIEW:
                privacy_requests.move(state.session, request, status, actor_id=None, actor_role="system")
        state.session.commit()
        return request.reference


def load(app: Any, reference: str) -> PrivacyRequest:
    with app.app_context():
        session = get_state(app).session
        request = session.scalar(sa.select(PrivacyRequest).where(PrivacyRequest.reference == reference))
        assert request is not None
        session.expunge(request)
        return request


def page_of(client: Any, reference: str) -> str:
    response = client.get(f"/admin/privacy/requests/{reference}", headers=EN)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def post(client: Any, reference: str, action: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    """POST an action with the page's CSRF token and the version it shows (unless given)."""
    text = page_of(client, reference)
    form = {"csrf_token": extract_csrf_token(text), **(data or {})}
    if "version" not in form:
        found = re.search(r'name="version" value="(\d+)"', text)
        assert found is not None, "the form carries the request's version"
        form["version"] = found.group(1)
    return client.post(f"/admin/privacy/requests/{reference}/{action}", data=form, headers=EN, **kwargs)


def actions_of(app: Any, reference: str) -> list[str]:
    request = load(app, reference)
    with app.app_context():
        session = get_state(app).session
        return list(
            session.scalars(
                sa.select(AuditEvent.action)
                .where(AuditEvent.request_id == request.id)
                .order_by(AuditEvent.id)
            )
        )


@pytest.fixture
def staff(seeded_app: Any, client: Any, login: Any) -> Any:
    login(client, "staff@example.com")
    return client


# --- the page -------------------------------------------------------------------------------------


def test_the_page_shows_the_summary_answers_and_checklist_to_staff_only(
    seeded_app: Any, client: Any, login: Any
) -> None:
    reference = make_request(seeded_app, scope={"sources": ["profile", "org_survey"]}, received_days_ago=3)
    login(client, "alice@example.com")
    assert client.get(f"/admin/privacy/requests/{reference}").status_code == 403
    client.get("/logout")
    login(client, "staff@example.com")
    response = client.get(f"/admin/privacy/requests/{reference}", headers=EN)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    text = response.get_data(as_text=True)
    assert "Disclose" in text and "The person themselves" in text and "Online" in text
    assert "3 days ago" in text and "Outstanding" in text and "Nobody" in text
    answers = text[text.index('id="answers"') : text.index('id="identity"')]
    # The sources by their labels, never the stored keys.
    assert "Profile and account" in answers and "Organisational improvement surveys" in answers
    assert "org_survey" not in answers and ">sources<" not in answers
    assert "Your identity document" in text
    # Each document by its kind in words, not the stored code.
    assert re.search(r"Document \d+: Driver&#39;s licence", text) and ": drivers_licence" not in text
    assert client.get("/admin/privacy/requests/PR-NONE-XXXX").status_code == 404


def test_a_document_is_shown_inline_as_an_image_and_a_pdf_downloads_each_view_audited(
    seeded_app: Any, staff: Any
) -> None:
    reference = make_request(
        seeded_app,
        docs=(
            ("person_identity", "drivers_licence", b"", None),
            ("person_identity", "passport", pdf_bytes(), None),
        ),
    )
    request = load(seeded_app, reference)
    with seeded_app.app_context():
        ids = sorted(d.id for d in get_state(seeded_app).session.get(PrivacyRequest, request.id).documents)
    image = staff.get(f"/admin/privacy/requests/{reference}/documents/{ids[0]}")
    assert image.status_code == 200
    assert image.mimetype == "image/png" and image.data.startswith(b"\x89PNG")
    assert image.headers["Cache-Control"] == "no-store"
    assert image.headers["X-Content-Type-Options"] == "nosniff"
    assert image.headers["Content-Disposition"].startswith("inline")
    pdf = staff.get(f"/admin/privacy/requests/{reference}/documents/{ids[1]}")
    assert pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")
    assert pdf.headers["Content-Disposition"].startswith("attachment")
    assert actions_of(seeded_app, reference).count("document.viewed") == 2
    # Another request's document is not found through this one.
    other = make_request(seeded_app, email="bob@example.com")
    assert staff.get(f"/admin/privacy/requests/{other}/documents/{ids[0]}").status_code == 404


def test_identity_is_verified_after_every_check_by_a_named_staff_member(seeded_app: Any, staff: Any) -> None:
    reference = make_request(seeded_app)
    response = post(staff, reference, "identity/start")
    assert response.status_code == 303
    assert load(seeded_app, reference).status == "identity_review"
    # Not every check ticked: refused with the reason, nothing recorded.
    post(staff, reference, "identity/checks", {"check": ["type_accepted", "name_address_match"]})
    refused = post(staff, reference, "identity/verify", {"method": "uploaded_documents"})
    assert refused.status_code == 400 and "Tick every check first" in refused.get_data(as_text=True)
    assert load(seeded_app, reference).identity_verified_at is None
    post(
        staff,
        reference,
        "identity/checks",
        {"check": ["type_accepted", "name_address_match", "masking_done"]},
    )
    assert post(staff, reference, "identity/verify", {"method": "uploaded_documents"}).status_code == 303
    request = load(seeded_app, reference)
    assert request.status == "under_review"
    assert request.identity_verified_at is not None and request.identity_method == "uploaded_documents"
    assert request.identity_verified_by == user_id(seeded_app, "staff@example.com")
    assert set(request.identity_checks) == {"type_accepted", "name_address_match", "masking_done"}
    assert request.identity_checks["type_accepted"]["by"] == request.identity_verified_by
    assert actions_of(seeded_app, reference)[-3:] == [
        "identity.checks_recorded",
        "identity.verified",
        "request.moved",
    ]
    text = page_of(staff, reference)
    assert "Verified by" in text and "Copies of documents uploaded online" in text


def test_an_appointed_representatives_seal_certificate_is_checked_against_the_receipt_date(
    seeded_app: Any, staff: Any
) -> None:
    received = utcnow().date()
    old = received - timedelta(days=120)
    reference = make_request(
        seeded_app,
        requester_type="appointed_representative",
        docs=(
            ("power_of_attorney", "power_of_attorney", pdf_bytes(), None),
            ("seal_certificate", "seal_certificate", pdf_bytes(), old),
            ("representative_identity", "drivers_licence", b"", None),
        ),
        status=Status.IDENTITY_REVIEW,
        received_days_ago=0,
    )
    text = page_of(staff, reference)
    assert "The representative&#39;s authority is proven" in text
    assert "It must have been issued within the last three months" in text
    checks = ["type_accepted", "name_address_match", "masking_done", "authority_proven"]
    post(staff, reference, "identity/checks", {"check": checks})
    refused = post(staff, reference, "identity/verify", {"method": "uploaded_documents"})
    assert refused.status_code == 400
    assert "does not pass its check" in refused.get_data(as_text=True)
    assert load(seeded_app, reference).status == "identity_review"


def test_staff_replace_a_document_with_a_masked_copy(seeded_app: Any, staff: Any) -> None:
    reference = make_request(seeded_app, status=Status.IDENTITY_REVIEW)
    request = load(seeded_app, reference)
    with seeded_app.app_context():
        doc_id = get_state(seeded_app).session.get(PrivacyRequest, request.id).documents[0].id
    masked = png_bytes((0, 0, 0))
    response = post(
        staff,
        reference,
        f"documents/{doc_id}/masked",
        {"file": (io.BytesIO(masked), "masked.png")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    shown = staff.get(f"/admin/privacy/requests/{reference}/documents/{doc_id}")
    assert Image.open(io.BytesIO(shown.data)).getpixel((5, 5)) == (0, 0, 0)
    assert "masked by staff" in page_of(staff, reference)
    # Not a document: a clear message, the original kept.
    bad = post(
        staff,
        reference,
        f"documents/{doc_id}/masked",
        {"file": (io.BytesIO(b"not an image"), "x.png")},
        content_type="multipart/form-data",
    )
    assert bad.status_code == 400 and 'role="alert"' in bad.get_data(as_text=True)


def test_the_fee_is_recorded_received_or_waived(seeded_app: Any, staff: Any) -> None:
    reference = make_request(seeded_app)
    today = date.today().isoformat()
    future = post(
        staff,
        reference,
        "fee",
        {"outcome": "received", "received_on": "2999-01-01", "amount": "1000", "method": "transfer"},
    )
    assert future.status_code == 400 and "cannot be in the future" in future.get_data(as_text=True)
    assert load(seeded_app, reference).fee_status == "outstanding"
    done = post(
        staff,
        reference,
        "fee",
        {"outcome": "received", "received_on": today, "amount": "1000", "method": "postal_money_order"},
    )
    assert done.status_code == 303
    request = load(seeded_app, reference)
    assert (request.fee_status, request.fee_amount, request.fee_method) == (
        "received",
        1000,
        "postal_money_order",
    )
    assert request.fee_received_on == date.today()
    assert "Received 1000 yen" in page_of(staff, reference)

    waived = make_request(seeded_app, kind="notify_purpose")
    empty = post(staff, waived, "fee", {"outcome": "waived", "reason": "  "})
    assert empty.status_code == 400 and "Say why the fee is waived" in empty.get_data(as_text=True)
    assert post(staff, waived, "fee", {"outcome": "waived", "reason": "Hardship"}).status_code == 303
    assert load(seeded_app, waived).fee_status == "waived"
    assert load(seeded_app, waived).fee_waiver_reason == "Hardship"
    assert "fee.waived" in actions_of(seeded_app, waived)
    # A deletion carries no fee.
    no_fee = make_request(seeded_app, kind="delete")
    assert post(staff, no_fee, "fee", {"outcome": "waived", "reason": "x"}).status_code == 400


def test_a_deficiency_notice_names_what_is_missing_and_pauses_the_clock(seeded_app: Any, staff: Any) -> None:
    reference = make_request(seeded_app, status=Status.IDENTITY_REVIEW)
    nothing = post(staff, reference, "deficiency", {"text": "  "})
    assert nothing.status_code == 400
    assert "Choose what is missing" in nothing.get_data(as_text=True)
    response = post(
        staff, reference, "deficiency", {"item": ["person_identity"], "text": "The copy is blurred."}
    )
    assert response.status_code == 303
    request = load(seeded_app, reference)
    assert request.status == "awaiting_requester" and request.paused_since is not None
    assert request.answer_deadline is not None
    days = seeded_app.config["OME_PRIVACY_DEFICIENCY_ANSWER_DAYS"]
    assert timedelta(days=days) < request.answer_deadline - utcnow() <= timedelta(days=days + 1)
    with seeded_app.app_context():
        session = get_state(seeded_app).session
        message = session.scalar(sa.select(RequestMessage).where(RequestMessage.request_id == request.id))
        assert (message.kind, message.items, message.body) == (
            "deficiency",
            ["person_identity"],
            "The copy is blurred.",
        )
        notice = session.scalar(sa.select(Notification).where(Notification.request_id == request.id))
        assert notice.user_id == request.user_id and notice.kind == "deficiency"
    assert "deficiency.sent" in actions_of(seeded_app, reference)


def test_close_expired_closes_unanswered_notices_once_and_tells_the_requester(
    seeded_app: Any, staff: Any
) -> None:
    reference = make_request(seeded_app, status=Status.IDENTITY_REVIEW)
    waiting = make_request(seeded_app, email="bob@example.com", status=Status.IDENTITY_REVIEW)
    post(staff, reference, "deficiency", {"item": ["person_identity"]})
    post(staff, waiting, "deficiency", {"item": ["person_identity"]})
    deadline = load(seeded_app, reference).answer_deadline
    with seeded_app.app_context():
        session = get_state(seeded_app).session
        assert deficiency_notices.close_expired(session, now=deadline - timedelta(seconds=1)) == []
        session.commit()
    # Push bob's deadline into the future: only alice's request expires.
    with seeded_app.app_context():
        session = get_state(seeded_app).session
        session.execute(
            sa.update(PrivacyRequest)
            .where(PrivacyRequest.reference == reference)
            .values(answer_deadline=utcnow() - timedelta(minutes=1))
        )
        session.commit()
    runner = seeded_app.test_cli_runner()
    first = runner.invoke(privacy_cli, ["close-expired"])
    assert first.exit_code == 0 and "Closed 1 request(s)" in first.output
    second = runner.invoke(privacy_cli, ["close-expired"])
    assert second.exit_code == 0 and "Closed 0 request(s)" in second.output
    closed = load(seeded_app, reference)
    assert closed.status == "closed_incomplete" and closed.closed_at is not None
    assert load(seeded_app, waiting).status == "awaiting_requester"
    with seeded_app.app_context():
        kinds = get_state(seeded_app).session.scalars(
            sa.select(Notification.kind).where(Notification.request_id == closed.id)
        )
        assert sorted(kinds) == ["closed_incomplete", "deficiency"]
    assert actions_of(seeded_app, reference).count("request.moved") == 3  # review, waiting, closed


def test_internal_notes_are_for_staff_and_never_reach_the_requester(
    seeded_app: Any, client: Any, login: Any
) -> None:
    reference = make_request(seeded_app)
    login(client, "staff@example.com")
    secret = "NOTE-7f3a: called the ward office"
    assert post(client, reference, "notes", {"body": secret}).status_code == 303
    assert secret in page_of(client, reference)
    blank = post(client, reference, "notes", {"body": " "})
    assert blank.status_code == 400 and "Write the note first" in blank.get_data(as_text=True)
    nul = post(client, reference, "notes", {"body": "a\x00b"})  # PostgreSQL refuses NUL in text
    assert nul.status_code == 400 and "control characters" in nul.get_data(as_text=True)
    client.get("/logout")
    login(client, "alice@example.com")
    # Every account page alice can open, with her request's reference where a page takes one.
    seen = 0
    for rule in seeded_app.url_map.iter_rules():
        if "GET" not in (rule.methods or ()) or rule.arguments - {"reference"}:
            continue
        url = rule.rule.replace("<reference>", reference)
        response = client.get(url)
        if response.status_code == 200 and response.mimetype == "text/html":
            seen += 1
            assert secret not in response.get_data(as_text=True), url
    assert seen > 5
    with seeded_app.app_context():
        assert all(
            "NOTE-7f3a" not in str(e.data)
            for e in get_state(seeded_app).session.scalars(sa.select(AuditEvent))
        )


def test_a_stale_form_is_refused_with_a_clear_message_and_nothing_lost(seeded_app: Any, staff: Any) -> None:
    reference = make_request(seeded_app, status=Status.IDENTITY_REVIEW)
    version = load(seeded_app, reference).version
    post(staff, reference, "identity/checks", {"check": ["type_accepted"]})  # someone else acted
    response = post(
        staff,
        reference,
        "deficiency",
        {"item": ["person_identity"], "text": "Please send a clearer copy.", "version": str(version)},
    )
    assert response.status_code == 409
    text = response.get_data(as_text=True)
    assert STALE in text and "Please send a clearer copy." in text
    assert load(seeded_app, reference).status == "identity_review"


def test_two_staff_racing_on_one_request_one_wins_the_other_is_told(seeded_app: Any, staff: Any) -> None:
    """Both forms carry the same version: the first wins, the second is told and changes nothing."""
    reference = make_request(seeded_app, status=Status.IDENTITY_REVIEW)
    # Through the page: the same version posted twice, the second is refused.
    text = page_of(staff, reference)
    found = re.search(r'name="version" value="(\d+)"', text)
    assert found is not None, "the form carries the request's version"
    version = found.group(1)
    first = post(staff, reference, "identity/checks", {"check": ["type_accepted"], "version": version})
    second = post(staff, reference, "identity/checks", {"check": ["masking_done"], "version": version})
    assert first.status_code == 303 and second.status_code == 409
    assert STALE in second.get_data(as_text=True)
    assert set(load(seeded_app, reference).identity_checks) == {"type_accepted"}


def test_the_timeline_lists_staff_and_requester_events(seeded_app: Any, staff: Any) -> None:
    reference = make_request(seeded_app, status=Status.IDENTITY_REVIEW)
    post(staff, reference, "notes", {"body": "checked by phone"})
    post(staff, reference, "deficiency", {"item": ["person_identity"]})
    request = load(seeded_app, reference)
    with seeded_app.app_context():  # the requester answers (requests-follow's page does this)
        session = get_state(seeded_app).session
        session.add(
            RequestMessage(request_id=request.id, author="requester", kind="answer", body="Sent again.")
        )
        session.commit()
    text = page_of(staff, reference)
    timeline = text[text.index('id="timeline"') :]
    for label in ("Request received", "Status changed", "Internal note added", "Deficiency notice sent"):
        assert label in timeline
    assert "Answer from the requester" in timeline and "Sent again." in timeline
    assert "Deficiency notice (Your identity document)" in timeline  # the item by its name, not its code


def test_every_event_the_package_records_on_a_request_has_a_timeline_label() -> None:
    """A new audit action on a request must be named on the timeline, not shown as its code."""
    import pathlib

    from flask_ome_privacy.views.staff_request import TIMELINE_LABELS

    package = pathlib.Path(__file__).resolve().parents[1] / "flask_ome_privacy"
    written = set()
    for path in package.rglob("*.py"):
        written |= set(
            re.findall(
                r'"((?:request|identity|document|fee|deficiency|note|job)\.[a-z_]+)"', path.read_text()
            )
        )
    assert "request.decided" in written and "fee.received" in written  # the scan finds them
    assert sorted(written - set(TIMELINE_LABELS)) == []
