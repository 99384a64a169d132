"""The decision on one request in the database: items, four-eyes approval, release (policy Art. 4.2).

``decisions.py`` holds the rules (pure); this module reads them from the request's rows,
stores what staff decided (``DecisionItem``), records the second staff member's approval
for the very version they saw (its fingerprint), and releases the result — only when
``decisions.release_blockers`` is empty — with the in-app notice and the result mail.

Staff act on what they saw: every change takes the request ``version`` the page showed,
and ``StaleRequest`` answers when someone else changed the request meanwhile (the model's
version counter also stops two commits racing: ``StaleDataError``). Domain functions add
and flush; the caller commits once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask_babel import force_locale
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from . import audit, mail, notify
from .decisions import (
    Approval,
    Blocker,
    Decision,
    ItemDecision,
    ItemError,
    ItemKey,
    Outcome,
    ReceiptKey,
    ReceiptState,
    RefusalGround,
    RequestFacts,
    TargetType,
    Verdict,
    release_blockers,
    release_target,
    status_after_decision,
    validate_decision,
)
from .decisions import approval_problems as rule_approval_problems
from .i18n import gettext, translate
from .lifecycle import KIND_ACTIONS, FeeStatus, RequestKind, Status
from .models import DecisionItem, ExecutionReceipt, Notification, PrivacyRequest, RequestMessage, utcnow
from .privacy_requests import move
from .sources import N_, Action
from .state import PrivacyState

__all__ = [
    "DeskError",
    "StaleRequest",
    "STALE_ERRORS",
    "find_request",
    "check_version",
    "check_still_current",
    "scope_keys",
    "requested_changes",
    "stop_targets",
    "stop_use_purposes",
    "decision_of",
    "approval_of",
    "receipt_key",
    "receipts_of",
    "facts_of",
    "save_decision",
    "approve",
    "send_back",
    "release",
    "notice_items",
    "requester_language",
    "DECIDED_ACTION",
    "APPROVED_ACTION",
    "RELEASED_ACTION",
]

DECIDED_ACTION = "request.decided"
APPROVED_ACTION = "request.approved"
SENT_BACK_ACTION = "request.sent_back"
#: The longest reason for a send back (it is kept as an internal note).
MAX_REASON_LENGTH = 4000
RELEASED_ACTION = "request.released"

#: The request kinds whose result is a package of data (delivered electronically or on paper).
PACKAGE_KINDS = frozenset({RequestKind.DISCLOSE, RequestKind.NOTIFY_PURPOSE})


class StaleRequest(Exception):
    """Someone else changed the request after this staff member loaded it."""


#: What a view catches around its commit: the page was stale, or another commit won the race.
STALE_ERRORS: tuple[type[Exception], ...] = (StaleRequest, StaleDataError)


class DeskError(ValueError):
    """A step the rules do not allow now; ``messages`` are message ids (translated where shown)."""

    def __init__(self, messages: Sequence[str], codes: Sequence[str] = ()) -> None:
        super().__init__(", ".join(codes) or "refused")
        self.messages = list(messages)
        self.codes = list(codes)

    @classmethod
    def from_blockers(cls, blockers: Sequence[Blocker]) -> DeskError:
        return cls([b.label for b in blockers], [b.value for b in blockers])


def find_request(session: Session, reference: str) -> PrivacyRequest | None:
    return session.scalar(sa.select(PrivacyRequest).where(PrivacyRequest.reference == reference))


def check_version(request: PrivacyRequest, expected: int | None) -> None:
    """``StaleRequest`` unless the request is still the version the staff member saw."""
    if expected is not None and request.version != expected:
        raise StaleRequest(request.reference)


def check_still_current(session: Session, request: PrivacyRequest, expected: int | None) -> None:
    """``StaleRequest`` if the request's committed row is no longer the version the staff member saw.

    For a check on the request's other rows (its receipts) that fails although the version
    matched: those rows were read after a colleague's commit that the loaded request predates,
    so the honest answer is "someone else changed this request", not "this cannot be done".
    """
    if expected is None:
        return
    committed = session.scalar(sa.select(PrivacyRequest.version).where(PrivacyRequest.id == request.id))
    if committed != expected:
        raise StaleRequest(request.reference)


# --- reading the request ---------------------------------------------------------------------


def _item_key(value: Any) -> ItemKey | None:
    if isinstance(value, str) and value:
        source, _dot, field = value.partition(".")
        return ItemKey(source, field or None)
    if isinstance(value, Mapping) and value.get("source"):
        return ItemKey(str(value["source"]), str(value["field"]) if value.get("field") else None)
    return None


def scope_keys(state: PrivacyState, request: PrivacyRequest) -> list[ItemKey]:
    """The items a decision answers, in the order asked.

    The online form's scope (``requests-new``): ``sources`` (whole sources) and ``fields``
    ({source: [field, ...]}: only those fields of that source). Also accepted: ``items``
    ("source", "source.field" or ``{"source", "field"}``). Nothing named: every registered source.
    """
    scope = request.scope or {}
    raw_fields = scope.get("fields")
    fields: Mapping[str, Any] = raw_fields if isinstance(raw_fields, Mapping) else {}
    keys: list[ItemKey] = []
    for value in list(scope.get("items") or []) + list(scope.get("sources") or []):
        key = _item_key(value)
        if key is None:
            continue
        named = [str(name) for name in (fields.get(key.source) or []) if str(name)]
        if key.field is None and named:
            keys.extend(ItemKey(key.source, name) for name in named)
        else:
            keys.append(key)
    for source, names in fields.items():
        keys.extend(ItemKey(str(source), str(name)) for name in names or [] if str(name))
    if not keys:
        keys = [ItemKey(source.key) for source in state.sources]
    return list(dict.fromkeys(keys))


def requested_changes(request: PrivacyRequest) -> dict[str, dict[str, Any]]:
    """For correct/add: ``scope["changes"]`` as {source: {field: value}} (what the requester asked)."""
    changes = (request.scope or {}).get("changes") or {}
    if not isinstance(changes, Mapping):
        return {}
    return {str(k): dict(v) for k, v in changes.items() if isinstance(v, Mapping)}


def stop_use_purposes(
    state: PrivacyState, request: PrivacyRequest, *, granted_only: bool = True
) -> list[str]:
    """The purpose keys a "stop using" request stops, always named one by one.

    The requester chose the uses of the information in scope: every one of them
    (``scope["purposes_all"]``, and what a request without ``purposes`` means — e.g. one that
    came by post), or only ``scope["purposes"]``. Only uses of information whose item was
    granted are stopped (``granted_only``; False: what was asked, for the staff page).
    """
    scope = request.scope or {}
    if granted_only:
        keys = [item.key for item in decision_of(request).items if item.verdict is Verdict.GRANTED]
    else:
        keys = scope_keys(state, request)
    categories = {source.category for key in keys if (source := state.sources.get(key.source)) is not None}
    of_data = [
        purpose.key
        for category in state.purposes
        if category.key in categories
        for purpose in state.purposes.for_category(category.key)
    ]
    chosen = {str(p) for p in scope.get("purposes") or [] if str(p).strip()}
    if scope.get("purposes_all") or not chosen:
        return of_data
    return [key for key in of_data if key in chosen]


def stop_targets(state: PrivacyState, request: PrivacyRequest) -> list[str] | None:
    """What a stop covers: the purposes of a "stop using" request (``stop_use_purposes``, named
    one by one), or ``scope["recipients"]`` of a "stop providing" one (None: every recipient)."""
    if request.kind != RequestKind.STOP_THIRD_PARTY.value:
        return stop_use_purposes(state, request)
    scope = request.scope or {}
    targets = [str(t) for t in scope.get("recipients") or [] if str(t).strip()]
    return targets or None


def decision_of(request: PrivacyRequest) -> Decision:
    """The decision as the rules see it, from the stored items."""
    items = [
        ItemDecision(
            source=row.source or row.item.partition(".")[0],
            field=row.field,
            verdict=Verdict(row.verdict or Verdict.UNDECIDED.value),
            ground=RefusalGround(row.ground) if row.ground else None,
            explanation=row.reason or "",
            substitute=row.substitute or "",
        )
        for row in request.decision_items
    ]
    decided_by = request.decided_by if request.decided_at is not None else None
    return Decision(kind=RequestKind(request.kind), items=tuple(items), decided_by=decided_by)


def approval_of(request: PrivacyRequest) -> Approval | None:
    if request.approved_by is None or request.approved_fingerprint is None:
        return None
    return Approval(approver=request.approved_by, fingerprint=request.approved_fingerprint)


def receipt_key(receipt: ExecutionReceipt) -> ReceiptKey:
    """A stored receipt's key: ``target`` is the source key, or "substitute:"/"processor:" + name."""
    kind, sep, name = receipt.target.partition(":")
    if sep and kind in (TargetType.SUBSTITUTE.value, TargetType.PROCESSOR.value):
        return ReceiptKey(TargetType(kind), name, Action(receipt.action))
    return ReceiptKey(TargetType.SOURCE, receipt.target, Action(receipt.action))


