"""The purposes register (policy Art. 2): categories of data, their purposes, and consent rules.

Policy Art. 2.1 fixes three categories with their purposes and whether the data is
provided to client companies. Art. 2.2 says what happens when a purpose is added later:
for data obtained directly from the person, each person must consent individually
(2.2(1)); for data obtained otherwise, the new purpose is published (2.2(2)).

So every purpose carries a version and the date it was added; a purpose added after the
policy's baseline is "additional" and follows one of those two rules. No Flask here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from .sources import N_, Origin

#: The date of the policy text the defaults come from; purposes added on it are the baseline.
POLICY_BASELINE = date(2020, 1, 1)


@dataclass(frozen=True)
class Purpose:
    """A purpose of use. ``key`` is stable; a wording change bumps ``version``."""

    key: str
    category: str
    text: str
    version: int = 1
    #: The day the purpose applies from. An additional purpose is published (and asked for)
    #: as soon as it is configured, but never applies before this day.
    added_on: date = POLICY_BASELINE
    #: Baseline purposes come with the policy; additional ones need consent or publication.
    additional: bool = False
    #: When the wording was last changed (the day ``version`` went up), if the host says so.
    changed_on: date | None = None


@dataclass(frozen=True)
class Category:
    """A category of personal information from the Art. 2.1 table."""

    key: str
    label: str
    origin: Origin
    provided_to_clients: bool
    description: str = ""

    @property
    def obtained_directly(self) -> bool:
        return self.origin.obtained_directly


#: Policy Art. 2.1. The policy's table marks SNS data "×" (not provided to client
#: companies); the other two rows are provided, as Art. 1.1 says the data is acquired
#: "for the purpose of delivering and providing information to companies".
DEFAULT_CATEGORIES: tuple[Category, ...] = (
    Category(
        key="user_info",
        label=N_("Personal information about users"),
        origin=Origin.DIRECT,
        provided_to_clients=True,
        description=N_("What you entered yourself when you registered and in your profile."),
    ),
    Category(
        key="sns",
        label=N_("Personal information provided through SNS such as Facebook"),
        origin=Origin.SNS,
        provided_to_clients=False,
        description=N_("What a social network sent us when you signed in or linked it."),
    ),
    Category(
        key="org_service",
        label=N_("Personal information related to the organisational improvement service"),
        origin=Origin.ORG_SERVICE,
        provided_to_clients=True,
        description=N_("What your organisation sent us for the organisational improvement service."),
    ),
)

DEFAULT_PURPOSES: tuple[Purpose, ...] = (
    Purpose("user_info.sales", "user_info", N_("Sales activities")),
    Purpose("user_info.user_management", "user_info", N_("User management")),
    Purpose("user_info.advertising", "user_info", N_("Advertising distribution")),
    Purpose(
        "sns.registration",
        "sns",
        N_("Registration for, and subsequent user management of, our services and associated websites"),
    ),
    Purpose(
        "org_service.provision",
        "org_service",
        N_("Providing organisational improvement services to companies"),
    ),
)


class ConsentRule:
    """What an additional purpose needs before it applies to a person (Art. 2.2)."""

    INDIVIDUAL_CONSENT = "individual_consent"  # 2.2(1): obtained directly
    PUBLICATION = "publication"  # 2.2(2): obtained otherwise
    NONE = "none"  # baseline purposes


@dataclass
class PurposeRegister:
    """Categories and purposes for one app: the policy defaults plus what the host adds."""

    categories: dict[str, Category] = field(default_factory=dict)
    purposes: dict[str, Purpose] = field(default_factory=dict)

    @classmethod
    def from_defaults(cls, extra: Iterable[Mapping[str, Any] | Purpose] = ()) -> PurposeRegister:
        register = cls()
        for category in DEFAULT_CATEGORIES:
            register.add_category(category)
        for purpose in DEFAULT_PURPOSES:
            register.add_purpose(purpose)
        for item in extra:
            register.add_purpose(item if isinstance(item, Purpose) else purpose_from_mapping(item))
        return register

    def add_category(self, category: Category) -> Category:
        if category.key in self.categories:
            raise ValueError(f"Category {category.key!r} is already registered")
        self.categories[category.key] = category
        return category

    def add_purpose(self, purpose: Purpose) -> Purpose:
        if purpose.category not in self.categories:
            raise ValueError(
                f"Purpose {purpose.key!r} names unknown category {purpose.category!r}; "
                f"known: {', '.join(self.categories)}"
            )
        current = self.purposes.get(purpose.key)
        if current is not None and current.version >= purpose.version:
            raise ValueError(
                f"Purpose {purpose.key!r} is already registered at version {current.version}; "
                "a changed text needs a higher version"
            )
        self.purposes[purpose.key] = purpose
        return purpose

    def category(self, key: str) -> Category:
        return self.categories[key]

    def fingerprint(self) -> str:
        """A digest of every category and purpose (text, version, dates, rule): it changes when
        a host adds or rewords a purpose after start-up, so pages cached from the register
        (the public purposes page) are rendered again."""
        parts = [repr(c) for c in self.categories.values()] + [repr(p) for p in self.purposes.values()]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()

    def for_category(self, key: str) -> list[Purpose]:
        return [p for p in self.purposes.values() if p.category == key]

    def __iter__(self) -> Iterator[Category]:
        return iter(self.categories.values())

    def rule_for(self, purpose: Purpose) -> str:
        if not purpose.additional:
            return ConsentRule.NONE
        if self.categories[purpose.category].obtained_directly:
            return ConsentRule.INDIVIDUAL_CONSENT
        return ConsentRule.PUBLICATION

    def get(self, key: str) -> Purpose:
        """The purpose ``key``; an unknown key is a programming error, so it raises."""
        try:
            return self.purposes[key]
        except KeyError:
            raise UnknownPurposeError(
                f"Unknown purpose {key!r}; known: {', '.join(sorted(self.purposes))}. "
                "Add it to OME_PRIVACY_PURPOSES first."
            ) from None

    def needs_consent(self, purpose: Purpose) -> bool:
        """Art. 2.2(1): an additional purpose on data the person gave us directly."""
        return self.rule_for(purpose) == ConsentRule.INDIVIDUAL_CONSENT

    def consent_asks(self) -> list[Purpose]:
        """Purposes each person must grant or decline individually (Art. 2.2(1)), oldest first."""
        asks = [p for p in self.purposes.values() if self.needs_consent(p)]
        return sorted(asks, key=lambda p: (p.added_on, p.key))

    def change_history(self) -> list[PurposeChange]:
        """Every addition and announced rewording, newest first (public page, Art. 2.2)."""
        changes: list[PurposeChange] = []
        for purpose in self.purposes.values():
            if purpose.additional:
                changes.append(
                    PurposeChange(purpose.added_on, purpose, ChangeKind.ADDED, self.rule_for(purpose))
                )
            if purpose.changed_on is not None and purpose.version > 1:
                changes.append(
                    PurposeChange(purpose.changed_on, purpose, ChangeKind.REWORDED, self.rule_for(purpose))
                )
        return sorted(changes, key=lambda c: (c.on, c.purpose.key, c.kind), reverse=True)


class UnknownPurposeError(ValueError):
    """A purpose key that is not in the register (a typo, or a purpose not configured)."""


class ChangeKind:
    ADDED = "added"
    REWORDED = "reworded"


@dataclass(frozen=True)
class PurposeChange:
    """One line of the public change history."""

    on: date
    purpose: Purpose
    kind: str  # ChangeKind
    rule: str  # ConsentRule: how the change reaches people (asked individually, or published)


@dataclass(frozen=True)
class ConsentDecision:
    """A person's latest decision on a purpose: which wording (version), granted or not, when."""

    purpose_key: str
    version: int
    granted: bool
    decided_at: datetime | None = None


