"""Identity and representation documents for rights requests (policy Art. 4.5, 1.4, 4.4).

Three parts, one concern each:

* ``rules`` — pure: the checklist per requester, accepted types, what to mask, the
  passport address rule, the seal certificate's three months;
* ``checks`` — the content checks of an upload (type by content, size while reading,
  Pillow re-encoding, pypdf inspection), no Flask;
* ``storage`` — encryption at rest, storing, reading for staff, purging, key rotation.

This module adds the two things that need the app: reading the upload limit from the
config (``check_upload``) and turning a ``Problem`` or ``UploadRefused`` into a sentence
in the current language.
"""

from __future__ import annotations

from datetime import date
from typing import IO, Any

from flask import Flask, current_app
from flask_babel import format_date

from ..config import config_value
from ..i18n import gettext
from .checks import ACCEPTED_CONTENT_TYPES, CleanDocument, UploadRefused, clean_upload
from .rules import (
    ChecklistItem,
    DocType,
    DocumentRole,
    IdentityChoice,
    Problem,
    Requester,
    accepted_types,
    check_seal_certificate,
    checklist,
    masking_instructions,
    passport_lacks_address,
    seal_certificate_valid_until,
)
from .storage import (
    DecryptedDocument,
    DocumentCipher,
    DocumentIntegrityError,
    DocumentKeyError,
    DocumentPurged,
    RotationReport,
    cipher_for,
    purge,
    purge_request,
    read,
    rotate_keys,
    store,
)

__all__ = [
    "ACCEPTED_CONTENT_TYPES",
    "ChecklistItem",
    "CleanDocument",
    "DecryptedDocument",
    "DocType",
    "DocumentCipher",
    "DocumentIntegrityError",
    "DocumentKeyError",
    "DocumentPurged",
    "DocumentRole",
    "IdentityChoice",
    "Problem",
    "Requester",
    "RotationReport",
    "UploadRefused",
    "accepted_types",
    "check_seal_certificate",
    "check_upload",
    "checklist",
    "cipher_for",
    "clean_upload",
    "masking_instructions",
    "message_text",
    "passport_lacks_address",
    "purge",
    "purge_request",
    "read",
    "rotate_keys",
    "seal_certificate_valid_until",
    "store",
]


def check_upload(stream: IO[bytes] | bytes, app: Flask | None = None) -> CleanDocument:
    """``clean_upload`` with the limit ``OME_PRIVACY_MAX_UPLOAD_BYTES`` of ``app`` (or the current app)."""
    return clean_upload(stream, max_bytes=int(config_value("MAX_UPLOAD_BYTES", app or current_app)))


def message_text(problem: Problem | UploadRefused) -> str:
    """The problem in the current language, dates written the way the reader writes them."""
    params: dict[str, Any] = {
        name: format_date(value, "long") if isinstance(value, date) else value
        for name, value in problem.params.items()
    }
    return str(gettext(problem.message, **params))
