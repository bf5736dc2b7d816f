import json

import structlog

from shared.logging import configure_logging, mask_email


def test_an_email_address_never_reaches_the_log_in_clear(capsys) -> None:
    configure_logging("meetings", json=True)

    structlog.get_logger().info(
        "registration.received", email="Ana.Silva@example.org", note="from ana.silva@example.org"
    )

    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert "example.org" not in json.dumps(line)
    assert line["email"] == mask_email("ana.silva@example.org")
    assert line["service"] == "meetings"


def test_the_mask_is_stable_and_case_insensitive() -> None:
    assert mask_email("A@Example.org") == mask_email("a@example.org")
    assert mask_email("a@example.org") != mask_email("b@example.org")
