"""The request decision (policy Art. 4.2; APPI Arts. 32-36): items, reasons, four-eyes, release gate.

Staff decide a request item by item: each source (or one field of it) in the request's
scope is granted, refused with a reason the requester will read, answered with a
substitute measure (APPI Art. 35(2),(4),(6)), or — for what we would show or change —
found not to exist ("we hold no such data" is a result, not an error). The overall
outcome is derived from the items, never typed, so the notice and the status cannot
disagree. Erasing, deleting and stopping need a second staff member's approval before
anything is carried out (``OME_PRIVACY_FOUR_EYES``), and the result is released only
when ``release_blockers`` is empty: identity verified, fee settled, approval given,
execution finished, nothing undecided.

Carrying a decision out is planned here and done elsewhere (``execution``): every
granted item becomes one receipt per (source, action); what a source cannot do itself,
and every outsourced processor holding a copy (policy Art. 1.5), becomes a manual task
with a checklist. ``receipts_to_run`` is the retry rule: it never runs again what
already succeeded.

Pure rules: no Flask, no database. Every message is an ``N_``-marked message id with a
stable code beside it, translated where it is shown.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeAlias

from .lifecycle import (
    CLOSED_STATUSES,
    KIND_ACTIONS,
    FeeStatus,
    RequestKind,
    Status,
    TransitionError,
    check_transition,
    may_release,
)
from .purposes import processors_for
from .sources import N_, Action, DataSource

__all__ = [
    "APPROVAL_KINDS",
    "MAX_TEXT_LENGTH",
    "NO_DATA_KINDS",
    "SUBSTITUTE_KINDS",
    "Approval",
    "ApprovalError",
    "Blocker",
    "Decision",
    "ItemDecision",
    "ItemError",
    "ItemKey",
    "Outcome",
    "PlannedReceipt",
    "ReceiptKey",
    "ReceiptState",
    "RefusalGround",
    "RequestFacts",
    "SourceLookup",
    "StaffId",
    "TargetType",
    "Verdict",
    "approval_is_valid",
    "approval_problems",
    "derive_outcome",
    "execution_blockers",
    "ground_article",
    "grounds_for",
    "missing_receipts",
    "needs_approval",
    "needs_execution",
    "plan_execution",
    "receipts_to_run",
    "release_blockers",
    "release_target",
    "status_after_decision",
    "validate_decision",
    "validate_item",
]

#: Who decided or approved: the host's staff user id, as the desk stores it.
StaffId: TypeAlias = int | str

#: Longest free text (a reason, a substitute measure) a decision item keeps.
MAX_TEXT_LENGTH = 2000


# --- what an item may be ----------------------------------------------------------


class Verdict(str, enum.Enum):
    """One item's answer. ``UNDECIDED`` is a draft: it blocks the outcome and the release."""

    UNDECIDED = "undecided"
    GRANTED = "granted"
    REFUSED = "refused"
    SUBSTITUTE = "substitute"
    NO_DATA = "no_data"

    @property
    def label(self) -> str:
        return VERDICT_LABELS[self]


VERDICT_LABELS: dict[Verdict, str] = {
    Verdict.UNDECIDED: N_("Not decided yet"),
    Verdict.GRANTED: N_("Granted"),
    Verdict.REFUSED: N_("Refused"),
    Verdict.SUBSTITUTE: N_("Substitute measure taken"),
    Verdict.NO_DATA: N_("We hold no such data"),
}


class RefusalGround(str, enum.Enum):
    """Why an item is refused: the grounds the law allows, as stable codes the notice names.

    ``grounds_for(kind)`` says which apply to which kind of request; ``ground_article``
    which article each rests on. ``OTHER`` needs the reason written out.
    """

    HARM_TO_PERSON_OR_THIRD_PARTY = "harm_to_person_or_third_party"
    BUSINESS_INTERFERENCE = "business_interference"
    VIOLATES_OTHER_LAWS = "violates_other_laws"
    PURPOSE_ALREADY_CLEAR = "purpose_already_clear"
    HARM_TO_BUSINESS_RIGHTS = "harm_to_business_rights"
    STATE_AFFAIRS = "state_affairs"
    DATA_ACCURATE = "data_accurate"
    CONDITIONS_NOT_MET = "conditions_not_met"
    IDENTITY_NOT_CONFIRMED = "identity_not_confirmed"
    OTHER = "other"

    @property
    def label(self) -> str:
        return GROUND_LABELS[self]


