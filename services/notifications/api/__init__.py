"""HTTP routes of the notifications service."""

from __future__ import annotations

from fastapi import APIRouter

from services.notifications.api import deliveries, directory, pages
from shared.http import ExceptionHandler

ROUTERS: tuple[APIRouter, ...] = (directory.router, deliveries.router, pages.router)

# The pages answer a person: too many requests is a page too, not problem+json.
EXCEPTION_HANDLERS: dict[type[Exception], ExceptionHandler] = {pages.PageRefused: pages.too_many}

__all__ = ["EXCEPTION_HANDLERS", "ROUTERS"]
