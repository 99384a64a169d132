"""Policy Art. 2: the purposes register and its rules (pure, no Flask, no database)."""

from __future__ import annotations

from datetime import date

import pytest
from privacy_host import BENCHMARK as HOST_BENCHMARK
from privacy_host import NEWSLETTER

from flask_ome_privacy.purposes import (
    ChangeKind,
    ConsentDecision,
    ConsentRule,
    Processor,
    Purpose,
    PurposeRegister,
    UnknownPurposeError,
    consent_asks_for,
    in_effect,
    may_use,
    processors_for,
    purpose_from_mapping,
)

# The host's two added purposes; here the benchmark's date is a date, not a string: both are read.
BENCHMARK = {**HOST_BENCHMARK, "added_on": date(2026, 9, 15)}
BEFORE = date(2026, 9, 1)
AFTER = date(2026, 11, 1)


def register(*extra: dict) -> PurposeRegister:
    return PurposeRegister.from_defaults(extra or (NEWSLETTER, BENCHMARK))


# --- the defaults are the policy's Art. 2.1 table ------------------------------------------


def test_defaults_are_the_three_categories_of_the_policy_table() -> None:
    reg = PurposeRegister.from_defaults()
    assert list(reg.categories) == ["user_info", "sns", "org_service"]
    assert reg.category("user_info").obtained_directly
    assert not reg.category("sns").obtained_directly
    assert not reg.category("org_service").obtained_directly


def test_sns_data_is_the_one_category_not_provided_to_client_companies() -> None:
    reg = PurposeRegister.from_defaults()
    provided = {key: category.provided_to_clients for key, category in reg.categories.items()}
    assert provided == {"user_info": True, "sns": False, "org_service": True}


def test_default_purposes_are_the_policy_wording_and_need_nothing() -> None:
    reg = PurposeRegister.from_defaults()
    texts = {p.key: p.text for p in reg.purposes.values()}
    assert texts["user_info.sales"] == "Sales activities"
    assert texts["user_info.user_management"] == "User management"
    assert texts["user_info.advertising"] == "Advertising distribution"
    assert "sns.registration" in texts and "org_service.provision" in texts
    assert all(reg.rule_for(p) == ConsentRule.NONE for p in reg.purposes.values())
    assert reg.consent_asks() == [] and reg.change_history() == []


# --- what the host adds (OME_PRIVACY_PURPOSES) -----------------------------------------------


def test_a_purpose_added_to_directly_obtained_data_needs_each_persons_consent() -> None:
    reg = register()
    newsletter = reg.get("user_info.newsletter")
    assert newsletter.additional and newsletter.version == 1 and newsletter.added_on == date(2026, 10, 1)
    assert reg.rule_for(newsletter) == ConsentRule.INDIVIDUAL_CONSENT
    assert reg.consent_asks() == [newsletter]


def test_a_purpose_added_to_data_obtained_otherwise_is_published_instead() -> None:
    reg = register()
    assert reg.rule_for(reg.get("org_service.benchmark")) == ConsentRule.PUBLICATION
    assert reg.get("org_service.benchmark") not in reg.consent_asks()


