"""The review report (policy Art. 3.2): exact figures on constructed requests, on the page,
in its CSV and from ``flask ome-privacy report``; the aggregation itself without Flask."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest

from flask_ome_privacy import documents, privacy_requests, report
from flask_ome_privacy.lifecycle import Status
from flask_ome_privacy.models import utcnow
from flask_ome_privacy.state import get_state

JST = timezone(timedelta(hours=9))
EN = {"Accept-Language": "en"}


# --- the aggregation, pure ------------------------------------------------------------------------


def fact(
    kind: str = "disclose", status: str = "completed", days: float | None = 1.0, **kw: Any
) -> report.RequestFacts:
    received = datetime(2026, 1, 1, tzinfo=timezone.utc)
    return report.RequestFacts(
        kind=kind,
        status=status,
        decision=kw.get("decision"),
        requester_type=kw.get("requester_type", "self"),
        channel=kw.get("channel", "online"),
        received_at=received,
        closed_at=None if days is None else received + timedelta(days=days),
    )


def test_the_90th_percentile_is_a_real_requests_time_nearest_rank() -> None:
    assert report.percentile([], 0.9) is None
    assert report.percentile([7.0], 0.9) == 7.0
    assert report.percentile([float(n) for n in range(1, 11)], 0.9) == 9.0  # rank 9 of 10
    assert report.percentile([float(n) for n in range(1, 12)], 0.9) == 10.0  # rank ceil(9.9) = 10 of 11
    assert report.percentile([5.0, 1.0, 3.0], 0.5) == 3.0


def test_median_and_p90_days_to_close_count_closed_requests_only() -> None:
    period = datetime(2026, 1, 1, tzinfo=timezone.utc)
    summary = report.summarize(
        [
            fact(days=2),
            fact(days=5, status="refused"),
            fact(days=1, status="withdrawn"),
            fact(days=None, status="under_review"),
        ],
        since=period,
        until=period,
    )
    assert (summary.received, summary.closed) == (4, 3)
    assert (summary.median_days, summary.p90_days) == (2.0, 5.0)
    empty = report.summarize([], since=period, until=period)
    assert (empty.median_days, empty.p90_days, empty.received) == (None, None, 0)


def test_outcomes_follow_the_decision_of_a_completed_request() -> None:
    assert report.outcome_of("completed", "partial") == "partial"
    assert report.outcome_of("completed", "approved") == "approved"
    assert report.outcome_of("completed", None) == "completed"
    assert report.outcome_of("refused", "refused") == "refused"
    assert report.outcome_of("awaiting_requester", None) == "open"


def test_every_kind_is_listed_even_at_zero_so_periods_compare() -> None:
    period = datetime(2026, 1, 1, tzinfo=timezone.utc)
    summary = report.summarize([fact(kind="erase")], since=period, until=period)
    assert [c.key for c in summary.by_kind] == [
        "notify_purpose",
        "disclose",
        "correct",
        "add",
        "delete",
        "stop_use",
        "erase",
        "stop_third_party",
    ]
    assert {c.key: c.count for c in summary.by_kind}["erase"] == 1
    assert sum(c.count for c in summary.by_kind) == 1


def test_the_longest_bar_fills_the_chart_and_zero_stays_zero() -> None:
    counts = [report.Count("a", "A", 4), report.Count("b", "B", 1), report.Count("c", "C", 0)]
    bars = report.bars(counts)
    assert [b.width for b in bars] == [report.CHART_BAR_WIDTH, report.CHART_BAR_WIDTH / 4, 0.0]
    assert [b.y for b in bars] == [0, report.CHART_ROW, 2 * report.CHART_ROW]
    assert [b.width for b in report.bars([report.Count("a", "A", 0)])] == [0.0]


# --- constructed requests, through the real app -------------------------------------------------


def make(
    state: Any, db: Any, kind: str, received: datetime, path: list[str], *, closed_after: float = 0, **kw: Any
) -> Any:
    request = privacy_requests.submit(state, user_id="1", kind=kind, now=received, **kw)
    for step, status in enumerate(path, 1):
        last = step == len(path)
        moment = received + timedelta(days=closed_after if last else step * 0.01)
        privacy_requests.move(db.session, request, status, actor_id="s", actor_role="staff", now=moment)
    return request


@pytest.fixture
def period(app: Any, db: Any) -> tuple[date, date]:
    """Nine requests: five received in a 30-day period that ended a month ago, four outside it."""
    now = utcnow()
    base = datetime.combine((now - timedelta(days=60)).date(), datetime.min.time(), tzinfo=timezone.utc)
    base += timedelta(hours=3)  # 12:00 in Japan: well inside the day there too
    review = [Status.IDENTITY_REVIEW, Status.UNDER_REVIEW]
    with app.app_context():
        state = get_state(app)
        done = make(
            state,
            db,
            "disclose",
            base,
            [*review, Status.APPROVED, Status.EXECUTING, Status.COMPLETED],
            closed_after=2,
        )
        done.decision = "approved"
        refused = make(
            state,
            db,
            "erase",
            base + timedelta(days=1),
            [Status.IDENTITY_REVIEW, Status.REFUSED],
            closed_after=5,
            requester_type="legal_representative",
            channel="postal",
        )
        out = io.BytesIO()
        from PIL import Image

        Image.new("RGB", (20, 20), (1, 2, 3)).save(out, "PNG")
        documents.store(
            db.session,
            refused.id,
            "representative_identity",
            "passport",
            documents.clean_upload(out.getvalue(), max_bytes=1 << 20),
        )
        make(state, db, "correct", base + timedelta(days=2), [Status.WITHDRAWN], closed_after=1)
        make(
            state,
            db,
            "disclose",
            base + timedelta(days=3),
            [Status.IDENTITY_REVIEW, Status.AWAITING_REQUESTER, Status.CLOSED_INCOMPLETE],
            closed_after=10,
            requester_type="appointed_representative",
        )
        # Open and overdue (due 14 days after receipt), by post.
        make(state, db, "delete", base + timedelta(days=19), [Status.IDENTITY_REVIEW], channel="postal")
        # Outside the period: open and overdue; open and not due; paused before it was due;
        # received after it (overdue).
        make(state, db, "notify_purpose", base - timedelta(days=20), [Status.IDENTITY_REVIEW])
        make(state, db, "stop_use", now - timedelta(hours=1), [])
        make(
            state,
            db,
            "disclose",
            base - timedelta(days=5),
            [Status.IDENTITY_REVIEW, Status.AWAITING_REQUESTER],
            closed_after=1,
        )
        make(state, db, "add", base + timedelta(days=31), [])
        db.session.commit()
    first = base.astimezone(JST).date()
    return first, first + timedelta(days=29)


EXPECTED_COUNTS = {
    ("kind", "disclose"): "2",
    ("kind", "erase"): "1",
    ("kind", "correct"): "1",
    ("kind", "delete"): "1",
    ("kind", "add"): "0",
    ("outcome", "approved"): "1",
    ("outcome", "refused"): "1",
    ("outcome", "withdrawn"): "1",
    ("outcome", "closed_incomplete"): "1",
    ("outcome", "open"): "1",
    ("outcome", "partial"): "0",
    ("requester_type", "self"): "3",
    ("requester_type", "legal_representative"): "1",
    ("requester_type", "appointed_representative"): "1",
    ("channel", "online"): "3",
    ("channel", "postal"): "2",
    ("totals", "received"): "5",
    ("totals", "closed"): "4",
    # closed after 2, 5, 1 and 10 days: median (2 + 5) / 2, 90th percentile the 4th of 4
    ("time_to_close", "median_days"): "3.5",
    ("time_to_close", "p90_days"): "10.0",
    # delete, notify_purpose and add; not the one paused (waiting for the requester) before its due date
    ("now", "overdue"): "3",
    ("now", "documents_past_retention"): "1",
}


def csv_figures(text: str) -> dict[tuple[str, str], str]:
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))
    return {(row["section"], row["key"]): row["value"] for row in rows}


def test_the_csv_download_has_the_exact_figures(
    seeded_app: Any, client: Any, login: Any, period: tuple[date, date]
) -> None:
    login(client, "staff@example.com")
    since, until = period
    response = client.get(f"/admin/privacy/report.csv?since={since}&until={until}", headers=EN)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="privacy-report-{since}-{until}.csv"'
    )
    figures = csv_figures(response.get_data(as_text=True))
    assert {key: figures[key] for key in EXPECTED_COUNTS} == EXPECTED_COUNTS


def test_the_page_shows_the_figures_and_a_chart(
    seeded_app: Any, client: Any, login: Any, period: tuple[date, date]
) -> None:
    login(client, "staff@example.com")
    since, until = period
    response = client.get(f"/admin/privacy/report?since={since}&until={until}", headers=EN)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    text = response.get_data(as_text=True)
    assert '<dd id="fact-received">5</dd>' in text
    assert '<dd id="fact-median">3.5 days</dd>' in text and '<dd id="fact-p90">10.0 days</dd>' in text
    assert 'id="fact-overdue">3 <span' in text and 'id="fact-retention">1 <span' in text
    # The chart: one bar per kind, the longest (disclose, 2) full width, erase half of it.
    assert text.count('class="omep-chart-bar omep-chart-bar--kind"') == 8
    full = float(report.CHART_BAR_WIDTH)
    assert f'width="{full}" height="18" rx="2" class="omep-chart-bar omep-chart-bar--kind"' in text
    assert f'width="{report.CHART_BAR_WIDTH / 2}" height="18"' in text
    assert "style=" not in text.split("<main")[1]  # the CSP forbids inline style


def test_the_page_in_japanese(seeded_app: Any, client: Any, login: Any, period: tuple[date, date]) -> None:
    login(client, "staff@example.com")
    since, until = period
    text = client.get(f"/admin/privacy/report?since={since}&until={until}", headers={"Accept-Language": "ja"})
    body = text.get_data(as_text=True)
    assert "開示" in body and "Requests by kind" not in body


def test_the_default_period_and_bad_dates(seeded_app: Any, client: Any, login: Any) -> None:
    login(client, "staff@example.com")
    text = client.get("/admin/privacy/report", headers=EN).get_data(as_text=True)
    assert '<dd id="fact-received">0</dd>' in text and '<dd id="fact-median">—</dd>' in text
    bad = client.get("/admin/privacy/report?since=someday&until=2026-02-30", headers=EN)
    assert bad.status_code == 200
    assert "a date such as 2026-09-15" in bad.get_data(as_text=True)
    swapped = client.get("/admin/privacy/report?since=2026-05-02&until=2026-05-01", headers=EN)
    assert "The end date is before the start date." in swapped.get_data(as_text=True)
    for url in ("/admin/privacy/report?until=9999-12-31", "/admin/privacy/report?until=0001-01-02",
                "/admin/privacy/report.csv?until=9999-12-31"):
        response = client.get(url, headers=EN)
        assert response.status_code == 200, url
    edge = client.get("/admin/privacy/report?until=9999-12-31", headers=EN).get_data(as_text=True)
    assert "between 2000-01-01 and 9998-12-31" in edge


def test_the_cli_prints_the_same_figures(app: Any, db: Any, period: tuple[date, date]) -> None:
    since, until = period
    runner = app.test_cli_runner()
    as_csv = runner.invoke(
        args=["ome-privacy", "report", "--since", str(since), "--until", str(until), "--format", "csv"]
    )
    assert as_csv.exit_code == 0, as_csv.output
    figures = csv_figures("\ufeff" + as_csv.output)
    assert {key: figures[key] for key in EXPECTED_COUNTS} == EXPECTED_COUNTS
    as_text = runner.invoke(
        args=["ome-privacy", "report", "--since", str(since), "--until", str(until), "--language", "en"]
    )
    assert as_text.exit_code == 0, as_text.output
    assert "Median days to close" in as_text.output and "3.5" in as_text.output
    lines = {
        line.split("  ")[1].strip(): line.split()[-1] for line in as_text.output.splitlines() if "  " in line
    }
    assert lines["Requests received"] == "5" and lines["Overdue now"] == "3"
    wrong = runner.invoke(args=["ome-privacy", "report", "--since", "soon"])
    assert wrong.exit_code == 2 and "not a date such as 2026-09-15" in wrong.output
