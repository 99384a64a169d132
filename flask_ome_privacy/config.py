"""Configuration: one table of defaults, applied with the ``OME_PRIVACY_`` prefix.

A typo in a key must fail loudly (a privacy setting silently ignored is worse than a
crash at start-up), so ``apply_defaults`` rejects any ``OME_PRIVACY_*`` key it does not
know, and ``config_value`` refuses to read one.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app

PREFIX = "OME_PRIVACY_"

#: Every setting the extension reads, without the prefix. README lists them all.
DEFAULT_CONFIG: dict[str, Any] = {
    # Layout and URLs
    "BASE_TEMPLATE": "ome_privacy/layout.html",
    "ACCOUNT_URL_PREFIX": "/account/privacy",
    "PUBLIC_URL_PREFIX": "/privacy",
    "STAFF_URL_PREFIX": "/admin/privacy",
    "REGISTER_BLUEPRINTS": True,
    # Where the host's sign-in page lives (endpoint name or URL), for re-authentication.
    "LOGIN_VIEW": None,
    # Where a person sets a password or adds a sign-in method (endpoint or URL); linked when an
    # SNS cannot be withdrawn because it is their only way to sign in. None: no link.
    "SIGN_IN_SETTINGS_URL": None,
    # Business details published on the public page (APPI Art. 32(1)) and every notice.
    "BUSINESS_NAME": "Crafters Inc.",
    "BUSINESS_ADDRESS": "",
    "BUSINESS_REPRESENTATIVE": "",
    "SERVICE_NAME": "WORLD OME NET",
    "CONTACT": {"name": "Inquiry Contact", "email": "", "postal_address": ""},
    "COMPLAINTS_CONTACT": "",
    # The privacy policy as published, per language, for /privacy/policy and every citation:
    # {"ja": "policy/ja.txt", "en": "policy/en.txt"} (a path relative to the app's folder, or
    # the text itself), or a callable language -> path/text/None. None: no policy page, and
    # citations ("Article 1.2") are plain text. See policy_text.py for the format.
    "POLICY_TEXT": None,
    # Purposes register: extra purposes added by the host (list of dicts), see purposes.py
    "PURPOSES": [],
    # Outsourced processors per category key (policy Art. 1.5): {"user_info": ["Mailer KK"]}
    "PROCESSORS": {},
    # Languages the pages are offered in; the first is the default.
    "LANGUAGES": ["ja", "en"],
    # Rights requests
    "FEE_YEN": 1000,
    "RESPONSE_DAYS": 14,
    "DEFICIENCY_ANSWER_DAYS": 14,
    "DOCUMENT_RETENTION_DAYS": 30,
    # An electronic disclosure package stays downloadable this many days after its release.
    "RESULT_DAYS": 30,
    # Four-eyes (decisions.needs_approval): delete, erase, stop using and stop provision wait for a
    # second staff member's approval before they are carried out.
    "FOUR_EYES": True,
    "MAX_UPLOAD_BYTES": 10 * 1024 * 1024,
    # The request wizard: unfinished drafts (and their documents) are deleted after this many days.
    "DRAFT_DAYS": 14,
    # At most this many requests per person per hour (each kind in a submission counts once).
    "REQUEST_LIMIT_PER_HOUR": 16,
    # How the fee may be paid (lifecycle.FeeMethod values), in the order the fee page lists them.
    "FEE_METHODS": ["registered_cash_mail", "postal_money_order"],
    # Fernet key(s) for identity documents at rest, newest first: a comma-separated string or a list.
    "DOCUMENT_KEYS": None,
    # Email (mail.py): off unless MAIL_HOST or MAIL_SENDER is set.
    "MAIL_HOST": None,
    "MAIL_PORT": 587,
    "MAIL_SECURITY": "starttls",  # starttls | ssl | none
    "MAIL_USERNAME": None,
    "MAIL_PASSWORD": None,  # nosec B105  # the key's empty default, not a password
    "MAIL_FROM": None,
    "MAIL_TIMEOUT": 10.0,
    # The host's own sender instead of SMTP: an object with send(message), a callable, or a dotted path.
    "MAIL_SENDER": None,
    # SNS withdrawal needs a sign-in no older than this many seconds.
    "REAUTH_SECONDS": 600,
    # Export streaming batch size
    "EXPORT_BATCH_SIZE": 1000,
    # Values shown per source on the data page; the rest are counted and offered as a download.
    "DATA_PAGE_LIMIT": 50,
    # Headers every privacy page sends unless the response (or the host) set them already.
    # A dict header -> value replaces this one; {} sends none (the host sends its own).
    "SECURITY_HEADERS": {
        "Content-Security-Policy": (
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
        ),
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
    },
    # HMAC key(s) for the audit trail, newest first (list, or comma-separated); kept out of the
    # database so that whoever can write the database cannot forge events. None: no HMAC.
    "AUDIT_KEYS": None,
    # Background jobs (jobs.py): "inline" runs them in the web process after commit; "rq" sends
    # them to an RQ queue on Redis, worked by `flask ome-privacy worker`.
    "JOBS": "inline",
    "REDIS_URL": None,
    "JOB_QUEUE": "ome-privacy",
    # Seconds before each retry of a failed job (RQ); after the last one it is recorded as failed.
    "JOB_RETRY_INTERVALS": [30, 120, 600],
    # Seconds a job may run before the worker stops it (RQ).
    "JOB_TIMEOUT": 1800,
}

#: Room for the other form fields and multipart framing on top of ``OME_PRIVACY_MAX_UPLOAD_BYTES``.
FORM_OVERHEAD_BYTES = 1024 * 1024


class ConfigError(KeyError):
    """An ``OME_PRIVACY_*`` key that the extension does not know."""

    def __str__(self) -> str:  # KeyError quotes its argument; we want a sentence.
        return str(self.args[0])


def apply_defaults(app: Flask) -> None:
    """Fill in defaults, reject unknown ``OME_PRIVACY_*`` keys, and set ``MAX_CONTENT_LENGTH``
    (``OME_PRIVACY_MAX_UPLOAD_BYTES`` plus room for the form) when the host has not."""
    unknown = sorted(
        key for key in app.config if key.startswith(PREFIX) and key[len(PREFIX) :] not in DEFAULT_CONFIG
    )
    if unknown:
        raise ConfigError(
            f"Unknown flask-ome-privacy setting(s): {', '.join(unknown)}. "
            f"Known settings: {', '.join(PREFIX + k for k in sorted(DEFAULT_CONFIG))}."
        )
    for key, value in DEFAULT_CONFIG.items():
        app.config.setdefault(PREFIX + key, value)
    # Refuse (413) a body larger than any form of ours could be, before it is parsed; a host
    # that chose its own limit keeps it.
    if app.config.get("MAX_CONTENT_LENGTH") is None:
        app.config["MAX_CONTENT_LENGTH"] = int(app.config[PREFIX + "MAX_UPLOAD_BYTES"]) + FORM_OVERHEAD_BYTES


def config_value(key: str, app: Flask | None = None) -> Any:
    """Read ``OME_PRIVACY_<key>`` from the given or current app."""
    if key not in DEFAULT_CONFIG:
        raise ConfigError(f"Unknown flask-ome-privacy setting: {PREFIX}{key}")
    app = app or current_app
    return app.config.get(PREFIX + key, DEFAULT_CONFIG[key])
