"""Staff review in a real browser (issue 9): the request page in Japanese and English (axe), a
document opened with its headers, a deficiency notice sent, and the request closed as
incomplete when ``flask ome-privacy close-expired`` runs after the deadline.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from flask_ome_privacy.cli import privacy_cli
from flask_ome_privacy.lifecycle import Status
from flask_ome_privacy.models import PrivacyRequest, utcnow
from flask_ome_privacy.state import get_state
from tests.browser.requests_setup import alices_disclosure

try:
    from playwright.sync_api import expect
except ImportError:  # the harness's fixtures skip these tests then (fail them under CI=true)
    expect = None


def test_staff_send_a_deficiency_notice_and_close_expired_closes_the_request(
    page: Any, live_server: Any, browser_login: Any, check_a11y: Any, screenshot: Any
) -> None:
    reference, document_id = alices_disclosure(live_server.app, ["profile"], status=Status.IDENTITY_REVIEW)
    browser_login(page, "staff@example.com")
    page.goto(f"/admin/privacy/requests/{reference}")
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    expect(page.get_by_role("heading", level=1)).to_contain_text(reference)
    check_a11y(page)
    screenshot(page, "staff-review-01-request-ja")

    # The document: only here, never cached, never sniffed, an image shown inline as what it is.
    shown = page.request.get(f"/admin/privacy/requests/{reference}/documents/{document_id}")
    assert shown.status == 200
    assert shown.headers["content-type"] == "image/png"
    assert shown.headers["cache-control"] == "no-store"
    assert shown.headers["x-content-type-options"] == "nosniff"
    assert shown.headers["content-disposition"].startswith("inline")

    # Switch to English, then name what is missing and send the notice.
    page.get_by_role("navigation").locator("form.lang-switch").get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    check_a11y(page)
    notice = page.locator("#deficiency")
    notice.get_by_label("Your identity document").check()
    notice.get_by_label("In your own words").fill("The copy is too blurred to read the address.")
    notice.get_by_role("button", name="Send the notice").click()
    expect(page.get_by_role("status")).to_contain_text("The notice was sent")
    expect(page.locator("#summary")).to_contain_text("Waiting for the requester")
    expect(page.locator("#timeline")).to_contain_text("The copy is too blurred to read the address.")
    check_a11y(page)
    screenshot(page, "staff-review-02-notice-sent-en")

    # Nothing happens before the deadline; after it, close-expired closes the request.
    runner = live_server.app.test_cli_runner()
    assert "Closed 0 request(s)" in runner.invoke(privacy_cli, ["close-expired"]).output
    with live_server.app.app_context():
        session = get_state(live_server.app).session
        session.execute(
            sa.update(PrivacyRequest)
            .where(PrivacyRequest.reference == reference)
            .values(answer_deadline=utcnow() - timedelta(minutes=1))
        )
        session.commit()
    assert "Closed 1 request(s)" in runner.invoke(privacy_cli, ["close-expired"]).output
    page.reload()
    expect(page.locator("#summary")).to_contain_text("Closed: incomplete")
    expect(page.locator("#timeline")).to_contain_text(re.compile("System"))
    check_a11y(page)
    screenshot(page, "staff-review-03-closed-en")
