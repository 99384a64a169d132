"""A failed job on the staff request page, and its Retry button (issue 10, "A real job queue").

A real job fails: the receipt mail of alice's request goes to a port where no SMTP server
listens (the job layer, inline, records the failure). Staff then see it on the request page
— what the job was, when, how often, the error's type and no personal data — and on the
queue as a text mark. Retry runs it again: while the server is still down it fails again and
the message says so; once a real aiosmtpd server listens on that port the mail goes out, the
failure is resolved, leaves the page and the queue, and the audit trail holds the retry.
Through the example site and its database (SQLite and PostgreSQL).
"""

from __future__ import annotations

import contextlib
import html as html_module
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from helpers import extract_csrf_token
from test_mail import FROM, Inbox, alices_request, free_port

from example_app.models import User
from flask_ome_privacy import jobs, mail, privacy_requests
from flask_ome_privacy.config import config_value
from flask_ome_privacy.models import AuditEvent, JobFailure, PrivacyRequest
from flask_ome_privacy.state import get_state

EN = {"Accept-Language": "en"}
JA = {"Accept-Language": "ja"}
ALICE = "alice@example.com"
STAFF = "staff@example.com"


@pytest.fixture
def mail_port() -> int:
    """A loopback port with nothing listening on it (until a test starts a server there)."""
    return free_port()


@pytest.fixture
def app_config(app_config: dict[str, Any], mail_port: int) -> dict[str, Any]:
    return {
        **app_config,
        "OME_PRIVACY_MAIL_HOST": "127.0.0.1",
        "OME_PRIVACY_MAIL_PORT": mail_port,
        "OME_PRIVACY_MAIL_SECURITY": "none",
        "OME_PRIVACY_MAIL_FROM": FROM,
        "OME_PRIVACY_MAIL_TIMEOUT": 5,
    }


