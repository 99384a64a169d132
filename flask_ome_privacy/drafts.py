"""Rights requests being written (policy Art. 4.1-4.5): the wizard's drafts, checks and submission.

A person answers one question a page; each answer is kept in a ``RequestDraft`` row they
own (and documents uploaded so far are stored encrypted against the draft), so going
back, leaving and returning, or a refused answer never loses anything. Submitting turns
one draft into one request per kind (``privacy_requests.submit``) that share the
documents, in one transaction; the draft is consumed by a guarded update first, so a
double click or a replayed POST creates nothing twice.

What is asked on each step, and when an answer is complete, is decided here (the views
only translate HTTP). Messages are ``N_`` message ids with parameters, translated where
they are shown. Drafts nobody finishes are deleted after ``OME_PRIVACY_DRAFT_DAYS``
(``purge_stale_drafts``, run by ``flask ome-privacy purge``). Request data is used only for
the request (Art. 4.4): nothing here is read by the data page or the export.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from sqlalchemy.orm import Session

from . import audit, notify
from .config import config_value
from .documents import (
    ChecklistItem,
    DocType,
    DocumentRole,
    IdentityChoice,
    Problem,
    Requester,
    check_seal_certificate,
    checklist,
    store,
)
from .labelled import LabelledEnum
from .lifecycle import FeeMethod, RequestKind
from .models import PrivacyRequest, RequestDocument, RequestDraft, utcnow
from .privacy_requests import new_reference, submit
from .provisions import provisions_for
from .purposes import Purpose, PurposeRegister
from .sources import N_, DataSource, SourceRegistry
from .state import PrivacyState

__all__ = [
    "STEPS",
    "KIND_EXPLANATIONS",
    "RequestGround",
    "DisclosureMethod",
    "FEE_METHOD_LABELS",
    "StepErrors",
    "DraftGone",
    "TooManyRequests",
    "Prefill",
    "new_draft",
    "draft_for",
    "open_drafts",
    "save_answers",
    "steps_for",
    "kinds_of",
    "grounds_for_kinds",
    "recipients_for",
    "PurposeScope",
    "stop_purposes_for",
    "check_what",
    "check_data",
    "check_who",
    "check_documents",
    "check_value",
    "draft_documents",
    "store_document",
    "remove_document",
    "document_checklist",
    "missing_roles",
    "seal_problem",
    "requests_in_last_hour",
    "submit_draft",
    "submitted_batch",
    "purge_stale_drafts",
    "prefill",
]

#: The wizard's steps, in order (``fee`` only when a kind carries the fee).
STEPS: tuple[str, ...] = ("what", "data", "who", "documents", "fee", "check")

#: One line per kind, under its name on the first step (policy Art. 4.1).
KIND_EXPLANATIONS: dict[RequestKind, str] = {
    RequestKind.NOTIFY_PURPOSE: N_("We tell you what we use your information for."),
    RequestKind.DISCLOSE: N_(
        "We show you the information we hold about you, including the records of its provision "
        "to third parties."
    ),
    RequestKind.CORRECT: N_("We correct information about you that is wrong."),
    RequestKind.ADD: N_("We add information about you that is missing."),
    RequestKind.DELETE: N_("We delete information about you that is wrong, or close your account."),
    RequestKind.STOP_USE: N_("We stop using your information, for a reason the law recognises."),
    RequestKind.ERASE: N_("We erase your information, for a reason the law recognises."),
    RequestKind.STOP_THIRD_PARTY: N_("We stop providing your information to third parties."),
}

#: Kinds that change values: the new value is asked for each chosen field.
VALUE_KINDS = frozenset({RequestKind.CORRECT, RequestKind.ADD})
#: Kinds that need a ground (APPI Art. 35).
GROUND_KINDS = frozenset({RequestKind.STOP_USE, RequestKind.ERASE, RequestKind.STOP_THIRD_PARTY})


class RequestGround(LabelledEnum):
    """Why the person asks to stop using, erase or stop providing (APPI Art. 35(1), (3), (5))."""

    BEYOND_PURPOSE = "beyond_purpose", N_("It is used beyond the purposes we stated")
    IMPROPERLY_OBTAINED = "improperly_obtained", N_("It was obtained improperly, or is used improperly")
    PROVIDED_WITHOUT_CONSENT = (
        "provided_without_consent",
        N_("It was provided to a third party without my consent"),
    )
    NO_LONGER_NEEDED = "no_longer_needed", N_("You no longer need it")
    LEAK = "leak", N_("It was involved in a leak or a similar incident")
    HARM_TO_RIGHTS = "harm_to_rights", N_("Handling it may harm my rights or legitimate interests")


_G = RequestGround
#: Which grounds each kind rests on: Art. 35(1) for stop use / erase, 35(3) for stop
#: provision, 35(5) for all three.
_ART_35_5 = (_G.NO_LONGER_NEEDED, _G.LEAK, _G.HARM_TO_RIGHTS)
_GROUNDS: dict[RequestKind, tuple[RequestGround, ...]] = {
    RequestKind.STOP_USE: (_G.BEYOND_PURPOSE, _G.IMPROPERLY_OBTAINED, *_ART_35_5),
    RequestKind.ERASE: (_G.BEYOND_PURPOSE, _G.IMPROPERLY_OBTAINED, *_ART_35_5),
    RequestKind.STOP_THIRD_PARTY: (_G.PROVIDED_WITHOUT_CONSENT, *_ART_35_5),
}


class DisclosureMethod(LabelledEnum):
    """How a disclosure is given (APPI Art. 33(1)): electronic by default, paper on request."""

    ELECTRONIC = "electronic", N_("Electronically: a download in your privacy center")
    PAPER = "paper", N_("On paper, by post")


FEE_METHOD_LABELS: dict[FeeMethod, str] = {
    FeeMethod.REGISTERED_CASH_MAIL: N_(
        "Registered cash mail (genkin kakitome): put the cash in a registered cash envelope from a "
        "post office and send it to the address below."
    ),
    FeeMethod.POSTAL_MONEY_ORDER: N_(
        "Postal money order (teigaku kogawase): buy it at a post office and send it to the address below."
    ),
    FeeMethod.TRANSFER: N_("Bank transfer: the details are sent to you once we receive the request."),
}


class DraftGone(LookupError):
    """The draft was already submitted (a double click, a replayed POST) or purged."""


class TooManyRequests(RuntimeError):
    """More requests this hour than ``OME_PRIVACY_REQUEST_LIMIT_PER_HOUR`` allows."""


#: Field name -> (message id, parameters): what is wrong with an answer.
StepErrors = dict[str, tuple[str, dict[str, Any]]]

REQUIRED = N_("Please answer this question.")
UNKNOWN_FIELD = N_("The link named an item we do not hold; please choose what your request is about.")


# --- drafts ------------------------------------------------------------------------------------


def new_draft(session: Session, user_id: str, answers: Mapping[str, Any]) -> RequestDraft:
    """Start a draft for ``user_id`` with the first step's answers (flushed)."""
    now = utcnow()
    draft = RequestDraft(
        token=secrets.token_urlsafe(18),
        user_id=str(user_id),
        answers=dict(answers),
        step="what",
        created_at=now,
        updated_at=now,
    )
    session.add(draft)
    session.flush()
    return draft


