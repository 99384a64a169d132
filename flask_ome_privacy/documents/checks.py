"""Content checks of an uploaded identity document: only clean PDF, JPEG and PNG get through.

A requester's upload is opened later by staff, so it is treated as hostile until proven
otherwise (policy Art. 1.4, safety measures):

* the type comes from the content (``filetype``), never from the name or the browser's
  Content-Type;
* the size limit is enforced while reading, in chunks, so an oversized upload is refused
  after at most ``limit + 1`` bytes;
* images are decoded by Pillow with a pixel limit (decompression bombs are refused before
  decoding) and re-encoded from their pixels, so EXIF, GPS positions and other metadata
  are gone;
* PDFs are parsed by pypdf and refused when encrypted, broken, or carrying JavaScript,
  launch actions or embedded files; files that are also a web page (PDF/HTML polyglots)
  are refused.

Every refusal is an ``UploadRefused`` with a stable ``code`` and a message id (``N_``)
saying what went wrong and what is accepted; the page shows it through gettext. No Flask
here: the caller passes the limit (``OME_PRIVACY_MAX_UPLOAD_BYTES``).
"""

from __future__ import annotations

import hashlib
import io
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO, Any

import filetype
from PIL import Image, ImageOps, UnidentifiedImageError
from pypdf import PdfReader
from pypdf.errors import PyPdfError
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, NameObject

from ..sources import N_

__all__ = [
    "ACCEPTED_CONTENT_TYPES",
    "CleanDocument",
    "UploadRefused",
    "clean_upload",
    "read_limited",
    "DEFAULT_MAX_PIXELS",
    "format_size",
    "REFUSAL_CODES",
]

PDF, JPEG, PNG = "application/pdf", "image/jpeg", "image/png"
ACCEPTED_CONTENT_TYPES = (PDF, JPEG, PNG)
CHUNK_SIZE = 64 * 1024
#: Pillow's own default warning limit (about 89 megapixels), applied whatever the host set
#: ``PIL.Image.MAX_IMAGE_PIXELS`` to: a phone photo is 12 to 50 megapixels.
DEFAULT_MAX_PIXELS = 1024 * 1024 * 1024 // 4 // 3
#: Objects visited when looking through a PDF for active content; more is refused.
MAX_PDF_OBJECTS = 200_000
JPEG_QUALITY = 92
#: Every ``UploadRefused.code`` raised here, for pages that map them to their own wording.
REFUSAL_CODES = (
    "empty",
    "too_large",
    "unsupported_type",
    "broken_image",
    "image_too_large",
    "broken_pdf",
    "encrypted_pdf",
    "active_pdf",
    "polyglot",
)

# --- what the person is told -----------------------------------------------------------------

EMPTY = N_("The file is empty. Please choose the PDF, JPEG or PNG file of your document again.")
TOO_LARGE = N_(
    "The file is larger than %(limit)s. Please upload a PDF, JPEG or PNG file of at most %(limit)s "
    "(a photo at a lower resolution is fine)."
)
UNSUPPORTED = N_(
    "This file is not a PDF, JPEG or PNG, whatever its name says. Please upload your document as "
    "a PDF, JPEG or PNG file."
)
BROKEN_IMAGE = N_(
    "The image could not be read: it may be damaged or incomplete. Please take the photo again and "
    "upload it as JPEG or PNG, or upload a PDF."
)
IMAGE_TOO_LARGE = N_(
    "The image has too many pixels: at most %(limit)s megapixels are accepted. Please upload a "
    "smaller JPEG or PNG, or a PDF."
)
BROKEN_PDF = N_(
    "The PDF could not be read: it may be damaged or incomplete. Please save or scan it again, or "
    "upload a JPEG or PNG photo of the document."
)
ENCRYPTED_PDF = N_(
    "The PDF is protected with a password or encryption. Please upload it without protection, or "
    "upload a JPEG or PNG photo of the document."
)
ACTIVE_PDF = N_(
    "The PDF contains scripts, actions that start programs, or attached files, which we do not "
    "accept. Please print it to a new PDF, or upload a JPEG or PNG photo of the document."
)
POLYGLOT = N_(
    "The file is a PDF that also contains web page code, which we do not accept. Please print it "
    "to a new PDF, or upload a JPEG or PNG photo of the document."
)


