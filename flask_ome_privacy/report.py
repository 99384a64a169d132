"""The review report (policy Art. 3.2): how the privacy desk did over a period.

For the requests *received* in the period (``since`` inclusive, ``until`` exclusive): how
many of each kind, outcome, requester type and channel; for those of them that are closed,
the median and 90th-percentile days from receipt to closing. As of now, whatever the
period: how many open requests are overdue, and how many identity documents are still
stored past ``OME_PRIVACY_DOCUMENT_RETENTION_DAYS`` (anything but 0: the purge is not running).

The aggregation is pure (``summarize`` over ``RequestFacts``), tested without Flask or a
database; ``gather`` is the one query layer. The 90th percentile is the nearest-rank one
(the smallest value at least 90% of the values do not exceed), so every figure is a real
request's, and both are rounded to one decimal place.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timezone, tzinfo
from typing import cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from .export import csv_chunks, dumps
from .lifecycle import CLOSED_STATUSES, RequesterType, RequestKind, Status
from .models import AuditEvent, PrivacyRequest
from .retention import documents_past_retention, retention_cutoff
from .sources import N_
from .state import PrivacyState

__all__ = [
    "RequestFacts",
    "Count",
    "Summary",
    "Bar",
    "outcome_of",
    "percentile",
    "start_of_day",
    "summarize",
    "gather",
    "bars",
    "csv_rows",
    "write_csv",
    "write_events_csv",
    "OUTCOME_LABELS",
    "CHANNEL_LABELS",
    "REQUESTER_TYPE_LABELS",
]

SECONDS_PER_DAY = 86_400

#: Outcomes as the report names them: the decision for a completed request, else the end state.
OUTCOME_LABELS: dict[str, str] = {
    "approved": N_("Approved"),
    "partial": N_("Partially approved"),
    "completed": N_("Completed"),
    "refused": N_("Refused"),
    "closed_incomplete": N_("Closed: incomplete"),
    "withdrawn": N_("Withdrawn"),
    "open": N_("Still open"),
}
CHANNEL_LABELS: dict[str, str] = {"online": N_("Online"), "postal": N_("By post")}
REQUESTER_TYPE_LABELS: dict[str, str] = {
    RequesterType.SELF.value: N_("The person"),
    RequesterType.LEGAL_REPRESENTATIVE.value: N_("Legal representative"),
    RequesterType.APPOINTED_REPRESENTATIVE.value: N_("Appointed representative"),
}


@dataclass(frozen=True)
class RequestFacts:
    """What the report needs of one request: codes and dates, nothing personal."""

    kind: str
    status: str
    decision: str | None
    requester_type: str
    channel: str
    received_at: datetime
    closed_at: datetime | None


@dataclass(frozen=True)
class Count:
    """One line of a breakdown: a code, its label (a message id) and how many."""

    key: str
    label: str
    count: int


@dataclass(frozen=True)
class Summary:
    since: datetime
    until: datetime
    received: int
    closed: int
    by_kind: list[Count]
    by_outcome: list[Count]
    by_requester_type: list[Count]
    by_channel: list[Count]
    median_days: float | None
    p90_days: float | None
    overdue_now: int
    documents_past_retention: int


def outcome_of(status: str, decision: str | None) -> str:
    """The outcome code: the decision of a completed request, the end state otherwise, or "open"."""
    state = Status(status)
    if state not in CLOSED_STATUSES:
        return "open"
    if state is Status.COMPLETED and decision in ("approved", "partial"):
        return str(decision)
    return str(state.value)


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile (``fraction`` 0–1) of ``values``; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def _median(values: Sequence[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def _counts(found: Counter[str], labels: dict[str, str]) -> list[Count]:
    """Every known code in its order (zeros included, so periods compare), then any unknown ones."""
    known = [Count(key, label, found.get(key, 0)) for key, label in labels.items()]
    extra = [Count(key, key, n) for key, n in sorted(found.items()) if key not in labels]
    return known + extra


def summarize(
    facts: Iterable[RequestFacts],
    *,
    since: datetime,
    until: datetime,
    overdue_now: int = 0,
    documents_past_retention: int = 0,
) -> Summary:
    """The report over ``facts`` (the requests received in the period). Pure: no app, no database."""
    kinds: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    types: Counter[str] = Counter()
    channels: Counter[str] = Counter()
    days: list[float] = []
    received = 0
    for fact in facts:
        received += 1
        kinds[fact.kind] += 1
        outcomes[outcome_of(fact.status, fact.decision)] += 1
        types[fact.requester_type] += 1
        channels[fact.channel] += 1
        if fact.closed_at is not None and Status(fact.status) in CLOSED_STATUSES:
            days.append((fact.closed_at - fact.received_at).total_seconds() / SECONDS_PER_DAY)
    median = _median(days)
    p90 = percentile(days, 0.9)
    return Summary(
        since=since,
        until=until,
        received=received,
        closed=len(days),
        by_kind=_counts(kinds, {k.value: k.label for k in RequestKind}),
        by_outcome=_counts(outcomes, OUTCOME_LABELS),
        by_requester_type=_counts(types, REQUESTER_TYPE_LABELS),
        by_channel=_counts(channels, CHANNEL_LABELS),
        median_days=None if median is None else round(median, 1),
        p90_days=None if p90 is None else round(p90, 1),
        overdue_now=overdue_now,
        documents_past_retention=documents_past_retention,
    )


def start_of_day(day: date, zone: tzinfo) -> datetime:
    """Midnight at the start of ``day`` in ``zone``, as UTC: the bound of a period staff typed.

    pytz zones (what Babel hands out) must localize: as a plain ``tzinfo`` they would give
    Tokyo its 1887 offset (+09:19).
    """
    localize = getattr(zone, "localize", None)
    midnight = datetime.combine(day, time())
    local = localize(midnight) if localize is not None else midnight.replace(tzinfo=zone)
    return cast(datetime, local).astimezone(timezone.utc)


# --- the chart: horizontal bars, computed here so the template only places them -----------------


@dataclass(frozen=True)
class Bar:
    """One bar of the SVG chart, in the chart's own units (the template adds nothing)."""

    label: str
    count: int
    y: int
    width: float


