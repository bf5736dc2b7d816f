"""Minutes: recorded after the meeting, published with the decisions."""

from datetime import date

import pytest

from services.meetings import domain
from services.meetings.domain import Decision, Status
from shared.contracts import meetings as contract
from shared.contracts.meetings import DecisionKind
from shared.lifecycle import StateConflict
from tests.unit.meetings.builders import AFTER, SECRETARIAT, a_meeting

# The 11th meeting decided to prolong the partnership until 1 July 2019,
# with actions 2, 3, 5, 6 and 8.
PROLONGATION = Decision(
    text="Prolong the partnership and actions 2, 3, 5, 6 and 8 until 1 July 2019",
    kind=DecisionKind.PROLONG,
    action_ids=("2", "3", "5", "6", "8"),
    new_end_date=date(2019, 7, 1),
)


def minuted(*decisions: Decision) -> domain.Meeting:
    meeting, _ = domain.record_minutes(
        a_meeting(Status.HELD),
        summary="Updates from DG HOME; six sessions on the state of play of the actions.",
        attending_organisations=["City of Amsterdam", "European Commission DG HOME"],
        decisions=decisions,
        follow_ups=["Next meeting on 27 September 2018 in Barcelona"],
        by=SECRETARIAT,
        now=AFTER,
    )
    return meeting


def test_recording_minutes_keeps_the_meeting_held_and_tells_nobody() -> None:
    meeting, events = domain.record_minutes(
        a_meeting(Status.HELD), summary="Draft", decisions=[], by=SECRETARIAT, now=AFTER
    )

    assert meeting.status is Status.HELD
    assert meeting.minutes is not None
    assert events == []


def test_publishing_the_minutes_carries_the_decisions_for_the_actions_service() -> None:
    meeting, events = domain.publish_minutes(minuted(PROLONGATION), by=SECRETARIAT, now=AFTER)

    assert meeting.status is Status.MINUTES_PUBLISHED
    [event] = events
    assert isinstance(event, contract.MinutesPublished)
    [decision] = event.decisions
    assert decision.kind is DecisionKind.PROLONG
    assert decision.action_ids == ["2", "3", "5", "6", "8"]
    assert decision.new_end_date == date(2019, 7, 1)
    assert event.attending_organisations == ["City of Amsterdam", "European Commission DG HOME"]
    assert event.follow_ups == ["Next meeting on 27 September 2018 in Barcelona"]


def test_minutes_must_be_recorded_before_they_are_published() -> None:
    with pytest.raises(domain.MinutesMissing):
        domain.publish_minutes(a_meeting(Status.HELD), by=SECRETARIAT, now=AFTER)


def test_a_prolongation_needs_a_new_end_date() -> None:
    with pytest.raises(domain.InvalidMeeting, match=r"decisions.0.new_end_date"):
        minuted(Decision(text="Prolong action 2", kind=DecisionKind.PROLONG, action_ids=("2",)))


def test_only_a_prolongation_has_a_new_end_date() -> None:
    with pytest.raises(domain.InvalidMeeting, match="only a prolongation"):
        minuted(Decision(text="Noted", new_end_date=date(2019, 7, 1)))


def test_minutes_cannot_be_recorded_for_a_meeting_not_yet_held() -> None:
    with pytest.raises(StateConflict, match="cannot record_minutes"):
        domain.record_minutes(
            a_meeting(Status.SCHEDULED), summary="s", decisions=[], by=SECRETARIAT, now=AFTER
        )
