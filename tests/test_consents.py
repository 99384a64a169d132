"""Policy Art. 2.2(1): consent asks in the privacy center, and the host's ``may_use`` API.

The host here is the small one in ``privacy_host.py`` (no CSRFProtect: our forms must enforce
CSRF themselves), with one purpose added to directly obtained data (asked) and one to
organisational-service data (published). One test runs the same flow in the example site.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import privacy_host
import pytest
import sqlalchemy as sa
from helpers import extract_csrf_token
from privacy_host import BENCHMARK, NEWSLETTER, MakeHost, Member

from flask_ome_privacy.consents import latest_decisions, record_decision
from flask_ome_privacy.models import AuditEvent, ConsentRecord
from flask_ome_privacy.purposes import UnknownPurposeError

PAGE = "/account/privacy/purposes"
DECIDE = "/account/privacy/purposes/user_info.newsletter/decision"
EN = {"Accept-Language": "en"}
AFTER = date(2026, 11, 1)


class Host(privacy_host.Host):
    """The shared host, with helpers that act like a person in a browser."""

    def page(self, client: Any, url: str = PAGE) -> str:
        response = client.get(url, headers=EN)
        assert response.status_code == 200
        return response.get_data(as_text=True)

    def decide(self, client: Any, decision: str, version: int = 1, url: str = DECIDE) -> Any:
        token = extract_csrf_token(self.page(client))
        return client.post(
            url, data={"csrf_token": token, "decision": decision, "version": version}, headers=EN
        )

    def may_use(self, user_id: str, key: str = "user_info.newsletter", today: date = AFTER) -> bool:
        with self.app.app_context():
            return self.privacy.may_use(Member(id=user_id), key, today=today)

    def consent_rows(self) -> list[ConsentRecord]:
        with self.app.app_context():
            return list(self.db.session.scalars(sa.select(ConsentRecord).order_by(ConsentRecord.id)))

    def audit_events(self) -> list[AuditEvent]:
        with self.app.app_context():
            return list(self.db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id)))


@pytest.fixture
def make(make_host: MakeHost) -> Callable[..., Host]:
    """``make(purposes)`` builds a host with members "1" and "2" (a second one finds them there)."""

    def build(purposes: list[dict[str, Any]] | None = None) -> Host:
        return make_host(
            host_class=Host,
            members=["1", "2"],
            remember_members=True,  # the page's queries are then the package's alone
            OME_PRIVACY_PURPOSES=[NEWSLETTER, BENCHMARK] if purposes is None else purposes,
            OME_PRIVACY_PROCESSORS={"user_info": ["Mailer KK"]},
        )

    return build


@pytest.fixture
def host(make: Any) -> Host:
    return make()


def ask_section(html: str) -> str:
    match = re.search(r'<section id="consent-asks".*?</section>', html, re.S)
    return match.group(0) if match else ""


def decisions_section(html: str) -> str:
    return re.search(r'<section id="consent-decisions".*?</section>', html, re.S).group(0)


# --- the ask -----------------------------------------------------------------------------------


def test_the_ask_shows_the_purpose_its_category_and_date_with_agree_and_decline(host: Host) -> None:
    html = host.page(host.client_for("1"))
    ask = ask_section(html)
    assert "Sending a newsletter about career events" in ask
    assert "Personal information about users" in ask
    assert 'datetime="2026-10-01"' in ask
    assert 'name="decision" value="grant"' in ask and ">Agree<" in ask
    assert 'name="decision" value="decline"' in ask and ">Decline<" in ask
    assert 'name="version" value="1"' in ask
    assert f'action="{DECIDE}"' in ask
    # Published purposes are never asked.
    assert "Anonymised industry benchmarks" not in ask


def test_the_page_shows_the_policy_table_with_processors(host: Host) -> None:
    html = host.page(host.client_for("1"))
    table = re.search(r'<section id="purposes-table".*?</section>', html, re.S).group(0)
    for text in ("Sales activities", "Registration for, and subsequent", "Anonymised industry benchmarks"):
        assert text in table
    assert "Mailer KK" in table
    assert "needs your consent: not answered yet" in table
    assert table.count("omep-yes") == 2 and table.count("omep-no") >= 1  # SNS data: not provided


def test_the_purposes_page_needs_sign_in_and_is_not_cached(host: Host) -> None:
    assert host.app.test_client().get(PAGE).status_code == 401  # this host has no login_view
    response = host.client_for("1").get(PAGE)
    assert response.headers["Cache-Control"] == "no-store"


def test_no_ask_when_the_host_added_no_purpose_on_direct_data(make: Any) -> None:
    host = make([BENCHMARK])
    html = host.page(host.client_for("1"))
    assert ask_section(html) == ""
    assert "No purpose needs your individual consent at the moment." in html


# --- granting and declining ------------------------------------------------------------------


def test_agreeing_makes_may_use_true_and_the_ask_disappears(host: Host) -> None:
    client = host.client_for("1")
    assert not host.may_use("1")
    response = host.decide(client, "grant")
    assert response.status_code == 303
    assert response.location.endswith(f"{PAGE}#consent-user_info.newsletter")
    assert host.may_use("1")
    html = host.page(client)
    assert ask_section(html) == ""
    decisions = decisions_section(html)
    assert "Sending a newsletter about career events" in decisions and "You agreed" in decisions
    assert ">Withdraw my consent<" in decisions
    assert "You agreed to: Sending a newsletter about career events." in html  # the flash


def test_declining_is_recorded_and_not_asked_again(host: Host) -> None:
    client = host.client_for("1")
    assert host.decide(client, "decline").status_code == 303
    assert not host.may_use("1")
    html = host.page(client)
    assert ask_section(html) == ""
    assert "You declined" in decisions_section(html) and ">Agree after all<" in html


def test_a_decision_can_be_changed_later(host: Host) -> None:
    client = host.client_for("1")
    host.decide(client, "grant")
    host.decide(client, "decline")
    assert not host.may_use("1")
    host.decide(client, "grant")
    assert host.may_use("1")
    assert [r.granted for r in host.consent_rows()] == [True, False, True]  # the history stays


def test_each_decision_leaves_an_audit_event_without_personal_data(host: Host) -> None:
    client = host.client_for("1")
    host.decide(client, "grant")
    host.decide(client, "decline")
    events = [e for e in host.audit_events() if e.action.startswith("consent.")]
    assert [e.action for e in events] == ["consent.granted", "consent.declined"]
    for event, row in zip(events, host.consent_rows(), strict=True):
        assert event.subject_user_id == "1" and event.actor_id == "1" and event.actor_role == "user"
        assert event.data == {
            "consent_id": row.id,
            "purpose_key": "user_info.newsletter",
            "purpose_version": 1,
        }


def test_a_double_click_records_one_decision(host: Host) -> None:
    client = host.client_for("1")
    host.decide(client, "grant")
    host.decide(client, "grant")
    assert len(host.consent_rows()) == 1


# --- a new wording asks again ----------------------------------------------------------------


@pytest.mark.postgres
def test_twenty_identical_posts_at_once_record_one_decision(host: Host) -> None:
    """A probe's 20 simultaneous identical POSTs made 10 rows and 10 events (issue 7, item 8)."""
    import threading

    clients = [host.client_for("1", language="en") for _ in range(20)]
    tokens = [extract_csrf_token(host.page(client)) for client in clients]
    barrier = threading.Barrier(len(clients))
    statuses: list[int] = []
    errors: list[BaseException] = []

    def post(client: Any, token: str) -> None:
        try:
            barrier.wait(timeout=30)
            response = client.post(DECIDE, data={"csrf_token": token, "decision": "grant", "version": 1})
            statuses.append(response.status_code)
        except BaseException as exc:  # surfaced below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=post, args=pair) for pair in zip(clients, tokens, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert statuses == [303] * 20
    assert len(host.consent_rows()) == 1
    assert [e.action for e in host.audit_events()] == ["consent.granted"]


