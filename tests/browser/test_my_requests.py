"""alice follows her requests in a real browser (issue 8): answers a deficiency notice, withdraws one.

The live site gets the demo requests (``seed_demo_requests``: one submitted, one waiting for
alice with a notice, one completed; bob's overdue one). Every page visited goes through axe
(``check_a11y``), in English and in Japanese; the main steps leave screenshots.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # the harness's fixtures skip these tests then (fail them under CI=true)
    expect = None

ALICE = "alice@example.com"
LIST = "/account/privacy/requests"


@pytest.fixture
def browser_context_args() -> dict[str, Any]:
    return {"locale": "en-US", "timezone_id": "Asia/Tokyo", "viewport": {"width": 1280, "height": 900}}


@pytest.fixture
def requests_seeded(live_server: Any) -> Any:
    from example_app.seed import seed_demo_requests

    with live_server.app.app_context():
        assert seed_demo_requests() == 9
    return live_server


def sign_in(page: Any, email: str = ALICE) -> None:
    page.goto("/login")
    page.get_by_label("Email address", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill("demo-password")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page).to_have_url(re.compile(r"/account$"))


def switch_language(page: Any, name: str) -> None:
    page.get_by_role("navigation").locator("form.lang-switch").get_by_role(
        "button", name=name, exact=True
    ).click()


def open_request(page: Any, status_badge: str) -> str:
    """From the list, open the request whose status badge has class ``omep-badge--<status_badge>``."""
    row = page.locator("tbody tr", has=page.locator(f".omep-badge--{status_badge}"))
    link = row.locator("a.omep-ref")
    reference = link.inner_text()
    link.click()
    expect(page).to_have_url(re.compile(rf"{LIST}/{reference}$"))
    return reference


def test_alice_answers_a_deficiency_notice(
    page: Any, requests_seeded: Any, check_a11y: Any, screenshot: Any, tmp_path: Path
) -> None:
    sign_in(page)
    page.goto("/account/privacy/")
    # The overview names each open request's kind beside its reference and status.
    open_list = page.locator("section[aria-labelledby=omep-open-requests] li")
    expect(open_list).to_have_count(2)
    expect(open_list.filter(has=page.locator(".omep-badge--awaiting_requester"))).to_contain_text(
        re.compile(r"[A-Z0-9-]+ (Disclose|Correct|Add|Delete|Stop using|Erase)")
    )
    check_a11y(page)
    screenshot(page, "requests-00-overview-en")
    page.get_by_role("link", name="See all your requests").click()
    expect(page).to_have_url(re.compile(rf"{LIST}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Your requests")
    expect(page.locator("tbody tr")).to_have_count(3)
    check_a11y(page)
    screenshot(page, "requests-01-list-en")

    reference = open_request(page, "awaiting_requester")
    notice = page.locator(
        "section", has=page.get_by_role("heading", name="Something is missing from your request")
    )
    expect(notice.locator("#omep-missing-items li")).to_have_text(["Your identity document"])
    expect(notice).to_contain_text("Please answer by")
    check_a11y(page)
    screenshot(page, "requests-02-notice-en")

    # Nothing chosen: told on the page, with a link to the field; nothing typed is lost.
    page.get_by_label("Message to the privacy desk").fill("")
    page.get_by_role("button", name="Send my answer").click()
    expect(page.get_by_role("alert")).to_contain_text("Please upload a document")
    check_a11y(page)

    from PIL import Image

    image = tmp_path / "licence.png"
    Image.new("RGB", (120, 80), (240, 240, 240)).save(image, "PNG")
    page.get_by_label("Which document").select_option("drivers_licence")
    page.get_by_label("File (PDF, JPEG or PNG)").set_input_files(str(image))
    page.get_by_label("Message to the privacy desk").fill("Here is a brighter copy.")
    page.get_by_role("button", name="Send my answer").click()
    expect(page).to_have_url(re.compile(rf"{LIST}/{reference}$"))
    expect(page.get_by_role("status")).to_contain_text("Your answer was sent")
    expect(page.get_by_role("heading", name="Something is missing from your request")).to_have_count(0)
    expect(page.locator(".omep-steps")).to_contain_text("You answered.")
    expect(page.locator(".omep-facts")).to_contain_text("Checking identity")
    check_a11y(page)
    screenshot(page, "requests-03-answered-en")

    # The same pages in Japanese.
    switch_language(page, "日本語")
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"ご請求 {reference}")
    check_a11y(page)
    page.goto(LIST)
    expect(page.get_by_role("heading", level=1)).to_have_text("ご請求")
    check_a11y(page)
    open_request(page, "completed")
    expect(page.get_by_role("heading", name="決定通知")).to_be_visible()
    expect(page.locator("table", has_text="項目ごとの決定内容").locator("tbody tr")).to_have_count(2)
    check_a11y(page)
    screenshot(page, "requests-04-decision-ja")


def test_alice_withdraws_a_request(page: Any, requests_seeded: Any, check_a11y: Any, screenshot: Any) -> None:
    sign_in(page)
    page.goto(LIST)
    reference = open_request(page, "submitted")
    check_a11y(page)
    page.get_by_role("link", name="Withdraw this request").click()
    expect(page).to_have_url(re.compile(rf"{LIST}/{reference}/withdraw$"))
    check_a11y(page)
    screenshot(page, "requests-05-withdraw-confirm-en")
    # Keeping it changes nothing.
    page.get_by_role("link", name="Keep the request").click()
    expect(page.locator(".omep-facts")).to_contain_text("Submitted")
    page.get_by_role("link", name="Withdraw this request").click()
    page.get_by_role("button", name="Withdraw this request").click()
    expect(page).to_have_url(re.compile(rf"{LIST}/{reference}$"))
    expect(page.get_by_role("status")).to_contain_text(f"Your request {reference} was withdrawn.")
    expect(page.locator(".omep-facts")).to_contain_text("Withdrawn")
    expect(page.get_by_role("link", name="Withdraw this request")).to_have_count(0)
    check_a11y(page)

    # The completed one cannot be withdrawn: the confirm page says so, in Japanese too.
    page.goto(LIST)
    done = open_request(page, "completed")
    page.goto(f"{LIST}/{done}/withdraw")
    expect(page.get_by_role("alert")).to_contain_text("can no longer be withdrawn")
    check_a11y(page)
    switch_language(page, "日本語")
    expect(page.get_by_role("alert")).to_contain_text("もう取り下げられません")
    check_a11y(page)
    page.goto(f"{LIST}/{reference}/withdraw")
    check_a11y(page)
    screenshot(page, "requests-06-withdrawn-ja")
