"""Withdrawing an SNS link: unlink the account and erase what came through it, self-service.

Two layers:

* ``decide`` — a pure function (no Flask, no database): may this person withdraw this
  provider, given how they can sign in? It never lets someone remove their only way
  into their account (like django-allauth's disconnect guard), and when it refuses it
  says why and what to do instead.
* ``withdraw`` — carries it out in the caller's transaction: ``source.unlink(user)``, an
  ``SnsWithdrawal`` receipt (item names and counts, never values), an audit event and
  an in-app notification, flushed. The caller commits once and then calls ``announce``
  (the ``sns_withdrawn`` and ``notification_created`` signals); if anything fails, the
  caller rolls back and nothing is kept.
"""

from __future__ import annotations

import logging
import secrets
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from . import audit, notify
from .holdings import HeldField, held_fields
from .labelled import LabelledEnum
from .locks import serialize
from .models import Notification, SnsWithdrawal, utcnow
from .signals import sns_withdrawn
from .sources import N_, Action, DataSource, Origin, SourceError
from .state import user_id_of

__all__ = [
    "Reason",
    "Instead",
    "WithdrawalVerdict",
    "decide",
    "method_keys",
    "erased_items",
    "receipt_lines",
    "Withdrawn",
    "announce",
    "recent_receipts",
    "receipt_for",
    "RECEIPT_ENDPOINT",
    "WithdrawalError",
    "WithdrawalRefused",
    "NothingToWithdraw",
    "WithdrawalFailed",
    "withdraw",
    "new_reference",
    "NOTIFICATION_KIND",
    "AUDIT_ACTION",
]

log = logging.getLogger(__name__)

NOTIFICATION_KIND = "sns_withdrawn"
AUDIT_ACTION = "sns.withdrawn"
#: The account page that shows a receipt; the notification links to it by endpoint.
RECEIPT_ENDPOINT = "ome_privacy_account.sns_receipt"


# --- the guard (pure) ------------------------------------------------------------------------


class Reason(LabelledEnum):
    """Why a withdrawal is allowed or refused; stable codes for hosts and tests."""

    ALLOWED = "allowed", N_("You can unlink %(provider)s and erase the data it supplied.")
    #: The SNS is the person's only way to sign in.
    ONLY_SIGN_IN = (
        "only_sign_in",
        N_(
            "%(provider)s is your only way to sign in. If you unlinked it, you could no longer "
            "sign in to your account, so it cannot be unlinked here yet."
        ),
    )
    #: The host could not say how the person signs in (``sign_in_methods`` was empty).
    SIGN_IN_UNKNOWN = (
        "sign_in_unknown",
        N_(
            "We could not confirm that you have another way to sign in besides %(provider)s. "
            "To make sure you are not locked out of your account, it cannot be unlinked here."
        ),
    )
    #: The source cannot unlink by itself; staff have to do it through a request.
    NOT_SUPPORTED = (
        "not_supported",
        N_(
            "%(provider)s cannot be unlinked automatically on this site. "
            "Our privacy desk can do it for you through a request."
        ),
    )

    @property
    def message(self) -> str:
        """The explanation shown to the person (a message id; translate with ``%(provider)s``)."""
        return self.label


class Instead(LabelledEnum):
    """What the person can do instead of a refused withdrawal."""

    #: Set a password (or add another sign-in method) first, then withdraw here.
    ADD_SIGN_IN = (
        "add_sign_in",
        N_(
            "Set a password for your account (or link another way to sign in) in your account "
            "settings first. Then you can unlink %(provider)s here."
        ),
    )
    #: Close the account through a deletion request; that erases the SNS data too.
    CLOSE_ACCOUNT = (
        "close_account",
        N_(
            "If you want to stop using the service altogether, ask us to delete your account. "
            "That erases the data %(provider)s supplied as well."
        ),
    )
    #: Ask for the SNS data to be erased through a request (staff carry it out).
    REQUEST_ERASURE = (
        "request_erasure",
        N_("Ask us to erase the data %(provider)s supplied through a privacy request."),
    )
    #: Ask the inquiry contact.
    CONTACT = "contact", N_("If anything is unclear, write to the privacy inquiry contact below.")

    @property
    def message(self) -> str:
        return self.label