GROUND_LABELS: dict[RefusalGround, str] = {
    RefusalGround.HARM_TO_PERSON_OR_THIRD_PARTY: N_(
        "There is a risk of harm to the life, body, property or other rights and interests of the "
        "person or a third party."
    ),
    RefusalGround.BUSINESS_INTERFERENCE: N_(
        "There is a risk of seriously interfering with the proper conduct of our business."
    ),
    RefusalGround.VIOLATES_OTHER_LAWS: N_("Doing so would violate other laws and regulations."),
    RefusalGround.PURPOSE_ALREADY_CLEAR: N_(
        "The purpose of use is already clear from what we have published."
    ),
    RefusalGround.HARM_TO_BUSINESS_RIGHTS: N_(
        "Notifying the purpose of use could harm our rights or legitimate interests."
    ),
    RefusalGround.STATE_AFFAIRS: N_(
        "Notifying the purpose of use could impede a national or local government body "
        "carrying out its duties under the law."
    ),
    RefusalGround.DATA_ACCURATE: N_(
        "We checked the data and found it accurate, so there is nothing to correct, add or delete."
    ),
    RefusalGround.CONDITIONS_NOT_MET: N_("The conditions the law sets for this request are not met."),
    RefusalGround.IDENTITY_NOT_CONFIRMED: N_(
        "We could not confirm that the request comes from the person or their representative."
    ),
    RefusalGround.OTHER: N_("Another reason, explained below."),
}

_G = RefusalGround
_ART_35_KINDS = frozenset({RequestKind.STOP_USE, RequestKind.ERASE, RequestKind.STOP_THIRD_PARTY})
_ART_34_KINDS = frozenset({RequestKind.CORRECT, RequestKind.ADD, RequestKind.DELETE})

#: (kind, ground) -> the provision that allows refusing on it. Only these pairs are offered.
GROUND_ARTICLES: dict[tuple[RequestKind, RefusalGround], str] = {
    # APPI Art. 32(2): notification of the purpose of use.
    (RequestKind.NOTIFY_PURPOSE, _G.PURPOSE_ALREADY_CLEAR): "APPI Art. 32(2)(i)",
    (RequestKind.NOTIFY_PURPOSE, _G.HARM_TO_PERSON_OR_THIRD_PARTY): "APPI Art. 32(2)(ii), 21(4)(i)",
    (RequestKind.NOTIFY_PURPOSE, _G.HARM_TO_BUSINESS_RIGHTS): "APPI Art. 32(2)(ii), 21(4)(ii)",
    (RequestKind.NOTIFY_PURPOSE, _G.STATE_AFFAIRS): "APPI Art. 32(2)(ii), 21(4)(iii)",
    # APPI Art. 33(2): disclosure, in whole or in part.
    (RequestKind.DISCLOSE, _G.HARM_TO_PERSON_OR_THIRD_PARTY): "APPI Art. 33(2)(i)",
    (RequestKind.DISCLOSE, _G.BUSINESS_INTERFERENCE): "APPI Art. 33(2)(ii)",
    (RequestKind.DISCLOSE, _G.VIOLATES_OTHER_LAWS): "APPI Art. 33(2)(iii)",
    # APPI Art. 34: correction, addition, deletion only where the content is not true.
    **{(kind, _G.DATA_ACCURATE): "APPI Art. 34(1)" for kind in _ART_34_KINDS},
    **{(kind, _G.CONDITIONS_NOT_MET): "APPI Art. 34(1)" for kind in _ART_34_KINDS},
    # APPI Art. 35: stop use / erase (35(1),(5)), stop provision (35(3),(5)).
    (RequestKind.STOP_USE, _G.CONDITIONS_NOT_MET): "APPI Art. 35(1), 35(5)",
    (RequestKind.ERASE, _G.CONDITIONS_NOT_MET): "APPI Art. 35(1), 35(5)",
    (RequestKind.STOP_THIRD_PARTY, _G.CONDITIONS_NOT_MET): "APPI Art. 35(3), 35(5)",
    # Every kind: the requester could not be identified (APPI Art. 37(1), Order Art. 12).
    **{(kind, _G.IDENTITY_NOT_CONFIRMED): "APPI Art. 37(1)" for kind in RequestKind},
    **{(kind, _G.OTHER): "" for kind in RequestKind},
}

