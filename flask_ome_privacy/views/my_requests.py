"""The person's own rights requests (``/account/privacy/requests``): follow, answer, withdraw.

Thin: what a person may see and do lives in ``requester_actions.py``, the moves in
``privacy_requests.py``, document checks and storage in ``documents``, the disclosure
package and how long it may be downloaded in ``disclosure``. Another person's reference
answers 404 on every URL here, never 403.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask import abort, flash, redirect, render_template, request, stream_with_context, url_for
from flask_babel import get_locale
from werkzeug.datastructures import FileStorage
from werkzeug.wrappers import Response

from .. import documents
from ..config import config_value
from ..decisions import Outcome, RefusalGround, Verdict
from ..disclosure import (
    PackageAccess,
    PackageState,
    disclosure_package,
    package_access,
    package_filename,
    record_download,
)
from ..documents import DocType, UploadRefused
from ..forms import ConfirmForm
from ..i18n import gettext as _
from ..i18n import translate
from ..lifecycle import FeeStatus, RequestKind, Status, may_withdraw
from ..requester_actions import (
    MAX_ANSWER_LENGTH,
    AnswerError,
    AnswerUpload,
    ChangedMeanwhile,
    Notice,
    WithdrawRefused,
    answer_deficiency,
    decision_items,
    deficiency_notice,
    is_released,
    request_for,
    requests_for,
    summary_of,
    timeline,
    withdraw_request,
)
from ..sources import N_
from ..state import current_state
from .common import current_user_id, optional_url, reference_or_404, request_url

ANSWER_ERRORS: dict[str, str] = {
    "empty": N_("Please upload a document, correct the details or write a message before sending."),
    "too_long": N_("Please keep each text under 4,000 characters."),
    "wrong_document": N_("That document was not asked for in this notice."),
    "not_waiting": N_("This request is not waiting for an answer from you any more."),
    "changed": N_(
        "This request changed while you were answering. Please check it and send your answer again."
    ),
}


def _own_request_or_404(reference: str) -> Any:
    found = request_for(current_state().session, current_user_id(), reference_or_404(reference))
    if found is None:
        abort(404)
    return found


def requests_list() -> str:
    state = current_state()
    return render_template(
        "ome_privacy/requests/list.html", summaries=requests_for(state.session, current_user_id())
    )


def _package_access(found: Any) -> PackageAccess:
    """Reads ``OME_PRIVACY_RESULT_DAYS``."""
    return package_access(found, int(config_value("RESULT_DAYS")))


@dataclass(frozen=True)
class NoticeRow:
    """One item of the released decision notice, as the requester reads it."""

    #: The item named as the data page names it ("Profile: Email address").
    label: str
    verdict: Verdict
    #: The refusal ground's message id (the legal ground staff chose), for a refusal.
    ground: str | None
    #: Staff's own words: the reason for a refusal (or more about a measure).
    reason: str
    #: What was done instead, for a substitute measure.
    substitute: str


def _notice_rows(items: list[Any]) -> list[NoticeRow]:
    rows = []
    for item in items:
        verdict = Verdict(item.verdict) if item.verdict in Verdict._value2member_map_ else Verdict.UNDECIDED
        if verdict is Verdict.UNDECIDED:  # rows from before verdicts were stored: the bool says it
            verdict = Verdict.GRANTED if item.granted else Verdict.REFUSED
        ground = RefusalGround(item.ground) if item.ground in RefusalGround._value2member_map_ else None
        rows.append(
            NoticeRow(
                label=_source_label(item.item),
                verdict=verdict,
                ground=ground.label if ground is not None and verdict is Verdict.REFUSED else None,
                reason=(item.reason or "").strip(),
                substitute=(item.substitute or "").strip() if verdict is Verdict.SUBSTITUTE else "",
            )
        )
    return rows


def _outcome(value: str | None) -> Outcome | None:
    """The decision's outcome code (``PrivacyRequest.decision``, the body of a "decision"
    message) as an ``Outcome``, so the page says it in words; None for anything else."""
    return Outcome(value) if value in Outcome._value2member_map_ else None


def _render_detail(
    found: Any,
    *,
    errors: dict[str, str] | None = None,
    answer: dict[str, str] | None = None,
    status: int = 200,
) -> tuple[str, int]:
    state = current_state()
    return (
        render_template(
            "ome_privacy/requests/detail.html",
            r=found,
            summary=summary_of(found),
            kind=RequestKind(found.kind),
            steps=timeline(state.session, found),
            notice=deficiency_notice(found),
            released=is_released(found),
            items=_notice_rows(decision_items(found)),
            Verdict=Verdict,
            outcome=_outcome(found.decision),
            outcome_of=_outcome,
            package=_package_access(found),
            PackageState=PackageState,
            result_days=int(config_value("RESULT_DAYS")),
            disclose_url=request_url("disclose"),
            export_url=optional_url("ome_privacy_account.data_export"),
            may_withdraw=may_withdraw(found.status),
            fee=FeeStatus(found.fee_status),
            FeeStatus=FeeStatus,
            Status=Status,
            source_label=_source_label,
            form=ConfirmForm(),
            errors=errors or {},
            answer=answer or {},
            max_answer_length=MAX_ANSWER_LENGTH,
        ),
        status,
    )


def _source_label(item: str) -> str:
    """A decision item (``source`` or ``source.field``) named as the data page names it."""
    source_key, _dot, field_name = item.partition(".")
    source = current_state().sources.get(source_key)
    if source is None:
        return item
    label = str(_(source.label)) if source.label else source_key
    spec = source.field(field_name) if field_name else None
    if field_name:
        return f"{label}: {_(spec.label) if spec is not None else field_name}"
    return label


def request_detail(reference: str) -> tuple[str, int]:
    return _render_detail(_own_request_or_404(reference))


def _parse_day(value: str) -> date | None:
    try:
        return date.fromisoformat(value.strip()) if value.strip() else None
    except ValueError:
        return None


def _uploads(notice: Notice, errors: dict[str, str]) -> list[AnswerUpload]:
    """The documents sent for the notice's document items, checked; problems go into ``errors``."""
    state = current_state()
    uploads: list[AnswerUpload] = []
    for item in notice.document_items:
        assert item.role is not None  # nosec B101  # typing only: document items have a role
        file: FileStorage | None = request.files.get(f"document-{item.code}")
        if file is None or not file.filename:
            continue
        field = f"document-{item.code}"
        raw_type = request.form.get(f"doc_type-{item.code}", "")
        if raw_type not in DocType._value2member_map_ or DocType(raw_type) not in item.accepted:
            errors[f"doc_type-{item.code}"] = str(_("Please choose which document this is."))
            continue
        issued_on = None
        if item.role is documents.DocumentRole.SEAL_CERTIFICATE:
            issued_on = _parse_day(request.form.get(f"issued_on-{item.code}", ""))
            problem = documents.check_seal_certificate(issued_on, state.today())
            if problem is not None:
                errors[f"issued_on-{item.code}"] = documents.message_text(problem)
                continue
        try:
            clean = documents.check_upload(file.stream)
        except UploadRefused as refused:
            errors[field] = documents.message_text(refused)
            continue
        uploads.append(AnswerUpload(item.role, DocType(raw_type), clean, issued_on))
    return uploads


