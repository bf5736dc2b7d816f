"""Request bodies: validated and size-limited before the domain sees them."""

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from services.meetings.commands import (
    MAX_PROGRAMME_ITEMS,
    PlanMeeting,
    ProgrammeItemBody,
    Register,
    ReplaceProgramme,
    UpdateMeeting,
)
from shared.contracts.meetings import MeetingKind
from tests.unit.meetings.builders import details

ELEVENTH: dict[str, Any] = {
    "kind": "partnership_meeting",
    "number": 11,
    "title": "11th partnership meeting",
    "organiser": "City of Amsterdam",
    "starts_at": "2018-05-15T10:00:00",
    "ends_at": "2018-05-15T17:00:00",
    "timezone": "Europe/Amsterdam",
    "venue": {"name": "City Hall", "city": "Amsterdam", "country": "Netherlands"},
}


def fields_in(error: ValidationError) -> set[str]:
    return {".".join(str(p) for p in e["loc"]) for e in error.errors()}


def test_wall_clock_times_are_read_in_the_meetings_time_zone() -> None:
    planned = PlanMeeting.model_validate(ELEVENTH).details()

    assert planned.starts_at == datetime(2018, 5, 15, 8, 0, tzinfo=UTC)
    assert planned.kind is MeetingKind.PARTNERSHIP_MEETING


def test_times_with_an_offset_are_kept_as_the_same_instant() -> None:
    planned = PlanMeeting.model_validate(
        ELEVENTH | {"starts_at": "2018-05-15T09:00:00+01:00"}
    ).details()

    assert planned.starts_at == datetime(2018, 5, 15, 8, 0, tzinfo=UTC)


def test_partnership_meetings_need_approval_by_default_as_they_are_for_members() -> None:
    assert PlanMeeting.model_validate(ELEVENTH).details().requires_approval is True
    workshop = ELEVENTH | {"kind": "workshop", "number": None}
    assert PlanMeeting.model_validate(workshop).details().requires_approval is False


def test_an_unknown_time_zone_is_refused_on_its_field() -> None:
    with pytest.raises(ValidationError) as refused:
        PlanMeeting.model_validate(ELEVENTH | {"timezone": "Mars/Olympus"})

    assert fields_in(refused.value) == {"timezone"}


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError) as refused:
        PlanMeeting.model_validate(ELEVENTH | {"status": "held"})

    assert fields_in(refused.value) == {"status"}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"email": "not-an-address"}, "email"),
        ({"name": "x" * 201}, "name"),
        ({"name": "   "}, "name"),
        ({"language": "english"}, "language"),
        ({"role": "r" * 101}, "role"),
    ],
)
def test_a_registration_is_validated_field_by_field(changes: dict[str, str], field: str) -> None:
    body = {"name": "Delegate", "email": "delegate@example.org"} | changes

    with pytest.raises(ValidationError) as refused:
        Register.model_validate(body)

    assert fields_in(refused.value) == {field}


def test_an_update_changes_only_the_fields_it_names() -> None:
    update = UpdateMeeting.model_validate({"version": 3, "title": "Renamed", "capacity": 40})

    changed = update.apply_to(details())

    assert (changed.title, changed.capacity) == ("Renamed", 40)
    assert changed.starts_at == details().starts_at


def test_an_update_may_clear_an_optional_field_but_not_a_required_one() -> None:
    cleared = UpdateMeeting.model_validate({"version": 1, "capacity": None}).apply_to(
        details(capacity=30)
    )
    assert cleared.capacity is None

    with pytest.raises(ValidationError) as refused:
        UpdateMeeting.model_validate({"version": 1, "title": None})
    assert fields_in(refused.value) == {"title"}


def test_an_update_needs_the_version_it_was_based_on() -> None:
    with pytest.raises(ValidationError) as refused:
        UpdateMeeting.model_validate({"title": "Renamed"})

    assert fields_in(refused.value) == {"version"}


def test_a_programme_is_limited_in_size() -> None:
    item = {"starts_at": "2017-11-28T11:00", "ends_at": "2017-11-28T11:15", "title": "Opening"}

    with pytest.raises(ValidationError):
        ReplaceProgramme.model_validate({"version": 1, "items": [item] * (MAX_PROGRAMME_ITEMS + 1)})


def test_a_programme_item_keeps_a_given_id_and_otherwise_takes_the_new_one() -> None:
    item = {"starts_at": "2017-11-28T11:00", "ends_at": "2017-11-28T11:15", "title": "Opening"}

    kept = ProgrammeItemBody.model_validate(item | {"item_id": "opening"})
    fresh = ProgrammeItemBody.model_validate(item)

    assert kept.to_domain(item_id="new", timezone="Europe/Amsterdam").id == "opening"
    assert fresh.to_domain(item_id="new", timezone="Europe/Amsterdam").id == "new"


@pytest.mark.parametrize("zone", ["Europe", "Etc", "America", "Europe/Atlantis", "../etc/passwd"])
def test_a_time_zone_that_is_not_one_is_refused_naming_the_field(zone: str) -> None:
    with pytest.raises(ValidationError) as refused:
        PlanMeeting.model_validate(ELEVENTH | {"timezone": zone})

    assert fields_in(refused.value) == {"timezone"}


def test_times_in_far_off_years_are_refused_naming_the_field() -> None:
    body = ELEVENTH | {"timezone": "Etc/GMT+12", "ends_at": "9999-12-31T20:00:00"}

    with pytest.raises(ValidationError) as refused:
        PlanMeeting.model_validate(body)

    assert fields_in(refused.value) == {"ends_at"}


def test_a_name_with_a_line_break_is_refused() -> None:
    with pytest.raises(ValidationError) as refused:
        PlanMeeting.model_validate(ELEVENTH | {"organiser": "City of\nAmsterdam"})

    assert fields_in(refused.value) == {"organiser"}


def test_a_registration_whose_name_or_role_would_break_an_email_header_is_refused() -> None:
    person = {"name": "Eve\r\nBcc: all@example.org", "email": "eve@example.org", "role": "x\ny"}

    with pytest.raises(ValidationError) as refused:
        Register.model_validate(person)

    assert fields_in(refused.value) == {"name", "role"}
