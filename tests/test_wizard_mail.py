"""The receipt mail sent by the request wizard (issue 8, "Email"), through a real SMTP server.

The wizard is driven with the test client as a person uses it; the mail goes to a real
aiosmtpd server on a free loopback port (``test_mail.smtp_server``), and then to a port where
the server has stopped. What the person notices: the mail arrives after the submission, in the
language they used, naming only the reference and the kind of request; with the mail server
down the request is still made and the receipt page is fine.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from test_mail import FROM, Inbox, free_port
from test_request_wizard import EN, JA, Wizard, fill_disclosure, requests_of, text_of

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


def test_with_the_mail_server_down_the_request_is_still_made_and_the_page_is_fine(
    seeded_app: Any, db: Any, login: Any, smtp: tuple[Inbox, Controller], caplog: Any
) -> None:
    inbox, controller = smtp
    controller.stop()  # nothing listens on the configured port any more
    w = signed_in(seeded_app, login, EN)
    with caplog.at_level(logging.WARNING, logger="flask_ome_privacy.mail"):
        response = file_correction(w, "090-7777-0000")
    assert response.status_code == 303
    (request,) = requests_of(seeded_app, db)
    assert request.status == "submitted"
    done = w.get(response.location)
    assert done.status_code == 200 and request.reference in text_of(done)
    assert inbox.messages == []
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert request.reference in logged  # the failure is on the record, for a retry ...
    assert ALICE not in logged and "090-7777-0000" not in logged  # ... without personal data
