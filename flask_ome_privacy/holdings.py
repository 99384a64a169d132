"""What is held about one person, gathered from every source: the one place the data page
(``views/data.py``) and the export (``export.py``) read from.

For each registered source it answers, with the purposes register of the current app:
which category the data belongs to and that category's purposes (policy Art. 2.1, only
those that apply to this person: a purpose that needs individual consent appears once it
is granted, Art. 2.2(1)), whether the category is provided to client companies (Art. 2.1),
the outsourced processors that handle it (Art. 1.5, ``OME_PRIVACY_PROCESSORS``), which
items are required for the service (Art. 1.2), and the values themselves with when each
was obtained.

Two ways to read the values:

* ``gather(state, user, limit=N)``: the first ``N`` values of each source plus how many
  there are, in a number of SQL statements that does not grow with the data (one
  ``collect`` per source, one ``count`` when the source overrides it, ``is_linked`` for SNS
  sources, one query for consents and one for the provision log);
* ``iter_records(source, user)``, ``iter_provisions`` and ``iter_consents``: everything,
  streamed, for the export.

Everything here runs inside the caller's transaction and never commits; a failing source
is read inside a savepoint (``read_safely``), so the caller's pending writes survive it.
Labels stay message ids (``N_``): whoever displays them translates, in their language, so
nothing here needs a request, a signed-in user or a locale.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import partial
from itertools import islice
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from .consents import latest_decisions
from .models import ConsentRecord, ProvisionRecord
from .provisions import provisions_for
from .purposes import (
    Category,
    ConsentDecision,
    Processor,
    Purpose,
    PurposeRegister,
    consent_asks_for,
    may_use,
    processors_for,
)
from .sources import DataSource, Origin, Record, SourceField
from .state import PrivacyState, user_id_of

log = logging.getLogger(__name__)
T = TypeVar("T")

__all__ = [
    "HeldRecord",
    "HeldField",
    "held_fields",
    "SourceCount",
    "source_counts",
    "RecordGroup",
    "SourceHolding",
    "Holdings",
    "gather",
    "source_holding",
    "iter_records",
    "held_record",
    "iter_provisions",
    "iter_consents",
    "applicable_purposes",
    "processors_for",
    "read_safely",
    "read_each_safely",
    "count_overridden",
]


@dataclass(frozen=True)
class HeldRecord:
    """One value held, with its field's declared label and whether the service requires it.

    ``label`` is the source's untranslated label (``N_``-marked); translate it on display.
    A record naming a field the source did not declare keeps the field's name as its label.
    """

    field: str
    label: str
    value: Any
    obtained_at: datetime | None
    group: str | None
    required: bool


@dataclass
class HeldField:
    """One item as pages and receipts show it: a label and the values held under it.

    ``label`` is the records' own label (``Record.label``, e.g. a survey question) or else
    the field's declared label: values with different labels are different items.
    """

    field: str
    label: str
    values: list[HeldRecord] = dataclasses.field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.values)


def held_fields(source: DataSource, records: Iterable[Record]) -> list[HeldField]:
    """``records`` as items (field + label), in the source's field order, then first appearance.

    The one place that turns records into labelled items: the SNS page, its confirm page
    and the withdrawal receipt all read it.
    """
    items: dict[tuple[str, str], HeldField] = {}
    for record in records:
        held = held_record(source, record)
        key = (held.field, held.label)
        item = items.get(key)
        if item is None:
            item = items[key] = HeldField(held.field, held.label)
        item.values.append(held)
    order = {f.name: i for i, f in enumerate(source.fields)}
    return sorted(items.values(), key=lambda i: (order.get(i.field, len(order)), i.field))


@dataclass
class RecordGroup:
    """Records sharing ``Record.group`` (e.g. one survey); ``name`` is None for ungrouped ones."""

    name: str | None
    records: list[HeldRecord] = field(default_factory=list)


@dataclass
class SourceHolding:
    """One source's section of the data page."""

    source: DataSource
    category: Category | None
    #: Purposes of the source's category that apply to this person now.
    purposes: list[Purpose]
    #: Additional purposes of the category still waiting for this person's decision (Art. 2.2(1)).
    pending_purposes: list[Purpose]
    processors: list[Processor]
    #: The first ``limit`` values (all of them when ``limit`` is None).
    records: list[HeldRecord]
    #: How many values the source holds in all.
    count: int
    #: SNS sources: whether the person has this SNS linked. Other sources: whether anything is held.
    linked: bool
    #: The source failed when asked; the page says so instead of showing "nothing held".
    unavailable: bool = False

    @property
    def key(self) -> str:
        return self.source.key

    @property
    def provided_to_clients(self) -> bool:
        return bool(self.category and self.category.provided_to_clients)

    @property
    def required_fields(self) -> list[SourceField]:
        """Items the service needs (Art. 1.2), whether or not a value is held for them."""
        return [f for f in self.source.fields if f.required]

    @property
    def truncated(self) -> bool:
        return self.count > len(self.records)

    @property
    def is_empty(self) -> bool:
        return self.count == 0 and not self.unavailable

    @property
    def groups(self) -> list[RecordGroup]:
        """``records`` grouped by ``Record.group``, groups in order of first appearance."""
        groups: dict[str | None, RecordGroup] = {}
        for record in self.records:
            groups.setdefault(record.group, RecordGroup(record.group)).records.append(record)
        return list(groups.values())


