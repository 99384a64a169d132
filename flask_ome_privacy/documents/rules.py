"""What documents a rights request needs, and what each must show or hide (pure rules).

Policy Art. 4.5 and APPI Art. 37(3), as summarised in SPEC.md "Rules from Japanese law
and practice": who files decides the checklist; the document type decides what must be
masked before upload; a passport issued since February 2020 has no address field; a seal
registration certificate counts only when issued within the last three months.

No Flask and no database here: the wizard, the staff pages and the tests ask these
functions and show their message ids (marked with ``N_``) through gettext.
"""

from __future__ import annotations

import calendar
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from ..lifecycle import RequesterType
from ..sources import N_

__all__ = [
    "Requester",
    "DocumentRole",
    "DocType",
    "IdentityChoice",
    "ChecklistItem",
    "Problem",
    "checklist",
    "accepted_types",
    "masking_instructions",
    "passport_lacks_address",
    "PASSPORT_WITHOUT_ADDRESS_FROM",
    "SEAL_CERTIFICATE_MONTHS",
    "add_months",
    "seal_certificate_valid_until",
    "earliest_valid_seal_issue_date",
    "check_seal_certificate",
]


class Requester(str, enum.Enum):
    """Who files, as precisely as the documents depend on it (policy Art. 4.5)."""

    SELF = "self"
    LEGAL_REPRESENTATIVE_MINOR = "legal_representative_minor"
    LEGAL_REPRESENTATIVE_ADULT_WARD = "legal_representative_adult_ward"
    APPOINTED_REPRESENTATIVE = "appointed_representative"

    @property
    def label(self) -> str:
        return REQUESTER_LABELS[self]

    @property
    def requester_type(self) -> RequesterType:
        """The life cycle's coarser type, as stored on ``PrivacyRequest.requester_type``."""
        if self is Requester.SELF:
            return RequesterType.SELF
        if self is Requester.APPOINTED_REPRESENTATIVE:
            return RequesterType.APPOINTED_REPRESENTATIVE
        return RequesterType.LEGAL_REPRESENTATIVE

    @property
    def is_representative(self) -> bool:
        return self is not Requester.SELF


REQUESTER_LABELS: dict[Requester, str] = {
    Requester.SELF: N_("The person themselves"),
    Requester.LEGAL_REPRESENTATIVE_MINOR: N_("Legal representative of a minor"),
    Requester.LEGAL_REPRESENTATIVE_ADULT_WARD: N_("Legal representative of an adult ward"),
    Requester.APPOINTED_REPRESENTATIVE: N_("Representative appointed by the person"),
}


class DocumentRole(str, enum.Enum):
    """What a document proves; stored in ``RequestDocument.role``."""

    PERSON_IDENTITY = "person_identity"
    PERSON_ADDRESS = "person_address"
    REPRESENTATIVE_IDENTITY = "representative_identity"
    REPRESENTATIVE_ADDRESS = "representative_address"
    AUTHORITY = "authority"  # a legal representative's proof of authority
    POWER_OF_ATTORNEY = "power_of_attorney"
    SEAL_CERTIFICATE = "seal_certificate"

    @property
    def label(self) -> str:
        return ROLE_LABELS[self]


ROLE_LABELS: dict[DocumentRole, str] = {
    DocumentRole.PERSON_IDENTITY: N_("Your identity document"),
    DocumentRole.PERSON_ADDRESS: N_("A second document showing your current address"),
    DocumentRole.REPRESENTATIVE_IDENTITY: N_("The representative's own identity document"),
    DocumentRole.REPRESENTATIVE_ADDRESS: N_("A second document showing the representative's current address"),
    DocumentRole.AUTHORITY: N_("Proof of the legal representative's authority"),
    DocumentRole.POWER_OF_ATTORNEY: N_("Power of attorney signed by the person"),
    DocumentRole.SEAL_CERTIFICATE: N_(
        "The person's seal registration certificate, issued within the last three months"
    ),
}


