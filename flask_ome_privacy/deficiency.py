"""What-is-missing notices (policy Art. 4.3; APPI Art. 37(4)): exactly what, and by when.

When a request lacks something, staff pick the missing items from the requester's
document checklist and/or write what is missing in their own words. The requester sees
exactly that and a date to answer by (``OME_PRIVACY_DEFICIENCY_ANSWER_DAYS`` after the
notice); the response clock pauses meanwhile (``lifecycle.Clock``). A notice nobody
answered by the end of that date is expired: the request closes as incomplete.

The deadline is a date, because that is what a person reads ("answer by 9 December");
it runs to the end of that day in the business's time zone (Japan by default), never to
the minute the notice happened to be sent.

Pure rules: no Flask, no database. The checklist comes from the documents module through
the small ``ChecklistEntry`` interface (a stable code and a message id), so this module
does not depend on how checklists are built.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from typing import Protocol

from .sources import N_

__all__ = [
    "JST",
    "MAX_NOTICE_TEXT_LENGTH",
    "ChecklistEntry",
    "DeficiencyNotice",
    "MissingItem",
    "NoticeError",
    "answer_deadline",
    "build_notice",
    "validate_notice",
]

#: Japan Standard Time (no daylight saving time, so a fixed offset is exact).
JST = timezone(timedelta(hours=9), "JST")

#: Longest free text a notice keeps.
MAX_NOTICE_TEXT_LENGTH = 2000


class ChecklistEntry(Protocol):
    """One document-checklist item as this module needs it: a stable code and a message id."""

    @property
    def code(self) -> str: ...

    @property
    def message(self) -> str: ...


@dataclass(frozen=True)
class MissingItem:
    """A checklist item named as missing, kept as the notice said it (code and message id)."""

    code: str
    message: str


class NoticeError(str, enum.Enum):
    """Why a notice cannot be sent as written."""

    NOTHING_MISSING = "nothing_missing"
    UNKNOWN_ITEM = "unknown_item"
    TEXT_TOO_LONG = "text_too_long"

    @property
    def label(self) -> str:
        return NOTICE_ERROR_LABELS[self]


NOTICE_ERROR_LABELS: dict[NoticeError, str] = {
    NoticeError.NOTHING_MISSING: N_("Choose what is missing from the checklist or describe it."),
    NoticeError.UNKNOWN_ITEM: N_("That item is not on this request's checklist."),
    NoticeError.TEXT_TOO_LONG: N_("Keep the text under 2,000 characters."),
}


def validate_notice(
    checklist: Iterable[ChecklistEntry], chosen: Iterable[str], text: str = ""
) -> list[NoticeError]:
    """Why the notice cannot be sent (empty: it can): something must be named, and only from the checklist."""
    known = {entry.code for entry in checklist}
    chosen = list(chosen)
    errors: list[NoticeError] = []
    if not chosen and not text.strip():
        errors.append(NoticeError.NOTHING_MISSING)
    if any(code not in known for code in chosen):
        errors.append(NoticeError.UNKNOWN_ITEM)
    if len(text.strip()) > MAX_NOTICE_TEXT_LENGTH:
        errors.append(NoticeError.TEXT_TOO_LONG)
    return errors


def _aware(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (the desk stores UTC)")
    return moment


def answer_deadline(issued_at: datetime, answer_days: int, tz: tzinfo = JST) -> tuple[date, datetime]:
    """The date to answer by, and the moment the notice expires: the following midnight in ``tz``."""
    if answer_days < 1:
        raise ValueError("answer_days must be at least 1")
    local_day = _aware(issued_at, "issued_at").astimezone(tz).date()
    answer_by = local_day + timedelta(days=answer_days)
    expires_at = datetime.combine(answer_by + timedelta(days=1), time(0), tzinfo=tz)
    return answer_by, expires_at.astimezone(timezone.utc)


@dataclass(frozen=True)
class DeficiencyNotice:
    """What staff said is missing, the date to answer by, and whether it was answered."""

    items: tuple[MissingItem, ...]
    text: str
    issued_at: datetime
    answer_by: date
    expires_at: datetime
    answered_at: datetime | None = None

    def is_expired(self, now: datetime) -> bool:
        """Unanswered past the end of the answer date: the request closes as incomplete."""
        return self.answered_at is None and _aware(now, "now") >= self.expires_at

    def days_left(self, now: datetime, tz: tzinfo = JST) -> int:
        """Whole days from today (in ``tz``) to the answer date: 0 on the day itself, negative after."""
        return (self.answer_by - _aware(now, "now").astimezone(tz).date()).days

    def answered(self, at: datetime) -> DeficiencyNotice:
        """The notice once the requester answered (the first answer counts; later ones change nothing)."""
        if self.answered_at is not None:
            return self
        return replace(self, answered_at=_aware(at, "at"))


def build_notice(
    checklist: Sequence[ChecklistEntry],
    chosen: Iterable[str],
    text: str,
    issued_at: datetime,
    answer_days: int,
    tz: tzinfo = JST,
) -> DeficiencyNotice:
    """A notice naming ``chosen`` checklist items (in checklist order) and/or ``text``.

    ``answer_days`` is ``OME_PRIVACY_DEFICIENCY_ANSWER_DAYS``. Raises ``ValueError`` when
    ``validate_notice`` finds a problem: ask it first to show the problems on the form.
    """
    chosen = set(chosen)
    errors = validate_notice(checklist, chosen, text)
    if errors:
        raise ValueError("Cannot send this notice: " + ", ".join(error.value for error in errors))
    items = tuple(MissingItem(entry.code, entry.message) for entry in checklist if entry.code in chosen)
    answer_by, expires_at = answer_deadline(issued_at, answer_days, tz)
    return DeficiencyNotice(items, text.strip(), issued_at, answer_by, expires_at)