@dataclass
class Holdings:
    """Everything the data page shows for one person."""

    sources: list[SourceHolding]
    #: The provision log, newest first, at most ``limit`` rows.
    provisions: list[ProvisionRecord]
    #: True when there are more provision records than shown.
    provisions_truncated: bool
    limit: int | None


# --- gathering ------------------------------------------------------------------------------


def gather(
    state: PrivacyState, user: Any, *, limit: int | None = None, today: date | None = None
) -> Holdings:
    """Every registered source's holding for ``user``, plus the provision log.

    ``state`` is the app's ``PrivacyState`` (an app context is enough; no request).
    ``limit`` caps the values kept per source and the provision rows; ``None`` keeps
    everything (only for small data: the export streams instead). Reads
    ``OME_PRIVACY_PROCESSORS``.
    """
    session = state.session
    register = state.purposes
    user_id = user_id_of(user)
    decisions = latest_decisions(session, user_id)
    processors = state.config("PROCESSORS") or {}
    today = today or state.today()
    sources = []
    reads = [
        (
            source,
            partial(
                source_holding,
                source,
                user,
                register=register,
                decisions=decisions,
                processors=processors,
                limit=limit,
                today=today,
            ),
        )
        for source in state.sources
    ]
    for source, holding in zip(state.sources, read_each_safely(session, reads), strict=True):
        if holding is None:
            category = register.categories.get(source.category)
            purposes, pending = applicable_purposes(register, source.category, decisions, today)
            holding = SourceHolding(
                source=source,
                category=category,
                purposes=purposes,
                pending_purposes=pending,
                processors=processors_for(processors, source.category),
                records=[],
                count=0,
                linked=False,
                unavailable=True,
            )
        sources.append(holding)
    provisions = provisions_for(session, user_id, limit=None if limit is None else limit + 1)
    truncated = limit is not None and len(provisions) > limit
    return Holdings(
        sources=sources,
        provisions=provisions[:limit] if limit is not None else provisions,
        provisions_truncated=truncated,
        limit=limit,
    )


def source_holding(
    source: DataSource,
    user: Any,
    *,
    register: PurposeRegister,
    decisions: Mapping[str, ConsentDecision] | None = None,
    processors: Mapping[str, Any] | None = None,
    limit: int | None = None,
    today: date | None = None,
) -> SourceHolding:
    """One source's holding for ``user``: its first ``limit`` values, how many in all, and why.

    Counting never loads everything: a source that overrides ``count`` is asked once (its
    COUNT query); otherwise the rest of the same ``collect`` stream is counted as it passes,
    without keeping it. Either way the statements issued do not depend on how much is held:
    the same at one value as at a million (a COUNT skipped for small holdings would make
    them differ, and the page's cost with them).
    """
    today = today or date.today()
    category = register.categories.get(source.category)
    purposes, pending = applicable_purposes(register, source.category, decisions or {}, today)
    stream = iter(source.collect(user))
    ask_count = limit is not None and count_overridden(source)
    try:
        first = islice(stream, limit) if limit is not None else stream
        records = [held_record(source, r) for r in first]
        count = len(records)
        if limit is not None and not ask_count:
            count += sum(1 for _ in stream)
    finally:
        _close(stream)
    if ask_count:
        count = max(int(source.count(user)), len(records))
    linked = source.is_linked(user) if source.origin is Origin.SNS else count > 0
    return SourceHolding(
        source=source,
        category=category,
        purposes=purposes,
        pending_purposes=pending,
        processors=processors_for(processors or {}, source.category),
        records=records,
        count=count,
        linked=bool(linked),
    )


@dataclass(frozen=True)
class SourceCount:
    """A source on the overview: how many values it holds (None: it could not be read now)."""

    source: DataSource
    category: Category | None
    count: int | None