@dataclass(frozen=True)
class WithdrawalVerdict:
    """The guard's answer: allowed or not, the reason code, and what to do instead."""

    allowed: bool
    reason: Reason
    instead: tuple[Instead, ...] = ()

    @property
    def message(self) -> str:
        return self.reason.message


def method_keys(provider: str, *aliases: str | None) -> set[str]:
    """The sign-in method keys that mean ``provider`` ("Facebook" ↔ "facebook"), case-folded."""
    return {name.strip().casefold() for name in (provider, *aliases) if name and name.strip()}


def decide(
    sign_in_methods: Iterable[str], provider: str, *, source_key: str | None = None, can_unlink: bool = True
) -> WithdrawalVerdict:
    """May a person who signs in with ``sign_in_methods`` withdraw ``provider``?

    ``sign_in_methods`` is what the host's ``sign_in_methods_loader`` says, e.g.
    ``{"password", "facebook"}``; a method counts as this provider when it equals the
    provider's name or the source's key, ignoring case. An empty set means the host
    could not tell: we refuse rather than risk locking someone out.
    """
    if not can_unlink:
        return WithdrawalVerdict(False, Reason.NOT_SUPPORTED, (Instead.REQUEST_ERASURE, Instead.CONTACT))
    methods = {str(m).strip().casefold() for m in sign_in_methods if m and str(m).strip()}
    if not methods:
        return WithdrawalVerdict(False, Reason.SIGN_IN_UNKNOWN, (Instead.CONTACT, Instead.CLOSE_ACCOUNT))
    if not methods - method_keys(provider, source_key):
        return WithdrawalVerdict(False, Reason.ONLY_SIGN_IN, (Instead.ADD_SIGN_IN, Instead.CLOSE_ACCOUNT))
    return WithdrawalVerdict(True, Reason.ALLOWED)


def warn_if_sign_in_unknown(decision: WithdrawalVerdict, source_key: str) -> None:
    """Tell the host's developer (never who it was: the source key only) why nobody can withdraw."""
    if decision.reason is Reason.SIGN_IN_UNKNOWN:
        log.warning(
            "SNS withdrawal refused for source %r: sign_in_methods() returned no methods for the user; "
            "register @privacy.sign_in_methods_loader so people with another way in can withdraw",
            source_key,
        )


# --- what will be / was erased -----------------------------------------------------------------


def erased_items(source: DataSource, user: Any) -> list[HeldField]:
    """What ``source`` holds about ``user``, as labelled items in the source's field order."""
    return held_fields(source, source.collect(user))


def receipt_lines(items: Iterable[HeldField]) -> list[dict[str, Any]]:
    """The receipt's lines: item names, labels (message ids) and counts, never values."""
    return [{"field": item.field, "label": item.label, "count": item.count} for item in items]


# --- carrying it out -----------------------------------------------------------------------------


class WithdrawalError(Exception):
    """Base class: the withdrawal did not happen; nothing was committed."""


class WithdrawalRefused(WithdrawalError):
    def __init__(self, decision: WithdrawalVerdict) -> None:
        super().__init__(decision.reason.value)
        self.decision = decision


class NothingToWithdraw(WithdrawalError):
    """Not linked and nothing held (for instance, withdrawn already)."""


class WithdrawalFailed(WithdrawalError):
    """The source or the database failed; the transaction was rolled back."""


_REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I


def new_reference() -> str:
    """A receipt reference such as ``SNS-7KQM-3XTA`` (unguessable enough, easy to read aloud)."""
    chars = "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(8))
    return f"SNS-{chars[:4]}-{chars[4:]}"


SUBJECT = N_("%(provider)s was unlinked and its data erased")
BODY = N_(
    "You unlinked %(provider)s from your account. The data it supplied has been erased. "
    "Receipt %(reference)s lists what was erased."
)


@dataclass(frozen=True)
class Withdrawn:
    """What ``withdraw`` did, for the caller to commit and then ``announce``."""

    receipt: SnsWithdrawal
    notification: Notification


