"""The privacy center on a phone (390 × 844, an iPhone 12–15 sized screen), in Japanese: the
whole page never scrolls sideways, the pages pass axe, and a screenshot of each is kept."""

from __future__ import annotations

import re
from typing import Any

import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # the harness's fixtures skip these tests then (fail them under CI=true)
    expect = None

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def browser_context_args() -> dict[str, Any]:
    return {
        "locale": "ja-JP",
        "timezone_id": "Asia/Tokyo",
        "viewport": PHONE,
        "device_scale_factor": 2,
        "is_mobile": True,
        "has_touch": True,
    }


OVERFLOW_JS = """() => {
    const width = window.innerWidth;
    const wide = [];
    for (const el of document.querySelectorAll('body *')) {
        const r = el.getBoundingClientRect();
        if (r.width > 0 && r.right > width + 1) {
            const cls = typeof el.className === 'string' && el.className.trim()
                ? '.' + el.className.trim().split(/\\s+/).join('.') : '';
            const id = el.id ? '#' + el.id : '';
            wide.push(`${el.tagName.toLowerCase()}${id}${cls} right=${Math.round(r.right)}`);
        }
    }
    const scrollWidth = document.documentElement.scrollWidth;
    return {scrollWidth: scrollWidth, innerWidth: width, wide: wide.slice(0, 8)};
}"""


def horizontal_overflow(page: Any) -> dict[str, Any]:
    """The document's width against the window's, and the first elements sticking out."""
    return page.evaluate(OVERFLOW_JS)


@pytest.mark.parametrize(
    ("user", "path", "name"),
    [
        ("alice@example.com", "/account/privacy/data", "phone-alice-data"),
        ("alice@example.com", "/account/privacy/sns", "phone-alice-sns"),
        ("alice@example.com", "/account/privacy/sns/facebook/withdraw", "phone-alice-sns-confirm"),
        ("alice@example.com", "/account/privacy/purposes", "phone-alice-purposes"),
        ("carol@example.com", "/account/privacy/sns", "phone-carol-sns"),
    ],
)
def test_privacy_pages_fit_a_phone(
    page: Any, browser_login: Any, check_a11y: Any, screenshot: Any, user: str, path: str, name: str
) -> None:
    if user == "carol@example.com":  # Facebook-only: the demo button, by its form
        page.goto("/login")
        form = page.locator("form[action$='/login/facebook/demo']")
        form.get_by_role("combobox").select_option(user)
        form.get_by_role("button").click()
        expect(page).to_have_url(re.compile(r"/account$"))
    else:
        browser_login(page, user)
    response = page.goto(path)
    assert response is not None and response.status == 200
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    screenshot(page, name)
    check_a11y(page)
    size = horizontal_overflow(page)
    assert size["scrollWidth"] <= size["innerWidth"] + 1, (
        f"{path} scrolls sideways on a {PHONE['width']} px phone: {size}"
    )
