"""The request wizard in a real browser (issue 8): four people file requests, every step is
checked with axe, in Japanese and English, without any JavaScript of ours.
"""

from __future__ import annotations

import io
import re
from datetime import date, timedelta
from typing import Any

import pytest
from PIL import Image

from flask_ome_privacy.documents.rules import add_months

try:
    from playwright.sync_api import expect
except ImportError:  # the harness's fixtures skip these tests then (fail them under CI=true)
    expect = None

NEW = "/account/privacy/requests/new"
REFERENCE = re.compile(r"PR-[A-Z0-9]{4}-[A-Z0-9]{4}")


def png() -> dict[str, Any]:
    out = io.BytesIO()
    Image.new("RGB", (60, 40), (20, 120, 200)).save(out, "PNG")
    return {"name": "card.png", "mimeType": "image/png", "buffer": out.getvalue()}


def continue_(page: Any) -> None:
    page.locator("button[name=action][value=continue]").click()
    page.wait_for_load_state()


def expect_step(page: Any, step: str, check_a11y: Any) -> None:
    expect(page).to_have_url(re.compile(rf"/{step}$"))
    check_a11y(page)


def upload_identity(page: Any, doc_type: str = "drivers_licence", role: str = "person_identity") -> None:
    page.locator(f"select[name='doc_type-{role}']").select_option(doc_type)
    page.locator(f"input[name='file-{role}']").set_input_files(png())
    page.locator(f"button[value='upload:{role}']").click()
    page.wait_for_load_state()
    expect(page.locator(".omep-uploads li")).to_have_count(1)


def submit(page: Any, check_a11y: Any) -> str:
    expect_step(page, "check", check_a11y)
    page.locator("button[name=action][value=submit]").click()
    expect(page).to_have_url(re.compile(r"/requests/submitted/PR-"))
    check_a11y(page)
    return REFERENCE.search(page.url).group(0)


@pytest.mark.parametrize("locale", ["ja-JP", "en-US"])
def test_alice_files_a_disclosure_request_electronically_and_sees_the_fee_instructions(
    page: Any,
    browser: Any,
    live_server: Any,
    browser_login: Any,
    check_a11y: Any,
    screenshot: Any,
    locale: str,
) -> None:
    page.context.close()
    context = browser.new_context(base_url=live_server.url, locale=locale, timezone_id="Asia/Tokyo")
    page = context.new_page()
    browser_login(page, "alice@example.com")
    page.goto(NEW + "?kind=disclose")
    check_a11y(page)
    expect(page.locator("#kind-disclose")).to_be_checked()
    continue_(page)
    expect_step(page, "data", check_a11y)
    continue_(page)  # no method chosen: said on the same page
    expect(page.locator(".omep-error-summary")).to_be_visible()
    check_a11y(page)
    page.locator("#method-electronic").check()
    continue_(page)
    expect_step(page, "who", check_a11y)
    page.locator("#requester-self").check()
    continue_(page)
    expect_step(page, "documents", check_a11y)
    upload_identity(page)
    check_a11y(page)
    continue_(page)
    expect_step(page, "fee", check_a11y)
    expect(page.locator("main, body").first).to_contain_text("1,000")
    expect(page.locator(".omep-reference")).to_have_count(1)
    screenshot(page, f"wizard-fee-{locale}")
    continue_(page)
    reference = submit(page, check_a11y)
    expect(page.locator(".omep-reference").first).to_have_text(reference)
    context.close()


def test_bobs_representative_is_told_the_seal_certificate_is_too_old_fixes_it_and_submits(
    page: Any, browser_login: Any, check_a11y: Any, screenshot: Any
) -> None:
    browser_login(page, "bob@example.com")
    page.goto(NEW + "?kind=delete")
    continue_(page)
    expect_step(page, "data", check_a11y)
    continue_(page)
    expect_step(page, "who", check_a11y)
    page.locator("#requester-appointed_representative").check()
    page.locator("#f-rep_name").fill("佐藤 健二")
    page.locator("#f-rep_relationship").fill("弁護士")
    page.locator("#f-rep_address").fill("東京都千代田区1-1")
    page.locator("#f-rep_email").fill("kenji@example.com")
    continue_(page)
    expect_step(page, "documents", check_a11y)
    page.locator("#f-seal_issued_on").fill(add_months(date.today(), -4).isoformat())
    continue_(page)
    expect(page).to_have_url(re.compile(r"/documents$"))
    summary = page.locator(".omep-error-summary")
    expect(summary).to_contain_text("3か月")
    expect(summary).to_be_visible()
    check_a11y(page)
    screenshot(page, "wizard-seal-too-old")
    page.locator("#f-seal_issued_on").fill((date.today() - timedelta(days=7)).isoformat())
    continue_(page)
    reference = submit(page, check_a11y)
    assert reference


def test_a_correction_opened_from_the_data_page_arrives_with_the_source_and_field_filled_in(
    page: Any, browser_login: Any, check_a11y: Any
) -> None:
    browser_login(page, "alice@example.com")
    page.goto("/account/privacy/data")
    check_a11y(page)
    # The phone number's own "Ask to correct" link (its accessible name says which value).
    phone = "/requests/new?kind=correct&source=profile&field=phone"
    link = page.locator(f"#omep-source-profile a[href$='{phone}']")
    expect(link).to_have_count(1)
    link.click()
    expect(page.locator("#kind-correct")).to_be_checked()
    continue_(page)
    expect_step(page, "data", check_a11y)
    first = page.locator("fieldset.omep-fieldset--inner").first
    expect(first.locator("input[value='profile:email']")).to_have_count(1)
    expect(page.locator("#field-profile-phone")).to_be_checked()
    expect(page.locator("#field-profile-email")).not_to_be_checked()
    page.locator("#f-value-profile-phone").fill("090-0000-1111")
    continue_(page)
    expect_step(page, "who", check_a11y)


def test_carol_files_a_deletion_request_from_the_sns_refusal(page: Any, check_a11y: Any) -> None:
    from .test_facebook_only_user import sign_in_with_facebook

    sign_in_with_facebook(page, "carol@example.com", check_a11y)
    page.goto("/account/privacy/sns")
    page.locator("a[href$='/account/privacy/requests/new?kind=delete']").first.click()
    expect(page.locator("#kind-delete")).to_be_checked()
    check_a11y(page)
    continue_(page)
    continue_(page)
    page.locator("#requester-self").check()
    continue_(page)
    upload_identity(page, "passport")
    # A passport of unknown date may have no address: the checklist asks for a second document.
    expect(page.locator("#doc-person_address")).to_have_count(1)
    continue_(page)
    assert submit(page, check_a11y)
