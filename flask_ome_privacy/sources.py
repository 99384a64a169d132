"""The data-source interface: how the host tells us what it holds about a person.

A *data source* is one place the host keeps personal data (its profile table, the data a
Facebook link supplied, the survey data an employer sent). The extension never reads
the host's tables itself; it asks each registered source. A source declares what it
can do automatically (``actions``); everything else a decision needs becomes a manual
task for staff, so the interface says so explicitly through ``manual_checklist``.

This module imports no Flask: sources are plain objects the host can test alone.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


def N_(text: str) -> str:
    """Mark a string for translation without translating it here (translated on display)."""
    return text


class Origin(str, enum.Enum):
    """How the data was obtained (policy Art. 2.2 draws its line here)."""

    DIRECT = "direct"  # entered by the person
    SNS = "sns"  # supplied by a social network the person linked
    ORG_SERVICE = "org_service"  # supplied by a client company (organisational improvement service)

    @property
    def obtained_directly(self) -> bool:
        return self is Origin.DIRECT


class Action(str, enum.Enum):
    """What a source may be asked to do. Names match the request kinds of policy Art. 4.1."""

    COLLECT = "collect"
    CORRECT = "correct"
    ADD = "add"
    ERASE = "erase"
    STOP_USE = "stop_use"
    STOP_THIRD_PARTY = "stop_third_party"
    UNLINK = "unlink"


@dataclass(frozen=True)
class SourceField:
    """One item a source holds, e.g. ``email``. ``required`` marks items the service needs (Art. 1.2)."""

    name: str
    label: str
    required: bool = False
    description: str = ""


@dataclass(frozen=True)
class Record:
    """One value held about a person: which field, its value, when it was obtained."""

    field: str
    value: Any
    obtained_at: datetime | None = None
    #: Optional grouping inside a source (e.g. the survey a set of answers belongs to).
    group: str | None = None
    #: Optional label for this value alone (e.g. a survey question), instead of the field's label.
    label: str | None = None


class ActionNotSupported(Exception):
    """A source was asked to do something it declared it cannot do automatically."""


class SourceError(Exception):
    """A source tried and failed; the message is safe to show staff (no personal data)."""


class DataSource:
    """Base class for the host's data sources. Subclass it and set the class attributes.

    Required: ``key`` (stable, URL-safe), ``label``, ``origin``, ``category`` (a purposes
    category key), ``fields`` and ``collect``. Override the methods for each action you
    list in ``actions``; ``collect`` is always supported.

    Every method receives the host's user object. Methods run inside the request's one
    database transaction: they must not commit.
    """

    key: str = ""
    label: str = ""
    origin: Origin = Origin.DIRECT
    category: str = ""
    #: For ``Origin.SNS``: the provider's name, e.g. "Facebook".
    provider: str | None = None
    fields: tuple[SourceField, ...] = ()
    actions: frozenset[Action] = frozenset({Action.COLLECT})
    description: str = ""

    # --- reading -----------------------------------------------------------------
    def collect(self, user: Any) -> Iterable[Record]:
        """Every value held about ``user``. Use a bounded number of queries; may be a generator."""
        raise ActionNotSupported(f"{type(self).__name__} must implement collect()")

    def is_linked(self, user: Any) -> bool:
        """For SNS sources: does ``user`` have this SNS linked? Others: holds anything at all."""
        return any(True for _ in self.collect(user))

    def count(self, user: Any) -> int:
        """How many values are held; override with a COUNT query when ``collect`` is large."""
        return sum(1 for _ in self.collect(user))

    # --- acting (each returns a short, personal-data-free summary for the receipt) --
    def correct(self, user: Any, changes: Mapping[str, Any]) -> str:
        raise ActionNotSupported(self._unsupported(Action.CORRECT))

    def add(self, user: Any, additions: Mapping[str, Any]) -> str:
        raise ActionNotSupported(self._unsupported(Action.ADD))

    def erase(self, user: Any, fields: Iterable[str] | None = None) -> str:
        """Erase the named fields, or everything this source holds when ``fields`` is None."""
        raise ActionNotSupported(self._unsupported(Action.ERASE))

    def stop_use(self, user: Any) -> str:
        raise ActionNotSupported(self._unsupported(Action.STOP_USE))

    def stop_third_party(self, user: Any) -> str:
        raise ActionNotSupported(self._unsupported(Action.STOP_THIRD_PARTY))

    def unlink(self, user: Any) -> str:
        """SNS only: remove the link and erase everything that came through it."""
        raise ActionNotSupported(self._unsupported(Action.UNLINK))

    # --- what staff must do by hand ----------------------------------------------
    def supports(self, action: Action | str) -> bool:
        return Action(action) in self.actions or Action(action) is Action.COLLECT

    def manual_checklist(self, action: Action | str) -> list[str]:
        """Steps staff must take by hand when this source cannot do ``action`` itself."""
        action = Action(action)
        if self.supports(action):
            return []
        return [
            N_("Locate this person's data in the system named above."),
            N_("Carry out the decision there by hand."),
            N_("Record what was done, without copying personal data into the note."),
        ]

    # --- checking a requested value (correction / addition requests) -------------
    def validate(self, field: str, value: str) -> str | None:
        """Would this source accept ``value`` for ``field``? ``None`` if so, else a message id
        (marked with ``N_``, translated where it is shown). The request wizard asks this
        before a correction or addition is submitted; the default accepts anything (email
        fields are checked with email-validator by the wizard itself)."""
        return None

    def field(self, name: str) -> SourceField | None:
        return next((f for f in self.fields if f.name == name), None)

    def _unsupported(self, action: Action) -> str:
        return f"Source {self.key!r} does not support {action.value!r} automatically"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} key={self.key!r} origin={self.origin.value}>"


@dataclass
class SourceRegistry:
    """The sources one app registered, in registration order."""

    _sources: dict[str, DataSource] = field(default_factory=dict)

    def register(self, source: DataSource) -> DataSource:
        problems = validate_source(source)
        if problems:
            raise ValueError(f"Cannot register data source {source!r}: " + "; ".join(problems))
        if source.key in self._sources:
            raise ValueError(f"A data source with key {source.key!r} is already registered")
        self._sources[source.key] = source
        return source

    def get(self, key: str) -> DataSource | None:
        return self._sources.get(key)

    def __getitem__(self, key: str) -> DataSource:
        return self._sources[key]

    def __iter__(self) -> Iterator[DataSource]:
        return iter(self._sources.values())

    def __len__(self) -> int:
        return len(self._sources)

    def __contains__(self, key: object) -> bool:
        return key in self._sources

    def by_origin(self, origin: Origin) -> list[DataSource]:
        return [s for s in self if s.origin is origin]

    def sns(self) -> list[DataSource]:
        return self.by_origin(Origin.SNS)


def validate_source(source: DataSource) -> list[str]:
    """Why ``source`` is not a usable data source (empty when it is)."""
    problems = []
    if not isinstance(source, DataSource):
        return ["it must be an instance of flask_ome_privacy.DataSource"]
    if not source.key or not source.key.replace("_", "").replace("-", "").isalnum():
        problems.append("key must be non-empty letters, digits, '-' or '_'")
    if not source.label:
        problems.append("label is required")
    if not isinstance(source.origin, Origin):
        problems.append("origin must be an Origin")
    if not source.category:
        problems.append("category is required")
    if source.origin is Origin.SNS and not source.provider:
        problems.append("an SNS source must name its provider")
    if source.origin is not Origin.SNS and Action.UNLINK in source.actions:
        problems.append("only SNS sources can unlink")
    if type(source).collect is DataSource.collect:
        problems.append("collect() must be implemented")
    for action in source.actions:
        if action is not Action.COLLECT and getattr(type(source), action.value) is getattr(
            DataSource, action.value
        ):
            problems.append(f"it lists {action.value!r} in actions but does not implement {action.value}()")
    names = [f.name for f in source.fields]
    if len(names) != len(set(names)):
        problems.append("field names must be unique")
    return problems
