"""The staff desk in a real browser (issue 9), through the request page's own forms:

* bob's deletion: staff decides, staff2 approves, staff carries it out, the receipts are on
  the page, the processors' manual tasks are ticked, the notice is released — and bob's data
  is gone from his data page;
* a deficiency notice nobody answers: after the deadline ``close-expired`` (the CLI) closes
  the request, and the requester's own page says it was closed as incomplete, with the notice;
* the queue fits a 1280 px screen and stays usable at phone width.

axe runs on every page; the request page is shot in Japanese and English.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from flask_ome_privacy import privacy_requests
from flask_ome_privacy.cli import privacy_cli
from flask_ome_privacy.lifecycle import Status
from flask_ome_privacy.models import PrivacyRequest, utcnow
from flask_ome_privacy.state import get_state

try:
    from playwright.sync_api import expect
except ImportError:  # the harness's fixtures skip these tests then (fail them under CI=true)
    expect = None


def user_id(app: Any, email: str) -> str:
    from example_app.models import User, db

    with app.app_context():
        return str(db.session.scalar(sa.select(User.id).where(User.email == email)))


def request_of(app: Any, email: str, kind: str, *, status: Status, verified: bool = False) -> str:
    """A request of ``email``'s moved to ``status`` (identity verified by staff if asked)."""
    staff = user_id(app, "staff@example.com")
    with app.app_context():
        state = get_state(app)
        request = privacy_requests.submit(state, user_id=user_id(app, email), kind=kind)
        for step in (Status.IDENTITY_REVIEW, Status.UNDER_REVIEW):
            if status is Status.IDENTITY_REVIEW and step is Status.UNDER_REVIEW:
                break
            privacy_requests.move(state.session, request, step, actor_id=staff, actor_role="staff")
        if verified:
            request.identity_verified_at = request.received_at
            request.identity_verified_by = staff
            request.identity_method = "uploaded_documents"
        state.session.commit()
        return request.reference


def switch_language(page: Any, name: str) -> None:
    page.get_by_role("navigation").locator("form.lang-switch").get_by_role(
        "button", name=name, exact=True
    ).click()
    page.wait_for_load_state()


def sign_out(page: Any) -> None:
    page.context.clear_cookies()


def test_bobs_deletion_decided_approved_carried_out_and_his_data_gone(
    page: Any, live_server: Any, browser_login: Any, check_a11y: Any, screenshot: Any
) -> None:
    app = live_server.app
    reference = request_of(app, "bob@example.com", "delete", status=Status.UNDER_REVIEW, verified=True)
    browser_login(page, "bob@example.com")
    page.goto("/account/privacy/data")
    expect(page.locator("main")).to_contain_text("鈴木設計事務所")
    sign_out(page)

    # staff decides every item: granted.
    browser_login(page, "staff@example.com")
    page.goto(f"/admin/privacy/requests/{reference}")
    switch_language(page, "English")
    decision = page.locator("#decision")
    expect(decision.get_by_role("group")).to_have_count(3)
    for group in decision.get_by_role("group").all():
        group.get_by_label("Granted", exact=True).check()
    check_a11y(page)
    screenshot(page, "staff-desk-01-decide-en")
    decision.get_by_role("button", name="Record the decision").click()
    expect(page.get_by_role("status")).to_contain_text("Decision recorded.")
    expect(page.locator("#summary")).to_contain_text("Approved")
    # The decider cannot approve their own deletion; the staff page names them.
    expect(decision).to_contain_text("decided by 佐々木 恵")
    expect(decision.get_by_role("button", name="Approve this decision")).to_have_count(0)
    check_a11y(page)
    sign_out(page)

    # staff2 approves it.
    browser_login(page, "staff2@example.com")
    page.goto(f"/admin/privacy/requests/{reference}")
    switch_language(page, "English")
    page.locator("#decision").get_by_role("button", name="Approve this decision").click()
    expect(page.get_by_role("status")).to_contain_text("Decision approved.")
    expect(page.locator("#decision")).to_contain_text("Approved by 中村 大輔")
    check_a11y(page)
    sign_out(page)

    # staff carries it out: one receipt per source and action, the processors' tasks by hand.
    browser_login(page, "staff@example.com")
    page.goto(f"/admin/privacy/requests/{reference}")
    switch_language(page, "English")
    page.locator("#decision").get_by_role("button", name="Carry out the decision").click()
    expect(page.get_by_role("status")).to_contain_text("Carrying out the decision has started.")
    receipts = page.get_by_role("table", name="Receipts")
    expect(receipts.get_by_role("row")).to_have_count(6)  # header + 3 sources + 2 processors
    expect(receipts).to_contain_text("Done")
    check_a11y(page)
    screenshot(page, "staff-desk-02-receipts-en")
    while page.get_by_role("button", name="Mark the task done").count():
        task = page.locator("form:has(button:text('Mark the task done'))").first
        task.get_by_label("What was done (no personal data)").fill("Deletion confirmed in writing.")
        task.get_by_role("button", name="Mark the task done").click()
        expect(page.get_by_role("status")).to_contain_text("Task marked done.")
    page.locator("#decision").get_by_role("button", name="Release the decision notice").click()
    expect(page.get_by_role("status")).to_contain_text("The decision notice was released")
    expect(page.locator("#summary")).to_contain_text("Completed")
    check_a11y(page)
    switch_language(page, "日本語")
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    check_a11y(page)
    screenshot(page, "staff-desk-03-completed-ja")
    sign_out(page)

    # bob: his sessions ended with the deletion; signed in again, his data is gone.
    browser_login(page, "bob@example.com")
    page.goto("/account/privacy/data")
    expect(page.locator("main")).not_to_contain_text("鈴木設計事務所")
    expect(page.locator("main")).not_to_contain_text("スズキ イチロウ")
    check_a11y(page)
    page.goto(f"/account/privacy/requests/{reference}")
    expect(page.locator("main")).not_to_contain_text("佐々木")  # staff stay unnamed to requesters
    check_a11y(page)
    screenshot(page, "staff-desk-04-bob-request-ja")