@contextlib.contextmanager
def smtp_on(port: int) -> Iterator[Inbox]:
    """The mail server comes back: a real aiosmtpd server on ``port``."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


def failed_receipt(app: Any, db: Any, email: str = ALICE) -> tuple[str, int]:
    """A request whose receipt mail failed for real (server down): (reference, failure id)."""
    request_id, reference = alices_request(app, db) if email == ALICE else bobs_request(app, db)
    with app.app_context():
        mail.queue_mail(app, db.session.get(PrivacyRequest, request_id), "request_received", "en")
        db.session.commit()  # the inline job runs now, and fails
        (failure,) = db.session.scalars(sa.select(JobFailure).where(JobFailure.request_id == request_id))
        assert (failure.status, failure.error_type) == ("failed", "ConnectionRefusedError")
        return reference, failure.id


def bobs_request(app: Any, db: Any) -> tuple[int, str]:
    with app.app_context():
        bob = db.session.scalar(sa.select(User).where(User.email == "bob@example.com"))
        request = privacy_requests.submit(get_state(app), user_id=str(bob.id), kind="delete")
        db.session.commit()
        return request.id, request.reference


def page_url(reference: str) -> str:
    return f"/admin/privacy/requests/{reference}"


def retry_url(reference: str, failure_id: int) -> str:
    return f"{page_url(reference)}/jobs/{failure_id}/retry"


def text(html: str) -> str:
    return " ".join(html_module.unescape(re.sub(r"<[^>]+>", " ", html)).split())


def section(html: str) -> str | None:
    """The "Failed jobs" section of the request page, as text; None when the page has none."""
    found = re.search(r'<section id="failed-jobs".*?</section>', html, re.S)
    return text(found.group(0)) if found else None


def staff_client(app: Any, login: Any) -> Any:
    client = app.test_client()
    login(client, STAFF)
    return client


def post_retry(client: Any, reference: str, failure_id: int, headers: dict[str, str] = EN) -> Any:
    token = extract_csrf_token(client.get(page_url(reference), headers=headers).get_data(as_text=True))
    return client.post(retry_url(reference, failure_id), data={"csrf_token": token}, headers=headers)


def flashed(client: Any, response: Any, headers: dict[str, str] = EN) -> str:
    assert response.status_code == 303
    assert response.location.endswith("#failed-jobs")
    return text(client.get(response.location, headers=headers).get_data(as_text=True))


def failure_row(app: Any, db: Any, failure_id: int) -> JobFailure:
    with app.app_context():
        row = db.session.get(JobFailure, failure_id)
        db.session.expunge(row)
        return row


def queue_marks(client: Any) -> dict[str, bool]:
    """Reference -> whether its queue row carries the "A job failed" mark (text, not colour)."""
    html = client.get("/admin/privacy/", headers=EN).get_data(as_text=True)
    rows = re.findall(r'<th scope="row" class="omep-ref">(.*?)</th>', html, re.S)
    marks = {}
    for row in rows:
        reference = re.search(r"PR-[A-Z0-9]{4}-[A-Z0-9]{4}", row)
        if reference:
            marks[reference.group(0)] = "A job failed" in text(row)
    return marks


def test_a_failed_receipt_mail_shows_on_the_page_and_a_retry_sends_it_once_the_server_is_back(
    seeded_app: Any, db: Any, login: Any, mail_port: int
) -> None:
    reference, failure_id = failed_receipt(seeded_app, db)
    staff = staff_client(seeded_app, login)

    page = staff.get(page_url(reference), headers=EN)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    html = page.get_data(as_text=True)
    shown = section(html)
    assert shown is not None
    assert "Failed jobs" in shown
    assert "Email to the requester (we received the request)" in shown
    assert "ConnectionRefusedError" in shown
    assert re.search(r"Attempts .* 1 ", shown)
    assert "Gave up for good" in shown and "No: a retry may succeed" in shown  # a server down may come back
    assert ALICE not in shown and "山田" not in shown  # the error's type only, no personal data
    # One button per job whose text names the job (for screen readers too), and CSRF on the form.
    button = re.search(r"<button[^>]*>Retry<span[^>]*> (.*?)</span></button>", html)
    assert button and button.group(1) == "Email to the requester (we received the request)"
    assert f'action="{retry_url(reference, failure_id)}"' in html
    assert queue_marks(staff)[reference] is True

    # Still down: the retry fails again, the page says so, and the same row counts two attempts.
    shown = flashed(staff, post_retry(staff, reference, failure_id))
    assert (
        "Retried: Email to the requester (we received the request) — it failed again (ConnectionRefusedError)"
        in shown
    )
    again = failure_row(seeded_app, db, failure_id)
    assert (again.status, again.attempts, again.retried_by) == ("failed", 2, user_of(seeded_app, db, STAFF))

    # The server is back: Retry sends the receipt, the failure is resolved and leaves the page.
    with smtp_on(mail_port) as inbox:
        shown = flashed(staff, post_retry(staff, reference, failure_id))
    assert "Retried: Email to the requester (we received the request) — it succeeded." in shown
    (envelope,) = inbox.messages
    assert envelope.rcpt_tos == [ALICE]
    resolved = failure_row(seeded_app, db, failure_id)
    assert resolved.status == "resolved" and resolved.resolved_at is not None
    after = staff.get(page_url(reference), headers=EN).get_data(as_text=True)
    assert section(after) is None
    assert "Failed job retried" in text(after) and "job.retried" not in after  # on the timeline
    assert queue_marks(staff)[reference] is False

    with seeded_app.app_context():
        events = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "job.retried").order_by(AuditEvent.id)
        ).all()
        assert [(e.actor_role, e.data) for e in events] == [
            ("staff", {"failure_id": failure_id, "task": mail.SEND_TASK})
        ] * 2
        assert mail.already_sent(db.session, events[0].request_id, "request_received")

    # Retrying what has succeeded since (a second tab): a clear message, nothing sent twice.
    token = extract_csrf_token(staff.get(page_url(reference), headers=EN).get_data(as_text=True))
    response = staff.post(retry_url(reference, failure_id), data={"csrf_token": token}, headers=EN)
    assert "needs no retry: it has succeeded since" in flashed(staff, response)
    assert len(inbox.messages) == 1


def user_of(app: Any, db: Any, email: str) -> str:
    with app.app_context():
        return str(db.session.scalar(sa.select(User.id).where(User.email == email)))


def test_a_retry_already_in_flight_is_not_started_twice(seeded_app: Any, db: Any, login: Any) -> None:
    reference, failure_id = failed_receipt(seeded_app, db)
    staff = staff_client(seeded_app, login)
    token = extract_csrf_token(staff.get(page_url(reference), headers=EN).get_data(as_text=True))
    with seeded_app.app_context():  # another staff member's retry is queued on a worker right now
        row = db.session.get(JobFailure, failure_id)
        row.status, row.retried_at = jobs.RETRYING, jobs.utcnow()
        db.session.commit()
    html = staff.get(page_url(reference), headers=EN).get_data(as_text=True)
    assert "Being retried since" in section(html)
    assert retry_url(reference, failure_id) not in html  # no button while it runs

    response = staff.post(retry_url(reference, failure_id), data={"csrf_token": token}, headers=EN)
    assert "is being retried already" in flashed(staff, response)
    assert failure_row(seeded_app, db, failure_id).attempts == 1  # not run again

    # A retry marked long ago (longer than a job may run: the process died) may be retried again.
    with seeded_app.app_context():
        row = db.session.get(JobFailure, failure_id)
        row.retried_at = jobs.utcnow() - timedelta(seconds=config_value("JOB_TIMEOUT", seeded_app) + 60)
        db.session.commit()
    shown = flashed(staff, post_retry(staff, reference, failure_id))
    assert "— it failed again (ConnectionRefusedError)" in shown
    assert failure_row(seeded_app, db, failure_id).attempts == 2


def test_the_section_and_its_messages_are_in_japanese(seeded_app: Any, db: Any, login: Any) -> None:
    reference, failure_id = failed_receipt(seeded_app, db)
    staff = staff_client(seeded_app, login)
    shown = section(staff.get(page_url(reference), headers=JA).get_data(as_text=True))
    assert shown is not None
    assert "失敗したジョブ" in shown
    assert "請求者へのメール（受付のお知らせ）" in shown
    assert "再実行" in shown and "Retry" not in shown and "Email to the requester" not in shown
    shown = flashed(staff, post_retry(staff, reference, failure_id, JA), JA)
    assert (
        "再実行しました：請求者へのメール（受付のお知らせ） — 再び失敗しました（ConnectionRefusedError）"
        in shown
    ), shown


def test_non_staff_get_403_and_without_csrf_the_retry_is_refused(
    seeded_app: Any, db: Any, login: Any
) -> None:
    reference, failure_id = failed_receipt(seeded_app, db)
    alice = seeded_app.test_client()
    login(alice, ALICE)
    token = extract_csrf_token(alice.get("/account/privacy/", headers=EN).get_data(as_text=True))
    assert alice.get(page_url(reference), headers=EN).status_code == 403
    response = alice.post(retry_url(reference, failure_id), data={"csrf_token": token}, headers=EN)
    assert response.status_code == 403

    staff = staff_client(seeded_app, login)
    assert staff.post(retry_url(reference, failure_id), headers=EN).status_code == 400
    assert (
        staff.post(retry_url(reference, failure_id), data={"csrf_token": "forged"}, headers=EN).status_code
        == 400
    )
    row = failure_row(seeded_app, db, failure_id)
    assert (row.status, row.attempts, row.retried_at) == ("failed", 1, None)


def test_another_requests_job_is_not_found_there(seeded_app: Any, db: Any, login: Any) -> None:
    alices, alices_failure = failed_receipt(seeded_app, db)
    bobs, bobs_failure = failed_receipt(seeded_app, db, "bob@example.com")
    staff = staff_client(seeded_app, login)
    token = extract_csrf_token(staff.get(page_url(alices), headers=EN).get_data(as_text=True))
    response = staff.post(retry_url(alices, bobs_failure), data={"csrf_token": token}, headers=EN)
    assert response.status_code == 404
    assert staff.post(retry_url(alices, 2**31 - 1), data={"csrf_token": token}, headers=EN).status_code == 404
    assert failure_row(seeded_app, db, bobs_failure).retried_at is None
    # Each page lists its own request's failure only.
    assert f"/jobs/{bobs_failure}/" not in staff.get(page_url(alices), headers=EN).get_data(as_text=True)
    assert f"/jobs/{alices_failure}/" not in staff.get(page_url(bobs), headers=EN).get_data(as_text=True)


def test_a_recipient_refused_for_good_says_so(seeded_app: Any, db: Any, login: Any, mail_port: int) -> None:
    with smtp_on(mail_port) as inbox:
        inbox.refuse = True
        reference, failure_id = failed_receipt_refused(seeded_app, db)
    staff = staff_client(seeded_app, login)
    shown = section(staff.get(page_url(reference), headers=EN).get_data(as_text=True))
    assert "SMTPRecipientsRefused" in shown
    assert "Yes: trying again cannot help until the cause is fixed" in shown
    assert failure_row(seeded_app, db, failure_id).permanent is True


def failed_receipt_refused(app: Any, db: Any) -> tuple[str, int]:
    request_id, reference = alices_request(app, db)
    with app.app_context():
        mail.queue_mail(app, db.session.get(PrivacyRequest, request_id), "request_received", "en")
        db.session.commit()
        (failure,) = db.session.scalars(sa.select(JobFailure).where(JobFailure.request_id == request_id))
        return reference, failure.id


def test_the_queue_mark_costs_the_same_statements_for_few_or_many_failures(
    seeded_app: Any, db: Any, login: Any, count_queries: Any
) -> None:
    staff = staff_client(seeded_app, login)
    failed_receipt(seeded_app, db)
    staff.get("/admin/privacy/", headers=EN)  # warm: the first page view loads what every page needs
    with count_queries() as one:
        staff.get("/admin/privacy/", headers=EN)
    for _ in range(5):
        failed_receipt(seeded_app, db)
    with count_queries() as six:
        html = staff.get("/admin/privacy/", headers=EN).get_data(as_text=True)
    assert html.count("A job failed") == 6
    assert one.count == six.count, f"1:\n{one}\n6:\n{six}"
    assert sum("ome_privacy_job_failures" in sql for sql in six.statements) == 1, str(six)
