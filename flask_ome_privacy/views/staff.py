"""Staff pages (``/admin/privacy``): the request queue. Only whoever the host calls staff."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, render_template

from ..config import config_value
from ..extension import current_privacy
from ..lifecycle import CLOSED_STATUSES, Clock, RequestKind, Status
from ..models import PrivacyRequest, utcnow
from .common import make_blueprint, require_staff


def build_staff_blueprint() -> Blueprint:
    bp = make_blueprint("ome_privacy_staff", personal=True, guard=require_staff)
    bp.add_url_rule("/", "queue", queue)
    return bp


def queue() -> str:
    session = current_privacy().session
    requests = session.scalars(
        sa.select(PrivacyRequest)
        .where(PrivacyRequest.status.not_in([s.value for s in CLOSED_STATUSES]))
        .order_by(PrivacyRequest.due_at, PrivacyRequest.id)
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
        "ome_privacy/staff/queue.html", rows=rows, response_days=config_value("RESPONSE_DAYS")
    )
