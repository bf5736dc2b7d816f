"""The message itself: multipart structure, headers, and the .ics read back with icalendar."""

from __future__ import annotations

import email
import email.policy
from datetime import timedelta
from email.message import EmailMessage

from icalendar import Calendar

from services.notifications.domain.deliveries import new_delivery
from services.notifications.domain.directory import Category, Contact
from services.notifications.domain.routing import Addressee, Audience, routes_for
from services.notifications.mail.letters import Letter, parse_unsubscribe_subject
from services.notifications.notices import Notice
from shared.contracts.base import Event
from shared.contracts.meetings import (
    MeetingCancelled,
    MeetingRescheduled,
    MeetingUpdated,
    RegistrationConfirmed,
)
from shared.links import LinkSigner
from tests.unit.notifications import builders as b

PERSON = b.a_contact("participant@athens.example.org", name="Participant from Athens")


def letter_for(
    event: Event, *, event_id: str = "evt-42", route_index: int = 0, person: Contact = PERSON
) -> Letter:
    notice = Notice.of_event(event, b.envelope(event, event_id=event_id))
    route = routes_for(type(event))[route_index]
    addressee = Addressee(person, route, route.audiences, in_digest=False)
    delivery = new_delivery(
        notice.id,
        event_type=notice.type,
        template=route.template,
        recipient_id=person.id,
        category=route.category,
        now=b.NOW,
        policy=b.POLICY,
    )
    return b.writer().write(notice, addressee, delivery)