class DocType(str, enum.Enum):
    """Kinds of document; stored in ``RequestDocument.doc_type`` (at most 32 characters)."""

    DRIVERS_LICENCE = "drivers_licence"
    MY_NUMBER_CARD = "my_number_card"
    PASSPORT = "passport"
    HEALTH_INSURANCE_CARD = "health_insurance_card"  # or eligibility certificate
    RESIDENCE_CARD = "residence_card"
    RESIDENT_RECORD = "resident_record"  # juminhyo copy
    FAMILY_REGISTER_EXTRACT = "family_register_extract"
    HEALTH_INSURANCE_DEPENDANT = "health_insurance_dependant"  # parent's card listing the child
    REGISTERED_MATTERS_CERTIFICATE = "registered_matters_cert"  # adult guardianship registry
    POWER_OF_ATTORNEY = "power_of_attorney"
    SEAL_CERTIFICATE = "seal_certificate"

    @property
    def label(self) -> str:
        return DOC_TYPE_LABELS[self]

    @property
    def shows_address(self) -> bool:
        """Does this document show the holder's current address (so it proves it)?"""
        return self in ADDRESS_TYPES


DOC_TYPE_LABELS: dict[DocType, str] = {
    DocType.DRIVERS_LICENCE: N_("Driver's licence"),
    DocType.MY_NUMBER_CARD: N_("My Number card (front only)"),
    DocType.PASSPORT: N_("Passport"),
    DocType.HEALTH_INSURANCE_CARD: N_("Health insurance card or eligibility certificate"),
    DocType.RESIDENCE_CARD: N_("Residence card"),
    DocType.RESIDENT_RECORD: N_("Copy of the resident record (juminhyo)"),
    DocType.FAMILY_REGISTER_EXTRACT: N_("Family register extract (koseki)"),
    DocType.HEALTH_INSURANCE_DEPENDANT: N_(
        "Health insurance card listing the child as a dependant (parents only)"
    ),
    DocType.REGISTERED_MATTERS_CERTIFICATE: N_("Certificate of registered matters (adult guardianship)"),
    DocType.POWER_OF_ATTORNEY: N_("Power of attorney"),
    DocType.SEAL_CERTIFICATE: N_("Seal registration certificate"),
}

#: Identity documents showing name and current address (policy Art. 4.5(1)); a passport
#: is accepted too, with a second document for the address when it has no address field.
IDENTITY_TYPES: tuple[DocType, ...] = (
    DocType.DRIVERS_LICENCE,
    DocType.MY_NUMBER_CARD,
    DocType.PASSPORT,
    DocType.HEALTH_INSURANCE_CARD,
    DocType.RESIDENCE_CARD,
)
ADDRESS_TYPES: tuple[DocType, ...] = (
    DocType.RESIDENT_RECORD,
    DocType.DRIVERS_LICENCE,
    DocType.MY_NUMBER_CARD,
    DocType.HEALTH_INSURANCE_CARD,
    DocType.RESIDENCE_CARD,
)

#: Which document types each role accepts. The minor's and the adult ward's authority
#: differ, so the requester narrows ``AUTHORITY`` (see ``accepted_types``).
_ROLE_TYPES: dict[DocumentRole, tuple[DocType, ...]] = {
    DocumentRole.PERSON_IDENTITY: IDENTITY_TYPES,
    DocumentRole.REPRESENTATIVE_IDENTITY: IDENTITY_TYPES,
    DocumentRole.PERSON_ADDRESS: ADDRESS_TYPES,
    DocumentRole.REPRESENTATIVE_ADDRESS: ADDRESS_TYPES,
    DocumentRole.AUTHORITY: (
        DocType.FAMILY_REGISTER_EXTRACT,
        DocType.HEALTH_INSURANCE_DEPENDANT,
        DocType.REGISTERED_MATTERS_CERTIFICATE,
    ),
    DocumentRole.POWER_OF_ATTORNEY: (DocType.POWER_OF_ATTORNEY,),
    DocumentRole.SEAL_CERTIFICATE: (DocType.SEAL_CERTIFICATE,),
}
_AUTHORITY_TYPES: dict[Requester, tuple[DocType, ...]] = {
    Requester.LEGAL_REPRESENTATIVE_MINOR: (
        DocType.FAMILY_REGISTER_EXTRACT,
        DocType.HEALTH_INSURANCE_DEPENDANT,
    ),
    Requester.LEGAL_REPRESENTATIVE_ADULT_WARD: (DocType.REGISTERED_MATTERS_CERTIFICATE,),
}


def accepted_types(role: DocumentRole | str, requester: Requester | str | None = None) -> tuple[DocType, ...]:
    """The document types ``role`` accepts (for ``AUTHORITY``, narrowed by ``requester``)."""
    role = DocumentRole(role)
    if role is DocumentRole.AUTHORITY and requester is not None:
        return _AUTHORITY_TYPES.get(Requester(requester), ())
    return _ROLE_TYPES[role]


# --- passports without an address field ----------------------------------------------

