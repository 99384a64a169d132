"""Email to requesters: the receipt and "the result is ready", in their language, never breaking a request.

Every test talks to a real SMTP server (aiosmtpd) started here on a free loopback port, or
to a port where nothing listens — no mocks of smtplib. Queued mail goes through the job
layer (inline here: right after the commit); tests/test_wizard_mail.py follows it through
the wizard, a staff retry and an RQ worker.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email
import email.policy
import ipaddress
import logging
import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from helpers import base_config
from jinja2 import ChoiceLoader, DictLoader

from example_app.models import User
from flask_ome_privacy import mail, notify, privacy_requests
from flask_ome_privacy.models import AuditEvent, JobFailure, PrivacyRequest
from flask_ome_privacy.state import get_state

ALICE = "alice.requester@example.com"
FROM = "privacy-desk@crafters.example"
REFERENCE = "RQ-7K3M-9Q2D"


# --- a real SMTP server ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Inbox:
    """What the test server received; ``refuse`` makes it reject recipients permanently."""

    messages: list[Any] = field(default_factory=list)
    refuse: bool = False
    logins: list[tuple[str, str]] = field(default_factory=list)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 Message accepted"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        if isinstance(data, LoginPassword):
            self.logins.append((data.login.decode(), data.password.decode()))
            return AuthResult(success=data.password == b"mail-password")
        return AuthResult(success=False)

    def parsed(self, number: int = 0) -> Any:
        """The message as the recipient's mail program reads it (an ``EmailMessage``)."""
        return email.message_from_bytes(self.messages[number].original_content, policy=email.policy.default)


@contextlib.contextmanager
def smtp_server(**options: Any) -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    if "authenticator" in options:
        options["authenticator"] = inbox.authenticate
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    with smtp_server() as server:
        yield server


@pytest.fixture
def inbox(smtp: tuple[Inbox, int]) -> Inbox:
    return smtp[0]


@pytest.fixture
def app_config(app_config: dict[str, Any], smtp: tuple[Inbox, int]) -> dict[str, Any]:
    return {
        **app_config,
        "OME_PRIVACY_MAIL_HOST": "127.0.0.1",
        "OME_PRIVACY_MAIL_PORT": smtp[1],
        "OME_PRIVACY_MAIL_SECURITY": "none",  # a local relay; TLS is tested below
        "OME_PRIVACY_MAIL_FROM": FROM,
        "OME_PRIVACY_MAIL_TIMEOUT": 5,
    }


def receipt(app: Any, language: str = "ja", kind: str = "disclose", **kwargs: Any) -> mail.MailMessage:
    with app.app_context():
        return mail.request_received(ALICE, reference=REFERENCE, kind=kind, language=language, **kwargs)


# --- the messages --------------------------------------------------------------------------------


def test_a_japanese_receipt_arrives_with_a_subject_that_decodes_to_japanese(app: Any, inbox: Inbox) -> None:
    message = receipt(app, "ja", link="https://www.example.com/account/privacy/requests/RQ-7K3M-9Q2D")
    with app.app_context():
        result = mail.send(message)
    assert result == mail.MailResult("sent")

    (envelope,) = inbox.messages
    assert envelope.mail_from == FROM and envelope.rcpt_tos == [ALICE]
    raw_headers = envelope.original_content.split(b"\r\n\r\n", 1)[0]
    assert raw_headers.isascii() and b"=?utf-8?" in raw_headers  # encoded words, not raw UTF-8
    received = inbox.parsed()
    assert received["Subject"] == "[WORLD OME NET] 請求を受け付けました（受付番号 RQ-7K3M-9Q2D）"
    assert received["To"] == ALICE and received["From"] == FROM
    assert received["Content-Language"] == "ja"
    assert received.get_content_type() == "text/plain" and received.get_content_charset() == "utf-8"
    body = received.get_content()
    assert "受付番号: RQ-7K3M-9Q2D" in body
    assert "請求の種類: 開示" in body
    assert "1,000円" in body  # the fee of a disclosure request
    assert "https://www.example.com/account/privacy/requests/RQ-7K3M-9Q2D" in body
    assert "株式会社クラフターズ" in body  # the sender and its inquiry contact (policy Art. 1.6)


