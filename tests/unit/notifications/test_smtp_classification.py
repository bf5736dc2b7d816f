"""SMTP failures sorted into transient (retry) and permanent (fail now)."""

from __future__ import annotations

import aiosmtplib
import pytest

from services.notifications.mail.sender import Outcome, classify, valid_address


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (aiosmtplib.SMTPConnectError("connection refused"), Outcome.TRANSIENT),
        (aiosmtplib.SMTPServerDisconnected("gone"), Outcome.TRANSIENT),
        (aiosmtplib.SMTPReadTimeoutError("slow"), Outcome.TRANSIENT),
        (ConnectionRefusedError(111, "refused"), Outcome.TRANSIENT),
        (aiosmtplib.SMTPSenderRefused(451, "try later", "bounces@example.org"), Outcome.TRANSIENT),
        (aiosmtplib.SMTPDataError(452, "insufficient storage"), Outcome.TRANSIENT),
        (aiosmtplib.SMTPSenderRefused(550, "rejected", "bounces@example.org"), Outcome.PERMANENT),
        (aiosmtplib.SMTPDataError(554, "transaction failed"), Outcome.PERMANENT),
        (
            aiosmtplib.SMTPRecipientsRefused(
                [aiosmtplib.SMTPRecipientRefused(550, "no such user", "x@example.org")]
            ),
            Outcome.PERMANENT,
        ),
        (
            aiosmtplib.SMTPRecipientsRefused(
                [aiosmtplib.SMTPRecipientRefused(450, "greylisted", "x@example.org")]
            ),
            Outcome.TRANSIENT,
        ),
        # Wrong credentials are the operator's to fix: keep the e-mails for when they are.
        (aiosmtplib.SMTPAuthenticationError(535, "bad credentials"), Outcome.TRANSIENT),
    ],
)
def test_failures_are_classified_by_kind_and_reply_code(
    error: BaseException, outcome: Outcome
) -> None:
    assert classify(error).outcome is outcome


def test_an_unexpected_error_is_not_mistaken_for_an_smtp_outcome() -> None:
    with pytest.raises(KeyError):
        classify(KeyError("bug"))


def test_addresses_quoted_by_the_server_are_masked_in_the_error() -> None:
    refused = aiosmtplib.SMTPRecipientsRefused(
        [aiosmtplib.SMTPRecipientRefused(550, "<person@athens.example.org>: unknown", "x")]
    )

    error = classify(refused).error or ""

    assert "person@athens.example.org" not in error
    assert "<email:" in error


@pytest.mark.parametrize(
    ("address", "valid"),
    [
        ("participant@athens.example.org", True),
        ("no-at-sign.example.org", False),
        ("two@@example.org", False),
        ("person@localhost", False),
        ("person@example.org\r\nBcc: x@example.org", False),
        ("a b@example.org", False),
    ],
)
def test_only_usable_addresses_are_sent_to(address: str, valid: bool) -> None:
    assert valid_address(address) is valid
