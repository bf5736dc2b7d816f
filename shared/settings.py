"""Settings every service shares, read from the environment only."""

from __future__ import annotations

from enum import StrEnum
from typing import Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Known only to the local dev stack and the tests, which opt in to them with
# ALLOW_DEVELOPMENT_SECRETS=true; nothing else starts with them (see _secrets_given).
DEV_JWT_SECRET = "development-only-jwt-secret-do-not-use-in-production"  # noqa: S105
DEV_LINK_SECRET = "development-only-link-secret-do-not-use-in-production"  # noqa: S105


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class ServiceSettings(BaseSettings):
    """Connection points, auth and logging; each service subclasses it with its own fields."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True)

    # The name in logs, metrics, the CloudEvents source and the Kafka client ids.
    service_name: str = "service"
    # development or production; production refuses development secrets and logs JSON.
    environment: Environment = Environment.DEVELOPMENT
    # The address the HTTP server binds (0.0.0.0 in a container).
    http_host: str = "127.0.0.1"
    # The HTTP port.
    http_port: int = Field(default=8100, ge=1, le=65535)
    # The URL people reach the service at, for links in e-mails and calendars.
    public_base_url: str = ""
    # Larger request bodies are refused with 413, stated or streamed.
    max_request_body_bytes: int = Field(default=1024 * 1024, ge=1024)

    # Kafka brokers, comma-separated host:port.
    kafka_bootstrap_servers: str = "127.0.0.1:19092"
    # Put before consumer group and client ids.
    kafka_client_prefix: str = "partnership"
    # Put before every topic name on the cluster: stacks (or test runs) sharing one cluster.
    kafka_topic_prefix: str = ""
    # Replicas of each topic the service declares; 3 on a production cluster.
    kafka_replication_factor: int = Field(default=1, ge=1)

    # The MongoDB connection string (may hold credentials: a secret).
    mongodb_uri: SecretStr = SecretStr("mongodb://127.0.0.1:27117")
    # The service's own database; empty: named after the service.
    mongodb_database: str = ""
    # How long a MongoDB call may wait for a server before it fails (503 over HTTP).
    mongodb_timeout_s: float = Field(default=5.0, gt=0)

    # DEBUG, INFO, WARNING or ERROR.
    log_level: str = "INFO"
    # One JSON object per line; unset: JSON in production, console text in development.
    log_json: bool | None = None

    # HS256 key of bearer tokens, when no issuer's JWKS is used.
    jwt_secret: SecretStr | None = None
    # The OIDC issuer's JWKS: tokens are then verified against its keys (RS256/ES256).
    jwt_jwks_url: str | None = None
    # Required `iss` of tokens, when set.
    jwt_issuer: str | None = None
    # Required `aud` of tokens, when set.
    jwt_audience: str | None = None
    # Tokens that would be valid longer than this (from their issue) are refused.
    jwt_max_lifetime_s: int = Field(default=12 * 3600, ge=60)
    # Signs self-service links (cancel, unsubscribe, preferences).
    link_secret: SecretStr | None = None
    # Only the dev stack and the tests set it: without it, missing secrets stop start-up.
    allow_development_secrets: bool = False

    # Writes announce their events to the relay; this sweep finds what a crash left behind.
    outbox_sweep_interval_s: float = Field(default=10.0, gt=0)
    # On SIGTERM, how long running work may take to finish.
    shutdown_grace_s: float = Field(default=15.0, gt=0)
    # A consumer that makes no progress this long while records wait fails /readyz.
    consumer_stall_s: float = Field(default=120.0, gt=0)

    @model_validator(mode="after")
    def _secrets_given(self) -> Self:
        development = (
            self.allow_development_secrets and self.environment is not Environment.PRODUCTION
        )
        if development:
            return self
        hint = (
            ""
            if self.environment is Environment.PRODUCTION
            else (" (for a local development stack only: ALLOW_DEVELOPMENT_SECRETS=true)")
        )
        if self.jwt_jwks_url is None and not _strong(self.jwt_secret, DEV_JWT_SECRET):
            raise ValueError(
                "JWT_JWKS_URL (an OIDC issuer's keys) or a JWT_SECRET of at least 32 "
                f"characters is required{hint}"
            )
        if not _strong(self.link_secret, DEV_LINK_SECRET):
            raise ValueError(f"LINK_SECRET of at least 32 characters is required{hint}")
        return self

    @property
    def database_name(self) -> str:
        return self.mongodb_database or self.service_name

    @property
    def event_source(self) -> str:
        """The CloudEvents `source` of every event this service publishes."""
        return f"/partnership/{self.service_name}"

    @property
    def json_logs(self) -> bool:
        if self.log_json is not None:
            return self.log_json
        return self.environment is Environment.PRODUCTION

    @property
    def base_url(self) -> str:
        return (self.public_base_url or f"http://{self.http_host}:{self.http_port}").rstrip("/")

    def jwt_key(self) -> str:
        """The HS256 secret (the development one only where it was allowed)."""
        return self.jwt_secret.get_secret_value() if self.jwt_secret else DEV_JWT_SECRET

    def link_key(self) -> str:
        """The secret that signs self-service links (the development one only where allowed)."""
        return self.link_secret.get_secret_value() if self.link_secret else DEV_LINK_SECRET


def _strong(secret: SecretStr | None, dev_value: str) -> bool:
    if secret is None:
        return False
    value = secret.get_secret_value()
    return len(value) >= 32 and value != dev_value
