"""The purposes register (policy Art. 2): categories of data, their purposes, and consent rules.

Policy Art. 2.1 fixes three categories with their purposes and whether the data is
provided to client companies. Art. 2.2 says what happens when a purpose is added later:
for data obtained directly from the person, each person must consent individually
(2.2(1)); for data obtained otherwise, the new purpose is published (2.2(2)).

So every purpose carries a version and the date it was added; a purpose added after the
policy's baseline is "additional" and follows one of those two rules. No Flask here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
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
    added_on: date = POLICY_BASELINE
    #: Baseline purposes come with the policy; additional ones need consent or publication.
    additional: bool = False


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

    def consent_asks(self) -> list[Purpose]:
        """Purposes each person must grant or decline individually (Art. 2.2(1))."""
        return [p for p in self.purposes.values() if self.rule_for(p) == ConsentRule.INDIVIDUAL_CONSENT]

    def published_changes(self) -> list[Purpose]:
        """Additional purposes, newest first: the change history on the public page."""
        added = [p for p in self.purposes.values() if p.additional]
        return sorted(added, key=lambda p: (p.added_on, p.key), reverse=True)


def may_use(
    register: PurposeRegister,
    purpose_key: str,
    consent: tuple[int, bool] | None,
    today: date,
) -> bool:
    """May a person's data be used for ``purpose_key``?

    ``consent`` is the person's latest decision on that purpose as (version, granted), or
    None. A consent given to an older wording does not cover a newer one.
    """
    purpose = register.purposes.get(purpose_key)
    if purpose is None:
        return False
    rule = register.rule_for(purpose)
    if rule == ConsentRule.NONE:
        return True
    if rule == ConsentRule.PUBLICATION:
        return purpose.added_on <= today
    return consent is not None and consent[1] and consent[0] == purpose.version


def purpose_from_mapping(item: Mapping[str, Any]) -> Purpose:
    """Build a host-configured purpose (``OME_PRIVACY_PURPOSES`` entries) with clear errors."""
    missing = [k for k in ("key", "category", "text", "added_on") if k not in item]
    if missing:
        raise ValueError(f"Purpose {dict(item)!r} is missing {', '.join(missing)}")
    added_on = item["added_on"]
    if isinstance(added_on, str):
        added_on = date.fromisoformat(added_on)
    return Purpose(
        key=item["key"],
        category=item["category"],
        text=item["text"],
        version=int(item.get("version", 1)),
        added_on=added_on,
        additional=bool(item.get("additional", True)),
    )