#: Japanese passports issued from February 2020 have no field for the holder's address.
PASSPORT_WITHOUT_ADDRESS_FROM = date(2020, 2, 1)


def passport_lacks_address(issued_on: date | None) -> bool:
    """Does a passport issued on ``issued_on`` need a second document for the address?

    Unknown issue date: yes — asking for one document too many is better than a request
    that stalls on a missing address.
    """
    return issued_on is None or issued_on >= PASSPORT_WITHOUT_ADDRESS_FROM


# --- the checklist -----------------------------------------------------------------------


@dataclass(frozen=True)
class IdentityChoice:
    """The identity document someone said they will upload (and, for a passport, its date)."""

    doc_type: DocType
    issued_on: date | None = None


@dataclass(frozen=True)
class ChecklistItem:
    """One document to upload: its role, what it may be, and what to say about it."""

    role: DocumentRole
    accepted: tuple[DocType, ...]
    #: Message ids shown under the item (why it is needed, dates to enter).
    notes: tuple[str, ...] = ()
    #: The issue date must be entered and is checked (seal registration certificate).
    needs_issue_date: bool = False

    @property
    def label(self) -> str:
        return self.role.label


_ROLES_FOR: dict[Requester, tuple[DocumentRole, ...]] = {
    Requester.SELF: (DocumentRole.PERSON_IDENTITY,),
    Requester.LEGAL_REPRESENTATIVE_MINOR: (DocumentRole.AUTHORITY, DocumentRole.REPRESENTATIVE_IDENTITY),
    Requester.LEGAL_REPRESENTATIVE_ADULT_WARD: (
        DocumentRole.AUTHORITY,
        DocumentRole.REPRESENTATIVE_IDENTITY,
    ),
    Requester.APPOINTED_REPRESENTATIVE: (
        DocumentRole.POWER_OF_ATTORNEY,
        DocumentRole.SEAL_CERTIFICATE,
        DocumentRole.REPRESENTATIVE_IDENTITY,
    ),
}
_ADDRESS_ROLE: dict[DocumentRole, DocumentRole] = {
    DocumentRole.PERSON_IDENTITY: DocumentRole.PERSON_ADDRESS,
    DocumentRole.REPRESENTATIVE_IDENTITY: DocumentRole.REPRESENTATIVE_ADDRESS,
}
_NOTES: dict[DocumentRole, tuple[str, ...]] = {
    DocumentRole.PERSON_IDENTITY: (N_("It must show your name and current address."),),
    DocumentRole.REPRESENTATIVE_IDENTITY: (
        N_("It must show the representative's name and current address."),
    ),
    DocumentRole.POWER_OF_ATTORNEY: (
        N_("Signed and sealed by the person with the seal on the seal registration certificate."),
    ),
    DocumentRole.SEAL_CERTIFICATE: (
        N_("Enter its issue date: it must have been issued within the last three months."),
    ),
    DocumentRole.PERSON_ADDRESS: (
        N_("Passports issued since February 2020 do not show an address, so one more document is needed."),
    ),
    DocumentRole.REPRESENTATIVE_ADDRESS: (
        N_("Passports issued since February 2020 do not show an address, so one more document is needed."),
    ),
}
_AUTHORITY_NOTES: dict[Requester, tuple[str, ...]] = {
    Requester.LEGAL_REPRESENTATIVE_MINOR: (
        N_(
            "A family register extract showing the relationship, or, if you are a parent, a health "
            "insurance card listing the child as a dependant."
        ),
    ),
    Requester.LEGAL_REPRESENTATIVE_ADULT_WARD: (
        N_("A certificate of registered matters naming you as the adult guardian."),
    ),
}


def checklist(
    requester: Requester | str,
    identity: Mapping[DocumentRole | str, IdentityChoice] | None = None,
) -> list[ChecklistItem]:
    """The documents a request filed by ``requester`` needs, in the order to upload them.

    ``identity`` maps an identity role to the document chosen for it; a passport that
    may have no address field adds an item for a second, address-showing document.
    """
    requester = Requester(requester)
    chosen = {DocumentRole(role): choice for role, choice in (identity or {}).items()}
    items: list[ChecklistItem] = []
    for role in _ROLES_FOR[requester]:
        if role is DocumentRole.AUTHORITY:
            items.append(ChecklistItem(role, accepted_types(role, requester), _AUTHORITY_NOTES[requester]))
            continue
        items.append(
            ChecklistItem(
                role,
                accepted_types(role),
                _NOTES.get(role, ()),
                needs_issue_date=role is DocumentRole.SEAL_CERTIFICATE,
            )
        )
        choice = chosen.get(role)
        if (
            role in _ADDRESS_ROLE
            and choice is not None
            and choice.doc_type is DocType.PASSPORT
            and passport_lacks_address(choice.issued_on)
        ):
            address_role = _ADDRESS_ROLE[role]
            items.append(ChecklistItem(address_role, accepted_types(address_role), _NOTES[address_role]))
    return items


