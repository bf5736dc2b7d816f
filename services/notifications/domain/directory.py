"""The directory: member organisations, their contacts, what each contact follows and prefers."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import NewType

from shared.errors import Invalid
from shared.fields import email_identity

OrganisationId = NewType("OrganisationId", str)
ContactId = NewType("ContactId", str)
SubscriptionId = NewType("SubscriptionId", str)

DEFAULT_LANGUAGE = "en"


class OrganisationKind(StrEnum):
    CITY = "city"
    MEMBER_STATE = "member_state"
    STAKEHOLDER = "stakeholder"
    EU_INSTITUTION = "eu_institution"


class ContactRole(StrEnum):
    """What a contact does for the partnership; some routing rules pick contacts by role."""

    SECRETARIAT = "secretariat"
    COORDINATOR_CONTACT = "coordinator_contact"
    MEMBER_REPRESENTATIVE = "member_representative"
    ACTION_LEAD_CONTACT = "action_lead_contact"
    ACTION_PARTNER_CONTACT = "action_partner_contact"
    ACADEMY_CONTACT = "academy_contact"
    COMMUNICATIONS = "communications"


class Category(StrEnum):
    """What an e-mail is about; followers subscribe to categories, preferences switch them off."""

    PERSONAL = "personal"  # a person's own registration or enrolment: transactional
    NEW_MEETINGS = "new_meetings"
    MEETING_CHANGES = "meeting_changes"
    MINUTES = "minutes"
    REMINDERS = "reminders"
    REGISTRATION_REQUESTS = "registration_requests"
    ACTION_STATUS_CHANGES = "action_status_changes"
    ACADEMY_MODULES = "academy_modules"


# Transactional e-mails cannot be switched off, so this category is never "muted".
OPTIONAL_CATEGORIES: frozenset[Category] = frozenset(Category) - {Category.PERSONAL}


class EntityKind(StrEnum):
    MEETING = "meeting"
    ACTION = "action"
    ACADEMY_MODULE = "academy_module"


class ContactOrigin(StrEnum):
    DIRECTORY = "directory"  # added by the secretariat (or the seed) for a member organisation
    EVENT = "event"  # known only because an event named them (a registrant, a participant)


class DeliveryMode(StrEnum):
    IMMEDIATE = "immediate"
    DAILY_DIGEST = "daily_digest"


@dataclass(frozen=True)
class EntityRef:
    """One thing that can be followed: a meeting, an action, an academy module."""

    kind: EntityKind
    id: str

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.id}"


@dataclass(frozen=True)
class Organisation:
    """A member of the partnership."""

    id: OrganisationId
    name: str
    kind: OrganisationKind
    short_name: str | None = None
    country: str | None = None
    coordinator: bool = False

    def answers_to(self, reference: str) -> bool:
        """Events name organisations by id, name or short name; all three identify it."""
        wanted = reference.strip().casefold()
        names = {self.id.casefold(), self.name.casefold()}
        if self.short_name:
            names.add(self.short_name.casefold())
        return wanted in names


@dataclass(frozen=True)
class Preferences:
    """A contact's choices: the language, the categories switched off, immediate or digest."""

    language: str = DEFAULT_LANGUAGE
    muted: frozenset[Category] = frozenset()
    delivery: DeliveryMode = DeliveryMode.IMMEDIATE

    def wants(self, category: Category, *, transactional: bool) -> bool:
        """Transactional e-mails always go out; anything else only if its category is on."""
        return transactional or category not in self.muted


@dataclass(frozen=True)
class Contact:
    """A person the service may write to: a member's contact, or someone known from an event."""

    id: ContactId
    name: str
    email: str
    email_key: str
    preferences: Preferences = field(default_factory=Preferences)
    organisation_id: OrganisationId | None = None
    roles: frozenset[ContactRole] = frozenset()
    origin: ContactOrigin = ContactOrigin.DIRECTORY
    created_at: datetime | None = None
    # The version the contact was read at: a save succeeds only if it is still the stored one.
    version: int = 0

    @property
    def language(self) -> str:
        return self.preferences.language


@dataclass(frozen=True)
class Subscription:
    """A contact follows one entity or a whole category; exactly one of the two is set."""

    contact_id: ContactId
    category: Category | None = None
    entity: EntityRef | None = None

    def __post_init__(self) -> None:
        if (self.category is None) == (self.entity is None):
            raise Invalid("a subscription follows either one entity or one category")

    @property
    def target(self) -> str:
        if self.entity is not None:
            return self.entity.key
        assert self.category is not None
        return f"category:{self.category}"

    @property
    def id(self) -> SubscriptionId:
        return subscription_id(self.contact_id, self.target)


