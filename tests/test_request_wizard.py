"""The request wizard (issue 8, "Starting a request"): one question a page, kept in a draft,
documents checked and encrypted, one request per kind on submit — through the example site.

Every refused answer must come back on the same page, in the person's language, with
everything entered still there; a replayed submission creates nothing twice.
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

from flask_ome_privacy import drafts
from flask_ome_privacy.documents.rules import add_months
from flask_ome_privacy.models import Notification, PrivacyRequest, RequestDocument, RequestDraft, utcnow

EN = {"Accept-Language": "en"}
JA = {"Accept-Language": "ja"}
NEW = "/account/privacy/requests/new"


def png_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 10, 10)).save(out, "PNG")
    return out.getvalue()


def pdf_bytes() -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


class Wizard:
    """A signed-in person going through the wizard with the test client."""

    def __init__(self, client: Any, headers: dict[str, str]) -> None:
        self.client = client
        self.headers = headers
        self.url = ""

    def get(self, url: str) -> Any:
        return self.client.get(url, headers=self.headers)

    def post(self, url: str, data: dict[str, Any], **kwargs: Any) -> Any:
        page = self.get(url).get_data(as_text=True)
        return self.client.post(
            url, data={"csrf_token": extract_csrf_token(page), **data}, headers=self.headers, **kwargs
        )

    def start(self, kinds: list[str], query: str = "", **extra: Any) -> Any:
        response = self.post(NEW + query, {"kinds": kinds, **extra})
        assert response.status_code == 303, response.get_data(as_text=True)[:2000]
        self.url = response.location.rsplit("/", 1)[0]
        return response

    def step(self, name: str, data: dict[str, Any], **kwargs: Any) -> Any:
        return self.post(f"{self.url}/{name}", data, **kwargs)


@pytest.fixture
def alice(seeded_app: Any, login: Any) -> Wizard:
    client = seeded_app.test_client()
    login(client, "alice@example.com")
    return Wizard(client, EN)


def text_of(response: Any) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def requests_of(app: Any, db: Any) -> list[PrivacyRequest]:
    with app.app_context():
        return list(db.session.scalars(sa.select(PrivacyRequest).order_by(PrivacyRequest.id)))


# --- step 1 and the links that open it ------------------------------------------------------------


def test_the_first_step_lists_the_eight_kinds_each_with_a_line_saying_what_it_does(alice):
    page = text_of(alice.get(NEW))
    for label in ("Notify the purpose of use", "Disclose", "Correct", "Add", "Delete", "Stop using", "Erase"):
        assert label in page
    assert "We show you the information we hold about you" in page
    assert page.count('name="kinds"') == 8


def test_the_link_from_the_data_page_prefills_kind_source_and_field(alice):
    data_page = alice.get("/account/privacy/data").get_data(as_text=True)
    # Each value's "Ask to correct" names its own source and field.
    link = re.search(
        r'href="(/account/privacy/requests/new\?kind=correct&amp;source=profile&amp;field=email)"', data_page
    )
    assert link, "the email row's 'Ask to correct' opens the wizard for that field"
    assert 'href="/account/privacy/requests/new?kind=correct&amp;source=profile&amp;field=phone"' in data_page
    first = alice.get(link.group(1).replace("&amp;", "&"))
    page = text_of(first)
    assert re.search(r'value="correct" id="kind-correct"[^>]*checked', page)
    # The first step carries the source and field on (as the browser posts the form) ...
    hidden = re.findall(r'<input type="hidden" name="(sources|fields)" value="([^"]*)">', page)
    assert hidden == [("sources", "profile"), ("fields", "profile:email")]
    posted: dict[str, list[str]] = {}
    for name, value in hidden:
        posted.setdefault(name, []).append(value)
    alice.start(["correct"], link.group(1).replace("&amp;", "&").split("new", 1)[1], **posted)
    # ... and the second arrives with them ticked.
    data = text_of(alice.get(f"{alice.url}/data"))
    profile = data.split("<legend>Profile and account</legend>", 1)[1].split("</fieldset>", 1)[0]
    assert "Your request is about this information" in profile
    assert re.search(r'value="profile:email" id="field-profile-email" checked', data)
    assert not re.search(r'value="profile:phone" id="field-profile-phone" checked', data)


def test_an_unknown_kind_or_source_in_the_link_is_said_on_the_page_and_nothing_breaks(alice):
    page = text_of(alice.get(NEW + "?kind=launch_rockets&source=nowhere"))
    assert "a kind of request we do not know" in page
    assert "information we do not hold" in page
    ja = alice.client.get(NEW + "?kind=launch_rockets", headers=JA)
    assert ja.status_code == 200
    assert "a kind of request we do not know" not in ja.get_data(as_text=True)


def test_choosing_no_kind_is_refused_on_the_same_page(alice):
    response = alice.post(NEW, {})
    assert response.status_code == 400
    assert "Please choose at least one kind of request." in text_of(response)


# --- step 2: which data -----------------------------------------------------------------------------


def test_a_new_value_the_source_rejects_is_refused_and_everything_stays(alice):
    alice.start(["correct"])
    response = alice.step(
        "data",
        {
            "fields": ["profile:email", "profile:phone"],
            "value-profile:email": "not-an-address",
            "value-profile:phone": "03-1234-5678",
        },
    )
    assert response.status_code == 400
    page = text_of(response)
    assert "Please enter an email address" in page
    assert 'value="not-an-address"' in page and 'value="03-1234-5678"' in page
    assert re.search(r'value="profile:phone" id="field-profile-phone" checked', page)
    ok = alice.step("data", {"fields": ["profile:email"], "value-profile:email": "alice.new@example.com"})
    assert ok.status_code == 303 and ok.location.endswith("/who")


def test_stop_providing_asks_the_ground_and_offers_the_recipients_from_the_provision_log(alice):
    alice.start(["stop_third_party"])
    page = text_of(alice.get(f"{alice.url}/data"))
    assert "It was provided to a third party without my consent" in page
    missing = alice.step("data", {})
    assert missing.status_code == 400 and "Please choose why you ask for this." in text_of(missing)


def test_disclosure_asks_for_the_method(alice):
    alice.start(["disclose"])
    missing = alice.step("data", {})
    assert "Please choose how you want to receive the disclosure." in text_of(missing)
    assert alice.step("data", {"method": "electronic"}).location.endswith("/who")


# --- step 3 and 4 --------------------------------------------------------------------------------------


def test_a_representative_must_give_name_relationship_address_and_a_valid_email(alice):
    alice.start(["delete"])
    alice.step("data", {})
    response = alice.step(
        "who", {"requester": "appointed_representative", "rep_name": "Kenji Sato", "rep_email": "kenji@"}
    )
    assert response.status_code == 400
    page = text_of(response)
    assert page.count("Please answer this question.") >= 2
    assert "Please enter an email address" in page
    assert 'value="Kenji Sato"' in page


def test_uploads_are_checked_listed_by_name_and_size_and_can_be_removed(alice, seeded_app, db):
    alice.start(["delete"])
    alice.step("data", {})
    alice.step("who", {"requester": "self"})
    docs = f"{alice.url}/documents"
    page = text_of(alice.get(docs))
    assert "never the back" in page and "February 2020" in page
    bad = alice.step(
        "documents",
        {
            "doc_type-person_identity": "drivers_licence",
            "action": "upload:person_identity",
            "file-person_identity": (io.BytesIO(b"MZ\x90\x00 not a pdf"), "licence.pdf"),
        },
        content_type="multipart/form-data",
    )
    assert bad.status_code == 400
    assert "PDF, JPEG or PNG" in text_of(bad)
    empty = alice.step(
        "documents",
        {
            "doc_type-person_identity": "drivers_licence",
            "action": "upload:person_identity",
            "file-person_identity": (io.BytesIO(b""), "empty.png"),
        },
        content_type="multipart/form-data",
    )
    assert empty.status_code == 400
    good = alice.step(
        "documents",
        {
            "doc_type-person_identity": "drivers_licence",
            "action": "upload:person_identity",
            "file-person_identity": (io.BytesIO(png_bytes()), "licence.png"),
        },
        content_type="multipart/form-data",
    )
    assert good.status_code == 200
    assert "Driver&#39;s licence" in text_of(good) or "Driver's licence" in text_of(good)
    with seeded_app.app_context():
        doc = db.session.scalars(sa.select(RequestDocument)).one()
        assert doc.draft_id is not None and doc.request_id is None
        ciphertext = db.session.scalar(sa.select(RequestDocument.ciphertext))
        assert png_bytes()[:8] not in ciphertext
        doc_id = doc.id
    removed = alice.step("documents", {"action": f"remove:{doc_id}"})
    assert removed.status_code == 200
    with seeded_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(RequestDocument.id))) == 0


def test_a_seal_certificate_four_months_old_is_too_old_before_submission(alice):
    alice.start(["delete"])
    alice.step("data", {})
    alice.step(
        "who",
        {
            "requester": "appointed_representative",
            "rep_name": "Kenji Sato",
            "rep_relationship": "lawyer",
            "rep_address": "1-1 Chiyoda, Tokyo",
            "rep_email": "kenji@example.com",
        },
    )
    old = add_months(date.today(), -4).isoformat()
    response = alice.step("documents", {"seal_issued_on": old, "action": "continue"})
    assert response.status_code == 400
    page = text_of(response)
    assert "It must have been issued within the last three months" in page
    assert f'value="{old}"' in page
    fresh = (date.today() - timedelta(days=10)).isoformat()
    assert alice.step("documents", {"seal_issued_on": fresh, "action": "continue"}).status_code == 303


# --- fee, check and submit -------------------------------------------------------------------------------


def fill_disclosure(w: Wizard) -> None:
    w.start(["disclose", "notify_purpose"])
    w.step("data", {"method": "electronic"})
    w.step("who", {"requester": "self"})
    w.step(
        "documents",
        {
            "doc_type-person_identity": "my_number_card",
            "action": "continue",
            "file-person_identity": (io.BytesIO(pdf_bytes()), "card.pdf"),
        },
        content_type="multipart/form-data",
    )


def test_the_fee_page_names_the_fee_the_methods_and_the_reference_per_request(alice):
    fill_disclosure(alice)
    page = text_of(alice.get(f"{alice.url}/fee"))
    assert "1,000 yen" in page
    assert "Registered cash mail" in page
    refs = re.findall(r"PR-[A-Z0-9]{4}-[A-Z0-9]{4}", page)
    assert len(set(refs)) == 2


def test_the_fee_step_is_never_shown_for_other_kinds(alice):
    alice.start(["delete"])
    response = alice.get(f"{alice.url}/fee")
    assert response.status_code == 303 and response.location.endswith("/check")
    assert "/fee" not in alice.get(f"{alice.url}/check").get_data(as_text=True)


def test_submitting_creates_one_request_per_kind_sharing_the_documents_once(alice, seeded_app, db):
    fill_disclosure(alice)
    check = text_of(alice.get(f"{alice.url}/check"))
    assert "Change" in check and "My Number card" in check
    page = alice.get(f"{alice.url}/check").get_data(as_text=True)
    token = extract_csrf_token(page)
    first = alice.client.post(
        f"{alice.url}/check", data={"csrf_token": token, "action": "submit"}, headers=EN
    )
    again = alice.client.post(
        f"{alice.url}/check", data={"csrf_token": token, "action": "submit"}, headers=EN
    )
    assert first.status_code == 303 and again.status_code == 303
    assert first.location == again.location
    created = requests_of(seeded_app, db)
    assert sorted(r.kind for r in created) == ["disclose", "notify_purpose"]
    assert {r.disclosure_method for r in created if r.kind == "disclose"} == {"electronic"}
    assert all(r.fee_amount == 1000 for r in created)
    with seeded_app.app_context():
        docs = list(db.session.scalars(sa.select(RequestDocument)))
        assert sorted(d.request_id for d in docs) == sorted(r.id for r in created)
        assert all(d.draft_id is None for d in docs)
        notes = list(
            db.session.scalars(sa.select(Notification).where(Notification.kind == "request_received"))
        )
        assert len(notes) == 2
    done = text_of(alice.get(first.location))
    for r in created:
        assert r.reference in done
    assert "prints on a page of its own" in done


def test_the_receipt_page_of_another_person_is_not_found(alice, seeded_app, db, login):
    fill_disclosure(alice)
    response = alice.step("check", {"action": "submit"})
    bob = seeded_app.test_client()
    login(bob, "bob@example.com")
    assert bob.get(response.location).status_code == 404
    assert bob.get(f"{alice.url}/check").status_code == 404


def test_too_many_requests_in_an_hour_are_refused_with_the_answers_kept(seeded_app, login, db):
    seeded_app.config["OME_PRIVACY_REQUEST_LIMIT_PER_HOUR"] = 1
    client = seeded_app.test_client()
    login(client, "alice@example.com")
    w = Wizard(client, EN)
    fill_disclosure(w)
    response = w.step("check", {"action": "submit"})
    assert response.status_code == 429
    assert "many requests in the last hour" in text_of(response)
    assert requests_of(seeded_app, db) == []
    assert w.get(f"{w.url}/check").status_code == 200


def test_request_data_never_appears_in_the_export(alice, seeded_app, db):
    alice.start(["correct"])
    alice.step("data", {"fields": ["profile:phone"], "value-profile:phone": "090-7777-0000"})
    alice.step("who", {"requester": "self"})
    alice.step("check", {"action": "submit"})
    assert len(requests_of(seeded_app, db)) == 1
    export = alice.get("/account/privacy/data/export.json").get_data(as_text=True)
    assert "090-7777-0000" not in export
    assert "090-7777-0000" not in alice.get("/account/privacy/data").get_data(as_text=True)


def test_stale_drafts_and_their_documents_are_purged(alice, seeded_app, db):
    alice.start(["delete"])
    with seeded_app.app_context():
        assert drafts.purge_stale_drafts(db.session, utcnow()) == 0
        assert drafts.purge_stale_drafts(db.session, utcnow() + timedelta(days=15)) == 1
        db.session.commit()
        assert db.session.scalar(sa.select(sa.func.count(RequestDraft.id))) == 0


# --- files over the limit -----------------------------------------------------------------------------


def to_documents(w: Wizard) -> str:
    w.start(["delete"])
    w.step("data", {})
    w.step("who", {"requester": "self"})
    return f"{w.url}/documents"


def test_a_file_over_the_upload_limit_is_refused_with_a_message_on_the_page(seeded_app, login):
    seeded_app.config["OME_PRIVACY_MAX_UPLOAD_BYTES"] = 2000
    client = seeded_app.test_client()
    login(client, "alice@example.com")
    w = Wizard(client, EN)
    to_documents(w)
    response = w.step(
        "documents",
        {
            "doc_type-person_identity": "drivers_licence",
            "action": "upload:person_identity",
            "file-person_identity": (io.BytesIO(b"%PDF-1.7\n" + b"0" * 5000), "big.pdf"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert "MB" in text_of(response) or "too large" in text_of(response).lower()


def test_a_body_over_the_request_limit_gets_the_page_back_not_a_bare_error(seeded_app, login):
    client = seeded_app.test_client()
    login(client, "alice@example.com")
    w = Wizard(client, EN)
    url = to_documents(w)
    token = extract_csrf_token(w.get(url).get_data(as_text=True))
    seeded_app.config["MAX_CONTENT_LENGTH"] = 5000
    response = client.post(
        url,
        data={
            "csrf_token": token,
            "action": "upload:person_identity",
            "file-person_identity": (io.BytesIO(b"0" * 20000), "big.png"),
        },
        content_type="multipart/form-data",
        headers=EN,
    )
    assert response.status_code == 413
    assert "Please upload a smaller copy." in text_of(response)
    assert "Documents" in text_of(response)
