"""``LabelledEnum``: a str enum whose members carry their label, a message id (``N_``).

Kinds, states, reasons: each has a stable code (stored, sent to hosts, used in tests) and
a text people read, translated on display (``tr(member.label)``). Declaring both on the
member keeps them together: ``DISCLOSE = "disclose", N_("Disclose")``. Pure: no Flask.
"""

from __future__ import annotations

import enum
from typing import TypeVar

__all__ = ["LabelledEnum"]

E = TypeVar("E", bound="LabelledEnum")


class LabelledEnum(str, enum.Enum):
    """``MEMBER = "code", N_("Label")``: ``MEMBER.value == "code"``, ``MEMBER.label`` the message id."""

    _value_: str
    _label: str

    def __new__(cls: type[E], value: str, label: str = "") -> E:
        member = str.__new__(cls, value)
        member._value_ = value
        member._label = label
        return member

    @property
    def label(self) -> str:
        """The untranslated label (a message id); translate it where it is shown."""
        return self._label
