"""alice walks her privacy center in a real browser, as a person would (issue 3).

Sign in → account settings → Privacy → overview → "Your data" → export (JSON and CSV
downloads) → purposes (agree to the consent ask) → SNS connections (withdraw Facebook) →
receipt → the data page and a new export without Facebook → notifications (mark read).

The browser asks for English (``locale="en-US"``), so the wording asserted here is the
English source text; data values (names, survey answers, recipients) are the seeded ones and
stay Japanese. Every page visited goes through axe (``check_a11y``), and each main step
leaves a screenshot in test-artifacts/screenshots/.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # the harness's fixtures skip these tests then (fail them under CI=true)
    expect = None

ALICE = "alice@example.com"
CONSENT_PURPOSE = "Sending a newsletter about career events and seminars"
SURVEY_2024 = "2024年度 従業員エンゲージメント調査"
SURVEY_2025 = "2025年 上期 職場環境アンケート"
FACEBOOK_VALUES = ("Hanako Yamada", "hanako.yamada@facebook.example", "100000000000101", "札幌市, 北海道")
# Values that belong to other demo users (bob, carol, staff): never in alice's pages or files.
OTHER_USERS_VALUES = (
    "bob@example.com",
    "鈴木 一郎",
    "鈴木設計事務所",
    "展示会のご案内",
    "carol@example.com",
    "Carol Tanaka",
    "田中 キャロル",
    "Vancouver",
    "100000000000303",
    "staff@example.com",
    "佐々木 恵",
)


@pytest.fixture
def browser_context_args() -> dict[str, Any]:
    return {"locale": "en-US", "timezone_id": "Asia/Tokyo", "viewport": {"width": 1280, "height": 900}}


# --- helpers ---------------------------------------------------------------------------------


def sign_in_as_alice(page: Any, check_a11y: Any) -> None:
    """Through the sign-in form, by its labels; the site lands on account settings."""
    page.goto("/login")
    check_a11y(page)
    page.get_by_label("Email address", exact=True).fill(ALICE)
    page.get_by_label("Password", exact=True).fill("demo-password")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page).to_have_url(re.compile(r"/account$"))


def open_privacy_tab(page: Any, name: str, url_pattern: str) -> None:
    """Follow a tab of the privacy center's own navigation."""
    nav = page.get_by_role("navigation", name="Privacy center")
    nav.get_by_role("link", name=name, exact=True).click()
    expect(page).to_have_url(re.compile(url_pattern))
    expect(nav.get_by_role("link", name=name, exact=True)).to_have_attribute("aria-current", "page")


def source_section(page: Any, label: str) -> Any:
    """A source's section on the data page (a region named by its heading)."""
    return page.get_by_role("region", name=label, exact=True)


def download(page: Any, link: Any, tmp_path: Path) -> tuple[str, Path]:
    with page.expect_download() as info:
        link.click()
    dl = info.value
    assert dl.failure() is None, dl.failure()
    target = tmp_path / dl.suggested_filename
    dl.save_as(target)
    return dl.suggested_filename, target


def export_json(page: Any, tmp_path: Path) -> dict[str, Any]:
    """Go to the export page, download the JSON file, parse it."""
    page.goto("/account/privacy/data/export")
    name, path = download(page, page.get_by_role("link", name="Download JSON", exact=True), tmp_path)
    assert name.endswith(".json"), name
    text = path.read_text(encoding="utf-8")
    for value in OTHER_USERS_VALUES:
        assert value not in text, f"another user's data ({value!r}) in alice's export"
    return json.loads(text)


def records_of(document: dict[str, Any], key: str) -> list[dict[str, Any]]:
    (source,) = [s for s in document["sources"] if s["key"] == key]
    assert source["record_count"] == len(source["records"])
    return source["records"]


def assert_no_other_users_on(page: Any) -> None:
    text = page.locator("body").inner_text()
    for value in OTHER_USERS_VALUES:
        assert value not in text, f"another user's data ({value!r}) on {page.url}"


# --- the flows -------------------------------------------------------------------------------


