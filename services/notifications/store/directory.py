"""The directory in MongoDB: organisations, contacts (erased ones as tombstones), subscriptions."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Protocol

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from services.notifications.domain.directory import (
    MAX_ID_CLASHES,
    Category,
    Contact,
    ContactId,
    ContactOrigin,
    ContactRole,
    DeliveryMode,
    EntityKind,
    EntityRef,
    Organisation,
    OrganisationId,
    OrganisationKind,
    Preferences,
    Subscription,
    SubscriptionId,
    with_next_id,
)
from shared.aggregates import Decisions, LostRace
from shared.batching import Batcher
from shared.errors import Conflict, NotFound
from shared.storage import Document, duplicate_positions


class DirectoryStore(Protocol):
    """What the service needs from the directory; the Mongo store and the test fake both have it."""

    async def add_organisation(self, organisation: Organisation) -> None: ...
    async def save_organisation(self, organisation: Organisation) -> None: ...
    async def get_organisation(self, organisation_id: OrganisationId) -> Organisation: ...
    async def list_organisations(
        self, *, kind: OrganisationKind | None = None
    ) -> list[Organisation]: ...
    async def remove_organisation(self, organisation_id: OrganisationId) -> None: ...

    async def add_contact(self, contact: Contact) -> Contact | None: ...
    async def save_contact(self, contact: Contact) -> Contact: ...
    async def change_contact(
        self, contact_id: ContactId, change: Callable[[Contact], Contact]
    ) -> Contact: ...
    async def get_contact(self, contact_id: ContactId) -> Contact: ...
    async def find_contact(self, email_key: str) -> Contact | None: ...
    async def is_erased(self, email_key: str) -> bool: ...
    async def get_contacts(self, contact_ids: Iterable[ContactId]) -> list[Contact]: ...
    async def list_contacts(
        self,
        *,
        organisation_id: OrganisationId | None = None,
        role: ContactRole | None = None,
        origin: ContactOrigin | None = None,
    ) -> list[Contact]: ...
    async def contacts_of(
        self, organisation_ids: Iterable[OrganisationId], *, roles: frozenset[ContactRole]
    ) -> list[Contact]: ...
    async def erase_contact(self, contact_id: ContactId, *, now: datetime) -> None: ...

    async def follow(self, subscription: Subscription, *, now: datetime) -> bool: ...
    async def unfollow(self, contact_id: ContactId, subscription_id: SubscriptionId) -> None: ...
    async def list_subscriptions(self, contact_id: ContactId) -> list[Subscription]: ...
    async def followers(self, *, entity: EntityRef, category: Category) -> list[Contact]: ...


class ChangesContacts:
    """`change_contact` for any directory store that reads and saves contacts by version."""

    _decisions: Decisions

    async def get_contact(self, contact_id: ContactId) -> Contact:
        raise NotImplementedError

    async def save_contact(self, contact: Contact) -> Contact:
        raise NotImplementedError

    async def change_contact(
        self, contact_id: ContactId, change: Callable[[Contact], Contact]
    ) -> Contact:
        """Read, change, save; on a lost race read the fresh contact and change it again."""

        async def attempt() -> Contact:
            contact = await self.get_contact(contact_id)
            changed = change(contact)
            return contact if changed == contact else await self.save_contact(changed)

        return await self._decisions.run(contact_id, attempt)


class MongoDirectory(ChangesContacts):
    """DirectoryStore on MongoDB."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._organisations = db["organisations"]
        self._contacts = db["contacts"]
        self._decisions = Decisions("contact")
        self._subscriptions = db["subscriptions"]
        # Every event names people by address: their lookups go out together.
        self._by_key = Batcher(self._find_by_keys)
        self._add = Batcher(self._add_many)

    async def create_indexes(self) -> None:
        await self._contacts.create_index("email_key", unique=True)
        await self._contacts.create_index("organisation_id")
        await self._contacts.create_index("roles")
        await self._subscriptions.create_index("target")
        await self._subscriptions.create_index("contact_id")

    # --- organisations ---------------------------------------------------------------

    async def add_organisation(self, organisation: Organisation) -> None:
        try:
            await self._organisations.insert_one(organisation_doc(organisation))
        except DuplicateKeyError as exc:
            raise Conflict(
                f"organisation {organisation.id} already exists",
                organisation_id=organisation.id,
            ) from exc

    async def save_organisation(self, organisation: Organisation) -> None:
        result = await self._organisations.replace_one(
            {"_id": organisation.id}, organisation_doc(organisation)
        )
        if result.matched_count == 0:
            raise _organisation_not_found(organisation.id)

    async def get_organisation(self, organisation_id: OrganisationId) -> Organisation:
        doc = await self._organisations.find_one({"_id": organisation_id})
        if doc is None:
            raise _organisation_not_found(organisation_id)
        return organisation_of(doc)

    async def list_organisations(
        self, *, kind: OrganisationKind | None = None
    ) -> list[Organisation]:
        query: Document = {} if kind is None else {"kind": kind.value}
        cursor = self._organisations.find(query).sort("_id", ASCENDING)
        return [organisation_of(doc) async for doc in cursor]

    async def remove_organisation(self, organisation_id: OrganisationId) -> None:
        if await self._contacts.find_one({"organisation_id": organisation_id}, {"_id": 1}):
            raise Conflict(
                f"organisation {organisation_id} still has contacts; move or erase them first",
                organisation_id=organisation_id,
            )
        result = await self._organisations.delete_one({"_id": organisation_id})
        if result.deleted_count == 0:
            raise _organisation_not_found(organisation_id)

    # --- contacts ------------------------------------------------------------------------

    async def add_contact(self, contact: Contact) -> Contact | None:
        """Insert; the contact as stored, or None if one with this address exists.

        An erased contact with the address is replaced (under its id); an id taken by a
        contact that has since changed its address is passed over for the next one.
        """
        return await self._add(contact)

    async def _add_many(self, contacts: Sequence[Contact]) -> list[Contact | None]:
        # Most are new people: one insert for all, the careful way only for the others.
        refused: set[int] = set()
        try:
            await self._contacts.insert_many([contact_doc(c) for c in contacts], ordered=False)
        except BulkWriteError as error:
            refused = duplicate_positions(error)
        return [
            await self._add_one(contact) if index in refused else contact
            for index, contact in enumerate(contacts)
        ]

    async def _add_one(self, contact: Contact) -> Contact | None:
        for clash in range(MAX_ID_CLASHES):
            candidate = with_next_id(contact, clash)
            try:
                await self._contacts.insert_one(contact_doc(candidate))
            except DuplicateKeyError:
                pass
            else:
                return candidate
            holder = await self._contacts.find_one(
                {"email_key": contact.email_key}, {"_id": 1, "erased": 1}
            )
            if holder is None:
                continue
            if not holder.get("erased"):
                return None
            revived = replace(candidate, id=ContactId(holder["_id"]))
            replaced = await self._contacts.replace_one(
                {"_id": revived.id, "erased": True}, contact_doc(revived)
            )
            return revived if replaced.matched_count == 1 else None
        raise Conflict(
            "every id for this e-mail address is taken by contacts that changed address",
            contact_id=contact.id,
        )

    async def save_contact(self, contact: Contact) -> Contact:
        """Write the contact if it is still at the version it was read at (`LostRace` if
        another edit came first); returns it at its new version."""
        saved = replace(contact, version=contact.version + 1)
        try:
            result = await self._contacts.replace_one(
                {"_id": contact.id, "erased": {"$ne": True}, "version": contact.version},
                contact_doc(saved),
            )
        except DuplicateKeyError as exc:
            raise Conflict(
                "another contact already has this e-mail address", contact_id=contact.id
            ) from exc
        if result.matched_count == 0:
            await self.get_contact(contact.id)  # gone (or erased): 404
            raise LostRace("contact", contact.id, version=contact.version)
        return saved

    async def get_contact(self, contact_id: ContactId) -> Contact:
        doc = await self._contacts.find_one({"_id": contact_id})
        if doc is None or doc.get("erased"):
            raise _contact_not_found(contact_id)
        return contact_of(doc)

    async def find_contact(self, email_key: str) -> Contact | None:
        doc = await self._by_key(email_key)
        if doc is None or doc.get("erased"):
            return None
        return contact_of(doc)

    async def is_erased(self, email_key: str) -> bool:
        doc = await self._by_key(email_key)
        return bool(doc and doc.get("erased"))

    async def _find_by_keys(self, keys: Sequence[str]) -> list[Document | None]:
        cursor = self._contacts.find({"email_key": {"$in": list(set(keys))}})
        found = {doc["email_key"]: doc async for doc in cursor}
        return [found.get(key) for key in keys]

    async def get_contacts(self, contact_ids: Iterable[ContactId]) -> list[Contact]:
        ids = list(dict.fromkeys(contact_ids))
        if not ids:
            return []
        cursor = self._contacts.find({"_id": {"$in": ids}, "erased": {"$ne": True}})
        found = {doc["_id"]: contact_of(doc) async for doc in cursor}
        return [found[i] for i in ids if i in found]

    async def list_contacts(
        self,
        *,
        organisation_id: OrganisationId | None = None,
        role: ContactRole | None = None,
        origin: ContactOrigin | None = None,
    ) -> list[Contact]:
        query: Document = {"erased": {"$ne": True}}
        if organisation_id is not None:
            query["organisation_id"] = organisation_id
        if role is not None:
            query["roles"] = role.value
        if origin is not None:
            query["origin"] = origin.value
        cursor = self._contacts.find(query).sort("_id", ASCENDING)
        return [contact_of(doc) async for doc in cursor]

    async def contacts_of(
        self, organisation_ids: Iterable[OrganisationId], *, roles: frozenset[ContactRole]
    ) -> list[Contact]:
        ids = list(dict.fromkeys(organisation_ids))
        if not ids:
            return []
        query: Document = {"organisation_id": {"$in": ids}, "erased": {"$ne": True}}
        if roles:
            query["roles"] = {"$in": sorted(r.value for r in roles)}
        cursor = self._contacts.find(query).sort("_id", ASCENDING)
        return [contact_of(doc) async for doc in cursor]

    async def erase_contact(self, contact_id: ContactId, *, now: datetime) -> None:
        """Keep only the keyed hash of the address, so nothing reaches this person again."""
        doc = await self._contacts.find_one({"_id": contact_id})
        if doc is None or doc.get("erased"):
            raise _contact_not_found(contact_id)
        await self._contacts.replace_one(
            {"_id": contact_id},
            {"_id": contact_id, "email_key": doc["email_key"], "erased": True, "erased_at": now},
        )
        await self._subscriptions.delete_many({"contact_id": contact_id})

    # --- subscriptions ---------------------------------------------------------------------

    async def follow(self, subscription: Subscription, *, now: datetime) -> bool:
        """Start following; False if the contact already follows it."""
        try:
            await self._subscriptions.insert_one(subscription_doc(subscription, now))
        except DuplicateKeyError:
            return False
        return True

    async def unfollow(self, contact_id: ContactId, subscription_id: SubscriptionId) -> None:
        result = await self._subscriptions.delete_one(
            {"_id": subscription_id, "contact_id": contact_id}
        )
        if result.deleted_count == 0:
            raise NotFound(
                f"contact {contact_id} has no subscription {subscription_id}",
                subscription_id=subscription_id,
            )

    async def list_subscriptions(self, contact_id: ContactId) -> list[Subscription]:
        cursor = self._subscriptions.find({"contact_id": contact_id}).sort("_id", ASCENDING)
        return [subscription_of(doc) async for doc in cursor]

    async def followers(self, *, entity: EntityRef, category: Category) -> list[Contact]:
        targets = [entity.key, f"category:{category.value}"]
        cursor = self._subscriptions.find({"target": {"$in": targets}}, {"contact_id": 1})
        contact_ids = [ContactId(doc["contact_id"]) async for doc in cursor]
        return await self.get_contacts(sorted(set(contact_ids)))