#: Chart geometry (SVG user units): label column, bar area, row height.
CHART_LABEL_WIDTH = 250
CHART_BAR_WIDTH = 300
CHART_ROW = 28


def bars(counts: Sequence[Count]) -> list[Bar]:
    """Bars for ``counts``, the longest filling the bar area; a zero stays a zero-width bar."""
    largest = max((c.count for c in counts), default=0)
    return [
        Bar(
            label=c.label,
            count=c.count,
            y=index * CHART_ROW,
            width=round(CHART_BAR_WIDTH * c.count / largest, 1) if largest else 0.0,
        )
        for index, c in enumerate(counts)
    ]


# --- the query layer --------------------------------------------------------------------------------


def _overdue_now(session: Session, now: datetime) -> int:
    """Open requests past their due date; a paused clock counts as of the moment it paused."""
    reference = sa.case((PrivacyRequest.paused_since.is_not(None), PrivacyRequest.paused_since), else_=now)
    return int(
        session.scalar(
            sa.select(sa.func.count(PrivacyRequest.id)).where(
                PrivacyRequest.status.not_in([s.value for s in CLOSED_STATUSES]),
                PrivacyRequest.due_at < reference,
            )
        )
        or 0
    )


def gather(state: PrivacyState, since: datetime, until: datetime, *, now: datetime) -> Summary:
    """The report for requests received in [``since``, ``until``): three queries, columns only."""
    session = state.session
    rows = session.execute(
        sa.select(
            PrivacyRequest.kind,
            PrivacyRequest.status,
            PrivacyRequest.decision,
            PrivacyRequest.requester_type,
            PrivacyRequest.channel,
            PrivacyRequest.received_at,
            PrivacyRequest.closed_at,
        )
        .where(PrivacyRequest.received_at >= since, PrivacyRequest.received_at < until)
        .execution_options(yield_per=1000)
    )
    facts = (RequestFacts(*row) for row in rows)
    return summarize(
        facts,
        since=since,
        until=until,
        overdue_now=_overdue_now(session, now),
        documents_past_retention=documents_past_retention(session, retention_cutoff(state, now)),
    )


# --- the same as CSV ----------------------------------------------------------------------------------


CSV_COLUMNS = ("section", "key", "label", "value")


def csv_rows(summary: Summary, translate: Callable[[str], str]) -> Iterator[tuple[str, str, str, str]]:
    """(section, key, label, value) rows: stable codes for scripts, a translated label for people."""
    yield ("period", "since", translate(N_("From")), summary.since.isoformat())
    yield ("period", "until", translate(N_("Until")), summary.until.isoformat())
    yield ("totals", "received", translate(N_("Requests received")), str(summary.received))
    yield ("totals", "closed", translate(N_("Of these, closed")), str(summary.closed))
    for section, counts in (
        ("kind", summary.by_kind),
        ("outcome", summary.by_outcome),
        ("requester_type", summary.by_requester_type),
        ("channel", summary.by_channel),
    ):
        for count in counts:
            yield (section, count.key, translate(count.label), str(count.count))
    for key, label, value in (
        ("median_days", N_("Median days to close"), summary.median_days),
        ("p90_days", N_("90th percentile days to close"), summary.p90_days),
    ):
        yield ("time_to_close", key, translate(label), "" if value is None else f"{value:.1f}")
    yield ("now", "overdue", translate(N_("Overdue now")), str(summary.overdue_now))
    yield (
        "now",
        "documents_past_retention",
        translate(N_("Identity documents past retention")),
        str(summary.documents_past_retention),
    )


def write_csv(summary: Summary, translate: Callable[[str], str]) -> Iterator[str]:
    """The report as CSV text chunks (BOM first, formula-safe cells, like every export of ours)."""
    return csv_chunks(CSV_COLUMNS, csv_rows(summary, translate))


# --- the audit trail as CSV (the staff audit page's download) -----------------------------------

EVENT_COLUMNS = (
    "id",
    "at",
    "actor_id",
    "actor_role",
    "action",
    "request_id",
    "reference",
    "subject_user_id",
    "data",
    "prev_hash",
    "hash",
)


def write_events_csv(events: Iterable[AuditEvent], batch: int = 500) -> Iterator[str]:
    """Events as CSV text chunks: BOM, header, one row per event, formula-safe, ``batch`` rows a chunk.

    The columns are the stored fields (ids and codes), so the file can be checked against
    the chain; ``reference`` is read from the event's data for the reader's convenience.
    """
    rows = (
        (
            event.id,
            event.at,
            event.actor_id,
            event.actor_role,
            event.action,
            event.request_id,
            (event.data or {}).get("reference"),
            event.subject_user_id,
            dumps(event.data or {}),
            event.prev_hash,
            event.hash,
        )
        for event in events
    )
    return csv_chunks(EVENT_COLUMNS, rows, batch=batch)