def open_drafts(session: Session, user_id: str) -> list[RequestDraft]:
    """The person's unfinished drafts, most recently changed first (to continue one)."""
    return list(
        session.scalars(
            sa.select(RequestDraft)
            .where(RequestDraft.user_id == str(user_id), RequestDraft.step != "submitted")
            .order_by(RequestDraft.updated_at.desc())
            .limit(5)
        )
    )


def draft_for(session: Session, user_id: str, token: str) -> RequestDraft | None:
    """The draft with ``token`` if it is ``user_id``'s (anyone else's: None, so a 404)."""
    if not token or len(token) > 32:
        return None
    return session.scalar(
        sa.select(RequestDraft).where(RequestDraft.token == token, RequestDraft.user_id == str(user_id))
    )


def save_answers(session: Session, draft: RequestDraft, answers: Mapping[str, Any], step: str) -> None:
    """Merge ``answers`` into the draft and remember the step reached (flushed)."""
    merged = {**(draft.answers or {}), **answers}
    kinds = kinds_of(merged)
    refs = dict(merged.get("references") or {})
    # A reference per kind, reserved now so the fee page can name what to write on the envelope.
    merged["references"] = {k.value: refs.get(k.value) or new_reference() for k in kinds}
    draft.answers = merged
    draft.step = step
    draft.updated_at = utcnow()
    session.flush()