def subscription_id(contact_id: ContactId, target: str) -> SubscriptionId:
    """Following the same thing twice is the same subscription."""
    return SubscriptionId(f"{contact_id}~{target}")


def email_key(address: str, *, secret: str) -> str:
    """A keyed hash of the address: finds a contact by e-mail and outlives erasure without it."""
    return hmac.new(
        secret.encode(), f"contact-email:{email_identity(address)}".encode(), hashlib.sha256
    ).hexdigest()


# How many contacts that moved away from one address may still hold ids derived from it.
MAX_ID_CLASHES = 20


def contact_id_for(key: str, *, clash: int = 0) -> ContactId:
    """Contacts get ids from their address key, so adding the same person twice is one contact.

    A contact keeps its id when its address changes, so the id derived from the old address
    stays taken: the next contact with that address gets the id with a suffix (`clash`).
    """
    base = f"c-{key[:20]}"
    return ContactId(base if clash == 0 else f"{base}-{clash + 1}")


def with_next_id(contact: Contact, clash: int) -> Contact:
    """The same new contact under the id for this many clashes (see `contact_id_for`)."""
    return replace(contact, id=contact_id_for(contact.email_key, clash=clash))


def new_contact(
    name: str,
    email: str,
    *,
    secret: str,
    language: str = DEFAULT_LANGUAGE,
    organisation_id: OrganisationId | None = None,
    roles: frozenset[ContactRole] = frozenset(),
    origin: ContactOrigin = ContactOrigin.DIRECTORY,
    now: datetime | None = None,
) -> Contact:
    """A contact with a deterministic id."""
    key = email_key(email, secret=secret)
    return Contact(
        id=contact_id_for(key),
        name=name.strip(),
        email=email_identity(email),
        email_key=key,
        preferences=Preferences(language=normalise_language(language)),
        organisation_id=organisation_id,
        roles=roles,
        origin=origin,
        created_at=now,
    )


def normalise_language(tag: str) -> str:
    """`fr-BE` and `FR` are both French; an empty tag means the default language."""
    primary = tag.strip().replace("_", "-").split("-")[0].lower()
    return primary or DEFAULT_LANGUAGE


def mute(preferences: Preferences, categories: frozenset[Category]) -> Preferences:
    """Switch categories off; the personal category is never switched off."""
    return replace(preferences, muted=preferences.muted | (categories & OPTIONAL_CATEGORIES))


def set_preferences(
    preferences: Preferences,
    *,
    language: str | None = None,
    muted: frozenset[Category] | None = None,
    delivery: DeliveryMode | None = None,
) -> Preferences:
    """Replace what was given; transactional e-mails stay on whatever is asked."""
    return Preferences(
        language=normalise_language(language) if language is not None else preferences.language,
        muted=(muted & OPTIONAL_CATEGORIES) if muted is not None else preferences.muted,
        delivery=delivery if delivery is not None else preferences.delivery,
    )


def named_organisations(
    organisations: Iterable[Organisation], references: Iterable[str]
) -> list[OrganisationId]:
    """The members an event names, whether by id, name or short name; unknown names are skipped."""
    wanted = list(references)
    return [o.id for o in organisations if any(o.answers_to(ref) for ref in wanted)]


def join_directory(
    contact: Contact,
    *,
    name: str,
    organisation_id: OrganisationId,
    roles: frozenset[ContactRole],
) -> Contact:
    """Someone first known from a registration becomes a member organisation's contact."""
    return replace(
        contact,
        name=name.strip(),
        organisation_id=organisation_id,
        roles=roles,
        origin=ContactOrigin.DIRECTORY,
    )


def change_address(contact: Contact, email: str, *, secret: str) -> Contact:
    """A new e-mail address; the contact keeps its id."""
    return replace(contact, email=email_identity(email), email_key=email_key(email, secret=secret))


def edit_contact(
    contact: Contact,
    *,
    name: str | None = None,
    email: str | None = None,
    organisation_id: OrganisationId | None = None,
    roles: frozenset[ContactRole] | None = None,
    secret: str,
) -> Contact:
    """The secretariat's edit: what it names changes, the rest stays. A person known only
    from an event joins the directory when given an organisation."""
    if organisation_id is not None:
        contact = join_directory(
            contact, name=contact.name, organisation_id=organisation_id, roles=contact.roles
        )
    if email is not None:
        contact = change_address(contact, email, secret=secret)
    return replace(
        contact,
        name=contact.name if name is None else name,
        roles=contact.roles if roles is None else roles,
    )
