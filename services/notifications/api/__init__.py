"""HTTP routes of the notifications service."""

from __future__ import annotations

from fastapi import APIRouter

from services.notifications.api import deliveries, directory, pages

ROUTERS: tuple[APIRouter, ...] = (directory.router, deliveries.router, pages.router)

__all__ = ["ROUTERS"]
