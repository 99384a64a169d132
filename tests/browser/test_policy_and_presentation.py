"""What a reader sees of issue 7's policy and presentation fixes, in a real browser.

- The footer's "Privacy policy" opens the policy itself, in Japanese and in English; a
  citation on the public page lands on the very paragraph it names, highlighted.
- The SNS withdrawal confirm page at desktop width: the red button keeps its label on one
  line, and Cancel sits beside it at the same height, its label centred.
- carol (Facebook is her only sign-in) is offered no "Unlink" she would be refused, and the
  refusal page's headings go h1 → h2.
"""

from __future__ import annotations

import re
from typing import Any

from .test_facebook_only_user import CAROL, WITHDRAW, sign_in_with_facebook

try:
    from playwright.sync_api import expect
except ImportError:  # the harness's fixtures skip these tests then (fail them under CI=true)
    expect = None


def heading_levels(page: Any) -> list[int]:
    return page.locator(".omep").first.evaluate(
        "el => [...el.querySelectorAll('h1,h2,h3,h4,h5,h6')].map(h => Number(h.tagName[1]))"
    )


def expect_no_skipped_heading_level(page: Any) -> None:
    levels = heading_levels(page)
    assert levels and levels[0] == 1, levels
    for before, after in zip(levels, levels[1:], strict=False):
        assert after <= before + 1, f"heading level jumps from h{before} to h{after}: {levels}"


def test_a_visitor_reads_the_policy_and_follows_a_citation_to_its_paragraph(
    page: Any, check_a11y: Any, screenshot: Any
) -> None:
    page.goto("/")
    page.get_by_role("contentinfo").get_by_role("link", name="プライバシーポリシー", exact=True).click()
    expect(page).to_have_url(re.compile(r"/privacy/policy$"))
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    expect(page.get_by_role("heading", level=1)).to_have_text("プライバシーポリシー")
    expect(page.get_by_role("heading", level=2, name="第4条（個人情報の開示等の請求）")).to_be_visible()
    expect(page.locator("#art-4-4")).to_contain_text("「個人情報開示請求書」によりお受けした個人情報")
    expect_no_skipped_heading_level(page)
    check_a11y(page)
    screenshot(page, "policy-01-ja")

    # The policy links to the summary; there, the request section cites Art. 4.3 on incomplete
    # requests, and the citation opens that paragraph of the policy, highlighted.
    page.get_by_role("link", name=re.compile("利用目的、ご請求の方法")).click()
    expect(page).to_have_url(re.compile(r"/privacy/purposes$"))
    note = page.locator("#incomplete-requests")
    expect(note).to_contain_text("ご請求を受け付けられないことがあります")
    note.get_by_role("link", name="第4条第3項").click()
    expect(page).to_have_url(re.compile(r"/privacy/policy#art-4-3$"))
    paragraph = page.locator("#art-4-3")
    expect(paragraph).to_be_in_viewport()
    expect(paragraph).to_contain_text("請求自体を受け付けられないことがあります")
    highlight = paragraph.evaluate("el => getComputedStyle(el).backgroundColor")
    assert highlight not in ("rgba(0, 0, 0, 0)", "transparent"), highlight  # the :target highlight
    screenshot(page, "policy-02-ja-art-4-3")

    # In English: the policy as published.
    page.goto("/privacy/policy")
    page.get_by_role("navigation").locator("form.lang-switch").get_by_role(
        "button", name="English", exact=True
    ).click()
    expect(page).to_have_url(re.compile(r"/privacy/policy$"))
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", level=1)).to_have_text("Privacy Policy")
    expect(page.locator("#art-4-4")).to_contain_text(
        'Personal information received via the "Personal Information Disclosure Request Form" will be used '
        "for inquiry responses and not for any other purposes."
    )
    expect(page.get_by_role("navigation", name="Articles").get_by_role("link")).to_have_count(5)
    expect_no_skipped_heading_level(page)
    check_a11y(page)
    screenshot(page, "policy-03-en")


def test_the_withdrawal_confirm_buttons_sit_side_by_side_at_desktop_width(
    page: Any, browser_login: Any, check_a11y: Any, screenshot: Any
) -> None:
    browser_login(page, "alice@example.com")
    page.goto("/account/privacy/sns/facebook/withdraw")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Facebookの連携を解除し、提供された情報を消去する"
    )
    confirm = page.get_by_role("button", name="Facebookとの連携を解除して消去する")
    cancel = page.locator("form.omep-confirm").get_by_role("link", name="キャンセル")
    confirm_box, cancel_box = confirm.bounding_box(), cancel.bounding_box()
    line_height = confirm.evaluate("el => parseFloat(getComputedStyle(el).lineHeight)")
    padding = confirm.evaluate(
        "el => parseFloat(getComputedStyle(el).paddingTop) + parseFloat(getComputedStyle(el).paddingBottom)"
    )
    # One line of label: the button is no taller than one line plus its padding (and border).
    assert confirm_box["height"] <= line_height + padding + 4, (confirm_box, line_height, padding)
    # Cancel beside it, as tall, not stretched wider than its label needs.
    assert abs(cancel_box["y"] - confirm_box["y"]) <= 2 and cancel_box["x"] > confirm_box["x"]
    assert abs(cancel_box["height"] - confirm_box["height"]) <= 2, (cancel_box, confirm_box)
    assert cancel_box["width"] < 200, cancel_box
    # Cancel's label is centred in it, not in a corner.
    label = cancel.evaluate(
        """el => { const r = document.createRange(); r.selectNodeContents(el);
                   const t = r.getBoundingClientRect(), b = el.getBoundingClientRect();
                   return {dx: (t.left + t.right) / 2 - (b.left + b.right) / 2,
                           dy: (t.top + t.bottom) / 2 - (b.top + b.bottom) / 2}; }"""
    )
    assert abs(label["dx"]) <= 3 and abs(label["dy"]) <= 3, label
    check_a11y(page)
    screenshot(page, "sns-confirm-desktop-ja")


def test_carol_is_offered_no_unlink_she_would_be_refused(page: Any, check_a11y: Any, screenshot: Any) -> None:
    sign_in_with_facebook(page, CAROL, check_a11y)
    page.goto("/account/privacy/data")
    facebook = page.locator("#omep-source-facebook")
    expect(facebook.get_by_role("link", name=re.compile("連携を解除してこの情報を消去"))).to_have_count(0)
    why = facebook.get_by_role("link", name="Facebookの連携をまだここで解除できない理由")
    expect(why).to_be_visible()
    why.click()
    expect(page).to_have_url(re.compile(r"/account/privacy/sns#omep-refusal-facebook$"))
    expect(page.locator("#omep-refusal-facebook")).to_be_in_viewport()

    # The refusal page (an old bookmark): under the h1, the reason is an h2.
    page.goto(WITHDRAW)
    expect(
        page.get_by_role("heading", level=2, name="Facebookの連携をまだここで解除できない理由")
    ).to_be_visible()
    expect_no_skipped_heading_level(page)
    check_a11y(page)
    screenshot(page, "carol-03-refusal-headings")
