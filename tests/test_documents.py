"""Identity and representation documents (policy Art. 4.5, 1.4, 4.4; SPEC "Rules from Japanese law").

What a requester must upload, what must be masked, when a seal certificate is too old; which
uploads are refused and what the person is told; how files are encrypted at rest, kept out of
ordinary queries, purged, and re-encrypted when the key changes. Test files are made here with
Pillow and pypdf, never committed.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import html
import io
import re
import struct
import time
import zlib
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from flask import jsonify, request
from flask_babel import force_locale
from helpers import base_config, extract_csrf_token
from PIL import Image
from pypdf import PdfWriter
from pypdf.actions import JavaScript
from pypdf.generic import ArrayObject, DictionaryObject, NameObject, NumberObject, TextStringObject

from flask_ome_privacy import documents, privacy_requests
from flask_ome_privacy.documents import checks, rules
from flask_ome_privacy.documents.rules import DocType, DocumentRole, IdentityChoice, Requester
from flask_ome_privacy.i18n import gettext
from flask_ome_privacy.models import PrivacyRequest, RequestDocument
from flask_ome_privacy.state import current_state

PACKAGE = Path(__file__).resolve().parent.parent / "flask_ome_privacy"
MB = 1024 * 1024


# --- files made for the tests ------------------------------------------------------------------


def jpeg(size: tuple[int, int] = (64, 48), *, exif: Image.Exif | None = None) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, "JPEG", **({"exif": exif} if exif else {}))
    return out.getvalue()


def png(size: tuple[int, int] = (64, 48), **params: Any) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (30, 30, 200)).save(out, "PNG", **params)
    return out.getvalue()


def exif_with_gps(camera: str = "CameraMarker-7Q") -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = camera  # Make
    gps = exif.get_ifd(0x8825)  # GPSInfo: a spot in Tokyo
    gps[1], gps[2], gps[3], gps[4] = "N", (35.0, 40.0, 52.0), "E", (139.0, 45.0, 36.0)
    return exif


def pdf(pages: int = 1, *, text_marker: bytes = b"", **build: Any) -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(595, 842)
    if build.get("javascript"):
        writer.add_open_action(JavaScript("app.alert('hello');"))
    if build.get("launch"):
        writer.root_object[NameObject("/OpenAction")] = DictionaryObject(
            {NameObject("/S"): NameObject("/Launch"), NameObject("/F"): TextStringObject("calc.exe")}
        )
    if build.get("link_script"):  # deep inside: an annotation on the page runs a script when clicked
        annotation = DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Annot"),
                NameObject("/Subtype"): NameObject("/Link"),
                NameObject("/Rect"): ArrayObject([NumberObject(n) for n in (10, 10, 100, 40)]),
                NameObject("/A"): DictionaryObject(
                    {NameObject("/S"): NameObject("/JavaScript"), NameObject("/JS"): TextStringObject("x()")}
                ),
            }
        )
        writer.add_annotation(page_number=0, annotation=annotation)
    if build.get("attachment"):
        writer.add_attachment("payload.exe", b"MZ...")
    if "password" in build:
        writer.encrypt(user_password=build["password"], owner_password="owner-secret")
    if text_marker:
        writer.add_metadata({"/Subject": text_marker.decode()})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def png_bomb(width: int = 12_000, height: int = 12_000) -> bytes:
    """A real PNG of width × height grey pixels (144 megapixels), about 140 KB compressed."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    compressor = zlib.compressobj(9)
    rows = b"\0" * ((width + 1) * 500)
    idat = b"".join(compressor.compress(rows) for _ in range(height // 500)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


ELF_EXECUTABLE = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00" + b"\x00" * 200
HTML_PAGE = b"<!DOCTYPE html><html><body><script>fetch('/steal')</script></body></html>"


class EndlessStream(io.RawIOBase):
    """``total`` bytes served on demand; fails the test if anyone asks for all of it at once."""

    def __init__(self, total: int) -> None:
        self.total, self.served = total, 0

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            raise AssertionError("the upload was read whole")
        size = min(size, self.total - self.served)
        self.served += size
        return b"\0" * size


# --- rules: the checklist ----------------------------------------------------------------------


def roles(items: list[rules.ChecklistItem]) -> list[DocumentRole]:
    return [item.role for item in items]


def test_the_person_uploads_one_identity_document_showing_name_and_address() -> None:
    items = rules.checklist(Requester.SELF)
    assert roles(items) == [DocumentRole.PERSON_IDENTITY]
    assert set(items[0].accepted) == {
        DocType.DRIVERS_LICENCE,
        DocType.MY_NUMBER_CARD,
        DocType.PASSPORT,
        DocType.HEALTH_INSURANCE_CARD,
        DocType.RESIDENCE_CARD,
    }
    assert "name and current address" in items[0].notes[0]


def test_a_minors_legal_representative_proves_authority_and_their_own_identity() -> None:
    items = rules.checklist("legal_representative_minor")
    assert roles(items) == [DocumentRole.AUTHORITY, DocumentRole.REPRESENTATIVE_IDENTITY]
    assert items[0].accepted == (DocType.FAMILY_REGISTER_EXTRACT, DocType.HEALTH_INSURANCE_DEPENDANT)
    assert "parent" in items[0].notes[0]


def test_an_adult_wards_legal_representative_shows_the_certificate_of_registered_matters() -> None:
    items = rules.checklist(Requester.LEGAL_REPRESENTATIVE_ADULT_WARD)
    assert roles(items) == [DocumentRole.AUTHORITY, DocumentRole.REPRESENTATIVE_IDENTITY]
    assert items[0].accepted == (DocType.REGISTERED_MATTERS_CERTIFICATE,)


def test_an_appointed_representative_brings_power_of_attorney_seal_certificate_and_own_id() -> None:
    items = rules.checklist(Requester.APPOINTED_REPRESENTATIVE)
    assert roles(items) == [
        DocumentRole.POWER_OF_ATTORNEY,
        DocumentRole.SEAL_CERTIFICATE,
        DocumentRole.REPRESENTATIVE_IDENTITY,
    ]
    seal = items[1]
    assert seal.needs_issue_date and seal.accepted == (DocType.SEAL_CERTIFICATE,)
    assert "three months" in seal.label
    assert not any(item.needs_issue_date for item in items if item is not seal)


def test_each_requester_maps_to_the_life_cycles_requester_type() -> None:
    assert [r.requester_type.value for r in Requester] == [
        "self",
        "legal_representative",
        "legal_representative",
        "appointed_representative",
    ]
    assert all(len(r.value) <= 32 for r in Requester)  # fits PrivacyRequest / RequestDocument columns
    assert all(len(t.value) <= 32 for t in DocType) and all(len(r.value) <= 32 for r in DocumentRole)


@pytest.mark.parametrize(
    ("issued_on", "needs_second"),
    [(date(2020, 2, 1), True), (date(2024, 6, 3), True), (None, True), (date(2020, 1, 31), False)],
)
def test_a_passport_issued_since_february_2020_needs_a_second_document_for_the_address(
    issued_on: date | None, needs_second: bool
) -> None:
    items = rules.checklist(
        Requester.SELF, {DocumentRole.PERSON_IDENTITY: IdentityChoice(DocType.PASSPORT, issued_on)}
    )
    if needs_second:
        assert roles(items) == [DocumentRole.PERSON_IDENTITY, DocumentRole.PERSON_ADDRESS]
        assert DocType.PASSPORT not in items[1].accepted  # the second document must show the address
        assert all(t.shows_address for t in items[1].accepted)
        assert "February 2020" in items[1].notes[0]
    else:
        assert roles(items) == [DocumentRole.PERSON_IDENTITY]


def test_a_representatives_new_passport_asks_for_the_representatives_address() -> None:
    items = rules.checklist(
        Requester.APPOINTED_REPRESENTATIVE,
        {"representative_identity": IdentityChoice(DocType.PASSPORT, date(2023, 5, 1))},
    )
    assert roles(items)[-2:] == [DocumentRole.REPRESENTATIVE_IDENTITY, DocumentRole.REPRESENTATIVE_ADDRESS]
    licence = rules.checklist(
        Requester.SELF, {DocumentRole.PERSON_IDENTITY: IdentityChoice(DocType.DRIVERS_LICENCE)}
    )
    assert roles(licence) == [DocumentRole.PERSON_IDENTITY]


def test_masking_says_what_to_cover_on_each_card() -> None:
    (health,) = rules.masking_instructions(DocType.HEALTH_INSURANCE_CARD)
    assert "insurer number" in health and "symbol and number" in health and "QR code" in health
    assert rules.masking_instructions("health_insurance_dependant") == (health,)
    (my_number,) = rules.masking_instructions(DocType.MY_NUMBER_CARD)
    assert "front only" in my_number and "Never upload the back" in my_number
    (licence,) = rules.masking_instructions(DocType.DRIVERS_LICENCE)
    assert "registered domicile" in licence
    assert rules.masking_instructions(DocType.PASSPORT) == ()


# --- rules: the seal registration certificate's three months -------------------------------------


@pytest.mark.parametrize(
    ("issued_on", "last_valid_day"),
    [
        (date(2026, 8, 25), date(2026, 11, 25)),
        (date(2026, 8, 31), date(2026, 11, 30)),  # November has no 31st
        (date(2026, 11, 30), date(2027, 2, 28)),  # nor February a 30th
        (date(2027, 11, 29), date(2028, 2, 29)),  # leap year
        (date(2026, 12, 31), date(2027, 3, 31)),
        (date(2026, 10, 15), date(2027, 1, 15)),  # across the year
    ],
)
def test_a_seal_certificate_counts_through_the_same_day_three_calendar_months_later(
    issued_on: date, last_valid_day: date
) -> None:
    assert rules.seal_certificate_valid_until(issued_on) == last_valid_day
    assert rules.check_seal_certificate(issued_on, last_valid_day) is None
    problem = rules.check_seal_certificate(issued_on, last_valid_day + timedelta(days=1))
    assert problem is not None and problem.code == "seal_too_old"
    assert problem.params["issued_on"] == issued_on


def test_issued_2026_08_25_is_valid_on_11_25_but_not_on_11_26() -> None:
    assert rules.check_seal_certificate(date(2026, 8, 25), date(2026, 11, 25)) is None
    problem = rules.check_seal_certificate(date(2026, 8, 25), date(2026, 11, 26))
    assert problem is not None
    assert problem.params == {"issued_on": date(2026, 8, 25), "earliest": date(2026, 8, 26)}


def test_the_earliest_acceptable_issue_date_matches_a_day_by_day_search() -> None:
    today = date(2026, 1, 1)
    while today < date(2028, 4, 1):  # two leap-year Februaries and every month end
        earliest = rules.earliest_valid_seal_issue_date(today)
        assert rules.check_seal_certificate(earliest, today) is None, today
        assert rules.check_seal_certificate(earliest - timedelta(days=1), today) is not None, today
        today += timedelta(days=1)


def test_a_seal_certificate_dated_in_the_future_or_without_a_date_is_refused() -> None:
    today = date(2026, 11, 25)
    assert rules.check_seal_certificate(date(2026, 11, 26), today).code == "seal_date_in_future"
    assert rules.check_seal_certificate(None, today).code == "seal_date_missing"
    assert rules.check_seal_certificate(today, today) is None  # issued today is fine


def test_too_old_is_said_with_both_dates_in_the_readers_language(app: Any) -> None:
    problem = rules.check_seal_certificate(date(2026, 7, 20), date(2026, 11, 25))  # four months ago
    with app.test_request_context():
        with force_locale("en"):
            english = documents.message_text(problem)
        with force_locale("ja"):
            japanese = documents.message_text(problem)
    assert "July 20, 2026" in english and "August 25, 2026" in english
    assert "three months" in english
    assert "2026年7月20日" in japanese and "2026年8月25日" in japanese
    assert "3か月" in japanese or "3ヶ月" in japanese or "三か月" in japanese


def every_message_id() -> list[str]:
    texts: list[str] = [
        *rules.REQUESTER_LABELS.values(),
        *rules.ROLE_LABELS.values(),
        *rules.DOC_TYPE_LABELS.values(),
        *(note for notes in rules._NOTES.values() for note in notes),
        *(note for notes in rules._AUTHORITY_NOTES.values() for note in notes),
        *(text for doc_type in DocType for text in rules.masking_instructions(doc_type)),
        rules.SEAL_TOO_OLD,
        rules.SEAL_IN_FUTURE,
        rules.SEAL_MISSING_DATE,
        checks.EMPTY,
        checks.TOO_LARGE,
        checks.UNSUPPORTED,
        checks.BROKEN_IMAGE,
        checks.IMAGE_TOO_LARGE,
        checks.BROKEN_PDF,
        checks.ENCRYPTED_PDF,
        checks.ACTIVE_PDF,
        checks.POLYGLOT,
    ]
    return sorted(set(texts))


def test_every_label_and_message_has_a_japanese_translation(app: Any) -> None:
    with app.test_request_context(), force_locale("ja"):
        untranslated = [text for text in every_message_id() if gettext(text) == text]
    assert not untranslated


def test_the_rules_and_the_content_checks_import_no_flask() -> None:
    for name in ("rules.py", "checks.py"):
        tree = ast.parse((PACKAGE / "documents" / name).read_text(encoding="utf-8"))
        imported: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                imported.add((node.module or "").split(".")[0])
        assert not imported & {"flask", "flask_babel", "sqlalchemy", "werkzeug"}, name


# --- content checks ------------------------------------------------------------------------------


def clean(data: bytes, max_bytes: int = 10 * MB) -> checks.CleanDocument:
    return checks.clean_upload(data, max_bytes=max_bytes)


def refusal(data: Any, max_bytes: int = 10 * MB) -> checks.UploadRefused:
    with pytest.raises(checks.UploadRefused) as caught:
        checks.clean_upload(data, max_bytes=max_bytes)
    return caught.value


def test_a_photo_loses_its_exif_and_gps_position_when_cleaned() -> None:
    original = jpeg(exif=exif_with_gps())
    assert b"CameraMarker-7Q" in original
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(0x8825)  # the position is there
    document = clean(original)
    assert document.content_type == "image/jpeg"
    assert b"CameraMarker-7Q" not in document.data and b"Exif" not in document.data
    with Image.open(io.BytesIO(document.data)) as cleaned:
        assert cleaned.size == (64, 48)
        assert not cleaned.getexif() and not cleaned.getexif().get_ifd(0x8825)
        assert "exif" not in cleaned.info
        assert cleaned.getpixel((10, 10))[0] > 150  # still the red picture


def test_a_png_loses_its_exif_and_text_chunks_when_cleaned() -> None:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Comment", "Home: 1-2-3 Ome, Tokyo")
    original = png(exif=exif_with_gps(), pnginfo=info)
    document = clean(original)
    assert document.content_type == "image/png"
    assert b"Ome, Tokyo" not in document.data and b"eXIf" not in document.data
    assert b"CameraMarker-7Q" not in document.data
    with Image.open(io.BytesIO(document.data)) as cleaned:
        assert cleaned.size == (64, 48) and not cleaned.getexif() and "Comment" not in cleaned.info


def test_a_sideways_phone_photo_comes_out_upright_without_its_orientation_tag() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to view
    document = clean(jpeg((60, 40), exif=exif))
    with Image.open(io.BytesIO(document.data)) as cleaned:
        assert cleaned.size == (40, 60)
        assert 0x0112 not in cleaned.getexif()


def encoded(mode: str, fmt: str, **params: Any) -> bytes:
    out = io.BytesIO()
    Image.new(mode, (30, 20)).save(out, fmt, **params)
    return out.getvalue()


@pytest.mark.parametrize(
    ("name", "data", "content_type"),
    [
        ("a palette PNG with transparency", encoded("P", "PNG", transparency=0), "image/png"),
        ("a 16-bit greyscale scan", encoded("I;16", "PNG"), "image/png"),
        ("a black-and-white scan", encoded("1", "PNG"), "image/png"),
        (
            "an animated PNG",
            encoded("RGB", "PNG", save_all=True, append_images=[Image.new("RGB", (30, 20), "red")]),
            "image/png",
        ),
        ("a CMYK JPEG from a print shop", encoded("CMYK", "JPEG"), "image/jpeg"),
        ("a progressive greyscale JPEG", encoded("L", "JPEG", progressive=True), "image/jpeg"),
        (
            "a phone's multi-picture JPEG (MPO)",
            encoded("RGB", "MPO", save_all=True, append_images=[Image.new("RGB", (30, 20), "blue")]),
            "image/jpeg",
        ),
    ],
)
def test_ordinary_scans_and_photos_are_accepted(name: str, data: bytes, content_type: str) -> None:
    document = clean(data)
    assert document.content_type == content_type, name
    with Image.open(io.BytesIO(document.data)) as cleaned:
        assert cleaned.size == (30, 20) and getattr(cleaned, "n_frames", 1) == 1


def test_a_clean_pdf_is_accepted_as_uploaded_with_its_page_count() -> None:
    original = pdf(3)
    document = clean(original)
    assert (document.content_type, document.page_count) == ("application/pdf", 3)
    assert document.size == len(original)
    assert document.data == original
    assert document.sha256 == hashlib.sha256(original).hexdigest()


REFUSED_UPLOADS = [
    pytest.param("an executable named .pdf", ELF_EXECUTABLE, "unsupported_type"),
    pytest.param("a Windows program named .pdf", b"MZ\x90\x00" + b"\x00" * 200, "unsupported_type"),
    pytest.param("a web page named .png", HTML_PAGE, "unsupported_type"),
    pytest.param("an SVG named .png", b"<svg><script>x()</script></svg>", "unsupported_type"),
    pytest.param("a zero-byte file", b"", "empty"),
    pytest.param("a truncated JPEG", jpeg((400, 300))[:300], "broken_image"),
    pytest.param("a JPEG's first three bytes and nothing else", b"\xff\xd8\xff", "broken_image"),
    pytest.param("a JPEG signature and garbage", b"\xff\xd8\xff\xe0" + b"\x13" * 300, "broken_image"),
    pytest.param("a PNG signature and garbage", b"\x89PNG\r\n\x1a\n" + b"\x13" * 300, "broken_image"),
    pytest.param("a PDF header and garbage", b"%PDF-1.7\n" + b"\x13garbage" * 40, "broken_pdf"),
    pytest.param("a PDF cut in half", pdf(2)[:400], "broken_pdf"),
    pytest.param("a password-protected PDF", pdf(password="secret"), "encrypted_pdf"),
    pytest.param("an encrypted PDF that opens without a password", pdf(password=""), "encrypted_pdf"),
    pytest.param("a PDF that runs JavaScript when opened", pdf(javascript=True), "active_pdf"),
    pytest.param("a PDF that launches a program", pdf(launch=True), "active_pdf"),
    pytest.param("a PDF with a script behind a link on its page", pdf(link_script=True), "active_pdf"),
    pytest.param("a PDF with an attached file", pdf(attachment=True), "active_pdf"),
    pytest.param("a PDF that is also a web page", pdf() + b"\n" + HTML_PAGE, "polyglot"),
    pytest.param("a script in a PDF comment", b"%PDF-1.4\n%<script>x()</script>" + pdf()[8:], "polyglot"),
    pytest.param("a PDF behind a byte-order mark", b"\xef\xbb\xbf" + pdf(), "polyglot"),
]


@pytest.mark.parametrize(("name", "data", "code"), REFUSED_UPLOADS)
def test_an_upload_that_is_not_a_clean_pdf_jpeg_or_png_is_refused(name: str, data: bytes, code: str) -> None:
    assert refusal(data).code == code, name


def test_a_decompression_bomb_is_refused_before_it_is_decoded() -> None:
    bomb = png_bomb()
    assert len(bomb) < MB  # small on disk, 144 megapixels once decoded
    started = time.perf_counter()
    refused = refusal(bomb)
    assert refused.code == "image_too_large"
    assert refused.params == {"limit": "89"}
    assert time.perf_counter() - started < 1.0  # decoding 144 megapixels would take far longer


def test_a_bomb_is_refused_even_when_the_host_switched_pillows_limit_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    assert refusal(png_bomb()).code == "image_too_large"


def test_an_oversized_upload_is_refused_after_reading_just_past_the_limit() -> None:
    stream = EndlessStream(total=2 * 1024 * MB)  # 2 GB that nobody should read
    refused = refusal(stream, max_bytes=1 * MB)
    assert refused.code == "too_large" and refused.params == {"limit": "1 MB"}
    assert stream.served == 1 * MB + 1


def test_a_file_exactly_at_the_limit_is_accepted_and_one_byte_more_is_not() -> None:
    data = png()
    assert clean(data, max_bytes=len(data)).content_type == "image/png"
    assert refusal(data, max_bytes=len(data) - 1).code == "too_large"


def test_every_refusal_the_module_can_give_is_tested_here() -> None:
    tested = {case.values[2] for case in REFUSED_UPLOADS} | {"too_large", "image_too_large"}
    assert tested == set(checks.REFUSAL_CODES)


# --- through a real upload: names and Content-Types lie, the limit comes from the config --------


@pytest.fixture
def upload_app(app: Any) -> Any:
    """The example site with a bare upload endpoint that runs the checks on the posted file."""
    from example_app.extensions import csrf

    def upload() -> Any:
        try:
            document = documents.check_upload(request.files["file"].stream)
        except documents.UploadRefused as refused:
            return jsonify(code=refused.code, message=documents.message_text(refused)), 400
        return jsonify(content_type=document.content_type, size=document.size)

    csrf.exempt(upload)
    app.add_url_rule("/_test/upload", "test_upload", upload, methods=["POST"])
    app.config["OME_PRIVACY_MAX_UPLOAD_BYTES"] = 2 * MB
    return app


def post_file(app: Any, data: bytes, filename: str, content_type: str, language: str = "en") -> Any:
    client = app.test_client()
    return client.post(
        "/_test/upload",
        data={"file": (io.BytesIO(data), filename, content_type)},
        content_type="multipart/form-data",
        headers={"Accept-Language": language},
    )


@pytest.mark.parametrize(
    ("data", "filename", "content_type", "code"),
    [
        (ELF_EXECUTABLE, "licence.pdf", "application/pdf", "unsupported_type"),
        (HTML_PAGE, "passport.png", "image/png", "unsupported_type"),
        (b"", "card.jpg", "image/jpeg", "empty"),
        (b"\0" * (3 * MB), "scan.pdf", "application/pdf", "too_large"),
        (pdf(javascript=True), "id.pdf", "application/pdf", "active_pdf"),
    ],
)
def test_the_browsers_name_and_type_change_nothing_and_the_refusal_is_said_in_japanese(
    upload_app: Any, data: bytes, filename: str, content_type: str, code: str
) -> None:
    response = post_file(upload_app, data, filename, content_type, language="ja")
    assert response.status_code == 400
    assert response.json["code"] == code
    message = response.json["message"]
    assert "PDF" in message and any("\u3040" <= ch <= "\u30ff" for ch in message)  # Japanese kana
    english = post_file(upload_app, data, filename, content_type, language="en").json["message"]
    assert "PDF" in english and ("JPEG" in english or "PNG" in english)
    if code == "too_large":
        assert "2 MB" in message and "2 MB" in english


def test_a_real_photo_uploaded_as_octet_stream_with_no_extension_is_accepted(upload_app: Any) -> None:
    response = post_file(upload_app, jpeg(exif=exif_with_gps()), "IMG_0001", "application/octet-stream")
    assert response.status_code == 200
    assert response.json["content_type"] == "image/jpeg"


def test_every_refused_upload_is_said_on_the_wizards_page_in_both_languages_and_nothing_is_kept(
    seeded_app: Any, login: Any, db: Any
) -> None:
    """Each file of ``REFUSED_UPLOADS`` (and a decompression bomb), uploaded as a driver's licence
    named .pdf or .png with the matching type: 400, the refusal's own message on the page, and no
    document stored. (An upload over the limit is refused on the page too: test_request_wizard.)"""
    client = seeded_app.test_client()
    login(client, "alice@example.com")

    def post(url: str, data: dict[str, Any], language: str = "en", **kwargs: Any) -> Any:
        token = extract_csrf_token(client.get(url).get_data(as_text=True))
        headers = {"Accept-Language": language}
        return client.post(url, data={"csrf_token": token, **data}, headers=headers, **kwargs)

    started = post("/account/privacy/requests/new", {"kinds": ["delete"]})
    wizard = started.location.rsplit("/", 1)[0]
    post(f"{wizard}/data", {})
    post(f"{wizard}/who", {"requester": "self"})
    cases = [(case.values[0], case.values[1]) for case in REFUSED_UPLOADS]
    cases.append(("a decompression bomb", png_bomb()))
    problems = []
    for name, data in cases:
        refused = refusal(data)
        for language in ("en", "ja"):
            filename = "licence.png" if b"PNG" in data[:8] or b"<" in data[:2] else "licence.pdf"
            kind = "image/png" if filename.endswith(".png") else "application/pdf"
            response = post(
                f"{wizard}/documents",
                {
                    "doc_type-person_identity": "drivers_licence",
                    "action": "upload:person_identity",
                    "file-person_identity": (io.BytesIO(data), filename, kind),
                },
                language,
                content_type="multipart/form-data",
            )
            with seeded_app.test_request_context(headers={"Accept-Language": language}):
                expected = documents.message_text(refused)
            page = html.unescape(re.sub(r"\s+", " ", response.get_data(as_text=True)))
            if response.status_code != 400 or " ".join(expected.split()) not in page:
                problems.append(f"{name} ({language}): {response.status_code}, not on the page: {expected!r}")
    assert not problems, "\n".join(problems)
    with seeded_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(RequestDocument.id))) == 0


