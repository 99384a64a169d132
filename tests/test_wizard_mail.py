"""The receipt mail sent by the request wizard (issue 8, "Email"), through a real SMTP server.

The wizard is driven with the test client as a person uses it; the mail goes to a real
aiosmtpd server on a free loopback port (``test_mail.smtp_server``), and then to a port where
the server has stopped. What the person notices: the mail arrives after the submission, in the
language they used, naming only the reference and the kind of request; with the mail server
down the request is still made, the receipt page is fine, and the failed job waits in the
failure table until a staff retry sends the receipt — once. On RQ a real worker
(``flask ome-privacy worker`` against the Redis database test_jobs.py claims) sends it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
from collections.abc import Iterator
from typing import Any

import jobs_tasks
import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from flask import Flask
from test_jobs import Workers, job_dir, jobs_redis_url, rq_app, rq_settings, workers
from test_mail import FROM, Inbox, free_port
from test_request_wizard import EN, JA, Wizard, fill_disclosure, requests_of, text_of

from flask_ome_privacy import jobs, mail
from flask_ome_privacy.models import JobFailure

__all__ = ["job_dir", "jobs_redis_url", "rq_app", "rq_settings", "workers"]  # fixtures, used by name

ALICE = "alice@example.com"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, Controller]]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield inbox, controller
    finally:
        with contextlib.suppress(AssertionError):  # a test may have stopped it already
            controller.stop()


@pytest.fixture
def app_config(app_config: dict[str, Any], smtp: tuple[Inbox, Controller]) -> dict[str, Any]:
    return {
        **app_config,
        "OME_PRIVACY_MAIL_HOST": "127.0.0.1",
        "OME_PRIVACY_MAIL_PORT": smtp[1].port,
        "OME_PRIVACY_MAIL_SECURITY": "none",  # a local relay
        "OME_PRIVACY_MAIL_FROM": FROM,
        "OME_PRIVACY_MAIL_TIMEOUT": 5,
    }


def signed_in(app: Any, login: Any, headers: dict[str, str]) -> Wizard:
    client = app.test_client()
    login(client, ALICE)
    return Wizard(client, headers)


def file_correction(w: Wizard, phone: str) -> Any:
    w.start(
        ["correct"], "?kind=correct&source=profile&field=phone", sources=["profile"], fields=["profile:phone"]
    )
    w.step("data", {"fields": ["profile:phone"], "value-profile:phone": phone})
    w.step("who", {"requester": "self"})
    return w.step("check", {"action": "submit"})


def test_a_japanese_correction_gets_a_japanese_receipt_with_only_the_reference_and_kind(
    seeded_app: Any, db: Any, login: Any, smtp: tuple[Inbox, Controller]
) -> None:
    inbox = smtp[0]
    w = signed_in(seeded_app, login, JA)
    response = file_correction(w, "090-7777-0000")
    assert response.status_code == 303
    (request,) = requests_of(seeded_app, db)
    assert request.kind == "correct"

    (envelope,) = inbox.messages
    assert envelope.rcpt_tos == [ALICE]
    received = inbox.parsed()
    assert received["Content-Language"] == "ja"
    assert received["Subject"] == f"[WORLD OME NET] 請求を受け付けました（受付番号 {request.reference}）"
    body = received.get_content()
    assert f"受付番号: {request.reference}" in body
    assert "請求の種類: 訂正" in body
    assert f"/account/privacy/requests/submitted/{request.reference}" in body  # where to follow it
    # Nothing about alice beyond the reference and the kind: not what she asked to change,
    # not her name, nor the data the request is about.
    raw = envelope.original_content.decode("utf-8", "replace")
    for personal in ("090-7777-0000", "山田", "花子", "090-1234-5678", "profile", "phone", "電話"):
        assert personal not in body and personal not in received["Subject"], personal
    assert ALICE not in body and raw.count(ALICE) == 1  # only as the recipient (To:)


def test_an_english_submission_of_two_kinds_gets_one_english_receipt_per_request(
    seeded_app: Any, db: Any, login: Any, smtp: tuple[Inbox, Controller]
) -> None:
    inbox = smtp[0]
    w = signed_in(seeded_app, login, EN)
    fill_disclosure(w)
    assert w.step("check", {"action": "submit"}).status_code == 303
    made = {r.reference: r.kind for r in requests_of(seeded_app, db)}
    assert sorted(made.values()) == ["disclose", "notify_purpose"]
    received = [inbox.parsed(n) for n in range(len(inbox.messages))]
    assert sorted(m["Subject"] for m in received) == sorted(
        f"[WORLD OME NET] We received your request {reference}" for reference in made
    )
    labels = {"disclose": "Disclose", "notify_purpose": "Notify the purpose of use"}
    for message in received:
        reference = re.search(r"PR-[A-Z0-9]{4}-[A-Z0-9]{4}", message["Subject"]).group(0)
        body = message.get_content()
        assert message["Content-Language"] == "en"
        assert f"Reference: {reference}" in body
        assert f"Kind of request: {labels[made[reference]]}" in body
        assert "1,000 yen" in body  # both kinds carry the fee


def mail_failures(app: Any, db: Any) -> list[JobFailure]:
    with app.app_context():
        rows = list(db.session.scalars(sa.select(JobFailure).where(JobFailure.task == mail.SEND_TASK)))
        db.session.expunge_all()
        return rows


def test_with_the_mail_server_down_the_request_is_made_and_a_staff_retry_sends_one_receipt(
    seeded_app: Any, db: Any, login: Any, smtp: tuple[Inbox, Controller], caplog: Any
) -> None:
    inbox, controller = smtp
    controller.stop()  # nothing listens on the configured port any more
    w = signed_in(seeded_app, login, EN)
    with caplog.at_level(logging.INFO, logger="flask_ome_privacy"):
        response = file_correction(w, "090-7777-0000")
    assert response.status_code == 303
    (request,) = requests_of(seeded_app, db)
    assert request.status == "submitted"
    done = w.get(response.location)
    assert done.status_code == 200 and request.reference in text_of(done)
    assert inbox.messages == []

    # The failure is on the record for a retry: the task and ids, no address, no text.
    (failure,) = mail_failures(seeded_app, db)
    assert (failure.request_id, failure.status, failure.attempts) == (request.id, "failed", 1)
    assert failure.error_type == "ConnectionRefusedError"
    assert failure.arguments == {
        "request_id": request.id,
        "message_key": "request_received",
        "language": "en",
    }
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert request.reference in logged and "ConnectionRefusedError" in logged
    assert ALICE not in logged and "090-7777-0000" not in logged  # ... without personal data

    # The mail server is back; staff retry the failed job (from a staff page: a request context).
    back = Controller(inbox, hostname="127.0.0.1", port=controller.port)
    back.start()
    try:
        with seeded_app.test_request_context(base_url="https://privacy.example.com"):
            jobs.retry(db.session, failure.id, actor_id="staff-1")
            assert inbox.messages == [], "sent before the staff member's move committed"
            db.session.commit()
        (envelope,) = inbox.messages
        assert envelope.rcpt_tos == [ALICE]
        received = inbox.parsed()
        assert received["Subject"] == f"[WORLD OME NET] We received your request {request.reference}"
        body = received.get_content()
        assert f"https://privacy.example.com/account/privacy/requests/submitted/{request.reference}" in body
        (resolved,) = mail_failures(seeded_app, db)
        assert resolved.status == "resolved"

        # Run again after that success (a duplicate job, a retry after a crash): nothing is sent twice.
        with seeded_app.app_context():
            jobs.enqueue(
                seeded_app,
                mail.SEND_TASK,
                request_id=request.id,
                message_key="request_received",
                language="en",
            )
            with pytest.raises(jobs.RetryRefused):
                jobs.retry(db.session, failure.id)
        assert len(inbox.messages) == 1
        assert mail_failures(seeded_app, db)[0].status == "resolved"
    finally:
        back.stop()


# --- on a real RQ worker ----------------------------------------------------------------------------

# The worker subprocess runs ``worker_app``: the job tests' site plus this test's mail settings.


def worker_app() -> Flask:
    """``flask --app test_wizard_mail:worker_app ome-privacy worker``: mail to ``OME_TEST_MAIL_PORT``."""
    app = jobs_tasks.create_app()
    app.config.update(
        OME_PRIVACY_MAIL_HOST="127.0.0.1",
        OME_PRIVACY_MAIL_PORT=int(os.environ["OME_TEST_MAIL_PORT"]),
        OME_PRIVACY_MAIL_SECURITY="none",
        OME_PRIVACY_MAIL_FROM=FROM,
        OME_PRIVACY_MAIL_TIMEOUT=5,
        SERVER_NAME="privacy.example.com",  # a worker has no request to build links from
        PREFERRED_URL_SCHEME="https",
    )
    return app


class MailWorkers(Workers):
    def command(self, *options: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "flask",
            "--app",
            "test_wizard_mail:worker_app",
            "ome-privacy",
            "worker",
            *options,
        ]


@pytest.fixture
def mail_workers(workers: Workers, smtp: tuple[Inbox, Controller]) -> Iterator[MailWorkers]:
    runner = MailWorkers({**workers.env, "OME_TEST_MAIL_PORT": str(smtp[1].port)}, workers.log_dir)
    yield runner
    runner.stop()


@pytest.fixture
def rq_mail_app(rq_app: Any, seeded: Any, smtp: tuple[Inbox, Controller]) -> Any:
    """The example site on RQ, seeded, with mail to the test server."""
    return rq_app


def test_on_rq_the_receipt_waits_for_the_worker_which_sends_it_once(
    rq_mail_app: Any, db: Any, login: Any, smtp: tuple[Inbox, Controller], mail_workers: MailWorkers
) -> None:
    inbox = smtp[0]
    w = signed_in(rq_mail_app, login, JA)
    response = file_correction(w, "090-7777-0000")
    assert response.status_code == 303
    (request,) = requests_of(rq_mail_app, db)
    assert inbox.messages == [], "an RQ job must not send from the web process"

    mail_workers.burst()
    (envelope,) = inbox.messages
    assert envelope.rcpt_tos == [ALICE]
    received = inbox.parsed()
    assert received["Subject"] == f"[WORLD OME NET] 請求を受け付けました（受付番号 {request.reference}）"
    body = received.get_content()
    assert f"https://privacy.example.com/account/privacy/requests/submitted/{request.reference}" in body
    assert ALICE not in mail_workers.output()

    # The same job queued again (a duplicate, a retry after a lost acknowledgement) sends nothing.
    with rq_mail_app.app_context():
        jobs.enqueue(
            rq_mail_app, mail.SEND_TASK, request_id=request.id, message_key="request_received", language="ja"
        )
    mail_workers.burst()
    assert len(inbox.messages) == 1
    assert mail_failures(rq_mail_app, db) == []


def test_on_rq_a_recipient_refused_for_good_is_recorded_after_one_attempt(
    rq_mail_app: Any, db: Any, login: Any, smtp: tuple[Inbox, Controller], mail_workers: MailWorkers
) -> None:
    inbox = smtp[0]
    inbox.refuse = True
    w = signed_in(rq_mail_app, login, EN)
    assert file_correction(w, "090-7777-0000").status_code == 303
    mail_workers.burst()  # with retries left (2 and 3 s), a retryable failure would be scheduled instead
    (failure,) = mail_failures(rq_mail_app, db)
    assert (failure.status, failure.attempts, failure.error_type) == ("failed", 1, "SMTPRecipientsRefused")
    assert inbox.messages == []
    assert "gave up after 1 attempt(s): SMTPRecipientsRefused" in mail_workers.output()
