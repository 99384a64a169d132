"""SNS connections (``/account/privacy/sns``): what each linked SNS supplied, and withdrawing it.

Thin: the guard and the withdrawal itself live in ``withdrawal.py``, the recent-sign-in
check in ``reauth.py``. Only the signed-in person's own links and receipts are reachable.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from .. import reauth
from ..config import config_value
from ..forms import SnsWithdrawForm
from ..holdings import HeldField
from ..i18n import gettext as _
from ..i18n import translate
from ..sources import Action, DataSource, Origin
from ..state import current_privacy
from ..withdrawal import (
    NothingToWithdraw,
    WithdrawalFailed,
    WithdrawalRefused,
    WithdrawalVerdict,
    announce,
    decide,
    erased_items,
    receipt_for,
    recent_receipts,
    warn_if_sign_in_unknown,
    withdraw,
)
from .common import current_user_id, reference_or_404

#: How many past receipts the SNS page lists.
RECENT_RECEIPTS = 20


@dataclass
class SnsConnection:
    source: DataSource
    provider: str
    linked: bool
    since: datetime | None
    items: list[HeldField]
    decision: WithdrawalVerdict

    @property
    def count(self) -> int:
        return sum(item.count for item in self.items)

    @property
    def holds_anything(self) -> bool:
        return self.linked or bool(self.items)


def _decision(source: DataSource, methods: set[str]) -> WithdrawalVerdict:
    return decide(
        methods,
        source.provider or source.key,
        source_key=source.key,
        can_unlink=source.supports(Action.UNLINK),
    )


def _connection(source: DataSource, methods: set[str]) -> SnsConnection:
    items = erased_items(source, current_user)
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
    receipts = recent_receipts(privacy.session, current_user_id(), RECENT_RECEIPTS)
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
            user = current_user._get_current_object()
            try:
                withdrawn = withdraw(
                    privacy.session, user, source, sign_in_methods=privacy.sign_in_methods(user)
                )
            except WithdrawalRefused as refused:  # sign-in methods changed in between
                privacy.session.rollback()
                connection.decision = refused.decision
                return _render_refusal(connection, 409)
            except NothingToWithdraw:
                privacy.session.rollback()
                flash(
                    _("%(provider)s was already unlinked and its data erased.", provider=connection.provider),
                    "ome_privacy",
                )
                return redirect(url_for(".sns"), code=303)
            except WithdrawalFailed:
                privacy.session.rollback()
                failed = True
                status = 503
                connection = _connection(source, privacy.sign_in_methods(current_user))
            else:
                privacy.session.commit()
                announce(privacy.state.app, user, source, withdrawn)
                receipt = withdrawn.receipt
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
    receipt = receipt_for(current_privacy().session, current_user_id(), reference_or_404(reference))
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
