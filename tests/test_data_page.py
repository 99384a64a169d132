"""The data page, ``/account/privacy/data`` (issue 3, points 2 and 6; policy Art. 1.2, 1.3, 1.5, 2.1).

Mostly on a small host of our own (tests/privacy_host.py: a direct, an SNS and an
organisational-service source), and once on the example WORLD OME NET site.
"""

from __future__ import annotations

import html
import json
import re

import pytest
from helpers import QueryLog
from privacy_host import AccountSource, BrokenSource, Host, MakeHost, SurveySource

from flask_ome_privacy.consents import record_decision

DATA_URL = "/account/privacy/data"
EN = {"Accept-Language": "en"}


@pytest.fixture
def alice(host: Host) -> str:
    member = host.add_member("Alice Liddell", "alice-secret@wonder.example")
    host.link_chat(member, handle="@alice-handle", bio="alice bio text")
    host.add_answers(member, 3, prefix="alice", surveys=2)
    return member


def page(host: Host, member: str) -> str:
    response = host.client_for(member).get(DATA_URL, headers=EN)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def section(text: str, key: str) -> str:
    """The HTML of one source's section (or ``provisions``)."""
    anchor = "omep-provisions" if key == "provisions" else f"omep-source-{key}"
    match = re.search(rf'<section[^>]*id="{anchor}".*?</section>', text, re.S)
    assert match, f"no section {anchor}"
    return match.group(0)