#: A substitute measure instead of what was asked: APPI Art. 35(2), (4), (6).
SUBSTITUTE_KINDS = _ART_35_KINDS
#: "We hold no such data" answers every kind except adding (which needs no existing data).
NO_DATA_KINDS = frozenset(RequestKind) - {RequestKind.ADD}
#: Four-eyes kinds: what cannot be undone waits for a second staff member.
APPROVAL_KINDS = frozenset(
    {RequestKind.DELETE, RequestKind.ERASE, RequestKind.STOP_USE, RequestKind.STOP_THIRD_PARTY}
)


def grounds_for(kind: RequestKind | str) -> list[RefusalGround]:
    """The refusal grounds offered for ``kind``, in the order staff see them (``OTHER`` last)."""
    kind = RequestKind(kind)
    return [ground for ground in RefusalGround if (kind, ground) in GROUND_ARTICLES]


def ground_article(kind: RequestKind | str, ground: RefusalGround | str) -> str:
    """The provision a refusal rests on (empty for ``OTHER``); KeyError when it does not apply."""
    return GROUND_ARTICLES[(RequestKind(kind), RefusalGround(ground))]


# --- items and the decision -------------------------------------------------------


@dataclass(frozen=True, order=True)
class ItemKey:
    """One thing in scope: a source, or one field of it (``field`` None: all it holds)."""

    source: str
    field: str | None = None

    def __str__(self) -> str:
        return self.source if self.field is None else f"{self.source}.{self.field}"


@dataclass(frozen=True)
class ItemDecision:
    """Staff's answer for one item. Fields that do not belong to the verdict are kept as typed
    (nothing entered is lost while staff change their mind) but ignored: see ``cleaned``."""

    source: str
    field: str | None = None
    verdict: Verdict = Verdict.UNDECIDED
    ground: RefusalGround | None = None
    #: The reason in staff's words, shown to the requester (required for ``OTHER``).
    explanation: str = ""
    #: What the substitute measure is (required for ``SUBSTITUTE``), shown to the requester.
    substitute: str = ""

    def __post_init__(self) -> None:
        # Views hand in form values: accept the codes as strings, store the enums.
        object.__setattr__(self, "verdict", Verdict(self.verdict))
        if self.ground is not None:
            object.__setattr__(self, "ground", RefusalGround(self.ground))

    @property
    def key(self) -> ItemKey:
        return ItemKey(self.source, self.field)

    def cleaned(self) -> ItemDecision:
        """The item as the notice states it: only the fields its verdict uses, text stripped."""
        refused = self.verdict is Verdict.REFUSED
        return ItemDecision(
            source=self.source,
            field=self.field,
            verdict=self.verdict,
            ground=self.ground if refused else None,
            explanation=self.explanation.strip() if refused else "",
            substitute=self.substitute.strip() if self.verdict is Verdict.SUBSTITUTE else "",
        )


@dataclass(frozen=True)
class Decision:
    """The decision on one request (one kind): its items and who made it."""

    kind: RequestKind
    items: tuple[ItemDecision, ...] = ()
    decided_by: StaffId | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", RequestKind(self.kind))
        object.__setattr__(self, "items", tuple(self.items))

    def item(self, key: ItemKey) -> ItemDecision | None:
        return next((item for item in self.items if item.key == key), None)

    @property
    def outcome(self) -> Outcome | None:
        return derive_outcome(self.items)

    def fingerprint(self) -> str:
        """A digest of what was decided, so an approval given to one version never covers a later one."""
        payload = [
            self.kind.value,
            sorted(
                [
                    item.source,
                    item.field or "",
                    item.verdict.value,
                    item.ground.value if item.ground else "",
                    item.explanation,
                    item.substitute,
                ]
                for item in (i.cleaned() for i in self.items)
            ),
        ]
        return hashlib.sha256(json.dumps(payload, ensure_ascii=False).encode()).hexdigest()


