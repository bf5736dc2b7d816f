"""The academy service's settings, from the environment only."""

from __future__ import annotations

from pydantic import Field

from shared.settings import ServiceSettings


class AcademySettings(ServiceSettings):
    service_name: str = "academy"
    http_port: int = Field(default=8103, ge=1, le=65535)
