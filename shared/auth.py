"""Bearer tokens: JWTs with a `roles` claim, checked on every non-public endpoint.

Development signs with a shared secret (HS256); production verifies against an OIDC
issuer's published keys (JWKS, RS256/ES256) when `JWT_JWKS_URL` is set.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

import jwt
import typer
from fastapi import Depends, Request
from pydantic import BaseModel, ConfigDict

from shared.errors import Forbidden, Unauthenticated
from shared.settings import ServiceSettings


class Role(StrEnum):
    SECRETARIAT = "secretariat"
    MEMBER = "member"
    OPERATOR = "operator"


class Principal(BaseModel):
    """Who is calling: the token's subject and the roles it grants."""

    model_config = ConfigDict(frozen=True)

    subject: str
    roles: frozenset[Role]

    def has_any(self, *roles: Role) -> bool:
        return bool(self.roles.intersection(roles))


class Authenticator:
    """Verifies bearer tokens against the configured key source."""

    def __init__(self, settings: ServiceSettings) -> None:
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self._jwks = jwt.PyJWKClient(settings.jwt_jwks_url) if settings.jwt_jwks_url else None
        self._secret = settings.jwt_key()
        self._max_lifetime_s = settings.jwt_max_lifetime_s

    async def verify(self, token: str) -> Principal:
        """The principal behind a token; raises Unauthenticated if it is not valid."""
        try:
            if self._jwks is not None:
                # PyJWKClient fetches keys with blocking I/O (cached afterwards).
                signing_key = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
                key: Any = signing_key.key
                algorithms = ["RS256", "ES256"]
            else:
                key, algorithms = self._secret, ["HS256"]
            claims = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                issuer=self._issuer,
                audience=self._audience,
                options={"require": ["sub", "exp"], "verify_aud": self._audience is not None},
            )
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"invalid bearer token: {exc}") from exc
        # A token valid for years is a leaked token waiting to happen: refuse long lifetimes.
        issued = claims.get("iat", datetime.now(UTC).timestamp())
        if (
            float(claims["exp"]) - float(issued) > self._max_lifetime_s
            or float(claims["exp"]) - datetime.now(UTC).timestamp() > self._max_lifetime_s
        ):
            raise Unauthenticated(
                f"invalid bearer token: valid for longer than {self._max_lifetime_s} s"
            )
        roles = {Role(r) for r in claims.get("roles", []) if r in Role._value2member_map_}
        return Principal(subject=str(claims["sub"]), roles=frozenset(roles))


# How a route is guarded, for the OpenAPI document (`shared.openapi`): read off its
# dependencies, so the document says exactly what the code asks for.
AUTH_MARK = "__partnership_auth__"
# The roles a `require` dependency admits, for the OpenAPI document (`x-required-roles`).
ROLES_MARK = "__partnership_roles__"
BEARER_SCHEME = "bearer"


async def optional_principal(request: Request) -> Principal | None:
    """The caller if a bearer token was sent (and valid), else None (a public route)."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the Authorization header must be 'Bearer <token>'")
    authenticator: Authenticator = request.app.state.authenticator
    return await authenticator.verify(token.strip())


setattr(optional_principal, AUTH_MARK, "optional")


def require(*roles: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency that admits a caller holding any of the roles (401 without a token, 403 without the role)."""

    async def dependency(
        principal: Annotated[Principal | None, Depends(optional_principal)],
    ) -> Principal:
        if principal is None:
            raise Unauthenticated("a bearer token is required")
        if roles and not principal.has_any(*roles):
            raise Forbidden(
                f"this needs one of the roles: {', '.join(sorted(roles))}",
                required_roles=sorted(roles),
            )
        return principal

    setattr(dependency, AUTH_MARK, "required")
    setattr(dependency, ROLES_MARK, sorted(roles))
    return dependency


# The callers a route admits, the same names in every service.
Secretariat = Annotated[Principal, Depends(require(Role.SECRETARIAT))]
Operator = Annotated[Principal, Depends(require(Role.OPERATOR))]
SecretariatOrMember = Annotated[Principal, Depends(require(Role.SECRETARIAT, Role.MEMBER))]
Viewer = Annotated[Principal | None, Depends(optional_principal)]
"""Anyone: the principal if a valid token came, else None (public routes that show more
to the secretariat)."""


def mint_token(
    settings: ServiceSettings, *, subject: str, roles: list[Role], ttl_s: int = 3600
) -> str:
    """A development token signed with the shared secret (refused when an issuer's JWKS is used)."""
    if settings.jwt_jwks_url:
        raise RuntimeError("tokens come from the OIDC issuer when JWT_JWKS_URL is set")
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": subject,
        "roles": [r.value for r in roles],
        "iat": now,
        "exp": now + timedelta(seconds=ttl_s),
    }
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    return jwt.encode(claims, settings.jwt_key(), algorithm="HS256")


cli = typer.Typer(add_completion=False, help="Print a development bearer token.")


@cli.command()
def token(
    role: Annotated[list[Role], typer.Argument(help="secretariat, member or operator")],
    subject: Annotated[str, typer.Option(help="The token's subject")] = "dev-user",
    ttl_s: Annotated[int, typer.Option(help="Lifetime in seconds")] = 3600,
) -> None:
    """Print a token for the roles, signed with JWT_SECRET (or the development secret)."""
    typer.echo(mint_token(ServiceSettings(), subject=subject, roles=role, ttl_s=ttl_s))


if __name__ == "__main__":
    cli()