def visible(fragment: str) -> str:
    """Text of an HTML fragment with tags removed and whitespace collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


# --- one section per source ------------------------------------------------------------------


def test_each_source_has_a_section_with_a_heading(host, alice):
    text = page(host, alice)
    for key, label in (("account", "Account"), ("chatter", "Chatter"), ("surveys", "Surveys")):
        assert re.search(rf"<h2 id=\"omep-source-{key}-title\">{label}</h2>", section(text, key))


def test_each_value_shows_with_its_label_and_when_it_was_obtained(host, alice):
    account = visible(section(page(host, alice), "account"))
    assert "Name" in account and "Alice Liddell" in account
    assert "Email address" in account and "alice-secret@wonder.example" in account
    assert "April 1, 2024 18:00 (Japan Time)" in account  # privacy_host.T0 (09:00 UTC), in Japan time


def test_required_items_are_marked_and_what_required_means_is_explained(host, alice):
    text = page(host, alice)
    note = visible(re.search(r'<div class="omep-note".*?</div>', text, re.S).group(0))
    assert "voluntary" in note and "may not be able to provide the service" in note and "1.2" in note
    account = section(text, "account")
    assert re.search(r"Name <span class=\"omep-badge omep-badge--required\">Required</span>", account)
    assert "Required for the service Name, Email address" in visible(account)
    chatter = visible(section(text, "chatter"))
    assert "Required for the service None: every item here is optional." in chatter


def test_purposes_and_provision_to_clients_follow_the_article_2_1_table(host, alice):
    text = page(host, alice)
    account = visible(section(text, "account"))
    assert "Personal information about users" in account
    for purpose in ("Sales activities", "User management", "Advertising distribution"):
        assert purpose in account
    assert "Provided to client companies Yes" in account
    chatter = visible(section(text, "chatter"))
    assert "Registration for, and subsequent user management of" in chatter
    assert "Provided to client companies No" in chatter  # the policy's "×"
    surveys = visible(section(text, "surveys"))
    assert "Providing organisational improvement services to companies" in surveys
    assert "Provided to client companies Yes" in surveys


@pytest.mark.parametrize(
    "host_config",
    [
        {
            "OME_PRIVACY_PURPOSES": [
                {
                    "key": "user_info.research",
                    "category": "user_info",
                    "text": "Market research",
                    "added_on": "2024-01-01",
                }
            ]
        }
    ],
)
def test_a_new_purpose_needing_consent_is_not_listed_as_a_use_until_granted(host, alice):
    account = visible(section(page(host, alice), "account"))
    uses = account.split("What we use it for", 1)[1].split("Provided to client companies", 1)[0]
    assert "Market research" not in uses.split("new purpose")[0]
    assert "1 new purpose is waiting for your decision" in uses

    # The section's facts are rendered once per set of purposes: once alice agrees, her page
    # lists the use, and another member who has not agreed still sees it waiting.
    bob = host.add_member("Bob Bravo", "bob@example.com")
    with host.app.app_context():
        record_decision(
            host.db.session,
            host.privacy.purposes,
            user_id=alice,
            purpose_key="user_info.research",
            granted=True,
        )
        host.db.session.commit()
    granted = visible(section(page(host, alice), "account"))
    uses = granted.split("What we use it for", 1)[1].split("Provided to client companies", 1)[0]
    assert "Market research" in uses and "waiting for your decision" not in uses
    waiting = visible(section(page(host, bob), "account"))
    assert "1 new purpose is waiting for your decision" in waiting


@pytest.mark.parametrize(
    "host_config",
    [
        {
            "OME_PRIVACY_PROCESSORS": {
                "user_info": [{"name": "Mailer KK", "task": "Sending mail"}],
                "sns": "Hosting KK",
            }
        }
    ],
)
def test_processors_are_listed_per_category(host, alice):
    text = page(host, alice)
    assert "Mailer KK — Sending mail" in visible(section(text, "account"))
    assert "Hosting KK" in visible(section(text, "chatter"))
    assert "No outsourced processor handles this information." in visible(section(text, "surveys"))


def test_sources_that_hold_nothing_say_so(host):
    member = host.add_member("Nora Nothing", "nora@example.com")
    text = page(host, member)
    assert "You have not linked Chatter, so we hold nothing from it." in visible(section(text, "chatter"))
    assert "We hold nothing about you from this source." in visible(section(text, "surveys"))
    assert "<table" not in section(text, "surveys")


def test_grouped_values_get_a_table_each_with_the_group_as_caption(host, alice):
    surveys = section(page(host, alice), "surveys")
    captions = [visible(c) for c in re.findall(r"<caption>(.*?)</caption>", surveys, re.S)]
    assert captions == ["alice survey 1", "alice survey 2"]
    assert 'scope="col"' in surveys and 'scope="row"' in surveys


def test_ask_to_correct_opens_the_online_form_for_that_source(host, alice):
    surveys = section(page(host, alice), "surveys")
    assert 'href="/account/privacy/requests/new?kind=correct&amp;source=surveys"' in surveys
    assert "Ask to correct this" in surveys
    # And each value its own link, naming its field (the form opens with it ticked).
    rows = re.findall(r"<tr>\s*<th scope=\"row\">.*?</tr>", surveys, re.S)
    assert rows and all(
        'href="/account/privacy/requests/new?kind=correct&amp;source=surveys&amp;field=answer"' in row
        for row in rows
    )
    # The target is the request wizard, with that kind ticked.
    form = host.client_for(alice).get("/account/privacy/requests/new?kind=correct&source=surveys", headers=EN)
    assert form.status_code == 200
    assert 'value="correct" id="kind-correct" aria-describedby="kind-correct-hint" checked' in form.get_data(
        as_text=True
    )


@pytest.mark.parametrize(
    "host_config",
    [{"OME_PRIVACY_ACCOUNT_URL_PREFIX": "/me/privacy", "OME_PRIVACY_PUBLIC_URL_PREFIX": "/legal"}],
)
def test_request_links_follow_the_configured_prefixes(host, alice):
    response = host.client_for(alice).get("/me/privacy/data", headers=EN)
    text = response.get_data(as_text=True)
    assert 'href="/me/privacy/requests/new?kind=correct&amp;source=' in text
    assert 'href="/me/privacy/requests/new?kind=stop_third_party"' in text


# --- the provision log ----------------------------------------------------------------------------


def test_the_provision_log_shows_to_whom_what_and_when_with_a_way_to_ask_to_stop(host, alice):
    host.record_provision(alice, "Client A KK", ["user_info", "org_service"])
    provisions = section(page(host, alice), "provisions")
    text = visible(provisions)
    assert "Client A KK" in text
    assert "Personal information about users" in text
    assert "Personal information related to the organisational improvement service" in text
    assert "April 1, 2024 18:00 (Japan Time)" in text
    assert 'href="/account/privacy/requests/new?kind=stop_third_party"' in provisions


def test_no_provision_says_so(host, alice):
    assert "We have not provided your information to any third party." in visible(
        section(page(host, alice), "provisions")
    )


# --- large sources and a bounded number of statements -----------------------------------------------


@pytest.mark.parametrize("host_config", [{"OME_PRIVACY_DATA_PAGE_LIMIT": 20}])
def test_a_large_source_shows_the_first_values_with_a_count_and_the_download(host):
    member = host.add_member("Many Answers", "many@example.com")
    host.add_answers(member, 1000, prefix="m")
    surveys = section(page(host, member), "surveys")
    assert "Showing the first 20 of 1,000 items." in visible(surveys)
    assert surveys.count("<tr>") - surveys.count("<thead>") == 20
    assert 'href="/account/privacy/data/export"' in surveys


def statements_for_data_page(host: Host, member: str) -> QueryLog:
    client = host.client_for(member)
    with host.count_queries() as log:
        response = client.get(DATA_URL, headers=EN)
    assert response.status_code == 200
    return log


def test_the_number_of_sql_statements_does_not_grow_with_the_data(host):
    small = host.add_member("Small", "small@example.com")
    host.add_answers(small, 1, prefix="s")
    host.link_chat(small, handle="@s")
    large = host.add_member("Large", "large@example.com")
    host.add_answers(large, 1000, prefix="l")
    # The SNS source does not override count(): the page counts its one stream as it passes.
    host.link_chat(large, **{f"item{n}": f"v{n}" for n in range(1000)})
    host.record_provision(large, "Client KK", ["user_info"])

    at_one = statements_for_data_page(host, small)
    at_thousand = statements_for_data_page(host, large)

    assert len(at_one.statements) == len(at_thousand.statements), f"1:\n{at_one}\n1000:\n{at_thousand}"
    # user, 2 x surveys (values + COUNT), 2 x chatter (values + is_linked), consents, provisions;
    # the sources are read inside one savepoint (SAVEPOINT + RELEASE), so a failing one loses
    # nothing; only when one fails is each read again in a savepoint of its own.
    queries = [q for q in at_thousand.statements if not q.startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))]
    assert len(queries) <= 8, str(at_thousand)
    assert len(at_thousand.statements) - len(queries) == 2, str(at_thousand)


# --- only the signed-in user's data -------------------------------------------------------------------


def test_another_users_data_never_appears(host, alice, bob):
    text = page(host, alice)
    for marker in (
        "Bob Bravo",
        "bob-secret",
        "@bob-handle",
        "bob bio",
        "bob answer",
        "bob survey",
        "Bob's Recipient",
    ):
        assert marker not in html.unescape(text), marker
    assert "alice-secret@wonder.example" in text


def test_signing_in_is_required(host, alice):
    response = host.app.test_client().get(DATA_URL)
    assert response.status_code == 401


def test_the_page_is_not_cached(host, alice):
    response = host.client_for(alice).get(DATA_URL)
    assert response.headers["Cache-Control"] == "no-store"


def test_the_page_has_its_tab_in_the_privacy_center(host, alice):
    nav = re.search(r'<nav class="omep-tabs".*?</nav>', page(host, alice), re.S).group(0)
    assert re.search(r'href="/account/privacy/data"\s*aria-current="page"', nav)


def test_the_page_is_in_japanese_by_default(host, alice):
    text = host.client_for(alice).get(DATA_URL).get_data(as_text=True)
    assert '<html lang="ja">' in text


# --- the example site -------------------------------------------------------------------------------


def test_alice_on_the_example_site_sees_her_facebook_and_survey_data(seeded_app, client, login):
    login(client, "alice@example.com")
    response = client.get(DATA_URL, headers=EN)
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    facebook = visible(section(text, "facebook"))
    assert "Hanako Yamada" in facebook and "hanako.yamada@facebook.example" in facebook
    surveys = section(text, "org_survey")
    assert "<caption>" in surveys and "そう思う" in surveys
    provisions = visible(section(text, "provisions"))
    assert "株式会社クライアントA" in provisions and "株式会社クライアントB" in provisions
    # bob's provision purpose never shows on alice's page
    assert "展示会のご案内" not in text


# --- a source that fails ------------------------------------------------------------------------


@pytest.fixture
def host_with_a_broken_source(make_host: MakeHost) -> Host:
    return make_host(sources=[AccountSource(), BrokenSource(), SurveySource()])


def test_a_failing_source_is_reported_and_the_others_still_show(host_with_a_broken_source, caplog):
    host = host_with_a_broken_source
    member = host.add_member("Alice Liddell", "alice-secret@wonder.example")
    host.add_answers(member, 2, prefix="alice", surveys=1)
    client = host.client_for(member)

    text = client.get(DATA_URL, headers=EN).get_data(as_text=True)
    assert "We could not read this information just now" in visible(section(text, "broken"))
    assert "We hold nothing" not in visible(section(text, "broken"))
    assert "alice-secret@wonder.example" in visible(section(text, "account"))
    assert "alice answer 1" in visible(section(text, "surveys"))
    # The log names the source and the error's type, nothing a person entered.
    assert "'broken'" in caplog.text
    assert "alice" not in caplog.text.lower()

    overview = visible(client.get("/account/privacy/", headers=EN).get_data(as_text=True))
    assert "Could not be read just now" in overview
    assert "2 items held" in overview


def test_a_source_failing_during_the_json_export_is_marked_incomplete(host_with_a_broken_source):
    host = host_with_a_broken_source
    member = host.add_member("Alice Liddell", "alice-secret@wonder.example")
    host.add_answers(member, 2, prefix="alice", surveys=1)
    response = host.client_for(member).get("/account/privacy/data/export.json", headers=EN)
    document = json.loads(response.get_data(as_text=True))
    by_key = {s["key"]: s for s in document["sources"]}
    assert by_key["broken"]["complete"] is False
    assert by_key["account"]["complete"] is True
    assert by_key["surveys"]["record_count"] == 2
