"""HTTP routes: authorise → domain → store. The rules live in the domain, not here."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter

from services.meetings.api import ics, meetings, pages, registrations
from services.meetings.api.deps import Components

# The calendar routes come first: `/meetings/{meeting_id}` would otherwise take `x.ics`.
# The pages come before the registrations: they take a browser's requests at the same URLs
# and leave every other request to the API routes.
ROUTERS: Sequence[APIRouter] = (ics.router, meetings.router, pages.router, registrations.router)

__all__ = ["ROUTERS", "Components"]