def withdraw(
    session: Session,
    user: Any,
    source: DataSource,
    *,
    sign_in_methods: Iterable[str],
    receipt_endpoint: str | None = RECEIPT_ENDPOINT,
) -> Withdrawn:
    """Unlink ``source`` for ``user`` and erase its data, in the caller's transaction.

    Adds the ``SnsWithdrawal`` receipt, an audit event and an in-app notification (linked
    to ``receipt_endpoint`` with the receipt's reference) and flushes; the caller commits,
    then calls ``announce``. Needs no request: a job worker can call it by ids.
    Raises ``WithdrawalRefused`` (the guard said no), ``NothingToWithdraw`` (not linked
    and nothing held) or ``WithdrawalFailed`` (the source or the database failed); on any
    of them the caller rolls back.
    """
    if source.origin is not Origin.SNS:
        raise ValueError(f"{source!r} is not an SNS source")
    provider = source.provider or source.key
    verdict = decide(
        sign_in_methods, provider, source_key=source.key, can_unlink=source.supports(Action.UNLINK)
    )
    warn_if_sign_in_unknown(verdict, source.key)
    if not verdict.allowed:
        raise WithdrawalRefused(verdict)

    user_id = user_id_of(user)
    try:
        # A double click must not withdraw twice: the second waits, then finds nothing linked.
        serialize(session, f"ome_privacy:sns-withdraw:{user_id}:{source.key}")
        items = erased_items(source, user)
        if not items and not source.is_linked(user):
            raise NothingToWithdraw(source.key)
        summary = source.unlink(user)
        session.flush()
        if source.is_linked(user):
            raise SourceError(f"source {source.key!r} still reports a link after unlink()")
        reference = new_reference()
        receipt = SnsWithdrawal(
            reference=reference,
            user_id=user_id,
            source_key=source.key,
            provider=provider,
            erased=receipt_lines(items),
            summary=str(summary or "")[:2000],
            created_at=utcnow(),
        )
        session.add(receipt)
        session.flush()
        erased: Counter[str] = Counter()
        for item in items:
            erased[item.field] += item.count
        audit.append(
            session,
            AUDIT_ACTION,
            actor_id=user_id,
            actor_role="user",
            subject_user_id=user_id,
            data={"source": source.key, "reference": reference, "erased": dict(erased)},
        )
        notification = notify.add(
            session,
            user_id,
            NOTIFICATION_KIND,
            SUBJECT,
            body=BODY,
            params={"provider": provider, "reference": reference},
            link_endpoint=receipt_endpoint,
            link_values={"reference": reference} if receipt_endpoint else None,
        )
    except NothingToWithdraw:
        raise
    except Exception as exc:
        # A SourceError's message is free of personal data by contract; of anything else, only its type.
        detail = str(exc) if isinstance(exc, SourceError) else type(exc).__name__
        log.error("SNS withdrawal failed for source %r: %s", source.key, detail)
        raise WithdrawalFailed(source.key) from exc
    return Withdrawn(receipt=receipt, notification=notification)


def announce(app: Flask, user: Any, source: DataSource, withdrawn: Withdrawn) -> None:
    """After the caller committed: ``sns_withdrawn``, then ``notification_created``."""
    sns_withdrawn.send(app, user=user, source=source, withdrawal=withdrawn.receipt)
    notify.announce(withdrawn.notification, app)


def recent_receipts(session: Session, user_id: str, limit: int) -> list[SnsWithdrawal]:
    """The person's latest withdrawal receipts, newest first."""
    return list(
        session.scalars(
            sa.select(SnsWithdrawal)
            .where(SnsWithdrawal.user_id == str(user_id))
            .order_by(SnsWithdrawal.created_at.desc(), SnsWithdrawal.id.desc())
            .limit(limit)
        )
    )


def receipt_for(session: Session, user_id: str, reference: str) -> SnsWithdrawal | None:
    """The person's own receipt ``reference``; None for anyone else's (the page answers 404)."""
    return session.scalar(
        sa.select(SnsWithdrawal).where(
            SnsWithdrawal.reference == reference, SnsWithdrawal.user_id == str(user_id)
        )
    )
