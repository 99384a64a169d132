"""The staff page of one request (``/admin/privacy/requests/<reference>``), part 1.

Summary, the requester's answers, documents (viewed only here, decrypted on the fly, each
view audited), the identity checks, the fee, deficiency notices, internal notes and the
timeline. The decision sections (views/staff_decide.py) plug into the same page through
``ome_privacy/staff/_decision.html`` (included if present): they add their names to the
page's context with ``add_page_context(provider)`` and run their own POSTs through ``act``,
so every action on the page shares the version guard, the messages and the one commit.

Every change is a POST with CSRF, one domain call, one commit. The form carries the
request's ``version``: a form older than the request (someone else acted meanwhile) is
refused with a clear message and the page as it is now, never a lost update; two commits
racing on the same version fail at the second (``StaleDataError``) with the same message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response

from .. import deficiency_notices, documents
from .. import identity_checks as review
from ..config import config_value
from ..decisions import ItemKey, Outcome
from ..documents import DocumentIntegrityError, DocumentKeyError, DocumentPurged
from ..drafts import DisclosureMethod, RequestGround
from ..forms import ConfirmForm
from ..i18n import gettext as _
from ..lifecycle import FeeMethod, FeeStatus, RequestKind, Status, TransitionError
from ..privacy_requests import clock_of
from ..request_decisions import requested_changes, scope_keys
from ..sources import N_
from ..state import current_privacy
from .common import ID, current_user_id, reference_or_404

STALE_MESSAGE = N_(
    "Someone else changed this request — reload the page and check what changed before you try again."
)
PAGE = "ome_privacy/staff/request.html"
#: Types a document is shown inline with; anything else (PDF) is a download.
INLINE_TYPES = frozenset({"image/jpeg", "image/png"})


FEE_LABELS = {
    "not_required": N_("Not required"),
    "outstanding": N_("Outstanding"),
    "received": N_("Received"),
    "waived": N_("Waived"),
}
FEE_METHOD_LABELS = {
    FeeMethod.REGISTERED_CASH_MAIL.value: N_("Registered cash mail"),
    FeeMethod.POSTAL_MONEY_ORDER.value: N_("Postal money order"),
    FeeMethod.TRANSFER.value: N_("Bank transfer"),
}
ACTOR_LABELS = {"staff": N_("Staff"), "user": N_("Requester"), "system": N_("System"), "host": N_("Site")}
#: What each event on a request is called on its timeline (unknown ones show their code).
TIMELINE_LABELS = {
    "request.submitted": N_("Request received"),
    "request.moved": N_("Status changed"),
    "identity.checks_recorded": N_("Identity checks saved"),
    "identity.verified": N_("Identity verified"),
    "document.viewed": N_("Document viewed"),
    "document.masked_by_staff": N_("Masked copy uploaded by staff"),
    "fee.received": N_("Fee received"),
    "fee.waived": N_("Fee waived"),
    "deficiency.sent": N_("Deficiency notice sent"),
    "note.added": N_("Internal note added"),
    "message.deficiency": N_("Deficiency notice"),
    "message.answer": N_("Answer from the requester"),
    "message.note": N_("Internal note"),
    "message.decision": N_("Decision notice"),
    "request.assigned": N_("Assigned"),
    "request.postal_registered": N_("Mailed request registered"),
    "request.documents_attached": N_("Documents attached"),
    "request.answered": N_("The requester answered"),
    "request.decided": N_("Decision recorded"),
    "request.sent_back": N_("Decision sent back to review"),
    "request.approved": N_("Decision approved by a second staff member"),
    "request.execution_started": N_("Carrying out started"),
    "request.execution_retried": N_("Carrying out retried"),
    "request.manual_task_done": N_("Manual task done"),
    "request.executed": N_("Decision carried out"),
    "request.released": N_("Result released"),
    "request.disclosure_mailed": N_("Disclosure mailed"),
    "request.mail_sent": N_("Email sent to the requester"),
    "request.package_downloaded": N_("Package downloaded by the requester"),
    "request.data_purged": N_("Documents and request details purged"),
    "job.retried": N_("Failed job retried"),
}


#: What each part of the requester's answers is called on the staff page (the scope's keys).
ANSWER_LABELS = {
    "data": N_("Information asked about"),
    "changes": N_("New values asked for"),
    "ground": N_("Ground given"),
    "purposes": N_("Uses to stop"),
    "recipients": N_("Third parties to stop providing to"),
    "method": N_("How the disclosure is wanted"),
    "requester": N_("Who is asking"),
    "representative": N_("Representative"),
    "submitted_with": N_("Filed together with"),
}
REPRESENTATIVE_LABELS = {
    "name": N_("Name"),
    "relationship": N_("Relationship"),
    "postal_address": N_("Postal address"),
    "email": N_("Email"),
}
#: Scope keys shown through the labels above (any other key is shown as it is stored).
_SHOWN_KEYS = frozenset(
    {
        "sources",
        "fields",
        "items",
        "changes",
        "purposes",
        "purposes_all",
        "recipients",
        "requester",
        "representative",
        "submitted_with",
    }
)


@dataclass(frozen=True)
class Answer:
    """One line of "What the requester asked": a label and its values, or labelled parts."""

    label: str
    values: tuple[str, ...] = ()
    parts: tuple[tuple[str, str], ...] = ()


def _item_text(state: Any, key: ItemKey) -> str:
    source = state.sources.get(key.source)
    if source is None:
        return key.source
    label = str(_(source.label))
    if key.field:
        found = source.field(key.field)
        label += " — " + (_(found.label) if found else key.field)
    return label


def requester_answers(state: Any, privacy_request: review.PrivacyRequest) -> list[Answer]:
    """The requester's answers as a privacy officer reads them: labels, never the stored keys."""
    scope: dict[str, Any] = dict(privacy_request.scope or {})
    kind = RequestKind(privacy_request.kind)
    answers: list[Answer] = []
    if any(scope.get(name) for name in ("sources", "fields", "items")):
        data = tuple(_item_text(state, key) for key in scope_keys(state, privacy_request))
    else:
        data = (_("All the information we hold about the person"),)
    answers.append(Answer(_(ANSWER_LABELS["data"]), data))
    changes = requested_changes(privacy_request)
    if changes:
        parts = tuple(
            (_item_text(state, ItemKey(source, name)), str(value))
            for source, values in changes.items()
            for name, value in values.items()
        )
        answers.append(Answer(_(ANSWER_LABELS["changes"]), parts=parts))
    if privacy_request.ground:
        ground = privacy_request.ground
        known = {g.value: g.label for g in RequestGround}
        answers.append(Answer(_(ANSWER_LABELS["ground"]), (_(known[ground]) if ground in known else ground,)))
    if kind is RequestKind.STOP_USE:
        if scope.get("purposes") and not scope.get("purposes_all"):
            texts = {p.key: p.text for c in state.purposes for p in state.purposes.for_category(c.key)}
            uses = tuple(_(texts[key]) if key in texts else str(key) for key in scope["purposes"])
        else:
            uses = (_("Every use of this information"),)
        answers.append(Answer(_(ANSWER_LABELS["purposes"]), uses))
    if kind is RequestKind.STOP_THIRD_PARTY:
        recipients = tuple(str(r) for r in scope.get("recipients") or ()) or (_("Every third party"),)
        answers.append(Answer(_(ANSWER_LABELS["recipients"]), recipients))
    if privacy_request.disclosure_method:
        method = privacy_request.disclosure_method
        methods = {m.value: m.label for m in DisclosureMethod}
        answers.append(
            Answer(_(ANSWER_LABELS["method"]), (_(methods[method]) if method in methods else method,))
        )
    representative = scope.get("representative")
    if isinstance(representative, dict) and any(representative.values()):
        parts = tuple(
            (_(label), str(representative.get(name) or "—")) for name, label in REPRESENTATIVE_LABELS.items()
        )
        answers.append(Answer(_(ANSWER_LABELS["representative"]), parts=parts))
    others = tuple(str(r) for r in scope.get("submitted_with") or () if r != privacy_request.reference)
    if others:
        answers.append(Answer(_(ANSWER_LABELS["submitted_with"]), others))
    for key, value in scope.items():  # anything a host or an older form stored: as it is
        if key not in _SHOWN_KEYS and value not in (None, "", [], {}):
            answers.append(Answer(str(key), (str(value),)))
    return answers