def parsed(letter: Letter) -> EmailMessage:
    message = email.message_from_bytes(letter.message, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def calendar_of(message: EmailMessage) -> Calendar:
    parts = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    assert len(parts) == 1
    payload = parts[0].get_payload(decode=True)
    assert isinstance(payload, bytes)
    return Calendar.from_ical(payload)


def test_an_email_has_plain_text_and_html_alternatives() -> None:
    message = parsed(letter_for(b.confirmed()))

    types = [part.get_content_type() for part in message.walk()]

    assert types[:4] == ["multipart/mixed", "multipart/alternative", "text/plain", "text/html"]


def test_the_message_id_comes_from_the_event_the_recipient_and_the_template() -> None:
    first = parsed(letter_for(b.confirmed(), event_id="evt-42"))
    again = parsed(letter_for(b.confirmed(), event_id="evt-42"))
    other_event = parsed(letter_for(b.confirmed(), event_id="evt-43"))

    assert first["Message-ID"] == again["Message-ID"]
    assert first["Message-ID"] != other_event["Message-ID"]
    assert first["Message-ID"].endswith(f"@{b.MAIL_DOMAIN}>")


def test_the_date_header_is_the_deliverys_creation_time() -> None:
    message = parsed(letter_for(b.confirmed()))

    assert message["Date"].datetime == b.NOW


def test_every_email_offers_one_click_unsubscribe_as_rfc_8058_asks() -> None:
    message = parsed(letter_for(b.confirmed()))

    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = message["List-Unsubscribe"]
    assert link.startswith(f"<{b.BASE_URL}/unsubscribe?token=")
    assert link.endswith(">")


def test_the_unsubscribe_link_is_signed_for_this_contact_and_category() -> None:
    event = b.rescheduled(
        starts_at=b.STARTS + timedelta(days=7), ends_at=b.ENDS + timedelta(days=7)
    )
    followers_row = 1  # the MeetingRescheduled row for followers
    message = parsed(letter_for(event, route_index=followers_row))
    token = message["List-Unsubscribe"].split("token=", 1)[1].rstrip(">")

    subject = LinkSigner(b.SECRET).verify(token, "unsubscribe")

    assert parse_unsubscribe_subject(subject) == (PERSON.id, Category.MEETING_CHANGES)


def test_headers_carry_subject_recipient_and_language() -> None:
    message = parsed(letter_for(b.confirmed()))

    assert message["Subject"] == "Registration confirmed: 11th partnership meeting"
    assert message["To"] == "Participant from Athens <participant@athens.example.org>"
    assert message["Content-Language"] == "en"
    assert message["Auto-Submitted"] == "auto-generated"


def test_control_characters_in_a_name_become_spaces_in_the_to_header() -> None:
    person = b.a_contact("athens@athens.example.org", name="Maria\r\nBcc: x@evil.example\tK.")

    message = parsed(letter_for(b.confirmed(), person=person))

    assert message["To"] == '"Maria  Bcc: x@evil.example K." <athens@athens.example.org>'
    assert message["Bcc"] is None


def test_a_confirmation_carries_an_invitation_for_the_meeting() -> None:
    ics = calendar_of(parsed(letter_for(b.confirmed())))

    event = ics.walk("VEVENT")[0]
    assert str(ics["METHOD"]) == "REQUEST"
    assert str(event["UID"]) == "m-11@meetings.partnership"
    assert event.decoded("SEQUENCE") == 0
    assert event.decoded("DTSTART") == b.STARTS
    assert str(event["DTSTART"].params["TZID"]) == b.AMSTERDAM
    assert str(event["ATTENDEE"]) == "mailto:participant@athens.example.org"
    assert str(event["LOCATION"]) == "City Hall, Amstel 1, Amsterdam, Netherlands"


def test_a_reschedule_updates_the_same_calendar_entry_with_a_higher_sequence() -> None:
    new_start = b.STARTS + timedelta(days=7)
    event = b.rescheduled(starts_at=new_start, ends_at=b.ENDS + timedelta(days=7), sequence=1)

    ics = calendar_of(parsed(letter_for(event)))

    vevent = ics.walk("VEVENT")[0]
    assert str(ics["METHOD"]) == "REQUEST"
    assert str(vevent["UID"]) == "m-11@meetings.partnership"
    assert vevent.decoded("SEQUENCE") == 1
    assert vevent.decoded("DTSTART") == new_start


def test_the_invitation_takes_the_uid_the_meetings_service_gave_its_entry() -> None:
    event = b.confirmed(calendar_uid="m-11@meetings.inclusion.example.org")

    ics = calendar_of(parsed(letter_for(event)))

    assert str(ics.walk("VEVENT")[0]["UID"]) == "m-11@meetings.inclusion.example.org"


def test_an_event_without_a_calendar_uid_gets_the_feeds_uid() -> None:
    event = b.confirmed(calendar_uid=None)

    ics = calendar_of(parsed(letter_for(event)))

    assert str(ics.walk("VEVENT")[0]["UID"]) == "m-11@meetings.partnership"


def test_a_new_venue_updates_the_participants_calendar_entry_with_its_higher_sequence() -> None:
    participants_row = 0  # the MeetingUpdated row for participants

    ics = calendar_of(parsed(letter_for(b.updated(sequence=1), route_index=participants_row)))

    vevent = ics.walk("VEVENT")[0]
    assert str(ics["METHOD"]) == "REQUEST"
    assert str(vevent["UID"]) == "m-11@meetings.partnership"
    assert vevent.decoded("SEQUENCE") == 1
    assert str(vevent["LOCATION"]) == "Stopera, Amsterdam, Netherlands"


def test_a_cancellation_removes_the_entry_with_method_cancel() -> None:
    ics = calendar_of(parsed(letter_for(b.cancelled(sequence=1))))

    vevent = ics.walk("VEVENT")[0]
    assert str(ics["METHOD"]) == "CANCEL"
    assert str(vevent["STATUS"]) == "CANCELLED"
    assert vevent.decoded("SEQUENCE") == 1


def test_the_calendar_attachment_is_named_and_typed_for_mail_clients() -> None:
    message = parsed(letter_for(b.confirmed()))

    part = next(p for p in message.walk() if p.get_content_type() == "text/calendar")

    assert part.get_filename() == "invite.ics"
    assert part.get_param("method") == "REQUEST"


def test_emails_to_followers_carry_no_calendar_entry() -> None:
    event = b.rescheduled(
        starts_at=b.STARTS + timedelta(days=7), ends_at=b.ENDS + timedelta(days=7)
    )

    message = parsed(letter_for(event, route_index=1))

    assert all(p.get_content_type() != "text/calendar" for p in message.walk())


def test_meeting_event_rows_attach_the_calendar_method_the_issue_asks_for() -> None:
    methods = {
        cls.__name__: routes_for(cls)[0].calendar
        for cls in (RegistrationConfirmed, MeetingRescheduled, MeetingUpdated, MeetingCancelled)
    }

    assert {k: v.value if v else None for k, v in methods.items()} == {
        "RegistrationConfirmed": "REQUEST",
        "MeetingRescheduled": "REQUEST",
        "MeetingUpdated": "REQUEST",
        "MeetingCancelled": "CANCEL",
    }
    assert routes_for(MeetingRescheduled)[0].audiences == (Audience.PARTICIPANTS,)
    assert routes_for(MeetingUpdated)[0].audiences == (Audience.PARTICIPANTS,)