# --- storage: encrypted at rest, deferred, purged -------------------------------------------------


def new_request(session: Any, reference: str = "REF-TEST-0001") -> PrivacyRequest:
    """A submitted request, made the way the request pages make one (``privacy_requests.submit``)."""
    state = current_state()
    privacy_request = privacy_requests.submit(state, user_id="1", kind="disclose", reference=reference)
    session.flush()
    return privacy_request


MARKER = b"PLAINTEXTMARKER4d1f"


def stored_pdf(session: Any, request_id: int, **kwargs: Any) -> RequestDocument:
    document = clean(pdf(text_marker=MARKER))
    assert MARKER in document.data
    return documents.store(session, request_id, "person_identity", "passport", document, **kwargs)


def test_a_stored_document_is_encrypted_and_reads_back_for_staff(app: Any, db: Any) -> None:
    with app.app_context():
        privacy_request = new_request(db.session)
        row = stored_pdf(db.session, privacy_request.id)
        db.session.commit()
        row_id, original_size = row.id, row.size
    with app.app_context():
        raw = db.session.execute(
            sa.select(
                RequestDocument.ciphertext,
                RequestDocument.size,
                RequestDocument.sha256,
                RequestDocument.content_type,
            ).where(RequestDocument.id == row_id)
        ).one()
        ciphertext = bytes(raw.ciphertext)
        assert MARKER not in ciphertext and b"%PDF" not in ciphertext
        assert raw.content_type == "application/pdf" and raw.size == original_size
        opened = documents.read(db.session, row_id)
    assert MARKER in opened.data and opened.data.startswith(b"%PDF-")
    assert opened.content_type == "application/pdf" and opened.extension == "pdf"
    assert hashlib.sha256(opened.data).hexdigest() == raw.sha256