def test_an_english_requester_gets_english_and_no_fee_line_for_a_deletion(app: Any, inbox: Inbox) -> None:
    with app.app_context():
        assert mail.send(receipt(app, "en", kind="delete")).sent
    received = inbox.parsed()
    assert received["Subject"] == f"[WORLD OME NET] We received your request {REFERENCE}"
    body = received.get_content()
    assert "Kind of request: Delete" in body and "fee" not in body
    assert "You can follow the request in the privacy center of your account." in body


def test_the_result_mail_says_where_to_read_the_decision_and_not_the_decision(app: Any, inbox: Inbox) -> None:
    with app.app_context():
        message = mail.decision_released(ALICE, reference=REFERENCE, kind="correct", language="ja")
        assert mail.send(message).sent
    received = inbox.parsed()
    assert received["Subject"] == "[WORLD OME NET] 請求（受付番号 RQ-7K3M-9Q2D）の結果をお知らせします"
    body = received.get_content()
    assert "請求の種類: 訂正" in body and "決定通知" in body


def test_an_unknown_language_falls_back_to_the_sites_first_language(app: Any) -> None:
    message = receipt(app, "fr")
    assert message.language == "ja" and "受付番号" in message.body


def test_mail_texts_hold_nothing_but_the_reference_and_the_kind(app: Any) -> None:
    message = receipt(app, "en", link="https://example.com/r")
    assert ALICE not in message.body and ALICE not in message.subject
    assert message.reference == REFERENCE and message.name == "request_received"


def test_a_host_can_override_a_mail_template(app: Any, inbox: Inbox) -> None:
    app.jinja_env.loader = ChoiceLoader(
        [
            DictLoader({"ome_privacy/mail/request_received.txt": "Our own words about {{ reference }}."}),
            app.jinja_env.loader,
        ]
    )
    assert receipt(app, "en").body == f"Our own words about {REFERENCE}.\n"


# --- never breaking the request -------------------------------------------------------------------


