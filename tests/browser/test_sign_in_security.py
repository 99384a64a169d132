"""Signing in, as a person meets it, after the security probe (issue 7, items 2-4, 13, 17).

In Japanese (the harness default). The live site is the demo (``WORLD_OME_DEMO`` on, as
``make demo`` serves it); settings the package and the site read on every request
(``OME_PRIVACY_REAUTH_SECONDS``, the sign-in limits) are lowered on the live app so a test
does not wait ten minutes.
"""

from __future__ import annotations

import re
from typing import Any

try:
    from playwright.sync_api import expect
except ImportError:  # the harness's fixtures skip these tests then (fail them under CI=true)
    expect = None

ALICE = "alice@example.com"
STAFF = "staff@example.com"
SNS = "/account/privacy/sns"
WITHDRAW = "/account/privacy/sns/facebook/withdraw"
SIGN_IN_AGAIN = "安全のため、続けるにはもう一度ログインしてください。"


def password_form(page: Any) -> Any:
    return page.locator("form:has(input[name=password])")


def sign_in_here(page: Any, email: str, password: str = "demo-password") -> None:
    """Fill in the sign-in form on the page as it is (keeping its ``next``)."""
    form = password_form(page)
    form.locator("input[name=email]").fill(email)
    form.locator("input[name=password]").fill(password)
    form.locator("[type=submit]").click()
    page.wait_for_load_state()


def test_withdrawing_long_after_signing_in_lands_on_a_sign_in_page_that_says_why(
    page: Any, live_server: Any, browser_login: Any, check_a11y: Any, screenshot: Any
) -> None:
    browser_login(page, ALICE)
    live_server.app.config["OME_PRIVACY_REAUTH_SECONDS"] = 1
    page.wait_for_timeout(2_500)  # "more than REAUTH_SECONDS after signing in"

    page.goto(SNS)
    page.locator(f"a[href$='{WITHDRAW}']").first.click()
    expect(page).to_have_url(re.compile(r"/login\?next="))
    reason = page.get_by_role("alert").filter(has_text=SIGN_IN_AGAIN)
    expect(reason).to_be_visible()
    expect(page.locator("#already-signed-in")).to_contain_text("ログイン中です")
    check_a11y(page)
    screenshot(page, "reauth-01-sign-in-again-says-why")

    live_server.app.config["OME_PRIVACY_REAUTH_SECONDS"] = 600
    sign_in_here(page, ALICE)
    expect(page).to_have_url(re.compile(re.escape(WITHDRAW) + "$"))  # back where she was going
    expect(page.get_by_role("checkbox")).to_have_count(1)


def test_too_many_wrong_passwords_are_refused_with_a_clear_message(
    page: Any, live_server: Any, check_a11y: Any, screenshot: Any
) -> None:
    live_server.app.config["SIGN_IN_LIMIT_PER_ACCOUNT"] = "2 per 15 minutes"
    page.goto("/login")
    for _ in range(2):
        sign_in_here(page, ALICE, "wrong-password")
        expect(page.get_by_role("alert")).to_contain_text("正しくありません")
    sign_in_here(page, ALICE, "demo-password")  # the right one, too late
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("ログインの試行が多すぎます。")
    expect(alert).to_contain_text("15分待ってから")
    expect(password_form(page).locator("input[name=email]")).to_have_value(ALICE)  # kept
    expect(alert).not_to_contain_text("Facebookで登録された方")
    expect(page.get_by_role("link", name="アカウント設定", exact=True)).to_have_count(0)  # not signed in
    check_a11y(page)
    screenshot(page, "rate-limit-01-too-many-attempts")


def test_a_signed_out_visitor_is_asked_to_sign_in_and_then_continues(
    page: Any, check_a11y: Any, screenshot: Any
) -> None:
    page.goto("/account/privacy/data")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    expect(page.get_by_text("続行するにはログインしてください。")).to_be_visible()
    check_a11y(page)
    screenshot(page, "sign-in-01-please-sign-in-to-continue")
    sign_in_here(page, ALICE)
    expect(page).to_have_url(re.compile(r"/account/privacy/data$"))


def test_the_demo_sign_in_says_it_is_a_demo(page: Any, check_a11y: Any) -> None:
    page.goto("/login")
    demo = page.get_by_role("region", name=re.compile("デモ専用"))
    expect(demo).to_be_visible()
    expect(demo).to_contain_text("Facebookには接続しません")
    expect(demo.get_by_role("button", name="Facebookでログイン")).to_be_visible()
    check_a11y(page)


def test_staff_land_on_the_request_queue_and_find_it_from_every_page(
    page: Any, check_a11y: Any, screenshot: Any
) -> None:
    page.goto("/login")
    sign_in_here(page, STAFF)
    expect(page).to_have_url(re.compile(r"/admin/privacy/$"))
    page.goto("/account")
    queue_links = page.get_by_role("link", name="ご請求の一覧（個人情報窓口）")
    expect(queue_links).to_have_count(2)  # in the header and on the account page
    check_a11y(page)
    screenshot(page, "staff-01-account-with-queue-link")
    queue_links.first.click()
    expect(page).to_have_url(re.compile(r"/admin/privacy/$"))


def test_signing_out_ends_a_copied_session_in_another_browser(
    page: Any, browser: Any, live_server: Any, browser_login: Any, browser_context_args: Any
) -> None:
    browser_login(page, ALICE)
    other = browser.new_context(base_url=live_server.url, **browser_context_args)
    try:
        other.add_cookies(page.context.cookies())
        copied = other.new_page()
        copied.goto("/account")
        expect(copied).to_have_url(re.compile(r"/account$"))  # the copy works while she is signed in

        page.get_by_role("button", name="ログアウト").click()
        expect(page.get_by_text("ログアウトしました。")).to_be_visible()

        copied.goto("/account")
        expect(copied).to_have_url(re.compile(r"/login\?next="))
    finally:
        other.close()