def kinds_of(answers: Mapping[str, Any]) -> list[RequestKind]:
    chosen = set(answers.get("kinds") or ())
    return [kind for kind in RequestKind if kind.value in chosen]


def steps_for(answers: Mapping[str, Any]) -> list[str]:
    """The steps this draft goes through: the fee step only for kinds that carry the fee."""
    fee = any(kind.carries_fee for kind in kinds_of(answers))
    return [step for step in STEPS if step != "fee" or fee]


@dataclass(frozen=True)
class Prefill:
    """What the link that opened the wizard asked for, and what in it was not understood."""

    kinds: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    fields: list[str] = field(default_factory=list)
    problems: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


def prefill(sources: SourceRegistry, kind: str | None, source: str | None, field_name: str | None) -> Prefill:
    """Read ``?kind=&source=&field=``; an unknown kind, source or field is named, not fatal."""
    result = Prefill()
    if kind:
        if kind in {k.value for k in RequestKind}:
            result.kinds.append(kind)
        else:
            result.problems.append(
                (N_("The link asked for a kind of request we do not know; please choose below."), {})
            )
    if source:
        found = sources.get(source) if len(source) <= 64 else None
        if found is None:
            result.problems.append(
                (
                    N_(
                        "The link named information we do not hold; please choose what your request is about."
                    ),
                    {},
                )
            )
        else:
            result.sources.append(found.key)
            if field_name:
                if found.field(field_name) is not None:
                    result.fields.append(f"{found.key}:{field_name}")
                else:
                    result.problems.append((UNKNOWN_FIELD, {}))
    return result


# --- checking each step's answers --------------------------------------------------------------


def check_what(answers: Mapping[str, Any]) -> StepErrors:
    return {} if kinds_of(answers) else {"kinds": (N_("Please choose at least one kind of request."), {})}


def grounds_for_kinds(kinds: Iterable[RequestKind]) -> list[RequestGround]:
    """The grounds offered for the chosen kinds (their union, in one order)."""
    wanted = {g for kind in kinds for g in _GROUNDS.get(kind, ())}
    return [g for g in RequestGround if g in wanted]


def recipients_for(session: Session, user_id: str) -> list[str]:
    """The third parties the provision log says received this person's data (newest first)."""
    seen: list[str] = []
    for record in provisions_for(session, user_id):
        if record.recipient not in seen:
            seen.append(record.recipient)
    return seen


class PurposeScope(LabelledEnum):
    """Which uses a "stop using" request stops (APPI Art. 35(1)): all of the data's, or some."""

    ALL = "all", N_("Every use of this information")
    CHOSEN = "chosen", N_("Only the uses I tick")


def _chosen_source_keys(answers: Mapping[str, Any]) -> set[str]:
    keys = {str(key) for key in answers.get("sources") or ()}
    keys.update(str(item).partition(":")[0] for item in answers.get("fields") or ())
    return keys


def stop_purposes_for(
    sources: SourceRegistry, register: PurposeRegister, answers: Mapping[str, Any] | None = None
) -> list[Purpose]:
    """The uses a "stop using" request may name: those of the categories of the information
    chosen (every category when nothing is chosen, which means all the information)."""
    chosen = _chosen_source_keys(answers or {})
    categories = {source.category for source in sources if not chosen or source.key in chosen}
    return [
        purpose
        for category in register
        if category.key in categories
        for purpose in register.for_category(category.key)
    ]


