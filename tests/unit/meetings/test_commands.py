"""Request bodies: validated and size-limited before the domain sees them."""

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from services.meetings import domain
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

    assert kept.to_domain(item_id="new", timezone="Europe/Amsterdam", index=0).id == "opening"
    assert fresh.to_domain(item_id="new", timezone="Europe/Amsterdam", index=0).id == "new"


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


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("capacity", True),
        ("capacity", "40"),
        ("number", "11"),
        ("requires_approval", "yes"),
        ("requires_approval", 1),
        ("starts_at", 1526371200),
        ("starts_at", "2018-05-15 10:00:00"),
    ],
)
def test_json_is_taken_as_typed_and_a_wrong_type_names_its_field(field: str, value: Any) -> None:
    with pytest.raises(ValidationError) as refused:
        PlanMeeting.model_validate(ELEVENTH | {field: value})

    assert fields_in(refused.value) == {field}


def test_an_integer_written_with_a_zero_fraction_is_still_an_integer_as_json_schema_says() -> None:
    assert PlanMeeting.model_validate(ELEVENTH | {"capacity": 40.0}).details().capacity == 40


@pytest.mark.parametrize("name", [" Amsterdam", "Amsterdam ", " ", "Amster\x85dam", "A\u2028B"])
def test_a_name_is_one_trimmed_line_without_control_characters(name: str) -> None:
    with pytest.raises(ValidationError) as refused:
        PlanMeeting.model_validate(ELEVENTH | {"organiser": name})

    assert fields_in(refused.value) == {"organiser"}


@pytest.mark.parametrize("reason", ["", " ", "\n\t", "\u3000"])
def test_a_reason_of_white_space_only_is_refused(reason: str) -> None:
    with pytest.raises(ValidationError) as refused:
        UpdateMeeting.model_validate({"version": 1, "reason": reason, "title": "New"})

    assert fields_in(refused.value) == {"reason"}


@pytest.mark.parametrize(
    "email",
    ["jürgen@example.org", "anna@münchen.de", "anna@host.local", "a..b@example.org", "a@b"],
)
def test_an_address_that_mail_could_not_reach_is_refused_saying_why(email: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Register.model_validate({"name": "Anna", "email": email})

    assert fields_in(refused.value) == {"email"}
    if not email.isascii():
        assert "non-ASCII" in str(refused.value)


def test_a_wall_clock_time_in_a_daylight_saving_gap_is_refused_saying_why() -> None:
    # Europe/Amsterdam moves from 02:00 to 03:00 on 28 March 2027.
    body = PlanMeeting.model_validate(
        ELEVENTH | {"starts_at": "2027-03-28T02:30", "ends_at": "2027-03-28T17:00"}
    )

    with pytest.raises(domain.InvalidMeeting) as refused:
        body.details()

    assert refused.value.facts["errors"] == [
        {
            "field": "starts_at",
            "reason": "2027-03-28 02:30 in Europe/Amsterdam does not exist (the clocks go "
            "forward): give another time",
        }
    ]


def test_a_wall_clock_time_that_happens_twice_is_refused_but_an_offset_settles_it() -> None:
    # On 31 October 2027 Europe/Amsterdam goes from 03:00 back to 02:00: 02:30 happens twice.
    ambiguous = ELEVENTH | {"starts_at": "2027-10-31T02:30", "ends_at": "2027-10-31T17:00"}

    with pytest.raises(domain.InvalidMeeting, match="happens twice"):
        PlanMeeting.model_validate(ambiguous).details()
    settled = PlanMeeting.model_validate(ambiguous | {"starts_at": "2027-10-31T02:30+01:00"})
    assert settled.details().starts_at == datetime(2027, 10, 31, 1, 30, tzinfo=UTC)


def test_an_update_may_leave_a_field_out_but_not_send_null_for_a_required_one() -> None:
    for field in ("kind", "title", "starts_at", "timezone", "requires_approval", "reason"):
        with pytest.raises(ValidationError) as refused:
            UpdateMeeting.model_validate({"version": 1, field: None})
        assert fields_in(refused.value) == {field}