class UploadRefused(ValueError):
    """An upload we do not accept; ``message`` is a message id, ``params`` fill it in."""

    def __init__(self, code: str, message: str, params: Mapping[str, Any] | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.message = message
        self.params = dict(params or {})


@dataclass(frozen=True)
class CleanDocument:
    """An upload that passed every check, ready to be encrypted and stored."""

    data: bytes = field(repr=False)
    content_type: str
    page_count: int = 1

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def extension(self) -> str:
        return {PDF: "pdf", JPEG: "jpg", PNG: "png"}[self.content_type]


def format_size(size: int) -> str:
    """``10485760`` → ``"10 MB"`` (binary megabytes, as upload limits are usually set)."""
    if size >= 1024 * 1024:
        value, unit = size / (1024 * 1024), "MB"
    elif size >= 1024:
        value, unit = size / 1024, "KB"
    else:
        return f"{size} bytes"
    return f"{value:.1f}".rstrip("0").rstrip(".") + f" {unit}"


# --- reading -----------------------------------------------------------------------------------


def read_limited(stream: IO[bytes], max_bytes: int) -> bytes:
    """Read ``stream`` in chunks; refuse it as soon as more than ``max_bytes`` arrived.

    Never asks the stream for more than ``max_bytes + 1`` bytes in all, so a huge upload
    (Werkzeug spools large files to disk) is never read into memory whole.
    """
    buffer = bytearray()
    while len(buffer) <= max_bytes:
        chunk = stream.read(min(CHUNK_SIZE, max_bytes + 1 - len(buffer)))
        if not chunk:
            break
        buffer += chunk
    if len(buffer) > max_bytes:
        raise UploadRefused("too_large", TOO_LARGE, {"limit": format_size(max_bytes)})
    if not buffer:
        raise UploadRefused("empty", EMPTY)
    return bytes(buffer)


def clean_upload(
    stream: IO[bytes] | bytes, *, max_bytes: int, max_pixels: int = DEFAULT_MAX_PIXELS
) -> CleanDocument:
    """Check an upload by its content and return it cleaned, or raise ``UploadRefused``.

    ``stream`` is a binary file object (``FileStorage.stream``) or bytes. Images come back
    re-encoded without metadata; PDFs come back as uploaded, once parsed and found inert.
    """
    data = read_limited(io.BytesIO(stream) if isinstance(stream, bytes) else stream, max_bytes)
    kind = filetype.guess(data)
    mime = kind.mime if kind is not None else None
    if mime == "image/apng":  # an animated PNG is a PNG; its first frame is kept
        mime = PNG
    if mime == PDF:
        return _clean_pdf(data)
    if mime in (JPEG, PNG):
        return _clean_image(data, mime, max_pixels)
    raise UploadRefused("unsupported_type", UNSUPPORTED)


# --- images -------------------------------------------------------------------------------------

# JPEG's opener returns a phone's multi-picture file (MPO) itself. No "MPO" here: Pillow 13 has
# no opener of that name, and naming one turned a JPEG its opener refuses into a KeyError (a 500).
_PILLOW_FORMATS = {JPEG: ("JPEG",), PNG: ("PNG",)}


def _clean_image(data: bytes, mime: str, max_pixels: int) -> CleanDocument:
    with warnings.catch_warnings():
        # Pillow's own bomb check warns first and fails at twice its limit: both refuse here.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=_PILLOW_FORMATS[mime]) as image:
                if image.width * image.height > max_pixels:
                    raise _too_many_pixels(max_pixels)
                image.load()
                ImageOps.exif_transpose(image, in_place=True)  # upright before the orientation tag goes
                cleaned = _reencode(image, mime)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise _too_many_pixels(max_pixels) from exc
        except UploadRefused:
            raise
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
            raise UploadRefused("broken_image", BROKEN_IMAGE) from exc
    return CleanDocument(cleaned, mime)


def _too_many_pixels(max_pixels: int) -> UploadRefused:
    return UploadRefused("image_too_large", IMAGE_TOO_LARGE, {"limit": f"{max_pixels / 1_000_000:.0f}"})


def _reencode(image: Image.Image, mime: str) -> bytes:
    """Write the pixels alone: no EXIF, GPS, XMP, ICC, comments or text chunks survive.

    Pillow writes metadata only from ``info`` and the save options, so an empty ``info``
    and no options leave nothing but the picture; done in place, without a second copy
    of a photo that may be tens of megapixels.
    """
    if mime == JPEG:
        target_mode = image.mode if image.mode in ("L", "RGB", "CMYK") else "RGB"
    else:
        keep = ("1", "L", "LA", "RGB", "RGBA", "I;16")
        transparent = "transparency" in image.info or image.mode in ("LA", "RGBA", "PA")
        target_mode = image.mode if image.mode in keep else ("RGBA" if transparent else "RGB")
    pixels = image.convert(target_mode) if image.mode != target_mode else image
    pixels.info = {}
    out = io.BytesIO()
    if mime == JPEG:
        pixels.save(out, "JPEG", quality=JPEG_QUALITY)
    else:
        pixels.save(out, "PNG")
    return out.getvalue()


# --- PDFs ---------------------------------------------------------------------------------------

#: Markup a browser would run if it ever took the file for a web page.
_HTML_MARKERS = re.compile(
    rb"<\s*(?:!doctype\s+html|html|head|body|script|iframe|object|embed|svg|meta|img|a\s+href)[\s>/]",
    re.IGNORECASE,
)
#: Names that make a PDF act rather than show: scripts, launching programs, attached files.
_ACTIVE_NAMES = frozenset(
    {
        "/JS",
        "/JavaScript",
        "/Launch",
        "/EmbeddedFile",
        "/EmbeddedFiles",
        "/RichMedia",
        "/SubmitForm",
        "/ImportData",
        "/XFA",  # XML forms carry their own scripts
    }
)


def _clean_pdf(data: bytes) -> CleanDocument:
    if not data.startswith(b"%PDF-"):  # a byte-order mark or anything else before the header
        raise UploadRefused("polyglot", POLYGLOT)
    if _HTML_MARKERS.search(data):
        raise UploadRefused("polyglot", POLYGLOT)
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise UploadRefused("encrypted_pdf", ENCRYPTED_PDF)
        page_count = len(reader.pages)
        if page_count == 0:
            raise UploadRefused("broken_pdf", BROKEN_PDF)
        if _has_active_content(reader.trailer):
            raise UploadRefused("active_pdf", ACTIVE_PDF)
    except UploadRefused:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError) as exc:
        raise UploadRefused("broken_pdf", BROKEN_PDF) from exc
    return CleanDocument(data, PDF, page_count=page_count)


def _has_active_content(root: Any) -> bool:
    """Walk every object reachable from the trailer; True at the first active-content name."""
    seen: set[tuple[int, int]] = set()
    todo: list[Any] = [root]
    visited = 0
    while todo:
        node = todo.pop()
        if isinstance(node, IndirectObject):
            key = (node.idnum, node.generation)
            if key in seen:
                continue
            seen.add(key)
            node = node.get_object()
        visited += 1
        if visited > MAX_PDF_OBJECTS:
            raise UploadRefused("broken_pdf", BROKEN_PDF)
        if isinstance(node, DictionaryObject):
            for name, value in node.items():
                if name in _ACTIVE_NAMES:
                    return True
                if name == "/S" and isinstance(value, NameObject) and value in _ACTIVE_NAMES:
                    return True
                todo.append(value)
        elif isinstance(node, ArrayObject):
            todo.extend(node)
        elif isinstance(node, NameObject) and node in _ACTIVE_NAMES:
            return True
    return False
