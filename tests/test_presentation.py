"""Smaller things people noticed (issue 7, item 17), as they would notice them.

- The Japanese export names processors in Japanese, with their task when one is configured.
- No action offered where it does nothing: no CSV, no "Ask to correct" for a source with
  nothing held; no "Unlink" where the withdrawal guard would refuse it.
- One date format per language on every page, the time zone named where times are shown;
  the export page says its files are in UTC.
- Japanese addresses the person one way (お客様); English says "Unlink ... and erase its data".
"""

from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po
from privacy_host import MakeHost

EN = {"Accept-Language": "en"}
JA = {"Accept-Language": "ja"}
REPO = Path(__file__).resolve().parents[1]
ACCOUNT_PAGES = [
    "/account/privacy/",
    "/account/privacy/data",
    "/account/privacy/data/export",
    "/account/privacy/purposes",
    "/account/privacy/sns",
    "/account/privacy/notifications",
]


def text_of(response: Any) -> str:
    assert response.status_code == 200, response.status_code
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", response.get_data(as_text=True), flags=re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def section(html: str, source_key: str) -> str:
    return re.search(
        rf'<section class="omep-source" id="omep-source-{source_key}".*?</section>', html, re.S
    ).group(0)


# --- the export names processors in its language -------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "name", "task"), [(JA, "メーラー株式会社", "メール配信"), (EN, "Mailer KK", "email delivery")]
)
def test_the_export_names_processors_and_their_task_in_its_language(
    seeded_app: Any, client: Any, login: Any, headers: dict[str, str], name: str, task: str
) -> None:
    login(client, "alice@example.com")
    export = json.loads(
        client.get("/account/privacy/data/export.json", headers=headers).get_data(as_text=True)
    )
    categories = {c["key"]: c for c in export["categories"]}
    assert categories["user_info"]["processors"] == [{"name": name, "task": task}]
    assert categories["sns"]["processors"] == []


def test_a_processor_without_a_task_has_no_empty_task_in_the_export(make_host: MakeHost) -> None:
    host = make_host(members=["1"], OME_PRIVACY_PROCESSORS={"user_info": ["Mailer KK"]})
    export = json.loads(host.client_for("1").get("/account/privacy/data/export.json").get_data(as_text=True))
    user_info = next(c for c in export["categories"] if c["key"] == "user_info")
    assert user_info["processors"] == [{"name": "Mailer KK"}]


# --- no action where it does nothing ---------------------------------------------------------------


def test_a_source_with_nothing_held_offers_no_csv_and_nothing_to_correct(make_host: MakeHost) -> None:
    host = make_host(members=["1"])  # an account, no Chatter link, no survey answers
    client = host.client_for("1")
    data = client.get("/account/privacy/data", headers=EN).get_data(as_text=True)
    account, chatter = section(data, "account"), section(data, "chatter")
    assert "Ask to correct this" in account and "/data/export/account.csv" in account
    assert "We hold nothing about you from this source" in chatter or "so we hold nothing from it" in chatter
    assert "Ask to correct this" not in chatter and ".csv" not in chatter
    export_page = client.get("/account/privacy/data/export", headers=EN).get_data(as_text=True)
    assert "/data/export/account.csv" in export_page
    assert "/data/export/chatter.csv" not in export_page and "/data/export/surveys.csv" not in export_page
    assert "Sources that hold nothing about you are not listed." in export_page


def test_unlink_is_offered_on_the_data_page_only_when_the_guard_allows_it(make_host: MakeHost) -> None:
    host = make_host(members=["1"])
    only_chatter = host.add_member(id="2", password=False)  # Chatter is their only way to sign in
    for member in ("1", only_chatter):
        host.link_chat(member, handle="@someone")

    allowed = section(
        host.client_for("1").get("/account/privacy/data", headers=EN).get_data(as_text=True), "chatter"
    )
    assert "Unlink Chatter and erase this" in allowed
    assert "cannot be unlinked" not in allowed

    refused = section(
        host.client_for(only_chatter).get("/account/privacy/data", headers=EN).get_data(as_text=True),
        "chatter",
    )
    assert "Unlink Chatter and erase this" not in refused
    assert (
        '<a href="/account/privacy/sns#omep-refusal-chatter">Why Chatter cannot be unlinked here yet</a>'
        in refused
    )