class ItemError(str, enum.Enum):
    """Why an item cannot be saved as decided; the message is shown beside the item."""

    UNDECIDED = "undecided"
    REASON_MISSING = "reason_missing"
    EXPLANATION_MISSING = "explanation_missing"
    GROUND_NOT_FOR_KIND = "ground_not_for_kind"
    SUBSTITUTE_MISSING = "substitute_missing"
    SUBSTITUTE_NOT_FOR_KIND = "substitute_not_for_kind"
    NO_DATA_NOT_FOR_KIND = "no_data_not_for_kind"
    TEXT_TOO_LONG = "text_too_long"
    NOT_IN_SCOPE = "not_in_scope"
    DUPLICATE = "duplicate"

    @property
    def label(self) -> str:
        return ITEM_ERROR_LABELS[self]


ITEM_ERROR_LABELS: dict[ItemError, str] = {
    ItemError.UNDECIDED: N_("Decide this item: grant, refuse, substitute measure or no such data."),
    ItemError.REASON_MISSING: N_("A refusal needs a reason the requester will read."),
    ItemError.EXPLANATION_MISSING: N_("Write the reason out: the requester reads it."),
    ItemError.GROUND_NOT_FOR_KIND: N_("This reason does not apply to this kind of request."),
    ItemError.SUBSTITUTE_MISSING: N_("Say what the substitute measure is."),
    ItemError.SUBSTITUTE_NOT_FOR_KIND: N_(
        "A substitute measure is possible only for stopping use, erasing or stopping provision."
    ),
    ItemError.NO_DATA_NOT_FOR_KIND: N_('"We hold no such data" does not answer a request to add data.'),
    ItemError.TEXT_TOO_LONG: N_("Keep the text under 2,000 characters."),
    ItemError.NOT_IN_SCOPE: N_("This item is not part of the request."),
    ItemError.DUPLICATE: N_("This item is decided twice."),
}


def validate_item(kind: RequestKind | str, item: ItemDecision) -> list[ItemError]:
    """What stops ``item`` from being a complete decision for a request of ``kind`` (empty: fine)."""
    kind = RequestKind(kind)
    item = item.cleaned()
    errors: list[ItemError] = []
    if item.verdict is Verdict.UNDECIDED:
        errors.append(ItemError.UNDECIDED)
    elif item.verdict is Verdict.REFUSED:
        if item.ground is None:
            errors.append(ItemError.REASON_MISSING)
        elif (kind, item.ground) not in GROUND_ARTICLES:
            errors.append(ItemError.GROUND_NOT_FOR_KIND)
        elif item.ground is RefusalGround.OTHER and not item.explanation:
            errors.append(ItemError.EXPLANATION_MISSING)
    elif item.verdict is Verdict.SUBSTITUTE:
        if kind not in SUBSTITUTE_KINDS:
            errors.append(ItemError.SUBSTITUTE_NOT_FOR_KIND)
        elif not item.substitute:
            errors.append(ItemError.SUBSTITUTE_MISSING)
    elif item.verdict is Verdict.NO_DATA and kind not in NO_DATA_KINDS:
        errors.append(ItemError.NO_DATA_NOT_FOR_KIND)
    if max(len(item.explanation), len(item.substitute)) > MAX_TEXT_LENGTH:
        errors.append(ItemError.TEXT_TOO_LONG)
    return errors


def validate_decision(
    kind: RequestKind | str, scope: Iterable[ItemKey], items: Iterable[ItemDecision]
) -> dict[ItemKey, list[ItemError]]:
    """Per-item errors for a whole decision; empty when every item in ``scope`` is decided once.

    An item missing from ``items`` is undecided; an item outside ``scope`` is an error, so a
    notice never answers something that was not asked.
    """
    scope_keys = list(dict.fromkeys(scope))
    in_scope = set(scope_keys)
    errors: dict[ItemKey, list[ItemError]] = {}
    seen: set[ItemKey] = set()
    for item in items:
        key = item.key
        if key not in in_scope:
            problems = [ItemError.NOT_IN_SCOPE]
        elif key in seen:
            problems = [ItemError.DUPLICATE]
        else:
            problems = validate_item(kind, item)
        seen.add(key)
        for problem in problems:
            if problem not in errors.setdefault(key, []):
                errors[key].append(problem)
    for key in scope_keys:
        if key not in seen:
            errors[key] = [ItemError.UNDECIDED]
    return errors


# --- the outcome --------------------------------------------------------------------


class Outcome(str, enum.Enum):
    """The decision as a whole, derived from its items (the notice's headline)."""

    APPROVED = "approved"
    PARTIALLY_APPROVED = "partially_approved"
    REFUSED = "refused"
    NO_DATA = "no_data"

    @property
    def label(self) -> str:
        return OUTCOME_LABELS[self]


