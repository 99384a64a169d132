"""Email: "we received your request" and "the result is ready", in the requester's language.

One small interface (``MailSender.send(message)``) with two implementations: the standard
library's SMTP client configured by ``OME_PRIVACY_MAIL_*``, or the host's own sender given
as ``OME_PRIVACY_MAIL_SENDER`` (a sender object, a plain ``send(message)`` callable, or the
dotted path of either). With neither, mail is off and nothing is sent.

What the texts may say: the reference, the kind of request, where to follow it, and the
business's contact — never the person's data or the decision itself (the person reads
that in the privacy center after signing in). The texts are templates
(``ome_privacy/mail/<name>_subject.txt`` and ``<name>.txt``) a host can override.

Mail goes out through the job layer (``jobs.py``), after the request is committed, and never
breaks it. ``queue_mail`` enqueues the task ``ome_privacy.send_mail`` with the request's id,
the message's name and the language — never the address or a text. The task (inline right
after the commit by default, or on an RQ worker) looks the address up through the host's
``user_loader`` at send time, renders the message and sends it:

* sent: an audit event ``request.mail_sent`` (ids only) records it, so a job run again (a
  retry after a crash, a staff retry, a duplicate) sends nothing twice;
* a failure retrying may fix (server down, timeout, 4xx): the task raises, so the job layer
  retries it (RQ, with backoff) and records it in the failure table for a staff retry;
* a permanent failure (the recipient refused for good, 5xx): logged, and recorded in the
  failure table at once (``jobs.GiveUp``) rather than retried.

``send`` itself catches every failure, logs it without addresses, and returns a
``MailResult`` saying whether a retry can help.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any, Literal, Protocol, runtime_checkable

import sqlalchemy as sa
from flask import Flask, current_app, render_template, url_for
from flask_babel import force_locale
from sqlalchemy.orm import Session
from werkzeug.routing import BuildError
from werkzeug.utils import import_string

from . import audit, jobs
from .config import config_value
from .i18n import translate
from .lifecycle import RequestKind
from .models import AuditEvent, PrivacyRequest
from .state import get_state

__all__ = [
    "MailMessage",
    "MailResult",
    "MailSender",
    "SmtpSender",
    "MailConfigError",
    "QueuedMail",
    "check_config",
    "enabled",
    "sender_for",
    "send",
    "queue_mail",
    "send_mail",
    "already_sent",
    "request_received",
    "decision_released",
    "MAIL_TEMPLATES",
    "SEND_TASK",
    "SENT_ACTION",
]

log = logging.getLogger(__name__)

SECURITY_CHOICES = ("starttls", "ssl", "none")
#: The messages this module builds: their templates are ``ome_privacy/mail/<name>[_subject].txt``.
MAIL_TEMPLATES = ("request_received", "decision_released")
#: The job that sends one of them about one request.
SEND_TASK = "ome_privacy.send_mail"
#: The audit event left once a message went out (data: the message's name): the "already sent" mark.
SENT_ACTION = "request.mail_sent"
#: Where each message links to (a page of the requester's privacy center), when the app has it.
LINK_ENDPOINTS = {
    "request_received": "ome_privacy_account.new_request_done",
    "decision_released": "ome_privacy_account.request_detail",
}


class MailConfigError(ValueError):
    """The ``OME_PRIVACY_MAIL_*`` settings cannot work (said at start-up, not at the first mail)."""


@dataclass(frozen=True)
class MailMessage:
    """One email to one person: plain text, already in their language."""

    to: str
    subject: str
    body: str
    language: str
    #: What it is about, for logs: the template name and the request reference (no addresses).
    name: str = ""
    reference: str | None = None

    def to_email(self, from_address: str) -> EmailMessage:
        """The MIME message: UTF-8, encoded-word subject, base64 body when not plain ASCII."""
        email = EmailMessage()
        email["From"] = from_address
        email["To"] = self.to
        email["Subject"] = self.subject
        email["Message-ID"] = make_msgid(domain=from_address.rpartition("@")[2] or None)
        cte = "7bit" if self.body.isascii() else "base64"
        email.set_content(self.body, charset="utf-8", cte=cte)
        email["Content-Language"] = self.language  # after set_content, which clears Content-* headers
        return email


@runtime_checkable
class MailSender(Protocol):
    """Anything that can send a ``MailMessage``; raises when it could not."""

    def send(self, message: MailMessage) -> None: ...


@dataclass(frozen=True)
class MailResult:
    """What became of one message. ``retryable``: trying again later may succeed."""

    status: Literal["sent", "failed", "disabled"]
    error: str | None = None  # the exception's class name, never its text (it may hold addresses)
    retryable: bool = False

    @property
    def sent(self) -> bool:
        return self.status == "sent"


class SmtpSender:
    """Sends through an SMTP server with the standard library (``smtplib``).

    ``security``: ``"starttls"`` (upgrade a plain connection, typically port 587; refuses
    to go on if the server cannot), ``"ssl"`` (TLS from the start, typically 465) or
    ``"none"`` (a local relay). Certificates are checked against the system's CAs.
    """

    def __init__(
        self,
        host: str,
        port: int = 587,
        *,
        from_address: str,
        security: str = "starttls",
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if security not in SECURITY_CHOICES:
            raise MailConfigError(f"security must be one of {', '.join(SECURITY_CHOICES)}")
        if username and security == "none":
            raise MailConfigError(
                "OME_PRIVACY_MAIL_USERNAME is set but OME_PRIVACY_MAIL_SECURITY is 'none': "
                "a password is never sent unencrypted; use 'starttls' or 'ssl'"
            )
        self.host, self.port, self.from_address = host, int(port), from_address
        self.security, self.username, self.password = security, username, password
        self.timeout = float(timeout)
        self.ssl_context = ssl_context

    def send(self, message: MailMessage) -> None:
        email = message.to_email(self.from_address)
        context = self.ssl_context or ssl.create_default_context()
        client: smtplib.SMTP
        if self.security == "ssl":
            client = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with client:
            if self.security == "starttls":
                client.starttls(context=context)  # raises SMTPNotSupportedError rather than go on in clear
            if self.username:
                client.login(self.username, self.password or "")
            client.send_message(email)


class _CallableSender:
    """Adapts a host's plain ``send(message)`` function to ``MailSender``."""

    def __init__(self, func: Callable[[MailMessage], Any]) -> None:
        self.func = func

    def send(self, message: MailMessage) -> None:
        self.func(message)


