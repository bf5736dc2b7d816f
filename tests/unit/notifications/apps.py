"""The notifications API over in-memory stores, for HTTP-level unit tests."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from fastapi import FastAPI
from limits.aio.storage import MemoryStorage

from services.notifications.api import EXCEPTION_HANDLERS, ROUTERS
from services.notifications.api.deps import Components
from services.notifications.jobs.schedules import DigestJob, ReminderJob
from services.notifications.notifier import Notifier
from services.notifications.rendering import Renderer
from services.notifications.settings import NotificationSettings
from services.notifications.store import Stores
from shared.auth import Role, mint_token
from shared.http import create_app
from shared.links import LinkSigner
from shared.ratelimit import RateLimiter
from tests.unit.notifications import builders as b
from tests.unit.notifications.fakes import fake_stores

SETTINGS = NotificationSettings(
    jwt_secret=b.SECRET, link_secret=b.SECRET, public_base_url=b.BASE_URL, seed_directory=False
)


@dataclass
class ApiRig:
    app: FastAPI
    stores: Stores
    notifier: Notifier
    clock: b.Clock

    def client(self, role: Role | None = None, *, subject: str = "someone") -> httpx.AsyncClient:
        headers = {}
        if role is not None:
            token = mint_token(SETTINGS, subject=subject, roles=[role])
            headers["Authorization"] = f"Bearer {token}"
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url=b.BASE_URL, headers=headers
        )


def api_rig() -> ApiRig:
    stores = fake_stores()
    clock = b.Clock()
    writer = b.writer()
    notifier = b.notifier_for(stores, clock)
    app = create_app(
        SETTINGS, title="Notifications", routers=ROUTERS, exception_handlers=EXCEPTION_HANDLERS
    )
    app.state.components = Components(
        stores=stores,
        notifier=notifier,
        writer=writer,
        renderer=Renderer(),
        signer=LinkSigner(b.SECRET),
        reminders=ReminderJob(stores, notifier, clock=clock),
        digests=DigestJob(stores, writer, schedule=b.DIGEST, policy=b.POLICY, clock=clock),
        policy=b.POLICY,
        clock=clock,
        address_secret=b.SECRET,
        wake_worker=lambda: None,
        # Off, as in the tests' settings: the limits have tests of their own.
        limiter=RateLimiter(
            MemoryStorage(), table=SETTINGS.rate_limit_table(), secret=b.SECRET, enabled=False
        ),
    )
    return ApiRig(app, stores, notifier, clock)
