"""No document byte at rest unencrypted (issue 10, "Security tests"; policy Art. 4.5).

alice files a deletion request through the wizard with two identity documents that carry a
marker made for this run: a PDF with the marker in its page text and metadata, and a photo whose
EXIF (camera make, GPS) and PNG text chunk hold another. After she submits, every file the
database keeps on disk is read byte by byte:

* SQLite: the database file and its ``-wal``/``-journal`` companions;
* PostgreSQL: after a ``CHECKPOINT``, every file of the test database under
  ``data_directory/base/<oid>`` and the write-ahead log in ``pg_wal`` (read as root here and in
  CI; where they cannot be read the test fails under ``CI=true`` and skips elsewhere). Column
  compression is turned off for the run, so a plaintext copy could not hide compressed;

plus the app's instance folder and the temporary directory (files written during the test):
the places an upload could be spooled or kept. Neither marker may appear — raw, hex or base64 —
while the request's reference, which is stored in plain text, must be found: the scan sees
the data. The stored photo, decrypted, has no EXIF block, no GPS tag and no text chunk.
"""

from __future__ import annotations

import base64
import io
import os
import re
import secrets
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from helpers import extract_csrf_token, in_ci
from PIL import Image, PngImagePlugin
from pypdf import PdfReader, PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

from flask_ome_privacy import documents
from flask_ome_privacy.models import PrivacyRequest, RequestDocument

NEW = "/account/privacy/requests/new"
EN = {"Accept-Language": "en"}


# --- the documents ---------------------------------------------------------------------------------


def pdf_with_text(marker: str) -> bytes:
    """One page showing ``marker`` in Helvetica (an uncompressed content stream), and in the metadata."""
    writer = PdfWriter()
    page = writer.add_blank_page(595, 842)
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        }
    )
    page[NameObject("/Resources")] = DictionaryObject(
        {NameObject("/Font"): DictionaryObject({NameObject("/F1"): writer._add_object(font)})}
    )
    content = DecodedStreamObject()
    content.set_data(f"BT /F1 14 Tf 72 770 Td (Name: {marker}) Tj ET".encode())
    page[NameObject("/Contents")] = writer._add_object(content)
    writer.add_metadata({"/Title": f"Licence {marker}"})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def photo_with_exif(marker: str) -> bytes:
    """A PNG whose EXIF names the camera ``marker`` and a GPS position, with a text chunk too."""
    exif = Image.Exif()
    exif[0x010F] = marker  # Make
    exif[0x010E] = marker  # ImageDescription
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "N", (35.0, 40.0, 52.0), "E", (139.0, 45.0, 36.0)
    text = PngImagePlugin.PngInfo()
    text.add_text("Comment", marker)
    out = io.BytesIO()
    Image.new("RGB", (120, 80), (200, 30, 30)).save(out, "PNG", exif=exif, pnginfo=text)
    return out.getvalue()


