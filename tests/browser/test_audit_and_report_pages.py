"""Staff read the audit trail and the review report in a real browser, in Japanese and English,
without JavaScript of ours: filter the trail with the form, page through it, read the chain's
state; choose a period for the report and look at its chart (policy Art. 3.2)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from flask_ome_privacy import privacy_requests
from flask_ome_privacy.lifecycle import Status
from flask_ome_privacy.models import utcnow
from flask_ome_privacy.state import get_state

try:
    from playwright.sync_api import expect
except ImportError:  # the harness's fixtures skip these tests then (fail them under CI=true)
    expect = None


def add_requests(live_server: Any) -> None:
    """A month of requests of several kinds and outcomes, one of them still open."""
    app = live_server.app
    now = utcnow()
    with app.app_context():
        state = get_state(app)
        session = state.session
        plans = [
            ("disclose", [Status.IDENTITY_REVIEW, Status.UNDER_REVIEW, Status.REFUSED], "self", "online"),
            ("disclose", [Status.WITHDRAWN], "self", "online"),
            ("erase", [Status.IDENTITY_REVIEW, Status.REFUSED], "legal_representative", "postal"),
            ("correct", [Status.IDENTITY_REVIEW], "self", "postal"),
            (
                "delete",
                [Status.IDENTITY_REVIEW, Status.AWAITING_REQUESTER, Status.CLOSED_INCOMPLETE],
                "self",
                "online",
            ),
            (
                "disclose",
                [Status.IDENTITY_REVIEW, Status.UNDER_REVIEW, Status.REFUSED],
                "appointed_representative",
                "online",
            ),
        ]
        for number, (kind, path, requester, channel) in enumerate(plans):
            received = now - timedelta(days=20 - number)
            request = privacy_requests.submit(
                state,
                user_id="1",
                kind=kind,
                requester_type=requester,
                channel=channel,
                reference=f"PR-BRWS-000{number}",
                now=received,
            )
            for step, status in enumerate(path, 1):
                privacy_requests.move(
                    session,
                    request,
                    status,
                    actor_id="3",
                    actor_role="staff",
                    now=received + timedelta(days=step),
                )
        session.commit()


def switch_to_english(page: Any) -> None:
    page.get_by_role("navigation").locator("form.lang-switch").get_by_role(
        "button", name="English", exact=True
    ).click()
    expect(page.locator("html")).to_have_attribute("lang", "en")


def test_staff_filter_the_audit_trail_and_see_the_chain_verified(
    page: Any, live_server: Any, browser_login: Any, check_a11y: Any, screenshot: Any
) -> None:
    add_requests(live_server)
    browser_login(page, "staff@example.com")
    page.goto("/admin/privacy/audit")
    expect(page.get_by_role("heading", level=1)).to_have_text("監査記録")
    expect(page.locator(".omep-chain")).to_contain_text("検証済み")
    check_a11y(page)
    screenshot(page, "staff-audit-01-ja")

    switch_to_english(page)
    expect(page).to_have_url(re.compile(r"/admin/privacy/audit$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Audit trail")
    expect(page.locator(".omep-chain")).to_contain_text(re.compile(r"verified up to event \d+, the newest"))

    # Filter by a request's reference with the form (a GET form: works without JavaScript).
    page.get_by_label("Request reference").fill("PR-BRWS-0002")
    page.get_by_role("button", name="Show events").click()
    expect(page).to_have_url(re.compile(r"reference=PR-BRWS-0002"))
    rows = page.locator("table.omep-audit tbody tr")
    expect(rows).to_have_count(3)  # submitted, then two moves
    expect(rows.first).to_contain_text("request.moved")
    check_a11y(page)

    # A reference that does not exist is said next to its field.
    page.get_by_label("Request reference").fill("PR-XXXX-XXXX")
    page.get_by_role("button", name="Show events").click()
    expect(page.locator("#audit-reference-error")).to_have_text("No request has the reference PR-XXXX-XXXX.")
    expect(page.get_by_text("No event matches this filter.")).to_be_visible()
    check_a11y(page)
    screenshot(page, "staff-audit-02-en-filtered")

    # The CSV link carries the filter.
    page.get_by_role("link", name="Clear the filter").click()
    page.get_by_label("Action").select_option("request.submitted")
    page.get_by_role("button", name="Show events").click()
    expect(page.locator("table.omep-audit tbody tr")).to_have_count(6)
    expect(page.get_by_role("link", name="Download as CSV")).to_have_attribute(
        "href", re.compile(r"/admin/privacy/audit\.csv\?action=request\.submitted$")
    )


def test_staff_read_the_review_report_with_its_chart(
    page: Any, live_server: Any, browser_login: Any, check_a11y: Any, screenshot: Any
) -> None:
    add_requests(live_server)
    browser_login(page, "staff@example.com")
    page.goto("/admin/privacy/report")
    expect(page.get_by_role("heading", level=1)).to_have_text("見直し報告")
    chart = page.get_by_role("img", name=re.compile("種類別のご請求"))
    expect(chart).to_be_visible()
    expect(page.locator("#fact-received")).to_have_text("6")
    check_a11y(page)
    screenshot(page, "staff-report-01-ja")

    switch_to_english(page)
    expect(page.get_by_role("heading", level=1)).to_have_text("Review report")
    expect(page.locator("#fact-received")).to_have_text("6")
    expect(page.locator("#fact-closed")).to_have_text("5")
    by_kind = page.locator("#by-kind")
    expect(by_kind.get_by_role("row", name=re.compile(r"^Disclose 3$"))).to_be_visible()
    expect(page.locator("#fact-overdue")).to_have_text(re.compile(r"^1\b"))  # the correction, open 16 days
    check_a11y(page)
    full = screenshot(page, "staff-report-02-en")
    page.locator("figure.omep-chart").first.screenshot(path=str(full.with_name("staff-report-03-en-chart.png")))

    # A period with nothing in it, chosen with the form.
    page.get_by_label("From").fill("2020-01-01")
    page.get_by_label("Until").fill("2020-01-31")
    page.get_by_role("button", name="Show the report").click()
    expect(page).to_have_url(re.compile(r"since=2020-01-01&until=2020-01-31"))
    expect(page.locator("#fact-received")).to_have_text("0")
    expect(page.locator("#fact-median")).to_have_text("—")
    check_a11y(page)
