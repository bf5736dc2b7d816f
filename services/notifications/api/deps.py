"""What the routes depend on, reached through the app's state; set up by __main__."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request

from services.notifications.domain.deliveries import BackoffPolicy
from services.notifications.domain.directory import ContactId
from services.notifications.jobs.schedules import DigestJob, ReminderJob
from services.notifications.mail.letters import LetterWriter
from services.notifications.notifier import Notifier
from services.notifications.rendering import Renderer
from services.notifications.store import Stores
from shared.auth import Principal, Role
from shared.errors import Forbidden
from shared.links import LinkSigner
from shared.ratelimit import RateLimiter


@dataclass(frozen=True)
class Components:
    stores: Stores
    notifier: Notifier
    writer: LetterWriter
    renderer: Renderer
    signer: LinkSigner
    reminders: ReminderJob
    digests: DigestJob
    policy: BackoffPolicy
    clock: Callable[[], datetime]
    address_secret: str
    wake_worker: Callable[[], None]
    limiter: RateLimiter


def components(request: Request) -> Components:
    found: Components = request.app.state.components
    return found


def limiter_of(request: Request) -> RateLimiter:
    return components(request).limiter


ComponentsDep = Annotated[Components, Depends(components)]


def ensure_self_or_secretariat(principal: Principal, contact_id: ContactId) -> None:
    """A member acts on their own record only (their token's subject is their contact id)."""
    if principal.has_any(Role.SECRETARIAT) or principal.subject == contact_id:
        return
    raise Forbidden("members may only see and change their own record", contact_id=contact_id)
