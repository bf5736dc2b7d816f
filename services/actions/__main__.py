"""Composition root of the actions service: `python -m services.actions`.

Only the service's frame so far (health, readiness, metrics, auth, Kafka and MongoDB
clients); its domain arrives with its own issue.
"""

from __future__ import annotations

from fastapi import FastAPI

from services.actions.settings import ActionsSettings
from shared.http import create_app
from shared.logging import configure_logging
from shared.messaging import make_broker
from shared.runtime import ServiceRuntime, serve
from shared.storage import connect_mongo


def build(settings: ActionsSettings) -> FastAPI:
    """Wire settings → clients → app; nothing connects until the app starts."""
    runtime = ServiceRuntime(
        settings=settings, mongo=connect_mongo(settings), broker=make_broker(settings)
    )
    return create_app(
        settings, title="Actions", readiness=runtime.readiness(), lifespan=runtime.lifespan
    )


def main() -> None:
    settings = ActionsSettings()
    configure_logging(settings.service_name, level=settings.log_level, json=settings.json_logs)
    serve(build(settings), settings)


if __name__ == "__main__":
    main()
