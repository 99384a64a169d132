"""The public purposes page: what APPI Art. 32(1) asks to publish, and the change history of
policy Art. 2.2(2). No sign-in, no personal data, cacheable.

Japanese: dates and the page language are checked here; the Japanese wording is checked by
the translation pass once the catalogs exist.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from helpers import extract_csrf_token
from privacy_host import BENCHMARK, NEWSLETTER, MakeHost

URL = "/privacy/purposes"
EN = {"Accept-Language": "en"}
JA = {"Accept-Language": "ja"}
BUSINESS = {
    "OME_PRIVACY_BUSINESS_NAME": "Crafters Inc.",
    "OME_PRIVACY_BUSINESS_ADDRESS": "1-1 Marunouchi, Chiyoda-ku, Tokyo",
    "OME_PRIVACY_BUSINESS_REPRESENTATIVE": "Kenichi Sato, Representative Director",
    "OME_PRIVACY_CONTACT": {
        "name": "Privacy inquiry desk",
        "email": "privacy@crafters.example",
        "postal_address": "1-1 Marunouchi",
    },
    "OME_PRIVACY_COMPLAINTS_CONTACT": "Privacy inquiry desk, or the PPC",
    "OME_PRIVACY_PROCESSORS": {"org_service": ["Survey Cloud Inc."]},
}


@pytest.fixture
def make(make_host: MakeHost) -> Callable[..., Any]:
    """``make(**config)`` builds a host app (with the two added purposes unless overridden)."""

    def build(**config: Any) -> Any:
        return make_host(
            members=["1"], **{**BUSINESS, "OME_PRIVACY_PURPOSES": [NEWSLETTER, BENCHMARK], **config}
        ).app

    return build


@pytest.fixture
def app(make: Any) -> Any:
    """A host whose app has no online request form (it took the wizard's page away), so the
    public page is where the privacy center's request links lead."""
    return without_request_form(make())


def without_request_form(app: Any) -> Any:
    """The host app without the request wizard's entry page: the package looks the endpoint up."""
    app.view_functions.pop("ome_privacy_account.new_request", None)
    return app


def get(app: Any, headers: dict[str, str] = EN) -> str:
    response = app.test_client().get(URL, headers=headers)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def section(html: str, section_id: str) -> str:
    return re.search(rf'<section id="{section_id}".*?</section>', html, re.S).group(0)


def text_of(html: str) -> str:
    text = " ".join(re.sub(r"<[^>]+>", " ", html).split())
    return re.sub(r"\s+([),.:;])", r"\1", text)


def test_a_visitor_needs_no_account(app: Any) -> None:
    response = app.test_client().get(URL, headers=EN)
    assert response.status_code == 200
    assert "<h1>Purposes of use of personal information</h1>" in response.get_data(as_text=True)


def test_the_business_name_address_and_representative_are_published(app: Any) -> None:
    business = text_of(section(get(app), "business"))
    assert "Business name Crafters Inc." in business
    assert "Address 1-1 Marunouchi, Chiyoda-ku, Tokyo" in business
    assert "Representative Kenichi Sato, Representative Director" in business


def test_every_purpose_is_published_by_category_with_provision_and_processors(app: Any) -> None:
    purposes = section(get(app), "purposes")
    rows = re.findall(r'<tr id="category-(\w+)">(.*?)</tr>', purposes, re.S)
    by_key = {key: text_of(row) for key, row in rows}
    assert list(by_key) == ["user_info", "sns", "org_service"]
    assert "Sales activities" in by_key["user_info"] and "Advertising distribution" in by_key["user_info"]
    assert "Sending a newsletter about career events only with each user's consent" in by_key["user_info"]
    assert "Registration for, and subsequent user management" in by_key["sns"]
    assert "Anonymised industry benchmarks (added September 15, 2026)" in by_key["org_service"]
    assert " Yes " in f" {by_key['user_info']} " and " No " in f" {by_key['sns']} "
    assert "Survey Cloud Inc." in by_key["org_service"] and "No outside processor" in by_key["sns"]


def test_the_change_history_dates_each_added_purpose_and_says_how_it_applies(app: Any) -> None:
    changes = section(get(app), "changes")
    rows = [text_of(row) for row in re.findall(r"<tbody>.*?</tbody>", changes, re.S)[0].split("</tr>")[:-1]]
    assert rows == [
        "October 1, 2026 Sending a newsletter about career events added Personal information about users "
        "Asked individually: used only for users who agree",
        "September 15, 2026 Anonymised industry benchmarks added Personal information related to the "
        "organisational improvement service Published: applies from the date shown",
    ]
    assert '<time datetime="2026-09-15">' in changes


def test_a_purpose_published_in_advance_says_from_when(make: Any) -> None:
    later = date.today() + timedelta(days=40)
    app = make(OME_PRIVACY_PURPOSES=[{**BENCHMARK, "added_on": later.isoformat()}])
    html = get(app)
    assert "Published in advance: applies from the date shown" in section(html, "changes")
    assert "(from " in section(html, "purposes")


def test_a_reworded_purpose_shows_in_the_history(make: Any) -> None:
    app = make(OME_PRIVACY_PURPOSES=[{**BENCHMARK, "version": 2, "changed_on": "2026-11-20"}])
    assert "November 20, 2026 Anonymised industry benchmarks wording changed" in text_of(
        section(get(app), "changes")
    )


def test_without_added_purposes_the_history_says_so(make: Any) -> None:
    app = make(OME_PRIVACY_PURPOSES=[])
    assert "No purposes have been added since the privacy policy was published." in section(
        get(app), "changes"
    )


def test_each_kind_of_request_is_explained_and_only_disclosure_and_purpose_notice_cost_1000_yen(
    app: Any,
) -> None:
    requests = section(get(app), "requests")
    fees = {
        key: text_of(row) for key, row in re.findall(r'<tr id="request-(\w+)">(.*?)</tr>', requests, re.S)
    }
    assert set(fees) == {
        "notify_purpose",
        "disclose",
        "correct",
        "add",
        "delete",
        "stop_use",
        "erase",
        "stop_third_party",
    }
    for kind, row in fees.items():
        expected = "1,000 yen per request" if kind in ("notify_purpose", "disclose") else "Free"
        assert row.endswith(expected), (kind, row)
    assert "records of providing it to third parties" in fees["disclose"]
    text = text_of(requests)
    assert "registered cash mail" in text
    assert (
        "recorded delivery" in text and "identity document that shows your name and current address" in text
    )
    assert "seal registration certificate, issued within the last three months" in text


# --- policy Art. 4 and 5 where a person reads how to make a request ---------------------------


def test_the_request_section_says_an_incomplete_request_may_not_be_accepted(app: Any) -> None:
    requests = section(get(app), "requests")
    note = re.search(r'<p class="omep-note" role="note" id="incomplete-requests">(.*?)</p>', requests, re.S)
    assert note is not None
    assert "If something is missing from a request or it is incomplete, we may not be able to accept it" in (
        text_of(note.group(1))
    )
    # Said where the documents are asked for: after the steps, before the representatives.
    assert requests.index("identity document") < note.start() < requests.index("Requests by a representative")


def test_the_request_section_says_what_is_written_on_a_request_is_used_only_to_answer_it(app: Any) -> None:
    text = text_of(section(get(app), "requests"))
    assert (
        "What you write on the request form is used only to answer your request, and for nothing else" in text
    )


def test_corrections_and_deletions_follow_an_identity_check_when_judged_necessary(app: Any) -> None:
    text = text_of(section(get(app), "requests"))
    assert (
        "We correct or delete personal information when we judge, after looking into your request, that it "
        "is necessary, and only after verifying that the request comes from you" in text
    )


def test_the_required_items_rule_is_on_the_public_page_too(app: Any) -> None:
    text = text_of(section(get(app), "purposes"))
    assert (
        "Giving us personal information is voluntary. If you do not give us the items the service needs"
        in text
    )
    assert "we may not be able to provide the service to you" in text


def test_compliance_with_laws_and_guidelines_is_published(app: Any) -> None:
    assert (
        "We comply with the laws and regulations on the protection of personal information and with the "
        "guidelines set by the government" in text_of(section(get(app), "safety"))
    )


# --- policy Art. 4.3: requests are made by post until the site has an online form -------------


def test_without_an_online_form_the_page_promises_no_online_requests_and_links_nowhere_back(app: Any) -> None:
    """The privacy center's request links open this page; it must not send people back there."""
    for headers in (EN, JA):
        html = get(app, headers)
        requests = section(html, "requests")
        assert "Online" not in requests and "オンライン" not in requests
        assert "/account/privacy" not in requests
        assert "encrypted" not in section(html, "safety")  # uploaded documents: part of the online flow
    assert "Requests are made by post" in text_of(section(get(app), "requests"))


def test_with_an_online_form_the_page_offers_it(make: Any) -> None:
    app = make()  # the package's request wizard is registered
    html = get(app)
    text = text_of(section(html, "requests"))
    assert "Online: sign in and use the request form in your privacy center" in text
    assert 'href="/account/privacy/requests/new">Make a request online</a>' in section(html, "requests")
    assert "By post, as the privacy policy sets out" in text
    assert "Identity documents sent with requests are encrypted" in text_of(section(html, "safety"))
    assert "オンラインで請求する" in section(get(app, JA), "requests")
    # The privacy center's request links now open the form, with the kind filled in.
    client = app.test_client()
    client.get("/_test/sign-in/1")
    data_page = client.get("/account/privacy/data", headers=EN).get_data(as_text=True)
    assert 'href="/account/privacy/requests/new?kind=correct&amp;source=account"' in data_page


def test_without_an_online_form_the_privacy_centers_request_links_open_this_page(app: Any) -> None:
    client = app.test_client()
    client.get("/_test/sign-in/1")
    data_page = client.get("/account/privacy/data", headers=EN).get_data(as_text=True)
    assert 'href="/privacy/purposes#request-correct"' in data_page


def test_the_fee_follows_configuration(make: Any) -> None:
    requests = section(get(make(OME_PRIVACY_FEE_YEN=0)), "requests")
    assert "yen" not in requests and "registered cash mail" not in requests


def test_safety_measures_complaints_and_the_inquiry_contact_are_published(app: Any) -> None:
    html = get(app)
    safety = text_of(section(html, "safety"))
    assert "tamper-evident audit trail" in safety and "bound by contract" in safety
    assert "Privacy inquiry desk, or the PPC" in section(html, "complaints")
    assert "privacy@crafters.example" in html and "Privacy inquiry desk" in html
    assert "We have a management system for protecting personal information" in safety


def test_the_personal_information_protection_commission_is_a_link(make: Any) -> None:
    for app in (make(), make(OME_PRIVACY_COMPLAINTS_CONTACT="")):
        for headers, label in (
            (EN, "Personal Information Protection Commission website"),
            (JA, "個人情報保護委員会のウェブサイト"),
        ):
            complaints = section(get(app, headers), "complaints")
            assert f'<a href="https://www.ppc.go.jp/">{label}</a>' in complaints


def test_addresses_in_the_complaints_contact_become_links(make: Any) -> None:
    app = make(
        OME_PRIVACY_COMPLAINTS_CONTACT="Write to desk@crafters.example or see https://crafters.example/help"
    )
    complaints = section(get(app), "complaints")
    assert 'href="mailto:desk@crafters.example"' in complaints
    assert 'href="https://crafters.example/help"' in complaints


def test_without_a_complaints_contact_complaints_go_to_the_inquiry_contact(make: Any) -> None:
    complaints = text_of(section(get(make(OME_PRIVACY_COMPLAINTS_CONTACT="")), "complaints"))
    assert "go to the inquiry contact below" in complaints
    assert "Personal Information Protection Commission of Japan" in complaints


def test_the_page_has_a_table_of_contents_and_one_h1(app: Any) -> None:
    html = get(app)
    assert html.count("<h1") == 1
    for anchor in ("business", "purposes", "changes", "requests", "safety", "complaints"):
        assert f'href="#{anchor}"' in html and f'id="{anchor}"' in html


def test_japanese_visitors_get_a_japanese_page_with_japanese_dates(app: Any) -> None:
    html = get(app, JA)
    assert '<html lang="ja">' in html
    assert "2026年9月15日" in html and "2026年10月1日" in html
    # The wording itself is checked once the translation pass has filled the catalog.


def test_english_visitors_get_english_dates(app: Any) -> None:
    html = get(app, EN)
    assert '<html lang="en">' in html
    assert "September 15, 2026" in html


def test_nothing_personal_shows_even_to_a_signed_in_user(app: Any) -> None:
    client = app.test_client()
    client.get("/_test/sign-in/1")
    token = extract_csrf_token(client.get("/account/privacy/purposes", headers=EN).get_data(as_text=True))
    client.post(
        "/account/privacy/purposes/user_info.newsletter/decision",
        data={"csrf_token": token, "decision": "grant", "version": 1},
        follow_redirects=True,
    )
    # There is something personal to leak: the decision was recorded.
    assert "You agreed" in client.get("/account/privacy/purposes", headers=EN).get_data(as_text=True)
    html = client.get(URL, headers=EN).get_data(as_text=True)
    assert "You agreed" not in html and "with your consent" not in html and 'name="decision"' not in html


def test_anonymous_visitors_may_be_served_from_a_shared_cache(app: Any) -> None:
    client = app.test_client()
    response = client.get(URL, headers=EN)
    assert response.headers["Cache-Control"] == "public, max-age=3600"
    assert {"Accept-Language", "Cookie"} <= set(response.vary)
    etag = response.headers["ETag"]
    again = client.get(URL, headers={**EN, "If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""


def test_a_signed_in_visitor_gets_a_private_copy(app: Any) -> None:
    client = app.test_client()
    client.get("/_test/sign-in/1")
    response = client.get(URL, headers=EN)
    assert response.headers["Cache-Control"] == "private, no-cache"
    assert "public" not in response.headers["Cache-Control"]
