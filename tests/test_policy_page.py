"""The privacy policy page (``/privacy/policy``) and the citations that link to it.

The example site publishes the WORLD OME NET policy in English as published and in Japanese;
every article and provision has an anchor, and every citation on every page ("privacy
policy, Article 1.2", 「プライバシーポリシー第1条第2項」) links to its paragraph. A host that
publishes no policy text gets no policy page and plain-text citations; the test host
(tests/privacy_host.py) uses the package's default layout.
"""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from privacy_host import MakeHost

from flask_ome_privacy.policy_text import PolicyTextError, anchor_for, citation_label, parse

REPO = Path(__file__).resolve().parents[1]
POLICY_EN = REPO / "example_app" / "policy" / "en.txt"
POLICY_JA = REPO / "example_app" / "policy" / "ja.txt"
EN = {"Accept-Language": "en"}
JA = {"Accept-Language": "ja"}
URL = "/privacy/policy"
#: The pages that cite the policy, as alice sees them (she has data, consent asks, Facebook).
CITING_PAGES = [
    "/privacy/purposes",
    "/privacy/policy",
    "/account/privacy/",
    "/account/privacy/data",
    "/account/privacy/data/export",
    "/account/privacy/purposes",
    "/account/privacy/sns",
    "/account/privacy/notifications",
]
CITE_LINK = re.compile(r'<a class="omep-cite" href="([^"]*)">([^<]*)</a>')


def html_of(client: Any, url: str, headers: dict[str, str]) -> str:
    response = client.get(url, headers=headers)
    assert response.status_code == 200, (url, response.status_code)
    return response.get_data(as_text=True)


def ids_of(html: str) -> set[str]:
    return set(re.findall(r'\bid="([^"]+)"', html))


def visible_text(html: str) -> str:
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


# --- the page --------------------------------------------------------------------------------


def test_the_policy_reads_as_published_in_english(seeded_app: Any, client: Any) -> None:
    html = html_of(client, URL, EN)
    text = visible_text(html)
    assert "<h1>Privacy Policy</h1>" in html
    published = POLICY_EN.read_text(encoding="utf-8")
    for line in published.splitlines():
        line = line.strip()
        if line:  # every line of the published text is on the page, word for word
            assert unescape(line) in text, line
    for heading in (
        "Article 1 (Handling of Personal Information)",
        "Article 5 (Correction and Deletion of Personal Information)",
    ):
        assert f">{heading}</h2>" in html


def test_the_policy_reads_in_japanese_for_japanese_readers(seeded_app: Any, client: Any) -> None:
    html = html_of(client, URL, JA)
    assert '<html lang="ja">' in html and "<h1>プライバシーポリシー</h1>" in html
    assert ">第1条（個人情報の取扱い）</h2>" in html and ">第4条（個人情報の開示等の請求）</h2>" in html
    text = visible_text(html)
    assert "「個人情報開示請求書」によりお受けした個人情報は、お問い合わせへの回答のために利用し" in text
    assert "published in" not in text and "のみ公開" not in text  # no "only in another language" note


def test_every_article_and_provision_has_its_anchor_in_both_languages(seeded_app: Any, client: Any) -> None:
    policy = parse(POLICY_EN.read_text(encoding="utf-8"))
    expected = set(policy.anchors)
    assert {"art-1", "art-1-2", "art-2-2-1", "art-4-5-1-b", "art-4-5-2-b-c", "art-5-1"} <= expected
    assert len(expected) == 5 + 29  # five articles; 29 numbered provisions (paragraphs and items)
    for headers in (EN, JA):
        assert expected <= ids_of(html_of(client, URL, headers))
    # The Japanese text numbers the same provisions (ア, （ア）: the same anchors as A, (A)).
    assert parse(POLICY_JA.read_text(encoding="utf-8")).anchors == policy.anchors


