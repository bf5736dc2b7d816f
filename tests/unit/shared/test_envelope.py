from datetime import UTC, datetime

import pytest
from cloudevents.core.bindings import kafka as ce_kafka

from shared.contracts.meetings import MeetingCancelled, MeetingInfo, MeetingKind
from shared.envelope import Envelope
from shared.errors import Invalid
from shared.outbox import Outbox

MAY_15_2018 = datetime(2018, 5, 15, 9, 0, tzinfo=UTC)


def the_eleventh_meeting_cancelled() -> MeetingCancelled:
    return MeetingCancelled(
        meeting=MeetingInfo(
            meeting_id="pm-11",
            kind=MeetingKind.PARTNERSHIP_MEETING,
            number=11,
            title="11th partnership meeting",
            starts_at=MAY_15_2018,
            ends_at=MAY_15_2018.replace(hour=16),
            timezone="Europe/Amsterdam",
        ),
        reason="venue closed",
        cancelled_at=MAY_15_2018,
    )


def test_headers_round_trip_to_the_same_envelope() -> None:
    envelope = Envelope(
        id="e-1",
        source="/partnership/meetings",
        type="eu.urbanagenda.inclusion.meeting.cancelled.v1",
        time=MAY_15_2018,
        subject="pm-11",
        correlationid="req-7",
    )

    assert Envelope.from_headers(envelope.to_headers()) == envelope


def test_staged_event_is_read_by_the_cloudevents_sdk_as_binary_mode() -> None:
    [entry] = Outbox(source="/partnership/meetings", new_id=lambda: "e-1").stage(
        [the_eleventh_meeting_cancelled()], correlation_id="req-7"
    )
    message = ce_kafka.KafkaMessage(
        headers={k: v.encode() for k, v in entry["headers"].items()},
        key=entry["key"].encode(),
        value=entry["body"].encode(),
    )

    event = ce_kafka.from_binary_event(message)

    assert event.get_id() == "e-1"
    assert event.get_type() == "eu.urbanagenda.inclusion.meeting.cancelled.v1"
    assert event.get_source() == "/partnership/meetings"
    assert event.get_subject() == "pm-11"
    assert event.get_datacontenttype() == "application/json"
    assert event.get_data()["reason"] == "venue closed"
    assert entry["key"] == "pm-11"


def test_a_message_without_ce_headers_is_refused_naming_the_missing_attributes() -> None:
    with pytest.raises(Invalid) as refused:
        Envelope.from_headers({"content-type": "application/json", "ce_source": "/x"})

    assert "ce_id" in refused.value.detail
    assert "ce_type" in refused.value.detail


def test_header_values_are_strings_as_kafka_requires() -> None:
    [entry] = Outbox(source="/partnership/meetings").stage([the_eleventh_meeting_cancelled()])

    assert all(isinstance(v, str) for v in entry["headers"].values())
    assert entry["headers"]["ce_specversion"] == "1.0"
    assert entry["headers"]["ce_time"].endswith("Z")


def test_a_header_that_is_not_utf8_is_refused_not_crashed_on() -> None:
    headers = Envelope(
        id="e-1", source="/partnership/meetings", type="t.v1", time=MAY_15_2018
    ).to_headers()
    raw = [(k, v.encode()) for k, v in headers.items()] + [("ce_subject", b"\xff\xfe")]

    with pytest.raises(Invalid, match="not UTF-8"):
        Envelope.from_headers(raw)


def test_a_null_header_value_is_ignored() -> None:
    headers = Envelope(
        id="e-1", source="/partnership/meetings", type="t.v1", time=MAY_15_2018
    ).to_headers()
    raw = [(k, v.encode()) for k, v in headers.items()] + [("traceparent", None)]

    assert Envelope.from_headers(raw).id == "e-1"  # type: ignore[arg-type]


def test_a_time_without_a_zone_is_refused() -> None:
    with pytest.raises(Invalid, match="ce_time"):
        Envelope.from_headers(
            {
                "ce_id": "e",
                "ce_source": "/s",
                "ce_type": "t",
                "ce_specversion": "1.0",
                "ce_time": "2018-05-15T09:00:00",
            }
        )