def test_a_purpose_on_an_unknown_category_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown category 'profile'.*user_info"):
        register({**NEWSLETTER, "category": "profile"})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"added_on": None}, "added_on must be a date"),
        ({"added_on": "1 Oct 2026"}, "added_on must be a date"),
        ({"version": 0}, "version must be 1 or more"),
        ({"text": "  "}, "needs a text"),
        ({"label": "typo"}, "unknown field"),
    ],
)
def test_a_badly_configured_purpose_fails_at_start_up(change: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        purpose_from_mapping({**NEWSLETTER, **change})


def test_a_purpose_missing_its_date_names_what_is_missing() -> None:
    item = {k: v for k, v in NEWSLETTER.items() if k != "added_on"}
    with pytest.raises(ValueError, match="missing added_on"):
        purpose_from_mapping(item)


def test_rewording_a_purpose_needs_a_higher_version() -> None:
    with pytest.raises(ValueError, match="needs a higher version"):
        register(NEWSLETTER, {**NEWSLETTER, "text": "Other words"})
    reg = register(NEWSLETTER, {**NEWSLETTER, "text": "Other words", "version": 2})
    assert reg.get("user_info.newsletter").text == "Other words"


def test_an_unknown_purpose_key_is_an_error_not_a_silent_no() -> None:
    reg = register()
    with pytest.raises(UnknownPurposeError, match="user_info.newsleter.*user_info.newsletter"):
        reg.get("user_info.newsleter")
    assert issubclass(UnknownPurposeError, ValueError)
    with pytest.raises(UnknownPurposeError):
        may_use(reg, "user_info.newsleter", None, AFTER)


# --- may I use this person's data for purpose X? ---------------------------------------------


def test_baseline_purposes_may_always_be_used() -> None:
    assert may_use(register(), "user_info.sales", None, BEFORE)


def test_a_published_purpose_applies_from_the_day_it_was_added() -> None:
    reg = register()
    assert not may_use(reg, "org_service.benchmark", None, date(2026, 9, 14))
    assert may_use(reg, "org_service.benchmark", None, date(2026, 9, 15))


def test_a_consent_purpose_needs_a_grant_to_the_current_wording() -> None:
    reg = register()
    key = "user_info.newsletter"
    assert not may_use(reg, key, None, AFTER)
    assert not may_use(reg, key, ConsentDecision(key, 1, False), AFTER)
    assert may_use(reg, key, ConsentDecision(key, 1, True), AFTER)


def test_a_grant_to_an_older_wording_does_not_cover_the_new_one() -> None:
    reg = register({**NEWSLETTER, "version": 2, "text": "Newsletter and partner offers"})
    assert not may_use(reg, "user_info.newsletter", ConsentDecision("user_info.newsletter", 1, True), AFTER)
    assert may_use(reg, "user_info.newsletter", ConsentDecision("user_info.newsletter", 2, True), AFTER)


def test_a_consent_given_in_advance_applies_only_from_the_purposes_date() -> None:
    reg = register()
    grant = ConsentDecision("user_info.newsletter", 1, True)
    assert not may_use(reg, "user_info.newsletter", grant, BEFORE)
    assert may_use(reg, "user_info.newsletter", grant, date(2026, 10, 1))
    assert not in_effect(reg.get("user_info.newsletter"), BEFORE)
    assert in_effect(reg.get("user_info.sales"), date(1999, 1, 1))


# --- what to ask a person ------------------------------------------------------------------


def test_a_person_who_has_not_decided_is_asked() -> None:
    reg = register()
    asks = consent_asks_for(reg, {})
    assert [a.purpose.key for a in asks] == ["user_info.newsletter"]
    assert asks[0].category.key == "user_info" and not asks[0].wording_changed


@pytest.mark.parametrize("granted", [True, False])
def test_a_decision_on_the_current_wording_is_not_asked_again(granted: bool) -> None:
    decisions = {"user_info.newsletter": ConsentDecision("user_info.newsletter", 1, granted)}
    assert consent_asks_for(register(), decisions) == []


@pytest.mark.parametrize("granted", [True, False])
def test_after_a_rewording_everyone_is_asked_again_and_told_why(granted: bool) -> None:
    reg = register({**NEWSLETTER, "version": 2, "text": "Newsletter and partner offers"})
    previous = ConsentDecision("user_info.newsletter", 1, granted)
    [ask] = consent_asks_for(reg, {"user_info.newsletter": previous})
    assert ask.wording_changed and ask.previous == previous


# --- the public change history (Art. 2.2(2)) -------------------------------------------------


def test_change_history_lists_added_purposes_newest_first_with_how_they_apply() -> None:
    history = register().change_history()
    assert [(c.on, c.purpose.key, c.kind, c.rule) for c in history] == [
        (date(2026, 10, 1), "user_info.newsletter", ChangeKind.ADDED, ConsentRule.INDIVIDUAL_CONSENT),
        (date(2026, 9, 15), "org_service.benchmark", ChangeKind.ADDED, ConsentRule.PUBLICATION),
    ]


def test_a_reworded_purpose_appears_twice_when_the_host_dates_the_change() -> None:
    reg = register({**BENCHMARK, "version": 2, "changed_on": "2026-11-20", "text": "Benchmarks v2"})
    assert [(c.on, c.kind) for c in reg.change_history()] == [
        (date(2026, 11, 20), ChangeKind.REWORDED),
        (date(2026, 9, 15), ChangeKind.ADDED),
    ]


def test_purpose_objects_can_be_registered_directly() -> None:
    reg = PurposeRegister.from_defaults([Purpose("sns.friends", "sns", "Friend suggestions", 1, AFTER, True)])
    assert reg.rule_for(reg.get("sns.friends")) == ConsentRule.PUBLICATION


def test_processors_are_listed_per_category_by_name() -> None:
    config = {"user_info": ["Mailer KK", {"name": "Print Co.", "task": "mailing"}], "sns": []}
    assert processors_for(config, "user_info") == [Processor("Mailer KK"), Processor("Print Co.", "mailing")]
    assert processors_for(config, "sns") == []
    assert processors_for(None, "org_service") == []