def test_the_policy_page_needs_no_sign_in_and_may_be_cached(make_host: MakeHost) -> None:
    # The test host: its layout makes no session (the example site's CSRF-protected language
    # switch does, and then only the visitor's own browser keeps the page).
    app = make_host(OME_PRIVACY_POLICY_TEXT={"en": str(POLICY_EN)}).app
    response = app.test_client().get(URL, headers=EN)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=3600"


def test_the_footer_opens_the_policy_and_the_purposes_summary(seeded_app: Any, client: Any) -> None:
    footer = re.search(r"<footer.*?</footer>", html_of(client, "/", EN), re.S).group(0)
    assert '<a href="/privacy/policy">Privacy policy</a>' in footer
    assert '<a href="/privacy/purposes">Purposes of use and requests</a>' in footer
    footer_ja = re.search(r"<footer.*?</footer>", html_of(client, "/", JA), re.S).group(0)
    assert '<a href="/privacy/policy">プライバシーポリシー</a>' in footer_ja


def test_the_policy_and_the_purposes_summary_link_to_each_other(seeded_app: Any, client: Any) -> None:
    assert 'href="/privacy/purposes"' in html_of(client, URL, EN)
    assert '<a href="/privacy/policy">Read the privacy policy in full</a>' in html_of(
        client, "/privacy/purposes", EN
    )


# --- citations ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("headers", "article_word"), [(EN, r"Article \d"), (JA, r"第\d+条第")])
def test_every_citation_on_every_page_links_to_its_paragraph(
    seeded_app: Any, client: Any, login: Any, headers: dict[str, str], article_word: str
) -> None:
    policy_ids = ids_of(html_of(client, URL, headers))
    login(client, "alice@example.com")
    seen = set()
    for url in CITING_PAGES:
        html = html_of(client, url, headers)
        main = re.search(r'<div class="omep".*', html, re.S).group(0)
        links = CITE_LINK.findall(main)
        for href, label in links:
            path, _, anchor = href.partition("#")
            assert path == URL and anchor in policy_ids, (url, href)
            assert label == citation_label(_reference_of(anchor), headers["Accept-Language"]), (
                url,
                href,
                label,
            )
            seen.add(anchor)
        if url == URL:
            continue  # the policy's own text cites itself in prose ("paragraph 1 of this article")
        # No citation left as plain text: every "Article 1.2" / 「第1条第2項」 is inside a link.
        outside_links = visible_text(CITE_LINK.sub(" ", main))
        assert not re.search(article_word, outside_links), (
            url,
            re.findall(rf".{{30}}{article_word}.{{10}}", outside_links),
        )
    assert len(seen) >= 25  # the public page alone cites nearly every provision


def _reference_of(anchor: str) -> str:
    """``art-4-5-2-b-a`` -> ``4.5(2)B(A)`` (the inverse of ``anchor_for``)."""
    parts = anchor.removeprefix("art-").split("-")
    ref = parts[0]
    if len(parts) > 1:
        ref += "." + parts[1]
    if len(parts) > 2:
        ref += f"({parts[2]})"
    if len(parts) > 3:
        ref += parts[3].upper()
    if len(parts) > 4:
        ref += f"({parts[4].upper()})"
    assert anchor_for(ref) == anchor
    return ref


def test_the_data_page_cites_the_required_items_rule_with_a_link(
    seeded_app: Any, client: Any, login: Any
) -> None:
    login(client, "alice@example.com")
    html = html_of(client, "/account/privacy/data", EN)
    assert '(privacy policy, <a class="omep-cite" href="/privacy/policy#art-1-2">Article 1.2</a>)' in html
    html = html_of(client, "/account/privacy/data", JA)
    assert (
        '（プライバシーポリシー<a class="omep-cite" href="/privacy/policy#art-1-2">第1条第2項</a>）' in html
    )


# --- a host with no policy, one language, a loader, a broken setting ----------------------------


