"""The few kinds of refusal every service speaks; one module turns them into HTTP answers."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class DomainError(Exception):
    """A refusal that carries facts, not HTTP: the domain raises it, the edge translates it."""

    title = "Request refused"

    def __init__(self, detail: str, **facts: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.facts = facts

    def problem(self, status: int) -> dict[str, Any]:
        """RFC 9457 body: the standard members plus this error's facts as extensions."""
        kind = type(self).__name__
        slug = "".join(f"-{c.lower()}" if c.isupper() else c for c in kind).lstrip("-")
        return {
            "type": f"urn:partnership:problem:{slug}",
            "title": self.title,
            "status": status,
            "detail": self.detail,
            **self.facts,
        }


class NotFound(DomainError):
    title = "Not found"


class Conflict(DomainError):
    title = "Conflict with the current state"


class NotAllowed(DomainError):
    title = "Not allowed"


class Invalid(DomainError):
    title = "Invalid request"


class IllegalTransition(Conflict):
    """A lifecycle step that the entity's current state does not allow."""

    title = "Illegal state transition"

    def __init__(self, entity: str, *, current: str, action: str, allowed: Iterable[str]) -> None:
        allowed_list = sorted(allowed)
        super().__init__(
            f"cannot {action} a {entity} that is {current}; "
            f"allowed from {current}: {', '.join(allowed_list) or 'nothing'}",
            current_state=current,
            action=action,
            allowed_actions=allowed_list,
        )


class ConcurrentUpdate(Conflict):
    """Someone else changed the entity since it was read; the caller must reload."""

    title = "Concurrent update"

    def __init__(self, entity: str, entity_id: str, *, expected_version: int) -> None:
        super().__init__(
            f"{entity} {entity_id} was changed by someone else (expected version "
            f"{expected_version}); reload it and try again",
            entity_id=entity_id,
            expected_version=expected_version,
        )


class Unauthenticated(DomainError):
    title = "Authentication required"


class Forbidden(NotAllowed):
    title = "Forbidden"


class TooManyRequests(DomainError):
    """A client asked more often than its limit allows; it may try again later."""

    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after_s: int) -> None:
        super().__init__(detail, retry_after_s=retry_after_s)
        self.retry_after_s = retry_after_s


class PayloadTooLarge(DomainError):
    title = "Content too large"

    def __init__(self, limit: int) -> None:
        super().__init__(f"the request body must be at most {limit} bytes", limit_bytes=limit)
