"""The account purposes page (``/account/privacy/purposes``): the Art. 2.1 table, the person's
consent decisions, and the consent asks they still have to answer (policy Art. 2.2(1)).

Thin: what to ask and what counts is decided in ``purposes.py`` and ``consents.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import abort, flash, redirect, render_template, url_for
from werkzeug.wrappers import Response

from ..config import config_value
from ..consents import StaleWordingError, consent_summary, record_decision
from ..forms import ConsentDecisionForm
from ..i18n import gettext as _
from ..i18n import translate
from ..purposes import Category, ConsentDecision, ConsentRule, Purpose, in_effect, purposes_table
from ..state import current_privacy
from .common import current_user_id


@dataclass(frozen=True)
class PurposeRow:
    """One purpose in the table, with what it means for the signed-in person."""

    purpose: Purpose
    rule: str
    in_effect: bool
    #: For consent purposes: the decision in force at the current wording, if any.
    decision: ConsentDecision | None = None

    @property
    def status(self) -> str:
        """baseline | published | upcoming | granted | declined | asked"""
        if self.rule == ConsentRule.NONE:
            return "baseline"
        if self.rule == ConsentRule.PUBLICATION:
            return "published" if self.in_effect else "upcoming"
        if self.decision is None:
            return "asked"
        return "granted" if self.decision.granted else "declined"


@dataclass(frozen=True)
class DecisionRow:
    """A decision in force, as the 'Your decisions' table shows it."""

    purpose_key: str
    decision: ConsentDecision
    purpose: Purpose | None  # None: the host no longer uses this purpose
    category: Category | None

    @property
    def current(self) -> bool:
        """Was it made on the current wording? (Otherwise the person is asked again.)"""
        return self.purpose is not None and self.purpose.version == self.decision.version


def purposes() -> str:
    privacy = current_privacy()
    register = privacy.purposes
    today = privacy.today()
    summary = consent_summary(privacy.session, register, current_user_id())
    processors = config_value("PROCESSORS")

    def current_decision(purpose: Purpose) -> ConsentDecision | None:
        decision = summary.decisions.get(purpose.key)
        return decision if decision is not None and decision.version == purpose.version else None

    categories = [
        {
            "category": row.category,
            "purposes": [
                PurposeRow(p, register.rule_for(p), in_effect(p, today), current_decision(p))
                for p in row.purposes
            ],
            "processors": row.processors,
        }
        for row in purposes_table(register, processors)
    ]
    decisions = []
    for key, decision in summary.decisions.items():
        purpose = register.purposes.get(key)
        category = register.categories.get(purpose.category) if purpose is not None else None
        decisions.append(DecisionRow(key, decision, purpose, category))
    decisions.sort(key=lambda row: (row.decision.decided_at, row.purpose_key), reverse=True)  # newest first
    return render_template(
        "ome_privacy/account/purposes.html",
        categories=categories,
        asks=summary.asks,
        decisions=decisions,
        form=ConsentDecisionForm(),
        today=today,
    )


def decide(purpose_key: str) -> Response:
    """POST: grant or decline one purpose, at the wording the person read. One transaction."""
    privacy = current_privacy()
    register = privacy.purposes
    purpose = register.purposes.get(purpose_key)
    if purpose is None or not register.needs_consent(purpose):
        abort(404)
    form = ConsentDecisionForm()
    if not form.validate_on_submit():
        abort(400)  # missing or bad CSRF token, or a tampered form: record nothing
    granted = form.decision.data == "grant"
    back = url_for(".purposes", _anchor=f"consent-{purpose.key}")
    try:
        record_decision(
            privacy.session,
            register,
            user_id=current_user_id(),
            purpose_key=purpose.key,
            granted=granted,
            version=form.version.data,
        )
    except StaleWordingError:
        privacy.session.rollback()
        flash(
            _(
                "The wording of this purpose changed while you were reading it. "
                "Please read the new wording and decide again."
            ),
            "ome_privacy_error",
        )
        return redirect(url_for(".purposes", _anchor="consent-asks"), 303)
    privacy.session.commit()
    text = translate(purpose.text)
    if granted:
        flash(_("You agreed to: %(purpose)s. You can change this at any time.", purpose=text), "ome_privacy")
    else:
        flash(
            _("You declined: %(purpose)s. Your data will not be used for it.", purpose=text),
            "ome_privacy",
        )
    return redirect(back, 303)
