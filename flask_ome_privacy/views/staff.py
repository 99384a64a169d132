"""Staff pages (``/admin/privacy``): the request queue. Only whoever the host calls staff."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from ..config import config_value
from ..privacy_requests import queue_page
from ..state import current_privacy
from .common import make_blueprint, require_staff
from .staff_decide import register_decide_routes

#: Rows per queue page: a desk works the top of the queue, and a page must stay fast at any size.
QUEUE_PAGE_SIZE = 50


def build_staff_blueprint() -> Blueprint:
    bp = make_blueprint("ome_privacy_staff", personal=True, guard=require_staff)
    bp.add_url_rule("/", "queue", queue)
    register_decide_routes(bp)
    return bp


def queue() -> str:
    page = request.args.get("page", 1, type=int) or 1
    result = queue_page(current_privacy().session, page, page_size=QUEUE_PAGE_SIZE)
    return render_template(
        "ome_privacy/staff/queue.html",
        rows=result.rows,
        total=result.total,
        page=result.page,
        pages=result.pages,
        response_days=config_value("RESPONSE_DAYS"),
    )