def test_without_a_policy_text_there_is_no_policy_page_and_citations_are_plain(make_host: MakeHost) -> None:
    app = make_host(members=["1"]).app
    client = app.test_client()
    assert client.get(URL, headers=EN).status_code == 404
    html = html_of(client, "/privacy/purposes", EN)
    assert "omep-cite" not in html and "/privacy/policy" not in html  # no link to a missing page
    assert "(privacy policy, Article 1.2)" in visible_text(html)


def test_a_policy_in_one_language_is_shown_to_every_reader_with_a_note(make_host: MakeHost) -> None:
    app = make_host(members=["1"], OME_PRIVACY_POLICY_TEXT={"en": str(POLICY_EN)}).app
    client = app.test_client()
    html = html_of(client, URL, JA)  # the package's own layout: no host template involved
    assert '<html lang="ja">' in html and '<div class="omep-policy" lang="en">' in html
    assert "このプライバシーポリシーは英語でのみ公開しています。" in visible_text(html)
    assert "<h1>Privacy Policy</h1>" in html
    purposes = html_of(client, "/privacy/purposes", JA)
    assert '<a class="omep-cite" href="/privacy/policy#art-4-3">第4条第3項</a>' in purposes
    assert "のみ公開" not in visible_text(html_of(client, URL, EN))


def test_a_loader_supplies_the_text_per_language(make_host: MakeHost) -> None:
    asked = []

    def load(language: str) -> str | None:
        asked.append(language)
        return (
            "Rules\n\nArticle 1 (Scope)\n\n1. We follow the law.\n\n2. We answer questions.\n"
            if language == "en"
            else None
        )

    app = make_host(members=["1"], OME_PRIVACY_POLICY_TEXT=load).app
    html = html_of(app.test_client(), URL, EN)
    assert sorted(asked) == ["en", "ja"]
    assert '<div class="omep-policy-provision omep-policy-provision--level-1" id="art-1-2">' in html
    assert "We answer questions." in html
    # This policy has no Article 4.3: the citation stays plain text instead of a dead link.
    purposes = html_of(app.test_client(), "/privacy/purposes", EN)
    assert 'href="/privacy/policy#art-1-1"' in purposes and "#art-4-3" not in purposes


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"en": "no/such/policy.txt"}, "cannot read"),
        ({"en": "Just a title\nand a line, but no article\n"}, "has no articles"),
    ],
)
def test_a_broken_policy_setting_stops_the_app_at_start_up(
    make_host: MakeHost, setting: Any, message: str
) -> None:
    with pytest.raises(PolicyTextError, match=message):
        make_host(OME_PRIVACY_POLICY_TEXT=setting)


# --- the parser and the citation labels, without an app ----------------------------------------


def test_citations_read_as_each_language_writes_them() -> None:
    assert citation_label("1.2", "en") == "Article 1.2"
    assert citation_label("2.2(1)", "ja") == "第2条第2項第1号"
    assert citation_label("4.5(2)B(A)", "ja") == "第4条第5項第2号イ（ア）"
    assert citation_label("5", "ja") == "第5条"
    assert anchor_for("4.5(2)B(C)") == "art-4-5-2-b-c"
    with pytest.raises(ValueError, match="Not a policy reference"):
        anchor_for("Art. one")


def test_the_parser_reads_full_width_numbers_and_keeps_the_closing_block_apart() -> None:
    policy = parse(
        "規程\n\n前文です。\n\n第１条（目的）\n\n１　本文です。\n  続きです。\n\n（１）号です。\n\n"
        "  ア　細目です。\n\n    （ア）さらに細目です。\n\n窓口\n\nメールアドレス\n"
    )
    assert policy.title == "規程" and policy.preamble == ["前文です。"]
    assert [p.anchor for p in policy.provisions()] == ["art-1-1", "art-1-1-1", "art-1-1-1-a", "art-1-1-1-a-a"]
    first = next(policy.provisions())
    assert first.marker == "１" and first.lines == ["本文です。", "続きです。"]
    assert policy.closing == ["窓口", "メールアドレス"]