#: Functions adding names to the request page's context (the decision sections' data).
_PAGE_CONTEXT: list[Callable[[review.PrivacyRequest], Mapping[str, Any]]] = []


def add_page_context(provider: Callable[[review.PrivacyRequest], Mapping[str, Any]]) -> None:
    """Let another part of the page (``_decision.html``) add what it shows; added once however often asked."""
    if provider not in _PAGE_CONTEXT:
        _PAGE_CONTEXT.append(provider)


def register_request_pages(bp: Blueprint) -> None:
    """Add the request page and its part-1 actions to the staff blueprint."""
    base = "/requests/<reference>"
    bp.add_url_rule(base, "request", request_page)
    bp.add_url_rule(f"{base}/documents/<{ID}:document_id>", "document", document)
    bp.add_url_rule(
        f"{base}/documents/<{ID}:document_id>/masked", "masked_copy", masked_copy, methods=["POST"]
    )
    bp.add_url_rule(
        f"{base}/identity/start", "start_identity_review", start_identity_review, methods=["POST"]
    )
    bp.add_url_rule(f"{base}/identity/checks", "identity_checks", identity_checks, methods=["POST"])
    bp.add_url_rule(f"{base}/identity/verify", "verify_identity", verify_identity, methods=["POST"])
    bp.add_url_rule(f"{base}/fee", "fee", fee, methods=["POST"])
    bp.add_url_rule(f"{base}/deficiency", "deficiency", deficiency, methods=["POST"])
    bp.add_url_rule(f"{base}/notes", "note", note, methods=["POST"])


