"""The public purposes page in both languages (through the site's language switch), and the
staff queue's access rule, in a real browser.

The browser asks for Japanese (the harness default), so pages start in Japanese; the nav's
日本語 / English buttons (a POST form) switch, and the privacy pages must follow the site's
choice. Wording is asserted only where it is English source text or a Japanese string the
catalogs already had; structure (lang attribute, pressed button, table rows) does the rest.
"""

from __future__ import annotations

import re
from typing import Any

try:
    from playwright.sync_api import expect
except ImportError:  # the harness's fixtures skip these tests then (fail them under CI=true)
    expect = None

PUBLIC_PURPOSES = "/privacy/purposes"


def language_switch(page: Any) -> Any:
    """The nav's language form (named "Language" / 「言語」)."""
    return page.get_by_role("navigation").locator("form.lang-switch")


def expect_language(page: Any, lang: str) -> None:
    expect(page.locator("html")).to_have_attribute("lang", lang)
    switch = language_switch(page)
    chosen, other = ("日本語", "English") if lang == "ja" else ("English", "日本語")
    expect(switch.get_by_role("button", name=chosen, exact=True)).to_have_attribute("aria-pressed", "true")
    expect(switch.get_by_role("button", name=other, exact=True)).not_to_have_attribute("aria-pressed", "true")


def expect_public_purposes_structure(page: Any) -> None:
    """What the public page must hold whatever the language: the three categories of policy
    Art. 2.1, the published change with its date (Art. 2.2(2)), the inquiry contact."""
    expect(page.get_by_role("heading", level=1)).to_have_count(1)
    table = page.locator("#purposes").get_by_role("table")
    expect(table.get_by_role("rowheader")).to_have_count(3)
    expect(page.locator("#changes time[datetime='2026-09-15']").first).to_be_visible()
    expect(page.get_by_role("complementary").get_by_role("link", name=re.compile("@"))).to_have_attribute(
        "href", re.compile(r"^mailto:")
    )
    # Nothing personal, and no sign-in needed.
    expect(
        page.get_by_role("navigation", name=re.compile("Privacy center|プライバシーセンター"))
    ).to_have_count(0)


def test_a_visitor_reads_the_public_purposes_in_japanese_then_english(
    page: Any, check_a11y: Any, screenshot: Any
) -> None:
    # Japanese by default (the browser asks for ja-JP; the site defaults to Japanese anyway).
    response = page.goto("/")
    assert response is not None and response.status == 200
    expect_language(page, "ja")
    check_a11y(page)

    # The footer link everyone has, without signing in.
    page.get_by_role("contentinfo").get_by_role("link", name="利用目的とご請求").click()
    expect(page).to_have_url(re.compile(r"/privacy/purposes$"))
    expect_language(page, "ja")
    expect(page.get_by_role("heading", level=1)).to_have_text("個人情報の利用目的")
    expect_public_purposes_structure(page)
    check_a11y(page)
    screenshot(page, "public-01-purposes-ja")

    # Switch to English with the nav's button: the same page comes back in English.
    language_switch(page).get_by_role("button", name="English", exact=True).click()
    expect(page).to_have_url(re.compile(r"/privacy/purposes$"))
    expect_language(page, "en")
    expect(page.get_by_role("heading", level=1)).to_have_text("Purposes of use of personal information")
    expect(page).to_have_title(re.compile("Purposes of use of personal information"))
    expect(page.get_by_role("navigation", name="On this page")).to_be_visible()
    expect(
        page.locator("#purposes").get_by_role("columnheader", name="Provided to client companies")
    ).to_be_visible()
    expect_public_purposes_structure(page)
    check_a11y(page)
    screenshot(page, "public-02-purposes-en")

    # The choice sticks: the site's own pages and the privacy pages stay English.
    page.get_by_role("link", name="WORLD OME NET").click()
    expect(page).to_have_url(re.compile(r"/$"))
    expect_language(page, "en")
    page.goto(PUBLIC_PURPOSES)
    expect_language(page, "en")

    # And back to Japanese.
    language_switch(page).get_by_role("button", name="日本語", exact=True).click()
    expect(page).to_have_url(re.compile(r"/privacy/purposes$"))
    expect_language(page, "ja")
    expect(page.get_by_role("heading", level=1)).to_have_text("個人情報の利用目的")


def test_the_language_switch_keeps_signed_in_privacy_pages_in_step(
    page: Any, browser_login: Any, check_a11y: Any
) -> None:
    browser_login(page, "alice@example.com")
    page.goto("/account/privacy/purposes")
    expect_language(page, "ja")
    language_switch(page).get_by_role("button", name="English", exact=True).click()
    expect(page).to_have_url(re.compile(r"/account/privacy/purposes$"))
    expect_language(page, "en")
    expect(page.get_by_role("heading", level=1)).to_have_text("Purposes and consent")
    expect(
        page.get_by_role("navigation", name="Privacy center").get_by_role("link", name="Your data")
    ).to_be_visible()
    check_a11y(page)


def test_staff_see_the_queue(page: Any, browser_login: Any, check_a11y: Any, screenshot: Any) -> None:
    browser_login(page, "staff@example.com")
    response = page.goto("/admin/privacy/")
    assert response is not None and response.status == 200
    expect(page).to_have_url(re.compile(r"/admin/privacy/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("ご請求の一覧")  # "Request queue"
    check_a11y(page)
    screenshot(page, "staff-01-queue")


def test_a_user_who_is_not_staff_is_refused_the_queue(
    page: Any, browser_login: Any, check_a11y: Any, screenshot: Any
) -> None:
    browser_login(page, "alice@example.com")
    response = page.goto("/admin/privacy/")
    assert response is not None and response.status == 403
    check_a11y(page)
    screenshot(page, "staff-02-queue-refused-alice")


def test_a_visitor_is_sent_to_sign_in_from_the_queue(page: Any) -> None:
    page.goto("/admin/privacy/")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fadmin%2Fprivacy%2F$"))