def receipts_of(request: PrivacyRequest) -> dict[ReceiptKey, ReceiptState]:
    return {receipt_key(r): ReceiptState(r.status) for r in request.receipts}


def facts_of(state: PrivacyState, request: PrivacyRequest) -> RequestFacts:
    """What the gates look at, read from the request's rows."""
    return RequestFacts(
        status=Status(request.status),
        fee_status=FeeStatus(request.fee_status),
        identity_verified=request.identity_verified_at is not None,
        decision=decision_of(request),
        scope=tuple(scope_keys(state, request)),
        approval=approval_of(request),
        receipts=receipts_of(request),
        four_eyes=bool(state.config("FOUR_EYES")),
    )


# --- deciding --------------------------------------------------------------------------------


def save_decision(
    state: PrivacyState,
    request: PrivacyRequest,
    items: Sequence[ItemDecision],
    *,
    staff_id: str,
    expected_version: int | None = None,
) -> dict[ItemKey, list[ItemError]]:
    """Store the items as entered and, when they make a complete decision, record it.

    Whatever staff typed is kept (nothing entered is lost), but the decision counts only
    when ``decisions.validate_decision`` finds nothing wrong: a refusal without a reason is
    never recorded as decided. Returns the problems per item (empty: decided). A complete
    decision moves ``under_review`` to ``approved`` — except a full refusal, which stays in
    review until its notice is released (then ``refused``).
    """
    check_version(request, expected_version)
    if Status(request.status) is not Status.UNDER_REVIEW:
        raise DeskError([N_("Only a request under review can be decided.")], ["not_under_review"])
    scope = scope_keys(state, request)
    in_scope = set(scope)
    kept = [item for item in items if item.key in in_scope]
    request.decision_items.clear()
    for item in kept:
        request.decision_items.append(
            DecisionItem(
                item=str(item.key),
                source=item.source,
                field=item.field,
                verdict=item.verdict.value,
                granted=item.verdict is Verdict.GRANTED,
                ground=item.ground.value if item.ground else None,
                reason=item.explanation.strip()[:4000] or None,
                substitute=item.substitute.strip()[:4000] or None,
            )
        )
    errors = validate_decision(request.kind, scope, items)
    decision = Decision(kind=RequestKind(request.kind), items=tuple(kept), decided_by=staff_id)
    # A changed decision needs approving again (the fingerprint would no longer match anyway).
    request.approved_by = request.approved_fingerprint = None
    request.approved_at = None
    if errors:
        request.decided_at = None
        request.decided_by = None
        request.decision = None
        state.session.flush()
        return errors
    outcome = decision.outcome
    assert outcome is not None  # nosec B101  # typing only: a complete decision has one
    request.decided_at = utcnow()
    request.decided_by = str(staff_id)
    request.decision = outcome.value
    state.session.flush()
    audit.append(
        state.session,
        DECIDED_ACTION,
        actor_id=str(staff_id),
        actor_role="staff",
        request_id=request.id,
        subject_user_id=request.user_id,
        data={"reference": request.reference, "outcome": outcome.value, "items": len(kept)},
    )
    if outcome is not Outcome.REFUSED:
        move(
            state.session, request, status_after_decision(outcome), actor_id=str(staff_id), actor_role="staff"
        )
    return {}