# --- configuration ---------------------------------------------------------------------------


def _hook(app: Flask) -> MailSender | None:
    hook = config_value("MAIL_SENDER", app)
    if hook is None:
        return None
    if isinstance(hook, str):
        try:
            hook = import_string(hook)
        except ImportError as exc:
            raise MailConfigError(f"OME_PRIVACY_MAIL_SENDER: cannot import {hook!r} ({exc})") from None
    if isinstance(hook, type):  # a class: one instance, made with no arguments
        hook = hook()
    if isinstance(hook, MailSender):
        return hook
    if callable(hook):
        return _CallableSender(hook)
    raise MailConfigError("OME_PRIVACY_MAIL_SENDER must be a sender with send(message), or a callable")


def sender_for(app: Flask | None = None) -> MailSender | None:
    """The app's mail sender: the host's hook, else SMTP when a host is set, else ``None`` (off).

    Reads ``OME_PRIVACY_MAIL_SENDER``, then ``MAIL_HOST``, ``MAIL_PORT``, ``MAIL_SECURITY``,
    ``MAIL_USERNAME``, ``MAIL_PASSWORD``, ``MAIL_FROM`` and ``MAIL_TIMEOUT``.
    """
    app = app or current_app
    hook = _hook(app)
    if hook is not None:
        return hook
    host = config_value("MAIL_HOST", app)
    if not host:
        return None
    from_address = config_value("MAIL_FROM", app)
    if not from_address:
        raise MailConfigError("OME_PRIVACY_MAIL_FROM is needed when OME_PRIVACY_MAIL_HOST is set")
    return SmtpSender(
        host,
        config_value("MAIL_PORT", app),
        from_address=from_address,
        security=str(config_value("MAIL_SECURITY", app)).lower(),
        username=config_value("MAIL_USERNAME", app),
        password=config_value("MAIL_PASSWORD", app),
        timeout=config_value("MAIL_TIMEOUT", app),
    )


