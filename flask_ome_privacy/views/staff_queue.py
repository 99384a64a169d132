"""The staff queue (``/admin/privacy/``) and registering a mailed request (issue 9, policy Art. 4).

Thin: read the query or the form, call ``staff_queue``, render. Every change is a POST with
CSRF, one transaction, and says "someone else changed this request" instead of losing an
update when two staff act at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import to_utc
from werkzeug.wrappers import Response

from .. import documents, privacy_requests, staff_queue
from ..config import config_value
from ..documents import DocType, DocumentRole, Requester, UploadRefused
from ..forms import ConfirmForm
from ..i18n import gettext as _
from ..i18n import translate
from ..lifecycle import RequestKind, Status
from ..staff_queue import Cursor, MailedDocument, Originals, QueueFilters
from ..state import current_privacy, current_state
from .common import current_user_id, form_page, reference_or_404

#: Rows per queue page: a desk works the top of the queue, and a page must stay fast at any depth.
QUEUE_PAGE_SIZE = 50
#: How many scanned documents one registration takes (more can be added on the request page).
SCAN_SLOTS = 3
#: How far back a postal receipt date may lie (a typo such as 2016 for 2026 is caught).
OLDEST_RECEIPT_DAYS = 366
#: Longest reference a search accepts; anything longer cannot be one.
MAX_REFERENCE = 32


def _flag(name: str) -> bool:
    return request.args.get(name, "") in ("1", "on", "true")


def _choice(name: str, allowed: set[str]) -> str | None:
    value = request.args.get(name, "")
    return value if value in allowed else None


def queue_filters() -> QueueFilters:
    """The filters in the query string; a value that is not a choice is ignored (any)."""
    assignee = request.args.get("assignee", "").strip()
    if _flag("mine"):
        assignee = current_user_id()
    reference = request.args.get("ref", "").strip()
    return QueueFilters(
        status=_choice("status", {s.value for s in Status if s.is_open}),
        kind=_choice("kind", {k.value for k in RequestKind}),
        overdue=_flag("overdue"),
        assignee=assignee[:64] if assignee.isprintable() else None,
        unassigned=_flag("unassigned"),
        reference=reference if len(reference) <= MAX_REFERENCE and reference.isprintable() else "",
        newest_due_first=request.args.get("sort") == "-due",
    )


def _filter_args() -> dict[str, str]:
    """The query string without the paging keys: kept on page links and after claim/assign/release."""
    keep = ("status", "kind", "overdue", "assignee", "mine", "unassigned", "ref", "sort")
    return {k: v for k in keep if (v := request.args.get(k, ""))}


def queue() -> str:
    session = current_privacy().session
    filters = queue_filters()
    result = staff_queue.queue(
        session,
        filters,
        page_size=QUEUE_PAGE_SIZE,
        after=Cursor.parse(request.args.get("after")),
        before=Cursor.parse(request.args.get("before")),
    )
    return render_template(
        "ome_privacy/staff/queue.html",
        result=result,
        rows=result.rows,
        # One call of the host's staff_names hook for every assignee on the page.
        staff_names=current_privacy().names_of_staff(row.request.assigned_to for row in result.rows),
        # Everyone at the desk by name, for "assign to" and the assignee filter (host hook).
        staff_choices=current_privacy().list_staff(),
        counts=staff_queue.status_counts(session),
        filters=filters,
        filter_args=_filter_args(),
        mine=_flag("mine"),
        me=current_user_id(),
        statuses=[s for s in Status if s.is_open],
        kinds=list(RequestKind),
        kind_labels={kind.value: translate(kind.label) for kind in RequestKind},
        status_labels={status.value: translate(status.staff_label) for status in Status},
        form=ConfirmForm(),
        due_soon_days=staff_queue.DUE_SOON_DAYS,
        response_days=config_value("RESPONSE_DAYS"),
    )


# --- claim / assign / release -------------------------------------------------------------------


def _change_assignee(reference: str, how: str) -> Response:
    if not ConfirmForm().validate_on_submit():
        abort(400)
    state = current_state()
    session = state.session
    found = staff_queue.open_request(session, reference_or_404(reference, MAX_REFERENCE))
    if found is None:
        if privacy_requests.id_for_reference(session, reference) is None:
            abort(404)
        # It was open on the page the form came from: a colleague closed it meanwhile.
        return _changed_meanwhile(reference)
    try:
        expected = int(request.form.get("version", ""))
    except ValueError:
        abort(400)
    me = current_user_id()
    try:
        if how == "claim":
            staff_queue.claim(session, found, staff_id=me, expected_version=expected)
            done = _("You now work request %(reference)s.", reference=reference)
        elif how == "release":
            staff_queue.release(session, found, staff_id=me, expected_version=expected)
            done = _("Request %(reference)s is unassigned.", reference=reference)
        else:
            assignee = request.form.get("assignee", "").strip()
            if not _is_staff_id(assignee):
                session.rollback()
                flash(
                    _(
                        "%(who)s is not a staff member: request %(reference)s was not reassigned.",
                        who=assignee[:64] or "—",
                        reference=reference,
                    ),
                    "ome_privacy_error",
                )
                return redirect(form_page(), code=303)
            staff_queue.assign(session, found, assignee, staff_id=me, expected_version=expected)
            done = _("Request %(reference)s is now assigned to %(who)s.", reference=reference, who=assignee)
        session.commit()
    except staff_queue.CONCURRENT_CHANGE:
        session.rollback()
        return _changed_meanwhile(reference)
    flash(done, "ome_privacy")
    return redirect(form_page(), code=303)


def _changed_meanwhile(reference: str) -> Response:
    flash(
        _(
            "Someone else changed request %(reference)s while you were looking at it, so nothing was "
            "saved. The queue below shows it as it is now; try again if it still needs doing.",
            reference=reference,
        ),
        "ome_privacy_error",
    )
    return redirect(form_page(), code=303)


def _is_staff_id(user_id: str) -> bool:
    if not user_id or len(user_id) > 64 or not user_id.isprintable():
        return False
    privacy = current_privacy()
    try:
        user = privacy.load_user(user_id)
    except (TypeError, ValueError, OverflowError):
        return False
    return privacy.is_staff(user)


def claim(reference: str) -> Response:
    return _change_assignee(reference, "claim")


def assign(reference: str) -> Response:
    return _change_assignee(reference, "assign")


def release(reference: str) -> Response:
    return _change_assignee(reference, "release")


# --- register a mailed request ------------------------------------------------------------------


@dataclass
class Registration:
    """What staff typed into the form, and what is wrong with it (field -> message)."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def _received_at(day: date) -> datetime:
    """The start of the receipt day in the host's time zone (``to_utc``), as the clock's start."""
    start: datetime = to_utc(datetime.combine(day, time.min))
    return start.replace(tzinfo=timezone.utc)