# --- dates and times ---------------------------------------------------------------------------------

SHORT_DATES = {
    "ja": re.compile(r"\b\d{4}/\d{1,2}/\d{1,2}\b"),  # 2026/09/15: the "medium" format, no longer used
    "en": re.compile(r"\b(Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{1,2}, \d{4}"),
}


@pytest.mark.parametrize("language", ["ja", "en"])
def test_one_date_format_per_language_on_every_page(
    seeded_app: Any, client: Any, login: Any, language: str
) -> None:
    login(client, "alice@example.com")
    headers = {"Accept-Language": language}
    long_date = re.compile(
        r"\d{4}年\d{1,2}月\d{1,2}日" if language == "ja" else r"[A-Z][a-z]+ \d{1,2}, \d{4}"
    )
    for url in ["/privacy/purposes", *ACCOUNT_PAGES]:
        text = text_of(client.get(url, headers=headers))
        assert not SHORT_DATES[language].search(text), (url, SHORT_DATES[language].findall(text))
        if url in ("/privacy/purposes", "/account/privacy/data", "/account/privacy/purposes"):
            assert long_date.search(text), url


def test_times_name_their_zone_and_the_export_page_says_files_are_utc(
    seeded_app: Any, client: Any, login: Any
) -> None:
    login(client, "alice@example.com")
    data_ja = text_of(client.get("/account/privacy/data", headers=JA))
    assert re.search(r"\d{4}年\d{1,2}月\d{1,2}日 \d{2}:\d{2}（日本時間）", data_ja)
    data_en = text_of(client.get("/account/privacy/data", headers=EN))
    assert re.search(r"[A-Z][a-z]+ \d{1,2}, \d{4} \d{2}:\d{2} \(Japan Time\)", data_en)
    export_en = text_of(client.get("/account/privacy/data/export", headers=EN))
    assert "Times in the files are in UTC (Coordinated Universal Time)" in export_en
    assert "this site's pages show them in Japan Time, so 05:30 UTC appears there as 14:30." in export_en
    export_ja = text_of(client.get("/account/privacy/data/export", headers=JA))
    assert "協定世界時（UTC）" in export_ja and "日本時間で表示" in export_ja


# --- wording --------------------------------------------------------------------------------------------


def test_the_japanese_catalogs_address_the_person_one_way() -> None:
    for path in (
        REPO / "flask_ome_privacy/translations/ja/LC_MESSAGES/ome_privacy.po",
        REPO / "example_app/translations/ja/LC_MESSAGES/messages.po",
    ):
        with path.open("rb") as handle:
            catalog = read_po(handle)
        for message in catalog:
            strings = message.string if isinstance(message.string, (list, tuple)) else [message.string]
            for string in strings:
                assert "あなた" not in (string or ""), (path.name, message.id)
                # Brackets in Japanese text are full-width (placeholders aside).
                assert not re.search(r"[()]", re.sub(r"%\(\w+\)[sd]", "", string or "")) or not message.id, (
                    path.name,
                    message.id,
                )


def test_english_says_unlink_and_erase_not_withdraw_facebook(
    seeded_app: Any, client: Any, login: Any
) -> None:
    login(client, "alice@example.com")
    confirm = client.get("/account/privacy/sns/facebook/withdraw", headers=EN).get_data(as_text=True)
    assert "<h1>Unlink Facebook and erase its data</h1>" in confirm
    assert "Withdraw Facebook" not in confirm
    overview = text_of(client.get("/account/privacy/", headers=EN))
    assert "See what came from a linked SNS, and unlink it" in overview
