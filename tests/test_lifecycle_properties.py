"""Random days at the desk: whatever staff and the requester do, in whatever order, the rules hold.

A small pure model of one request (status, fee, identity, decision, approval, receipts) is
driven by hypothesis through random sequences of staff and requester actions. The model
plays a careful desk: every move goes through ``lifecycle.check_transition`` and every
gate is asked before acting (``execution_blockers``, ``release_blockers``,
``approval_problems``, ``receipts_to_run``). The invariants are written out on their own,
not through those functions, so a gate that forgets a condition is caught:

* a result is never released before the fee is settled, identity is verified and — for
  delete, erase, stop using, stop provision — a second staff member approved that very
  decision, nor before everything it carries out is done;
* nothing is carried out before that approval;
* no receipt is run again once it is done;
* a closed request never moves again, and a request is never withdrawn once executing.

Runs a few hundred random sequences in seconds; with ``CI=true`` the examples are
derandomized (the same every run) so CI never flakes on a new seed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from flask_ome_privacy.decisions import (
    APPROVAL_KINDS,
    NO_DATA_KINDS,
    SUBSTITUTE_KINDS,
    Approval,
    Decision,
    ItemDecision,
    ItemKey,
    Outcome,
    PlannedReceipt,
    ReceiptKey,
    ReceiptState,
    RefusalGround,
    RequestFacts,
    TargetType,
    Verdict,
    approval_problems,
    derive_outcome,
    execution_blockers,
    grounds_for,
    needs_approval,
    plan_execution,
    receipts_to_run,
    release_blockers,
    release_target,
    status_after_decision,
    validate_decision,
)
from flask_ome_privacy.lifecycle import (
    CLOSED_STATUSES,
    FeeStatus,
    RequestKind,
    Status,
    TransitionError,
    check_transition,
    initial_fee_status,
    may_withdraw,
)
from flask_ome_privacy.sources import Action, DataSource, Origin, Record, SourceField

IN_CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")
PROFILE = settings(
    max_examples=120,
    stateful_step_count=40,
    derandomize=IN_CI,
    database=None if IN_CI else settings.default.database,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


class ProfileSource(DataSource):
    """Can do everything itself."""

    key = "profile"
    label = "Profile"
    origin = Origin.DIRECT
    category = "user_info"
    fields = (SourceField("name", "Name"), SourceField("email", "Email"))
    actions = frozenset(
        {Action.COLLECT, Action.CORRECT, Action.ADD, Action.ERASE, Action.STOP_USE, Action.STOP_THIRD_PARTY}
    )

    def collect(self, user: Any) -> Iterator[Record]:
        yield Record("name", "x")

    def correct(self, user: Any, changes: Any) -> str:
        return "done"

    def add(self, user: Any, additions: Any) -> str:
        return "done"

    def erase(self, user: Any, fields: Iterable[str] | None = None) -> str:
        return "done"

    def stop_use(self, user: Any) -> str:
        return "done"

    def stop_third_party(self, user: Any) -> str:
        return "done"


class SurveySource(DataSource):
    """Can only show what it holds: everything else is a manual task."""

    key = "survey"
    label = "Survey"
    origin = Origin.ORG_SERVICE
    category = "org_service"
    fields = (SourceField("score", "Score"),)

    def collect(self, user: Any) -> Iterator[Record]:
        yield Record("score", 1)


SOURCES = {source.key: source for source in (ProfileSource(), SurveySource())}
PROCESSORS = {"user_info": ["Mailer KK"]}
SCOPE = (ItemKey("profile", "name"), ItemKey("profile", "email"), ItemKey("survey"))
STAFF = ("aiko", "ben", "chie")

verdicts = st.sampled_from(list(Verdict))
grounds = st.one_of(st.none(), st.sampled_from(list(RefusalGround)))
texts = st.sampled_from(["", "Excluded from every mailing.", "A court order forbids it."])
items = st.tuples(verdicts, grounds, texts, texts)
staff = st.sampled_from(STAFF)
results = st.sampled_from(["done", "failed", "not_applicable"])
settled = st.sampled_from([FeeStatus.RECEIVED, FeeStatus.WAIVED])


@st.composite
def valid_decisions(draw: st.DrawFn, kind: RequestKind) -> tuple[ItemDecision, ...]:
    """Items as a careful staff member fills them in: a ground the kind allows, text where needed."""
    styles = ["identity", "identity and more", "refused", "any", "any", "any", "carry out", "carry out"]
    style = draw(st.sampled_from(styles))
    if style == "identity":
        # Nobody could be identified: every item refused on that ground alone.
        return tuple(
            ItemDecision(key.source, key.field, Verdict.REFUSED, ground=RefusalGround.IDENTITY_NOT_CONFIRMED)
            for key in SCOPE
        )
    allowed = [Verdict.GRANTED, Verdict.REFUSED]
    allowed += [Verdict.SUBSTITUTE] if kind in SUBSTITUTE_KINDS else []
    allowed += [Verdict.NO_DATA] if kind in NO_DATA_KINDS else []
    choices = {
        "refused": [Verdict.REFUSED],
        "identity and more": [Verdict.REFUSED],
        "carry out": [v for v in allowed if v is not Verdict.REFUSED],
    }.get(style, allowed)
    decided = []
    for key in SCOPE:
        verdict = draw(st.sampled_from(choices))
        ground = draw(st.sampled_from(grounds_for(kind))) if verdict is Verdict.REFUSED else None
        if style == "identity and more" and key == SCOPE[0]:
            # Identity could not be confirmed for this part; the rest is refused on any ground.
            ground = RefusalGround.IDENTITY_NOT_CONFIRMED
        decided.append(
            ItemDecision(
                key.source,
                key.field,
                verdict,
                ground=ground,
                explanation="A court order forbids it.",
                substitute="Excluded from every mailing.",
            )
        )
    return tuple(decided)


@dataclass(frozen=True)
class Release:
    """What was true at the moment a result went out (checked by the invariants)."""

    fee: FeeStatus
    identity_verified: bool
    decision: Decision
    approval: Approval | None
    receipts: dict[ReceiptKey, ReceiptState]
    plan: tuple[PlannedReceipt, ...]


class Desk(RuleBasedStateMachine):
    """One request worked by three staff members and its requester."""

    def __init__(self) -> None:
        super().__init__()
        self.kind = RequestKind.DISCLOSE
        self.four_eyes = True
        self.status = Status.SUBMITTED
        self.fee = FeeStatus.OUTSTANDING
        self.identity_verified = False
        self.decision = Decision(self.kind)
        self.approval: Approval | None = None
        self.plan: tuple[PlannedReceipt, ...] = ()
        self.receipts: dict[ReceiptKey, ReceiptState] = {}
        self.runs_after_done = 0
        self.history: list[tuple[Status, Status]] = []
        self.executed_with: Release | None = None
        self.released: Release | None = None

    # --- the one way the model moves ------------------------------------------------------

    def move(self, target: Status) -> bool:
        try:
            check_transition(self.status, target)
        except TransitionError:
            return False
        self.history.append((self.status, target))
        self.status = target
        return True

    def facts(self) -> RequestFacts:
        return RequestFacts(
            self.status,
            self.fee,
            self.identity_verified,
            self.decision,
            SCOPE,
            approval=self.approval,
            receipts=dict(self.receipts),
            four_eyes=self.four_eyes,
        )

    def snapshot(self) -> Release:
        return Release(
            self.fee, self.identity_verified, self.decision, self.approval, dict(self.receipts), self.plan
        )

    # --- the request arrives ---------------------------------------------------------------

    #: The kinds and four-eyes settings this desk draws from (a subclass narrows them).
    KINDS: tuple[RequestKind, ...] = tuple(RequestKind)
    FOUR_EYES: tuple[bool, ...] = (True, False)

    @initialize(data=st.data())
    def arrive(self, data: st.DataObject) -> None:
        self.kind = data.draw(st.sampled_from(self.KINDS))
        self.four_eyes = data.draw(st.sampled_from(self.FOUR_EYES))
        self.fee = initial_fee_status(self.kind)
        self.decision = Decision(self.kind)

    # --- the requester ---------------------------------------------------------------------

    @rule()
    def requester_answers(self) -> None:
        if self.status is Status.AWAITING_REQUESTER:
            assert self.move(Status.UNDER_REVIEW if self.identity_verified else Status.IDENTITY_REVIEW)

    @rule(changes_mind=st.integers(min_value=0, max_value=5))
    def requester_withdraws(self, changes_mind: int) -> None:
        # Most people who look at their request do not withdraw it (one in six here), so that
        # random days still reach the later steps.
        if changes_mind == 0:
            allowed = may_withdraw(self.status)
            assert self.move(Status.WITHDRAWN) is allowed

    @rule(how=settled)
    def fee_settled(self, how: FeeStatus) -> None:
        if self.fee is FeeStatus.OUTSTANDING and self.status.is_open:
            self.fee = how

    # --- staff -----------------------------------------------------------------------------

    @rule()
    def staff_opens(self) -> None:
        self.move(Status.IDENTITY_REVIEW)

    @rule()
    def staff_verifies_identity(self) -> None:
        if self.status is Status.IDENTITY_REVIEW:
            self.identity_verified = True

    @rule()
    def staff_starts_review(self) -> None:
        if self.identity_verified:
            self.move(Status.UNDER_REVIEW)

    @rule()
    def staff_asks_for_what_is_missing(self) -> None:
        self.move(Status.AWAITING_REQUESTER)

    @rule(days=st.integers(min_value=0, max_value=3))
    def answer_deadline_passes(self, days: int) -> None:
        if days == 0:
            self.move(Status.CLOSED_INCOMPLETE)

    @rule(staff=staff, answers=st.lists(items, min_size=len(SCOPE), max_size=len(SCOPE)))
    def staff_decides(
        self, staff: str, answers: list[tuple[Verdict, RefusalGround | None, str, str]]
    ) -> None:
        # Items are decided (and changed) while the request is reviewed, also while the
        # identity check is on (a refusal because identity could not be confirmed).
        if self.status not in (Status.IDENTITY_REVIEW, Status.UNDER_REVIEW):
            return
        decided = tuple(
            ItemDecision(key.source, key.field, verdict, ground=ground, explanation=why, substitute=what)
            for key, (verdict, ground, why, what) in zip(SCOPE, answers, strict=True)
        )
        # The approval row stays: the gates must see that it covers an older version.
        self.decision = Decision(self.kind, decided, decided_by=staff)

    @rule(staff=staff)
    def staff_approves(self, staff: str) -> None:
        if self.status in (Status.UNDER_REVIEW, Status.APPROVED) and not approval_problems(
            self.decision, SCOPE, staff, four_eyes=self.four_eyes
        ):
            self.approval = Approval(staff, self.decision.fingerprint())

    @rule()
    def staff_concludes_review(self) -> None:
        outcome = self.decision.outcome
        if outcome is None:
            return
        target = status_after_decision(outcome)
        if target is Status.REFUSED:
            if not release_blockers(self.facts()):
                snapshot = self.snapshot()
                assert self.move(Status.REFUSED)
                self.released = snapshot
                event("released refused")
        elif not execution_blockers(self.facts()):
            self.move(Status.APPROVED)

    @rule()
    def staff_sends_back(self) -> None:
        """The approver disagrees, or new facts came in: approved goes back to review and the
        approval is cleared (request_decisions.send_back); the decision stays as a draft."""
        if self.status is Status.APPROVED:
            assert self.move(Status.UNDER_REVIEW)
            self.approval = None
            event("sent back")

    @rule()
    def staff_starts_execution(self) -> None:
        if self.status is not Status.APPROVED or execution_blockers(self.facts()):
            return
        snapshot = self.snapshot()
        assert self.move(Status.EXECUTING)
        self.executed_with = snapshot
        event("four-eyes execution" if self.approval and self.kind in APPROVAL_KINDS else "execution")
        self.plan = tuple(plan_execution(self.decision, SOURCES, PROCESSORS))
        for planned in self.plan:
            self.receipts.setdefault(planned.key, planned.initial_state)

    @rule(results=st.lists(results, min_size=1, max_size=4))
    def run_or_retry(self, results: list[str]) -> None:
        if self.status is not Status.EXECUTING:
            return
        for planned, result in zip(receipts_to_run(self.plan, self.receipts), results * 4, strict=False):
            if self.receipts.get(planned.key) is ReceiptState.DONE:
                self.runs_after_done += 1
            self.receipts[planned.key] = ReceiptState(result)

    @rule()
    def staff_ticks_a_manual_task(self) -> None:
        open_tasks = [key for key, state in self.receipts.items() if state is ReceiptState.MANUAL]
        if open_tasks:
            self.receipts[open_tasks[0]] = ReceiptState.DONE

    @rule()
    def staff_releases(self) -> None:
        outcome = self.decision.outcome
        if outcome is None or release_blockers(self.facts()):
            return
        snapshot = self.snapshot()
        assert self.move(release_target(outcome))
        self.released = snapshot
        event(f"released {outcome.value}")

    @rule(data=st.data(), steps=st.integers(min_value=1, max_value=20))
    def staff_works_the_request(self, data: st.DataObject, steps: int) -> None:
        """A run of next steps, so random days also get far; each step may also go a wrong way
        (refuse before identity is verified, change the decision after its approval, release
        with the fee still outstanding), which the gates must stop."""
        for _ in range(steps):
            detour = data.draw(st.integers(min_value=0, max_value=3)) == 0
            needs_second = needs_approval(self.decision, four_eyes=self.four_eyes)
            if self.status is Status.SUBMITTED:
                self.staff_opens()
            elif self.status is Status.IDENTITY_REVIEW and data.draw(st.booleans()):
                # Decide before identity is verified, and try to send it out.
                self.decision = Decision(self.kind, data.draw(valid_decisions(self.kind)), data.draw(staff))
                if data.draw(st.booleans()):
                    self.fee_settled(data.draw(settled))
                self.staff_concludes_review()
            elif self.status is Status.IDENTITY_REVIEW:
                self.staff_verifies_identity()
                self.staff_starts_review()
            elif self.status is Status.AWAITING_REQUESTER:
                self.requester_answers()
            elif self.status is Status.UNDER_REVIEW and (self.decision.outcome is None or detour):
                # Decide, or change one's mind (also after an approval), and go straight on.
                self.decision = Decision(self.kind, data.draw(valid_decisions(self.kind)), data.draw(staff))
                if detour:
                    self.staff_concludes_review()
                    self.staff_starts_execution()
            elif self.status is Status.UNDER_REVIEW and needs_second and self.approval is None:
                self.staff_approves(data.draw(staff))
                if data.draw(st.booleans()):
                    # The decider changes the decision after the approval and goes straight on.
                    self.decision = Decision(
                        self.kind, data.draw(valid_decisions(self.kind)), self.decision.decided_by
                    )
                    event("changed after approval")
                    self.staff_concludes_review()
                    self.staff_starts_execution()
            elif self.status in (Status.UNDER_REVIEW, Status.APPROVED):
                if self.approval is not None and self.approval.fingerprint != self.decision.fingerprint():
                    self.staff_approves(data.draw(staff))
                self.staff_concludes_review()
                if data.draw(st.integers(min_value=0, max_value=4)) == 0:
                    # The approver disagrees, or new facts came in: back to review.
                    self.staff_sends_back()
                self.staff_starts_execution()
            elif self.status is Status.EXECUTING:
                self.run_or_retry(data.draw(st.lists(results, min_size=1, max_size=3)))
                self.staff_ticks_a_manual_task()
                if data.draw(st.booleans()):
                    self.fee_settled(data.draw(settled))
                self.staff_releases()
            if detour:
                self.staff_releases()

    # --- what must always hold -------------------------------------------------------------

    def approved_by_someone_else(self, state: Release) -> bool:
        approval = state.approval
        return (
            approval is not None
            and approval.approver != state.decision.decided_by
            and approval.fingerprint == state.decision.fingerprint()
        )

    def something_carried_out(self, decision: Decision) -> bool:
        return any(item.verdict in (Verdict.GRANTED, Verdict.SUBSTITUTE) for item in decision.items)

    @invariant()
    def released_only_when_everything_allows_it(self) -> None:
        state = self.released
        if state is None:
            return
        assert self.status in (Status.COMPLETED, Status.REFUSED)
        assert state.fee is not FeeStatus.OUTSTANDING
        decided = [item.cleaned() for item in state.decision.items]
        assert {item.key for item in decided} == set(SCOPE)
        assert all(item.verdict is not Verdict.UNDECIDED for item in decided)
        assert all(item.ground is not None for item in decided if item.verdict is Verdict.REFUSED)
        assert validate_decision(self.kind, SCOPE, state.decision.items) == {}
        identity_refusal = all(
            item.verdict is Verdict.REFUSED and item.ground is RefusalGround.IDENTITY_NOT_CONFIRMED
            for item in decided
        )
        assert state.identity_verified or identity_refusal
        if self.four_eyes and self.kind in APPROVAL_KINDS and self.something_carried_out(state.decision):
            assert self.approved_by_someone_else(state)
        if self.something_carried_out(state.decision):
            assert state.plan, "released before anything was carried out"
            assert all(
                state.receipts[p.key] in (ReceiptState.DONE, ReceiptState.NOT_APPLICABLE) for p in state.plan
            )
        if derive_outcome(state.decision.items) is not None and self.status is Status.REFUSED:
            assert not self.something_carried_out(state.decision)

    @invariant()
    def carried_out_only_after_identity_and_approval(self) -> None:
        state = self.executed_with
        if state is None:
            return
        assert state.identity_verified
        assert self.something_carried_out(state.decision) or all(
            item.verdict is Verdict.NO_DATA for item in state.decision.items
        )
        if self.four_eyes and self.kind in APPROVAL_KINDS and self.something_carried_out(state.decision):
            assert self.approved_by_someone_else(state)
        # The decision carried out is the decision released: nobody changes it mid-way.
        if self.released is not None:
            assert self.released.decision == state.decision

    @invariant()
    def nothing_runs_twice(self) -> None:
        assert self.runs_after_done == 0

    @invariant()
    def closed_stays_closed_and_executing_is_never_withdrawn(self) -> None:
        assert all(before not in CLOSED_STATUSES for before, _ in self.history)
        assert (Status.EXECUTING, Status.WITHDRAWN) not in self.history
        assert all(before is Status.APPROVED for before, after in self.history if after is Status.EXECUTING)
        assert all(before is Status.EXECUTING for before, after in self.history if after is Status.COMPLETED)


class FourEyesDesk(Desk):
    """Delete, erase, stop using, stop provision with four-eyes on: approvals on every run."""

    KINDS = tuple(sorted(APPROVAL_KINDS, key=list(RequestKind).index))
    FOUR_EYES = (True,)


Desk.TestCase.settings = PROFILE
FourEyesDesk.TestCase.settings = PROFILE
TestDesk = Desk.TestCase
TestFourEyesDesk = FourEyesDesk.TestCase


# --- smaller properties over the pure functions --------------------------------------------


@PROFILE
@given(
    plan_size=st.integers(min_value=0, max_value=6),
    states=st.lists(st.one_of(st.none(), st.sampled_from(list(ReceiptState))), min_size=6, max_size=6),
    manual=st.lists(st.booleans(), min_size=6, max_size=6),
)
def test_a_run_takes_exactly_the_automatic_receipts_not_yet_successful(
    plan_size: int, states: list[ReceiptState | None], manual: list[bool]
) -> None:
    plan = [
        PlannedReceipt(ReceiptKey(TargetType.SOURCE, f"s{i}", Action.ERASE), manual=manual[i])
        for i in range(plan_size)
    ]
    existing = {p.key: s for p, s in zip(plan, states, strict=False) if s is not None}
    to_run = receipts_to_run(plan, existing)
    for planned in plan:
        state = existing.get(planned.key)
        expected = not planned.manual and state in (None, ReceiptState.PENDING, ReceiptState.FAILED)
        assert (planned in to_run) is expected


@PROFILE
@given(st.lists(verdicts, min_size=1, max_size=6))
def test_the_outcome_never_hides_a_refusal_or_a_grant(chosen: list[Verdict]) -> None:
    decided = [ItemDecision(f"s{i}", None, verdict) for i, verdict in enumerate(chosen)]
    outcome = derive_outcome(decided)
    if Verdict.UNDECIDED in chosen:
        assert outcome is None
        return
    assert outcome is not None
    granted = Verdict.GRANTED in chosen
    refused = Verdict.REFUSED in chosen
    substitute = Verdict.SUBSTITUTE in chosen
    assert (outcome is Outcome.APPROVED) is (granted and not refused and not substitute)
    assert (outcome is Outcome.REFUSED) is (refused and not granted and not substitute)
    assert (outcome is Outcome.NO_DATA) is (set(chosen) == {Verdict.NO_DATA})