OUTCOME_LABELS: dict[Outcome, str] = {
    Outcome.APPROVED: N_("Approved"),
    Outcome.PARTIALLY_APPROVED: N_("Partially approved"),
    Outcome.REFUSED: N_("Refused"),
    Outcome.NO_DATA: N_("We hold no such data"),
}


def derive_outcome(items: Iterable[ItemDecision]) -> Outcome | None:
    """The overall outcome, or None while there is nothing decided or any item is undecided.

    "No such data" items do not count against an approval (nothing was refused); a
    substitute measure is not what was asked, so it makes an approval partial.
    """
    verdicts = [item.verdict for item in items]
    if not verdicts or Verdict.UNDECIDED in verdicts:
        return None
    answered = [v for v in verdicts if v is not Verdict.NO_DATA]
    if not answered:
        return Outcome.NO_DATA
    if all(v is Verdict.GRANTED for v in answered):
        return Outcome.APPROVED
    if all(v is Verdict.REFUSED for v in answered):
        return Outcome.REFUSED
    return Outcome.PARTIALLY_APPROVED


def status_after_decision(outcome: Outcome) -> Status:
    """Where a decided request goes: a full refusal ends it; anything else is carried out."""
    return Status.REFUSED if outcome is Outcome.REFUSED else Status.APPROVED


def release_target(outcome: Outcome) -> Status:
    """The closing status the released notice goes out with."""
    return Status.REFUSED if outcome is Outcome.REFUSED else Status.COMPLETED


def needs_execution(items: Iterable[ItemDecision]) -> bool:
    """Whether anything is to be carried out (a granted item or a substitute measure)."""
    return any(item.verdict in (Verdict.GRANTED, Verdict.SUBSTITUTE) for item in items)


# --- four-eyes ------------------------------------------------------------------------


def needs_approval(decision: Decision, *, four_eyes: bool = True) -> bool:
    """Whether a second staff member must approve before anything is carried out.

    Only irreversible kinds (delete, erase, stop using, stop provision), only when
    ``OME_PRIVACY_FOUR_EYES`` is on, and only when the decision carries something out: a
    full refusal changes nothing.
    """
    return four_eyes and RequestKind(decision.kind) in APPROVAL_KINDS and needs_execution(decision.items)


@dataclass(frozen=True)
class Approval:
    """A second staff member's approval of one version of a decision (its fingerprint)."""

    approver: StaffId
    fingerprint: str


class ApprovalError(str, enum.Enum):
    """Why this staff member cannot approve this decision now."""

    NOT_NEEDED = "not_needed"
    NOT_DECIDED = "not_decided"
    OWN_DECISION = "own_decision"

    @property
    def label(self) -> str:
        return APPROVAL_ERROR_LABELS[self]


APPROVAL_ERROR_LABELS: dict[ApprovalError, str] = {
    ApprovalError.NOT_NEEDED: N_("This decision does not need a second approval."),
    ApprovalError.NOT_DECIDED: N_("There is no complete decision to approve yet."),
    ApprovalError.OWN_DECISION: N_("You made this decision: another staff member must approve it."),
}


def approval_problems(
    decision: Decision, scope: Iterable[ItemKey], approver: StaffId, *, four_eyes: bool = True
) -> list[ApprovalError]:
    """Why ``approver`` may not approve ``decision`` (empty: they may)."""
    if validate_decision(decision.kind, scope, decision.items) or decision.decided_by is None:
        return [ApprovalError.NOT_DECIDED]
    if not needs_approval(decision, four_eyes=four_eyes):
        return [ApprovalError.NOT_NEEDED]
    if approver == decision.decided_by:
        return [ApprovalError.OWN_DECISION]
    return []


def approval_is_valid(decision: Decision, approval: Approval | None) -> bool:
    """An approval counts only by someone other than the decider, for this very version."""
    return (
        approval is not None
        and decision.decided_by is not None
        and approval.approver != decision.decided_by
        and approval.fingerprint == decision.fingerprint()
    )


# --- execution planning ----------------------------------------------------------------


class ReceiptState(str, enum.Enum):
    """Where one (source, action) of a decision stands."""

    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"
    NOT_APPLICABLE = "not_applicable"
    MANUAL = "manual"  # an open task for staff; ticked done with a note, it becomes DONE

    @property
    def label(self) -> str:
        return RECEIPT_STATE_LABELS[self]

    @property
    def finished(self) -> bool:
        return self in FINISHED_RECEIPT_STATES