def test_a_mail_server_that_is_down_is_reported_for_a_retry_and_never_raised(
    app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    app.config["OME_PRIVACY_MAIL_PORT"] = free_port()  # nothing listens there
    with app.app_context(), caplog.at_level(logging.INFO, logger="flask_ome_privacy.mail"):
        result = mail.send(receipt(app))
    assert result.status == "failed" and result.retryable
    assert result.error == "ConnectionRefusedError"
    assert REFERENCE in caplog.text and "ConnectionRefusedError" in caplog.text
    assert ALICE not in caplog.text and "alice" not in caplog.text


def test_a_mail_server_that_never_answers_gives_up_after_the_timeout(app: Any) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # accepts the connection, never says a word
        app.config["OME_PRIVACY_MAIL_PORT"] = silent.getsockname()[1]
        app.config["OME_PRIVACY_MAIL_TIMEOUT"] = 0.5
        started = time.perf_counter()
        with app.app_context():
            result = mail.send(receipt(app))
    assert result.status == "failed" and result.retryable
    assert time.perf_counter() - started < 3


def test_a_recipient_refused_for_good_is_not_retried(app: Any, inbox: Inbox, caplog: Any) -> None:
    inbox.refuse = True
    with app.app_context(), caplog.at_level(logging.WARNING, logger="flask_ome_privacy.mail"):
        result = mail.send(receipt(app))
    assert result == mail.MailResult("failed", "SMTPRecipientsRefused", retryable=False)
    assert ALICE not in caplog.text and "permanent" in caplog.text


def alices_request(app: Any, db: Any, kind: str = "correct") -> tuple[int, str]:
    """A request of the demo's alice (her address is on her account), committed: (id, reference)."""
    with app.app_context():
        alice = db.session.scalar(sa.select(User).where(User.email == "alice@example.com"))
        request = privacy_requests.submit(get_state(app), user_id=str(alice.id), kind=kind)
        db.session.commit()
        return request.id, request.reference


def mail_events(app: Any, db: Any, request_id: int) -> list[dict[str, Any]]:
    with app.app_context():
        return list(
            db.session.scalars(
                sa.select(AuditEvent.data).where(
                    AuditEvent.request_id == request_id, AuditEvent.action == mail.SENT_ACTION
                )
            )
        )


def test_queued_mail_goes_after_the_commit_to_the_accounts_address_and_never_on_rollback(
    seeded_app: Any, db: Any, inbox: Inbox
) -> None:
    request_id, reference = alices_request(seeded_app, db)
    with seeded_app.app_context():
        request = db.session.get(PrivacyRequest, request_id)
        notify.add(db.session, request.user_id, "request", "Request received")
        queued = mail.queue_mail(seeded_app, request, "decision_released", "en")
        assert queued == mail.QueuedMail(request_id, "decision_released", "en")
        assert inbox.messages == []  # not before the commit
        db.session.commit()
    (envelope,) = inbox.messages
    assert envelope.rcpt_tos == ["alice@example.com"]  # looked up when the job ran
    received = inbox.parsed()
    assert received["Subject"] == f"[WORLD OME NET] The result of your request {reference} is ready"
    assert mail_events(seeded_app, db, request_id) == [{"message": "decision_released", "language": "en"}]

    with seeded_app.app_context():
        request = db.session.get(PrivacyRequest, request_id)
        notify.add(db.session, request.user_id, "request", "Request received")
        mail.queue_mail(seeded_app, request, "request_received", "en")
        db.session.rollback()
        notify.add(db.session, request.user_id, "request", "Something else")
        db.session.commit()  # a later transaction does not send the forgotten message
    assert len(inbox.messages) == 1


def test_the_mail_job_carries_ids_and_the_language_never_the_address(seeded_app: Any, db: Any) -> None:
    seeded_app.config["OME_PRIVACY_MAIL_PORT"] = free_port()  # down: the job is recorded, arguments and all
    request_id, _reference = alices_request(seeded_app, db)
    with seeded_app.app_context():
        mail.queue_mail(seeded_app, db.session.get(PrivacyRequest, request_id), "request_received", "ja")
        db.session.commit()  # does not raise
        (failure,) = db.session.scalars(sa.select(JobFailure))
        assert (failure.task, failure.request_id, failure.status) == (mail.SEND_TASK, request_id, "failed")
        assert failure.arguments == {
            "request_id": request_id,
            "message_key": "request_received",
            "language": "ja",
        }
        assert failure.error_type == "ConnectionRefusedError"
        assert "alice" not in repr(vars(failure))


def test_a_recipient_refused_for_good_is_recorded_once_not_retried(
    seeded_app: Any, db: Any, inbox: Inbox, caplog: Any
) -> None:
    inbox.refuse = True
    request_id, _reference = alices_request(seeded_app, db)
    with seeded_app.app_context(), caplog.at_level(logging.INFO):
        mail.queue_mail(seeded_app, db.session.get(PrivacyRequest, request_id), "request_received", "en")
        db.session.commit()
        (failure,) = db.session.scalars(sa.select(JobFailure))
        assert (failure.status, failure.attempts) == ("failed", 1)
        assert failure.error_type == "SMTPRecipientsRefused"
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("flask_ome_privacy"))
    assert "permanent" in ours and "alice" not in ours  # (the test server's own log names her)
    assert inbox.messages == [] and mail_events(seeded_app, db, request_id) == []


def test_with_mail_off_nothing_is_queued(seeded_app: Any, db: Any) -> None:
    seeded_app.config["OME_PRIVACY_MAIL_HOST"] = None
    request_id, _reference = alices_request(seeded_app, db)
    with seeded_app.app_context():
        request = db.session.get(PrivacyRequest, request_id)
        assert mail.queue_mail(seeded_app, request, "request_received", "ja") is None
        with pytest.raises(ValueError, match="unknown mail"):
            mail.queue_mail(seeded_app, request, "password_reset", "ja")


# --- configuration -------------------------------------------------------------------------------


def test_without_a_mail_host_mail_is_off(database_url: str, document_key: str, inbox: Inbox) -> None:
    import example_app

    site = example_app.create_app(base_config(database_url, document_key))
    with site.app_context():
        assert mail.sender_for() is None
        assert mail.send(receipt(site)) == mail.MailResult("disabled")
    assert inbox.messages == []


HOOK_OUTBOX: list[mail.MailMessage] = []


def hook_send(message: mail.MailMessage) -> None:
    HOOK_OUTBOX.append(message)


def test_the_host_can_send_mail_itself_by_dotted_path_or_object(
    database_url: str, document_key: str, inbox: Inbox
) -> None:
    import example_app

    HOOK_OUTBOX.clear()
    for hook in ("test_mail:hook_send", hook_send):
        config = {**base_config(database_url, document_key), "OME_PRIVACY_MAIL_SENDER": hook}
        site = example_app.create_app(config)
        with site.app_context():
            assert mail.send(receipt(site, "en")).sent
    assert [m.subject for m in HOOK_OUTBOX] == [f"[WORLD OME NET] We received your request {REFERENCE}"] * 2
    assert HOOK_OUTBOX[0].to == ALICE and inbox.messages == []