def test_listing_a_request_and_its_documents_never_loads_the_encrypted_bytes(
    app: Any, db: Any, count_queries: Any
) -> None:
    with app.app_context():
        privacy_request = new_request(db.session)
        for _ in range(3):
            stored_pdf(db.session, privacy_request.id)
        db.session.commit()
        request_id = privacy_request.id
    with app.app_context():
        with count_queries() as queries:
            loaded = db.session.get(PrivacyRequest, request_id)
            listed = [(d.doc_type, d.size, d.content_type, d.purged_at) for d in loaded.documents]
        assert len(listed) == 3
        assert queries.count == 2, str(queries)
        assert not any("ciphertext" in sql for sql in queries.statements), str(queries)
        with count_queries() as reading:
            documents.read(db.session, loaded.documents[0].id)
        assert any("ciphertext" in sql for sql in reading.statements)  # the check above can fail


def test_purging_removes_the_file_and_keeps_the_record(app: Any, db: Any) -> None:
    with app.app_context():
        privacy_request = new_request(db.session)
        first = stored_pdf(db.session, privacy_request.id)
        second = stored_pdf(db.session, privacy_request.id)
        db.session.commit()
        ids = (first.id, second.id)
        when = datetime(2026, 12, 24, 3, 0, tzinfo=timezone.utc)
        assert documents.purge(db.session, ids[0], now=when) is True
        assert documents.purge(db.session, ids[0]) is False  # already gone
        assert documents.purge_request(db.session, privacy_request.id, now=when) == 1
        db.session.commit()
    with app.app_context():
        rows = db.session.execute(
            sa.select(RequestDocument.id, RequestDocument.purged_at, RequestDocument.doc_type).order_by(
                RequestDocument.id
            )
        ).all()
        assert [(r.id, r.purged_at, r.doc_type) for r in rows] == [(i, when, "passport") for i in ids]
        left = db.session.scalar(
            sa.select(sa.func.count()).select_from(RequestDocument).where(RequestDocument.ciphertext.is_not(None))
        )
        assert left == 0
        with pytest.raises(documents.DocumentPurged):
            documents.read(db.session, ids[0])
        with pytest.raises(LookupError):
            documents.read(db.session, 999_999)


