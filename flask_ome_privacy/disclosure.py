"""Disclosure packages and purpose notices (policy Art. 4.1; APPI Arts. 32, 33).

A granted disclosure gives the requester what every source holds for the items granted,
plus the records of provision to third parties (APPI Art. 33(5)); a notification of the
purpose of use gives the purposes that apply to that person's data. Both come as one zip
(``notice.json``, ``data.json`` and a CSV per source), streamed — nothing is built in
memory — in the requester's language. Electronic delivery: the requester downloads it from
their request page for ``OME_PRIVACY_RESULT_DAYS`` after the release (``package_access`` says
whether it may now, ``record_download`` audits each download, ``disclosure_package`` is the
body). Paper: staff print ``printable`` and record the day they mailed it (``mark_mailed``).
"""

from __future__ import annotations

import enum
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from functools import partial
from typing import Any

from . import audit
from .consents import latest_decisions
from .decisions import Verdict
from .export import (
    CSV_COLUMNS,
    Labels,
    csv_chunks,
    dumps,
    in_language,
    iso,
    provision_json,
    record_json,
    source_header,
)
from .holdings import HeldRecord, applicable_purposes, iter_provisions, iter_records, read_safely
from .i18n import translate
from .lifecycle import RequestKind
from .models import PrivacyRequest
from .request_decisions import DeskError, check_version, decision_of, notice_items
from .sources import N_, DataSource
from .state import PrivacyState

__all__ = [
    "DOWNLOADED_ACTION",
    "PackageAccess",
    "PackageState",
    "disclosure_package",
    "is_electronic",
    "package_access",
    "record_download",
    "package_filename",
    "has_package",
    "granted_fields",
    "printable",
    "mark_mailed",
    "PrintableSource",
    "PrintablePackage",
]

MAILED_ACTION = "request.disclosure_mailed"
DOWNLOADED_ACTION = "request.package_downloaded"
_KINDS = frozenset({RequestKind.DISCLOSE, RequestKind.NOTIFY_PURPOSE})


def has_package(request: PrivacyRequest) -> bool:
    """Does this request's result come as a package (granted disclosure or purpose notice)?"""
    return RequestKind(request.kind) in _KINDS and bool(granted_fields(request))


def granted_fields(request: PrivacyRequest) -> dict[str, set[str] | None]:
    """Source key -> the granted fields (None: everything it holds)."""
    granted: dict[str, set[str] | None] = {}
    for item in decision_of(request).items:
        if item.verdict is not Verdict.GRANTED:
            continue
        if item.field is None:
            granted[item.source] = None
        elif item.source not in granted or granted[item.source] is not None:
            current = granted.get(item.source)
            granted[item.source] = {*(current or set()), item.field}
    return granted


def package_filename(request: PrivacyRequest) -> str:
    return f"privacy-disclosure-{request.reference}.zip"


def _sources(state: PrivacyState, request: PrivacyRequest) -> list[tuple[DataSource, set[str] | None]]:
    granted = granted_fields(request)
    return [(source, granted[source.key]) for source in state.sources if source.key in granted]


def _records(source: DataSource, user: Any, fields: set[str] | None) -> Iterator[HeldRecord]:
    for record in iter_records(source, user):
        if fields is None or record.field in fields:
            yield record


def _user(state: PrivacyState, request: PrivacyRequest) -> Any:
    if request.user_id is None:
        raise DeskError([N_("This request has no account to disclose data from.")], ["no_account"])
    return state.extension.load_user(request.user_id)


def _purposes(state: PrivacyState, request: PrivacyRequest) -> list[dict[str, Any]]:
    decisions = latest_decisions(state.session, str(request.user_id))
    today = state.today()
    categories = list(dict.fromkeys(source.category for source, _f in _sources(state, request)))
    rows = []
    for key in categories:
        category = state.purposes.categories.get(key)
        applying, _pending = applicable_purposes(state.purposes, key, decisions, today)
        rows.append(
            {
                "category": key,
                "label": translate(category.label) if category else key,
                "purposes": [{"key": p.key, "text": translate(p.text)} for p in applying],
            }
        )
    return rows


def _notice(request: PrivacyRequest, language: str) -> Iterator[str]:
    yield dumps(
        {
            "reference": request.reference,
            "kind": request.kind,
            "kind_label": translate(RequestKind(request.kind).label),
            "language": language,
            "generated_at": iso(datetime.now(timezone.utc)),
            "items": notice_items(request),
        }
    )


