"""Staff pages (``/admin/privacy``): the request queue and the desk. Only whoever the host calls staff."""

from __future__ import annotations

from flask import Blueprint

from . import staff_queue
from .common import make_blueprint, require_staff
from .staff_decide import register_decide_routes
from .staff_jobs import register_job_routes
from .staff_queue import queue, register_mailed
from .staff_request import register_request_pages
from .staff_trail import register_trail_routes

__all__ = ["build_staff_blueprint", "queue", "register_mailed"]


def build_staff_blueprint() -> Blueprint:
    bp = make_blueprint("ome_privacy_staff", personal=True, guard=require_staff)
    staff_queue.register(bp)
    register_request_pages(bp)
    register_trail_routes(bp)
    register_decide_routes(bp)
    register_job_routes(bp)
    return bp
