"""Staff pages for the regular review (policy Art. 3.2): the audit trail and the review report.

``/audit``: the trail filtered by request, actor, action and dates, newest first, keyset
paged, with the chain's state (``audit.chain_status``: verified up to event N); ``/audit.csv``
downloads what the filter selects. ``/report``: the review report for a period, with a
small SVG chart and ``/report.csv``. Read-only pages, staff only, ``no-store`` (the staff
blueprint's guard and headers).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

from flask import Blueprint, Response, current_app, render_template, request, stream_with_context
from flask_babel import get_timezone

from .. import audit, report
from ..i18n import gettext, translate
from ..privacy_requests import id_for_reference
from ..state import current_privacy, current_state, get_state
from .common import MAX_ID, current_user_id

#: Events per audit page.
AUDIT_PAGE_SIZE = 50
#: The report's default period: the last this many days, today included.
REPORT_DEFAULT_DAYS = 90
#: Longest text a filter field takes (references are 32, user ids 64, action codes 64).
FIELD_MAX = 64


def register_trail_routes(bp: Blueprint) -> None:
    bp.add_url_rule("/audit", "audit", audit_page)
    bp.add_url_rule("/audit.csv", "audit_csv", audit_csv)
    bp.add_url_rule("/report", "report", report_page)
    bp.add_url_rule("/report.csv", "report_csv", report_csv)


# --- reading the query string ---------------------------------------------------------------------

FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(9998, 12, 31)


@dataclass
class Query:
    """The filter fields as typed (shown back in the form) and what is wrong with them."""

    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)

    def text(self, name: str) -> str | None:
        value = self.values.get(name, "")
        return value or None


def _read_text(query: Query, name: str, label: str) -> None:
    value = request.args.get(name, "").strip()
    query.values[name] = value[:200]
    if len(value) > FIELD_MAX or not value.isprintable():
        query.errors[name] = gettext("%(field)s: at most %(n)d letters and digits.", field=label, n=FIELD_MAX)
        query.values[name] = ""


def _read_day(query: Query, name: str, label: str) -> date | None:
    value = request.args.get(name, "").strip()
    query.values[name] = value[:20]
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        day = None
    if day is None or not FIRST_DAY <= day <= LAST_DAY:
        # The bounds keep day arithmetic (the next midnight, a default period) inside what
        # ``date`` can hold; no audit event or request lies outside them.
        query.errors[name] = gettext(
            "%(field)s: a date such as 2026-09-15, between %(first)s and %(last)s.",
            field=label,
            first=FIRST_DAY.isoformat(),
            last=LAST_DAY.isoformat(),
        )
        query.values[name] = ""
        return None
    return day


def _start_of(day: date) -> datetime:
    """Midnight at the start of ``day`` in the app's zone (the dates staff type are local), as UTC."""
    return report.start_of_day(day, get_timezone())


def _key(name: str) -> int | None:
    value = request.args.get(name, type=int)
    return value if value is not None and 0 < value <= MAX_ID else None


def _event_filter() -> tuple[audit.EventFilter, Query]:
    query = Query(values={})
    _read_text(query, "reference", gettext("Reference"))
    _read_text(query, "actor", gettext("Actor"))
    _read_text(query, "action", gettext("Action"))
    since = _read_day(query, "since", gettext("From"))
    until = _read_day(query, "until", gettext("Until"))
    if since and until and until < since:
        query.errors["until"] = gettext("The end date is before the start date.")
        until = None
    request_id = None
    nothing = False
    if reference := query.text("reference"):
        request_id = id_for_reference(current_privacy().session, reference)
        if request_id is None:
            query.errors["reference"] = gettext(
                "No request has the reference %(reference)s.", reference=reference
            )
            nothing = True
    selection = audit.EventFilter(
        request_id=request_id,
        actor_id=query.text("actor"),
        action=query.text("action"),
        since=_start_of(since) if since else None,
        until=_start_of(until + timedelta(days=1)) if until else None,
        nothing=nothing,
    )
    return selection, query


# --- the audit page ---------------------------------------------------------------------------------


def audit_page() -> str:
    session = current_privacy().session
    selection, query = _event_filter()
    page = audit.events_page(
        session, selection, page_size=AUDIT_PAGE_SIZE, before=_key("before"), after=_key("after")
    )
    status = audit.chain_status(session, get_state(current_app).app)
    filters = {name: value for name, value in query.values.items() if value}
    return render_template(
        "ome_privacy/staff/audit.html",
        page=page,
        # Staff actors by name: one call of the host's staff_names hook for the page.
        staff_names=current_privacy().names_of_staff(
            e.actor_id for e in page.events if e.actor_role == "staff"
        ),
        status=status,
        query=query,
        filters=filters,
        actions=audit.actions(session),
        filtered=bool(filters),
    )


def audit_csv() -> Response:
    """The events the filter selects, streamed; the download itself is on the trail."""
    selection, _query = _event_filter()
    staff_id = current_user_id()
    now = datetime.now(timezone.utc)

    def body() -> Iterator[str]:
        session = current_privacy().session
        audit.append(
            session,
            "audit.exported",
            actor_id=staff_id,
            actor_role="staff",
            request_id=selection.request_id,
            data={"filtered": selection != audit.EventFilter()},
        )
        session.commit()
        yield from report.write_events_csv(audit.iter_events(session, selection))

    return _download(body(), f"privacy-audit-{now.date().isoformat()}.csv")


def _download(body: Iterator[str], name: str) -> Response:
    response = Response(stream_with_context(body), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


# --- the review report ------------------------------------------------------------------------------


def _period() -> tuple[date, date, Query]:
    """The chosen period (both days included); the last ``REPORT_DEFAULT_DAYS`` days by default."""
    query = Query(values={})
    today = current_state().today()
    since = _read_day(query, "since", gettext("From"))
    until = _read_day(query, "until", gettext("Until"))
    until = until or today
    since = since or until - timedelta(days=REPORT_DEFAULT_DAYS - 1)
    if until < since:
        query.errors["until"] = gettext("The end date is before the start date.")
        since, until = until, since
    query.values.update(since=since.isoformat(), until=until.isoformat())
    return since, until, query


def _summary(since: date, until: date) -> report.Summary:
    now = datetime.now(timezone.utc)
    return report.gather(current_state(), _start_of(since), _start_of(until + timedelta(days=1)), now=now)


def report_page() -> str:
    since, until, query = _period()
    summary = _summary(since, until)
    charts: list[dict[str, Any]] = [
        {"id": "kind", "title": gettext("Requests by kind"), "bars": report.bars(summary.by_kind)},
        {"id": "outcome", "title": gettext("Requests by outcome"), "bars": report.bars(summary.by_outcome)},
    ]
    return render_template(
        "ome_privacy/staff/report.html",
        summary=summary,
        since=since,
        until=until,
        query=query,
        charts=charts,
        chart=report,
        retention_days=current_state().config("DOCUMENT_RETENTION_DAYS"),
    )


def report_csv() -> Response:
    since, until, _query = _period()
    summary = _summary(since, until)
    name = f"privacy-report-{since.isoformat()}-{until.isoformat()}.csv"
    return _download(report.write_csv(summary, translate), name)
