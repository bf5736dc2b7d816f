"""Settings of the notifications service, from the environment only."""

from __future__ import annotations

from datetime import timedelta
from typing import Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator

from services.notifications.jobs.worker import RECORD_S
from shared.ratelimit import RateLimitSettings
from shared.settings import Environment, ServiceSettings

# Of the shutdown grace, kept for the runtime itself (closing SMTP, Kafka and MongoDB) after
# the background steps have had theirs.
STOP_MARGIN_S = 2.0


class NotificationSettings(ServiceSettings, RateLimitSettings):
    service_name: str = "notifications"
    http_port: int = Field(default=8104, ge=1, le=65535)

    # SMTP. STARTTLS upgrades a plain connection; TLS connects encrypted (port 465).
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=11025, ge=1, le=65535)
    smtp_starttls: bool = False
    smtp_tls: bool = False
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout_s: float = Field(default=30.0, gt=0)
    smtp_validate_certs: bool = True
    smtp_connections: int = Field(default=4, ge=1, le=32)

    mail_from: str = (
        "Partnership on Inclusion of Migrants and Refugees <notifications@inclusion.example.org>"
    )
    mail_return_path: str = "bounces@inclusion.example.org"
    mail_domain: str = Field(
        default="inclusion.example.org",
        description="Right-hand side of Message-IDs and iCalendar UIDs",
    )
    organiser_name: str = "Partnership on Inclusion of Migrants and Refugees"
    organiser_email: str = "secretariat@inclusion.example.org"
    unsubscribe_link_ttl_s: int = Field(default=400 * 24 * 3600, gt=0)

    # Retries of transient SMTP failures: exponential backoff with jitter.
    retry_base_s: float = Field(default=30.0, gt=0)
    retry_cap_s: float = Field(default=3600.0, gt=0)
    retry_max_attempts: int = Field(default=8, ge=1)
    delivery_lease_s: float = Field(default=120.0, gt=0)
    # One whole SMTP attempt (connect, TLS, login, the message), cut off after this long.
    delivery_attempt_timeout_s: float = Field(default=60.0, gt=0)
    delivery_poll_s: float = Field(default=1.0, gt=0)

    # Reminders before a meeting or module starts, e.g. REMINDER_OFFSETS='["P7D","P1D"]'.
    reminder_offsets: list[timedelta] = Field(
        default_factory=lambda: [timedelta(days=7), timedelta(days=1)]
    )
    reminder_poll_s: float = Field(default=30.0, gt=0)

    digest_hour: int = Field(default=8, ge=0, le=23)
    digest_timezone: str = "Europe/Brussels"
    digest_poll_s: float = Field(default=60.0, gt=0)

    # Opt-in: the dev stack seeds the partnership's members; a deployment loads its own.
    seed_directory: bool = False
    consumer_group: str = "notifications"
    # Keys the hash that finds contacts by address (and outlives erasure); defaults to LINK_SECRET.
    address_hash_secret: SecretStr | None = None

    def step_grace_s(self) -> float:
        """How long a background step (a send, a reminder run) may go on once stopping begins."""
        return self.shutdown_grace_s - STOP_MARGIN_S

    def address_secret(self) -> str:
        if self.address_hash_secret is not None:
            return self.address_hash_secret.get_secret_value()
        return self.link_key()

    @field_validator("reminder_offsets")
    @classmethod
    def _positive_offsets(cls, offsets: list[timedelta]) -> list[timedelta]:
        if any(offset <= timedelta(0) for offset in offsets):
            raise ValueError("reminder offsets must be positive durations, e.g. P7D or PT1H")
        return sorted(set(offsets), reverse=True)

    @field_validator("digest_timezone")
    @classmethod
    def _known_zone(cls, zone: str) -> str:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {zone!r}") from exc
        return zone

    @model_validator(mode="after")
    def _attempt_within_lease(self) -> Self:
        # Outliving its lease, an attempt's delivery is claimed again and the e-mail sent twice.
        worst_case_s = self.delivery_attempt_timeout_s + RECORD_S
        if self.delivery_lease_s <= worst_case_s:
            raise ValueError(
                f"DELIVERY_LEASE_S ({self.delivery_lease_s:g} s) must exceed the longest attempt:"
                f" DELIVERY_ATTEMPT_TIMEOUT_S ({self.delivery_attempt_timeout_s:g} s) plus"
                f" {RECORD_S:g} s to record its outcome"
            )
        if self.step_grace_s() <= RECORD_S:
            raise ValueError(
                f"SHUTDOWN_GRACE_S ({self.shutdown_grace_s:g} s) must exceed"
                f" {RECORD_S + STOP_MARGIN_S:g} s: a send in progress at shutdown needs"
                f" {RECORD_S:g} s to record its outcome"
            )
        return self

    @model_validator(mode="after")
    def _smtp_credentials(self) -> Self:
        if self.smtp_username and self.smtp_password is None:
            raise ValueError("SMTP_PASSWORD is required when SMTP_USERNAME is set")
        if self.smtp_tls and self.smtp_starttls:
            raise ValueError("choose SMTP_TLS (implicit TLS) or SMTP_STARTTLS, not both")
        if (
            self.environment is Environment.PRODUCTION
            and self.smtp_username
            and not (self.smtp_tls or self.smtp_starttls)
        ):
            raise ValueError(
                "SMTP credentials would travel in clear: set SMTP_STARTTLS or SMTP_TLS"
            )
        return self
