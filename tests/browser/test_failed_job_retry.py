"""A failed job in a real browser (issue 10): alice's receipt mail fails because the mail server
is down; staff find it on the request page (axe, both languages), press Retry while the server is
still down and are told it failed again, then — the server back — press Retry and the mail goes
out, the section leaves the page.
"""

from __future__ import annotations

from typing import Any

from test_job_retry_page import smtp_on
from test_mail import FROM, free_port

from flask_ome_privacy import mail
from flask_ome_privacy.models import PrivacyRequest
from tests.browser.requests_setup import alices_disclosure

try:
    from playwright.sync_api import expect
except ImportError:  # the harness's fixtures skip these tests then (fail them under CI=true)
    expect = None


def test_staff_retry_a_failed_mail_until_the_server_is_back(
    page: Any, live_server: Any, browser_login: Any, check_a11y: Any, screenshot: Any
) -> None:
    from example_app.models import db

    app = live_server.app
    port = free_port()
    app.config.update(
        OME_PRIVACY_MAIL_HOST="127.0.0.1",
        OME_PRIVACY_MAIL_PORT=port,
        OME_PRIVACY_MAIL_SECURITY="none",
        OME_PRIVACY_MAIL_FROM=FROM,
        OME_PRIVACY_MAIL_TIMEOUT=5,
    )
    reference, _document = alices_disclosure(app, ["profile"])
    with app.app_context():
        request = db.session.scalar(db.select(PrivacyRequest).where(PrivacyRequest.reference == reference))
        mail.queue_mail(app, request, "request_received", "en")
        db.session.commit()  # the inline job runs and fails: nothing listens on the port

    browser_login(page, "staff@example.com")
    page.goto(f"/admin/privacy/requests/{reference}")
    section = page.locator("#failed-jobs")
    expect(section.get_by_role("heading", name="失敗したジョブ")).to_be_visible()
    check_a11y(page)
    page.get_by_role("button", name="English").click()
    page.wait_for_load_state()
    expect(section).to_contain_text("Email to the requester")
    expect(section).to_contain_text("ConnectionRefusedError")
    check_a11y(page)
    screenshot(page, "failed-job-01-request-page-en")

    section.get_by_role("button", name="Retry").click()
    page.wait_for_load_state()
    expect(page.get_by_role("status")).to_contain_text("it failed again (ConnectionRefusedError)")
    expect(section).to_contain_text("2")  # attempts

    with smtp_on(port) as inbox:
        section.get_by_role("button", name="Retry").click()
        page.wait_for_load_state()
        expect(page.get_by_role("status")).to_contain_text("it succeeded")
        expect(page.locator("#failed-jobs")).to_have_count(0)
        screenshot(page, "failed-job-02-retried-en")
        assert [envelope.rcpt_tos for envelope in inbox.messages] == [["alice@example.com"]]