def request_answer(reference: str) -> Response | tuple[str, int]:
    """POST: the person's answer to a deficiency notice: documents, corrected details, a message."""
    found = _own_request_or_404(reference)
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)  # missing or forged CSRF token: record nothing
    answer = {
        "message": request.form.get("message", ""),
        "corrected": request.form.get("corrected", ""),
    }
    notice = deficiency_notice(found)
    if notice is None:
        return _render_detail(found, errors={"answer": translate(ANSWER_ERRORS["not_waiting"])}, status=409)
    errors: dict[str, str] = {}
    uploads = _uploads(notice, errors)
    if errors:
        return _render_detail(found, errors=errors, answer=answer)
    state = current_state()
    try:
        answer_deficiency(
            state.session,
            found,
            user_id=current_user_id(),
            message=answer["message"],
            corrected=answer["corrected"],
            uploads=uploads,
        )
        state.session.commit()
    except AnswerError as problem:
        state.session.rollback()
        found = _own_request_or_404(reference)
        return _render_detail(found, errors={"answer": translate(ANSWER_ERRORS[problem.code])}, answer=answer)
    except ChangedMeanwhile:
        state.session.rollback()
        found = _own_request_or_404(reference)
        errors = {"answer": translate(ANSWER_ERRORS["changed"])}
        return _render_detail(found, errors=errors, answer=answer, status=409)
    flash(_("Thank you. Your answer was sent and we have resumed work on your request."), "ome_privacy")
    return redirect(url_for(".request_detail", reference=found.reference), code=303)


