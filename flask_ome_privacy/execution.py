"""Carrying out a decision in every source (policy Art. 5; APPI Arts. 34-35): receipts and retries.

``decisions.plan_execution`` says what a decision asks of each source (one receipt per
(source, action)); this module does it. Each receipt ends ``done`` (with the source's
personal-data-free summary), ``failed`` (with the message a ``SourceError`` may show
staff — never another exception's message), ``not_applicable``, or ``manual``: a task for
staff with the source's checklist, ticked done with a note. A failed source leaves the
request ``executing``; ``retry`` runs only what is pending or failed
(``decisions.receipts_to_run``), so nothing that succeeded is done twice.

Each source runs in a savepoint: one that fails half-way is rolled back alone. Stopping use
or provision is recorded (``stops``) so ``privacy.may_use``/``may_provide`` answer no;
deleting a whole account calls the host's ``account_deleted`` hook (end their sessions).
The run is the job ``ome_privacy.execute`` (ids and a language only), inline by default.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from . import audit, jobs, stops
from .decisions import (
    Blocker,
    PlannedReceipt,
    ReceiptState,
    TargetType,
    Verdict,
    execution_blockers,
    missing_receipts,
    plan_execution,
    receipts_to_run,
)
from .lifecycle import RequestKind, Status
from .models import ExecutionReceipt, PrivacyRequest, utcnow
from .privacy_requests import move
from .request_decisions import (
    DeskError,
    check_still_current,
    check_version,
    decision_of,
    facts_of,
    receipt_key,
    receipts_of,
    requested_changes,
    stop_targets,
)
from .sources import N_, Action, ActionNotSupported, DataSource, SourceError
from .state import PrivacyState, current_state

__all__ = [
    "EXECUTE_TASK",
    "start",
    "retry",
    "run",
    "complete_manual_task",
    "plan_for",
    "whole_account",
    "MAX_NOTE_LENGTH",
]

log = logging.getLogger(__name__)

EXECUTE_TASK = "ome_privacy.execute"
STARTED_ACTION = "request.execution_started"
RAN_ACTION = "request.executed"
MANUAL_DONE_ACTION = "request.manual_task_done"
MAX_NOTE_LENGTH = 2000

#: Kinds whose whole-account form ends the person's sessions (``privacy.account_deleted``).
DELETE_KINDS = frozenset({RequestKind.DELETE, RequestKind.ERASE})


def _target_text(planned: PlannedReceipt) -> str:
    key = planned.key
    return key.target if key.target_type is TargetType.SOURCE else f"{key.target_type.value}:{key.target}"


def plan_for(state: PrivacyState, request: PrivacyRequest) -> list[PlannedReceipt]:
    return plan_execution(decision_of(request), state.sources, state.config("PROCESSORS") or {})


def whole_account(state: PrivacyState, request: PrivacyRequest) -> bool:
    """A delete/erase of everything: every registered source granted whole."""
    if RequestKind(request.kind) not in DELETE_KINDS:
        return False
    granted = {
        item.source
        for item in decision_of(request).items
        if item.verdict is Verdict.GRANTED and item.field is None
    }
    return bool(granted) and all(source.key in granted for source in state.sources)


def _add_missing(state: PrivacyState, request: PrivacyRequest, plan: list[PlannedReceipt]) -> None:
    for planned in missing_receipts(plan, receipts_of(request)):
        request.receipts.append(
            ExecutionReceipt(
                target=_target_text(planned),
                action=planned.key.action.value,
                status=planned.initial_state.value,
                checklist=[*planned.checklist, *planned.substitutes],
            )
        )
    state.session.flush()


def _enqueue(state: PrivacyState, request: PrivacyRequest, language: str) -> None:
    jobs.enqueue(state.app, EXECUTE_TASK, session=state.session, request_id=request.id, language=language)


def start(
    state: PrivacyState,
    request: PrivacyRequest,
    *,
    staff_id: str,
    language: str,
    expected_version: int | None = None,
) -> None:
    """Begin carrying out an approved decision: ``approved`` → ``executing``, receipts planned,
    the run queued for after the commit (``decisions.execution_blockers`` must be empty)."""
    check_version(request, expected_version)
    blockers = execution_blockers(facts_of(state, request))
    if not blockers and Status(request.status) is not Status.APPROVED:
        blockers = [Blocker.NOT_READY]
    if blockers:
        raise DeskError.from_blockers(blockers)
    move(state.session, request, Status.EXECUTING, actor_id=str(staff_id), actor_role="staff")
    _add_missing(state, request, plan_for(state, request))
    audit.append(
        state.session,
        STARTED_ACTION,
        actor_id=str(staff_id),
        actor_role="staff",
        request_id=request.id,
        subject_user_id=request.user_id,
        data={"reference": request.reference, "receipts": len(request.receipts)},
    )
    _enqueue(state, request, language)


def retry(
    state: PrivacyState,
    request: PrivacyRequest,
    *,
    staff_id: str,
    language: str,
    expected_version: int | None = None,
) -> None:
    """Run again what failed or never ran; what succeeded stays as it is."""
    check_version(request, expected_version)
    if Status(request.status) is not Status.EXECUTING:
        raise DeskError([Blocker.NOT_READY.label], [Blocker.NOT_READY.value])
    if not receipts_to_run(plan_for(state, request), receipts_of(request)):
        raise DeskError([N_("Nothing failed: there is nothing to retry.")], ["nothing_to_retry"])
    request.updated_at = utcnow()  # bumps the version: a second retry of the same page is stale
    audit.append(
        state.session,
        "request.execution_retried",
        actor_id=str(staff_id),
        actor_role="staff",
        request_id=request.id,
        subject_user_id=request.user_id,
        data={"reference": request.reference},
    )
    _enqueue(state, request, language)


def _perform(
    source: DataSource,
    action: Action,
    user: Any,
    fields: tuple[str, ...] | None,
    request: PrivacyRequest,
    stopped: tuple[str, ...] | None = None,
) -> tuple[ReceiptState, str]:
    """Ask ``source`` to do ``action``; (state, summary). ``stopped``: for stop using, the uses of
    this source's information being stopped, when they are not all of them (None: all)."""
    if action is Action.COLLECT:
        count = sum(1 for _ in source.collect(user))
        return ReceiptState.DONE, f"read {count} value(s)"
    if action in (Action.CORRECT, Action.ADD):
        values = requested_changes(request).get(source.key, {})
        if fields is not None:
            values = {k: v for k, v in values.items() if k in fields}
        if not values:
            return ReceiptState.NOT_APPLICABLE, "no values requested for this source"
        method = source.correct if action is Action.CORRECT else source.add
        return ReceiptState.DONE, method(user, values)
    if action is Action.ERASE:
        return ReceiptState.DONE, source.erase(user, list(fields) if fields is not None else None)
    if action is Action.UNLINK:
        return ReceiptState.DONE, source.unlink(user)
    if action is Action.STOP_USE:
        if stopped == ():
            return ReceiptState.NOT_APPLICABLE, "none of the uses to stop concerns this information"
        if stopped is not None:
            # Only some uses: the source's own stop (all use of its data) would stop too much;
            # the stops recorded below make privacy.may_use answer no for exactly these.
            return ReceiptState.DONE, "use stopped for " + ", ".join(stopped) + " only (privacy.may_use)"
        return ReceiptState.DONE, source.stop_use(user)
    return ReceiptState.DONE, source.stop_third_party(user)