def needles(marker: str) -> list[bytes]:
    """``marker`` as bytes, in UTF-16, hex, and base64 at each of the three alignments."""
    raw = marker.encode()
    found = [raw, marker.encode("utf-16-le"), raw.hex().encode()]
    for shift in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            encoded = encode(b"\0" * shift + raw)
            # Drop the characters that also depend on the bytes around the marker.
            found.append(encoded[(shift * 4 + 2) // 3 + 1 : -3])
    return found


# --- where the data lies on disk ------------------------------------------------------------------


def files_under(*folders: Path, since: float | None = None) -> Iterator[Path]:
    for folder in folders:
        if not folder.is_dir():
            continue
        for root, _dirs, names in os.walk(folder):
            for name in names:
                candidate = Path(root) / name
                try:
                    if candidate.is_file() and (since is None or candidate.stat().st_mtime >= since):
                        yield candidate
                except OSError:  # gone meanwhile
                    continue


def sqlite_files(engine: sa.Engine) -> list[Path]:
    database = Path(engine.url.database or "")
    companions = [database.with_name(database.name + suffix) for suffix in ("-wal", "-journal", "-shm")]
    return [database, *[c for c in companions if c.exists()]]


def postgres_files(engine: sa.Engine) -> list[Path]:
    """The database's own files and the WAL, after a checkpoint wrote every page out."""
    with engine.connect() as connection:
        connection.execute(sa.text("CHECKPOINT"))
        data_directory = Path(connection.execute(sa.text("SHOW data_directory")).scalar_one())
        oid = connection.execute(
            sa.text("SELECT oid FROM pg_database WHERE datname = current_database()")
        ).scalar_one()
    folders = [data_directory / "base" / str(oid), data_directory / "pg_wal"]
    try:
        listed = [p for p in files_under(*folders) if p.stat().st_size]
        for first in listed[:1]:
            first.open("rb").close()
    except OSError as exc:
        listed, problem = [], str(exc)
    else:
        problem = "" if listed else f"nothing readable under {folders[0]}"
    if problem:
        message = f"cannot read PostgreSQL's files ({problem}): run the tests as root beside the database"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return listed


def uncompressed_columns(engine: sa.Engine) -> None:
    """No TOAST compression for the run: a plaintext copy must show as it is."""
    with engine.begin() as connection:
        columns = connection.execute(
            sa.text(
                "SELECT quote_ident(table_name), quote_ident(column_name) FROM information_schema.columns "
                "WHERE table_schema = current_schema() "
                "AND data_type IN ('bytea', 'text', 'json', 'jsonb', 'character varying')"
            )
        ).all()
        for table, column in columns:
            connection.execute(sa.text(f"ALTER TABLE {table} ALTER COLUMN {column} SET STORAGE EXTERNAL"))


def hits(paths: list[Path], wanted: list[bytes]) -> list[str]:
    found = []
    for candidate in paths:
        try:
            data = candidate.read_bytes()
        except OSError:  # unreadable or gone: not ours
            continue
        found += [f"{candidate}: {needle!r}" for needle in wanted if needle in data]
    return found


# --- the test ----------------------------------------------------------------------------------------


@pytest.fixture
def marker() -> str:
    return f"PLAIN{secrets.token_hex(10).upper()}"


def test_no_document_byte_is_stored_unencrypted_and_the_photo_keeps_no_exif(
    seeded_app: Any, db: Any, login: Any, database_kind: str, marker: str
) -> None:
    started = time.time() - 1
    with seeded_app.app_context():
        engine = db.engine
    if database_kind == "postgresql":
        uncompressed_columns(engine)
    text_marker, photo_marker = f"{marker}T", f"{marker}X"
    pdf, photo = pdf_with_text(text_marker), photo_with_exif(photo_marker)
    assert text_marker.encode() in pdf and photo_marker.encode() in photo  # the needles are there to find
    assert text_marker in PdfReader(io.BytesIO(pdf)).pages[0].extract_text()

    client = seeded_app.test_client()
    login(client, "alice@example.com")

    def post(url: str, data: dict[str, Any], **kwargs: Any) -> Any:
        token = extract_csrf_token(client.get(url, headers=EN).get_data(as_text=True))
        return client.post(url, data={"csrf_token": token, **data}, headers=EN, **kwargs)

    started_at = post(NEW, {"kinds": ["delete"]})
    assert started_at.status_code == 303
    wizard = started_at.location.rsplit("/", 1)[0]
    assert post(f"{wizard}/data", {}).status_code == 303
    assert post(f"{wizard}/who", {"requester": "self"}).status_code == 303
    uploads = (("licence.pdf", pdf, "upload:person_identity"), ("photo.png", photo, "continue"))
    for name, data, action in uploads:
        response = post(
            f"{wizard}/documents",
            {
                "doc_type-person_identity": "drivers_licence",
                "action": action,
                "file-person_identity": (io.BytesIO(data), name),
            },
            content_type="multipart/form-data",
        )
        assert response.status_code in (200, 303), response.get_data(as_text=True)[:500]
    submitted = post(f"{wizard}/check", {"action": "submit"})
    assert submitted.status_code == 303, submitted.get_data(as_text=True)[:500]

    with seeded_app.app_context():
        request = db.session.scalars(sa.select(PrivacyRequest)).one()
        reference = request.reference
        query = sa.select(RequestDocument).where(RequestDocument.request_id == request.id)
        stored = list(db.session.scalars(query))
        assert sorted(d.content_type for d in stored) == ["application/pdf", "image/png"]
        ids = {d.content_type: d.id for d in stored}
    db_files = sqlite_files(engine) if database_kind == "sqlite" else postgres_files(engine)
    scanned = db_files + list(files_under(Path(seeded_app.instance_path), since=started))
    temporary = Path(tempfile.gettempdir())
    scanned += [p for p in temporary.iterdir() if p.is_file() and p.stat().st_mtime >= started]

    assert hits(db_files, [reference.encode()]), f"the scan does not see the stored data: {db_files}"
    leaks = hits(scanned, needles(text_marker) + needles(photo_marker))
    assert not leaks, "document bytes stored unencrypted:\n" + "\n".join(leaks)

    with seeded_app.app_context():
        opened = {kind: documents.read(db.session, document_id).data for kind, document_id in ids.items()}
    assert text_marker.encode() in opened["application/pdf"]  # decrypted, the PDF is as uploaded
    cleaned = opened["image/png"]
    assert photo_marker.encode() not in cleaned
    with Image.open(io.BytesIO(cleaned)) as image:
        assert image.size == (120, 80)
        assert not image.getexif(), dict(image.getexif())
        assert not image.getexif().get_ifd(0x8825)
        assert not {"exif", "Comment", "xmp", "icc_profile"} & set(image.info), image.info
    assert not re.search(rb"eXIf|tEXt|iTXt|zTXt", cleaned)
