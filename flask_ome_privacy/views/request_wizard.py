"""The request wizard (``/account/privacy/requests/new``): one question a page, kept in a draft.

Thin: ``drafts`` decides what each step asks and when an answer is complete, ``documents``
checks and stores uploads, ``privacy_requests.submit`` (through ``drafts.submit_draft``)
creates the requests. These views read the form, call them, and render. Works without
JavaScript: every button is a submit button of one form per page; every refused answer
comes back on the same page with everything entered still there.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from flask import abort, redirect, render_template, request, url_for
from flask_babel import format_date, get_locale
from flask_login import current_user
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response

from .. import documents, drafts, mail
from ..config import config_value
from ..documents import DocType, DocumentRole, UploadRefused
from ..forms import ConfirmForm
from ..i18n import gettext as _
from ..lifecycle import RequestKind
from ..signals import request_submitted
from ..state import current_privacy, current_state
from .common import current_user_id, reference_or_404

if TYPE_CHECKING:  # only the type: views hold no SQL and load drafts through ``drafts``
    from ..models import RequestDraft

TEMPLATE = "ome_privacy/requests/new/{step}.html"
Page = Response | str | tuple[str, int]

#: Form fields kept per step (the rest of the answers stay as they are).
_LIST_FIELDS = {"what": ("kinds",), "data": ("sources", "fields", "recipients", "purposes")}
_TEXT_FIELDS = {
    "data": ("ground", "method", "purpose_scope"),
    "who": ("requester", "rep_name", "rep_relationship", "rep_address", "rep_email"),
}


def _errors_text(errors: drafts.StepErrors) -> dict[str, str]:
    return {name: _(message, **_format(params)) for name, (message, params) in errors.items()}


def _format(params: dict[str, Any]) -> dict[str, Any]:
    return {k: format_date(v, "long") if isinstance(v, date) else v for k, v in params.items()}


def _form_data() -> tuple[Any, Any] | None:
    """``request.form`` and ``request.files``, or None when the body was too large to read."""
    try:
        return request.form, request.files
    except RequestEntityTooLarge:
        return None


def _render(draft: RequestDraft | None, step: str, *, status: int = 200, **context: Any) -> tuple[str, int]:
    answers = dict(draft.answers or {}) if draft is not None else dict(context.pop("answers", {}))
    steps = drafts.steps_for(answers)
    return (
        render_template(
            TEMPLATE.format(step=step),
            draft=draft,
            step=step,
            steps=steps,
            answers=answers,
            kinds=drafts.kinds_of(answers),
            RequestKind=RequestKind,
            explanations=drafts.KIND_EXPLANATIONS,
            form=context.pop("form", None) or ConfirmForm(),
            errors=context.pop("errors", {}),
            **context,
        ),
        status,
    )


# --- step 1: what ------------------------------------------------------------------------------


def new_request() -> Page:
    """GET: the first question, pre-filled from ``?kind=&source=&field=``. POST: start the draft."""
    privacy = current_privacy()
    if request.method == "POST":
        data = _form_data()
        if data is None:
            abort(413)
        posted, _files = data
        form = ConfirmForm()
        answers = {
            "kinds": posted.getlist("kinds"),
            "sources": [s for s in posted.getlist("sources") if s in privacy.sources][:50],
            "fields": posted.getlist("fields")[:200],
        }
        if not form.validate_on_submit():
            return _render(None, "what", status=400, answers=answers, form=form, csrf_failed=True)
        errors = drafts.check_what(answers)
        if errors:
            return _render(None, "what", status=400, answers=answers, form=form, errors=_errors_text(errors))
        draft = drafts.new_draft(privacy.session, current_user_id(), {})
        drafts.save_answers(privacy.session, draft, answers, "data")
        privacy.session.commit()
        return redirect(url_for(".new_request_step", draft_id=draft.token, step="data"), code=303)
    form = ConfirmForm()
    pre = drafts.prefill(
        privacy.sources,
        request.args.get("kind", type=str),
        request.args.get("source", type=str),
        request.args.get("field", type=str),
    )
    answers = {"kinds": pre.kinds, "sources": pre.sources, "fields": pre.fields}
    return _render(
        None,
        "what",
        answers=answers,
        notices=[_(message, **params) for message, params in pre.problems],
        open_drafts=drafts.open_drafts(privacy.session, current_user_id()),
    )


# --- steps 2-6 ----------------------------------------------------------------------------------


def _draft_or_404(draft_id: str) -> RequestDraft:
    draft = drafts.draft_for(current_state().session, current_user_id(), reference_or_404(draft_id, 32))
    if draft is None:
        abort(404)
    return draft


def _neighbour(steps: list[str], step: str, offset: int) -> str | None:
    index = steps.index(step) + offset
    return steps[index] if 0 <= index < len(steps) else None


def _go(draft: RequestDraft, step: str) -> Response:
    if step == "what":
        return redirect(url_for(".new_request_step", draft_id=draft.token, step="what"), code=303)
    return redirect(url_for(".new_request_step", draft_id=draft.token, step=step), code=303)


def new_request_step(draft_id: str, step: str) -> Page:
    if step not in drafts.STEPS:
        abort(404)
    draft = _draft_or_404(draft_id)
    session = current_state().session
    if draft.step == "submitted":
        done = (draft.answers or {}).get("submitted_references") or []
        if done:
            return redirect(url_for(".new_request_done", reference=done[0]), code=303)
        abort(404)
    steps = drafts.steps_for(draft.answers or {})
    if step not in steps:  # the fee step for kinds without a fee: never shown
        return _go(draft, "check")
    if request.method == "GET":
        return _render(draft, step, **_context(draft, step))
    data = _form_data()
    if data is None:
        too_large = _("The file is larger than %(limit)s MB. Please upload a smaller copy.", limit=_mb())
        return _render(
            draft,
            step,
            status=413,
            errors={"file": too_large},
            form=ConfirmForm(formdata=None),
            **_context(draft, step),
        )
    posted, files = data
    form = ConfirmForm()  # after the body was read: a body over the limit gets our page, not a bare 413
    if not form.validate_on_submit():
        return _render(draft, step, status=400, csrf_failed=True, **_context(draft, step))
    action = posted.get("action", "continue")
    answers = _answers_from(step, posted, draft)
    errors: dict[str, str] = {}
    if step == "documents":
        errors.update(_documents_post(draft, posted, files))
    if action == "submit" and step == "check":
        return _submit(draft)
    if action == "back":
        drafts.save_answers(session, draft, answers, draft.step)
        session.commit()
        previous = _neighbour(drafts.steps_for(draft.answers or {}), step, -1)
        return _go(draft, previous or "what")
    errors.update(_errors_text(_check(step, answers, draft)))
    drafts.save_answers(session, draft, answers, draft.step if errors else step)
    session.commit()
    if errors or action.startswith(("upload", "remove")):
        status = 400 if errors else 200
        return _render(draft, step, status=status, errors=errors, **_context(draft, step))
    if posted.get("return_to") == "check":
        return _go(draft, "check")
    following = _neighbour(drafts.steps_for(draft.answers or {}), step, 1)
    return _go(draft, following or "check")


def _answers_from(step: str, posted: Any, draft: RequestDraft) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    for name in _LIST_FIELDS.get(step, ()):
        answers[name] = [str(v)[:200] for v in posted.getlist(name)][:200]
    for name in _TEXT_FIELDS.get(step, ()):
        answers[name] = str(posted.get(name, ""))[:1000]
    if step == "data":
        answers["changes"] = {
            item: str(posted.get(f"value-{item}", ""))[:1000]
            for item in answers.get("fields", [])
            if f"value-{item}" in posted
        }
        for kept, value in (draft.answers or {}).get("changes", {}).items():
            answers["changes"].setdefault(kept, value)
    if step == "documents" and "seal_issued_on" in posted:
        answers["seal_issued_on"] = str(posted.get("seal_issued_on", ""))[:10]
    return answers


def _check(step: str, answers: dict[str, Any], draft: RequestDraft) -> drafts.StepErrors:
    merged = {**(draft.answers or {}), **answers}
    state = current_state()
    if step == "what":
        return drafts.check_what(merged)
    if step == "data":
        return drafts.check_data(
            state.sources,
            merged,
            drafts.recipients_for(state.session, current_user_id()),
            state.purposes,
        )
    if step == "who":
        return drafts.check_who(merged)
    if step == "documents":
        if request.form.get("action", "continue").startswith(("upload", "remove")):
            return {}
        return drafts.check_documents(merged, state.today())
    return {}


def _mb() -> str:
    return f"{int(config_value('MAX_UPLOAD_BYTES')) / (1024 * 1024):g}"


def _documents_post(draft: RequestDraft, posted: Any, files: Any) -> dict[str, str]:
    """Remove what was asked to go; check and store every chosen file. Errors per item."""
    session = current_state().session
    errors: dict[str, str] = {}
    action = str(posted.get("action", ""))
    if action.startswith("remove:"):
        try:
            document_id = int(action.partition(":")[2])
        except ValueError:
            document_id = 0
        if 0 < document_id < 2**31 and drafts.remove_document(session, draft, document_id):
            session.commit()
    answers = {**(draft.answers or {})}
    if "seal_issued_on" in posted:
        answers["seal_issued_on"] = str(posted.get("seal_issued_on", ""))[:10]
    existing = drafts.draft_documents(session, draft)
    items = drafts.document_checklist(answers, existing)
    roles = {item.role.value: item for item in items}
    for role_value, item in roles.items():
        upload: FileStorage | None = files.get(f"file-{role_value}")
        if upload is None or not upload.filename:
            continue
        type_value = str(posted.get(f"doc_type-{role_value}", ""))
        if type_value not in {t.value for t in item.accepted}:
            if len(item.accepted) == 1:
                type_value = item.accepted[0].value
            else:
                errors[f"doc_type-{role_value}"] = _("Please say which document this is.")
                continue
        issued_on = None
        raw_date = str(posted.get(f"issued_on-{role_value}", "")).strip()
        if raw_date:
            try:
                issued_on = date.fromisoformat(raw_date)
            except ValueError:
                errors[f"issued_on-{role_value}"] = _("Please enter the date as YYYY-MM-DD.")
                continue
        if item.role is DocumentRole.SEAL_CERTIFICATE:
            issued_on = drafts.seal_issued_on(answers)
            if issued_on is None:
                errors["seal_issued_on"] = _(documents.rules.SEAL_MISSING_DATE)
                continue
        try:
            clean = documents.check_upload(upload.stream)
        except UploadRefused as refused:
            errors[f"file-{role_value}"] = documents.message_text(refused)
            continue
        drafts.store_document(session, draft, item.role, DocType(type_value), clean, issued_on)
        session.commit()
    return errors


def _context(draft: RequestDraft, step: str) -> dict[str, Any]:
    state = current_state()
    answers = dict(draft.answers or {})
    context: dict[str, Any] = {}
    if step in ("data", "check"):
        chosen = set(answers.get("sources") or ())
        # The sources the request is about first (e.g. the one the "Ask to correct" link named).
        context["sources"] = sorted(state.sources, key=lambda source: source.key not in chosen)
        context["grounds"] = drafts.grounds_for_kinds(drafts.kinds_of(answers))
        context["recipients"] = drafts.recipients_for(state.session, current_user_id())
        context["methods"] = list(drafts.DisclosureMethod)
        # "Stop using": the uses, grouped by the category of information they belong to.
        context["purpose_scopes"] = list(drafts.PurposeScope)
        context["stop_purposes"] = [
            (category, [p for p in state.purposes.for_category(category.key)])
            for category in state.purposes
            if state.purposes.for_category(category.key)
        ]
        context["purpose_text"] = {
            p.key: p.text for c in state.purposes for p in state.purposes.for_category(c.key)
        }
        context["value_kinds"] = bool(set(drafts.kinds_of(answers)) & drafts.VALUE_KINDS)
    if step in ("who", "check"):
        context["requesters"] = list(documents.Requester)
    if step in ("documents", "check"):
        existing = drafts.draft_documents(state.session, draft)
        items = drafts.document_checklist(answers, existing)
        context["documents"] = existing
        context["checklist"] = items
        context["missing"] = drafts.missing_roles(items, existing)
        context["missing_labels"] = ", ".join(_(item.label) for item in context["missing"])
        context["doc_label"] = lambda value: DocType(value).label
        context["role_label"] = lambda value: DocumentRole(value).label
        context["masking"] = {t: documents.masking_instructions(t) for item in items for t in item.accepted}
        context["max_mb"] = _mb()
        problem = drafts.seal_problem(answers, state.today())
        shown = problem is not None and bool(answers.get("seal_issued_on"))
        context["seal_problem"] = documents.message_text(problem) if problem and shown else None
    if step in ("fee", "check"):
        context["fee_yen"] = int(config_value("FEE_YEN"))
        context["fee_methods"] = drafts.fee_methods(config_value("FEE_METHODS"))
        context["fee_kinds"] = [k for k in drafts.kinds_of(answers) if k.carries_fee]
    return context


def _submit(draft: RequestDraft) -> Page:
    privacy = current_privacy()
    session = privacy.session
    user = current_user._get_current_object()
    try:
        created = drafts.submit_draft(current_state(), draft)
    except drafts.DraftGone:
        session.rollback()
        draft = _draft_or_404(draft.token)
        done = (draft.answers or {}).get("submitted_references") or []
        if done:
            return redirect(url_for(".new_request_done", reference=done[0]), code=303)
        abort(404)
    except drafts.TooManyRequests:
        session.rollback()
        draft = _draft_or_404(draft.token)
        errors = {
            "submit": _(
                "You have made many requests in the last hour. Your answers are kept: please submit "
                "again later, or contact us."
            )
        }
        return _render(draft, "check", status=429, errors=errors, **_context(draft, "check"))
    if getattr(user, "email", None):
        # A receipt per request, sent by a job after the commit (the job looks the address up).
        language = str(get_locale() or config_value("LANGUAGES")[0])
        for made in created:
            mail.queue_mail(privacy.state.app, made, "request_received", language)
    session.commit()
    request_submitted.send(privacy.state.app, user=user, requests=created)
    return redirect(url_for(".new_request_done", reference=created[0].reference), code=303)


def new_request_done(reference: str) -> Page:
    """The receipt: a reference per request, what happens next, and a printable form per request."""
    state = current_state()
    batch = drafts.submitted_batch(state.session, current_user_id(), reference_or_404(reference))
    if not batch:
        abort(404)
    return render_template(
        "ome_privacy/requests/new/done.html",
        requests=batch,
        RequestKind=RequestKind,
        fee_yen=int(config_value("FEE_YEN")),
        fee_methods=drafts.fee_methods(config_value("FEE_METHODS")),
        requesters={r.value: r for r in documents.Requester},
        grounds={g.value: g for g in drafts.RequestGround},
        methods={m.value: m for m in drafts.DisclosureMethod},
        sources=current_privacy().sources,
        today=state.today(),
    )


def too_large(error: RequestEntityTooLarge) -> Page | RequestEntityTooLarge:
    """A body over ``MAX_CONTENT_LENGTH`` on a wizard step (refused wherever it was first read,
    e.g. by the host's CSRFProtect): the same page back with the message, answers kept."""
    args = request.view_args or {}
    if not current_user.is_authenticated:
        return error
    if request.endpoint != "ome_privacy_account.new_request_step" or args.get("step") not in drafts.STEPS:
        return error
    draft = drafts.draft_for(current_state().session, current_user_id(), str(args.get("draft_id", "")))
    if draft is None or draft.step == "submitted":
        return error
    step = str(args["step"])
    message = _("The file is larger than %(limit)s MB. Please upload a smaller copy.", limit=_mb())
    return _render(
        draft,
        step,
        status=413,
        errors={"file": message},
        form=ConfirmForm(formdata=None),
        **_context(draft, step),
    )


def register(bp: Any) -> None:
    """Add the wizard's routes to the account blueprint."""
    bp.register_error_handler(RequestEntityTooLarge, too_large)
    bp.add_url_rule("/requests/new", "new_request", new_request, methods=["GET", "POST"])
    bp.add_url_rule(
        "/requests/new/<draft_id>/<step>", "new_request_step", new_request_step, methods=["GET", "POST"]
    )
    bp.add_url_rule("/requests/submitted/<reference>", "new_request_done", new_request_done)


__all__ = ["register", "new_request", "new_request_step", "new_request_done"]