def run(session: Session, *, request_id: int, language: str | None = None) -> None:
    """The job: carry out every receipt that is pending or failed, each in its own savepoint.

    Idempotent: a request that is not ``executing`` is left alone, and receipts that are done,
    not applicable or manual are never run again.
    """
    state = current_state()
    request = session.get(PrivacyRequest, request_id)
    if request is None or Status(request.status) is not Status.EXECUTING:
        return
    plan = plan_for(state, request)
    _add_missing(state, request, plan)
    receipts = {receipt_key(r): r for r in request.receipts}
    user = state.extension.load_user(request.user_id) if request.user_id else None
    counts: dict[str, int] = {}
    partial = _partial_stops(state, request)
    for planned in receipts_to_run(plan, receipts_of(request)):
        receipt = receipts[planned.key]
        receipt.attempts += 1
        source = state.sources.get(planned.key.target)
        outcome, summary, error = ReceiptState.FAILED, "", None
        if user is None or source is None:
            outcome, summary = ReceiptState.NOT_APPLICABLE, "no account to act on"
        else:
            savepoint = session.begin_nested()
            try:
                outcome, summary = _perform(
                    source, planned.key.action, user, planned.fields, request, partial.get(source.key)
                )
                savepoint.commit()
            except ActionNotSupported:
                savepoint.rollback()
                outcome = ReceiptState.MANUAL
                receipt.checklist = list(source.manual_checklist(planned.key.action)) or [
                    N_("Carry out the decision there by hand."),
                    N_("Record what was done, without copying personal data into the note."),
                ]
                summary = "the source cannot do this automatically: manual task"
            except SourceError as exc:
                savepoint.rollback()
                error = str(exc)[:2000]
            except Exception as exc:  # a broken source: its type only, the message may quote data
                if isinstance(exc, DBAPIError) and exc.connection_invalidated:
                    # The database went away, not the source: the whole run is lost with its
                    # transaction and is retried as a job; going on would only fail again.
                    raise
                savepoint.rollback()
                log.error("execution: source %r failed: %s", source.key, type(exc).__name__)
                error = type(exc).__name__
        receipt.status = outcome.value
        receipt.summary = summary[:2000]
        receipt.error = error
        if outcome is not ReceiptState.FAILED:
            receipt.executed_at = utcnow()
        counts[outcome.value] = counts.get(outcome.value, 0) + 1
    _record_stops(state, request)
    if user is not None and whole_account(state, request):
        state.extension.on_account_deleted(user)
    session.flush()
    audit.append(
        session,
        RAN_ACTION,
        actor_id=None,
        actor_role="system",
        request_id=request.id,
        subject_user_id=request.user_id,
        data={"reference": request.reference, **counts},
    )