def approval_problems(state: PrivacyState, request: PrivacyRequest, staff_id: str) -> list[str]:
    """Why ``staff_id`` cannot approve now (message ids; empty: they can)."""
    problems = rule_approval_problems(
        decision_of(request),
        scope_keys(state, request),
        str(staff_id),
        four_eyes=bool(state.config("FOUR_EYES")),
    )
    messages = [p.label for p in problems]
    if not problems and Status(request.status) is not Status.APPROVED:
        messages.append(Blocker.NOT_READY.label)
    return messages


def approve(
    state: PrivacyState, request: PrivacyRequest, *, staff_id: str, expected_version: int | None = None
) -> None:
    """Record a second staff member's approval of this very version of the decision (four-eyes)."""
    check_version(request, expected_version)
    problems = rule_approval_problems(
        decision_of(request),
        scope_keys(state, request),
        str(staff_id),
        four_eyes=bool(state.config("FOUR_EYES")),
    )
    if problems:
        raise DeskError([p.label for p in problems], [p.value for p in problems])
    if Status(request.status) is not Status.APPROVED:
        raise DeskError([Blocker.NOT_READY.label], [Blocker.NOT_READY.value])
    request.approved_by = str(staff_id)
    request.approved_fingerprint = decision_of(request).fingerprint()
    request.approved_at = utcnow()
    state.session.flush()
    audit.append(
        state.session,
        APPROVED_ACTION,
        actor_id=str(staff_id),
        actor_role="staff",
        request_id=request.id,
        subject_user_id=request.user_id,
        data={"reference": request.reference},
    )


