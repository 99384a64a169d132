"""The request decision as pure rules (policy Art. 4.2; APPI Arts. 32-37): items, grounds,
four-eyes, execution planning, the release gate, deficiency notices and what a request waits on.

Table tests: every kind against every verdict and ground, every status against the gates.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from babel.support import Translations

from flask_ome_privacy import decisions, deficiency, lifecycle
from flask_ome_privacy.decisions import (
    Approval,
    ApprovalError,
    Blocker,
    Decision,
    ItemDecision,
    ItemError,
    ItemKey,
    Outcome,
    PlannedReceipt,
    ReceiptKey,
    ReceiptState,
    RefusalGround,
    RequestFacts,
    TargetType,
    Verdict,
    approval_is_valid,
    approval_problems,
    derive_outcome,
    execution_blockers,
    grounds_for,
    missing_receipts,
    needs_approval,
    plan_execution,
    receipts_to_run,
    release_blockers,
    release_target,
    status_after_decision,
    validate_decision,
    validate_item,
)
from flask_ome_privacy.deficiency import (
    JST,
    MissingItem,
    NoticeError,
    answer_deadline,
    build_notice,
    validate_notice,
)
from flask_ome_privacy.lifecycle import (
    FeeStatus,
    RequestKind,
    Status,
    WaitingOn,
    clock_paused,
    may_withdraw,
    waiting_on,
)
from flask_ome_privacy.sources import Action, DataSource, Origin, Record, SourceField

K = RequestKind
G = RefusalGround
V = Verdict
PKG = Path(decisions.__file__).parent

# --- sources the planner sees ----------------------------------------------------------------


class FullSource(DataSource):
    """Direct data that can do everything itself."""

    key = "profile"
    label = "Profile"
    origin = Origin.DIRECT
    category = "user_info"
    fields = (SourceField("name", "Name"), SourceField("email", "Email"), SourceField("bio", "Bio"))
    actions = frozenset(
        {Action.COLLECT, Action.CORRECT, Action.ADD, Action.ERASE, Action.STOP_USE, Action.STOP_THIRD_PARTY}
    )

    def collect(self, user: Any) -> Iterator[Record]:
        yield Record("name", "x")

    def correct(self, user: Any, changes: Any) -> str:
        return "corrected"

    def add(self, user: Any, additions: Any) -> str:
        return "added"

    def erase(self, user: Any, fields: Iterable[str] | None = None) -> str:
        return "erased"

    def stop_use(self, user: Any) -> str:
        return "stopped"

    def stop_third_party(self, user: Any) -> str:
        return "stopped"


class UnlinkOnlySns(DataSource):
    """An SNS that can only unlink (which erases everything that came through it)."""

    key = "chatter"
    label = "Chatter"
    origin = Origin.SNS
    provider = "Chatter"
    category = "sns"
    fields = (SourceField("handle", "Handle"),)
    actions = frozenset({Action.COLLECT, Action.UNLINK})

    def collect(self, user: Any) -> Iterator[Record]:
        yield Record("handle", "x")

    def unlink(self, user: Any) -> str:
        return "unlinked"


class ReadOnlySource(DataSource):
    """Organisational data the site can show but not change itself."""

    key = "survey"
    label = "Survey"
    origin = Origin.ORG_SERVICE
    category = "org_service"
    fields = (SourceField("score", "Score"),)

    def collect(self, user: Any) -> Iterator[Record]:
        yield Record("score", 3)


SOURCES = {s.key: s for s in (FullSource(), UnlinkOnlySns(), ReadOnlySource())}
PROCESSORS = {
    "user_info": ["Mailer KK", {"name": "Print Co", "task": "prints letters"}],
    "sns": ["Mailer KK"],
}


def item(
    source: str = "profile", field: str | None = None, verdict: Verdict | str = V.GRANTED, **kw: Any
) -> ItemDecision:
    return ItemDecision(source, field, Verdict(verdict), **kw)


def refused(
    ground: RefusalGround | None, source: str = "profile", field: str | None = None, **kw: Any
) -> ItemDecision:
    return ItemDecision(source, field, V.REFUSED, ground=ground, **kw)


# --- grounds: which the law offers for which kind ------------------------------------------------

EXPECTED_GROUNDS = {
    K.NOTIFY_PURPOSE: [
        G.HARM_TO_PERSON_OR_THIRD_PARTY,
        G.PURPOSE_ALREADY_CLEAR,
        G.HARM_TO_BUSINESS_RIGHTS,
        G.STATE_AFFAIRS,
        G.IDENTITY_NOT_CONFIRMED,
        G.OTHER,
    ],
    K.DISCLOSE: [
        G.HARM_TO_PERSON_OR_THIRD_PARTY,
        G.BUSINESS_INTERFERENCE,
        G.VIOLATES_OTHER_LAWS,
        G.IDENTITY_NOT_CONFIRMED,
        G.OTHER,
    ],
    K.CORRECT: [G.DATA_ACCURATE, G.CONDITIONS_NOT_MET, G.IDENTITY_NOT_CONFIRMED, G.OTHER],
    K.ADD: [G.DATA_ACCURATE, G.CONDITIONS_NOT_MET, G.IDENTITY_NOT_CONFIRMED, G.OTHER],
    K.DELETE: [G.DATA_ACCURATE, G.CONDITIONS_NOT_MET, G.IDENTITY_NOT_CONFIRMED, G.OTHER],
    K.STOP_USE: [G.CONDITIONS_NOT_MET, G.IDENTITY_NOT_CONFIRMED, G.OTHER],
    K.ERASE: [G.CONDITIONS_NOT_MET, G.IDENTITY_NOT_CONFIRMED, G.OTHER],
    K.STOP_THIRD_PARTY: [G.CONDITIONS_NOT_MET, G.IDENTITY_NOT_CONFIRMED, G.OTHER],
}


@pytest.mark.parametrize("kind", list(RequestKind))
def test_disclosure_offers_the_three_grounds_of_art_33_2_and_each_kind_its_own(kind: RequestKind) -> None:
    assert grounds_for(kind) == EXPECTED_GROUNDS[kind]
    assert grounds_for(kind.value) == EXPECTED_GROUNDS[kind]


def test_disclosure_grounds_cite_art_33_2_items_i_to_iii() -> None:
    assert decisions.ground_article(K.DISCLOSE, G.HARM_TO_PERSON_OR_THIRD_PARTY) == "APPI Art. 33(2)(i)"
    assert decisions.ground_article(K.DISCLOSE, G.BUSINESS_INTERFERENCE) == "APPI Art. 33(2)(ii)"
    assert decisions.ground_article(K.DISCLOSE, G.VIOLATES_OTHER_LAWS) == "APPI Art. 33(2)(iii)"
    assert decisions.ground_article(K.STOP_THIRD_PARTY, G.CONDITIONS_NOT_MET).startswith("APPI Art. 35(3)")
    with pytest.raises(KeyError):
        decisions.ground_article(K.ERASE, G.BUSINESS_INTERFERENCE)


# --- one item: what can be saved -----------------------------------------------------------------


@pytest.mark.parametrize("kind", list(RequestKind))
@pytest.mark.parametrize("ground", list(RefusalGround))
def test_a_refusal_saves_only_with_a_ground_that_applies_to_the_kind(
    kind: RequestKind, ground: RefusalGround
) -> None:
    errors = validate_item(kind, refused(ground, explanation="Because the survey is anonymous."))
    assert errors == ([] if ground in EXPECTED_GROUNDS[kind] else [ItemError.GROUND_NOT_FOR_KIND])


@pytest.mark.parametrize("kind", list(RequestKind))
def test_a_refusal_without_a_reason_cannot_be_saved(kind: RequestKind) -> None:
    assert validate_item(kind, refused(None)) == [ItemError.REASON_MISSING]
    # Free text alone is not a ground: staff pick "another reason" and write it out.
    assert validate_item(kind, refused(None, explanation="We would rather not.")) == [
        ItemError.REASON_MISSING
    ]


@pytest.mark.parametrize("kind", list(RequestKind))
@pytest.mark.parametrize("text", ["", "   \n "])
def test_another_reason_must_be_written_out(kind: RequestKind, text: str) -> None:
    assert validate_item(kind, refused(G.OTHER, explanation=text)) == [ItemError.EXPLANATION_MISSING]
    assert validate_item(kind, refused(G.OTHER, explanation="A court order forbids it.")) == []


@pytest.mark.parametrize("kind", list(RequestKind))
def test_a_substitute_measure_only_for_art_35_kinds_and_it_must_say_what_it_is(kind: RequestKind) -> None:
    art_35 = kind in (K.STOP_USE, K.ERASE, K.STOP_THIRD_PARTY)
    described = item(verdict=V.SUBSTITUTE, substitute="Excluded from every mailing list.")
    assert validate_item(kind, described) == ([] if art_35 else [ItemError.SUBSTITUTE_NOT_FOR_KIND])
    blank = item(verdict=V.SUBSTITUTE, substitute="  ")
    assert validate_item(kind, blank) == (
        [ItemError.SUBSTITUTE_MISSING] if art_35 else [ItemError.SUBSTITUTE_NOT_FOR_KIND]
    )


@pytest.mark.parametrize("kind", list(RequestKind))
def test_we_hold_no_such_data_answers_every_kind_but_adding(kind: RequestKind) -> None:
    expected = [ItemError.NO_DATA_NOT_FOR_KIND] if kind is K.ADD else []
    assert validate_item(kind, item(verdict=V.NO_DATA)) == expected


@pytest.mark.parametrize("kind", list(RequestKind))
def test_granted_is_complete_and_undecided_is_not(kind: RequestKind) -> None:
    assert validate_item(kind, item(verdict=V.GRANTED)) == []
    assert validate_item(kind, item(verdict=V.UNDECIDED)) == [ItemError.UNDECIDED]


def test_overlong_text_is_refused_but_text_of_another_verdict_is_ignored() -> None:
    long = "x" * (decisions.MAX_TEXT_LENGTH + 1)
    assert validate_item(K.DISCLOSE, refused(G.OTHER, explanation=long)) == [ItemError.TEXT_TOO_LONG]
    assert validate_item(K.ERASE, item(verdict=V.SUBSTITUTE, substitute=long)) == [ItemError.TEXT_TOO_LONG]
    # Staff typed a reason, then switched to "grant": the reason is kept but not part of the decision.
    switched = item(verdict=V.GRANTED, ground=G.OTHER, explanation=long)
    assert validate_item(K.DISCLOSE, switched) == []
    assert switched.explanation == long
    assert switched.cleaned().ground is None and switched.cleaned().explanation == ""


def test_form_values_come_in_as_codes() -> None:
    from_form = ItemDecision("profile", "email", "refused", ground="violates_other_laws")
    assert from_form.verdict is V.REFUSED and from_form.ground is G.VIOLATES_OTHER_LAWS
    with pytest.raises(ValueError):
        ItemDecision("profile", None, "maybe")


# --- the whole decision ------------------------------------------------------------------------------

SCOPE = (ItemKey("profile", "email"), ItemKey("profile", "name"), ItemKey("chatter"))


def test_every_item_in_scope_must_be_decided_once_and_nothing_else() -> None:
    errors = validate_decision(
        K.DISCLOSE,
        SCOPE,
        [
            item("profile", "email"),
            refused(None, "profile", "name"),
            item("profile", "email", V.NO_DATA),
            item("survey"),
        ],
    )
    assert errors == {
        ItemKey("profile", "name"): [ItemError.REASON_MISSING],
        ItemKey("profile", "email"): [ItemError.DUPLICATE],
        ItemKey("survey"): [ItemError.NOT_IN_SCOPE],
        ItemKey("chatter"): [ItemError.UNDECIDED],
    }
    complete = [
        item("profile", "email"),
        refused(G.BUSINESS_INTERFERENCE, "profile", "name"),
        item("chatter"),
    ]
    assert validate_decision(K.DISCLOSE, SCOPE, complete) == {}


def test_every_error_has_a_message() -> None:
    for enum_type in (
        Verdict,
        RefusalGround,
        ItemError,
        Outcome,
        ApprovalError,
        Blocker,
        ReceiptState,
        NoticeError,
        WaitingOn,
    ):
        for member in enum_type:
            assert member.label, member


@pytest.mark.parametrize(
    ("verdicts", "outcome"),
    [
        ([], None),
        ([V.GRANTED, V.UNDECIDED], None),
        ([V.UNDECIDED], None),
        ([V.GRANTED], Outcome.APPROVED),
        ([V.GRANTED, V.GRANTED], Outcome.APPROVED),
        ([V.GRANTED, V.NO_DATA], Outcome.APPROVED),
        ([V.NO_DATA], Outcome.NO_DATA),
        ([V.NO_DATA, V.NO_DATA], Outcome.NO_DATA),
        ([V.REFUSED], Outcome.REFUSED),
        ([V.REFUSED, V.NO_DATA], Outcome.REFUSED),
        ([V.GRANTED, V.REFUSED], Outcome.PARTIALLY_APPROVED),
        ([V.GRANTED, V.SUBSTITUTE], Outcome.PARTIALLY_APPROVED),
        ([V.SUBSTITUTE], Outcome.PARTIALLY_APPROVED),
        ([V.SUBSTITUTE, V.REFUSED], Outcome.PARTIALLY_APPROVED),
        ([V.REFUSED, V.NO_DATA, V.GRANTED], Outcome.PARTIALLY_APPROVED),
    ],
)
def test_the_outcome_is_derived_from_the_items(verdicts: list[Verdict], outcome: Outcome | None) -> None:
    items = [item(f"s{i}", verdict=v) for i, v in enumerate(verdicts)]
    assert derive_outcome(items) is outcome
    assert Decision(K.DISCLOSE, tuple(items)).outcome is outcome


@pytest.mark.parametrize(
    ("outcome", "after_decision", "released_as"),
    [
        (Outcome.APPROVED, Status.APPROVED, Status.COMPLETED),
        (Outcome.PARTIALLY_APPROVED, Status.APPROVED, Status.COMPLETED),
        (Outcome.NO_DATA, Status.APPROVED, Status.COMPLETED),
        (Outcome.REFUSED, Status.REFUSED, Status.REFUSED),
    ],
)
def test_a_full_refusal_ends_the_request_anything_else_is_carried_out(
    outcome: Outcome, after_decision: Status, released_as: Status
) -> None:
    assert status_after_decision(outcome) is after_decision
    assert release_target(outcome) is released_as
    lifecycle.check_transition(Status.UNDER_REVIEW, after_decision)


# --- four-eyes --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(RequestKind))
@pytest.mark.parametrize("four_eyes", [True, False])
@pytest.mark.parametrize(
    ("verdicts", "carries_out"),
    [
        ([V.GRANTED], True),
        ([V.SUBSTITUTE], True),
        ([V.GRANTED, V.REFUSED], True),
        ([V.REFUSED], False),
        ([V.NO_DATA], False),
    ],
)
def test_delete_erase_and_stop_need_a_second_approval_when_something_is_carried_out(
    kind: RequestKind, four_eyes: bool, verdicts: list[Verdict], carries_out: bool
) -> None:
    decision = Decision(kind, tuple(item(f"s{i}", verdict=v) for i, v in enumerate(verdicts)), decided_by=1)
    irreversible = kind in (K.DELETE, K.ERASE, K.STOP_USE, K.STOP_THIRD_PARTY)
    assert needs_approval(decision, four_eyes=four_eyes) is (four_eyes and irreversible and carries_out)


ERASE_SCOPE = (ItemKey("profile"), ItemKey("chatter"))
ERASE_DECISION = Decision(K.ERASE, (item("profile"), item("chatter")), decided_by="staff-1")


def test_the_decider_cannot_approve_their_own_decision() -> None:
    assert approval_problems(ERASE_DECISION, ERASE_SCOPE, "staff-1") == [ApprovalError.OWN_DECISION]
    assert approval_problems(ERASE_DECISION, ERASE_SCOPE, "staff-2") == []


def test_nothing_to_approve_before_a_complete_decision_or_when_not_needed() -> None:
    half = replace(ERASE_DECISION, items=(item("profile"),))
    assert approval_problems(half, ERASE_SCOPE, "staff-2") == [ApprovalError.NOT_DECIDED]
    nobody = replace(ERASE_DECISION, decided_by=None)
    assert approval_problems(nobody, ERASE_SCOPE, "staff-2") == [ApprovalError.NOT_DECIDED]
    assert approval_problems(ERASE_DECISION, ERASE_SCOPE, "staff-2", four_eyes=False) == [
        ApprovalError.NOT_NEEDED
    ]
    disclosure = Decision(K.DISCLOSE, (item("profile"),), decided_by="staff-1")
    assert approval_problems(disclosure, (ItemKey("profile"),), "staff-2") == [ApprovalError.NOT_NEEDED]


def test_an_approval_covers_only_the_version_it_approved() -> None:
    approval = Approval("staff-2", ERASE_DECISION.fingerprint())
    assert approval_is_valid(ERASE_DECISION, approval)
    changed = replace(ERASE_DECISION, items=(item("profile"), refused(G.CONDITIONS_NOT_MET, "chatter")))
    assert changed.fingerprint() != ERASE_DECISION.fingerprint()
    assert not approval_is_valid(changed, approval)
    # Text that is not part of the decision (a reason typed on a granted item) changes nothing.
    retyped = replace(ERASE_DECISION, items=(item("profile", explanation="draft"), item("chatter")))
    assert retyped.fingerprint() == ERASE_DECISION.fingerprint()
    # The order items are listed in is not a change either.
    assert (
        replace(ERASE_DECISION, items=ERASE_DECISION.items[::-1]).fingerprint()
        == ERASE_DECISION.fingerprint()
    )
    assert not approval_is_valid(ERASE_DECISION, Approval("staff-1", ERASE_DECISION.fingerprint()))
    assert not approval_is_valid(ERASE_DECISION, None)


# --- execution planning -----------------------------------------------------------------------------


def src(target: str, action: Action) -> ReceiptKey:
    return ReceiptKey(TargetType.SOURCE, target, action)


def proc(target: str, action: Action) -> ReceiptKey:
    return ReceiptKey(TargetType.PROCESSOR, target, action)


def test_granted_fields_of_one_source_become_one_receipt() -> None:
    decision = Decision(
        K.CORRECT,
        (item("profile", "name"), item("profile", "email"), refused(G.DATA_ACCURATE, "profile", "bio")),
    )
    plan = plan_execution(decision, SOURCES, PROCESSORS)
    assert plan[0] == PlannedReceipt(src("profile", Action.CORRECT), ("email", "name"))
    assert plan[0].initial_state is ReceiptState.PENDING
    # Changing data: the category's outsourced processors are told by hand (policy Art. 1.5).
    assert [p.key for p in plan[1:]] == [proc("Mailer KK", Action.CORRECT), proc("Print Co", Action.CORRECT)]
    assert all(p.manual and p.checklist == decisions.PROCESSOR_CHECKLIST for p in plan[1:])


def test_one_whole_source_item_covers_all_its_fields() -> None:
    for items in [(item("profile", "name"), item("profile")), (item("profile"), item("profile", "name"))]:
        plan = plan_execution(Decision(K.STOP_USE, items), SOURCES)
        assert plan[0] == PlannedReceipt(src("profile", Action.STOP_USE), None)


@pytest.mark.parametrize("kind", list(RequestKind))
def test_each_kind_asks_each_source_for_its_action_or_a_manual_task(kind: RequestKind) -> None:
    action = lifecycle.KIND_ACTIONS[kind]
    decision = Decision(kind, (item("profile", "name"), item("survey")))
    plan = {p.key: p for p in plan_execution(decision, SOURCES)}
    assert not plan[src("profile", action)].manual
    survey = plan[src("survey", action)]
    if action is Action.COLLECT:
        assert not survey.manual
    else:
        assert survey.manual and survey.initial_state is ReceiptState.MANUAL
        assert survey.checklist == tuple(ReadOnlySource().manual_checklist(action))


def test_showing_what_is_held_involves_no_processor() -> None:
    for kind in (K.DISCLOSE, K.NOTIFY_PURPOSE):
        plan = plan_execution(Decision(kind, (item("profile"),)), SOURCES, PROCESSORS)
        assert [p.key for p in plan] == [src("profile", Action.COLLECT)]


def test_erasing_all_of_an_sns_that_can_only_unlink_unlinks_it() -> None:
    whole = plan_execution(Decision(K.DELETE, (item("chatter"),)), SOURCES)
    assert whole[0] == PlannedReceipt(src("chatter", Action.UNLINK), None)
    # One field cannot be unlinked: staff erase it by hand.
    one = plan_execution(Decision(K.ERASE, (item("chatter", "handle"),)), SOURCES)
    assert one[0].key == src("chatter", Action.ERASE) and one[0].manual and one[0].fields == ("handle",)


def test_processors_are_told_once_however_many_categories_name_them() -> None:
    decision = Decision(K.ERASE, (item("profile"), item("chatter")))
    plan = plan_execution(decision, SOURCES, PROCESSORS)
    assert [p.key for p in plan if p.key.target_type is TargetType.PROCESSOR] == [
        proc("Mailer KK", Action.ERASE),
        proc("Print Co", Action.ERASE),
    ]


def test_an_unregistered_source_and_a_substitute_measure_are_manual_tasks() -> None:
    decision = Decision(
        K.STOP_USE,
        (
            item("gone"),
            item("profile", verdict=V.SUBSTITUTE, substitute="Excluded from mailings."),
            item("profile", "bio", V.SUBSTITUTE, substitute="Hidden from search."),
        ),
    )
    plan = plan_execution(decision, SOURCES)
    assert plan == [
        PlannedReceipt(
            src("gone", Action.STOP_USE), None, manual=True, checklist=decisions.UNKNOWN_SOURCE_CHECKLIST
        ),
        PlannedReceipt(
            ReceiptKey(TargetType.SUBSTITUTE, "profile", Action.STOP_USE),
            manual=True,
            checklist=decisions.SUBSTITUTE_CHECKLIST,
            substitutes=("Excluded from mailings.", "Hidden from search."),
        ),
    ]


def test_refused_and_no_data_items_plan_nothing() -> None:
    decision = Decision(K.ERASE, (refused(G.CONDITIONS_NOT_MET), item("chatter", verdict=V.NO_DATA)))
    assert plan_execution(decision, SOURCES, PROCESSORS) == []


@pytest.mark.parametrize(
    ("state", "runs"),
    [
        (None, True),
        (ReceiptState.PENDING, True),
        (ReceiptState.FAILED, True),
        (ReceiptState.DONE, False),
        (ReceiptState.NOT_APPLICABLE, False),
        (ReceiptState.MANUAL, False),
    ],
)
def test_a_retry_never_redoes_what_succeeded(state: ReceiptState | None, runs: bool) -> None:
    planned = PlannedReceipt(src("profile", Action.ERASE))
    existing = {} if state is None else {planned.key: state}
    assert receipts_to_run([planned], existing) == ([planned] if runs else [])
    assert missing_receipts([planned], existing) == ([planned] if state is None else [])


def test_manual_tasks_are_never_run_only_created() -> None:
    manual = PlannedReceipt(proc("Mailer KK", Action.ERASE), manual=True)
    assert receipts_to_run([manual], {}) == []
    assert missing_receipts([manual], {}) == [manual]


# --- the gates --------------------------------------------------------------------------------------

DISCLOSE_SCOPE = (ItemKey("profile"),)
DISCLOSURE = Decision(K.DISCLOSE, (item("profile"),), decided_by=1)
COLLECTED = {src("profile", Action.COLLECT): ReceiptState.DONE}
READY = RequestFacts(
    Status.EXECUTING, FeeStatus.RECEIVED, True, DISCLOSURE, DISCLOSE_SCOPE, receipts=COLLECTED
)


def test_a_disclosure_with_everything_in_place_may_be_released() -> None:
    assert release_blockers(READY) == []
    assert release_blockers(replace(READY, fee_status=FeeStatus.WAIVED)) == []


@pytest.mark.parametrize(
    ("change", "blockers"),
    [
        ({"identity_verified": False}, [Blocker.IDENTITY_NOT_VERIFIED]),
        ({"fee_status": FeeStatus.OUTSTANDING}, [Blocker.FEE_OUTSTANDING]),
        ({"decision": replace(DISCLOSURE, items=())}, [Blocker.ITEM_UNDECIDED]),
        ({"decision": replace(DISCLOSURE, items=(item(verdict=V.UNDECIDED),))}, [Blocker.ITEM_UNDECIDED]),
        ({"decision": replace(DISCLOSURE, items=(refused(None),))}, [Blocker.DECISION_INCOMPLETE]),
        ({"receipts": {}}, [Blocker.EXECUTION_NOT_FINISHED]),
        (
            {"receipts": {src("profile", Action.COLLECT): ReceiptState.PENDING}},
            [Blocker.EXECUTION_NOT_FINISHED],
        ),
        ({"receipts": {src("profile", Action.COLLECT): ReceiptState.FAILED}}, [Blocker.EXECUTION_FAILED]),
        ({"receipts": {proc("x", Action.COLLECT): ReceiptState.MANUAL}}, [Blocker.MANUAL_TASK_OPEN]),
        ({"status": Status.APPROVED}, [Blocker.EXECUTION_NOT_FINISHED]),
        ({"status": Status.AWAITING_REQUESTER}, [Blocker.AWAITING_REQUESTER, Blocker.EXECUTION_NOT_FINISHED]),
        ({"status": Status.COMPLETED}, [Blocker.CLOSED]),
        ({"status": Status.WITHDRAWN, "fee_status": FeeStatus.OUTSTANDING}, [Blocker.CLOSED]),
        (
            {"identity_verified": False, "fee_status": FeeStatus.OUTSTANDING, "receipts": {}},
            [Blocker.IDENTITY_NOT_VERIFIED, Blocker.FEE_OUTSTANDING, Blocker.EXECUTION_NOT_FINISHED],
        ),
    ],
)
def test_release_blockers_name_every_reason(change: dict[str, Any], blockers: list[Blocker]) -> None:
    assert release_blockers(replace(READY, **change)) == blockers


ERASE_FACTS = RequestFacts(
    Status.EXECUTING,
    FeeStatus.NOT_REQUIRED,
    True,
    ERASE_DECISION,
    ERASE_SCOPE,
    approval=Approval("staff-2", ERASE_DECISION.fingerprint()),
    receipts={
        src("profile", Action.ERASE): ReceiptState.DONE,
        src("chatter", Action.UNLINK): ReceiptState.DONE,
    },
)


@pytest.mark.parametrize(
    ("change", "blockers"),
    [
        ({}, []),
        ({"approval": None}, [Blocker.APPROVAL_MISSING]),
        ({"approval": Approval("staff-1", ERASE_DECISION.fingerprint())}, [Blocker.APPROVAL_MISSING]),
        ({"approval": Approval("staff-2", "an older version")}, [Blocker.APPROVAL_OUTDATED]),
        ({"approval": None, "four_eyes": False}, []),
    ],
)
def test_an_erasure_is_released_only_with_a_second_staff_members_approval(
    change: dict[str, Any], blockers: list[Blocker]
) -> None:
    assert release_blockers(replace(ERASE_FACTS, **change)) == blockers
    before = replace(ERASE_FACTS, status=Status.UNDER_REVIEW, receipts={}, **change)
    assert execution_blockers(before) == blockers


def test_a_refusal_is_released_from_review_without_execution_but_still_after_the_fee() -> None:
    decision = Decision(K.DISCLOSE, (refused(G.BUSINESS_INTERFERENCE),), decided_by=1)
    facts = RequestFacts(Status.UNDER_REVIEW, FeeStatus.RECEIVED, True, decision, DISCLOSE_SCOPE)
    assert release_blockers(facts) == []
    assert release_blockers(replace(facts, fee_status=FeeStatus.OUTSTANDING)) == [Blocker.FEE_OUTSTANDING]
    # Nothing to carry out: a refusal never goes to "approved".
    assert execution_blockers(facts) == [Blocker.NOT_READY]


def test_refusing_because_identity_could_not_be_confirmed_needs_no_verified_identity() -> None:
    decision = Decision(
        K.ERASE,
        (refused(G.IDENTITY_NOT_CONFIRMED, "profile"), refused(G.IDENTITY_NOT_CONFIRMED, "chatter")),
        decided_by=1,
    )
    facts = RequestFacts(Status.IDENTITY_REVIEW, FeeStatus.NOT_REQUIRED, False, decision, ERASE_SCOPE)
    assert release_blockers(facts) == []
    # Any other refusal reveals what we hold or decided about the person: identity first.
    mixed = replace(
        decision,
        items=(refused(G.IDENTITY_NOT_CONFIRMED, "profile"), refused(G.CONDITIONS_NOT_MET, "chatter")),
    )
    assert release_blockers(replace(facts, decision=mixed)) == [Blocker.IDENTITY_NOT_VERIFIED]
    # Nor can it go out before anyone looked at the request.
    assert release_blockers(replace(facts, status=Status.SUBMITTED)) == [Blocker.NOT_READY]


def test_no_such_data_is_released_after_an_empty_execution() -> None:
    decision = Decision(K.DISCLOSE, (item(verdict=V.NO_DATA),), decided_by=1)
    facts = RequestFacts(Status.EXECUTING, FeeStatus.WAIVED, True, decision, DISCLOSE_SCOPE)
    assert release_blockers(facts) == []
    assert release_blockers(replace(facts, status=Status.APPROVED)) == [Blocker.NOT_READY]
    assert execution_blockers(replace(facts, status=Status.UNDER_REVIEW)) == []


@pytest.mark.parametrize("status", list(Status))
def test_execution_may_start_only_from_review_or_approved(status: Status) -> None:
    facts = replace(ERASE_FACTS, status=status, receipts={})
    blockers = execution_blockers(facts)
    if status in (Status.UNDER_REVIEW, Status.APPROVED):
        assert blockers == []
    elif not status.is_open:
        assert blockers == [Blocker.CLOSED]
    elif status is Status.AWAITING_REQUESTER:
        assert blockers == [Blocker.AWAITING_REQUESTER]
    else:
        assert blockers == [Blocker.NOT_READY]


def test_the_fee_never_blocks_execution() -> None:
    facts = replace(READY, status=Status.APPROVED, fee_status=FeeStatus.OUTSTANDING, receipts={})
    assert execution_blockers(facts) == []
    assert Blocker.FEE_OUTSTANDING in release_blockers(facts)


# --- deficiency notices -------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """A checklist item as the documents module hands it over (any object with code and message)."""

    code: str
    message: str


CHECKLIST = (
    Check("identity_document", "A copy of an identity document"),
    Check("seal_certificate", "Seal registration certificate"),
    Check("power_of_attorney", "Power of attorney"),
)
# 16:30 in Tokyo on 1 December 2026.
ISSUED = datetime(2026, 12, 1, 7, 30, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("chosen", "text", "errors"),
    [
        ([], "", [NoticeError.NOTHING_MISSING]),
        ([], "  ", [NoticeError.NOTHING_MISSING]),
        (["seal_certificate"], "", []),
        ([], "The copy of your licence is unreadable.", []),
        (["seal_certificate", "identity_document"], "Both sides, please.", []),
        (["passport"], "", [NoticeError.UNKNOWN_ITEM]),
        ([], "x" * 2001, [NoticeError.TEXT_TOO_LONG]),
    ],
)
def test_a_notice_names_what_is_missing_from_the_checklist_or_in_words(
    chosen: list[str], text: str, errors: list[NoticeError]
) -> None:
    assert validate_notice(CHECKLIST, chosen, text) == errors


def test_the_notice_says_exactly_what_in_checklist_order_and_by_which_date() -> None:
    notice = build_notice(
        CHECKLIST, ["power_of_attorney", "identity_document"], " Signed, please. ", ISSUED, 14
    )
    assert notice.items == (
        MissingItem("identity_document", "A copy of an identity document"),
        MissingItem("power_of_attorney", "Power of attorney"),
    )
    assert notice.text == "Signed, please."
    assert notice.answer_by == date(2026, 12, 15)
    with pytest.raises(ValueError, match="nothing_missing"):
        build_notice(CHECKLIST, [], "", ISSUED, 14)


@pytest.mark.parametrize(
    ("issued", "answer_by"),
    [
        (datetime(2026, 12, 1, 14, 59, tzinfo=timezone.utc), date(2026, 12, 15)),  # 23:59 in Tokyo
        (datetime(2026, 12, 1, 15, 0, tzinfo=timezone.utc), date(2026, 12, 16)),  # already 2 Dec there
        (datetime(2026, 11, 30, 15, 0, tzinfo=timezone.utc), date(2026, 12, 15)),
    ],
)
def test_the_answer_date_counts_days_in_japan(issued: datetime, answer_by: date) -> None:
    expires_at = datetime.combine(answer_by + timedelta(days=1), time(0), tzinfo=JST)
    assert answer_deadline(issued, 14) == (answer_by, expires_at)


def test_the_notice_expires_only_after_the_whole_answer_date() -> None:
    notice = build_notice(CHECKLIST, ["seal_certificate"], "", ISSUED, 14)
    last_minute = datetime(2026, 12, 15, 23, 59, tzinfo=JST)
    assert not notice.is_expired(last_minute)
    assert notice.days_left(last_minute) == 0
    assert notice.is_expired(datetime(2026, 12, 16, 0, 0, tzinfo=JST))
    assert notice.days_left(datetime(2026, 12, 17, 9, 0, tzinfo=JST)) == -2
    assert notice.days_left(ISSUED) == 14


def test_an_answered_notice_never_expires_and_the_first_answer_counts() -> None:
    notice = build_notice(CHECKLIST, ["seal_certificate"], "", ISSUED, 14)
    answered = notice.answered(ISSUED + timedelta(days=3))
    assert not answered.is_expired(ISSUED + timedelta(days=60))
    assert answered.answered(ISSUED + timedelta(days=5)).answered_at == ISSUED + timedelta(days=3)


def test_times_without_a_zone_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        answer_deadline(datetime(2026, 12, 1, 9, 0), 14)
    with pytest.raises(ValueError, match="at least 1"):
        answer_deadline(ISSUED, 0)
    notice = build_notice(CHECKLIST, ["seal_certificate"], "", ISSUED, 14)
    with pytest.raises(ValueError, match="timezone-aware"):
        notice.is_expired(datetime(2026, 12, 20))


# --- what the requester may do and what a request waits on ---------------------------------------


@pytest.mark.parametrize("status", list(Status))
def test_a_request_may_be_withdrawn_until_execution_begins(status: Status) -> None:
    before_execution = status in (
        Status.SUBMITTED,
        Status.IDENTITY_REVIEW,
        Status.AWAITING_REQUESTER,
        Status.UNDER_REVIEW,
        Status.APPROVED,
    )
    assert may_withdraw(status) is before_execution
    assert may_withdraw(status.value) is before_execution
    assert clock_paused(status) is (status is Status.AWAITING_REQUESTER)


R, F, REV, APP, EX = (
    WaitingOn.REQUESTER,
    WaitingOn.FEE,
    WaitingOn.REVIEW,
    WaitingOn.APPROVAL,
    WaitingOn.EXECUTION,
)


@pytest.mark.parametrize(
    ("status", "fee", "approval_missing", "expected"),
    [
        (Status.SUBMITTED, FeeStatus.OUTSTANDING, False, (F, REV)),
        (Status.SUBMITTED, FeeStatus.NOT_REQUIRED, False, (REV,)),
        (Status.IDENTITY_REVIEW, FeeStatus.RECEIVED, False, (REV,)),
        (Status.AWAITING_REQUESTER, FeeStatus.OUTSTANDING, False, (R, F)),
        (Status.AWAITING_REQUESTER, FeeStatus.WAIVED, False, (R,)),
        (Status.UNDER_REVIEW, FeeStatus.OUTSTANDING, False, (F, REV)),
        (Status.UNDER_REVIEW, FeeStatus.NOT_REQUIRED, True, (APP,)),
        (Status.APPROVED, FeeStatus.NOT_REQUIRED, True, (APP,)),
        (Status.APPROVED, FeeStatus.OUTSTANDING, False, (F, EX)),
        (Status.EXECUTING, FeeStatus.NOT_REQUIRED, False, (EX,)),
        (Status.COMPLETED, FeeStatus.OUTSTANDING, False, ()),
        (Status.WITHDRAWN, FeeStatus.OUTSTANDING, False, ()),
        (Status.REFUSED, FeeStatus.RECEIVED, False, ()),
        (Status.CLOSED_INCOMPLETE, FeeStatus.OUTSTANDING, False, ()),
    ],
)
def test_a_request_says_what_it_waits_on_and_from_whom(
    status: Status, fee: FeeStatus, approval_missing: bool, expected: tuple[WaitingOn, ...]
) -> None:
    waits = waiting_on(status, fee, approval_missing=approval_missing)
    assert waits == expected
    assert [w for w in waits if w.on_requester] == [w for w in expected if w in (R, F)]


# --- every message the requester or staff read exists in Japanese ----------------------------------

NEW_LABEL_TABLES = [
    decisions.VERDICT_LABELS,
    decisions.GROUND_LABELS,
    decisions.ITEM_ERROR_LABELS,
    decisions.OUTCOME_LABELS,
    decisions.APPROVAL_ERROR_LABELS,
    decisions.RECEIPT_STATE_LABELS,
    decisions.BLOCKER_LABELS,
    deficiency.NOTICE_ERROR_LABELS,
    lifecycle.WAITING_ON_LABELS,
]
NEW_CHECKLISTS = [
    decisions.UNKNOWN_SOURCE_CHECKLIST,
    decisions.SUBSTITUTE_CHECKLIST,
    decisions.PROCESSOR_CHECKLIST,
]


def test_every_decision_message_reads_in_japanese() -> None:
    catalog = Translations.load(str(PKG / "translations"), ["ja"], domain="ome_privacy")
    messages = [m for table in NEW_LABEL_TABLES for m in table.values()]
    messages += [m for checklist in NEW_CHECKLISTS for m in checklist]
    untranslated = [m for m in messages if catalog.gettext(m) == m]
    assert untranslated == []
