"""Identity documents at rest: encrypted, loaded only when asked for, purged to nothing.

Policy Art. 1.4 (safety measures) and Art. 4.4 (request data used only for the request):

* every file is encrypted with authenticated encryption (Fernet: AES-128-CBC and
  HMAC-SHA256) under ``OME_PRIVACY_DOCUMENT_KEYS``, newest key first. ``MultiFernet``
  decrypts with any listed key and encrypts with the first, so a new key is put in front,
  ``flask ome-privacy rotate-document-keys`` re-encrypts everything, and the old key is
  then dropped;
* ``RequestDocument.ciphertext`` is a deferred column: listing a request's documents
  never reads the encrypted bytes; ``read`` fetches them for one document;
* ``purge`` sets the bytes to NULL and stamps ``purged_at``: what stays is the record that
  a document of that type was received and checked.

Functions take a session and ids or objects, flush, and leave the commit to the caller.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import cast

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import Flask, current_app
from sqlalchemy.orm import Session

from ..config import config_value
from ..models import RequestDocument, utcnow
from .checks import CleanDocument
from .rules import DocType, DocumentRole, accepted_types

__all__ = [
    "DocumentCipher",
    "DocumentKeyError",
    "DocumentPurged",
    "DocumentIntegrityError",
    "DecryptedDocument",
    "RotationReport",
    "cipher_for",
    "store",
    "read",
    "purge",
    "purge_request",
    "rotate_keys",
]

GENERATE_KEY_HINT = (
    'generate one with: python -c "from cryptography.fernet import Fernet; '
    'print(Fernet.generate_key().decode())"'
)


class DocumentKeyError(RuntimeError):
    """No usable document key: none configured, a malformed one, or none that opens a file."""


class DocumentPurged(LookupError):
    """The document's file was purged; only its record remains."""


class DocumentIntegrityError(RuntimeError):
    """The decrypted file does not match the checksum recorded when it was stored."""


class DocumentCipher:
    """Fernet keys, newest first: encrypts with the first, decrypts with any of them."""

    def __init__(self, keys: str | bytes | Sequence[str | bytes] | None) -> None:
        if isinstance(keys, (str, bytes)):
            text = keys.decode() if isinstance(keys, bytes) else keys
            items: list[str | bytes] = [part.strip() for part in text.split(",")]
        else:
            items = [k.strip() if isinstance(k, str) else k for k in (keys or ())]
        items = [k for k in items if k]
        if not items:
            raise DocumentKeyError(
                "No document encryption key is configured: set OME_PRIVACY_DOCUMENT_KEYS to a Fernet "
                f"key (several, comma-separated, newest first, while rotating); {GENERATE_KEY_HINT}"
            )
        fernets = []
        for number, key in enumerate(items, 1):
            try:
                fernets.append(Fernet(key))
            except (ValueError, TypeError):
                # The key itself is never echoed: it would end up in logs.
                raise DocumentKeyError(
                    f"OME_PRIVACY_DOCUMENT_KEYS: key number {number} is not a Fernet key "
                    f"(32 url-safe base64-encoded bytes); {GENERATE_KEY_HINT}"
                ) from None
        self._newest = fernets[0]
        self._all = MultiFernet(fernets)
        self.key_count = len(fernets)

    def encrypt(self, data: bytes) -> bytes:
        return self._all.encrypt(data)

    def decrypt(self, token: bytes) -> bytes:
        try:
            return self._all.decrypt(token)
        except InvalidToken:
            raise DocumentKeyError(
                "No configured document key opens this file: was a key removed from "
                "OME_PRIVACY_DOCUMENT_KEYS before rotate-document-keys ran?"
            ) from None

    def is_newest(self, token: bytes) -> bool:
        """Was ``token`` encrypted with the newest key?"""
        try:
            self._newest.decrypt(token)
        except InvalidToken:
            return False
        return True

    def rotate(self, token: bytes) -> bytes:
        """Re-encrypt ``token`` with the newest key (raises ``DocumentKeyError`` if unreadable)."""
        try:
            return self._all.rotate(token)
        except InvalidToken:
            raise DocumentKeyError("No configured document key opens this file.") from None


def cipher_for(app: Flask | None = None) -> DocumentCipher:
    """The cipher for ``OME_PRIVACY_DOCUMENT_KEYS`` of ``app`` (default: the current app)."""
    return DocumentCipher(config_value("DOCUMENT_KEYS", app or current_app))


# --- storing and reading ---------------------------------------------------------------------