def _read_registration(form: Any, files: Any) -> tuple[Registration, list[MailedDocument]]:
    fields = (
        "account",
        "user_id",
        "postal_name",
        "postal_address",
        "kind",
        "requester",
        "received_on",
        "details",
        "originals",
        "q",
    )
    entry = Registration(values={name: str(form.get(name, "")).strip() for name in fields})
    values, errors = entry.values, entry.errors
    for name, value in values.items():
        if any(ord(char) < 32 and char not in "\n\r\t" for char in value):
            errors[name] = _("Remove the control characters from this field.")
            values[name] = "".join(c for c in value if ord(c) >= 32 or c in "\n\r\t")
    privacy = current_privacy()
    if values["account"] == "existing":
        user_id = values["user_id"]
        known = (
            {found_id for found_id, _label in privacy.lookup_users(user_id)}
            if user_id.isprintable()
            else set()
        )
        if user_id not in known:
            errors["user_id"] = _("Choose the account from the search results.")
    elif values["account"] == "none":
        if not values["postal_name"]:
            errors["postal_name"] = _("Enter the name to send the reply to.")
        if not values["postal_address"]:
            errors["postal_address"] = _("Enter the postal address to send the reply to.")
    else:
        errors["account"] = _("Say whether the request is for an existing account.")
    if values["kind"] not in {k.value for k in RequestKind}:
        errors["kind"] = _("Choose what is requested.")
    if values["requester"] not in {r.value for r in Requester}:
        errors["requester"] = _("Choose who sent the request.")
    if values["originals"] not in {o.value for o in Originals}:
        errors["originals"] = _("Record what was done with the originals.")
    try:
        received = date.fromisoformat(values["received_on"])
    except ValueError:
        errors["received_on"] = _("Enter the date the letter arrived, for example 2026-11-20.")
    else:
        today = current_state().today()
        if received > today:
            errors["received_on"] = _("The date the letter arrived cannot be in the future.")
        elif received < today - timedelta(days=OLDEST_RECEIPT_DAYS):
            errors["received_on"] = _("The date the letter arrived is more than a year ago: please check it.")
    scans: list[MailedDocument] = []
    for slot in range(1, SCAN_SLOTS + 1):
        upload = files.get(f"scan_{slot}")
        if upload is None or not upload.filename:
            continue
        role, doc_type = form.get(f"scan_{slot}_role", ""), form.get(f"scan_{slot}_type", "")
        try:
            role_value, type_value = DocumentRole(role), DocType(doc_type)
        except ValueError:
            errors[f"scan_{slot}"] = _("Choose what the document proves and what kind of document it is.")
            continue
        if type_value not in documents.accepted_types(role_value):
            errors[f"scan_{slot}"] = _("That kind of document is not accepted for what it should prove.")
            continue
        if role_value is DocumentRole.SEAL_CERTIFICATE:
            errors[f"scan_{slot}"] = _(
                "A seal registration certificate is not attached here: its issue date must be checked."
            )
            continue
        try:
            clean = documents.check_upload(upload.stream)
        except UploadRefused as refused:
            errors[f"scan_{slot}"] = documents.message_text(refused)
            continue
        scans.append(MailedDocument(role_value, type_value, clean))
    if scans and errors:
        errors.setdefault(
            "scans", _("Please choose the scanned files again: files are not kept when the form has errors.")
        )
    return entry, scans