def test_alice_sees_what_is_held_about_her_and_downloads_it(
    page: Any, check_a11y: Any, screenshot: Any, tmp_path: Path
) -> None:
    sign_in_as_alice(page, check_a11y)
    check_a11y(page)
    screenshot(page, "alice-01-account-settings")

    # Account settings → Privacy → the privacy center.
    # (The account page's cards are plain <section>s without a name, so not regions.)
    privacy = page.locator("section").filter(has=page.get_by_role("heading", name="Privacy", exact=True))
    privacy.get_by_role("link", name="Privacy center", exact=True).click()
    expect(page).to_have_url(re.compile(r"/account/privacy/$"))
    expect(page).to_have_title(re.compile("Your privacy"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Your privacy")
    check_a11y(page)
    screenshot(page, "alice-02-overview")

    # Her three sources, each with a count of what is held.
    sources = page.get_by_role("region", name="Where your data comes from")
    for label, count in (
        ("Profile and account", 9),
        ("Facebook", 8),
        ("Organisational improvement surveys", 14),
    ):
        card = sources.get_by_role("listitem").filter(has=page.get_by_role("heading", name=label, exact=True))
        expect(card).to_contain_text(f"{count} items held")
    # The pending consent ask, linking to where it is answered.
    asks = page.get_by_role("region", name=re.compile("request for your consent"))
    expect(asks.get_by_role("link", name=CONSENT_PURPOSE)).to_have_attribute(
        "href", re.compile(r"/account/privacy/purposes#consent-")
    )

    # "Your data": every source with its values, purposes, required items and provisions.
    open_privacy_tab(page, "Your data", r"/account/privacy/data$")
    check_a11y(page)
    screenshot(page, "alice-03-data")
    assert_no_other_users_on(page)

    profile = source_section(page, "Profile and account")
    items = profile.get_by_role("table", name="Items from Profile and account")
    expect(items.get_by_role("row", name=re.compile(r"^Email address Required"))).to_contain_text(ALICE)
    expect(items.get_by_role("row", name=re.compile(r"^Name Required"))).to_contain_text("山田 花子")
    expect(items.get_by_role("row", name=re.compile(r"^Phone number"))).to_contain_text("090-1234-5678")
    expect(items.get_by_role("row", name=re.compile(r"^Phone number"))).not_to_contain_text("Required")
    expect(profile).to_contain_text("Required for the service")
    expect(profile.get_by_role("listitem").filter(has_text=re.compile("Mailer KK"))).to_have_count(1)

    facebook = source_section(page, "Facebook")
    for value in FACEBOOK_VALUES:
        expect(facebook.get_by_role("cell", name=value, exact=True)).to_be_visible()
    expect(facebook.get_by_role("link", name="Unlink Facebook and erase this")).to_have_attribute(
        "href", re.compile(r"/account/privacy/sns$")
    )

    surveys = source_section(page, "Organisational improvement surveys")
    # Answers grouped by survey: one table per survey, captioned with its name.
    first = surveys.get_by_role("table", name=SURVEY_2024, exact=True)
    second = surveys.get_by_role("table", name=SURVEY_2025, exact=True)
    expect(first.get_by_role("row", name=re.compile("仕事にやりがいを感じている"))).to_contain_text(
        "ややそう思う"
    )
    expect(first).to_contain_text("会議の時間を短くしてほしい")
    expect(second.get_by_role("row", name=re.compile("自由記述"))).to_contain_text(
        "フレックス制度の対象を広げてほしい"
    )
    expect(first).not_to_contain_text("フレックス制度")
    # The category's purposes, and whether it goes to client companies.
    uses = surveys.get_by_role("definition").nth(1)  # "What we use it for"
    expect(uses.get_by_role("listitem")).to_have_text(
        [
            "Providing organisational improvement services to companies",
            "Creating anonymised industry benchmarks from organisational survey results",
        ]
    )
    expect(surveys.get_by_role("definition").nth(2)).to_contain_text("Yes")  # provided to clients
    expect(facebook.get_by_role("definition").nth(2)).to_contain_text("No")

    provisions = page.get_by_role("region", name="Provided to third parties")
    log = provisions.get_by_role("table")
    expect(log.get_by_role("row")).to_have_count(3)  # header + 2 provisions
    expect(log.get_by_role("rowheader", name="株式会社クライアントA")).to_be_visible()
    expect(log.get_by_role("row", name=re.compile("株式会社クライアントB"))).to_contain_text(
        "組織改善コンサルティング"
    )

    # Export: the JSON file, parsed, and one CSV.
    page.get_by_role("link", name=re.compile("Download all your data")).click()
    expect(page).to_have_url(re.compile(r"/account/privacy/data/export$"))
    check_a11y(page)
    screenshot(page, "alice-04-export")

    document = export_json(page, tmp_path)
    assert document["schema"] == "flask-ome-privacy/export"
    assert document["version"] == 1
    assert {s["key"] for s in document["sources"]} == {"profile", "facebook", "org_survey"}
    profile_records = {r["field"]: r for r in records_of(document, "profile")}
    assert profile_records["email"]["value"] == ALICE and profile_records["email"]["required"] is True
    facebook_values = {r["value"] for r in records_of(document, "facebook")}
    assert set(FACEBOOK_VALUES) <= facebook_values
    survey_records = records_of(document, "org_survey")
    by_group: dict[str, list[str]] = {}
    for record in survey_records:
        by_group.setdefault(record["group"], []).append(f"{record['label']}: {record['value']}")
    assert "職場で改善してほしいこと: 会議の時間を短くしてほしい" in by_group[SURVEY_2024]
    assert "自由記述: フレックス制度の対象を広げてほしい" in by_group[SURVEY_2025]
    assert {p["recipient"] for p in document["provisions"]} == {
        "株式会社クライアントA",
        "株式会社クライアントB",
    }

    csv_link = page.get_by_role("link", name="Organisational improvement surveys (CSV)")
    name, path = download(page, csv_link, tmp_path)
    assert name.endswith(".csv"), name
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), (
        "CSV without a UTF-8 byte-order mark (Excel reads it as Shift_JIS)"
    )
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows and set(rows[0]) >= {"group", "field", "label", "value", "obtained_at", "required"}
    answer = next(r for r in rows if "フレックス制度の対象を広げてほしい" in r["value"])
    assert answer["group"] == SURVEY_2025 and answer["field"] == "answer"
    text = raw.decode("utf-8-sig")
    assert "Hanako Yamada" not in text  # only the survey source
    for value in OTHER_USERS_VALUES:
        assert value not in text


def test_alice_agrees_to_the_consent_ask(page: Any, check_a11y: Any, screenshot: Any) -> None:
    sign_in_as_alice(page, check_a11y)
    page.goto("/account/privacy/")
    page.get_by_role("link", name="Answer now").click()
    expect(page).to_have_url(re.compile(r"/account/privacy/purposes#consent-asks$"))
    check_a11y(page)
    screenshot(page, "alice-05-purposes-ask")

    asks = page.get_by_role("region", name=re.compile("asking for your consent"))
    ask = asks.get_by_role("listitem").filter(has=page.get_by_role("heading", name=CONSENT_PURPOSE))
    expect(ask).to_have_count(1)
    # The Art. 2.1 table is there too, one row per category.
    table = page.get_by_role("region", name="Purposes of use by category").get_by_role("table")
    expect(table.get_by_role("rowheader")).to_have_count(3)
    expect(table.get_by_role("link", name=re.compile("needs your consent"))).to_have_count(1)

    ask.get_by_role("button", name="Agree", exact=True).click()
    expect(page).to_have_url(re.compile(r"/account/privacy/purposes"))
    expect(page.get_by_role("region", name=re.compile("asking for your consent"))).to_have_count(0)
    decisions = page.get_by_role("region", name="Your consent decisions").get_by_role("table")
    row = decisions.get_by_role("row", name=re.compile(CONSENT_PURPOSE))
    expect(row).to_contain_text("You agreed")
    expect(row.get_by_role("button", name="Withdraw my consent")).to_be_visible()
    expect(table.get_by_text("with your consent", exact=True)).to_be_visible()
    check_a11y(page)
    screenshot(page, "alice-06-purposes-agreed")

    # The overview no longer asks.
    open_privacy_tab(page, "Overview", r"/account/privacy/$")
    expect(page.get_by_role("region", name=re.compile("request for your consent"))).to_have_count(0)


def test_alice_withdraws_facebook_and_it_is_gone_everywhere(
    page: Any, check_a11y: Any, screenshot: Any, tmp_path: Path
) -> None:
    sign_in_as_alice(page, check_a11y)
    page.goto("/account/privacy/")
    open_privacy_tab(page, "SNS connections", r"/account/privacy/sns$")
    check_a11y(page)
    screenshot(page, "alice-07-sns")

    facebook = page.get_by_role("region", name="Facebook", exact=True)
    expect(facebook.get_by_text("Linked", exact=True)).to_be_visible()
    expect(facebook.get_by_role("cell", name="Hanako Yamada", exact=True)).to_be_visible()
    facebook.get_by_role("link", name=re.compile("^Unlink Facebook and erase this data")).click()

    # The confirm page: what will be erased, and a box to tick.
    expect(page).to_have_url(re.compile(r"/account/privacy/sns/facebook/withdraw$"))
    expect(page.get_by_role("table", name="What will be erased")).to_contain_text(
        "hanako.yamada@facebook.example"
    )
    check_a11y(page)
    screenshot(page, "alice-08-sns-confirm")
    submit = page.get_by_role("button", name="Unlink Facebook and erase this data", exact=True)

    # Without the tick, nothing happens and the page says why.
    submit.click()
    expect(page.get_by_text("Please tick the box to confirm.")).to_be_visible()
    confirm = page.get_by_label(re.compile("cannot be undone"))
    expect(confirm).to_have_attribute("aria-invalid", "true")
    check_a11y(page)
    screenshot(page, "alice-09-sns-confirm-untick")

    confirm.check()
    submit.click()

    # The receipt: what was erased (names and counts, not the values).
    expect(page).to_have_url(re.compile(r"/account/privacy/sns/withdrawals/[^/]+$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Withdrawal receipt")
    expect(page.get_by_role("status")).to_contain_text("Facebook was unlinked")
    erased = page.get_by_role("table", name="What was erased")
    expect(erased.get_by_role("rowheader", name="Name on Facebook", exact=True)).to_be_visible()
    expect(erased.get_by_role("rowheader", name="Email address on Facebook", exact=True)).to_be_visible()
    expect(erased.get_by_role("rowheader")).to_have_count(8)
    assert "Hanako Yamada" not in page.locator("main").inner_text()
    receipt_url = page.url
    check_a11y(page)
    screenshot(page, "alice-10-sns-receipt")

    # The SNS page: not linked any more, the receipt listed, no withdraw button.
    open_privacy_tab(page, "SNS connections", r"/account/privacy/sns$")
    facebook = page.get_by_role("region", name="Facebook", exact=True)
    expect(facebook.get_by_text("Not linked", exact=True)).to_be_visible()
    expect(facebook.get_by_role("link", name=re.compile("^Unlink Facebook"))).to_have_count(0)
    past = page.get_by_role("region", name="Your past withdrawals")
    expect(past.get_by_role("link")).to_have_attribute("href", urlsplit(receipt_url).path)
    check_a11y(page)
    screenshot(page, "alice-11-sns-after")

    # The data page holds nothing from Facebook; the other sources are untouched.
    open_privacy_tab(page, "Your data", r"/account/privacy/data$")
    facebook = source_section(page, "Facebook")
    expect(facebook.get_by_role("table")).to_have_count(0)
    expect(facebook).to_contain_text("You have not linked Facebook, so we hold nothing from it.")
    body = page.locator("main").inner_text()
    for value in FACEBOOK_VALUES:
        assert value not in body, f"{value!r} still on the data page after the withdrawal"
    expect(source_section(page, "Organisational improvement surveys").get_by_role("table")).to_have_count(2)
    check_a11y(page)
    screenshot(page, "alice-12-data-after")

    # A new export: no Facebook record left, the rest still there.
    document = export_json(page, tmp_path)
    assert records_of(document, "facebook") == []
    text = json.dumps(document, ensure_ascii=False)
    for value in FACEBOOK_VALUES:
        assert value not in text, f"{value!r} still in the export after the withdrawal"
    assert len(records_of(document, "org_survey")) == 14
    assert any(r["value"] == ALICE for r in records_of(document, "profile"))

    # Notifications: the withdrawal notice, unread, linking to the receipt; mark it read.
    open_privacy_tab(page, "Notifications", r"/account/privacy/notifications")
    notices = page.get_by_role("list", name=re.compile("Notifications"))
    notice = notices.get_by_role("listitem").filter(has_text="Facebook was unlinked")
    expect(notice).to_have_count(1)
    expect(notice.get_by_text("Unread", exact=True)).to_be_visible()
    expect(notice.get_by_role("link")).to_have_attribute(
        "href", re.compile(r"/account/privacy/sns/withdrawals/")
    )
    check_a11y(page)
    screenshot(page, "alice-13-notifications")
    notice.get_by_role("button", name="Mark as read").click()
    expect(page.get_by_text("You have no unread notifications.")).to_be_visible()
    notice = page.get_by_role("listitem").filter(has_text="Facebook was unlinked")
    expect(notice.get_by_text("Unread", exact=True)).to_have_count(0)
    expect(notice.get_by_role("button", name="Mark as read")).to_have_count(0)
    check_a11y(page)
    screenshot(page, "alice-14-notifications-read")