def _check_stop_purposes(
    sources: SourceRegistry, register: PurposeRegister, answers: Mapping[str, Any]
) -> StepErrors:
    how = answers.get("purpose_scope")
    if how not in {p.value for p in PurposeScope}:
        return {"purpose_scope": (N_("Please say which uses we should stop."), {})}
    if how == PurposeScope.ALL.value:
        return {}
    chosen = [str(key) for key in answers.get("purposes") or ()]
    if not chosen:
        return {
            "purposes": (N_("Please tick the uses to stop, or choose every use of this information."), {})
        }
    every = {purpose.key for category in register for purpose in register.for_category(category.key)}
    if any(key not in every for key in chosen):
        return {"purposes": (N_("Please choose from the list."), {})}
    of_data = {purpose.key for purpose in stop_purposes_for(sources, register, answers)}
    if any(key not in of_data for key in chosen):
        message = N_(
            "A use you ticked is not a use of the information you chose: tick that information "
            "too, or untick the use."
        )
        return {"purposes": (message, {})}
    return {}


def check_value(source: DataSource, field_name: str, value: str) -> tuple[str, dict[str, Any]] | None:
    """Is ``value`` acceptable for ``source``'s ``field_name``? Email-like fields must be addresses;
    then the source's own ``validate`` hook decides."""
    if "email" in field_name.lower():
        try:
            validate_email(value, check_deliverability=False)
        except EmailNotValidError:
            return N_("Please enter an email address, like name@example.com."), {}
    message = source.validate(field_name, value)
    return (message, {}) if message else None


def check_data(
    sources: SourceRegistry,
    answers: Mapping[str, Any],
    recipients: Sequence[str] = (),
    purposes: PurposeRegister | None = None,
) -> StepErrors:
    """Which data: fields and new values for correct/add, the ground, recipients, the uses to
    stop (with ``purposes``, the register), the method."""
    errors: StepErrors = {}
    kinds = set(kinds_of(answers))
    chosen_sources = list(answers.get("sources") or ())
    for key in chosen_sources:
        if key not in sources:
            errors["sources"] = (N_("Please choose from the list."), {})
    chosen_fields = list(answers.get("fields") or ())
    if kinds & VALUE_KINDS:
        values = dict(answers.get("changes") or {})
        if not chosen_fields:
            errors["fields"] = (N_("Please tick the items to correct or add, and enter the new values."), {})
        for item in chosen_fields:
            key, _sep, name = item.partition(":")
            source = sources.get(key)
            if source is None or source.field(name) is None:
                errors["fields"] = (N_("Please choose from the list."), {})
                continue
            value = str(values.get(item) or "").strip()
            if not value:
                errors[f"value-{item}"] = (N_("Please enter the new value."), {})
            elif len(value) > 500:
                errors[f"value-{item}"] = (N_("Please keep the value under 500 characters."), {})
            else:
                problem = check_value(source, name, value)
                if problem is not None:
                    errors[f"value-{item}"] = problem
    if kinds & GROUND_KINDS:
        ground = answers.get("ground")
        if not ground:
            errors["ground"] = (N_("Please choose why you ask for this."), {})
        elif ground not in {g.value for g in grounds_for_kinds(kinds)}:
            errors["ground"] = (N_("Please choose from the list."), {})
    if RequestKind.STOP_USE in kinds and purposes is not None:
        errors.update(_check_stop_purposes(sources, purposes, answers))
    if RequestKind.STOP_THIRD_PARTY in kinds:
        unknown = [r for r in answers.get("recipients") or () if r not in recipients]
        if unknown:
            errors["recipients"] = (N_("Please choose from the list."), {})
    if RequestKind.DISCLOSE in kinds:
        method = answers.get("method")
        if not method:
            errors["method"] = (N_("Please choose how you want to receive the disclosure."), {})
        elif method not in {m.value for m in DisclosureMethod}:
            errors["method"] = (N_("Please choose from the list."), {})
    return errors


