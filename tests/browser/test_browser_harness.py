"""The browser harness: the live site answers, signing in works, pages pass the axe check."""

from __future__ import annotations


def test_a_visitor_can_read_the_public_purposes_page(page, check_a11y, screenshot):
    response = page.goto("/privacy/purposes")
    assert response is not None and response.status == 200
    screenshot(page, "public-purposes")
    check_a11y(page)


def test_the_sign_in_page_is_accessible(page, check_a11y):
    page.goto("/login")
    check_a11y(page)


def test_alice_signs_in_and_reaches_her_privacy_center(page, browser_login, screenshot):
    browser_login(page, "alice@example.com")
    response = page.goto("/account/privacy/")
    assert response is not None and response.status == 200
    screenshot(page, "privacy-center-alice")