def source_counts(state: PrivacyState, user: Any) -> list[SourceCount]:
    """Every source's count for ``user`` (``DataSource.count``), a failing one as None."""
    reads = [(source, partial(source.count, user)) for source in state.sources]
    counts = read_each_safely(state.session, reads)
    return [
        SourceCount(source=source, category=state.purposes.categories.get(source.category), count=count)
        for source, count in zip(state.sources, counts, strict=True)
    ]


def read_safely(session: Session, source: DataSource, read: Callable[[], T]) -> T | None:
    """``read()``, or None when the source fails: one broken source must not hide the others.

    The read runs in a savepoint (``begin_nested``): a failed statement leaves a PostgreSQL
    transaction unusable, and rolling back to the savepoint repairs it without losing what
    the caller has written so far in the same transaction. Logs the source key and the
    error's type only (a message may carry personal data).
    """
    savepoint = session.begin_nested()
    try:
        result = read()
    except Exception as exc:
        log.error("data source %r could not be read: %s", source.key, type(exc).__name__)
        savepoint.rollback()
        return None
    savepoint.commit()
    return result


def read_each_safely(
    session: Session, reads: Sequence[tuple[DataSource, Callable[[], T]]]
) -> list[T | None]:
    """``read_safely`` for each ``(source, read)``, in one savepoint while none fails.

    A savepoint costs two round trips (``SAVEPOINT``, ``RELEASE``); a page reading every
    source paid them per source. When a read fails, the batch's savepoint is rolled back
    and each read runs again in its own (reads change nothing, so running one again is
    safe): the failing source shows as None, the others as they are.
    """
    if len(reads) < 2:
        return [read_safely(session, source, read) for source, read in reads]
    savepoint = session.begin_nested()
    try:
        results: list[T | None] = [read() for _source, read in reads]
    except Exception:
        savepoint.rollback()
        return [read_safely(session, source, read) for source, read in reads]
    savepoint.commit()
    return results


def count_overridden(source: DataSource) -> bool:
    """Did the source replace ``DataSource.count`` (e.g. with a COUNT query)?"""
    return type(source).count is not DataSource.count


def _close(stream: Iterator[Any]) -> None:
    """Release a generator stopped early (and the database cursor it may hold open)."""
    close = getattr(stream, "close", None)
    if close is not None:
        close()


# --- streaming, for the export ------------------------------------------------------------------


def held_record(source: DataSource, record: Record) -> HeldRecord:
    declared = source.field(record.field)
    return HeldRecord(
        field=record.field,
        label=record.label or (declared.label if declared is not None else record.field),
        value=record.value,
        obtained_at=record.obtained_at,
        group=record.group,
        required=bool(declared and declared.required),
    )


def iter_records(source: DataSource, user: Any) -> Iterator[HeldRecord]:
    """Every value ``source`` holds about ``user``, one at a time (nothing kept)."""
    stream = iter(source.collect(user))
    try:
        for record in stream:
            yield held_record(source, record)
    finally:
        _close(stream)


def iter_provisions(session: Session, user_id: str, *, batch_size: int = 1000) -> Iterator[ProvisionRecord]:
    """The person's whole provision log, oldest first, fetched ``batch_size`` rows at a time."""
    statement = (
        sa.select(ProvisionRecord)
        .where(ProvisionRecord.user_id == user_id)
        .order_by(ProvisionRecord.provided_at, ProvisionRecord.id)
        .execution_options(yield_per=batch_size)
    )
    yield from session.scalars(statement)


def iter_consents(session: Session, user_id: str, *, batch_size: int = 1000) -> Iterator[ConsentRecord]:
    """Every consent decision the person made (Art. 2.2(1)), oldest first: the whole history."""
    statement = (
        sa.select(ConsentRecord)
        .where(ConsentRecord.user_id == user_id)
        .order_by(ConsentRecord.decided_at, ConsentRecord.id)
        .execution_options(yield_per=batch_size)
    )
    yield from session.scalars(statement)


# --- purposes and processors ----------------------------------------------------------------------


def applicable_purposes(
    register: PurposeRegister,
    category_key: str,
    decisions: Mapping[str, ConsentDecision],
    today: date,
) -> tuple[list[Purpose], list[Purpose]]:
    """(purposes of the category that apply to this person on ``today``, additional purposes
    of it still waiting for their decision at the current wording).

    ``decisions`` is ``consents.latest_decisions(session, user_id)``; the rules are
    ``purposes.may_use`` and ``purposes.consent_asks_for``.
    """
    applying = [
        p
        for p in register.for_category(category_key)
        if may_use(register, p.key, decisions.get(p.key), today)
    ]
    pending = [
        ask.purpose for ask in consent_asks_for(register, decisions) if ask.purpose.category == category_key
    ]
    return applying, pending