# --- masking: what must not be visible on the upload ---------------------------------------

_MASKING: dict[DocType, tuple[str, ...]] = {
    DocType.HEALTH_INSURANCE_CARD: (
        N_(
            "Cover the insurer number, the symbol and number, and the QR code before you take the "
            "copy (Health Insurance Act Art. 194-2)."
        ),
    ),
    DocType.HEALTH_INSURANCE_DEPENDANT: (
        N_(
            "Cover the insurer number, the symbol and number, and the QR code before you take the "
            "copy (Health Insurance Act Art. 194-2)."
        ),
    ),
    DocType.MY_NUMBER_CARD: (
        N_("Upload the front only. Never upload the back: it shows your individual number (My Number)."),
    ),
    DocType.DRIVERS_LICENCE: (
        N_("Older licences show the registered domicile (honseki): cover it before you take the copy."),
    ),
    DocType.RESIDENT_RECORD: (
        N_("Ask for a copy without the individual number (My Number) and the registered domicile."),
    ),
}


def masking_instructions(doc_type: DocType | str) -> tuple[str, ...]:
    """Message ids saying what must be covered on a copy of ``doc_type`` (may be empty)."""
    return _MASKING.get(DocType(doc_type), ())


# --- the seal registration certificate: issued within the last three months -----------------

SEAL_CERTIFICATE_MONTHS = 3


def add_months(day: date, months: int) -> date:
    """``day`` moved by whole calendar months; a day the target month lacks becomes its last day."""
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def seal_certificate_valid_until(issued_on: date) -> date:
    """The last day a certificate issued on ``issued_on`` counts as issued "within three months".

    Counted as the Civil Code counts periods (Arts. 140, 143): the day of issue is not
    counted, and the period ends on the day before the corresponding day three months on,
    or on the last day of that month when it has no such day. That is the issue date plus
    three calendar months, clamped to the month's end: issued 2026-08-25 → valid through
    2026-11-25; issued 2026-11-30 → through 2027-02-28.
    """
    return add_months(issued_on, SEAL_CERTIFICATE_MONTHS)


def earliest_valid_seal_issue_date(today: date) -> date:
    """The oldest issue date a seal registration certificate may have on ``today``."""
    candidate = add_months(today, -SEAL_CERTIFICATE_MONTHS)
    # Clamping can land on a month end that expires the day before ``today`` (e.g. on 05-31
    # three months back is 02-28, valid only through 05-28): the next day is then the first.
    while seal_certificate_valid_until(candidate) < today:
        candidate += timedelta(days=1)
    return candidate


@dataclass(frozen=True)
class Problem:
    """Something wrong with what was entered: a message id and its parameters.

    Dates in ``params`` are ``date`` objects; the page formats them in the reader's
    language (``documents.problem_text``).
    """

    code: str
    message: str
    params: Mapping[str, Any] = field(default_factory=dict)


SEAL_TOO_OLD = N_(
    "The seal registration certificate was issued on %(issued_on)s. It must have been issued within "
    "the last three months, that is on or after %(earliest)s. Please obtain a new certificate from "
    "the municipal office and enter its issue date."
)
SEAL_IN_FUTURE = N_(
    "The issue date %(issued_on)s is in the future. Please enter the date printed on the certificate."
)
SEAL_MISSING_DATE = N_("Please enter the issue date printed on the seal registration certificate.")


def check_seal_certificate(issued_on: date | None, today: date) -> Problem | None:
    """``None`` when a certificate issued on ``issued_on`` is acceptable on ``today``."""
    if issued_on is None:
        return Problem("seal_date_missing", SEAL_MISSING_DATE)
    if issued_on > today:
        return Problem("seal_date_in_future", SEAL_IN_FUTURE, {"issued_on": issued_on})
    if seal_certificate_valid_until(issued_on) < today:
        return Problem(
            "seal_too_old",
            SEAL_TOO_OLD,
            {"issued_on": issued_on, "earliest": earliest_valid_seal_issue_date(today)},
        )
    return None
