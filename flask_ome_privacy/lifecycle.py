"""The rights-request life cycle (SPEC.md "Request life cycle"): states, moves, fee and clock.

Pure logic: no Flask, no database. Views and staff actions ask this module what is
allowed next; they never decide it themselves.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from .labelled import LabelledEnum
from .sources import N_, Action


class RequestKind(LabelledEnum):
    """Policy Art. 4.1, in its order."""

    NOTIFY_PURPOSE = "notify_purpose", N_("Notify the purpose of use")
    DISCLOSE = "disclose", N_("Disclose")
    CORRECT = "correct", N_("Correct")
    ADD = "add", N_("Add")
    DELETE = "delete", N_("Delete")
    STOP_USE = "stop_use", N_("Stop using")
    ERASE = "erase", N_("Erase")
    STOP_THIRD_PARTY = "stop_third_party", N_("Stop providing to third parties")

    @property
    def carries_fee(self) -> bool:
        """Art. 4.3: the 1,000 yen fee is for disclosure and notification of purpose only."""
        return self in FEE_KINDS

    @property
    def source_action(self) -> Action:
        """What executing an approved request of this kind asks of each source."""
        return KIND_ACTIONS[self]


KIND_ACTIONS: dict[RequestKind, Action] = {
    RequestKind.NOTIFY_PURPOSE: Action.COLLECT,
    RequestKind.DISCLOSE: Action.COLLECT,
    RequestKind.CORRECT: Action.CORRECT,
    RequestKind.ADD: Action.ADD,
    RequestKind.DELETE: Action.ERASE,
    RequestKind.STOP_USE: Action.STOP_USE,
    RequestKind.ERASE: Action.ERASE,
    RequestKind.STOP_THIRD_PARTY: Action.STOP_THIRD_PARTY,
}

FEE_KINDS = frozenset({RequestKind.NOTIFY_PURPOSE, RequestKind.DISCLOSE})


class RequesterType(str, enum.Enum):
    """Who files (policy Art. 4.5): the person, a legal representative, an appointed one."""

    SELF = "self"
    LEGAL_REPRESENTATIVE = "legal_representative"
    APPOINTED_REPRESENTATIVE = "appointed_representative"


class Status(LabelledEnum):
    SUBMITTED = "submitted", N_("Submitted")
    IDENTITY_REVIEW = "identity_review", N_("Checking identity")
    AWAITING_REQUESTER = "awaiting_requester", N_("Waiting for you")
    UNDER_REVIEW = "under_review", N_("Under review")
    APPROVED = "approved", N_("Approved")
    EXECUTING = "executing", N_("Being carried out")
    COMPLETED = "completed", N_("Completed")
    REFUSED = "refused", N_("Refused")
    CLOSED_INCOMPLETE = "closed_incomplete", N_("Closed: incomplete")
    WITHDRAWN = "withdrawn", N_("Withdrawn")

    @property
    def is_open(self) -> bool:
        return self not in CLOSED_STATUSES

    @property
    def staff_label(self) -> str:
        """The name staff read: the labels above speak to the requester ("Waiting for you")."""
        return STAFF_STATUS_LABELS.get(self, self.label)


#: Where staff read a status differently from the requester.
STAFF_STATUS_LABELS: dict[Status, str] = {Status.AWAITING_REQUESTER: N_("Waiting for the requester")}

CLOSED_STATUSES = frozenset({Status.COMPLETED, Status.REFUSED, Status.CLOSED_INCOMPLETE, Status.WITHDRAWN})

#: Every allowed move. Anything else is refused by ``check_transition``.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.SUBMITTED: frozenset({Status.IDENTITY_REVIEW, Status.WITHDRAWN}),
    Status.IDENTITY_REVIEW: frozenset(
        {Status.UNDER_REVIEW, Status.AWAITING_REQUESTER, Status.REFUSED, Status.WITHDRAWN}
    ),
    Status.AWAITING_REQUESTER: frozenset(
        {Status.IDENTITY_REVIEW, Status.UNDER_REVIEW, Status.CLOSED_INCOMPLETE, Status.WITHDRAWN}
    ),
    Status.UNDER_REVIEW: frozenset(
        {Status.APPROVED, Status.REFUSED, Status.AWAITING_REQUESTER, Status.WITHDRAWN}
    ),
    # Back to review ("send back"): the approver disagrees, or new facts came in before execution.
    Status.APPROVED: frozenset({Status.EXECUTING, Status.UNDER_REVIEW, Status.WITHDRAWN}),
    Status.EXECUTING: frozenset({Status.COMPLETED}),
    Status.COMPLETED: frozenset(),
    Status.REFUSED: frozenset(),
    Status.CLOSED_INCOMPLETE: frozenset(),
    Status.WITHDRAWN: frozenset(),
}


class TransitionError(ValueError):
    """A move the life cycle does not allow; the message says why."""


def check_transition(current: Status | str, target: Status | str) -> None:
    current, target = Status(current), Status(target)
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(s.value for s in sorted(TRANSITIONS[current], key=lambda s: s.value))
        raise TransitionError(
            f"A request that is {current.value} cannot become {target.value}"
            + (f" (allowed: {allowed})" if allowed else " (it is closed)")
        )


# --- fee (Art. 4.3) ---------------------------------------------------------------


class FeeStatus(str, enum.Enum):
    NOT_REQUIRED = "not_required"
    OUTSTANDING = "outstanding"
    RECEIVED = "received"
    WAIVED = "waived"


class FeeMethod(str, enum.Enum):
    REGISTERED_CASH_MAIL = "registered_cash_mail"
    POSTAL_MONEY_ORDER = "postal_money_order"
    TRANSFER = "transfer"


def initial_fee_status(kind: RequestKind | str) -> FeeStatus:
    return FeeStatus.OUTSTANDING if RequestKind(kind).carries_fee else FeeStatus.NOT_REQUIRED


def may_release(fee_status: FeeStatus | str) -> bool:
    """Review goes on while the fee is outstanding; the result waits for it."""
    return FeeStatus(fee_status) is not FeeStatus.OUTSTANDING


# --- response clock (APPI Art. 39: "without delay"; default target 14 days) -------


@dataclass(frozen=True)
class Clock:
    """Due date that pauses while the requester owes something and resumes when they answer."""

    received_at: datetime
    target_days: int
    paused_seconds: float = 0.0
    paused_since: datetime | None = None

    @property
    def due_at(self) -> datetime:
        return self.received_at + timedelta(days=self.target_days, seconds=self.paused_seconds)

    def days_left(self, now: datetime) -> int:
        """Whole days until due, negative when overdue; frozen while paused."""
        reference = self.paused_since or now
        remaining = self.due_at - reference
        return (
            remaining.days
            if remaining >= timedelta(0)
            else -((-remaining).days + (1 if (-remaining).seconds else 0))
        )

    def pause(self, now: datetime) -> Clock:
        if self.paused_since is not None:
            return self
        return Clock(self.received_at, self.target_days, self.paused_seconds, now)

    def resume(self, now: datetime) -> Clock:
        if self.paused_since is None:
            return self
        extra = max(0.0, (now - self.paused_since).total_seconds())
        return Clock(self.received_at, self.target_days, self.paused_seconds + extra, None)


# --- what the requester may do, and what a request waits on (policy Art. 4; SPEC) ----


def may_withdraw(status: Status | str) -> bool:
    """The requester may withdraw until execution begins; after that it is too late."""
    return Status.WITHDRAWN in TRANSITIONS[Status(status)]


def clock_paused(status: Status | str) -> bool:
    """The response clock stops only while the requester owes us documents or an answer."""
    return Status(status) is Status.AWAITING_REQUESTER


class WaitingOn(str, enum.Enum):
    """Who or what an open request is waiting on, as the requester and staff read it."""

    REQUESTER = "requester"
    FEE = "fee"
    REVIEW = "review"
    APPROVAL = "approval"
    EXECUTION = "execution"

    @property
    def label(self) -> str:
        return WAITING_ON_LABELS[self]

    @property
    def requester_label(self) -> str:
        """The same wait as the requester reads it (their pages add "from you" / "on our side")."""
        return REQUESTER_WAITING_ON_LABELS.get(self, WAITING_ON_LABELS[self])

    @property
    def on_requester(self) -> bool:
        """The requester owes this (documents, an answer, the fee); the rest is on our side."""
        return self in (WaitingOn.REQUESTER, WaitingOn.FEE)


WAITING_ON_LABELS: dict[WaitingOn, str] = {
    WaitingOn.REQUESTER: N_("Documents or an answer from the requester"),
    WaitingOn.FEE: N_("The fee"),
    WaitingOn.REVIEW: N_("Our review"),
    WaitingOn.APPROVAL: N_("A second staff member's approval"),
    WaitingOn.EXECUTION: N_("Carrying out the decision"),
}

#: Where the requester's pages word a wait differently: they are "the requester".
REQUESTER_WAITING_ON_LABELS: dict[WaitingOn, str] = {
    WaitingOn.REQUESTER: N_("Documents or an answer"),
}


def waiting_on(
    status: Status | str, fee_status: FeeStatus | str, *, approval_missing: bool = False
) -> tuple[WaitingOn, ...]:
    """Everything an open request waits on, the requester's part first; empty once closed.

    The fee runs beside the other steps (review goes on while it is outstanding), so it
    is listed with them. ``approval_missing`` comes from the decision rules (four-eyes).
    """
    status = Status(status)
    if not status.is_open:
        return ()
    waits: list[WaitingOn] = []
    if status is Status.AWAITING_REQUESTER:
        waits.append(WaitingOn.REQUESTER)
    if not may_release(fee_status):
        waits.append(WaitingOn.FEE)
    if status in (Status.SUBMITTED, Status.IDENTITY_REVIEW, Status.UNDER_REVIEW):
        waits.append(WaitingOn.APPROVAL if approval_missing else WaitingOn.REVIEW)
    elif status is Status.APPROVED:
        waits.append(WaitingOn.APPROVAL if approval_missing else WaitingOn.EXECUTION)
    elif status is Status.EXECUTING:
        waits.append(WaitingOn.EXECUTION)
    return tuple(waits)
