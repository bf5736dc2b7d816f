"""Rules that once sat at the edges (bodies, views, the store), now the domain's."""

from __future__ import annotations

from services.meetings import domain
from services.meetings.domain import Status
from shared.contracts.meetings import MeetingKind
from tests.unit.meetings.builders import a_meeting


def test_partnership_meetings_need_approval_by_default_and_others_do_not() -> None:
    assert domain.approval_by_default(MeetingKind.PARTNERSHIP_MEETING) is True
    others = [k for k in MeetingKind if k is not MeetingKind.PARTNERSHIP_MEETING]
    assert [domain.approval_by_default(k) for k in others] == [False] * len(others)


def test_minutes_in_the_making_are_the_secretariats_and_published_ones_everyones() -> None:
    recorded = a_meeting(Status.HELD)
    recorded, _ = domain.record_minutes(
        recorded, summary="Draft.", decisions=[], by="sec", now=recorded.updated_at
    )
    published = a_meeting(Status.MINUTES_PUBLISHED)

    assert (
        recorded.minutes_visible(secretariat=True),
        recorded.minutes_visible(secretariat=False),
    ) == (True, False)
    assert published.minutes_visible(secretariat=False) is True
    assert a_meeting(Status.HELD).minutes_visible(secretariat=True) is False


def test_a_numbered_partnership_meeting_claims_its_number_until_it_is_cancelled() -> None:
    assert a_meeting(Status.SCHEDULED).number_claim == "partnership_meeting:11"
    assert a_meeting(Status.CANCELLED).number_claim is None
    assert a_meeting(Status.DRAFT, kind=MeetingKind.WORKSHOP, number=None).number_claim is None