def test_storing_and_purging_join_the_callers_transaction_and_never_read_the_bytes(
    app: Any, db: Any, count_queries: Any
) -> None:
    with app.app_context():
        privacy_request = new_request(db.session)
        db.session.commit()
        request_id = privacy_request.id
        stored_pdf(db.session, request_id)
        db.session.rollback()  # the caller changed its mind: nothing was committed
        assert db.session.scalar(sa.select(sa.func.count()).select_from(RequestDocument)) == 0
        document_id = stored_pdf(db.session, request_id).id
        db.session.commit()
        with count_queries() as queries:
            assert documents.purge_request(db.session, request_id) == 1
        assert [sql.split()[0] for sql in queries.statements] == ["UPDATE"], str(queries)
        db.session.rollback()
        assert documents.read(db.session, document_id).data.startswith(b"%PDF-")  # the purge was undone


def test_store_refuses_a_document_type_the_role_does_not_accept_and_a_seal_without_date(
    app: Any, db: Any
) -> None:
    with app.app_context():
        privacy_request = new_request(db.session)
        document = clean(png())
        with pytest.raises(ValueError, match="not accepted"):
            documents.store(db.session, privacy_request.id, "person_identity", "power_of_attorney", document)
        with pytest.raises(ValueError, match="issue date"):
            documents.store(db.session, privacy_request.id, "seal_certificate", "seal_certificate", document)
        seal = documents.store(
            db.session,
            privacy_request.id,
            DocumentRole.SEAL_CERTIFICATE,
            DocType.SEAL_CERTIFICATE,
            document,
            issued_on=date(2026, 9, 1),
        )
        assert seal.issued_on == date(2026, 9, 1)
        db.session.rollback()


