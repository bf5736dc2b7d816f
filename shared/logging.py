"""structlog set-up: JSON lines in production, a readable console in development.

Every line carries the service and, through context variables, the correlation id
(HTTP request id or event id) and, for consumers, the event type, topic and offset.
E-mail addresses are masked wherever they appear, keys or free text alike.
"""

from __future__ import annotations

import hashlib
import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")


def mask_email(address: str) -> str:
    """A stable, non-reversible stand-in: the same address always gives the same token."""
    digest = hashlib.sha256(address.strip().lower().encode()).hexdigest()[:12]
    return f"<email:{digest}>"


def mask_emails(text: str) -> str:
    """The text with every e-mail address in it replaced by its stable stand-in."""
    return _EMAIL.sub(lambda m: mask_email(m.group(0)), text)


def _mask(value: Any) -> Any:
    if isinstance(value, str):
        return mask_emails(value)
    if isinstance(value, dict):
        return {k: _mask(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_mask(v) for v in value)
    return value


def redact_personal_data(
    _: Any, __: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: no e-mail address leaves the process in clear."""
    return {key: _mask(value) for key, value in event_dict.items()}


def configure_logging(service: str, *, level: str = "INFO", json: bool = False) -> None:
    """Configure structlog and the standard library's loggers once per process."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact_personal_data,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=_Stderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(service=service)
    # Libraries (aiokafka, uvicorn, pymongo, FastStream) log through the standard library:
    # their lines pass the same processors, masking included, and come out in the same format.
    handler = logging.StreamHandler(_Stderr())
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    for noisy in ("aiokafka", "kafka", "pymongo", "uvicorn.access", "faststream"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def bind_correlation(correlation_id: str, **extra: Any) -> None:
    """Tag every following log line (and staged event) of this task with the correlation id."""
    structlog.contextvars.bind_contextvars(correlation_id=correlation_id, **extra)


def current_correlation_id() -> str | None:
    """The correlation id bound to the running task, if any."""
    value = structlog.contextvars.get_contextvars().get("correlation_id")
    return str(value) if value is not None else None


class _Stderr:
    """Whatever sys.stderr is at write time (test runners swap it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()