def _load(reference: str) -> review.PrivacyRequest:
    found = review.request_by_reference(current_privacy().session, reference_or_404(reference))
    if found is None:
        abort(404)
    return found


def staff_ids_on_page(privacy_request: review.PrivacyRequest, timeline: list[Any]) -> set[str]:
    """Every staff member the page names (summary, checks, decision, receipts, timeline): one
    call of the host's ``staff_names`` hook serves them all."""
    ids = {
        privacy_request.assigned_to,
        privacy_request.identity_verified_by,
        privacy_request.fee_recorded_by,
        privacy_request.decided_by,
        privacy_request.approved_by,
    }
    ids.update(
        tick.get("by") for tick in (privacy_request.identity_checks or {}).values() if isinstance(tick, dict)
    )
    ids.update(receipt.executed_by for receipt in privacy_request.receipts)
    ids.update(entry.actor_id for entry in timeline if entry.actor_role == "staff")
    return {str(i) for i in ids if i}


def render_page(
    privacy_request: review.PrivacyRequest,
    *,
    errors: dict[str, str] | None = None,
    entered: dict[str, Any] | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    """The request page; with ``errors`` (section → message) and what was entered kept."""
    state = current_privacy()
    now_clock = clock_of(privacy_request)
    kind = RequestKind(privacy_request.kind)
    seal = review.seal_problem(privacy_request)
    timeline = review.timeline(state.session, privacy_request)
    names = state.names_of_staff(staff_ids_on_page(privacy_request, timeline))
    context = {
        "req": privacy_request,
        "kind": kind,
        "status": Status(privacy_request.status),
        "days_since": review.days_since_receipt(privacy_request),
        "days_left": now_clock.days_left(review.utcnow()),
        "paused": privacy_request.paused_since is not None,
        "checklist": review.checklist_for(privacy_request),
        "checks": review.checks_for(privacy_request),
        "ticked": privacy_request.identity_checks or {},
        "seal_needed": review.needs_seal_certificate(privacy_request),
        "seal_problem": documents.message_text(seal) if seal is not None else None,
        "identity_problems": review.identity_problems(privacy_request),
        "methods": list(review.IdentityMethod),
        "fee_methods": list(FeeMethod),
        "fee_outstanding": FeeStatus(privacy_request.fee_status) is FeeStatus.OUTSTANDING,
        "fee_yen": config_value("FEE_YEN"),
        "today": state.today(),
        "notes": [m for m in privacy_request.messages if m.kind == "note"],
        "timeline": timeline,
        "answers": requester_answers(state, privacy_request),
        "staff_name": lambda staff_id: names.get(str(staff_id), str(staff_id)),
        "may_send_notice": Status(privacy_request.status) in deficiency_notices.NOTICE_STATUSES,
        "answer_days": config_value("DEFICIENCY_ANSWER_DAYS"),
        "inline_types": INLINE_TYPES,
        "doc_type_labels": {doc_type.value: doc_type.label for doc_type in documents.DocType},
        "requester_label": review.requester_of(privacy_request).label,
        "fee_label": FEE_LABELS.get(privacy_request.fee_status, privacy_request.fee_status),
        "method_label": (
            review.IdentityMethod(privacy_request.identity_method).label
            if privacy_request.identity_method in {m.value for m in review.IdentityMethod}
            else privacy_request.identity_method or ""
        ),
        "fee_method_label": FEE_METHOD_LABELS.get(
            privacy_request.fee_method or "", privacy_request.fee_method or ""
        ),
        "fee_method_labels": FEE_METHOD_LABELS,
        "actor_labels": ACTOR_LABELS,
        "timeline_labels": TIMELINE_LABELS,
        "status_labels": {s.value: s.staff_label for s in Status},
        "outcome_labels": {o.value: o.label for o in Outcome},
        "errors": errors or {},
        "entered": entered or {},
        "form": ConfirmForm(),
        "item_labels": {entry.code: entry.message for entry in review.checklist_for(privacy_request)},
    }
    for provider in _PAGE_CONTEXT:
        context.update(provider(privacy_request))
    return render_template(PAGE, **context), status


def request_page(reference: str) -> ResponseReturnValue:
    return render_page(_load(reference))


def document(reference: str, document_id: int) -> Response:
    """One document, decrypted for this view only; never cached, never sniffed, each view audited."""
    privacy_request = _load(reference)
    if review.document_of(privacy_request, document_id) is None:
        abort(404)
    session = current_privacy().session
    try:
        opened = documents.read(session, document_id)
    except DocumentPurged:
        abort(410, _("This document was deleted after its retention period."))
    except (DocumentKeyError, DocumentIntegrityError):
        abort(
            409,
            _("This document cannot be opened: its key or checksum does not match. Tell the administrator."),
        )
    review.record_document_view(session, privacy_request, document_id, actor_id=current_user_id())
    session.commit()
    response = Response(opened.data, mimetype=opened.content_type)
    name = f"{privacy_request.reference}-{document_id}.{opened.extension}"
    disposition = "inline" if opened.content_type in INLINE_TYPES else "attachment"
    response.headers["Content-Disposition"] = f'{disposition}; filename="{name}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response


# --- the actions ---------------------------------------------------------------------------


def act(
    reference: str,
    section: str,
    action: Callable[[review.PrivacyRequest], object],
    done: str,
    *,
    versioned: bool = True,
) -> ResponseReturnValue:
    """CSRF, the version guard, one domain call, one commit; errors shown on the page, 303 after.

    ``section`` is the id of the page section the action belongs to (its errors show there,
    and the redirect lands there). ``versioned=False`` only for additions that cannot
    conflict (a note).
    """
    if not ConfirmForm().validate_on_submit():
        abort(400, _("The form expired. Reload the page and try again."))
    privacy_request = _load(reference)
    session = current_privacy().session
    entered = request.form.to_dict(flat=True)
    if versioned and request.form.get("version", type=int) != privacy_request.version:
        return render_page(privacy_request, errors={section: _(STALE_MESSAGE)}, entered=entered, status=409)
    try:
        action(privacy_request)
        session.commit()
    except review.ReviewError as problem:
        session.rollback()
        message = _(problem.message, **problem.params)
        return render_page(_load(reference), errors={section: message}, entered=entered, status=400)
    except TransitionError:
        session.rollback()
        message = _("This cannot be done while the request is in this state.")
        return render_page(_load(reference), errors={section: message}, entered=entered, status=409)
    except review.StaleDataError:
        session.rollback()
        return render_page(_load(reference), errors={section: _(STALE_MESSAGE)}, entered=entered, status=409)
    flash(done, "ome_privacy")
    return redirect(url_for(".request", reference=reference, _anchor=section), code=303)


def start_identity_review(reference: str) -> ResponseReturnValue:
    return act(
        reference,
        "identity",
        lambda r: review.start_identity_review(current_privacy().session, r, actor_id=current_user_id()),
        _("Identity review started."),
    )


def identity_checks(reference: str) -> ResponseReturnValue:
    ticked = request.form.getlist("check")
    return act(
        reference,
        "identity",
        lambda r: review.record_checks(current_privacy().session, r, ticked, actor_id=current_user_id()),
        _("Checks saved."),
    )


def verify_identity(reference: str) -> ResponseReturnValue:
    method = request.form.get("method", "")
    return act(
        reference,
        "identity",
        lambda r: review.verify_identity(current_privacy().session, r, method, actor_id=current_user_id()),
        _("Identity verified. The request is now under review."),
    )


def masked_copy(reference: str, document_id: int) -> ResponseReturnValue:
    upload = request.files.get("file")

    def replace(privacy_request: review.PrivacyRequest) -> None:
        doc = review.document_of(privacy_request, document_id)
        if doc is None:
            abort(404)
        if upload is None or not upload.filename:
            raise review.ReviewError(N_("Choose the masked copy to upload."))
        try:
            clean = documents.check_upload(upload.stream)
        except documents.UploadRefused as refused:
            raise review.ReviewError(documents.message_text(refused)) from None
        review.replace_with_masked_copy(
            current_privacy().session, privacy_request, doc, clean, actor_id=current_user_id()
        )

    return act(reference, "documents", replace, _("The masked copy replaced the original."))


def _parse_day(value: str) -> date | None:
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def fee(reference: str) -> ResponseReturnValue:
    form = request.form
    outcome = form.get("outcome", "")

    def record(privacy_request: review.PrivacyRequest) -> None:
        session = current_privacy().session
        if outcome == "waived":
            review.waive_fee(session, privacy_request, form.get("reason", ""), actor_id=current_user_id())
            return
        if outcome != "received":
            raise review.ReviewError(N_("Choose whether the fee was received or waived."))
        received = _parse_day(form.get("received_on", ""))
        if received is None:
            raise review.ReviewError(N_("Enter the day the fee was received."))
        amount = form.get("amount", type=int)
        if amount is None:
            raise review.ReviewError(N_("Enter the amount received in yen."))
        review.record_fee_received(
            session,
            privacy_request,
            received_on=received,
            amount=amount,
            method=form.get("method", ""),
            actor_id=current_user_id(),
            today=current_privacy().today(),
        )

    return act(reference, "fee", record, _("Fee recorded."))


def deficiency(reference: str) -> ResponseReturnValue:
    chosen = request.form.getlist("item")
    text = request.form.get("text", "")
    return act(
        reference,
        "deficiency",
        lambda r: deficiency_notices.send_notice(
            current_privacy().session,
            r,
            chosen,
            text,
            answer_days=int(config_value("DEFICIENCY_ANSWER_DAYS")),
            actor_id=current_user_id(),
        ),
        _("The notice was sent. The request waits for the requester's answer."),
    )


def note(reference: str) -> ResponseReturnValue:
    body = request.form.get("body", "")
    return act(
        reference,
        "notes",
        lambda r: review.add_note(current_privacy().session, r, body, actor_id=current_user_id()),
        _("Note added."),
        versioned=False,
    )