@dataclass(frozen=True)
class ConsentAsk:
    """A purpose the person has not decided on at its current wording (Art. 2.2(1))."""

    purpose: Purpose
    category: Category
    #: Their decision on an older wording, if any: the page says the wording changed.
    previous: ConsentDecision | None = None

    @property
    def wording_changed(self) -> bool:
        return self.previous is not None


def in_effect(purpose: Purpose, today: date) -> bool:
    """Does the purpose apply yet? Additional purposes apply from ``added_on``."""
    return not purpose.additional or purpose.added_on <= today


def consent_asks_for(register: PurposeRegister, decisions: Mapping[str, ConsentDecision]) -> list[ConsentAsk]:
    """What to ask a person, given their latest decision per purpose key.

    A decision on an older version does not answer the current one: the person is asked
    again (whether they had granted or declined), and ``previous`` says what they decided.
    """
    asks = []
    for purpose in register.consent_asks():
        decision = decisions.get(purpose.key)
        if decision is not None and decision.version == purpose.version:
            continue
        asks.append(ConsentAsk(purpose, register.categories[purpose.category], decision))
    return asks


def may_use(
    register: PurposeRegister,
    purpose_key: str,
    decision: ConsentDecision | None,
    today: date,
) -> bool:
    """May a person's data be used for ``purpose_key`` on ``today``?

    * baseline purposes (policy Art. 2.1): yes;
    * additional purposes on data obtained other than directly (Art. 2.2(2)): from the day
      they were added, the day they are published from;
    * additional purposes on data obtained directly (Art. 2.2(1)): only with the person's
      consent *to the current wording* (``decision`` is their latest decision on it), and
      not before the day the purpose applies from.

    Raises ``UnknownPurposeError`` for a key that is not registered.
    """
    purpose = register.get(purpose_key)
    rule = register.rule_for(purpose)
    if rule == ConsentRule.NONE:
        return True
    if not in_effect(purpose, today):
        return False
    if rule == ConsentRule.PUBLICATION:
        return True
    return decision is not None and decision.granted and decision.version == purpose.version