@pytest.mark.postgres
def test_the_host_recording_the_same_consent_twice_at_once_records_it_once(host: Host) -> None:
    import threading

    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def record() -> None:
        try:
            with host.app.app_context():
                barrier.wait(timeout=30)
                record_decision(
                    host.db.session,
                    host.privacy.purposes,
                    user_id="1",
                    purpose_key="user_info.newsletter",
                    granted=False,
                    actor_role="host",
                )
                host.db.session.commit()
                host.db.session.remove()
        except BaseException as exc:  # surfaced below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=record) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert [(r.user_id, r.granted) for r in host.consent_rows()] == [("1", False)]
    assert [e.action for e in host.audit_events()] == ["consent.declined"]


def test_a_new_version_asks_again_and_says_the_wording_changed(make: Any) -> None:
    first = make()
    host_v1_client = first.client_for("1")
    first.decide(host_v1_client, "grant")
    assert first.may_use("1")

    second = make([{**NEWSLETTER, "version": 2, "text": "Newsletter about career events and partner offers"}])
    client = second.client_for("1")
    assert not second.may_use("1")
    ask = ask_section(second.page(client))
    assert "Newsletter about career events and partner offers" in ask
    assert "The wording of this purpose has changed since you agreed to it" in ask
    assert 'name="version" value="2"' in ask
    # The old decision is listed, without a button that would answer the new wording.
    decisions = decisions_section(second.page(client))
    assert "Wording version 1" in decisions and "please answer again above" in decisions
    assert "Withdraw my consent" not in decisions

    assert second.decide(client, "grant", version=2).status_code == 303
    assert second.may_use("1")
    assert ask_section(second.page(client)) == ""


