"""The partnership's members (2017 list, plus the JRC, the CEB and the Committee of the Regions).

Contacts are fictional: one partnership contact per member at an example.org address, and
the technical secretariat. Seeding is idempotent: what exists already is left alone.
"""

from __future__ import annotations

from datetime import datetime

import structlog

from services.notifications.domain.directory import (
    Contact,
    ContactRole,
    Organisation,
    OrganisationId,
    OrganisationKind,
    new_contact,
)
from services.notifications.store.directory import DirectoryStore
from shared.errors import Conflict

log = structlog.get_logger()

CITY = OrganisationKind.CITY
MEMBER_STATE = OrganisationKind.MEMBER_STATE
STAKEHOLDER = OrganisationKind.STAKEHOLDER
EU_INSTITUTION = OrganisationKind.EU_INSTITUTION


def _org(
    slug: str,
    name: str,
    kind: OrganisationKind,
    *,
    short_name: str | None = None,
    country: str | None = None,
    coordinator: bool = False,
) -> Organisation:
    return Organisation(OrganisationId(slug), name, kind, short_name, country, coordinator)


# fmt: off
MEMBERS: tuple[Organisation, ...] = (
    _org("amsterdam",  "City of Amsterdam",            CITY, short_name="Amsterdam", country="NL", coordinator=True),
    _org("athens",     "City of Athens",               CITY, short_name="Athens",    country="GR"),
    _org("berlin",     "Berlin",                       CITY, short_name="Berlin",    country="DE"),
    _org("helsinki",   "City of Helsinki",             CITY, short_name="Helsinki",  country="FI"),
    _org("barcelona",  "Barcelona City Council",       CITY, short_name="Barcelona", country="ES"),
    _org("portugal",   "Portugal",                     MEMBER_STATE, country="PT"),
    _org("italy",      "Italy",                        MEMBER_STATE, country="IT"),
    _org("greece",     "Greece",                       MEMBER_STATE, country="GR"),
    _org("denmark",    "Denmark",                      MEMBER_STATE, country="DK"),
    _org("eurocities", "EUROCITIES",                   STAKEHOLDER, short_name="EUROCITIES"),
    _org("urbact",     "URBACT",                       STAKEHOLDER, short_name="URBACT"),
    _org("cemr",       "Council of European Municipalities and Regions", STAKEHOLDER, short_name="CEMR"),
    _org("ecre",       "European Council on Refugees and Exiles",        STAKEHOLDER, short_name="ECRE"),
    _org("eib",        "European Investment Bank",     STAKEHOLDER, short_name="EIB"),
    _org("mpg",        "Migration Policy Group",       STAKEHOLDER, short_name="MPG"),
    _org("ceb",        "Council of Europe Development Bank", STAKEHOLDER, short_name="CEB"),
    _org("dg-home",    "European Commission, Directorate-General for Migration and Home Affairs", EU_INSTITUTION, short_name="DG HOME", coordinator=True),
    _org("dg-regio",   "European Commission, Directorate-General for Regional and Urban Policy",  EU_INSTITUTION, short_name="DG REGIO"),
    _org("dg-empl",    "European Commission, Directorate-General for Employment, Social Affairs and Inclusion", EU_INSTITUTION, short_name="DG EMPL"),
    _org("jrc",        "European Commission, Joint Research Centre", EU_INSTITUTION, short_name="JRC"),
    _org("cor",        "European Committee of the Regions",          EU_INSTITUTION, short_name="CoR"),
)
# fmt: on

# The language each member's fictional contact reads e-mail in (English where not listed).
CONTACT_LANGUAGES: dict[str, str] = {
    "berlin": "de",
    "dg-home": "fr",
    "cemr": "fr",
    "ceb": "fr",
}

SECRETARIAT_EMAIL = "secretariat@secretariat.example.org"


def _contact_email(organisation: Organisation) -> str:
    return f"partnership@{organisation.id}.example.org"


async def seed_directory(directory: DirectoryStore, *, secret: str, now: datetime) -> int:
    """Add the members and their fictional contacts that are not there yet; returns how many."""
    added = 0
    for organisation in MEMBERS:
        try:
            await directory.add_organisation(organisation)
            added += 1
        except Conflict:
            log.debug("seed.organisation_exists", organisation_id=organisation.id)
    for organisation in MEMBERS:
        roles = {ContactRole.MEMBER_REPRESENTATIVE}
        if organisation.coordinator:
            roles.add(ContactRole.COORDINATOR_CONTACT)
        label = organisation.short_name or organisation.name
        contact = new_contact(
            f"Partnership contact, {label}",
            _contact_email(organisation),
            secret=secret,
            language=CONTACT_LANGUAGES.get(organisation.id, "en"),
            organisation_id=organisation.id,
            roles=frozenset(roles),
            now=now,
        )
        added += await _add_unless_known(directory, contact)
    secretariat = new_contact(
        "Technical secretariat",
        SECRETARIAT_EMAIL,
        secret=secret,
        organisation_id=OrganisationId("amsterdam"),
        roles=frozenset({ContactRole.SECRETARIAT}),
        now=now,
    )
    added += await _add_unless_known(directory, secretariat)
    log.info("seed.directory", added=added)
    return added


async def _add_unless_known(directory: DirectoryStore, contact: Contact) -> int:
    # An erased person stays erased, even if the seed once named them.
    if await directory.find_contact(contact.email_key) is not None:
        return 0
    if await directory.is_erased(contact.email_key):
        return 0
    return int(await directory.add_contact(contact) is not None)