def test_a_tampered_file_is_not_served(app: Any, db: Any) -> None:
    with app.app_context():
        privacy_request = new_request(db.session)
        row_id = stored_pdf(db.session, privacy_request.id).id
        token = db.session.scalar(sa.select(RequestDocument.ciphertext).where(RequestDocument.id == row_id))
        forged = bytearray(token)
        forged[-5] = ord("A") if forged[-5] != ord("A") else ord("B")
        db.session.execute(
            sa.update(RequestDocument).where(RequestDocument.id == row_id).values(ciphertext=bytes(forged))
        )
        with pytest.raises(documents.DocumentKeyError):
            documents.read(db.session, row_id)
        db.session.rollback()


def test_no_key_configured_is_a_clear_error_and_a_bad_key_is_not_echoed(app: Any) -> None:
    with pytest.raises(documents.DocumentKeyError, match="OME_PRIVACY_DOCUMENT_KEYS") as caught:
        documents.DocumentCipher(None)
    assert "Fernet.generate_key" in str(caught.value)
    with pytest.raises(documents.DocumentKeyError, match="key number 2") as bad:
        documents.DocumentCipher([Fernet.generate_key().decode(), "not-a-key-SECRETISH"])
    assert "SECRETISH" not in str(bad.value)
    app.config["OME_PRIVACY_DOCUMENT_KEYS"] = " , "
    with app.app_context(), pytest.raises(documents.DocumentKeyError, match="No document encryption key"):
        documents.cipher_for()


