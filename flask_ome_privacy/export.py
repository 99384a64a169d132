"""The machine-readable export of everything held about a person (APPI Art. 33(1): electronic
disclosure): one JSON document, or one CSV file per source.

Both are generators of text chunks, so a view can stream them (``stream_with_context``)
and a person with 100,000 records never has them all in memory: records are read from
``holdings.iter_records`` one at a time and written out ``OME_PRIVACY_EXPORT_BATCH_SIZE``
at a time. The JSON layout is versioned (``SCHEMA``/``VERSION``) and documented in README
("Export format"); a change that would break a reader bumps ``VERSION``.

CSV is UTF-8 with a byte-order mark (so Excel, in Japan too, reads it as UTF-8) and is
safe against formula injection (OWASP "CSV Injection", ASVS 5.0 V1.2.10): a cell (quoted
when it holds a comma, quote or line break, RFC 4180) that starts with ``= + - @ ;``, their
full-width forms ``＝ ＋ － ＠``, a tab, carriage return, line feed or NUL — also after
leading whitespace — gets a leading apostrophe.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

from flask_babel import force_locale

from .consents import latest_decisions
from .holdings import HeldRecord, applicable_purposes, iter_consents, iter_provisions, iter_records
from .i18n import translate
from .purposes import purposes_table
from .sources import DataSource
from .state import PrivacyState, user_id_of

log = logging.getLogger(__name__)

SCHEMA = "flask-ome-privacy/export"
VERSION = 1

#: The CSV columns, in order. Stable keys (not translated) so that scripts can rely on them.
CSV_COLUMNS = ("group", "field", "label", "value", "obtained_at", "required")

#: Characters that make a spreadsheet treat a cell as a formula, or start one: OWASP "CSV
#: Injection" (= + - @, tab, CR), ASVS 5.0 V1.2.10 (NUL), line feed, ";" (a field separator in
#: many locales, so it can open a new cell), and the full-width forms Japanese input methods type,
#: which spreadsheets with East Asian settings read as the ASCII ones.
FORMULA_STARTS = ("=", "+", "-", "@", ";", "\t", "\r", "\n", "\0", "＝", "＋", "－", "＠", "；")

BOM = "\ufeff"


# --- values ----------------------------------------------------------------------------------


def json_default(value: Any) -> Any:
    """How values JSON does not know are written: dates as ISO 8601, bytes as base64, the rest as text."""
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def iso(value: datetime | date | None) -> str | None:
    """ISO 8601; aware datetimes in UTC with ``Z``."""
    if value is None:
        return None
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    return value.isoformat()


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=json_default, separators=(",", ":"))


def csv_text(value: Any) -> str:
    """A value as CSV cell text (before the formula guard)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (datetime, date)):
        return iso(value) or ""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float, Decimal)):
        return str(value)
    return dumps(value)


def csv_safe(value: Any) -> str:
    """Cell text that no spreadsheet will run as a formula: a leading apostrophe when needed."""
    text = csv_text(value)
    # " =1+1" runs as a formula too: spreadsheets skip leading (also full-width) spaces.
    if text.startswith(FORMULA_STARTS) or text.lstrip().startswith(FORMULA_STARTS):
        return "'" + text
    return text


# --- JSON ----------------------------------------------------------------------------------------


def in_language(chunks: Iterator[str], language: str) -> Iterator[str]:
    """``chunks``, each produced with ``language`` forced (Flask-Babel's ``force_locale``).

    Forced per chunk, not around the whole stream, so a suspended download never leaves
    its language set on a context that serves anything else.
    """
    while True:
        with force_locale(language):
            chunk = next(chunks, None)
        if chunk is None:
            return
        yield chunk


def write_json(
    state: PrivacyState,
    user: Any,
    *,
    language: str,
    generated_at: datetime | None = None,
    batch_size: int | None = None,
) -> Iterator[str]:
    """The whole export as JSON text in ``language``, in chunks (schema ``SCHEMA`` version
    ``VERSION``).

    Needs an app context only (no request: a job worker can write it). Reads
    ``OME_PRIVACY_SERVICE_NAME``, ``BUSINESS_NAME``, ``CONTACT``, ``PROCESSORS`` and
    ``EXPORT_BATCH_SIZE``.
    """
    return in_language(_json_chunks(state, user, language, generated_at, batch_size), language)


