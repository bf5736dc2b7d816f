"""The programme: items inside the meeting's time, none overlapping in the same track."""

from dataclasses import replace
from datetime import datetime, time

import pytest

from services.meetings import domain
from services.meetings.domain import ItemKind, Meeting, ProgrammeItem, Status
from shared.contracts import meetings as contract
from shared.contracts.meetings import MeetingKind
from tests.unit.meetings.builders import BEFORE, SECRETARIAT, a_meeting

ROTTERDAM = "Europe/Amsterdam"
FORUM_DAY = datetime(2017, 11, 28)


def at(hour: int, minute: int = 0) -> datetime:
    return domain.in_zone(datetime.combine(FORUM_DAY, time(hour, minute)), ROTTERDAM)


def item(n: int, start: datetime, end: datetime, title: str, **changes: object) -> ProgrammeItem:
    base = ProgrammeItem(
        id=domain.ItemId(f"i{n}"), starts_at=start, ends_at=end, title=title, kind=ItemKind.SESSION
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def cities_forum(status: Status = Status.DRAFT) -> Meeting:
    """The Cities Forum 2017 workshop in Rotterdam, 11:00 to 16:00."""
    meeting = a_meeting(
        kind=MeetingKind.WORKSHOP,
        number=None,
        title="Changing the narrative - developing new views on European migration policies",
        starts_at=at(11),
        ends_at=at(16),
        venue=domain.Venue(
            name="Huis van de Wijk De Nieuwe Gaffel",
            street_address="Gaffelstraat 63B",
            city="Rotterdam",
            country="Netherlands",
        ),
    )
    if status is Status.SCHEDULED:
        meeting, _ = domain.schedule(meeting, by=SECRETARIAT, now=BEFORE)
    return meeting


FORUM_PROGRAMME = [
    item(7, at(15, 30), at(16), "Follow-up and closing", kind=ItemKind.CLOSING),
    item(1, at(11), at(11, 15), "Opening", kind=ItemKind.OPENING),
    item(2, at(11, 15), at(11, 30), "Welcome by the venue", kind=ItemKind.WELCOME),
    item(3, at(11, 30), at(12), "Integration policies of Rotterdam"),
    item(4, at(12), at(12, 30), "The partnership's actions", action_ids=("5", "6")),
    item(5, at(13, 30), at(14, 30), "Interactive session", kind=ItemKind.INTERACTIVE_SESSION),
    item(6, at(14, 30), at(15, 30), "Pitching of ideas", kind=ItemKind.PITCH),
]


def test_the_programme_is_kept_in_time_order() -> None:
    meeting, _ = domain.replace_programme(
        cities_forum(), FORUM_PROGRAMME, by=SECRETARIAT, now=BEFORE
    )

    assert [i.title for i in meeting.programme][:2] == ["Opening", "Welcome by the venue"]
    assert meeting.programme[-1].title == "Follow-up and closing"


def test_a_draft_programme_is_not_announced() -> None:
    _, events = domain.replace_programme(
        cities_forum(), FORUM_PROGRAMME, by=SECRETARIAT, now=BEFORE
    )

    assert events == []


def test_a_scheduled_meeting_announces_its_programme_with_speakers_and_actions() -> None:
    speaker = domain.Speaker(name="A. Speaker", organisation="EUROCITIES")
    items = [*FORUM_PROGRAMME[1:4], replace(FORUM_PROGRAMME[4], speakers=(speaker,))]

    _, events = domain.replace_programme(
        cities_forum(Status.SCHEDULED), items, by=SECRETARIAT, now=BEFORE
    )

    [event] = events
    assert isinstance(event, contract.ProgrammeUpdated)
    last = event.items[-1]
    assert (last.title, last.action_ids) == ("The partnership's actions", ["5", "6"])
    assert last.speakers[0].organisation == "EUROCITIES"


def test_an_item_outside_the_meeting_is_refused_with_its_times() -> None:
    late = item(9, at(16), at(17), "Drinks")

    # The programme is fine in itself; it does not fit the meeting as it is (409).
    with pytest.raises(domain.OutsideTheMeeting) as refused:
        domain.replace_programme(cities_forum(), [late], by=SECRETARIAT, now=BEFORE)

    [error] = refused.value.facts["errors"]
    assert error["field"] == "items.0"
    assert error["reason"] == (
        "'Drinks' (2017-11-28 16:00-17:00) is outside the meeting (2017-11-28 11:00-16:00)"
    )


def test_overlapping_items_in_the_same_track_are_refused_naming_both() -> None:
    pitch = item(6, at(14), at(15), "Pitching of ideas")

    with pytest.raises(domain.InvalidMeeting) as refused:
        domain.replace_programme(
            cities_forum(), [FORUM_PROGRAMME[5], pitch], by=SECRETARIAT, now=BEFORE
        )

    assert refused.value.detail == (
        "items.1: 'Pitching of ideas' (2017-11-28 14:00-15:00) overlaps item 0 "
        "'Interactive session' (2017-11-28 13:30-14:30) in track main"
    )


def test_items_in_different_tracks_may_run_at_the_same_time() -> None:
    site_visit = item(8, at(13, 30), at(15), "Site visit", kind=ItemKind.SITE_VISIT, track="visits")

    meeting, _ = domain.replace_programme(
        cities_forum(), [*FORUM_PROGRAMME, site_visit], by=SECRETARIAT, now=BEFORE
    )

    assert len(meeting.programme) == 8


def test_an_item_must_end_after_it_starts() -> None:
    backwards = item(1, at(12), at(11), "Backwards")

    with pytest.raises(domain.InvalidMeeting, match=r"items.0.ends_at: must be after starts_at"):
        domain.replace_programme(cities_forum(), [backwards], by=SECRETARIAT, now=BEFORE)


def test_rescheduling_keeps_each_item_at_its_local_time_of_day() -> None:
    meeting, _ = domain.replace_programme(
        cities_forum(Status.SCHEDULED), FORUM_PROGRAMME, by=SECRETARIAT, now=BEFORE
    )
    # From November (CET) to June (CEST): wall-clock times stay, UTC offsets change.
    june = datetime(2018, 6, 12, 11, 0)

    moved, _ = domain.reschedule(
        meeting,
        starts_at=domain.in_zone(june, ROTTERDAM),
        ends_at=domain.in_zone(june.replace(hour=16), ROTTERDAM),
        reason=None,
        by=SECRETARIAT,
        now=BEFORE,
    )

    opening = domain.local(moved.programme[0].starts_at, ROTTERDAM)
    closing = domain.local(moved.programme[-1].ends_at, ROTTERDAM)
    assert (opening.date().isoformat(), opening.time(), closing.time()) == (
        "2018-06-12",
        time(11, 0),
        time(16, 0),
    )


def test_shortening_a_draft_refuses_when_items_would_fall_outside() -> None:
    meeting, _ = domain.replace_programme(
        cities_forum(), FORUM_PROGRAMME, by=SECRETARIAT, now=BEFORE
    )

    with pytest.raises(domain.UpdateRefused, match="Follow-up and closing"):
        domain.update(meeting, replace(meeting.details, ends_at=at(15)), by=SECRETARIAT, now=BEFORE)
