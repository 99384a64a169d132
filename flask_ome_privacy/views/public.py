"""The public purposes page (``/privacy/purposes``): no sign-in, what APPI Art. 32(1) says to publish."""

from __future__ import annotations

from flask import Blueprint, render_template

from ..extension import current_privacy
from ..lifecycle import FEE_KINDS, RequestKind
from .common import make_blueprint


def build_public_blueprint() -> Blueprint:
    bp = make_blueprint("ome_privacy_public", personal=False)
    bp.add_url_rule("/purposes", "purposes", purposes)
    return bp


def purposes() -> str:
    register = current_privacy().purposes
    return render_template(
        "ome_privacy/public/purposes.html",
        categories=[(category, register.for_category(category.key)) for category in register],
        changes=register.published_changes(),
        categories_by_key=register.categories,
        kinds=list(RequestKind),
        fee_kinds=FEE_KINDS,
    )