def store(
    session: Session,
    request_id: int | None,
    role: DocumentRole | str,
    doc_type: DocType | str,
    document: CleanDocument,
    *,
    issued_on: date | None = None,
    cipher: DocumentCipher | None = None,
    draft_id: int | None = None,
) -> RequestDocument:
    """Encrypt a checked upload and add it to request ``request_id`` (flushed, not committed).

    In the request wizard, before the request exists, ``request_id`` is None and ``draft_id``
    names the draft; submitting moves the document to the request(s).

    ``issued_on`` is required for a seal registration certificate (checked beforehand
    with ``rules.check_seal_certificate``).
    """
    role, doc_type = DocumentRole(role), DocType(doc_type)
    if doc_type not in accepted_types(role):
        raise ValueError(f"a {doc_type.value} is not accepted as {role.value}")
    if role is DocumentRole.SEAL_CERTIFICATE and issued_on is None:
        raise ValueError("a seal registration certificate needs its issue date")
    cipher = cipher or cipher_for()
    if (request_id is None) == (draft_id is None):
        raise ValueError("a document belongs to a request or to a draft: give exactly one")
    row = RequestDocument(
        request_id=request_id,
        draft_id=draft_id,
        role=role.value,
        doc_type=doc_type.value,
        content_type=document.content_type,
        size=document.size,
        sha256=document.sha256,
        ciphertext=cipher.encrypt(document.data),
        issued_on=issued_on,
        uploaded_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return row


@dataclass(frozen=True)
class DecryptedDocument:
    """One document's file, decrypted for a staff member to view."""

    id: int
    data: bytes = field(repr=False)
    content_type: str
    doc_type: str

    @property
    def extension(self) -> str:
        return {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}.get(
            self.content_type, "bin"
        )


def read(session: Session, document_id: int, *, cipher: DocumentCipher | None = None) -> DecryptedDocument:
    """Decrypt one document (the only place its bytes are loaded). Callers check access.

    Raises ``LookupError`` for an unknown id, ``DocumentPurged`` once purged,
    ``DocumentKeyError`` when no configured key opens it, ``DocumentIntegrityError`` when
    the file differs from what was stored.
    """
    row = session.execute(
        sa.select(
            RequestDocument.ciphertext,
            RequestDocument.content_type,
            RequestDocument.doc_type,
            RequestDocument.sha256,
        ).where(RequestDocument.id == document_id)
    ).one_or_none()
    if row is None:
        raise LookupError(f"no document {document_id}")
    if row.ciphertext is None:
        raise DocumentPurged(f"document {document_id} was purged")
    data = (cipher or cipher_for()).decrypt(row.ciphertext)
    if hashlib.sha256(data).hexdigest() != row.sha256:
        raise DocumentIntegrityError(f"document {document_id} does not match its checksum")
    return DecryptedDocument(document_id, data, row.content_type, row.doc_type)


# --- purging ---------------------------------------------------------------------------------


def _purge_where(session: Session, condition: sa.ColumnElement[bool], now: datetime | None) -> int:
    result = session.execute(
        sa.update(RequestDocument)
        .where(condition, RequestDocument.purged_at.is_(None))
        .values(ciphertext=None, purged_at=now or utcnow())
    )
    return int(getattr(result, "rowcount", 0) or 0)


def purge(session: Session, document_id: int, *, now: datetime | None = None) -> bool:
    """Delete one document's file, keep its record; False if it was already purged."""
    return _purge_where(session, RequestDocument.id == document_id, now) == 1


def purge_request(session: Session, request_id: int, *, now: datetime | None = None) -> int:
    """Delete the files of every document of a request; returns how many were purged now."""
    return _purge_where(session, RequestDocument.request_id == request_id, now)


# --- key rotation ----------------------------------------------------------------------------


@dataclass
class RotationReport:
    """What ``rotate_keys`` did: counts, and the ids no configured key could open."""

    rotated: int = 0
    already_newest: int = 0
    purged: int = 0
    unreadable: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.unreadable


def rotate_keys(
    session: Session,
    cipher: DocumentCipher | None = None,
    *,
    batch_size: int = 100,
    after_batch: Callable[[], None] | None = None,
) -> RotationReport:
    """Re-encrypt every stored file with the newest key, ``batch_size`` files at a time.

    Only ids and encrypted bytes pass through the ORM-free statements, so memory stays at
    one batch whatever the number of documents. ``after_batch`` (the CLI passes
    ``session.commit``) makes long runs resumable: a second run only counts the files
    already re-encrypted. A file purged meanwhile is never written back.
    """
    cipher = cipher or cipher_for()
    table = cast(sa.Table, RequestDocument.__table__)
    report = RotationReport()
    report.purged = int(
        session.scalar(sa.select(sa.func.count()).select_from(table).where(table.c.ciphertext.is_(None))) or 0
    )
    last_id = 0
    while True:
        batch = session.execute(
            sa.select(table.c.id, table.c.ciphertext)
            .where(table.c.id > last_id, table.c.ciphertext.is_not(None))
            .order_by(table.c.id)
            .limit(batch_size)
        ).all()
        if not batch:
            break
        updates = []
        for doc_id, token in batch:
            last_id = doc_id
            if cipher.is_newest(token):
                report.already_newest += 1
                continue
            try:
                updates.append({"doc_id": doc_id, "token": cipher.rotate(token)})
            except DocumentKeyError:
                report.unreadable.append(doc_id)
        if updates:
            session.execute(
                table.update()
                .where(
                    table.c.id == sa.bindparam("doc_id"),
                    table.c.ciphertext.is_not(None),
                    table.c.purged_at.is_(None),
                )
                .values(ciphertext=sa.bindparam("token")),
                updates,
            )
            report.rotated += len(updates)
        session.flush()
        if after_batch is not None:
            after_batch()
    return report