def test_agreeing_to_a_wording_that_changed_meanwhile_records_nothing(make: Any) -> None:
    host = make([{**NEWSLETTER, "version": 2, "text": "New words"}])
    client = host.client_for("1")
    response = host.decide(client, "grant", version=1)  # the page the person read said version 1
    assert response.status_code == 303 and response.location.endswith("#consent-asks")
    assert host.consent_rows() == []
    assert "The wording of this purpose changed while you were reading it." in host.page(client)


# --- other people, forged and odd requests ---------------------------------------------------


def test_another_users_decisions_never_show(host: Host) -> None:
    host.decide(host.client_for("1"), "grant")
    html = host.page(host.client_for("2"))
    assert "Sending a newsletter about career events" in ask_section(html)
    assert "You agreed" not in html and "Withdraw my consent" not in html
    assert not host.may_use("2")


def test_a_post_without_the_csrf_token_is_refused_and_records_nothing(host: Host) -> None:
    client = host.client_for("1")
    response = client.post(DECIDE, data={"decision": "grant", "version": 1})
    assert response.status_code == 400
    response = client.post(DECIDE, data={"decision": "grant", "version": 1, "csrf_token": "forged"})
    assert response.status_code == 400
    assert host.consent_rows() == [] and not host.may_use("1")


def test_a_tampered_decision_is_refused(host: Host) -> None:
    client = host.client_for("1")
    token = extract_csrf_token(host.page(client))
    assert (
        client.post(DECIDE, data={"csrf_token": token, "decision": "maybe", "version": 1}).status_code == 400
    )
    assert host.consent_rows() == []


@pytest.mark.parametrize("key", ["user_info.sales", "org_service.benchmark", "nope"])
def test_only_consent_purposes_can_be_decided(host: Host, key: str) -> None:
    client = host.client_for("1")
    token = extract_csrf_token(host.page(client))
    url = f"/account/privacy/purposes/{key}/decision"
    assert client.post(url, data={"csrf_token": token, "decision": "grant", "version": 1}).status_code == 404


def test_deciding_needs_sign_in_and_a_post(host: Host) -> None:
    assert host.app.test_client().post(DECIDE, data={"decision": "grant"}).status_code == 401
    assert host.client_for("1").get(DECIDE).status_code == 405


# --- the overview ----------------------------------------------------------------------------


def test_the_overview_lists_pending_asks_with_links_until_answered(host: Host) -> None:
    client = host.client_for("1")
    html = host.page(client, "/account/privacy/")
    assert "1 request for your consent" in html
    assert 'href="/account/privacy/purposes#consent-user_info.newsletter"' in html
    host.decide(client, "decline")
    assert "request for your consent" not in host.page(client, "/account/privacy/")


# --- the host API ----------------------------------------------------------------------------


def test_may_use_follows_the_rules_for_each_kind_of_purpose(host: Host) -> None:
    assert host.may_use("1", "user_info.sales")
    assert host.may_use("1", "org_service.benchmark", today=date(2026, 9, 15))
    assert not host.may_use("1", "org_service.benchmark", today=date(2026, 9, 14))
    with pytest.raises(UnknownPurposeError):
        host.may_use("1", "user_info.newsleter")


def test_may_use_uses_the_host_time_zone_by_default(host: Host) -> None:
    host.decide(host.client_for("1"), "grant")
    with host.app.app_context():
        assert host.privacy.today() >= date(2026, 1, 1)
        assert host.privacy.may_use(Member(id="1"), "user_info.newsletter") == (
            host.privacy.today() >= date(2026, 10, 1)
        )


def test_a_consent_given_in_advance_applies_from_the_purposes_date(make: Any) -> None:
    later = (date.today() + timedelta(days=30)).isoformat()
    host = make([{**NEWSLETTER, "added_on": later}])
    client = host.client_for("1")
    assert "Would apply from" in ask_section(host.page(client))
    host.decide(client, "grant")
    assert not host.may_use("1", today=date.today())
    assert host.may_use("1", today=date.fromisoformat(later))


def test_the_host_can_record_a_consent_it_obtained_itself(host: Host) -> None:
    with host.app.app_context():
        host.privacy.record_consent(Member(id="2"), "user_info.newsletter", granted=True)
        host.db.session.commit()
        assert [e.actor_role for e in host.audit_events() if e.action == "consent.granted"] == ["host"]
    assert host.may_use("2")
    with host.app.app_context(), pytest.raises(ValueError, match="does not need individual consent"):
        host.privacy.record_consent(Member(id="2"), "org_service.benchmark", granted=True)


