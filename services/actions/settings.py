"""The actions service's settings, from the environment only."""

from __future__ import annotations

from pydantic import Field

from shared.settings import ServiceSettings


class ActionsSettings(ServiceSettings):
    service_name: str = "actions"
    http_port: int = Field(default=8102, ge=1, le=65535)