def send_back(
    state: PrivacyState,
    request: PrivacyRequest,
    *,
    staff_id: str,
    reason: str,
    expected_version: int | None = None,
) -> RequestMessage:
    """Send an approved decision back to review (the approver disagrees, or new facts came in).

    Only before execution starts. The reason is required and kept as an internal note (the
    requester never sees it; the audit row holds ids only). The approval goes, and the
    decision is open again: its items stay as entered, so staff change what needs changing
    and record it again (which asks for a new approval).
    """
    check_version(request, expected_version)
    if Status(request.status) is not Status.APPROVED:
        raise DeskError(
            [N_("Only an approved decision that is not being carried out yet can be sent back.")],
            ["not_approved"],
        )
    text = reason.replace("\x00", "").strip()
    if not text:
        raise DeskError([N_("Say why the decision goes back to review.")], ["reason_required"])
    if len(text) > MAX_REASON_LENGTH:
        raise DeskError([N_("Keep the text under 4,000 characters.")], ["reason_too_long"])
    session = state.session
    now = utcnow()
    had_approval = request.approved_by is not None
    note = RequestMessage(author="staff", kind="note", body=text, items=[], created_at=now)
    request.messages.append(note)
    request.approved_by = request.approved_fingerprint = None
    request.approved_at = None
    request.decided_at = None
    request.decided_by = None
    request.decision = None
    move(session, request, Status.UNDER_REVIEW, actor_id=str(staff_id), actor_role="staff", now=now)
    audit.append(
        session,
        SENT_BACK_ACTION,
        actor_id=str(staff_id),
        actor_role="staff",
        request_id=request.id,
        subject_user_id=request.user_id,
        data={"reference": request.reference, "had_approval": had_approval, "message_id": note.id},
    )
    return note


# --- the notice and its release ---------------------------------------------------------------


@dataclass(frozen=True)
class Released:
    """What a release left to do after the commit: announce the notice; the mail goes by itself
    (a job queued for after the commit; ``None`` when mail is off or there is no address)."""

    notification: Notification | None
    mail: mail.QueuedMail | None


def notice_items(request: PrivacyRequest) -> list[dict[str, Any]]:
    """The decided items as the notice keeps them (``RequestMessage.items`` of kind "decision")."""
    return [
        {
            "item": str(item.key),
            "source": item.source,
            "field": item.field,
            "verdict": item.verdict.value,
            "ground": item.ground.value if item.ground else None,
            "reason": item.explanation,
            "substitute": item.substitute,
        }
        for item in (i.cleaned() for i in decision_of(request).items)
    ]


