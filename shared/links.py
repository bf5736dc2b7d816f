"""Signed self-service links: a person acts on their own record without an account."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt

from shared.errors import NotAllowed

_ALGORITHM = "HS256"


class LinkSigner:
    """Signs and checks link tokens; a token is good for one purpose and one subject only."""

    def __init__(self, secret: str) -> None:
        self._secret = secret

    def sign(self, purpose: str, subject: str, *, expires_in_s: int | None = None) -> str:
        claims: dict[str, object] = {"sub": subject, "aud": purpose}
        if expires_in_s is not None:
            claims["exp"] = datetime.now(UTC) + timedelta(seconds=expires_in_s)
        return jwt.encode(claims, self._secret, algorithm=_ALGORITHM)

    def verify(self, token: str, purpose: str) -> str:
        """The subject the token was signed for; raises NotAllowed if forged, expired or for another purpose."""
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[_ALGORITHM],
                audience=purpose,
                options={"require": ["sub", "aud"]},
            )
        except jwt.PyJWTError as exc:
            raise NotAllowed(f"the link is invalid or has expired ({exc})") from exc
        return str(claims["sub"])
