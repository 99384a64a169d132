"""Requests the browser tests start from, made the way the wizard leaves them.

The wizard has its own browser tests; the staff-side flows begin one step later, with a
submitted request and a photo of the requester's licence already stored (checked and
encrypted like an upload).
"""

from __future__ import annotations

import io
from typing import Any

import sqlalchemy as sa
from PIL import Image

from flask_ome_privacy import documents, privacy_requests
from flask_ome_privacy.lifecycle import Status
from flask_ome_privacy.state import get_state


def alices_disclosure(
    app: Any, sources: list[str], *, method: str | None = None, status: Status | None = None
) -> tuple[str, int]:
    """Alice's disclosure request of ``sources`` with her licence; the reference and document id.

    ``method`` ("electronic" or "paper") as chosen in the wizard; ``status`` moves it on from
    ``submitted`` (e.g. to identity review) as the desk would.
    """
    from example_app.models import User, db

    out = io.BytesIO()
    Image.new("RGB", (60, 40), (40, 90, 160)).save(out, "PNG")
    with app.app_context():
        alice = db.session.scalar(sa.select(User.id).where(User.email == "alice@example.com"))
        state = get_state(app)
        request = privacy_requests.submit(
            state, user_id=str(alice), kind="disclose", scope={"sources": sources}
        )
        if method:
            request.disclosure_method = method
        document = documents.store(
            state.session,
            request.id,
            "person_identity",
            "drivers_licence",
            documents.check_upload(out.getvalue(), app),
        )
        if status:
            privacy_requests.move(state.session, request, status, actor_id=None, actor_role="system")
        state.session.commit()
        return request.reference, document.id
