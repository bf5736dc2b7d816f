"""Request bodies of the notifications API, built from shared/fields.py: JSON taken as
typed, and the schema saying every rule it can."""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import MISSING, ConfigDict, Field, model_validator

from services.notifications.domain.directory import (
    Category,
    ContactRole,
    DeliveryMode,
    EntityKind,
    Organisation,
    OrganisationId,
    OrganisationKind,
)
from shared.fields import ONE_LINE, Command, Email, Flag, Name

SLUG = r"^[a-z0-9][a-z0-9-]{0,62}$"
Slug = Annotated[str, Field(pattern=SLUG)]
Language = Annotated[str, Field(pattern=r"^[A-Za-z]{2}([-_][A-Za-z0-9]+)*$")]


class UpdateOrganisation(Command):
    name: Name = Field(examples=["City of Amsterdam"])
    kind: OrganisationKind
    short_name: Annotated[str, Field(max_length=40), ONE_LINE] | None = None
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")] | None = None
    coordinator: Flag = False

    def organisation(self, organisation_id: OrganisationId) -> Organisation:
        """The member organisation these fields describe."""
        return Organisation(
            id=organisation_id,
            name=self.name,
            kind=self.kind,
            short_name=self.short_name,
            country=self.country,
            coordinator=self.coordinator,
        )


class AddOrganisation(UpdateOrganisation):
    id: Slug = Field(examples=["amsterdam"])


class AddContact(Command):
    name: Name
    email: Email
    organisation_id: Slug
    roles: list[ContactRole] = Field(default_factory=list, max_length=len(ContactRole))
    language: Language = "en"


class UpdateContact(Command):
    """Fields left out stay as they are; none of them may be `null`."""

    name: Name | MISSING = MISSING
    email: Email | MISSING = MISSING
    organisation_id: Slug | MISSING = MISSING
    roles: Annotated[list[ContactRole], Field(max_length=len(ContactRole))] | MISSING = MISSING


class SetPreferences(Command):
    """Fields left out stay as they are; none of them may be `null`."""

    language: Language | MISSING = MISSING
    muted: list[Category] | MISSING = Field(
        default=MISSING,
        description="Categories switched off; `personal` cannot be switched off",
    )
    delivery: DeliveryMode | MISSING = MISSING


class EntityBody(Command):
    kind: EntityKind
    id: Annotated[str, Field(max_length=200), ONE_LINE]


class Follow(Command):
    """Follow one entity (a meeting, an action, an academy module) or a whole category."""

    model_config = ConfigDict(
        json_schema_extra={"oneOf": [{"required": ["category"]}, {"required": ["entity"]}]}
    )

    category: Category | MISSING = MISSING
    entity: EntityBody | MISSING = MISSING

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.category is MISSING) == (self.entity is MISSING):
            raise ValueError("give either a category or an entity to follow")
        return self
