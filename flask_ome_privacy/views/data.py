"""The data page (``/account/privacy/data``) and the export (``/account/privacy/data/export``).

Thin: ``holdings`` gathers what is held, ``export`` writes it out; these views only add
HTTP — who is asking, the page limit, streaming, download headers and the audit event.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from functools import partial
from typing import Any

from flask import Response, abort, render_template, stream_with_context
from flask_babel import get_locale
from flask_login import current_user

from .. import audit, export, holdings
from ..config import config_value
from ..sources import Action
from ..state import current_privacy, current_state
from ..withdrawal import decide
from .common import current_user_id, optional_url

TEMPLATE = "ome_privacy/account/data.html"
EXPORT_TEMPLATE = "ome_privacy/account/data_export.html"


def data_page() -> str:
    """Reads ``OME_PRIVACY_DATA_PAGE_LIMIT`` and ``OME_PRIVACY_PROCESSORS``."""
    state = current_state()
    limit = int(config_value("DATA_PAGE_LIMIT"))
    held = holdings.gather(state, current_user._get_current_object(), limit=limit)
    return render_template(
        TEMPLATE,
        holdings=held,
        limit=limit,
        categories=state.purposes.categories,
        sns_url=optional_url("ome_privacy_account.sns"),
        purposes_url=optional_url("ome_privacy_account.purposes"),
        withdrawable=_withdrawable_sources(current_privacy()),
    )


def _withdrawable_sources(privacy: Any) -> set[str]:
    """Keys of the SNS sources the withdrawal guard lets this person unlink right now, so the
    page offers "Unlink" only where it will not be refused (``withdrawal.decide`` decides)."""
    sources = privacy.sources.sns()
    if not sources:
        return set()
    methods = privacy.sign_in_methods(current_user)
    return {
        source.key
        for source in sources
        if decide(
            methods,
            source.provider or source.key,
            source_key=source.key,
            can_unlink=source.supports(Action.UNLINK),
        ).allowed
    }


def export_page() -> str:
    """CSV links only for the sources that hold something (a header-only file helps nobody)."""
    privacy = current_privacy()
    user = current_user._get_current_object()
    reads = [(source, partial(source.count, user)) for source in privacy.sources]
    read = holdings.read_each_safely(privacy.session, reads)
    counts: dict[str, int | None] = {
        source.key: count for source, count in zip(privacy.sources, read, strict=True)
    }
    return render_template(
        EXPORT_TEMPLATE,
        # None: the source could not be read just now; offer its CSV anyway (it will say so).
        sources=[source for source in privacy.sources if counts[source.key] != 0],
        any_sources=bool(counts),
    )


def export_json() -> Response:
    """Reads ``OME_PRIVACY_EXPORT_BATCH_SIZE`` (and what ``export.write_json`` reads)."""
    now = datetime.now(timezone.utc)
    language = str(get_locale() or "ja")

    def write(user: Any) -> Iterator[str]:
        return export.write_json(current_state(), user, generated_at=now, language=language)

    return _download(
        _as_current_user(write, {"format": "json"}),
        "application/json",
        export.filename(now.date(), extension="json"),
    )


def export_csv(source_key: str) -> Response:
    source = current_privacy().sources.get(source_key)
    if source is None:
        abort(404)
    now = datetime.now(timezone.utc)
    batch_size = int(config_value("EXPORT_BATCH_SIZE"))
    language = str(get_locale() or "ja")

    def write(user: Any) -> Iterator[str]:
        return export.write_csv(source, user, language=language, batch_size=batch_size)

    return _download(
        _as_current_user(write, {"format": "csv", "source": source.key}),
        "text/csv",
        export.filename(now.date(), source.key, extension="csv"),
    )


def _as_current_user(write: Callable[[Any], Iterator[str]], audit_data: dict[str, str]) -> Iterator[str]:
    """Audit the export, then run ``write(user)``, when the response body starts to stream.

    Only a body that is sent is an export: a ``HEAD`` (or a client gone before the body)
    never starts the stream, so it leaves no ``data.exported`` event. The body is produced
    after the view has returned and its database session has been closed, so the user object
    the view saw is detached; the signed-in user is loaded again, by id, in the session the
    stream runs in.
    """
    user_id = current_user_id()

    def body() -> Iterator[str]:
        user = current_privacy().load_user(user_id)
        if user is None:  # the account went away between the request and its body
            return
        _record_export(user_id, audit_data)
        yield from write(user)

    return body()


def _record_export(user_id: str, data: dict[str, str]) -> None:
    """Audit ``data.exported`` (ids and codes only) and commit it before the first byte goes out."""
    privacy = current_privacy()
    audit.append(
        privacy.session,
        "data.exported",
        actor_id=user_id,
        actor_role="user",
        subject_user_id=user_id,
        data=data,
    )
    privacy.session.commit()


def _download(body: Iterator[str], mimetype: str, name: str) -> Response:
    response = Response(stream_with_context(body), mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
