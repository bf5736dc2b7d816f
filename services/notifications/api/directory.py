"""Directory routes: organisations and contacts (secretariat); own preferences and subscriptions."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Response, status
from pydantic import MISSING

from services.notifications import privacy
from services.notifications.api.deps import ComponentsDep, ensure_self_or_secretariat
from services.notifications.api.views import (
    ContactView,
    OrganisationView,
    PreferencesView,
    SubscriptionView,
)
from services.notifications.commands import (
    AddContact,
    AddOrganisation,
    Follow,
    SetPreferences,
    UpdateContact,
    UpdateOrganisation,
)
from services.notifications.domain import directory as domain
from services.notifications.domain.directory import (
    Contact,
    ContactId,
    ContactOrigin,
    ContactRole,
    EntityRef,
    OrganisationId,
    OrganisationKind,
    Subscription,
    SubscriptionId,
)
from shared.auth import Secretariat, SecretariatOrMember
from shared.errors import Conflict
from shared.problems import problem_responses

router = APIRouter(tags=["directory"])


@router.get(
    "/organisations",
    summary="List the partnership's member organisations",
    responses=problem_responses(401, 403),
)
async def list_organisations(
    c: ComponentsDep, _: Secretariat, kind: OrganisationKind | None = None
) -> list[OrganisationView]:
    return [OrganisationView.of(o) for o in await c.stores.directory.list_organisations(kind=kind)]


@router.post(
    "/organisations",
    status_code=status.HTTP_201_CREATED,
    summary="Add a member organisation",
    responses=problem_responses(401, 403, 409, 422),
)
async def add_organisation(
    body: AddOrganisation, c: ComponentsDep, _: Secretariat
) -> OrganisationView:
    organisation = body.organisation(OrganisationId(body.id))
    await c.stores.directory.add_organisation(organisation)
    return OrganisationView.of(organisation)


@router.get(
    "/organisations/{organisation_id}",
    summary="One member organisation",
    responses=problem_responses(401, 403, 404),
)
async def get_organisation(
    organisation_id: OrganisationId, c: ComponentsDep, _: Secretariat
) -> OrganisationView:
    return OrganisationView.of(await c.stores.directory.get_organisation(organisation_id))


@router.put(
    "/organisations/{organisation_id}",
    summary="Change a member organisation",
    responses=problem_responses(401, 403, 404, 422),
)
async def update_organisation(
    organisation_id: OrganisationId, body: UpdateOrganisation, c: ComponentsDep, _: Secretariat
) -> OrganisationView:
    organisation = body.organisation(organisation_id)
    await c.stores.directory.save_organisation(organisation)
    return OrganisationView.of(organisation)


@router.delete(
    "/organisations/{organisation_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a member organisation that has no contacts left",
    responses=problem_responses(401, 403, 404, 409),
)
async def remove_organisation(
    organisation_id: OrganisationId, c: ComponentsDep, _: Secretariat
) -> Response:
    await c.stores.directory.remove_organisation(organisation_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/contacts",
    summary="List contacts (by organisation, role or origin)",
    responses=problem_responses(401, 403),
)
async def list_contacts(
    c: ComponentsDep,
    _: Secretariat,
    organisation_id: OrganisationId | None = None,
    role: ContactRole | None = None,
    origin: ContactOrigin | None = None,
) -> list[ContactView]:
    contacts = await c.stores.directory.list_contacts(
        organisation_id=organisation_id, role=role, origin=origin
    )
    return [ContactView.of(contact) for contact in contacts]


@router.post(
    "/contacts",
    status_code=status.HTTP_201_CREATED,
    summary="Add a contact of a member organisation",
    description=(
        "A person already known from a registration joins the directory with their "
        "existing preferences; an address already in the directory is a conflict."
    ),
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def add_contact(body: AddContact, c: ComponentsDep, _: Secretariat) -> ContactView:
    directory = c.stores.directory
    organisation = await directory.get_organisation(OrganisationId(body.organisation_id))
    roles = frozenset(body.roles)
    candidate = domain.new_contact(
        body.name,
        str(body.email),
        secret=c.address_secret,
        language=body.language,
        organisation_id=organisation.id,
        roles=roles,
        now=c.clock(),
    )
    existing = await directory.find_contact(candidate.email_key)
    if existing is not None:
        if existing.origin is ContactOrigin.DIRECTORY:
            raise Conflict(
                "a contact with this e-mail address is already in the directory",
                contact_id=existing.id,
            )
        joined = await directory.change_contact(
            existing.id,
            lambda known: domain.join_directory(
                known, name=body.name, organisation_id=organisation.id, roles=roles
            ),
        )
        return ContactView.of(joined)
    added = await directory.add_contact(candidate)
    if added is None:
        raise Conflict("a contact with this e-mail address already exists")
    return ContactView.of(added)


@router.get(
    "/contacts/{contact_id}",
    summary="One contact (the secretariat, or the contact themselves)",
    responses=problem_responses(401, 403, 404),
)
async def get_contact(
    contact_id: ContactId, c: ComponentsDep, principal: SecretariatOrMember
) -> ContactView:
    ensure_self_or_secretariat(principal, contact_id)
    return ContactView.of(await c.stores.directory.get_contact(contact_id))


@router.patch(
    "/contacts/{contact_id}",
    summary="Change a contact's name, address, organisation or roles",
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def update_contact(
    contact_id: ContactId, body: UpdateContact, c: ComponentsDep, _: Secretariat
) -> ContactView:
    directory = c.stores.directory
    organisation = (
        None
        if body.organisation_id is MISSING
        else await directory.get_organisation(OrganisationId(body.organisation_id))
    )

    def change(contact: Contact) -> Contact:
        return domain.edit_contact(
            contact,
            name=None if body.name is MISSING else body.name,
            email=None if body.email is MISSING else body.email,
            organisation_id=organisation.id if organisation else None,
            roles=None if body.roles is MISSING else frozenset(body.roles),
            secret=c.address_secret,
        )

    return ContactView.of(await directory.change_contact(contact_id, change))


@router.delete(
    "/contacts/{contact_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Erase a contact: their personal data goes, no further e-mail reaches them",
    responses=problem_responses(401, 403, 404),
)
async def erase_contact(
    contact_id: ContactId, c: ComponentsDep, principal: SecretariatOrMember
) -> Response:
    ensure_self_or_secretariat(principal, contact_id)
    await privacy.erase_contact(c.stores, contact_id, now=c.clock())
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/contacts/{contact_id}/export",
    summary="Everything the service holds about a contact, as JSON",
    responses=problem_responses(401, 403, 404),
)
async def export_contact(
    contact_id: ContactId, c: ComponentsDep, principal: SecretariatOrMember
) -> dict[str, Any]:
    ensure_self_or_secretariat(principal, contact_id)
    return await privacy.export_contact(c.stores, contact_id, now=c.clock())


@router.get(
    "/contacts/{contact_id}/preferences",
    tags=["preferences"],
    summary="A contact's language, categories switched off, and immediate or daily digest",
    responses=problem_responses(401, 403, 404),
)
async def get_preferences(
    contact_id: ContactId, c: ComponentsDep, principal: SecretariatOrMember
) -> PreferencesView:
    ensure_self_or_secretariat(principal, contact_id)
    contact = await c.stores.directory.get_contact(contact_id)
    return PreferencesView.of(contact.preferences)


@router.put(
    "/contacts/{contact_id}/preferences",
    tags=["preferences"],
    summary="Change preferences (e-mails about one's own registrations cannot be switched off)",
    responses=problem_responses(401, 403, 404, 422),
)
async def set_preferences(
    contact_id: ContactId, body: SetPreferences, c: ComponentsDep, principal: SecretariatOrMember
) -> PreferencesView:
    ensure_self_or_secretariat(principal, contact_id)

    def change(contact: Contact) -> Contact:
        preferences = domain.set_preferences(
            contact.preferences,
            language=None if body.language is MISSING else body.language,
            muted=None if body.muted is MISSING else frozenset(body.muted),
            delivery=None if body.delivery is MISSING else body.delivery,
        )
        return replace(contact, preferences=preferences)

    changed = await c.stores.directory.change_contact(contact_id, change)
    return PreferencesView.of(changed.preferences)


@router.get(
    "/contacts/{contact_id}/subscriptions",
    tags=["subscriptions"],
    summary="What a contact follows",
    responses=problem_responses(401, 403, 404),
)
async def list_subscriptions(
    contact_id: ContactId, c: ComponentsDep, principal: SecretariatOrMember
) -> list[SubscriptionView]:
    ensure_self_or_secretariat(principal, contact_id)
    await c.stores.directory.get_contact(contact_id)
    return [SubscriptionView.of(s) for s in await c.stores.directory.list_subscriptions(contact_id)]


@router.post(
    "/contacts/{contact_id}/subscriptions",
    tags=["subscriptions"],
    status_code=status.HTTP_201_CREATED,
    summary="Follow one meeting, action or academy module, or a whole category",
    responses=problem_responses(401, 403, 404, 422),
)
async def follow(
    contact_id: ContactId, body: Follow, c: ComponentsDep, principal: SecretariatOrMember
) -> SubscriptionView:
    ensure_self_or_secretariat(principal, contact_id)
    await c.stores.directory.get_contact(contact_id)
    subscription = Subscription(
        contact_id=contact_id,
        category=None if body.category is MISSING else body.category,
        entity=None if body.entity is MISSING else EntityRef(body.entity.kind, body.entity.id),
    )
    await c.stores.directory.follow(subscription, now=c.clock())
    return SubscriptionView.of(subscription)


@router.delete(
    "/contacts/{contact_id}/subscriptions/{subscription_id}",
    tags=["subscriptions"],
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Stop following",
    responses=problem_responses(401, 403, 404),
)
async def unfollow(
    contact_id: ContactId,
    subscription_id: SubscriptionId,
    c: ComponentsDep,
    principal: SecretariatOrMember,
) -> Response:
    ensure_self_or_secretariat(principal, contact_id)
    await c.stores.directory.unfollow(contact_id, subscription_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