def register_mailed() -> Any:
    privacy = current_privacy()
    form = ConfirmForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        entry, scans = _read_registration(request.form, request.files)
        if not entry.errors:
            values = entry.values
            state = current_state()
            created = staff_queue.register_postal(
                state,
                staff_id=current_user_id(),
                kind=values["kind"],
                requester_type=Requester(values["requester"]).requester_type,
                received_at=_received_at(date.fromisoformat(values["received_on"])),
                user_id=values["user_id"] if values["account"] == "existing" else None,
                postal_name=values["postal_name"],
                postal_address=values["postal_address"],
                details=values["details"],
                originals=values["originals"],
                scans=scans,
            )
            reference = created.reference
            state.session.commit()
            flash(_("Mailed request registered as %(reference)s.", reference=reference), "ome_privacy")
            return redirect(url_for(".queue", ref=reference), code=303)
        status = 400
    else:
        entry = Registration(values={"q": request.args.get("q", "").strip()[:200], "received_on": ""})
        status = 200
    query = entry.values.get("q", "")
    matches = privacy.lookup_users(query) if query.isprintable() else []
    return (
        render_template(
            "ome_privacy/staff/register_mailed.html",
            entry=entry,
            values=entry.values,
            errors=entry.errors,
            query=query,
            matches=matches,
            can_search=privacy.can_look_up_users,
            kinds=list(RequestKind),
            requesters=list(Requester),
            roles=[r for r in DocumentRole if r is not DocumentRole.SEAL_CERTIFICATE],
            doc_types=[t for t in DocType if t is not DocType.SEAL_CERTIFICATE],
            originals=list(Originals),
            slots=range(1, SCAN_SLOTS + 1),
            today=current_state().today(),
            form=form,
        ),
        status,
    )


def register(bp: Any) -> None:
    """Add the queue and its actions to the staff blueprint (keeps endpoint ``queue``)."""
    bp.add_url_rule("/", "queue", queue)
    bp.add_url_rule("/requests/<reference>/claim", "claim", claim, methods=["POST"])
    bp.add_url_rule("/requests/<reference>/assign", "assign", assign, methods=["POST"])
    bp.add_url_rule("/requests/<reference>/release", "release", release, methods=["POST"])
    bp.add_url_rule("/register-mailed", "register_mailed", register_mailed, methods=["GET", "POST"])


__all__ = ["register", "QUEUE_PAGE_SIZE"]