RECEIPT_STATE_LABELS: dict[ReceiptState, str] = {
    ReceiptState.PENDING: N_("Not run yet"),
    ReceiptState.DONE: N_("Done"),
    ReceiptState.FAILED: N_("Failed"),
    ReceiptState.NOT_APPLICABLE: N_("Not applicable"),
    ReceiptState.MANUAL: N_("Manual task open"),
}

FINISHED_RECEIPT_STATES = frozenset({ReceiptState.DONE, ReceiptState.NOT_APPLICABLE})


class TargetType(str, enum.Enum):
    """Who carries a receipt out: a source itself, staff on a source's behalf, or a processor."""

    SOURCE = "source"
    SUBSTITUTE = "substitute"
    PROCESSOR = "processor"


@dataclass(frozen=True, order=True)
class ReceiptKey:
    """One receipt per (target, action): the unit that is run, retried and recorded."""

    target_type: TargetType
    target: str
    action: Action

    def __str__(self) -> str:
        return f"{self.target_type.value}:{self.target}:{self.action.value}"


@dataclass(frozen=True)
class PlannedReceipt:
    """What carrying out a decision asks of one target, before it runs."""

    key: ReceiptKey
    #: Fields the action covers; None: everything the source holds.
    fields: tuple[str, ...] | None = None
    #: True when staff do it by hand; ``checklist`` then says how (message ids).
    manual: bool = False
    checklist: tuple[str, ...] = ()
    #: For substitute measures: what staff take instead (free text, from the decision).
    substitutes: tuple[str, ...] = ()

    @property
    def initial_state(self) -> ReceiptState:
        return ReceiptState.MANUAL if self.manual else ReceiptState.PENDING


class SourceLookup(Protocol):
    """The registry as planning needs it (``SourceRegistry`` or a plain mapping)."""

    def get(self, key: str, /) -> DataSource | None: ...


UNKNOWN_SOURCE_CHECKLIST: tuple[str, ...] = (
    N_("This source is no longer registered: find where its data is kept now."),
    N_("Carry out the decision there by hand."),
    N_("Record what was done, without copying personal data into the note."),
)
SUBSTITUTE_CHECKLIST: tuple[str, ...] = (
    N_("Take the substitute measure described in the decision."),
    N_("Record what was done, without copying personal data into the note."),
)
PROCESSOR_CHECKLIST: tuple[str, ...] = (
    N_("Tell this processor what was decided and ask it to do the same with the data it handles for us."),
    N_("Keep its written confirmation."),
    N_("Record what was done, without copying personal data into the note."),
)


def _action_for(source: DataSource | None, action: Action, fields: tuple[str, ...] | None) -> Action:
    """Erasing all an SNS source holds can be done by unlinking it when it cannot erase itself."""
    if (
        source is not None
        and action is Action.ERASE
        and fields is None
        and not source.supports(Action.ERASE)
        and source.supports(Action.UNLINK)
    ):
        return Action.UNLINK
    return action


def _merge_fields(current: tuple[str, ...] | None, item: ItemDecision, first: bool) -> tuple[str, ...] | None:
    if item.field is None or (current is None and not first):
        return None
    return tuple(sorted({*(current or ()), item.field}))


