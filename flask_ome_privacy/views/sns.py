"""SNS connections (``/account/privacy/sns``): what each linked SNS supplied, and withdrawing it.

Thin: the guard and the withdrawal itself live in ``withdrawal.py``, the recent-sign-in
check in ``reauth.py``. Only the signed-in person's own links and receipts are reachable.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from .. import reauth
from ..config import config_value
from ..forms import SnsWithdrawForm
from ..i18n import gettext as _
from ..i18n import translate
from ..models import SnsWithdrawal
from ..sources import Action, DataSource, Origin, Record
from ..state import current_privacy
from ..withdrawal import (
    Decision,
    NothingToWithdraw,
    WithdrawalFailed,
    WithdrawalRefused,
    decide,
    warn_if_sign_in_unknown,
    withdraw,
)
from .common import current_user_id

#: How many past receipts the SNS page lists.
RECENT_RECEIPTS = 20


@dataclass
class HeldItem:
    """One field as the page shows it: its label and every value held, with when obtained."""

    field: str
    label: str
    values: list[Record] = field(default_factory=list)


@dataclass
class SnsConnection:
    source: DataSource
    provider: str
    linked: bool
    since: datetime | None
    items: list[HeldItem]
    decision: Decision

    @property
    def count(self) -> int:
        return sum(len(item.values) for item in self.items)

    @property
    def holds_anything(self) -> bool:
        return self.linked or bool(self.items)


def _held_items(source: DataSource, records: Iterable[Record]) -> list[HeldItem]:
    by_field: dict[str, HeldItem] = {}
    for record in records:
        item = by_field.get(record.field)
        if item is None:
            declared = source.field(record.field)
            item = by_field[record.field] = HeldItem(
                record.field, declared.label if declared else record.field
            )
        item.values.append(record)
    order = {f.name: i for i, f in enumerate(source.fields)}
    return sorted(by_field.values(), key=lambda i: (order.get(i.field, len(order)), i.field))


def _decision(source: DataSource, methods: set[str]) -> Decision:
    return decide(
        methods,
        source.provider or source.key,
        source_key=source.key,
        can_unlink=source.supports(Action.UNLINK),
    )


def _connection(source: DataSource, methods: set[str]) -> SnsConnection:
    items = _held_items(source, source.collect(current_user))
    stamps = [r.obtained_at for item in items for r in item.values if r.obtained_at is not None]
    return SnsConnection(
        source=source,
        provider=source.provider or translate(source.label),
        linked=bool(source.is_linked(current_user)),
        since=min(stamps) if stamps else None,
        items=items,
        decision=_decision(source, methods),
    )


def _sns_source_or_404(source_key: str) -> DataSource:
    source = current_privacy().sources.get(source_key)
    if source is None or source.origin is not Origin.SNS:
        abort(404)
    return source


def sign_in_settings_url() -> str | None:
    """Where the host lets people set a password (``OME_PRIVACY_SIGN_IN_SETTINGS_URL``), if it says."""
    target = config_value("SIGN_IN_SETTINGS_URL")
    if not target:
        return None
    if target.startswith(("/", "http://", "https://")):
        return str(target)
    return url_for(target)


def _render_refusal(connection: SnsConnection, status: int) -> tuple[str, int]:
    return (
        render_template(
            "ome_privacy/account/sns_confirm.html",
            connection=connection,
            form=None,
            ome_sign_in_settings_url=sign_in_settings_url(),
        ),
        status,
    )


# --- views -------------------------------------------------------------------------------------


def sns() -> str:
    privacy = current_privacy()
    sources = privacy.sources.sns()
    methods = privacy.sign_in_methods(current_user) if sources else set()
    connections = [_connection(source, methods) for source in sources]
    receipts = privacy.session.scalars(
        sa.select(SnsWithdrawal)
        .where(SnsWithdrawal.user_id == current_user_id())
        .order_by(SnsWithdrawal.created_at.desc(), SnsWithdrawal.id.desc())
        .limit(RECENT_RECEIPTS)
    ).all()
    return render_template(
        "ome_privacy/account/sns.html",
        connections=connections,
        receipts=receipts,
        ome_sign_in_settings_url=sign_in_settings_url(),
    )


def sns_withdraw(source_key: str) -> Response | str | tuple[str, int]:
    """GET: what will be erased, and the confirm form. POST: withdraw (after the same checks)."""
    source = _sns_source_or_404(source_key)
    privacy = current_privacy()
    connection = _connection(source, privacy.sign_in_methods(current_user))
    here = url_for(".sns_withdraw", source_key=source.key)

    # 1. The guard: on the POST as on the page, before asking anyone to sign in again.
    if not connection.decision.allowed:
        warn_if_sign_in_unknown(connection.decision, source.key)
        return _render_refusal(connection, 200 if request.method == "GET" else 409)
    # 2. Nothing to withdraw (never linked, or withdrawn already): say so, no error page.
    if not connection.holds_anything:
        flash(
            _(
                "%(provider)s is not linked to your account, so there is nothing to withdraw. "
                "If you withdrew it earlier, its receipt is listed on this page.",
                provider=connection.provider,
            ),
            "ome_privacy",
        )
        return redirect(url_for(".sns"), code=303)
    # 3. A recent sign-in; afterwards the person comes back to this confirm page.
    sign_in_again = reauth.require_recent(next_url=here)
    if sign_in_again is not None:
        return sign_in_again

    form = SnsWithdrawForm()
    status = 200
    failed = False
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                receipt = withdraw(
                    current_user._get_current_object(),
                    source,
                    sign_in_methods=privacy.sign_in_methods(current_user),
                    receipt_link=lambda ref: url_for(".sns_receipt", reference=ref),
                )
            except WithdrawalRefused as refused:  # sign-in methods changed in between
                connection.decision = refused.decision
                return _render_refusal(connection, 409)
            except NothingToWithdraw:
                flash(_("%(provider)s was already withdrawn.", provider=connection.provider), "ome_privacy")
                return redirect(url_for(".sns"), code=303)
            except WithdrawalFailed:
                failed = True
                status = 503
                connection = _connection(source, privacy.sign_in_methods(current_user))
            else:
                flash(
                    _(
                        "%(provider)s was unlinked and the data it supplied was erased. "
                        "Your receipt is below.",
                        provider=connection.provider,
                    ),
                    "ome_privacy",
                )
                return redirect(url_for(".sns_receipt", reference=receipt.reference), code=303)
        else:
            status = 400
    return (
        render_template(
            "ome_privacy/account/sns_confirm.html",
            connection=connection,
            form=form,
            failed=failed,
            reauth_seconds=config_value("REAUTH_SECONDS"),
        ),
        status,
    )


def sns_receipt(reference: str) -> str:
    receipt = current_privacy().session.scalar(
        sa.select(SnsWithdrawal).where(
            SnsWithdrawal.reference == reference, SnsWithdrawal.user_id == current_user_id()
        )
    )
    if receipt is None:
        abort(404)
    source = current_privacy().sources.get(receipt.source_key)
    return render_template(
        "ome_privacy/account/sns_receipt.html",
        receipt=receipt,
        source=source,
        total=sum(int(item.get("count", 0)) for item in receipt.erased or []),
    )


def register(bp: Any) -> None:
    """Add the SNS routes to the account blueprint."""
    bp.add_url_rule("/sns", "sns", sns)
    bp.add_url_rule("/sns/<source_key>/withdraw", "sns_withdraw", sns_withdraw, methods=["GET", "POST"])
    bp.add_url_rule("/sns/withdrawals/<reference>", "sns_receipt", sns_receipt)


__all__ = ["register"]
