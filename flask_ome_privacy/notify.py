"""In-app notifications: stored as message ids and parameters, translated when read.

A notification is written in the language of whoever reads it, when they read it: we
store the English message id (marked with ``N_`` so it reaches the catalogs) and its
parameters, never a translated sentence. Parameters must be JSON values and should be
ids, references and names of things (a provider, a request reference) — not the
person's personal data.

``add`` puts a notification in the caller's transaction; after the caller commits it
calls ``announce`` to send the ``notification_created`` signal. ``send`` does both.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import sqlalchemy as sa
from flask import Flask, url_for
from flask_babel import force_locale
from sqlalchemy.orm import Session
from werkzeug.routing import BuildError

from .i18n import gettext
from .models import Notification, utcnow
from .signals import notification_created
from .state import current_state

__all__ = [
    "add",
    "announce",
    "send",
    "unread_count",
    "page_of",
    "NotificationPage",
    "mark_read",
    "mark_all_read",
    "render_text",
    "link_url",
]

log = logging.getLogger(__name__)

PER_PAGE = 20
_SIMPLE = (str, int, float, bool, type(None))


def add(
    session: Session,
    user_id: str,
    kind: str,
    subject: str,
    *,
    body: str = "",
    params: Mapping[str, Any] | None = None,
    link: str | None = None,
    link_endpoint: str | None = None,
    link_values: Mapping[str, Any] | None = None,
    request_id: int | None = None,
) -> Notification:
    """Add a notification for ``user_id`` to the current transaction (the caller commits).

    ``subject`` and ``body`` are message ids (``N_("Your request %(reference)s was decided")``);
    ``params`` fill their ``%(name)s`` placeholders when the notification is displayed.
    Its link is ``link_endpoint`` with ``link_values`` (built into a URL when shown, so no
    request is needed here), or a plain ``link`` path.
    """
    if not kind or len(kind) > 32:
        raise ValueError("kind must be 1 to 32 characters")
    if not subject or len(subject) > 255:
        raise ValueError("subject must be a message id of 1 to 255 characters")
    values = dict(params or {})
    bad = sorted(k for k, v in values.items() if not isinstance(k, str) or not isinstance(v, _SIMPLE))
    if bad:
        raise TypeError(
            f"notification params must be strings, numbers or booleans: {', '.join(map(str, bad))}"
        )
    if link is not None and len(link) > 255:
        raise ValueError("link must be at most 255 characters")
    if link is not None and link_endpoint is not None:
        raise ValueError("give a link endpoint or a plain link, not both")
    if link_endpoint is not None and not 0 < len(link_endpoint) <= 128:
        raise ValueError("link_endpoint must be 1 to 128 characters")
    endpoint_values = dict(link_values or {})
    bad = sorted(
        k for k, v in endpoint_values.items() if not isinstance(k, str) or not isinstance(v, _SIMPLE)
    )
    if bad:
        raise TypeError(f"link values must be strings, numbers or booleans: {', '.join(map(str, bad))}")
    notification = Notification(
        user_id=str(user_id),
        kind=kind,
        subject=subject,
        body=body or "",
        params=values,
        link=link,
        link_endpoint=link_endpoint,
        link_values=endpoint_values if link_endpoint is not None else None,
        request_id=request_id,
        created_at=utcnow(),
    )
    session.add(notification)
    session.flush()
    return notification


def announce(notification: Notification, app: Flask | None = None) -> None:
    """Send ``notification_created`` for a committed notification."""
    sender = app if app is not None else current_state().app
    notification_created.send(sender, notification=notification)


def send(
    session: Session,
    user_id: str,
    kind: str,
    subject: str,
    *,
    body: str = "",
    params: Mapping[str, Any] | None = None,
    link: str | None = None,
    link_endpoint: str | None = None,
    link_values: Mapping[str, Any] | None = None,
    request_id: int | None = None,
) -> Notification:
    """``add``, commit, then ``announce``: a notification on its own (the one domain function
    here that commits, for a host that notifies outside any transaction of its own)."""
    notification = add(
        session,
        user_id,
        kind,
        subject,
        body=body,
        params=params,
        link=link,
        link_endpoint=link_endpoint,
        link_values=link_values,
        request_id=request_id,
    )
    session.commit()
    announce(notification)
    return notification


def unread_count(session: Session, user_id: str) -> int:
    """How many of ``user_id``'s notifications are unread (one COUNT query)."""
    return int(session.scalar(_unread_statement(), {"user_id": str(user_id)}) or 0)


@cache
def _unread_statement() -> sa.Select[Any]:
    """Built once: the overview asks it on every visit, and building costs more than running."""
    return sa.select(sa.func.count(Notification.id)).where(
        Notification.user_id == sa.bindparam("user_id"), Notification.read_at.is_(None)
    )


@dataclass(frozen=True)
class NotificationPage:
    items: list[Notification]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def page_of(session: Session, user_id: str, page: int = 1, per_page: int = PER_PAGE) -> NotificationPage:
    """One page of ``user_id``'s notifications, newest first (two queries, whatever the total)."""
    per_page = max(1, min(int(per_page), 100))
    total = int(
        session.scalar(sa.select(sa.func.count(Notification.id)).where(Notification.user_id == str(user_id)))
        or 0
    )
    pages = max(1, math.ceil(total / per_page))
    page = max(1, min(int(page), pages))
    items = list(
        session.scalars(
            sa.select(Notification)
            .where(Notification.user_id == str(user_id))
            .order_by(Notification.created_at.desc(), Notification.id.desc())
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
    )
    return NotificationPage(items=items, page=page, per_page=per_page, total=total)


def mark_read(session: Session, user_id: str, notification_id: int) -> bool:
    """Mark one of ``user_id``'s notifications read. False when it is not theirs (or unknown).

    Marking an already-read notification again is harmless and keeps the first time.
    """
    exists = session.scalar(
        sa.select(Notification.id).where(
            Notification.id == notification_id, Notification.user_id == str(user_id)
        )
    )
    if exists is None:
        return False
    session.execute(
        sa.update(Notification)
        .where(Notification.id == notification_id, Notification.read_at.is_(None))
        .values(read_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return True


def mark_all_read(session: Session, user_id: str) -> int:
    """Mark every unread notification of ``user_id`` read; returns how many changed."""
    result = session.execute(
        sa.update(Notification)
        .where(Notification.user_id == str(user_id), Notification.read_at.is_(None))
        .values(read_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def render_text(msgid: str, params: Mapping[str, Any] | None = None, *, language: str | None = None) -> str:
    """Translate a stored message id and fill in its parameters, in ``language`` (default:
    the current locale; a worker writing an email passes the reader's language).

    A stored message whose placeholders no longer match its parameters (the text changed
    after it was stored) is shown translated but unfilled rather than failing the page.
    """
    if not msgid:
        return ""
    if language is not None:
        with force_locale(language):
            return render_text(msgid, params)
    try:
        return str(gettext(msgid, **dict(params or {})))
    except (KeyError, ValueError, TypeError):
        log.warning("notification text does not match its parameters: %r", msgid)
        return str(gettext(msgid))


def link_url(notification: Notification) -> str | None:
    """Where the notification leads, built now from its endpoint (or its stored plain path).

    An endpoint this app no longer has gives no link rather than an error page.
    """
    if notification.link_endpoint:
        try:
            return url_for(notification.link_endpoint, **dict(notification.link_values or {}))
        except BuildError:
            log.warning("notification link endpoint is not registered: %r", notification.link_endpoint)
            return None
    return notification.link or None
