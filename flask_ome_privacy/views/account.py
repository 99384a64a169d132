"""The signed-in privacy center (``/account/privacy``)."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user

from .. import notify
from ..consents import pending_asks
from ..holdings import source_counts
from ..privacy_requests import open_requests_for
from ..state import current_state
from . import consents, data, my_requests, request_wizard
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
    request_wizard.register(bp)  # /requests/new, /requests/new/<draft>/<step>, /requests/submitted/<ref>
    my_requests.register(bp)  # /requests, /requests/<reference>, .../answer, .../withdraw
    return bp


def overview() -> str:
    state = current_state()
    user_id = current_user_id()
    return render_template(
        "ome_privacy/account/overview.html",
        # a count of None: the source failed; the page says it could not be read just now.
        sources=source_counts(state, current_user._get_current_object()),
        open_requests=open_requests_for(state.session, user_id),
        consent_asks=pending_asks(state.session, state.purposes, user_id),  # one query
        unread_notifications=notify.unread_count(state.session, user_id),
    )