def check_who(answers: Mapping[str, Any]) -> StepErrors:
    errors: StepErrors = {}
    requester = answers.get("requester")
    if requester not in {r.value for r in Requester}:
        return {"requester": (N_("Please say who is making the request."), {})}
    if Requester(requester).is_representative:
        for name in ("rep_name", "rep_relationship", "rep_address", "rep_email"):
            value = str(answers.get(name) or "").strip()
            if not value:
                errors[name] = (REQUIRED, {})
            elif len(value) > 500:
                errors[name] = (N_("Please keep the value under 500 characters."), {})
        email = str(answers.get("rep_email") or "").strip()
        if email and "rep_email" not in errors:
            try:
                validate_email(email, check_deliverability=False)
            except EmailNotValidError:
                errors["rep_email"] = (N_("Please enter an email address, like name@example.com."), {})
    return errors


# --- documents -----------------------------------------------------------------------------------


def draft_documents(session: Session, draft: RequestDraft) -> list[RequestDocument]:
    """The draft's documents (names of roles, types and sizes; the encrypted bytes are not read)."""
    return list(
        session.scalars(
            sa.select(RequestDocument)
            .where(RequestDocument.draft_id == draft.id)
            .order_by(RequestDocument.id)
        )
    )


def requester_of(answers: Mapping[str, Any]) -> Requester:
    value = answers.get("requester")
    return Requester(value) if value in {r.value for r in Requester} else Requester.SELF


def document_checklist(
    answers: Mapping[str, Any], documents: Sequence[RequestDocument]
) -> list[ChecklistItem]:
    """``documents.checklist`` for who files, with the passport rule applied to what was uploaded."""
    identity: dict[DocumentRole | str, IdentityChoice] = {}
    for doc in documents:
        identity_role = doc.role in (
            DocumentRole.PERSON_IDENTITY.value,
            DocumentRole.REPRESENTATIVE_IDENTITY.value,
        )
        if identity_role and (doc.doc_type == DocType.PASSPORT.value or doc.role not in identity):
            identity[doc.role] = IdentityChoice(DocType(doc.doc_type), doc.issued_on)
    return checklist(requester_of(answers), identity)


def missing_roles(
    items: Sequence[ChecklistItem], documents: Sequence[RequestDocument]
) -> list[ChecklistItem]:
    have = {doc.role for doc in documents}
    return [item for item in items if item.role.value not in have]


def seal_issued_on(answers: Mapping[str, Any]) -> date | None:
    value = answers.get("seal_issued_on")
    try:
        return date.fromisoformat(value) if value else None
    except (TypeError, ValueError):
        return None


def seal_problem(answers: Mapping[str, Any], today: date) -> Problem | None:
    """For an appointed representative: is the seal certificate's issue date acceptable today?"""
    if requester_of(answers) is not Requester.APPOINTED_REPRESENTATIVE:
        return None
    return check_seal_certificate(seal_issued_on(answers), today)


def check_documents(answers: Mapping[str, Any], today: date) -> StepErrors:
    problem = seal_problem(answers, today)
    return {"seal_issued_on": (problem.message, dict(problem.params))} if problem else {}


def store_document(
    session: Session,
    draft: RequestDraft,
    role: DocumentRole,
    doc_type: DocType,
    clean: Any,
    issued_on: date | None = None,
) -> RequestDocument:
    """Encrypt an upload (already through ``documents.check_upload``) against the draft."""
    if role is DocumentRole.SEAL_CERTIFICATE and issued_on is None:
        issued_on = seal_issued_on(draft.answers or {})
    row = store(session, None, role, doc_type, clean, issued_on=issued_on, draft_id=draft.id)
    draft.updated_at = utcnow()
    session.flush()
    return row


def remove_document(session: Session, draft: RequestDraft, document_id: int) -> bool:
    """Delete one of the draft's documents (another draft's or a request's: False)."""
    doc = session.get(RequestDocument, document_id)
    if doc is None or doc.draft_id != draft.id:
        return False
    session.delete(doc)
    session.flush()
    return True


# --- submitting -----------------------------------------------------------------------------------