def _data_json(state: PrivacyState, request: PrivacyRequest, user: Any) -> Iterator[str]:
    kind = RequestKind(request.kind)
    yield '{"reference":' + dumps(request.reference)
    if kind is RequestKind.NOTIFY_PURPOSE:
        yield ',\n"purposes":' + dumps(_purposes(state, request)) + "\n}\n"
        return
    yield ',\n"sources":['
    labels = Labels()
    for index, (source, fields) in enumerate(_sources(state, request)):
        header = source_header(source)
        if fields is not None:
            header["fields"] = [f for f in header["fields"] if f["name"] in fields]
        yield ("," if index else "") + "\n" + dumps(header)[:-1] + ',"records":['
        for n, record in enumerate(_records(source, user, fields)):
            yield ("," if n else "") + "\n" + dumps(record_json(record, labels(record.label)))
        yield "]}"
    yield '\n],\n"provisions":['
    for n, provision in enumerate(iter_provisions(state.session, str(request.user_id))):
        yield ("," if n else "") + "\n" + dumps(provision_json(provision))
    yield "]\n}\n"


def _source_rows(source: DataSource, user: Any, fields: set[str] | None) -> Iterator[list[Any]]:
    labels = Labels()
    for record in _records(source, user, fields):
        yield [
            record.group,
            record.field,
            labels(record.label),
            record.value,
            record.obtained_at,
            record.required,
        ]


def _purpose_rows(state: PrivacyState, request: PrivacyRequest) -> Iterator[list[Any]]:
    for row in _purposes(state, request):
        for purpose in row["purposes"]:
            yield [row["category"], row["label"], purpose["key"], purpose["text"]]


def _entries(
    state: PrivacyState, request: PrivacyRequest, language: str
) -> Iterator[tuple[str, Iterator[str]]]:
    user = _user(state, request)
    yield "notice.json", _notice(request, language)
    yield "data.json", _data_json(state, request, user)
    if RequestKind(request.kind) is RequestKind.NOTIFY_PURPOSE:
        rows = _purpose_rows(state, request)  # a generator: read inside the requester's language
        yield "purposes.csv", csv_chunks(("category", "category_label", "purpose", "text"), rows)
        return
    for source, fields in _sources(state, request):
        yield f"{source.key}.csv", csv_chunks(CSV_COLUMNS, _source_rows(source, user, fields))
    provisions = (
        [p.recipient, ", ".join(p.categories or []), p.purpose, p.basis, p.provided_at, p.stopped_at]
        for p in iter_provisions(state.session, str(request.user_id))
    )
    yield (
        "provisions.csv",
        csv_chunks(("recipient", "categories", "purpose", "basis", "provided_at", "stopped_at"), provisions),
    )


# --- electronic delivery: who may download, until when ----------------------------------------


class PackageState(str, enum.Enum):
    """Whether the requester may download the package now, and if not, why (the page says it)."""

    AVAILABLE = "available"
    #: Not a disclosure or purpose notice, or nothing was granted: there is no package.
    NO_PACKAGE = "no_package"
    #: The requester asked for paper: the package goes by post.
    PAPER = "paper"
    #: The decision notice has not been released yet.
    NOT_RELEASED = "not_released"
    #: Released more than ``OME_PRIVACY_RESULT_DAYS`` ago.
    EXPIRED = "expired"


@dataclass(frozen=True)
class PackageAccess:
    state: PackageState
    #: When the download ends (``released_at`` + ``OME_PRIVACY_RESULT_DAYS``); None before release.
    expires_at: datetime | None = None

    @property
    def available(self) -> bool:
        return self.state is PackageState.AVAILABLE


def is_electronic(request: PrivacyRequest) -> bool:
    """Delivered as a download: anything but paper (a purpose notice has no method; the desk
    treats it as a download too)."""
    return request.disclosure_method != "paper"


def package_access(request: PrivacyRequest, result_days: int, now: datetime | None = None) -> PackageAccess:
    """May the requester download this request's package at ``now``?

    Only a disclosure or purpose notice, for electronic delivery, once the notice is released
    with something granted (``has_package``), and for ``result_days`` days after the release.
    """
    if RequestKind(request.kind) not in _KINDS:
        return PackageAccess(PackageState.NO_PACKAGE)
    if not is_electronic(request):
        return PackageAccess(PackageState.PAPER)
    if request.released_at is None:
        return PackageAccess(PackageState.NOT_RELEASED)
    if not has_package(request):  # released, and nothing was granted
        return PackageAccess(PackageState.NO_PACKAGE)
    expires_at = request.released_at + timedelta(days=int(result_days))
    if (now or datetime.now(timezone.utc)) >= expires_at:
        return PackageAccess(PackageState.EXPIRED, expires_at)
    return PackageAccess(PackageState.AVAILABLE, expires_at)


