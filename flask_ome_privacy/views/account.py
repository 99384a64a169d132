"""The signed-in privacy center (``/account/privacy``)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, render_template
from flask_login import current_user

from .. import notify
from ..consents import pending_asks
from ..holdings import read_safely
from ..lifecycle import CLOSED_STATUSES, Status
from ..models import PrivacyRequest
from ..state import current_privacy
from . import consents, data
from . import notifications as notifications_views
from . import sns as sns_views
from .common import current_user_id, make_blueprint, require_signed_in


def build_account_blueprint() -> Blueprint:
    bp = make_blueprint("ome_privacy_account", personal=True, guard=require_signed_in)
    bp.add_url_rule("/", "overview", overview)
    bp.add_url_rule("/data", "data", data.data_page)
    bp.add_url_rule("/data/export", "data_export", data.export_page)
    bp.add_url_rule("/data/export.json", "data_export_json", data.export_json)
    bp.add_url_rule("/data/export/<source_key>.csv", "data_export_csv", data.export_csv)
    bp.add_url_rule("/purposes", "purposes", consents.purposes)
    bp.add_url_rule("/purposes/<purpose_key>/decision", "purpose_decision", consents.decide, methods=["POST"])
    sns_views.register(bp)  # /sns, /sns/<key>/withdraw, /sns/withdrawals/<reference>
    notifications_views.register(bp)  # /notifications, /notifications/<id>/read, /notifications/read-all
    return bp


def overview() -> str:
    privacy = current_privacy()
    session = privacy.session
    user_id = current_user_id()
    user = current_user._get_current_object()
    sources = [
        {
            "source": source,
            # None: the source failed; the page says it could not be read just now.
            "count": read_safely(session, source, lambda source=source: source.count(user)),
            "category": privacy.purposes.categories.get(source.category),
        }
        for source in privacy.sources
    ]
    open_requests = session.scalars(
        sa.select(PrivacyRequest)
        .where(
            PrivacyRequest.user_id == user_id,
            PrivacyRequest.status.not_in([s.value for s in CLOSED_STATUSES]),
        )
        .order_by(PrivacyRequest.received_at.desc())
    ).all()
    unread = notify.unread_count(session, user_id)
    return render_template(
        "ome_privacy/account/overview.html",
        sources=sources,
        open_requests=open_requests,
        consent_asks=pending_asks(session, privacy.purposes, user_id),  # one query
        unread_notifications=unread or 0,
        Status=Status,
    )
