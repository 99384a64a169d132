"""Signals the host can subscribe to (blinker), sent with the app as sender.

Every signal is sent *after* the change it announces has been committed, so a receiver
that reads the database sees it, and a receiver that fails cannot undo it.

``sns_withdrawn(app, user=..., source=..., withdrawal=...)``
    A person unlinked an SNS account and its data was erased (``withdrawal`` is the
    ``SnsWithdrawal`` receipt: reference, source key, field names and counts — no values).
    Typical use: revoke the provider's token, send a confirmation email.

``notification_created(app, notification=...)``
    An in-app notification was stored for a person (``notification.user_id``).
    Typical use: also send it by email or push.

``request_submitted(app, user=..., requests=...)``
    A person submitted rights requests through the request wizard (``requests``: the new
    ``PrivacyRequest`` rows, one per kind, sharing one set of documents).
    Typical use: alert the privacy desk.

Example::

    from flask_ome_privacy.signals import sns_withdrawn

    @sns_withdrawn.connect_via(app)
    def revoke_token(app, user, source, withdrawal, **extra):
        facebook_api.revoke(user)
"""

from __future__ import annotations

from blinker import Namespace

__all__ = ["namespace", "sns_withdrawn", "notification_created", "request_submitted"]

namespace = Namespace()

sns_withdrawn = namespace.signal(
    "ome-privacy-sns-withdrawn",
    doc="An SNS account was unlinked and its data erased; kwargs: user, source, withdrawal.",
)
notification_created = namespace.signal(
    "ome-privacy-notification-created",
    doc="An in-app notification was stored; kwargs: notification.",
)
request_submitted = namespace.signal(
    "ome-privacy-request-submitted",
    doc="Rights requests were submitted through the wizard; kwargs: user, requests.",
)