def stop_use_sentence(state: PrivacyState, purposes: Sequence[str], language: str) -> str:
    """ "We stopped using your information for: …" in ``language`` (the decision notice says it)."""
    with force_locale(language):
        if not purposes:
            return translate(N_("We did not stop any use of your information."))
        names = [translate(state.purposes.get(key).text) for key in purposes]
        return str(gettext("We stopped using your information for: %(uses)s.", uses=", ".join(names)))


def requester_language(state: PrivacyState, request: PrivacyRequest, user: Any = None) -> str:
    """The language the requester uses: the request's, else the account's, else the site's first."""
    languages = list(state.config("LANGUAGES") or ["ja"])
    for candidate in (
        getattr(request, "language", None),
        getattr(user, "privacy_language", None),
        getattr(user, "language", None),
    ):
        if candidate in languages:
            return str(candidate)
    return str(languages[0])


def release(
    state: PrivacyState,
    request: PrivacyRequest,
    *,
    staff_id: str,
    expected_version: int | None = None,
) -> Released:
    """Release the decision notice: only when ``release_blockers`` is empty.

    Stores the notice (the decided items with their reasons), leaves the requester an in-app
    notification, queues the result mail for after the commit (in the requester's language),
    and closes the request (``completed``, or ``refused`` for a full refusal).
    """
    check_version(request, expected_version)
    facts = facts_of(state, request)
    blockers = release_blockers(facts)
    if blockers:
        raise DeskError.from_blockers(blockers)
    outcome = facts.decision.outcome
    assert outcome is not None  # nosec B101  # typing only: no blocker, all decided
    session = state.session
    now = utcnow()
    items = notice_items(request)
    if RequestKind(request.kind) is RequestKind.STOP_USE:
        # The notice names the uses stopped, one by one, in the requester's language.
        stopped = stop_use_purposes(state, request)
        for entry in items:
            entry["purposes"] = stopped if entry["verdict"] == Verdict.GRANTED.value else []
        request.decision_reason = stop_use_sentence(state, stopped, requester_language(state, request))
    request.messages.append(
        RequestMessage(author="staff", kind="decision", body=outcome.value, items=items, created_at=now)
    )
    request.released_at = now
    move(session, request, release_target(outcome), actor_id=str(staff_id), actor_role="staff", now=now)
    audit.append(
        session,
        RELEASED_ACTION,
        actor_id=str(staff_id),
        actor_role="staff",
        request_id=request.id,
        subject_user_id=request.user_id,
        data={"reference": request.reference, "outcome": outcome.value},
    )
    if request.user_id is None:
        return Released(None, None)  # a postal requester without an account: the notice goes on paper
    counts = {verdict: 0 for verdict in Verdict}
    for item in facts.decision.items:
        counts[item.verdict] += 1
    notification = notify.add(
        session,
        request.user_id,
        "decision",
        N_("The decision on your request %(reference)s is ready"),
        body=N_(
            "Granted: %(granted)s. Refused: %(refused)s. Substitute measures: %(substitute)s. "
            "No such data: %(no_data)s. The notice gives the reason for every refusal."
        ),
        params={
            "reference": request.reference,
            "granted": counts[Verdict.GRANTED],
            "refused": counts[Verdict.REFUSED],
            "substitute": counts[Verdict.SUBSTITUTE],
            "no_data": counts[Verdict.NO_DATA],
        },
        link_endpoint="ome_privacy_account.request_detail",
        link_values={"reference": request.reference},
        request_id=request.id,
    )
    user = state.extension.load_user(request.user_id)
    if not getattr(user, "email", None):
        return Released(notification, None)
    language = requester_language(state, request, user)
    return Released(notification, mail.queue_mail(state.app, request, "decision_released", language))


def action_of(request: PrivacyRequest) -> Action:
    return KIND_ACTIONS[RequestKind(request.kind)]
