"""The routing table: who is reached for each event type, once each, as their preferences allow."""

from __future__ import annotations

from dataclasses import replace

import pytest

from services.notifications.domain.directory import (
    Category,
    Contact,
    DeliveryMode,
    EntityKind,
    EntityRef,
    Preferences,
    mute,
)
from services.notifications.domain.occasions import OccasionStatus
from services.notifications.domain.reminders import ReminderDue
from services.notifications.domain.routing import (
    ROUTES,
    Audience,
    Reached,
    Route,
    address,
    facts_of,
    routed_event_types,
    routes_for,
)
from shared.contracts import meetings as m
from tests.unit.notifications import builders as b

P, ORG, S, PA, F = (
    Audience.PERSON,
    Audience.ORGANISATIONS,
    Audience.SECRETARIAT,
    Audience.PARTICIPANTS,
    Audience.FOLLOWERS,
)

# What the issue asks, event by event: (template, audiences, transactional, calendar method).
EXPECTED: dict[type[object], list[tuple[str, tuple[Audience, ...], bool, str | None]]] = {
    m.MeetingScheduled: [("meeting_scheduled", (F,), False, None)],
    m.MeetingRescheduled: [
        ("meeting_rescheduled", (PA,), True, "REQUEST"),
        ("meeting_rescheduled", (F,), False, None),
    ],
    m.MeetingUpdated: [
        ("meeting_updated", (PA,), True, "REQUEST"),
        ("meeting_updated", (F,), False, None),
    ],
    m.MeetingCancelled: [
        ("meeting_cancelled", (PA,), True, "CANCEL"),
        ("meeting_cancelled", (F,), False, None),
    ],
    m.ProgrammeUpdated: [("programme_updated", (PA, F), False, None)],
    m.MeetingHeld: [("meeting_held", (F,), False, None)],
    m.MinutesPublished: [("minutes_published", (ORG, PA, F), False, None)],
    m.RegistrationRequested: [
        ("registration_requested", (P,), True, None),
        ("registration_to_approve", (S,), False, None),
    ],
    m.RegistrationConfirmed: [("registration_confirmed", (P,), True, "REQUEST")],
    m.RegistrationWaitlisted: [("registration_waitlisted", (P,), True, None)],
    m.RegistrationPromoted: [("registration_promoted", (P,), True, "REQUEST")],
    m.RegistrationDeclined: [("registration_declined", (P,), True, None)],
    m.RegistrationCancelled: [("registration_cancelled", (P,), True, "CANCEL")],
    ReminderDue: [("reminder", (PA,), False, None)],
}


@pytest.mark.parametrize("event_class", list(EXPECTED), ids=lambda c: c.__name__)
def test_each_event_type_reaches_the_audiences_the_issue_names(event_class: type[object]) -> None:
    rows = [
        (r.template, r.audiences, r.transactional, r.calendar.value if r.calendar else None)
        for r in routes_for(event_class)
    ]

    assert rows == EXPECTED[event_class]


def test_every_meeting_event_of_the_contract_is_routed() -> None:
    assert set(m.EVENTS) <= set(routed_event_types())


def test_transactional_rows_are_exactly_the_persons_own_registration_emails() -> None:
    transactional = {r.template for r in ROUTES if r.transactional}

    assert all(r.category is Category.PERSONAL for r in ROUTES if r.transactional)
    assert transactional == {
        "meeting_rescheduled",
        "meeting_updated",
        "meeting_cancelled",
        "registration_requested",
        "registration_confirmed",
        "registration_waitlisted",
        "registration_promoted",
        "registration_declined",
        "registration_cancelled",
    }


def test_a_registration_event_names_its_registrant() -> None:
    facts = facts_of(b.confirmed(b.registrant("person@berlin.example.org", language="de")))

    assert facts.person is not None
    assert (facts.person.email, facts.person.language) == ("person@berlin.example.org", "de")
    assert facts.entity == EntityRef(EntityKind.MEETING, "m-11")


