"""Notifications (``/account/privacy/notifications``): the person's in-app notices, newest first.

Texts are stored as message ids and translated here, in the reader's language
(``notify.render_text``). Marking read is a POST with CSRF; nothing is marked read just
by being looked at.
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from .. import notify
from ..forms import ConfirmForm
from ..i18n import gettext as _
from ..i18n import ngettext
from ..state import current_privacy
from .common import ID, current_user_id


def _page_arg() -> int:
    try:
        return max(1, int(request.args.get("page", "1")))
    except ValueError:
        return 1


def _back(page: Any) -> str:
    try:
        page_number = max(1, int(page))
    except (TypeError, ValueError):
        page_number = 1
    if page_number == 1:
        return url_for(".notifications")
    return url_for(".notifications", page=page_number)


def notifications() -> str:
    session = current_privacy().session
    page = notify.page_of(session, current_user_id(), _page_arg())
    items = [
        {
            "notification": n,
            "subject": notify.render_text(n.subject, n.params),
            "body": notify.render_text(n.body, n.params),
            "link": notify.link_url(n),
            "unread": n.read_at is None,
        }
        for n in page.items
    ]
    return render_template(
        "ome_privacy/account/notifications.html",
        page=page,
        items=items,
        unread=notify.unread_count(session, current_user_id()),
        form=ConfirmForm(),
    )


def notification_read(notification_id: int) -> Response:
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    session = current_privacy().session
    if not notify.mark_read(session, current_user_id(), notification_id):
        abort(404)
    session.commit()
    flash(_("Marked as read."), "ome_privacy")
    return redirect(_back(request.form.get("page")), code=303)


def notifications_read_all() -> Response:
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    session = current_privacy().session
    changed = notify.mark_all_read(session, current_user_id())
    session.commit()
    if changed:
        flash(
            ngettext(
                "%(num)d notification marked as read.", "%(num)d notifications marked as read.", changed
            ),
            "ome_privacy",
        )
    else:
        flash(_("There were no unread notifications."), "ome_privacy")
    return redirect(_back(request.form.get("page")), code=303)


def register(bp: Any) -> None:
    """Add the notification routes to the account blueprint."""
    bp.add_url_rule("/notifications", "notifications", notifications)
    bp.add_url_rule(
        f"/notifications/<{ID}:notification_id>/read",
        "notification_read",
        notification_read,
        methods=["POST"],
    )
    bp.add_url_rule(
        "/notifications/read-all", "notifications_read_all", notifications_read_all, methods=["POST"]
    )


__all__ = ["register"]