def _partial_stops(state: PrivacyState, request: PrivacyRequest) -> dict[str, tuple[str, ...]]:
    """For a stop using that names only some uses: source key -> the uses of its information
    being stopped, for each source where that is not every use (there the source's own
    ``stop_use`` is not called; an empty tuple: none of its uses)."""
    if RequestKind(request.kind) is not RequestKind.STOP_USE:
        return {}
    stopped = set(stop_targets(state, request) or ())
    partial: dict[str, tuple[str, ...]] = {}
    for source in state.sources:
        every = {purpose.key for purpose in state.purposes.for_category(source.category)}
        if not every <= stopped:
            partial[source.key] = tuple(sorted(every & stopped))
    return partial


def _record_stops(state: PrivacyState, request: PrivacyRequest) -> None:
    kind = RequestKind(request.kind)
    if request.user_id is None or kind not in (RequestKind.STOP_USE, RequestKind.STOP_THIRD_PARTY):
        return
    if not any(item.verdict is Verdict.GRANTED for item in decision_of(request).items):
        return
    stops.record_stops(
        state.session,
        user_id=request.user_id,
        request_id=request.id,
        kind=stops.USE if kind is RequestKind.STOP_USE else stops.PROVISION,
        targets=stop_targets(state, request),
    )


def complete_manual_task(
    state: PrivacyState,
    request: PrivacyRequest,
    receipt_id: int,
    *,
    staff_id: str,
    note: str,
    expected_version: int | None = None,
) -> None:
    """Staff tick a manual task done, saying what they did (no personal data in the note)."""
    check_version(request, expected_version)
    receipt = next((r for r in request.receipts if r.id == receipt_id), None)
    if receipt is None:
        raise LookupError(receipt_id)
    if receipt.status != ReceiptState.MANUAL.value or Status(request.status) is not Status.EXECUTING:
        check_still_current(state.session, request, expected_version)  # a colleague ticked it meanwhile
        raise DeskError([N_("This task is not open.")], ["task_not_open"])
    note = note.strip()
    if not note:
        raise DeskError([N_("Say what was done before ticking the task done.")], ["note_missing"])
    if len(note) > MAX_NOTE_LENGTH:
        raise DeskError([N_("Keep the note under 2,000 characters.")], ["note_too_long"])
    receipt.status = ReceiptState.DONE.value
    receipt.note = note
    receipt.executed_at = utcnow()
    receipt.executed_by = str(staff_id)
    request.updated_at = utcnow()
    state.session.flush()
    audit.append(
        state.session,
        MANUAL_DONE_ACTION,
        actor_id=str(staff_id),
        actor_role="staff",
        request_id=request.id,
        subject_user_id=request.user_id,
        data={"reference": request.reference, "receipt_id": receipt.id},
    )


@jobs.BUILTIN.task(EXECUTE_TASK)
def execute_task(session: Session, *, request_id: int, language: str | None = None) -> None:
    """``ome_privacy.execute``: run (or retry) the receipts of one request."""
    run(session, request_id=request_id, language=language)