def test_users_who_may_use_filters_many_users_in_few_queries(host: Host) -> None:
    ids = list(range(1, 1201))
    with host.app.app_context():
        session = host.db.session
        for user_id in (3, 700, 1200):
            record_decision(
                session,
                host.privacy.purposes,
                user_id=str(user_id),
                purpose_key=NEWSLETTER["key"],
                granted=True,
            )
        record_decision(
            session, host.privacy.purposes, user_id="5", purpose_key=NEWSLETTER["key"], granted=False
        )
        session.commit()
        with host.count_queries() as queries:
            allowed = host.privacy.users_who_may_use("user_info.newsletter", ids, today=AFTER)
        assert allowed == {3, 700, 1200}  # ints in, ints out
        assert len(queries) == 4  # 1,200 ids in chunks of 500, then the 3 allowed checked for stops
        with host.count_queries() as queries:
            everyone = host.privacy.users_who_may_use("user_info.sales", ids, today=AFTER)
            nobody = host.privacy.users_who_may_use("org_service.benchmark", ids, today=date(2026, 1, 1))
        # No consent to look up: only the stops (APPI Art. 35), 500 ids a query; nobody allowed: none.
        assert everyone == set(ids) and nobody == set() and len(queries) == 3


def test_may_use_costs_two_queries_at_most(host: Host) -> None:
    with host.app.app_context():
        with host.count_queries() as queries:
            host.privacy.may_use(Member(id="1"), "user_info.sales", today=AFTER)
            host.privacy.may_use(Member(id="1"), "org_service.benchmark", today=AFTER)
        assert len(queries) == 2  # no consent to look up; one query each for a stop (APPI Art. 35)
        with host.count_queries() as queries:
            host.privacy.may_use(Member(id="1"), "user_info.newsletter", today=AFTER)
        assert len(queries) == 1


def test_pages_cost_the_same_queries_at_1_and_300_decisions(host: Host) -> None:
    client = host.client_for("1")

    def add_decisions(n: int) -> None:
        with host.app.app_context():
            for i in range(n):
                host.db.session.add(
                    ConsentRecord(
                        user_id="1", purpose_key=NEWSLETTER["key"], purpose_version=1, granted=i % 2 == 0
                    )
                )
            host.db.session.commit()

    def measure() -> tuple[int, int, int]:
        with host.app.app_context(), host.count_queries() as latest:
            latest_decisions(host.db.session, "1")
        with host.count_queries() as page:
            host.page(client)
        with host.count_queries() as overview:
            host.page(client, "/account/privacy/")
        return len(latest), len(page), len(overview)

    add_decisions(1)
    at_one = measure()
    add_decisions(299)
    at_300 = measure()
    assert at_one == at_300
    assert at_one[:2] == (1, 1)  # the latest decision per purpose, and the whole purposes page: one query


def test_decisions_on_purposes_the_host_removed_are_still_listed(host: Host) -> None:
    with host.app.app_context():
        host.db.session.add(
            ConsentRecord(user_id="1", purpose_key="gone.purpose", purpose_version=3, granted=True)
        )
        host.db.session.commit()
    html = host.page(host.client_for("1"))
    assert "A purpose we no longer use" in decisions_section(html)


def test_the_latest_decision_wins(host: Host) -> None:
    client = host.client_for("1")
    for decision in ("grant", "decline", "grant", "decline"):
        host.decide(client, decision)
    with host.app.app_context():
        [(key, latest)] = latest_decisions(host.db.session, "1").items()
    assert key == NEWSLETTER["key"] and latest.granted is False and latest.version == 1


# --- the same flow in the example site (its own CSRFProtect, sign-in form, layout) ------------


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    return {**app_config, "OME_PRIVACY_PURPOSES": [NEWSLETTER, BENCHMARK]}


def test_alice_answers_the_ask_in_the_example_site(seeded_app: Any, client: Any, login: Any) -> None:
    login(client, "alice@example.com")
    html = client.get(PAGE, headers=EN).get_data(as_text=True)
    assert "Sending a newsletter about career events" in ask_section(html)
    assert client.post(DECIDE, data={"decision": "grant", "version": 1}).status_code == 400
    token = extract_csrf_token(html)
    response = client.post(DECIDE, data={"csrf_token": token, "decision": "grant", "version": 1})
    assert response.status_code == 303
    assert ask_section(client.get(PAGE, headers=EN).get_data(as_text=True)) == ""
    from example_app.models import User, db

    with seeded_app.app_context():
        alice = db.session.scalar(sa.select(User).where(User.email == "alice@example.com"))
        privacy = seeded_app.extensions["ome_privacy"].extension
        assert privacy.may_use(alice, "user_info.newsletter", today=AFTER)
