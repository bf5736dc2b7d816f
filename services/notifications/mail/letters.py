"""Writes the e-mail for one recipient: texts in their language, links signed for them, the .ics."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlencode

from services.notifications.domain.deliveries import Delivery, message_id
from services.notifications.domain.digest import DIGEST_TEMPLATE, DigestSection
from services.notifications.domain.directory import Category, Contact, ContactId
from services.notifications.domain.routing import Addressee, Person
from services.notifications.ical import calendar_entry
from services.notifications.mail.message import Calendar, compose
from services.notifications.notices import Notice
from services.notifications.rendering import Rendered, Renderer
from shared.links import LinkSigner

UNSUBSCRIBE = "unsubscribe"
PREFERENCES = "preferences"
# The token's category part when the link switches off every optional category.
ALL_OPTIONAL = "*"


@dataclass(frozen=True)
class Letter:
    """An e-mail ready for SMTP, kept with its delivery so a retry sends the same bytes."""

    to: str
    message: bytes
    message_id: str
    language: str
    subject: str


@dataclass(frozen=True)
class Links:
    unsubscribe: str
    preferences: str


@dataclass(frozen=True)
class MailIdentity:
    """Who the e-mails come from and the domain their ids live in."""

    sender: str
    organiser_name: str
    organiser_email: str
    domain: str
    base_url: str
    link_ttl_s: int


class LetterWriter:
    """Turns a notice and an addressee into a Letter."""

    def __init__(self, renderer: Renderer, signer: LinkSigner, identity: MailIdentity) -> None:
        self._renderer = renderer
        self._signer = signer
        self._identity = identity

    @property
    def languages(self) -> tuple[str, ...]:
        return self._renderer.languages

    def write(self, notice: Notice, addressee: Addressee, delivery: Delivery) -> Letter:
        """The e-mail for one addressee of a routed notice."""
        contact, route = addressee.contact, addressee.route
        links = self.links(contact.id, None if route.transactional else route.category)
        occasion = notice.facts.occasion
        context = self._context(notice, addressee, links)
        rendered = self._renderer.render(route.template, contact.language, context)
        calendar = None
        if route.calendar is not None and occasion is not None:
            calendar = Calendar(
                route.calendar,
                calendar_entry(
                    occasion,
                    method=route.calendar,
                    attendee=Person(contact.name, contact.email),
                    organiser=Person(self._identity.organiser_name, self._identity.organiser_email),
                    stamp=notice.occurred_at,
                    description=rendered.subject,
                ),
            )
        return self._letter(contact, delivery, rendered, links.unsubscribe, calendar)

    def summary(self, notice: Notice, addressee: Addressee) -> str:
        """One line for the daily digest: the subject the e-mail would have had."""
        links = self.links(addressee.contact.id, addressee.route.category)
        context = self._context(notice, addressee, links)
        return self._renderer.subject(addressee.route.template, addressee.contact.language, context)

    def digest(
        self,
        contact: Contact,
        delivery: Delivery,
        *,
        day: date,
        sections: Sequence[DigestSection],
        timezone: str,
    ) -> Letter:
        """The daily digest for one contact."""
        links = self.links(contact.id, None)
        context: dict[str, Any] = {
            "recipient": {"name": contact.name},
            "day": day,
            "sections": sections,
            "count": sum(len(s.entries) for s in sections),
            "timezone": timezone,
            "links": links,
        }
        rendered = self._renderer.render(DIGEST_TEMPLATE, contact.language, context)
        return self._letter(contact, delivery, rendered, links.unsubscribe, None)

    def links(self, contact_id: ContactId, category: Category | None) -> Links:
        """Signed links for the footer: unsubscribe from this category (or all), and preferences."""
        base = self._identity.base_url
        ttl = self._identity.link_ttl_s
        unsubscribe = self._signer.sign(
            UNSUBSCRIBE, unsubscribe_subject(contact_id, category), expires_in_s=ttl
        )
        preferences = self.preferences_token(contact_id)
        return Links(
            unsubscribe=f"{base}/unsubscribe?{urlencode({'token': unsubscribe})}",
            preferences=f"{base}/preferences?{urlencode({'token': preferences})}",
        )

    def preferences_token(self, contact_id: ContactId) -> str:
        """A token that lets its holder change this contact's preferences (the footer's link)."""
        return self._signer.sign(PREFERENCES, contact_id, expires_in_s=self._identity.link_ttl_s)

    def _context(self, notice: Notice, addressee: Addressee, links: Links) -> dict[str, Any]:
        route = addressee.route
        return {
            "event": notice.payload,
            "occasion": notice.facts.occasion,
            "recipient": {"name": addressee.contact.name},
            "reasons": [reason.value for reason in addressee.reasons],
            "category": route.category.value,
            "transactional": route.transactional,
            "has_calendar": route.calendar is not None and notice.facts.occasion is not None,
            "links": links,
        }

    def _letter(
        self,
        contact: Contact,
        delivery: Delivery,
        rendered: Rendered,
        unsubscribe_url: str,
        calendar: Calendar | None,
    ) -> Letter:
        mid = message_id(delivery.id, domain=self._identity.domain)
        message = compose(
            rendered,
            sender=self._identity.sender,
            to_name=contact.name,
            to_email=contact.email,
            message_id=mid,
            date=delivery.created_at,
            unsubscribe_url=unsubscribe_url,
            calendar=calendar,
        )
        return Letter(
            to=contact.email,
            message=message,
            message_id=mid,
            language=rendered.language,
            subject=rendered.subject,
        )


def unsubscribe_subject(contact_id: ContactId, category: Category | None) -> str:
    return f"{contact_id} {category.value if category else ALL_OPTIONAL}"


def parse_unsubscribe_subject(subject: str) -> tuple[ContactId, Category | None]:
    contact_id, _, category = subject.partition(" ")
    return ContactId(contact_id), None if category in ("", ALL_OPTIONAL) else Category(category)