def test_an_unanswered_deficiency_notice_closes_the_request_and_the_requester_sees_why(
    page: Any, live_server: Any, browser_login: Any, check_a11y: Any, screenshot: Any
) -> None:
    app = live_server.app
    reference = request_of(app, "alice@example.com", "disclose", status=Status.IDENTITY_REVIEW)
    browser_login(page, "staff@example.com")
    page.goto(f"/admin/privacy/requests/{reference}")
    check_a11y(page)
    screenshot(page, "staff-desk-05-request-ja")
    switch_language(page, "English")
    check_a11y(page)
    screenshot(page, "staff-desk-06-request-en")
    notice = page.locator("#deficiency")
    notice.get_by_label("Your identity document").check()
    notice.get_by_label("In your own words").fill("Please send a copy that shows your current address.")
    notice.get_by_role("button", name="Send the notice").click()
    expect(page.get_by_role("status")).to_contain_text("The notice was sent")
    sign_out(page)

    # The deadline passes (set in the past in the database); close-expired runs as cron would.
    runner = app.test_cli_runner()
    with app.app_context():
        session = get_state(app).session
        session.execute(
            sa.update(PrivacyRequest)
            .where(PrivacyRequest.reference == reference)
            .values(answer_deadline=utcnow() - timedelta(minutes=1))
        )
        session.commit()
    assert "Closed 1 request(s)" in runner.invoke(privacy_cli, ["close-expired"]).output
    assert "Closed 0 request(s)" in runner.invoke(privacy_cli, ["close-expired"]).output  # idempotent

    browser_login(page, "alice@example.com")
    page.goto(f"/account/privacy/requests/{reference}")
    switch_language(page, "English")
    main = page.locator("main")
    expect(main).to_contain_text("Closed: incomplete")
    expect(main).to_contain_text("Please send a copy that shows your current address.")
    check_a11y(page)
    screenshot(page, "staff-desk-07-requester-closed-en")
    switch_language(page, "日本語")
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    expect(page.locator("main")).to_contain_text("Please send a copy that shows your current address.")
    check_a11y(page)


OVERFLOW_JS = """(selector) => {
    const wrap = document.querySelector(selector);
    return {scroll: wrap.scrollWidth, client: wrap.clientWidth,
            page: document.documentElement.scrollWidth, window: window.innerWidth};
}"""


def test_the_queue_fits_a_1280_px_screen_and_a_phone(
    page: Any, live_server: Any, browser_login: Any, check_a11y: Any, screenshot: Any
) -> None:
    app = live_server.app
    # A real day: every kind, some assigned, one overdue, one waiting for the requester.
    kinds = ("stop_third_party", "notify_purpose", "disclose", "correct", "delete", "stop_use", "erase")
    references = [request_of(app, "bob@example.com", kind, status=Status.UNDER_REVIEW) for kind in kinds]
    with app.app_context():
        session = get_state(app).session
        rows = list(
            session.scalars(sa.select(PrivacyRequest).where(PrivacyRequest.reference.in_(references)))
        )
        for number, request in enumerate(rows):
            request.assigned_to = user_id(app, "staff2@example.com") if number % 2 else None
        rows[0].received_at = utcnow() - timedelta(days=17)  # three days overdue
        rows[0].due_at = utcnow() - timedelta(days=3)
        rows[2].received_at = utcnow() - timedelta(days=12)  # due within three days
        rows[2].due_at = utcnow() + timedelta(days=2)
        privacy_requests.move(session, rows[1], Status.AWAITING_REQUESTER, actor_id=None, actor_role="system")
        session.commit()
    browser_login(page, "staff@example.com")
    for language in ("ja", "en"):
        page.set_viewport_size({"width": 1280, "height": 900})
        page.goto("/admin/privacy/")
        if language == "en":
            switch_language(page, "English")
        expect(page.get_by_role("table", name=re.compile("対応中のご請求|Open requests"))).to_be_visible()
        sizes = page.evaluate(OVERFLOW_JS, ".omep-queue-wrap")
        assert sizes["scroll"] <= sizes["client"], sizes  # every column, actions too, on screen
        assert sizes["page"] <= sizes["window"], sizes
        check_a11y(page)
        screenshot(page, f"staff-desk-08-queue-1280-{language}")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/admin/privacy/")
    sizes = page.evaluate(OVERFLOW_JS, ".omep-queue-wrap")
    assert sizes["page"] <= sizes["window"] + 1, sizes  # the page itself never scrolls sideways
    check_a11y(page)
    screenshot(page, "staff-desk-09-queue-phone-en")