def requests_in_last_hour(session: Session, user_id: str, now: datetime) -> int:
    """How many requests this person filed online in the hour before ``now`` (one COUNT)."""
    return int(
        session.scalar(
            sa.select(sa.func.count(PrivacyRequest.id)).where(
                PrivacyRequest.user_id == str(user_id),
                PrivacyRequest.channel == "online",
                PrivacyRequest.created_at > now - timedelta(hours=1),
            )
        )
        or 0
    )


def _scope_for(kind: RequestKind, answers: Mapping[str, Any], references: Sequence[str]) -> dict[str, Any]:
    fields: dict[str, list[str]] = {}
    for item in answers.get("fields") or ():
        key, _sep, name = str(item).partition(":")
        fields.setdefault(key, []).append(name)
    sources = sorted(set(answers.get("sources") or ()) | set(fields))
    scope: dict[str, Any] = {"sources": sources, "fields": fields, "submitted_with": list(references)}
    if kind in VALUE_KINDS:
        changes: dict[str, dict[str, str]] = {}
        for item, value in (answers.get("changes") or {}).items():
            if item in (answers.get("fields") or ()):
                key, _sep, name = item.partition(":")
                changes.setdefault(key, {})[name] = str(value).strip()
        scope["changes"] = changes
    if kind is RequestKind.STOP_THIRD_PARTY:
        scope["recipients"] = list(answers.get("recipients") or ())
    if kind is RequestKind.STOP_USE:
        # What the requester meant, explicitly: every use of the chosen information, or these.
        every = answers.get("purpose_scope") != PurposeScope.CHOSEN.value
        scope["purposes_all"] = every
        scope["purposes"] = [] if every else [str(key) for key in answers.get("purposes") or ()]
    requester = requester_of(answers)
    scope["requester"] = requester.value
    if requester.is_representative:
        scope["representative"] = {
            "name": str(answers.get("rep_name") or "").strip(),
            "relationship": str(answers.get("rep_relationship") or "").strip(),
            "postal_address": str(answers.get("rep_address") or "").strip(),
            "email": str(answers.get("rep_email") or "").strip(),
        }
    return scope