def test_minutes_name_the_attending_organisations() -> None:
    facts = facts_of(b.minutes("City of Amsterdam", "DG HOME"))

    assert facts.organisations == ("City of Amsterdam", "DG HOME")


def test_a_cancellation_marks_the_occasion_cancelled() -> None:
    occasion = facts_of(b.cancelled()).occasion

    assert occasion is not None
    assert occasion.status is OccasionStatus.CANCELLED


# --- address(): one e-mail per person --------------------------------------------------

PARTICIPANT = b.a_contact("participant@athens.example.org")
FOLLOWER = b.a_contact("follower@helsinki.example.org", organisation="helsinki")
RESCHEDULED_PARTICIPANTS, RESCHEDULED_FOLLOWERS = routes_for(m.MeetingRescheduled)


def test_a_person_reached_by_several_rules_gets_one_email_with_every_reason() -> None:
    reached = [
        Reached(RESCHEDULED_PARTICIPANTS, PA, [PARTICIPANT]),
        Reached(RESCHEDULED_FOLLOWERS, F, [PARTICIPANT, FOLLOWER]),
    ]

    addressees = address(reached)

    assert [(a.contact.id, a.route.template, a.reasons) for a in addressees] == [
        (PARTICIPANT.id, "meeting_rescheduled", (PA, F)),
        (FOLLOWER.id, "meeting_rescheduled", (F,)),
    ]
    assert addressees[0].route.transactional  # the first row that reached them wins


def test_the_same_contact_twice_in_one_audience_is_one_email() -> None:
    (programme_row,) = routes_for(m.ProgrammeUpdated)

    addressees = address([Reached(programme_row, PA, [PARTICIPANT, PARTICIPANT])])

    assert len(addressees) == 1


def test_a_category_switched_off_stops_optional_emails() -> None:
    muted = _with(FOLLOWER, mute(FOLLOWER.preferences, frozenset({Category.MEETING_CHANGES})))

    addressees = address([Reached(RESCHEDULED_FOLLOWERS, F, [muted])])

    assert addressees == []


def test_transactional_emails_cannot_be_switched_off() -> None:
    everything_off = _with(PARTICIPANT, Preferences(muted=frozenset(Category)))

    addressees = address([Reached(RESCHEDULED_PARTICIPANTS, PA, [everything_off])])

    assert [a.contact.id for a in addressees] == [PARTICIPANT.id]


def test_a_muted_first_row_leaves_the_person_to_a_later_row_that_wants_them() -> None:
    optional_first = Route(
        m.MeetingRescheduled, "meeting_rescheduled", (F,), Category.MEETING_CHANGES
    )
    person = _with(PARTICIPANT, Preferences(muted=frozenset({Category.MEETING_CHANGES})))

    addressees = address(
        [
            Reached(optional_first, F, [person]),
            Reached(RESCHEDULED_PARTICIPANTS, PA, [person]),
        ]
    )

    assert [(a.route.transactional, a.reasons) for a in addressees] == [(True, (PA,))]


def test_optional_emails_to_a_digest_reader_wait_for_the_digest() -> None:
    reader = _with(FOLLOWER, Preferences(delivery=DeliveryMode.DAILY_DIGEST))

    (addressee,) = address([Reached(RESCHEDULED_FOLLOWERS, F, [reader])])

    assert addressee.in_digest


def test_transactional_emails_never_wait_for_the_digest() -> None:
    reader = _with(PARTICIPANT, Preferences(delivery=DeliveryMode.DAILY_DIGEST))

    (addressee,) = address([Reached(RESCHEDULED_PARTICIPANTS, PA, [reader])])

    assert not addressee.in_digest


def test_reminders_never_wait_for_the_digest() -> None:
    reader = _with(PARTICIPANT, Preferences(delivery=DeliveryMode.DAILY_DIGEST))
    (reminder_row,) = routes_for(ReminderDue)

    (addressee,) = address([Reached(reminder_row, PA, [reader])])

    assert not addressee.in_digest


def _with(contact: Contact, preferences: Preferences) -> Contact:
    return replace(contact, preferences=preferences)