def plan_execution(
    decision: Decision,
    sources: SourceLookup | Mapping[str, DataSource],
    processors: Mapping[str, Any] | None = None,
) -> list[PlannedReceipt]:
    """The receipts carrying out ``decision`` takes, in a stable order.

    Each source with granted items gets one receipt for the kind's action
    (``lifecycle.KIND_ACTIONS``), covering the granted fields (all of them when one item
    is the whole source); a source that cannot do it itself — or is no longer registered —
    gets a manual task with its ``manual_checklist``. Substitute measures are manual tasks.
    Changing actions (everything but showing what is held) also give every outsourced
    processor of the sources' categories (``OME_PRIVACY_PROCESSORS``, policy Art. 1.5) a
    manual task. Refused and no-data items plan nothing.
    """
    kind = RequestKind(decision.kind)
    action = KIND_ACTIONS[kind]
    granted: dict[str, tuple[str, ...] | None] = {}
    substitutes: dict[str, list[str]] = {}
    for item in (i.cleaned() for i in decision.items):
        if item.verdict is Verdict.GRANTED:
            granted[item.source] = _merge_fields(granted.get(item.source), item, item.source not in granted)
        elif item.verdict is Verdict.SUBSTITUTE:
            substitutes.setdefault(item.source, []).append(item.substitute)

    plan: list[PlannedReceipt] = []
    categories: list[str] = []
    for source_key, fields in granted.items():
        source = sources.get(source_key)
        source_action = _action_for(source, action, fields)
        key = ReceiptKey(TargetType.SOURCE, source_key, source_action)
        if source is None:
            plan.append(PlannedReceipt(key, fields, manual=True, checklist=UNKNOWN_SOURCE_CHECKLIST))
            continue
        if source.category not in categories:
            categories.append(source.category)
        if source.supports(source_action):
            plan.append(PlannedReceipt(key, fields))
        else:
            checklist = tuple(source.manual_checklist(source_action))
            plan.append(PlannedReceipt(key, fields, manual=True, checklist=checklist))
    for source_key, measures in substitutes.items():
        key = ReceiptKey(TargetType.SUBSTITUTE, source_key, action)
        plan.append(
            PlannedReceipt(key, manual=True, checklist=SUBSTITUTE_CHECKLIST, substitutes=tuple(measures))
        )
    if action is not Action.COLLECT:
        names = dict.fromkeys(
            processor.name for category in categories for processor in processors_for(processors, category)
        )
        for name in names:
            key = ReceiptKey(TargetType.PROCESSOR, name, action)
            plan.append(PlannedReceipt(key, manual=True, checklist=PROCESSOR_CHECKLIST))
    return plan


def missing_receipts(
    plan: Sequence[PlannedReceipt], existing: Mapping[ReceiptKey, ReceiptState]
) -> list[PlannedReceipt]:
    """Planned receipts with no record yet (to create in their ``initial_state``)."""
    return [planned for planned in plan if planned.key not in existing]


def receipts_to_run(
    plan: Sequence[PlannedReceipt], existing: Mapping[ReceiptKey, ReceiptState]
) -> list[PlannedReceipt]:
    """What a run (or a retry) executes: automatic receipts not run yet or failed.

    Never what is done or not applicable — a retry never redoes what succeeded — and never
    a manual task, which waits for staff.
    """
    return [
        planned
        for planned in plan
        if not planned.manual
        and existing.get(planned.key, ReceiptState.PENDING) in (ReceiptState.PENDING, ReceiptState.FAILED)
    ]


# --- the gates --------------------------------------------------------------------------


class Blocker(str, enum.Enum):
    """One reason a decision may not be carried out or its result released yet."""

    CLOSED = "closed"
    AWAITING_REQUESTER = "awaiting_requester"
    NOT_READY = "not_ready"
    IDENTITY_NOT_VERIFIED = "identity_not_verified"
    FEE_OUTSTANDING = "fee_outstanding"
    ITEM_UNDECIDED = "item_undecided"
    DECISION_INCOMPLETE = "decision_incomplete"
    APPROVAL_MISSING = "approval_missing"
    APPROVAL_OUTDATED = "approval_outdated"
    EXECUTION_NOT_FINISHED = "execution_not_finished"
    EXECUTION_FAILED = "execution_failed"
    MANUAL_TASK_OPEN = "manual_task_open"

    @property
    def label(self) -> str:
        return BLOCKER_LABELS[self]


BLOCKER_LABELS: dict[Blocker, str] = {
    Blocker.CLOSED: N_("The request is closed."),
    Blocker.AWAITING_REQUESTER: N_("The request is waiting for the requester's answer."),
    Blocker.NOT_READY: N_("The request is not yet at the step where this can happen."),
    Blocker.IDENTITY_NOT_VERIFIED: N_("Identity has not been verified."),
    Blocker.FEE_OUTSTANDING: N_("The fee has not been received or waived."),
    Blocker.ITEM_UNDECIDED: N_("Some items have no decision yet."),
    Blocker.DECISION_INCOMPLETE: N_("Some decided items are incomplete; see the messages beside them."),
    Blocker.APPROVAL_MISSING: N_("A second staff member has not approved this decision yet."),
    Blocker.APPROVAL_OUTDATED: N_("The decision changed after it was approved; it needs approval again."),
    Blocker.EXECUTION_NOT_FINISHED: N_("Carrying out the decision has not finished."),
    Blocker.EXECUTION_FAILED: N_("Carrying out the decision failed somewhere; retry it."),
    Blocker.MANUAL_TASK_OPEN: N_("A manual task is still open."),
}