def submit_draft(
    state: PrivacyState, draft: RequestDraft, *, now: datetime | None = None
) -> list[PrivacyRequest]:
    """One request per kind from ``draft``, sharing its documents; the draft is consumed.

    Guarded: the draft is claimed by an UPDATE that only one transaction can win, so a
    second submission (double click, replayed POST, two tabs) raises ``DraftGone`` and the
    caller rolls back. Over the hourly limit: ``TooManyRequests``. Flushes; the caller commits
    (then sends ``request_submitted``).
    """
    session = state.session
    now = now or utcnow()
    claimed = session.execute(
        sa.update(RequestDraft)
        .where(RequestDraft.id == draft.id, RequestDraft.step != "submitted")
        .values(step="submitted", updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if getattr(claimed, "rowcount", 0) != 1:
        raise DraftGone(draft.token)
    session.refresh(draft)
    answers = dict(draft.answers or {})
    kinds = kinds_of(answers)
    if not kinds:
        raise DraftGone(draft.token)
    limit = int(state.config("REQUEST_LIMIT_PER_HOUR"))
    if requests_in_last_hour(session, draft.user_id, now) + len(kinds) > limit:
        raise TooManyRequests(draft.user_id)
    references = [str((answers.get("references") or {}).get(k.value) or new_reference()) for k in kinds]
    requester = requester_of(answers)
    created: list[PrivacyRequest] = []
    for kind, reference in zip(kinds, references, strict=True):
        request = submit(
            state,
            user_id=draft.user_id,
            kind=kind,
            requester_type=requester.requester_type,
            scope=_scope_for(kind, answers, references),
            reference=reference,
            now=now,
        )
        if kind in GROUND_KINDS and answers.get("ground"):
            request.ground = str(answers["ground"])
        if kind is RequestKind.DISCLOSE:
            request.disclosure_method = str(answers.get("method") or DisclosureMethod.ELECTRONIC.value)
        created.append(request)
    _move_documents(session, draft, created)
    for request in created:
        notify.add(
            session,
            draft.user_id,
            "request_received",
            N_("We received your request %(reference)s"),
            body=N_(
                "We will check your identity documents and tell you the result. "
                "You can follow it in your privacy center."
            ),
            params={"reference": request.reference},
            link_endpoint="ome_privacy_account.new_request_done",
            link_values={"reference": request.reference},
            request_id=request.id,
        )
    # The draft stays, marked submitted, so a replayed POST finds what it created; it goes
    # with the other stale drafts (``purge_stale_drafts``).
    draft.answers = {**answers, "submitted_references": [r.reference for r in created]}
    session.flush()
    return created


def _move_documents(session: Session, draft: RequestDraft, requests: Sequence[PrivacyRequest]) -> None:
    """The draft's documents go to the first request; the others get their own encrypted copy,
    so each request can be reviewed, and its documents purged, on its own."""
    documents = draft_documents(session, draft)
    first, others = requests[0], requests[1:]
    for doc in documents:
        for other in others:
            session.add(
                RequestDocument(
                    request_id=other.id,
                    role=doc.role,
                    doc_type=doc.doc_type,
                    content_type=doc.content_type,
                    size=doc.size,
                    sha256=doc.sha256,
                    ciphertext=doc.ciphertext,
                    issued_on=doc.issued_on,
                    uploaded_at=doc.uploaded_at,
                )
            )
        doc.request_id = first.id
        doc.draft_id = None
    session.flush()
    if documents:
        audit.append(
            session,
            "request.documents_attached",
            actor_id=draft.user_id,
            actor_role="user",
            request_id=first.id,
            subject_user_id=draft.user_id,
            data={"references": [r.reference for r in requests], "documents": len(documents)},
        )


def submitted_batch(session: Session, user_id: str, reference: str) -> list[PrivacyRequest]:
    """The requests submitted together with ``reference`` (the person's own only; else [])."""
    request = session.scalar(
        sa.select(PrivacyRequest).where(
            PrivacyRequest.reference == reference, PrivacyRequest.user_id == str(user_id)
        )
    )
    if request is None:
        return []
    together = [str(r) for r in (request.scope or {}).get("submitted_with") or () if isinstance(r, str)]
    if not together:
        return [request]
    return list(
        session.scalars(
            sa.select(PrivacyRequest)
            .where(PrivacyRequest.reference.in_(together[:8]), PrivacyRequest.user_id == str(user_id))
            .order_by(PrivacyRequest.id)
        )
    )


# --- purging -------------------------------------------------------------------------------------


def purge_stale_drafts(session: Session, now: datetime, *, days: int | None = None) -> int:
    """Delete drafts untouched for ``OME_PRIVACY_DRAFT_DAYS`` (or ``days``), documents included.

    Returns how many drafts went. Flushes; the caller commits.
    """
    days = int(config_value("DRAFT_DAYS")) if days is None else days
    cutoff = now - timedelta(days=days)
    stale = list(session.scalars(sa.select(RequestDraft.id).where(RequestDraft.updated_at < cutoff)))
    if not stale:
        return 0
    session.execute(
        sa.delete(RequestDocument)
        .where(RequestDocument.draft_id.in_(stale))
        .execution_options(synchronize_session=False)
    )
    session.execute(
        sa.delete(RequestDraft).where(RequestDraft.id.in_(stale)).execution_options(synchronize_session=False)
    )
    session.flush()
    audit.append(session, "drafts.purged", actor_id=None, actor_role="system", data={"count": len(stale)})
    return len(stale)


FEE_METHODS_DEFAULT = [m.value for m in (FeeMethod.REGISTERED_CASH_MAIL, FeeMethod.POSTAL_MONEY_ORDER)]


def fee_methods(configured: Iterable[str] | None) -> list[tuple[FeeMethod, str]]:
    """The configured ways to pay, with their instructions (unknown codes are skipped)."""
    known = {m.value: m for m in FeeMethod}
    return [
        (known[c], FEE_METHOD_LABELS[known[c]]) for c in (configured or FEE_METHODS_DEFAULT) if c in known
    ]
