"""The decision part of the staff request page (``/admin/privacy/requests/<reference>``).

Item-by-item decision, four-eyes approval, carrying it out (receipts, manual tasks,
retry), the disclosure package (printable for paper, mailed date) and the release of the
notice. Every change is a POST with CSRF that carries the request version the page
showed; each one is one transaction and goes back to the request page. The section
itself (``ome_privacy/staff/_decision.html``) is included by that page and gets its
data from ``ome_decision_panel()``, built from the reference in the URL.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from .. import disclosure, execution, notify
from ..decisions import (
    NO_DATA_KINDS,
    SUBSTITUTE_KINDS,
    ItemDecision,
    ItemKey,
    ReceiptState,
    RefusalGround,
    TargetType,
    Verdict,
    execution_blockers,
    ground_article,
    grounds_for,
    needs_approval,
    release_blockers,
    validate_decision,
)
from ..forms import ConfirmForm
from ..i18n import gettext as _
from ..i18n import translate
from ..lifecycle import RequestKind, Status
from ..request_decisions import (
    STALE_ERRORS,
    DeskError,
    Released,
    approval_problems,
    approve,
    decision_of,
    facts_of,
    find_request,
    receipt_key,
    release,
    requester_language,
    scope_keys,
    send_back,
    stop_use_purposes,
)
from ..request_decisions import save_decision as save_items
from ..sources import N_, Action
from ..state import current_state

if TYPE_CHECKING:
    from ..models import ExecutionReceipt, PrivacyRequest
    from ..state import PrivacyState
from .common import ID, current_user_id, has_endpoint, optional_url, reference_or_404

#: The request page (desk-review's), where every POST here returns.
REQUEST_ENDPOINT = "ome_privacy_staff.request"
STALE_MESSAGE = N_(
    "Someone else changed this request meanwhile. Reload the page to see what changed, then try again."
)


def register_decide_routes(bp: Blueprint) -> None:
    """Add the decision routes and the panel helper to the staff blueprint."""
    prefix = "/requests/<reference>"
    bp.add_url_rule(f"{prefix}/decision", "decide", decide, methods=["POST"])
    bp.add_url_rule(f"{prefix}/approval", "approve_decision", approve_decision, methods=["POST"])
    bp.add_url_rule(f"{prefix}/send-back", "send_back", send_back_decision, methods=["POST"])
    bp.add_url_rule(f"{prefix}/execution", "execute", execute, methods=["POST"])
    bp.add_url_rule(f"{prefix}/execution/retry", "retry_execution", retry_execution, methods=["POST"])
    bp.add_url_rule(
        f"{prefix}/tasks/<{ID}:receipt_id>/done", "manual_task_done", manual_task_done, methods=["POST"]
    )
    bp.add_url_rule(f"{prefix}/disclosure/print", "disclosure_print", disclosure_print)
    bp.add_url_rule(f"{prefix}/disclosure/mailed", "disclosure_mailed", disclosure_mailed, methods=["POST"])
    bp.add_url_rule(f"{prefix}/release-notice", "release_notice", release_notice, methods=["POST"])
    bp.context_processor(lambda: {"ome_decision_panel": decision_panel})


# --- helpers ----------------------------------------------------------------------------------


def _load(reference: str) -> PrivacyRequest:
    found = find_request(current_state().session, reference_or_404(reference))
    if found is None:
        abort(404)
    return found


def _back(reference: str) -> Response:
    target = optional_url(REQUEST_ENDPOINT, reference=reference) or url_for("ome_privacy_staff.queue")
    return redirect(target + "#decision", code=303)


def _checked_form() -> None:
    if not ConfirmForm().validate_on_submit():
        abort(400, description=_("The form has expired. Reload the page and try again."))


def _version() -> int:
    raw = request.form.get("version", "")
    try:
        value = int(raw)
    except ValueError:
        abort(400, description=_("The form is missing the request version. Reload the page."))
    if not 0 < value < 2**31:
        abort(400, description=_("The form is missing the request version. Reload the page."))
    return value


def _act(reference: str, action: Any, success: str) -> Response:
    """Run ``action(state, request)`` as one transaction; stale → the clear message, never a lost update."""
    state = current_state()
    session = state.session
    privacy_request = _load(reference)
    try:
        result = action(state, privacy_request)
        session.commit()
    except STALE_ERRORS:
        session.rollback()
        flash(translate(STALE_MESSAGE), "ome_privacy_error")
        return _back(reference)
    except DeskError as refused:
        session.rollback()
        for message in refused.messages:
            flash(translate(message), "ome_privacy_error")
        return _back(reference)
    if isinstance(result, Released) and result.notification is not None:
        notify.announce(result.notification)
    flash(success, "ome_privacy")
    return _back(reference)


# --- the routes ----------------------------------------------------------------------------------


def _text(name: str, limit: int = 4000) -> str:
    """A free-text form field: at most ``limit`` characters, without NUL (PostgreSQL refuses it)."""
    return request.form.get(name, "")[:limit].replace("\x00", "")


def _items_from_form(keys: list[ItemKey]) -> list[ItemDecision]:
    items = []
    for index, key in enumerate(keys):
        prefix = f"item-{index}-"
        verdict = request.form.get(prefix + "verdict", Verdict.UNDECIDED.value)
        ground = request.form.get(prefix + "ground") or None
        if verdict not in {v.value for v in Verdict}:
            verdict = Verdict.UNDECIDED.value
        if ground is not None and ground not in {g.value for g in RefusalGround}:
            ground = None
        items.append(
            ItemDecision(
                source=key.source,
                field=key.field,
                verdict=Verdict(verdict),
                ground=RefusalGround(ground) if ground else None,
                explanation=_text(prefix + "reason"),
                substitute=_text(prefix + "substitute"),
            )
        )
    return items


def decide(reference: str) -> Response:
    _checked_form()
    version = _version()
    state = current_state()
    privacy_request = _load(reference)
    keys = scope_keys(state, privacy_request)
    items = _items_from_form(keys)
    session = state.session
    try:
        errors = save_items(
            state, privacy_request, items, staff_id=current_user_id(), expected_version=version
        )
        session.commit()
    except STALE_ERRORS:
        session.rollback()
        flash(translate(STALE_MESSAGE), "ome_privacy_error")
        return _back(reference)
    except DeskError as refused:
        session.rollback()
        for message in refused.messages:
            flash(translate(message), "ome_privacy_error")
        return _back(reference)
    if errors:
        flash(
            _(
                "Saved as a draft, not decided: %(count)d item(s) need attention.",
                count=len(errors),
            ),
            "ome_privacy_error",
        )
    else:
        flash(_("Decision recorded."), "ome_privacy")
    return _back(reference)


def approve_decision(reference: str) -> Response:
    _checked_form()
    version = _version()
    return _act(
        reference,
        lambda state, r: approve(state, r, staff_id=current_user_id(), expected_version=version),
        _("Decision approved."),
    )


def send_back_decision(reference: str) -> Response:
    """Approved → under review, with the reason as an internal note; the approval is cleared."""
    _checked_form()
    version = _version()
    reason = _text("reason", 8000)
    return _act(
        reference,
        lambda state, r: send_back(
            state, r, staff_id=current_user_id(), reason=reason, expected_version=version
        ),
        _("The decision went back to review. Record it again when it is ready."),
    )


def execute(reference: str) -> Response:
    _checked_form()
    version = _version()

    def start(state: Any, r: PrivacyRequest) -> None:
        language = requester_language(state, r)
        execution.start(state, r, staff_id=current_user_id(), language=language, expected_version=version)

    return _act(reference, start, _("Carrying out the decision has started."))


def retry_execution(reference: str) -> Response:
    _checked_form()
    version = _version()

    def again(state: Any, r: PrivacyRequest) -> None:
        language = requester_language(state, r)
        execution.retry(state, r, staff_id=current_user_id(), language=language, expected_version=version)

    return _act(reference, again, _("Retrying what failed; what succeeded is not done again."))


def manual_task_done(reference: str, receipt_id: int) -> Response:
    _checked_form()
    version = _version()
    note = _text("note")

    def tick(state: Any, r: PrivacyRequest) -> None:
        try:
            execution.complete_manual_task(
                state, r, receipt_id, staff_id=current_user_id(), note=note, expected_version=version
            )
        except LookupError:
            abort(404)

    return _act(reference, tick, _("Task marked done."))


def disclosure_mailed(reference: str) -> Response:
    _checked_form()
    version = _version()
    try:
        mailed_on = date.fromisoformat(_text("mailed_on", 20).strip())
    except ValueError:
        flash(_("Enter the mailing date as YYYY-MM-DD."), "ome_privacy_error")
        return _back(reference)
    return _act(
        reference,
        lambda state, r: disclosure.mark_mailed(
            state, r, staff_id=current_user_id(), mailed_on=mailed_on, expected_version=version
        ),
        _("Mailing date recorded."),
    )


def release_notice(reference: str) -> Response:
    _checked_form()
    version = _version()
    return _act(
        reference,
        lambda state, r: release(state, r, staff_id=current_user_id(), expected_version=version),
        _("The decision notice was released to the requester."),
    )


def disclosure_print(reference: str) -> str:
    state = current_state()
    privacy_request = _load(reference)
    try:
        package = disclosure.printable(state, privacy_request)
    except DeskError:
        abort(404)
    return render_template(
        "ome_privacy/staff/disclosure_print.html", package=package, request_=privacy_request
    )


# --- the panel the request page includes ----------------------------------------------------------


@dataclass
class PanelItem:
    index: int
    key: ItemKey
    label: str
    decided: ItemDecision
    errors: list[str] = field(default_factory=list)


def _item_label(state: Any, key: ItemKey) -> str:
    source = state.sources.get(key.source)
    if source is None:
        return key.source
    label = translate(source.label)
    if key.field:
        field_ = source.field(key.field)
        label += " — " + (translate(field_.label) if field_ else key.field)
    return label


#: Source actions that are not also a request kind (the kinds carry their own labels).
ACTION_LABELS = {Action.UNLINK.value: N_("Unlink"), Action.COLLECT.value: N_("Collect")}


def receipt_where(state: PrivacyState, receipt: ExecutionReceipt) -> str:
    """Where a receipt's work was done, as staff read it: the source's label or the processor."""
    key = receipt_key(receipt)
    if key.target_type is TargetType.PROCESSOR:
        return str(_("%(name)s (processor)", name=key.target))
    if key.target_type is TargetType.SUBSTITUTE:
        return str(_("Substitute measure: %(name)s", name=key.target))
    source = state.sources.get(key.target)
    return translate(source.label) if source else key.target


def receipt_action(action: str) -> str:
    if action in ACTION_LABELS:
        return str(_(ACTION_LABELS[action]))
    try:
        return str(_(RequestKind(action).label))
    except ValueError:
        return action


def _lazy_staff_names(privacy_request: PrivacyRequest) -> Callable[[Any], str]:
    """Staff names for the section rendered on its own; the request page passes its own
    ``staff_name`` (one lookup for the whole page), so this one asks the host only if used."""
    names: dict[str, str] = {}

    def name(staff_id: Any) -> str:
        if not names:
            ids = [privacy_request.decided_by, privacy_request.approved_by]
            ids += [receipt.executed_by for receipt in privacy_request.receipts]
            names.update(current_state().extension.names_of_staff(ids))
        return names.get(str(staff_id), str(staff_id))

    return name


def decision_panel(privacy_request: PrivacyRequest | None = None) -> dict[str, Any] | None:
    """Everything the decision section shows, for ``privacy_request`` (the request page passes
    the one it loaded) or else the request named in the URL (None: none)."""
    state = current_state()
    if privacy_request is None:
        reference = (request.view_args or {}).get("reference")
        if not isinstance(reference, str):
            return None
        privacy_request = find_request(state.session, reference)
        if privacy_request is None:
            return None
    kind = RequestKind(privacy_request.kind)
    decision = decision_of(privacy_request)
    keys = scope_keys(state, privacy_request)
    errors = validate_decision(kind, keys, decision.items) if decision.items else {}
    items = [
        PanelItem(
            index=index,
            key=key,
            label=_item_label(state, key),
            decided=decision.item(key) or ItemDecision(key.source, key.field),
            errors=[e.label for e in errors.get(key, [])],
        )
        for index, key in enumerate(keys)
    ]
    facts = facts_of(state, privacy_request)
    status = Status(privacy_request.status)
    staff_id = current_user_id()
    four_eyes = bool(state.config("FOUR_EYES"))
    verdicts = [Verdict.GRANTED, Verdict.REFUSED]
    if kind in SUBSTITUTE_KINDS:
        verdicts.append(Verdict.SUBSTITUTE)
    if kind in NO_DATA_KINDS:
        verdicts.append(Verdict.NO_DATA)
    return {
        "request": privacy_request,
        "kind": kind,
        "status": status,
        "items": items,
        "verdicts": verdicts,
        "grounds": [(g, ground_article(kind, g)) for g in grounds_for(kind)],
        "editable": status is Status.UNDER_REVIEW,
        "decided": privacy_request.decided_at is not None,
        "outcome": decision.outcome if privacy_request.decided_at is not None else None,
        "needs_approval": privacy_request.decided_at is not None
        and needs_approval(decision, four_eyes=four_eyes),
        "approval_problems": approval_problems(state, privacy_request, staff_id),
        "execution_blockers": [b.label for b in execution_blockers(facts)],
        "can_execute": status is Status.APPROVED and not execution_blockers(facts),
        "can_send_back": status is Status.APPROVED,
        # Stop using: the uses it stops, named (what was asked until it is decided).
        "stop_uses": [
            translate(state.purposes.get(key).text)
            for key in stop_use_purposes(
                state, privacy_request, granted_only=privacy_request.decided_at is not None
            )
        ]
        if kind is RequestKind.STOP_USE
        else None,
        "receipts": privacy_request.receipts,
        "can_retry": status is Status.EXECUTING
        and any(
            r.status in (ReceiptState.FAILED.value, ReceiptState.PENDING.value)
            for r in privacy_request.receipts
        ),
        "release_blockers": [b.label for b in release_blockers(facts)],
        "has_package": disclosure.has_package(privacy_request),
        "print_url": url_for("ome_privacy_staff.disclosure_print", reference=privacy_request.reference),
        "form": ConfirmForm(),
        "receipt_label": lambda status_: ReceiptState(status_).label,
        "receipt_where": lambda receipt: receipt_where(state, receipt),
        "receipt_action": receipt_action,
        "staff_name": _lazy_staff_names(privacy_request),
        "has_request_page": has_endpoint(REQUEST_ENDPOINT),
    }
