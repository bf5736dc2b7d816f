"""The meetings service's settings, from the environment only."""

from __future__ import annotations

from pydantic import Field

from shared.ratelimit import RateLimitSettings
from shared.settings import ServiceSettings


class MeetingsSettings(ServiceSettings, RateLimitSettings):
    service_name: str = "meetings"
    http_port: int = Field(default=8101, ge=1, le=65535)
    # A registration's self-service link stays valid this long after the meeting ends.
    registration_link_grace_s: int = Field(default=7 * 24 * 3600, ge=0)
    # Public registration bodies are small; anything larger is refused before parsing.
    max_registration_body_bytes: int = Field(default=16 * 1024, ge=1024)