# --- documents -------------------------------------------------------------------------


def organisation_doc(organisation: Organisation) -> Document:
    return {
        "_id": organisation.id,
        "name": organisation.name,
        "kind": organisation.kind.value,
        "short_name": organisation.short_name,
        "country": organisation.country,
        "coordinator": organisation.coordinator,
    }


def organisation_of(doc: Document) -> Organisation:
    return Organisation(
        id=OrganisationId(doc["_id"]),
        name=doc["name"],
        kind=OrganisationKind(doc["kind"]),
        short_name=doc.get("short_name"),
        country=doc.get("country"),
        coordinator=bool(doc.get("coordinator")),
    )


def contact_doc(contact: Contact) -> Document:
    return {
        "_id": contact.id,
        "name": contact.name,
        "email": contact.email,
        "email_key": contact.email_key,
        "language": contact.preferences.language,
        "muted": sorted(c.value for c in contact.preferences.muted),
        "delivery": contact.preferences.delivery.value,
        "organisation_id": contact.organisation_id,
        "roles": sorted(r.value for r in contact.roles),
        "origin": contact.origin.value,
        "created_at": contact.created_at,
        "version": contact.version,
    }


def contact_of(doc: Document) -> Contact:
    organisation_id = doc.get("organisation_id")
    return Contact(
        id=ContactId(doc["_id"]),
        name=doc["name"],
        email=doc["email"],
        email_key=doc["email_key"],
        preferences=Preferences(
            language=doc.get("language", "en"),
            muted=frozenset(Category(c) for c in doc.get("muted", [])),
            delivery=DeliveryMode(doc.get("delivery", DeliveryMode.IMMEDIATE.value)),
        ),
        organisation_id=OrganisationId(organisation_id) if organisation_id else None,
        roles=frozenset(ContactRole(r) for r in doc.get("roles", [])),
        origin=ContactOrigin(doc.get("origin", ContactOrigin.DIRECTORY.value)),
        created_at=doc.get("created_at"),
        version=int(doc.get("version", 0)),
    )


def subscription_doc(subscription: Subscription, now: datetime) -> Document:
    entity = subscription.entity
    return {
        "_id": subscription.id,
        "contact_id": subscription.contact_id,
        "target": subscription.target,
        "category": subscription.category.value if subscription.category else None,
        "entity_kind": entity.kind.value if entity else None,
        "entity_id": entity.id if entity else None,
        "created_at": now,
    }


def subscription_of(doc: Document) -> Subscription:
    entity = None
    if doc.get("entity_kind"):
        entity = EntityRef(EntityKind(doc["entity_kind"]), doc["entity_id"])
    category = Category(doc["category"]) if doc.get("category") else None
    return Subscription(contact_id=ContactId(doc["contact_id"]), category=category, entity=entity)


def _organisation_not_found(organisation_id: str) -> NotFound:
    return NotFound(f"no organisation {organisation_id}", organisation_id=organisation_id)


def _contact_not_found(contact_id: str) -> NotFound:
    return NotFound(f"no contact {contact_id}", contact_id=contact_id)