def _json_chunks(
    state: PrivacyState,
    user: Any,
    language: str,
    generated_at: datetime | None,
    batch_size: int | None,
) -> Iterator[str]:
    session = state.session
    register = state.purposes
    user_id = user_id_of(user)
    batch = max(1, int(batch_size or state.config("EXPORT_BATCH_SIZE") or 1000))
    generated_at = generated_at or datetime.now(timezone.utc)
    processors = state.config("PROCESSORS") or {}
    decisions = latest_decisions(session, user_id)
    today = state.today()

    head = {
        "schema": SCHEMA,
        "version": VERSION,
        "generated_at": iso(generated_at),
        "language": language,
        "service": state.config("SERVICE_NAME"),
        "business": {"name": translate(state.config("BUSINESS_NAME")), "contact": _contact(state)},
        "user_id": user_id,
    }
    yield dumps(head)[:-1]  # leave the object open

    categories = []
    for row in purposes_table(register, processors):
        category = row.category
        applying, _pending = applicable_purposes(register, category.key, decisions, today)
        categories.append(
            {
                "key": category.key,
                "label": translate(category.label),
                "origin": category.origin.value,
                "provided_to_clients": category.provided_to_clients,
                "purposes": [
                    {
                        "key": p.key,
                        "text": translate(p.text),
                        "version": p.version,
                        "added_on": p.added_on,
                        "applies": p in applying,
                    }
                    for p in row.purposes
                ],
                # In the export's language, like the pages; "task" only when the host says one.
                "processors": [
                    {"name": translate(p.name), **({"task": translate(p.task)} if p.task else {})}
                    for p in row.processors
                ],
            }
        )
    yield ',\n"categories":' + dumps(categories)

    yield ',\n"sources":['
    for index, source in enumerate(state.sources):
        yield ("," if index else "") + "\n" + dumps(source_header(source))[:-1] + ',"records":['
        count = 0
        complete = True
        labels = Labels()
        records = (dumps(record_json(r, labels(r.label))) for r in iter_records(source, user))
        try:
            for chunk in _batched(records, batch):
                yield ("," if count else "") + "\n" + ",\n".join(chunk)
                count += len(chunk)
        except Exception as exc:
            # The status line has gone already: say so in the document, keep it valid JSON.
            log.error("export: data source %r failed mid-stream: %s", source.key, type(exc).__name__)
            session.rollback()
            complete = False
        yield '],"record_count":' + str(count) + ',"complete":' + dumps(complete) + "}"
    yield "\n]"

    yield ',\n"provisions":['
    yield from _json_array(
        (provision_json(p) for p in iter_provisions(session, user_id, batch_size=batch)), batch
    )
    yield "]"

    yield ',\n"consents":['
    yield from _json_array(
        (consent_json(c) for c in iter_consents(session, user_id, batch_size=batch)), batch
    )
    yield "]\n}\n"


def _contact(state: PrivacyState) -> dict[str, Any]:
    """The inquiry contact, its texts in the export's language like the pages show them."""
    contact = dict(state.config("CONTACT") or {})
    for key in ("name", "postal_address"):
        if contact.get(key):
            contact[key] = translate(contact[key])
    return contact


def source_header(source: DataSource) -> dict[str, Any]:
    return {
        "key": source.key,
        "label": translate(source.label),
        "description": translate(source.description),
        "origin": source.origin.value,
        "provider": source.provider,
        "category": source.category,
        "fields": [
            {
                "name": f.name,
                "label": translate(f.label),
                "required": f.required,
                "description": translate(f.description),
            }
            for f in source.fields
        ],
    }


def record_json(record: HeldRecord, label: str | None = None) -> dict[str, Any]:
    """``label``: the record's label already translated (else it is translated here)."""
    return {
        "field": record.field,
        "label": translate(record.label) if label is None else label,
        "value": record.value,
        "obtained_at": iso(record.obtained_at),
        "group": record.group,
        "required": record.required,
    }


def provision_json(provision: Any) -> dict[str, Any]:
    return {
        "recipient": provision.recipient,
        "categories": list(provision.categories or []),
        "purpose": provision.purpose,
        "basis": provision.basis,
        "provided_at": iso(provision.provided_at),
        "stopped_at": iso(provision.stopped_at),
    }


def consent_json(consent: Any) -> dict[str, Any]:
    return {
        "purpose_key": consent.purpose_key,
        "purpose_version": consent.purpose_version,
        "granted": consent.granted,
        "decided_at": iso(consent.decided_at),
    }


class Labels(dict[str, str]):
    """Field labels translated once per export, not once per record."""

    def __call__(self, label: str) -> str:
        if label not in self:
            self[label] = translate(label)
        return self[label]


def _json_array(items: Iterable[dict[str, Any]], batch: int) -> Iterator[str]:
    first = True
    for chunk in _batched((dumps(item) for item in items), batch):
        yield ("" if first else ",") + "\n" + ",\n".join(chunk)
        first = False


def _batched(items: Iterable[str], size: int) -> Iterator[list[str]]:
    chunk: list[str] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# --- CSV -----------------------------------------------------------------------------------------


def write_csv(source: DataSource, user: Any, *, language: str, batch_size: int = 1000) -> Iterator[str]:
    """One source's values as CSV text in chunks: BOM, header row, one row per value; labels
    in ``language``. Needs an app context only."""
    return in_language(_csv_chunks(source, user, batch_size), language)


def _csv_chunks(source: DataSource, user: Any, batch_size: int) -> Iterator[str]:
    labels = Labels()
    rows = (
        (record.group, record.field, labels(record.label), record.value, record.obtained_at, record.required)
        for record in iter_records(source, user)
    )
    return csv_chunks(CSV_COLUMNS, rows, batch=batch_size)


def csv_chunks(header: Sequence[str], rows: Iterable[Sequence[Any]], *, batch: int = 1000) -> Iterator[str]:
    """Rows as CSV text in chunks of ``batch`` rows: BOM and header first, every cell formula-safe.

    The one CSV writer behind every download of ours (export, disclosure package, audit trail,
    review report), so each streams in constant memory and guards cells the same way.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    yield BOM + _drain(buffer)
    for count, row in enumerate(rows, 1):
        writer.writerow([csv_safe(value) for value in row])
        if count % batch == 0:
            yield _drain(buffer)
    tail = _drain(buffer)
    if tail:
        yield tail


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate(0)
    return text


# --- file names ---------------------------------------------------------------------------------


def filename(day: date, source_key: str | None = None, *, extension: str) -> str:
    """``privacy-export-2025-06-01.json`` or ``privacy-export-profile-2025-06-01.csv``."""
    middle = f"-{source_key}" if source_key else ""
    return f"privacy-export{middle}-{day.isoformat()}.{extension}"
