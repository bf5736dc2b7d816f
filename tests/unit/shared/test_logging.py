import json
import logging

import structlog

from shared.logging import configure_logging, mask_email
from shared.messaging import make_broker
from shared.settings import ServiceSettings


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


def test_a_library_logging_through_the_standard_library_is_masked_and_json_too(capsys) -> None:
    configure_logging("notifications", json=True)

    try:
        raise ValueError("bad header value b'ana.silva@example.org'")
    except ValueError:
        logging.getLogger("aiokafka.consumer").critical("parser failed", exc_info=True)

    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert "example.org" not in json.dumps(line)
    assert line["logger"] == "aiokafka.consumer"
    assert line["level"] == "critical"
    assert mask_email("ana.silva@example.org") in line["exception"]


def test_the_brokers_log_through_the_same_handler() -> None:
    broker = make_broker(ServiceSettings())

    logger = broker.config.logger.params_storage.get_logger(context=broker.config.fd_config.context)

    assert isinstance(logger, logging.Logger)
    assert logger.propagate
    assert not logger.handlers
