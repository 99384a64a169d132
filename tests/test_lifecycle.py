"""The request life cycle as pure rules (SPEC.md, "Request life cycle"; policy Art. 4.3)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from flask_ome_privacy.lifecycle import (
    Clock,
    FeeStatus,
    RequestKind,
    Status,
    TransitionError,
    check_transition,
    initial_fee_status,
    may_release,
)

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)


def test_only_disclosure_and_notification_of_purpose_carry_the_fee() -> None:
    with_fee = {kind for kind in RequestKind if kind.carries_fee}
    assert with_fee == {RequestKind.DISCLOSE, RequestKind.NOTIFY_PURPOSE}
    assert initial_fee_status("disclose") is FeeStatus.OUTSTANDING
    assert initial_fee_status("erase") is FeeStatus.NOT_REQUIRED


def test_result_waits_for_the_fee_but_not_for_waiver() -> None:
    assert not may_release(FeeStatus.OUTSTANDING)
    assert may_release(FeeStatus.RECEIVED)
    assert may_release(FeeStatus.WAIVED)
    assert may_release(FeeStatus.NOT_REQUIRED)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (Status.SUBMITTED, Status.IDENTITY_REVIEW),
        (Status.IDENTITY_REVIEW, Status.AWAITING_REQUESTER),
        (Status.AWAITING_REQUESTER, Status.IDENTITY_REVIEW),
        (Status.AWAITING_REQUESTER, Status.CLOSED_INCOMPLETE),
        (Status.UNDER_REVIEW, Status.REFUSED),
        (Status.UNDER_REVIEW, Status.APPROVED),
        (Status.APPROVED, Status.EXECUTING),
        (Status.EXECUTING, Status.COMPLETED),
        (Status.APPROVED, Status.WITHDRAWN),
        (Status.APPROVED, Status.UNDER_REVIEW),  # sent back: the approver disagrees, or new facts
    ],
)
def test_allowed_moves(current: Status, target: Status) -> None:
    check_transition(current, target)


@pytest.mark.parametrize(
    ("current", "target", "why"),
    [
        (Status.SUBMITTED, Status.APPROVED, "allowed"),
        (Status.EXECUTING, Status.WITHDRAWN, "allowed"),  # too late to withdraw once execution began
        (Status.EXECUTING, Status.UNDER_REVIEW, "allowed"),  # nor to send back what is being carried out
        (Status.COMPLETED, Status.EXECUTING, "closed"),
        (Status.REFUSED, Status.UNDER_REVIEW, "closed"),
    ],
)
def test_refused_moves_say_why(current: Status, target: Status, why: str) -> None:
    with pytest.raises(TransitionError, match=why):
        check_transition(current, target)


def test_every_status_has_a_label_and_closed_ones_are_closed() -> None:
    for status in Status:
        assert status.label
    assert not Status.COMPLETED.is_open
    assert Status.AWAITING_REQUESTER.is_open


def test_clock_counts_down_from_receipt() -> None:
    clock = Clock(T0, 14)
    assert clock.due_at == T0 + timedelta(days=14)
    assert clock.days_left(T0 + timedelta(days=4)) == 10
    assert clock.days_left(T0 + timedelta(days=15)) == -1


def test_clock_pauses_while_requester_owes_documents() -> None:
    paused = Clock(T0, 14).pause(T0 + timedelta(days=3))
    # Frozen while paused, however long the wait.
    assert paused.days_left(T0 + timedelta(days=3)) == 11
    assert paused.days_left(T0 + timedelta(days=30)) == 11
    resumed = paused.resume(T0 + timedelta(days=8))
    assert resumed.due_at == T0 + timedelta(days=19)
    assert resumed.days_left(T0 + timedelta(days=9)) == 10
