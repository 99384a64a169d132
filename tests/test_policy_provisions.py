"""Every numbered provision of the policy is shown somewhere a person reads it.

``SHOWN`` maps each article's paragraphs, items and sub-items (all 29 of them, read from the
published text, so a provision cannot be forgotten) to the pages that show it and a phrase
of what they say. For each, the page must carry a citation link to that paragraph of the
policy page, in the same sentence or list item as the phrase — in English and, link and
label, in Japanese — and the policy page must show the provision itself at that anchor.
"""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from flask_ome_privacy.policy_text import parse

POLICY_EN = Path(__file__).resolve().parents[1] / "example_app" / "policy" / "en.txt"
PUBLIC = "/privacy/purposes"
DATA = "/account/privacy/data"
EXPORT = "/account/privacy/data/export"
PURPOSES = "/account/privacy/purposes"

#: provision anchor -> [(page, what the page says next to the citation)]
SHOWN: dict[str, list[tuple[str, str]]] = {
    "art-1-1": [
        (PUBLIC, "We obtain personal information to deliver and provide information to the companies")
    ],
    "art-1-2": [
        (PUBLIC, "If you do not give us the items the service needs"),
        (DATA, "Items marked “Required” are the ones the service needs"),
    ],
    "art-1-3": [
        (PUBLIC, "We do not disclose or provide personal information to third parties without your consent"),
        (DATA, "We provide your information to client companies only with your consent"),
    ],
    "art-1-4": [(PUBLIC, "take reasonable measures against its leakage, loss or damage")],
    "art-1-5": [
        (PUBLIC, "our contract obliges it to prevent leaks and any provision to third parties"),
        (DATA, "under contracts that forbid leaks and any other provision"),
    ],
    "art-1-6": [
        (PUBLIC, "Questions about the personal information we hold are answered by the inquiry contact")
    ],
    "art-2-1": [(PUBLIC, "we use it only for the purposes below, grouped by the kind of information")],
    "art-2-2": [(PUBLIC, "When we use personal information for a purpose that is not in the privacy policy")],
    "art-2-2-1": [
        (PUBLIC, "for information you gave us directly, we ask each user individually"),
        (PURPOSES, "We will do so only if you agree"),
    ],
    "art-2-2-2": [(PUBLIC, "for information we obtained in other ways, we publish the new purpose here")],
    "art-3-1": [
        (PUBLIC, "We comply with the laws and regulations on the protection of personal information")
    ],
    "art-3-2": [
        (PUBLIC, "We have a management system for protecting personal information, review it regularly")
    ],
    "art-4-1": [
        (PUBLIC, "can ask us to do any of the following with your personal information"),
        (PUBLIC, "We look into every request within the company"),
    ],
    "art-4-2": [(PUBLIC, "we may decide not to do what you asked, in whole or in part")],
    "art-4-3": [
        (
            PUBLIC,
            "If something is missing from a request or it is incomplete, we may not be able to accept it",
        ),
        (PUBLIC, "Please send it by registered cash mail"),
        (EXPORT, "a handling fee of 1,000 yen applies"),
    ],
    "art-4-4": [(PUBLIC, "What you write on the request form is used only to answer your request")],
    "art-4-5": [(PUBLIC, "By post, as the privacy policy sets out")],
    "art-4-5-1": [(PUBLIC, "If you make the request yourself")],
    "art-4-5-1-a": [
        (PUBLIC, "Ask the inquiry contact below for the personal information disclosure request form")
    ],
    "art-4-5-1-b": [(PUBLIC, "one identity document that shows your name and current address")],
    "art-4-5-2": [
        (PUBLIC, "A legal representative, or a representative you appoint, sends the documents above")
    ],
    "art-4-5-2-a": [(PUBLIC, "A legal representative")],
    "art-4-5-2-a-a": [(PUBLIC, "a document proving the authority to represent you")],
    "art-4-5-2-a-b": [(PUBLIC, "the representative's own identity document")],
    "art-4-5-2-b": [(PUBLIC, "A representative you appoint")],
    "art-4-5-2-b-a": [(PUBLIC, "a power of attorney")],
    "art-4-5-2-b-b": [(PUBLIC, "your seal registration certificate, issued within the last three months")],
    "art-4-5-2-b-c": [(PUBLIC, "the representative's own identity document")],
    "art-5-1": [
        (
            PUBLIC,
            "We correct or delete personal information when we judge, after looking into your request, "
            "that it is necessary, and only after verifying that the request comes from you",
        ),
    ],
}


class Citations(HTMLParser):
    """Each citation link with the text of the sentence-level element around it."""

    BLOCKS = frozenset({"p", "li", "td", "th", "dd", "div", "section"})
    VOID = frozenset({"br", "input", "meta", "link", "img", "hr", "wbr"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[dict[str, Any]] = []
        self.elements: list[dict[str, Any]] = []  # every element, with its id and text
        self.links: list[tuple[str, dict[str, Any]]] = []  # (href, enclosing block)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.VOID:
            return
        attributes = dict(attrs)
        element = {"tag": tag, "id": attributes.get("id"), "text": []}
        if tag == "a" and attributes.get("class") == "omep-cite":
            block = next(e for e in reversed(self.stack) if e["tag"] in self.BLOCKS)
            self.links.append((attributes.get("href") or "", block))
        self.stack.append(element)
        self.elements.append(element)

    def handle_endtag(self, tag: str) -> None:
        while self.stack and self.stack.pop()["tag"] != tag:
            pass

    def handle_data(self, data: str) -> None:
        for element in self.stack:
            element["text"].append(data)

    @staticmethod
    def text(element: dict[str, Any]) -> str:
        return " ".join("".join(element["text"]).split())


def read(client: Any, url: str, language: str) -> Citations:
    response = client.get(url, headers={"Accept-Language": language})
    assert response.status_code == 200, (url, response.status_code)
    parser = Citations()
    parser.feed(response.get_data(as_text=True))
    return parser


def test_the_map_names_every_numbered_provision_of_the_policy() -> None:
    provisions = [p.anchor for p in parse(POLICY_EN.read_text(encoding="utf-8")).provisions()]
    assert sorted(SHOWN) == sorted(provisions)
    assert len(provisions) == 29


@pytest.fixture
def alice(seeded_app: Any, client: Any, login: Any) -> Any:
    login(client, "alice@example.com")
    return client


@pytest.mark.parametrize("anchor", sorted(SHOWN))
def test_each_provision_is_shown_with_a_link_to_its_paragraph(alice: Any, anchor: str) -> None:
    policy_page = read(alice, "/privacy/policy", "en")
    at_anchor = next(e for e in policy_page.elements if e["id"] == anchor)
    provision = next(
        p for p in parse(POLICY_EN.read_text(encoding="utf-8")).provisions() if p.anchor == anchor
    )
    assert provision.lines[0] in Citations.text(at_anchor)  # the policy page shows the provision there

    href = f"/privacy/policy#{anchor}"
    for url, phrase in SHOWN[anchor]:
        around = [Citations.text(block) for link, block in read(alice, url, "en").links if link == href]
        assert any(phrase in text for text in around), (anchor, url, phrase, around)
        # The Japanese page cites the same paragraph.
        japanese = read(alice, url, "ja")
        assert any(link == href for link, _block in japanese.links), (anchor, url, "ja")
