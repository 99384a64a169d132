"""Staff pages (``/admin/privacy``): the request queue. Only whoever the host calls staff."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, render_template, request

from ..config import config_value
from ..lifecycle import CLOSED_STATUSES, Clock, RequestKind, Status
from ..models import PrivacyRequest, utcnow
from ..state import current_privacy
from .common import make_blueprint, require_staff

#: Rows per queue page: a desk works the top of the queue, and a page must stay fast at any size.
QUEUE_PAGE_SIZE = 50


def build_staff_blueprint() -> Blueprint:
    bp = make_blueprint("ome_privacy_staff", personal=True, guard=require_staff)
    bp.add_url_rule("/", "queue", queue)
    return bp


def queue() -> str:
    session = current_privacy().session
    page = max(1, request.args.get("page", 1, type=int) or 1)
    is_open = PrivacyRequest.status.not_in([s.value for s in CLOSED_STATUSES])
    total = session.scalar(sa.select(sa.func.count(PrivacyRequest.id)).where(is_open)) or 0
    pages = max(1, -(-total // QUEUE_PAGE_SIZE))
    page = min(page, pages)
    requests = session.scalars(
        sa.select(PrivacyRequest)
        .where(is_open)
        .order_by(PrivacyRequest.due_at, PrivacyRequest.id)
        .limit(QUEUE_PAGE_SIZE)
        .offset((page - 1) * QUEUE_PAGE_SIZE)
    ).all()
    now = utcnow()
    rows = [
        {
            "request": r,
            "kind": RequestKind(r.kind),
            "status": Status(r.status),
            "days_left": Clock(r.received_at, r.target_days, r.paused_seconds, r.paused_since).days_left(now),
        }
        for r in requests
    ]
    return render_template(
        "ome_privacy/staff/queue.html",
        rows=rows,
        total=total,
        page=page,
        pages=pages,
        response_days=config_value("RESPONSE_DAYS"),
    )