def test_a_host_sender_that_fails_is_logged_without_its_message(
    database_url: str, document_key: str, caplog: Any
) -> None:
    import example_app

    def broken(message: mail.MailMessage) -> None:
        raise RuntimeError(f"cannot reach the API for {message.to}")

    config = {**base_config(database_url, document_key), "OME_PRIVACY_MAIL_SENDER": broken}
    site = example_app.create_app(config)
    with site.app_context(), caplog.at_level(logging.WARNING, logger="flask_ome_privacy.mail"):
        result = mail.send(receipt(site))
    assert result == mail.MailResult("failed", "RuntimeError", retryable=True)
    assert "RuntimeError" in caplog.text and ALICE not in caplog.text


@pytest.mark.parametrize(
    ("settings", "complaint"),
    [
        ({"OME_PRIVACY_MAIL_SECURITY": "tls"}, "OME_PRIVACY_MAIL_SECURITY"),
        ({"OME_PRIVACY_MAIL_HOST": "smtp.example.com"}, "OME_PRIVACY_MAIL_FROM"),
        (
            {
                "OME_PRIVACY_MAIL_HOST": "smtp.example.com",
                "OME_PRIVACY_MAIL_FROM": FROM,
                "OME_PRIVACY_MAIL_SECURITY": "none",
                "OME_PRIVACY_MAIL_USERNAME": "desk",
            },
            "never sent unencrypted",
        ),
        ({"OME_PRIVACY_MAIL_SENDER": 42}, "OME_PRIVACY_MAIL_SENDER"),
    ],
)
def test_mail_settings_that_cannot_work_stop_the_app_at_start_up(
    database_url: str, document_key: str, settings: dict[str, Any], complaint: str
) -> None:
    import example_app

    with pytest.raises(mail.MailConfigError, match=complaint):
        example_app.create_app({**base_config(database_url, document_key), **settings})


# --- TLS: STARTTLS with a password, and certificates are checked ------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (key file, certificate file)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    key_file, cert_file = folder / "key.pem", folder / "cert.pem"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_file, cert_file


def server_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(certificate[1]), str(certificate[0]))
    return context


def test_starttls_with_a_password_delivers_and_a_server_without_starttls_gets_nothing(
    app: Any, certificate: tuple[Path, Path]
) -> None:
    trusting = ssl.create_default_context(cafile=str(certificate[1]))
    tls = {"tls_context": server_tls(certificate), "require_starttls": True, "authenticator": True}
    with smtp_server(**tls) as (inbox, port), app.app_context():
        sender = mail.SmtpSender(
            "127.0.0.1",
            port,
            from_address=FROM,
            username="desk",
            password="mail-password",
            ssl_context=trusting,
        )
        assert mail.send(receipt(app), sender=sender).sent
        assert inbox.logins == [("desk", "mail-password")] and len(inbox.messages) == 1

        untrusting = mail.SmtpSender("127.0.0.1", port, from_address=FROM, username="desk", password="x")
        result = mail.send(receipt(app), sender=untrusting)  # the system CAs do not know this certificate
        assert result.status == "failed" and result.error == "SSLCertVerificationError"
        assert len(inbox.logins) == 1  # the password never left

    with smtp_server() as (plain_inbox, plain_port), app.app_context():
        sender = mail.SmtpSender(
            "127.0.0.1", plain_port, from_address=FROM, username="desk", password="p", ssl_context=trusting
        )
        result = mail.send(receipt(app), sender=sender)
        assert result.status == "failed" and result.error == "SMTPNotSupportedError"
        assert plain_inbox.messages == [] and plain_inbox.logins == []


def test_implicit_tls_delivers(app: Any, certificate: tuple[Path, Path]) -> None:
    trusting = ssl.create_default_context(cafile=str(certificate[1]))
    with smtp_server(ssl_context=server_tls(certificate)) as (inbox, port), app.app_context():
        sender = mail.SmtpSender("127.0.0.1", port, from_address=FROM, security="ssl", ssl_context=trusting)
        assert mail.send(receipt(app, "en"), sender=sender).sent
    assert inbox.parsed()["Subject"] == f"[WORLD OME NET] We received your request {REFERENCE}"