def record_download(state: PrivacyState, request: PrivacyRequest, *, user_id: str) -> None:
    """Audit one download of the package by its requester (ids and codes only; the caller commits)."""
    audit.append(
        state.session,
        DOWNLOADED_ACTION,
        actor_id=str(user_id),
        actor_role="user",
        request_id=request.id,
        subject_user_id=request.user_id,
        data={"reference": request.reference, "kind": request.kind},
    )


class _Sink(io.RawIOBase):
    """A write-only stream the zip writes into; ``drain`` hands over what was written so far."""

    def __init__(self) -> None:
        super().__init__()
        self._chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._chunks.append(chunk)
        return len(chunk)

    def drain(self) -> bytes:
        out = b"".join(self._chunks)
        self._chunks.clear()
        return out


def disclosure_package(state: PrivacyState, request: PrivacyRequest, language: str) -> Iterator[bytes]:
    """The zip for a granted disclosure or purpose notice, as bytes in chunks, in ``language``.

    Only what was granted (source or field), plus provision records for a disclosure.
    Needs an app context only (a job or the requester's download route may call it).
    """
    if not has_package(request):
        raise DeskError([N_("This request has no disclosure package.")], ["no_package"])
    sink = _Sink()
    archive = zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_DEFLATED)
    for name, chunks in _entries(state, request, language):
        with archive.open(name, mode="w") as entry:
            for text in in_language(chunks, language):
                entry.write(text.encode("utf-8"))
                data = sink.drain()
                if data:
                    yield data
        yield sink.drain()
    archive.close()
    yield sink.drain()


# --- paper delivery ----------------------------------------------------------------------------


@dataclass
class PrintableSource:
    label: str
    records: list[HeldRecord] = field(default_factory=list)
    #: The source could not be read now: staff must not mail an incomplete package.
    unavailable: bool = False


def _records_list(source: DataSource, user: Any, fields: set[str] | None) -> list[HeldRecord]:
    return list(_records(source, user, fields))


@dataclass
class PrintablePackage:
    """What staff print and mail (paper delivery): the same content as the zip."""

    reference: str
    kind: RequestKind
    sources: list[PrintableSource]
    provisions: list[Any]
    purposes: list[dict[str, Any]]


def printable(state: PrivacyState, request: PrivacyRequest) -> PrintablePackage:
    """The package as a page staff print (labels are message ids, translated on the page)."""
    if not has_package(request):
        raise DeskError([N_("This request has no disclosure package.")], ["no_package"])
    user = _user(state, request)
    kind = RequestKind(request.kind)
    if kind is RequestKind.NOTIFY_PURPOSE:
        return PrintablePackage(request.reference, kind, [], [], _purposes(state, request))
    sources = []
    for source, fields in _sources(state, request):
        records = read_safely(state.session, source, partial(_records_list, source, user, fields))
        sources.append(PrintableSource(source.label, records or [], unavailable=records is None))
    provisions = list(iter_provisions(state.session, str(request.user_id)))
    return PrintablePackage(request.reference, kind, sources, provisions, [])


def mark_mailed(
    state: PrivacyState,
    request: PrivacyRequest,
    *,
    staff_id: str,
    mailed_on: date,
    expected_version: int | None = None,
) -> None:
    """Record the day the printed package was mailed (paper delivery, APPI Art. 33(1))."""
    check_version(request, expected_version)
    if not has_package(request):
        raise DeskError([N_("This request has no disclosure package.")], ["no_package"])
    if mailed_on > state.today():
        raise DeskError([N_("The mailing date cannot be in the future.")], ["date_in_future"])
    request.disclosure_mailed_on = mailed_on
    state.session.flush()
    audit.append(
        state.session,
        MAILED_ACTION,
        actor_id=str(staff_id),
        actor_role="staff",
        request_id=request.id,
        subject_user_id=request.user_id,
        data={"reference": request.reference, "mailed_on": mailed_on.isoformat()},
    )