def purpose_from_mapping(item: Mapping[str, Any]) -> Purpose:
    """Build a host-configured purpose (``OME_PRIVACY_PURPOSES`` entries) with clear errors."""
    missing = [k for k in ("key", "category", "text", "added_on") if k not in item]
    if missing:
        raise ValueError(f"Purpose {dict(item)!r} is missing {', '.join(missing)}")
    allowed = {"key", "category", "text", "version", "added_on", "changed_on", "additional"}
    unknown = sorted(set(item) - allowed)
    if unknown:
        raise ValueError(
            f"Purpose {item['key']!r} has unknown field(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(allowed))}"
        )
    version = int(item.get("version", 1))
    if version < 1:
        raise ValueError(f"Purpose {item['key']!r}: version must be 1 or more")
    if not str(item["text"]).strip():
        raise ValueError(f"Purpose {item['key']!r} needs a text")
    return Purpose(
        key=item["key"],
        category=item["category"],
        text=item["text"],
        version=version,
        added_on=_as_date(item["added_on"], item["key"], "added_on"),
        additional=bool(item.get("additional", True)),
        changed_on=_as_date(item["changed_on"], item["key"], "changed_on")
        if item.get("changed_on")
        else None,
    )


def _as_date(value: Any, key: str, name: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"Purpose {key!r}: {name} must be a date or 'YYYY-MM-DD', not {value!r}") from None


@dataclass(frozen=True)
class Processor:
    """An outsourced processor for a category (Art. 1.5). ``task`` says what it does, when configured."""

    name: str
    task: str = ""


def processors_for(configured: Mapping[str, Any] | None, category_key: str) -> list[Processor]:
    """The processors ``OME_PRIVACY_PROCESSORS`` names for a category.

    Each entry is a name, or a mapping with ``name`` and optionally ``task``.
    """
    entries: Iterable[Any] = (configured or {}).get(category_key) or ()
    if isinstance(entries, (str, Mapping)):
        entries = [entries]
    processors = []
    for entry in entries:
        if isinstance(entry, Mapping):
            if entry.get("name"):
                processors.append(Processor(name=str(entry["name"]), task=str(entry.get("task") or "")))
        elif entry:
            processors.append(Processor(name=str(entry)))
    return processors


@dataclass(frozen=True)
class CategoryPurposes:
    """One row of the Art. 2.1 table: a category, its purposes and its processors (Art. 1.5)."""

    category: Category
    purposes: list[Purpose]
    processors: list[Processor]


def purposes_table(register: PurposeRegister, processors: Mapping[str, Any] | None) -> list[CategoryPurposes]:
    """The Art. 2.1 table, category by category, as every page and the export show it.

    ``processors`` is ``OME_PRIVACY_PROCESSORS``.
    """
    return [
        CategoryPurposes(
            category, register.for_category(category.key), processors_for(processors, category.key)
        )
        for category in register
    ]