@dataclass(frozen=True)
class RequestFacts:
    """What the gates look at, read from one request (the desk builds it from its rows)."""

    status: Status
    fee_status: FeeStatus
    identity_verified: bool
    decision: Decision
    scope: tuple[ItemKey, ...]
    approval: Approval | None = None
    #: The receipts recorded since execution began (empty before).
    receipts: Mapping[ReceiptKey, ReceiptState] = field(default_factory=dict)
    four_eyes: bool = True


def _identity_refusal(decision: Decision) -> bool:
    """Everything refused because the requester could not be identified: this notice reveals nothing."""
    items = [item.cleaned() for item in decision.items]
    return bool(items) and all(
        item.verdict is Verdict.REFUSED and item.ground is RefusalGround.IDENTITY_NOT_CONFIRMED
        for item in items
    )


def _decision_blockers(facts: RequestFacts) -> list[Blocker]:
    """Blockers shared by both gates: status, identity, the items, the approval."""
    status = Status(facts.status)
    blockers: list[Blocker] = []
    if status in CLOSED_STATUSES:
        return [Blocker.CLOSED]
    if status is Status.AWAITING_REQUESTER:
        blockers.append(Blocker.AWAITING_REQUESTER)
    if not facts.identity_verified and not _identity_refusal(facts.decision):
        blockers.append(Blocker.IDENTITY_NOT_VERIFIED)
    errors = validate_decision(facts.decision.kind, facts.scope, facts.decision.items)
    if any(ItemError.UNDECIDED in problems for problems in errors.values()):
        blockers.append(Blocker.ITEM_UNDECIDED)
    if any(set(problems) - {ItemError.UNDECIDED} for problems in errors.values()):
        blockers.append(Blocker.DECISION_INCOMPLETE)
    if not errors and needs_approval(facts.decision, four_eyes=facts.four_eyes):
        if facts.approval is None or facts.approval.approver == facts.decision.decided_by:
            blockers.append(Blocker.APPROVAL_MISSING)
        elif not approval_is_valid(facts.decision, facts.approval):
            blockers.append(Blocker.APPROVAL_OUTDATED)
    return blockers


def execution_blockers(facts: RequestFacts) -> list[Blocker]:
    """Why the decision may not be carried out yet (empty: it may).

    Asked before the move to ``approved`` and again before ``executing``. The fee does not
    block: review and execution go on while it is outstanding; only the result waits.
    """
    blockers = _decision_blockers(facts)
    if blockers:
        return blockers
    if Status(facts.status) not in (Status.UNDER_REVIEW, Status.APPROVED) or (
        facts.decision.outcome is Outcome.REFUSED
    ):
        # A full refusal is released, not carried out; other steps come before or after.
        blockers.append(Blocker.NOT_READY)
    return blockers


def release_blockers(facts: RequestFacts) -> list[Blocker]:
    """Every reason the result may not be released yet; release only when this is empty.

    Identity verified (unless every item is refused because it could not be), the fee
    received or waived (notify purpose and disclose), every item decided and complete,
    the four-eyes approval of this very version, and — when something is carried out —
    every receipt done or not applicable.
    """
    blockers = _decision_blockers(facts)
    if blockers == [Blocker.CLOSED]:
        return blockers
    if not may_release(facts.fee_status):
        blockers.append(Blocker.FEE_OUTSTANDING)
    status = Status(facts.status)
    if needs_execution(facts.decision.items):
        states = list(facts.receipts.values())
        if status is not Status.EXECUTING or not states or ReceiptState.PENDING in states:
            blockers.append(Blocker.EXECUTION_NOT_FINISHED)
        if ReceiptState.FAILED in states:
            blockers.append(Blocker.EXECUTION_FAILED)
        if ReceiptState.MANUAL in states:
            blockers.append(Blocker.MANUAL_TASK_OPEN)
    outcome = facts.decision.outcome
    if not blockers and outcome is not None:
        try:
            check_transition(status, release_target(outcome))
        except TransitionError:
            blockers.append(Blocker.NOT_READY)
    return blockers