def test_keys_can_be_given_as_a_list_or_a_comma_separated_string() -> None:
    new, old = Fernet.generate_key(), Fernet.generate_key()
    token = Fernet(old).encrypt(b"x")
    for keys in (f"{new.decode()}, {old.decode()}", [new.decode(), old], (new, old)):
        cipher = documents.DocumentCipher(keys)
        assert cipher.key_count == 2 and cipher.decrypt(token) == b"x"
        assert not cipher.is_newest(token) and cipher.is_newest(cipher.rotate(token))


# --- key rotation, end to end with the CLI on the real database ---------------------------------


@contextlib.contextmanager
def site_with_keys(database_url: str, keys: str | None) -> Iterator[Any]:
    """Another instance of the example site on the test database, with its own document keys."""
    import example_app
    from example_app.models import db

    config = base_config(database_url, "")
    config["OME_PRIVACY_DOCUMENT_KEYS"] = keys
    site = example_app.create_app(config)
    try:
        yield site
    finally:
        with site.app_context():
            db.session.remove()
            db.engine.dispose()


def rotate(site: Any) -> Any:
    return site.test_cli_runner().invoke(args=["ome-privacy", "rotate-document-keys", "--batch-size", "2"])


def test_rotating_the_document_keys_with_the_cli(app: Any, db: Any, database_url: str) -> None:
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    with site_with_keys(database_url, old_key) as old_site, old_site.app_context():
        privacy_request = new_request(db.session)
        ids = [stored_pdf(db.session, privacy_request.id).id for _ in range(5)]
        documents.purge(db.session, ids[-1])
        db.session.commit()

    with site_with_keys(database_url, f"{new_key},{old_key}") as both:
        result = rotate(both)
        assert result.exit_code == 0, result.output
        assert "Re-encrypted 4 document(s) with the newest key; 0 already used it; 1 purged" in result.output
        assert "older key(s) can now be removed" in result.output
        again = rotate(both)
        assert "Re-encrypted 0 document(s) with the newest key; 4 already used it; 1 purged" in again.output
        with both.app_context():
            audit = db.session.execute(
                sa.text("SELECT data FROM ome_privacy_audit_events WHERE action = 'documents.keys_rotated'")
            ).scalars()
            assert len(list(audit)) == 2

    with site_with_keys(database_url, new_key) as new_only, new_only.app_context():
        for doc_id in ids[:-1]:
            assert MARKER in documents.read(db.session, doc_id).data
    with (
        site_with_keys(database_url, old_key) as old_only,
        old_only.app_context(),
        pytest.raises(documents.DocumentKeyError, match="No configured document key"),
    ):
        documents.read(db.session, ids[0])


def test_rotation_reports_files_no_configured_key_opens(app: Any, db: Any, database_url: str) -> None:
    lost_key, key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    with site_with_keys(database_url, lost_key) as lost, lost.app_context():
        privacy_request = new_request(db.session)
        lost_id = stored_pdf(db.session, privacy_request.id).id
        db.session.commit()
    with site_with_keys(database_url, key) as site:
        result = rotate(site)
    assert result.exit_code == 1
    assert f"1 document(s) could not be opened with any configured key (ids {lost_id})" in result.output


def test_rotation_without_a_key_says_how_to_make_one(app: Any, database_url: str) -> None:
    with site_with_keys(database_url, None) as site:
        result = rotate(site)
    assert result.exit_code == 1
    assert "No document encryption key is configured" in result.output
    assert "Fernet.generate_key()" in result.output