def request_withdraw(reference: str) -> Response | tuple[str, int]:
    """GET: the confirm step (or why it is too late). POST: withdraw."""
    found = _own_request_or_404(reference)
    form = ConfirmForm()
    allowed = may_withdraw(found.status)
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        if allowed:
            state = current_state()
            try:
                withdraw_request(state.session, found, user_id=current_user_id())
                state.session.commit()
            except (WithdrawRefused, ChangedMeanwhile):
                state.session.rollback()
                found = _own_request_or_404(reference)
                if may_withdraw(found.status):  # changed meanwhile, still withdrawable: ask again
                    message = _("This request changed meanwhile. Please check it and confirm again.")
                    flash(message, "ome_privacy_error")
                    return redirect(url_for(".request_withdraw", reference=found.reference), code=303)
            else:
                flash(
                    _("Your request %(reference)s was withdrawn.", reference=found.reference), "ome_privacy"
                )
                return redirect(url_for(".request_detail", reference=found.reference), code=303)
        return _render_withdraw(found, form, 409)
    return _render_withdraw(found, form, 200)


def request_package(reference: str) -> Response | tuple[str, int]:
    """GET: the disclosure package (JSON + CSV in a zip), streamed, in the page's language.

    Only the requester's own request, delivered electronically, once released and until
    ``OME_PRIVACY_RESULT_DAYS`` after that; otherwise a page that says why (410 once expired).
    Each download is audited when its body starts, so a ``HEAD`` (which never starts the
    body) is not a download.
    """
    found = _own_request_or_404(reference)
    access = _package_access(found)
    if not access.available:
        status = 410 if access.state is PackageState.EXPIRED else 409
        return _render_package_refused(found, access, status)
    user_id = current_user_id()
    language = str(get_locale() or config_value("LANGUAGES")[0])
    response = Response(
        stream_with_context(_package_body(user_id, found.reference, language)), mimetype="application/zip"
    )
    response.headers["Content-Disposition"] = f'attachment; filename="{package_filename(found)}"'
    return response


def _package_body(user_id: str, reference: str, language: str) -> Iterator[bytes]:
    """Audit the download, commit it before the first byte, then stream the zip.

    Runs after the view returned: the request is read again (and checked again) in the
    session the body streams in.
    """
    state = current_state()
    found = request_for(state.session, user_id, reference)
    if found is None or not _package_access(found).available:
        return
    record_download(state, found, user_id=user_id)
    state.session.commit()
    yield from disclosure_package(state, found, language)


def _render_package_refused(found: Any, access: PackageAccess, status: int) -> tuple[str, int]:
    return (
        render_template(
            "ome_privacy/requests/package.html",
            r=found,
            kind=RequestKind(found.kind),
            package=access,
            PackageState=PackageState,
            result_days=int(config_value("RESULT_DAYS")),
            disclose_url=request_url("disclose"),
            export_url=optional_url("ome_privacy_account.data_export"),
        ),
        status,
    )


def _render_withdraw(found: Any, form: ConfirmForm, status: int) -> tuple[str, int]:
    return (
        render_template(
            "ome_privacy/requests/withdraw.html",
            r=found,
            kind=RequestKind(found.kind),
            allowed=may_withdraw(found.status),
            status=Status(found.status),
            form=form,
        ),
        status,
    )


def register(bp: Any) -> None:
    """Add the request-following routes to the account blueprint."""
    bp.add_url_rule("/requests", "requests", requests_list)
    bp.add_url_rule("/requests/<reference>", "request_detail", request_detail)
    bp.add_url_rule("/requests/<reference>/answer", "request_answer", request_answer, methods=["POST"])
    bp.add_url_rule("/requests/<reference>/package", "request_package", request_package)
    bp.add_url_rule(
        "/requests/<reference>/withdraw", "request_withdraw", request_withdraw, methods=["GET", "POST"]
    )


__all__ = ["register"]