def check_config(app: Flask) -> None:
    """Fail at start-up when the mail settings cannot work (called by ``init_app``).

    A dotted ``MAIL_SENDER`` path is imported at the first mail, not here, so it may point
    into the host's own package while that is still being imported.
    """
    security = str(config_value("MAIL_SECURITY", app)).lower()
    if security not in SECURITY_CHOICES:
        raise MailConfigError(
            f"OME_PRIVACY_MAIL_SECURITY is {security!r}; use one of {', '.join(SECURITY_CHOICES)}"
        )
    hook = config_value("MAIL_SENDER", app)
    if hook is not None and not (isinstance(hook, str) or callable(hook) or isinstance(hook, MailSender)):
        raise MailConfigError("OME_PRIVACY_MAIL_SENDER must be a sender with send(message), or a callable")
    if hook is None and config_value("MAIL_HOST", app):
        sender_for(app)  # builds the SMTP sender: a missing From or a password in clear fails here


# --- sending ---------------------------------------------------------------------------------


def _retryable(exc: BaseException) -> bool:
    """Worth trying again later? Not when the server refused the recipient for good (5xx)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return any(code < 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException) and not isinstance(
        exc, smtplib.SMTPAuthenticationError
    ):
        return exc.smtp_code < 500
    return True  # connection refused, timeouts, TLS problems, authentication: fixable, retry


def enabled(app: Flask | None = None) -> bool:
    """Is mail on (a host sender or an SMTP host configured)? Builds nothing, so never raises."""
    app = app or current_app
    return config_value("MAIL_SENDER", app) is not None or bool(config_value("MAIL_HOST", app))


def _deliver(
    message: MailMessage, app: Flask, sender: MailSender | None
) -> tuple[MailResult, Exception | None]:
    """One attempt; the result, and the exception when it failed (for the job layer to name)."""
    try:
        sender = sender or sender_for(app)
    except MailConfigError as exc:
        log.error("mail %s for %s not sent: mail is misconfigured (%s)", message.name, message.reference, exc)
        return MailResult("failed", type(exc).__name__, retryable=True), exc
    if sender is None:
        return MailResult("disabled"), None
    try:
        sender.send(message)
    except Exception as exc:  # the mail server, the network or the host's hook: never the request's problem
        retryable = _retryable(exc)
        log.warning(
            "mail %s for %s not sent (%s%s)",
            message.name,
            message.reference,
            type(exc).__name__,
            "; will be retried" if retryable else "; permanent",
        )
        return MailResult("failed", type(exc).__name__, retryable=retryable), exc
    log.info("mail %s for %s sent", message.name, message.reference)
    return MailResult("sent"), None


def send(message: MailMessage, app: Flask | None = None, *, sender: MailSender | None = None) -> MailResult:
    """Send ``message`` now. Never raises: a failure is logged (no addresses) and returned."""
    return _deliver(message, app or get_state(current_app).app, sender)[0]


# --- through the job layer -------------------------------------------------------------------


@dataclass(frozen=True)
class QueuedMail:
    """A message handed to the job layer: ``name`` about request ``request_id``, in ``language``.

    It goes once the caller's transaction commits (and never if it rolls back); whether it
    was sent shows later in the audit trail (``request.mail_sent``) or the failure table.
    """

    request_id: int
    name: str
    language: str


def queue_mail(app: Flask, request: PrivacyRequest, name: str, language: str | None) -> QueuedMail | None:
    """Queue message ``name`` about ``request`` for after the commit; ``None`` when mail is off.

    Only ids and the language go into the job (policy Art. 1.4): the address is looked up
    and the text rendered when the job runs. Call inside the transaction that made the
    request or the decision (``request.id`` must be flushed).
    """
    if name not in MAIL_TEMPLATES:
        raise ValueError(f"unknown mail {name!r}: one of {', '.join(MAIL_TEMPLATES)}")
    if not enabled(app):
        return None
    language = _language(app, language)
    jobs.enqueue(app, SEND_TASK, request_id=int(request.id), message_key=name, language=language)
    return QueuedMail(int(request.id), name, language)


def already_sent(session: Session, request_id: int, name: str) -> bool:
    """Has message ``name`` about this request gone out (its ``request.mail_sent`` event)?"""
    events = session.scalars(
        sa.select(AuditEvent.data).where(
            AuditEvent.request_id == request_id, AuditEvent.action == SENT_ACTION
        )
    )
    return any((data or {}).get("message") == name for data in events)


def _link(app: Flask, name: str, reference: str) -> str | None:
    """The absolute link the message gives, or ``None`` (the text then says where to look).

    Built from the current request when there is one (an inline job, a staff retry), else
    from Flask's ``SERVER_NAME`` (an RQ worker); without either there is no link.
    """
    endpoint = LINK_ENDPOINTS[name]
    if endpoint not in app.view_functions:
        return None
    try:
        return url_for(endpoint, reference=reference, _external=True)
    except (RuntimeError, BuildError):  # outside a request and no SERVER_NAME
        return None


@jobs.BUILTIN.task(SEND_TASK)
def send_mail(session: Session, *, request_id: int, message_key: str, language: str | None = None) -> None:
    """The job: send message ``message_key`` about request ``request_id`` to its requester, once.

    The address comes from the host's ``user_loader`` now, not from the job. A failure a
    retry may fix raises (the job layer retries and records it); a permanent one raises
    ``jobs.GiveUp`` (recorded, not retried). Nothing to send (no such request, no account,
    no address, mail switched off since) is logged and ends the job.
    """
    state = get_state(current_app)
    app = state.app
    if message_key not in MAIL_TEMPLATES:
        raise jobs.GiveUp("UnknownMessage")
    if already_sent(session, request_id, message_key):
        log.info("mail %s for request %s was already sent; not sent again", message_key, request_id)
        return
    request = session.get(PrivacyRequest, request_id)
    if request is None or request.user_id is None:
        log.info("mail %s for request %s not sent: no such request or no account", message_key, request_id)
        return
    if not enabled(app):
        log.info("mail %s for %s not sent: mail is off", message_key, request.reference)
        return
    user = state.extension.load_user(request.user_id)
    to = getattr(user, "email", None)
    if not to:
        log.info("mail %s for %s not sent: the account has no email address", message_key, request.reference)
        return
    message = _render(
        app,
        message_key,
        str(to),
        language,
        request.reference,
        request.kind,
        _link(app, message_key, request.reference),
    )
    result, error = _deliver(message, app, None)
    if result.status == "failed":
        if result.retryable and error is not None:
            raise error  # the job layer records its type only (its text may hold the address)
        raise jobs.GiveUp(result.error or "MailFailed")
    if result.sent:
        audit.append(
            session,
            SENT_ACTION,
            actor_id=None,
            actor_role="system",
            request_id=request.id,
            subject_user_id=request.user_id,
            data={"message": message_key, "language": message.language},
        )


# --- the messages ----------------------------------------------------------------------------


def _language(app: Flask, language: str | None) -> str:
    languages = list(config_value("LANGUAGES", app) or ["ja"])
    return str(language if language in languages else languages[0])


def _render(
    app: Flask,
    name: str,
    to: str,
    language: str | None,
    reference: str,
    kind: RequestKind | str,
    link: str | None,
) -> MailMessage:
    language = _language(app, language)
    kind = RequestKind(kind)
    with force_locale(language):
        context = {
            "reference": reference,
            "kind": kind,
            "kind_label": translate(kind.label),
            "fee_yen": config_value("FEE_YEN", app) if kind.carries_fee else None,
            "link": link,
            "service_name": translate(config_value("SERVICE_NAME", app)),
            "business_name": translate(config_value("BUSINESS_NAME", app)),
            "contact": config_value("CONTACT", app) or {},
            "language": language,
            "tr": translate,
        }
        subject = render_template(f"ome_privacy/mail/{name}_subject.txt", **context)
        body = render_template(f"ome_privacy/mail/{name}.txt", **context)
    return MailMessage(
        to=to,
        subject=" ".join(subject.split()),  # one line, whatever the template's layout
        body=body.strip() + "\n",
        language=language,
        name=name,
        reference=reference,
    )


def request_received(
    to: str,
    *,
    reference: str,
    kind: RequestKind | str,
    language: str | None,
    link: str | None = None,
    app: Flask | None = None,
) -> MailMessage:
    """ "We received your request <reference>": the kind, the fee if any, where to follow it."""
    return _render(app or current_app, "request_received", to, language, reference, kind, link)


def decision_released(
    to: str,
    *,
    reference: str,
    kind: RequestKind | str,
    language: str | None,
    link: str | None = None,
    app: Flask | None = None,
) -> MailMessage:
    """ "The result of your request <reference> is ready": read it in the privacy center."""
    return _render(app or current_app, "decision_released", to, language, reference, kind, link)
