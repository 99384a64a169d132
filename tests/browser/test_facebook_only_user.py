"""carol signs in with Facebook only: withdrawing Facebook would lock her out, so it is refused,
with the reason and what to do instead, and her Facebook data stays (issue 3, point 7).

In Japanese (the harness default locale). The refusal's wording is being translated, so the
checks are on structure: the explanation is a note in the Facebook section, its links lead to
the password settings and to a deletion request, there is no withdraw form anywhere.
"""

from __future__ import annotations

import re
from typing import Any

try:
    from playwright.sync_api import expect
except ImportError:  # the harness's fixtures skip these tests then (fail them under CI=true)
    expect = None

CAROL = "carol@example.com"
CAROL_FACEBOOK_VALUES = ("Carol Tanaka", "Vancouver, British Columbia", "100000000000303")
WITHDRAW = "/account/privacy/sns/facebook/withdraw"


def sign_in_with_facebook(page: Any, email: str, check_a11y: Any) -> None:
    """The demo "Continue with Facebook" button: pick the account Facebook would return."""
    page.goto("/login")
    check_a11y(page)
    form = page.locator("form[action$='/login/facebook/demo']")
    # Not get_by_label: the picker's <label for="email"> points at the password form's email
    # field (both forms render id="email"), so the picker has no accessible name of its own.
    form.get_by_role("combobox").select_option(email)
    form.get_by_role("button", name="Facebookでログイン").click()
    expect(page).to_have_url(re.compile(r"/account$"))


def expect_refusal(scope: Any) -> None:
    """The explanation, and both ways out: add a password; close the account by a deletion request."""
    note = scope.get_by_role("note")
    expect(note).to_have_count(1)
    expect(note.get_by_role("heading")).to_contain_text("Facebook")
    expect(note.locator("a[href='/account#password']")).to_have_count(1)
    expect(note.locator("a[href$='/account/privacy/requests/new?kind=delete']")).to_have_count(1)


def test_carol_cannot_withdraw_her_only_sign_in_and_is_told_what_to_do(
    page: Any, check_a11y: Any, screenshot: Any
) -> None:
    sign_in_with_facebook(page, CAROL, check_a11y)
    # The account page: Facebook is her only way in, so it offers to set a password.
    expect(page.get_by_role("heading", name="パスワードの設定")).to_be_visible()
    page.get_by_role("link", name="SNS連携", exact=True).click()
    expect(page).to_have_url(re.compile(r"/account/privacy/sns$"))
    check_a11y(page)
    screenshot(page, "carol-01-sns-refused")

    facebook = page.get_by_role("region", name="Facebook", exact=True)
    for value in CAROL_FACEBOOK_VALUES:
        expect(facebook.get_by_role("cell", name=value, exact=True)).to_be_visible()
    expect(page.locator(f"a[href$='{WITHDRAW}']")).to_have_count(0)
    expect_refusal(facebook)

    # Reaching the withdraw page anyway (an old bookmark): the same refusal, no form to submit.
    response = page.goto(WITHDRAW)
    assert response is not None and response.status == 200
    expect_refusal(page.get_by_role("main"))
    expect(page.get_by_role("checkbox")).to_have_count(0)
    expect(page.locator(f"form[action$='{WITHDRAW}']")).to_have_count(0)
    check_a11y(page)
    screenshot(page, "carol-02-withdraw-page-refused")

    # A forged POST (valid CSRF token from the page) is refused too, and nothing is erased.
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    posted = page.request.post(WITHDRAW, form={"csrf_token": token, "confirm": "y"}, max_redirects=0)
    assert posted.status == 409, posted.status

    page.goto("/account/privacy/sns")
    facebook = page.get_by_role("region", name="Facebook", exact=True)
    for value in CAROL_FACEBOOK_VALUES:
        expect(facebook.get_by_role("cell", name=value, exact=True)).to_be_visible()
    expect(page.get_by_role("region", name=re.compile("withdrawals|取り消し|解除"))).to_have_count(0)
    page.goto("/account/privacy/data")
    facebook = page.get_by_role("region", name="Facebook", exact=True)
    for value in CAROL_FACEBOOK_VALUES:
        expect(facebook.get_by_role("cell", name=value, exact=True)).to_be_visible()
    check_a11y(page)

    # What to do instead, step one: the refusal's first link leads to setting a password.
    page.goto("/account/privacy/sns")
    page.get_by_role("note").locator("a[href='/account#password']").click()
    expect(page).to_have_url(re.compile(r"/account#password$"))
    expect(page.get_by_label("新しいパスワード", exact=True)).to_be_in_viewport()
    assert page.evaluate("window.scrollY") > 0, "the link opened the top of the page, not the password form"
    expect(page.get_by_label("新しいパスワード（確認）", exact=True)).to_be_visible()
    check_a11y(page)
    screenshot(page, "carol-03-account-set-password")
