"""flask-ome-privacy: the WORLD OME NET privacy policy as working software inside a Flask site.

Public names: the extension object, and the data-source interface the host implements.
"""

from __future__ import annotations

from .extension import OmePrivacy
from .lifecycle import RequesterType, RequestKind, Status
from .purposes import Category, Purpose
from .sources import (
    N_,
    Action,
    ActionNotSupported,
    DataSource,
    Origin,
    Record,
    SourceError,
    SourceField,
)

__version__ = "0.1.0"

__all__ = [
    "OmePrivacy",
    "DataSource",
    "SourceField",
    "Record",
    "Origin",
    "Action",
    "ActionNotSupported",
    "SourceError",
    "N_",
    "Category",
    "Purpose",
    "RequestKind",
    "RequesterType",
    "Status",
]
