"""Request bodies of the notifications API."""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, model_validator

from services.notifications.domain.directory import (
    Category,
    ContactRole,
    DeliveryMode,
    EntityKind,
    Organisation,
    OrganisationId,
    OrganisationKind,
)

SLUG = r"^[a-z0-9][a-z0-9-]{0,62}$"


def _printable(value: str) -> str:
    # Names end up in mail headers and calendar entries, where a line break is a new header.
    if any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in value):
        raise ValueError("must not contain control characters such as line breaks or tabs")
    return value


Name = Annotated[str, AfterValidator(_printable)]


class Command(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UpdateOrganisation(Command):
    name: Name = Field(min_length=1, max_length=200, examples=["City of Amsterdam"])
    kind: OrganisationKind
    short_name: Name | None = Field(default=None, max_length=40)
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    coordinator: bool = False

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
    id: str = Field(pattern=SLUG, examples=["amsterdam"])


class AddContact(Command):
    name: Name = Field(min_length=1, max_length=200)
    email: EmailStr
    organisation_id: str = Field(pattern=SLUG)
    roles: list[ContactRole] = Field(default_factory=list)
    language: str = Field(default="en", pattern=r"^[A-Za-z]{2}([-_][A-Za-z0-9]+)*$")


class UpdateContact(Command):
    name: Name | None = Field(default=None, min_length=1, max_length=200)
    email: EmailStr | None = None
    organisation_id: str | None = Field(default=None, pattern=SLUG)
    roles: list[ContactRole] | None = None


class SetPreferences(Command):
    language: str | None = Field(default=None, pattern=r"^[A-Za-z]{2}([-_][A-Za-z0-9]+)*$")
    muted: list[Category] | None = Field(
        default=None, description="Categories switched off; `personal` cannot be switched off"
    )
    delivery: DeliveryMode | None = None


class EntityBody(Command):
    kind: EntityKind
    id: str = Field(min_length=1, max_length=200)


class Follow(Command):
    """Follow one entity (a meeting, an action, an academy module) or a whole category."""

    category: Category | None = None
    entity: EntityBody | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Follow:
        if (self.category is None) == (self.entity is None):
            raise ValueError("give either a category or an entity to follow")
        return self
