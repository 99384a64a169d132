"""Staff register a request that came by post and find it on the queue, in Japanese and English,
without JavaScript tricks: the account search is a GET form, the registration a POST (issue 9)."""

from __future__ import annotations

import io
import re
from datetime import date, timedelta
from typing import Any

from PIL import Image

try:
    from playwright.sync_api import expect
except ImportError:  # the harness's fixtures skip these tests then (fail them under CI=true)
    expect = None


def scan_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (120, 80), "white").save(buffer, "PNG")
    return buffer.getvalue()


def switch_language(page: Any, name: str) -> None:
    page.get_by_role("navigation").locator("form.lang-switch").get_by_role(
        "button", name=name, exact=True
    ).click()
    page.wait_for_load_state()


def test_staff_register_a_mailed_request_and_find_it_on_the_queue(
    page: Any, browser_login: Any, check_a11y: Any, screenshot: Any
) -> None:
    browser_login(page, "staff@example.com")
    page.goto("/admin/privacy/")
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    page.get_by_role("link", name="郵送の請求を登録").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("郵送の請求を登録")
    check_a11y(page)

    # Find bob's account by part of his email (a GET form).
    page.get_by_label("メールアドレスまたはユーザーID").fill("bob@")
    page.get_by_role("button", name="アカウントを検索").click()
    expect(page.get_by_label(re.compile(r"bob@example\.com"))).to_be_checked()

    # A first try without the receipt date and the originals: refused, nothing typed is lost.
    page.get_by_label("請求の種類", exact=True).select_option("disclose")
    page.get_by_label("差出人", exact=True).select_option("self")
    page.get_by_label("請求の内容（範囲・項目・理由）").fill("保有個人データの開示")
    page.get_by_role("button", name="請求を登録").click()
    expect(page.get_by_role("alert")).to_contain_text("請求は登録されていません")
    expect(page.get_by_text("郵便の到着日を入力してください")).to_be_visible()
    expect(page.get_by_label("請求の内容（範囲・項目・理由）")).to_have_value("保有個人データの開示")
    check_a11y(page)
    screenshot(page, "staff-queue-01-register-errors-ja")

    received = date.today() - timedelta(days=3)
    page.get_by_label("郵便の到着日").fill(received.isoformat())
    page.get_by_label("証明する内容").first.select_option("person_identity")
    page.get_by_label("書類の種類").first.select_option("drivers_licence")
    page.get_by_label("スキャンしたファイル（JPEG・PNG・PDF）").first.set_input_files(
        files=[{"name": "licence.png", "mimeType": "image/png", "buffer": scan_png()}]
    )
    page.get_by_label("スキャン後に廃棄した").check()
    page.get_by_role("button", name="請求を登録").click()

    # Back on the queue, narrowed to the new reference.
    expect(page).to_have_url(re.compile(r"/admin/privacy/\?ref=PR-"))
    expect(page.get_by_text(re.compile(r"郵送の請求を受付番号PR-[A-Z0-9-]+で登録しました"))).to_be_visible()
    row = page.locator("table.omep-queue tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("郵送")
    expect(row).to_contain_text("未受領")
    expect(row).to_contain_text("担当者なし")
    check_a11y(page)
    screenshot(page, "staff-queue-02-registered-ja")

    # Claim it from the queue.
    row.get_by_role("button", name=re.compile("担当する")).click()
    expect(page.get_by_text(re.compile(r"請求PR-[A-Z0-9-]+の担当になりました"))).to_be_visible()
    expect(page.locator("table.omep-queue tbody tr")).to_contain_text("自分")

    # The same queue in English.
    switch_language(page, "English")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.goto("/admin/privacy/?mine=1")
    row = page.locator("table.omep-queue tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Postal")
    expect(row).to_contain_text("You")
    expect(page.get_by_role("heading", level=2, name="Open requests by status")).to_be_visible()
    check_a11y(page)
    screenshot(page, "staff-queue-03-mine-en")
    page.goto("/admin/privacy/register-mailed")
    expect(page.get_by_role("heading", level=1)).to_have_text("Register a mailed request")
    check_a11y(page)
