from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field, SecretStr, ValidationError

from shared.auth import Principal, Role, mint_token, require
from shared.errors import NotAllowed
from shared.http import create_app
from shared.links import LinkSigner
from shared.settings import Environment, ServiceSettings

SETTINGS = ServiceSettings(service_name="test", environment=Environment.TEST)


class Body(BaseModel):
    title: str = Field(min_length=3)


def an_app() -> httpx.AsyncClient:
    router = APIRouter()

    @router.post("/meetings")
    async def schedule(
        body: Body, who: Annotated[Principal, Depends(require(Role.SECRETARIAT))]
    ) -> dict[str, str]:
        return {"by": who.subject}

    app = create_app(SETTINGS, title="test", routers=[router])
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def bearer(*roles: Role) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(SETTINGS, subject='sec-1', roles=list(roles))}"}


async def test_a_request_without_a_token_is_401_problem_json() -> None:
    async with an_app() as client:
        response = await client.post("/meetings", json={"title": "11th meeting"})

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == "Bearer"


async def test_a_token_without_the_role_is_403_naming_the_role() -> None:
    async with an_app() as client:
        response = await client.post(
            "/meetings", json={"title": "11th meeting"}, headers=bearer(Role.MEMBER)
        )

    assert response.status_code == 403
    assert response.json()["required_roles"] == ["secretariat"]


async def test_a_forged_token_is_401() -> None:
    forged = mint_token(
        ServiceSettings(jwt_secret=SecretStr("x" * 40)), subject="sec-1", roles=[Role.SECRETARIAT]
    )
    async with an_app() as client:
        response = await client.post(
            "/meetings", json={"title": "11th"}, headers={"Authorization": f"Bearer {forged}"}
        )

    assert response.status_code == 401


async def test_the_right_role_passes_and_the_subject_is_known() -> None:
    async with an_app() as client:
        response = await client.post(
            "/meetings", json={"title": "11th meeting"}, headers=bearer(Role.SECRETARIAT)
        )

    assert response.status_code == 200
    assert response.json() == {"by": "sec-1"}
    assert response.headers["x-request-id"]


async def test_a_schema_violation_is_422_naming_the_field_and_the_reason() -> None:
    async with an_app() as client:
        response = await client.post(
            "/meetings", json={"title": "x"}, headers=bearer(Role.SECRETARIAT)
        )

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == "title"
    assert "at least 3 characters" in response.json()["errors"][0]["reason"]


async def test_health_and_metrics_are_public() -> None:
    async with an_app() as client:
        health = await client.get("/healthz")
        metrics = await client.get("/metrics")

    assert health.json() == {"status": "ok"}
    assert "http_requests_total" in metrics.text


def test_production_refuses_the_development_secrets() -> None:
    with pytest.raises(ValidationError, match="JWT_JWKS_URL"):
        ServiceSettings(environment=Environment.PRODUCTION)


def test_a_signed_link_is_good_for_its_purpose_only() -> None:
    signer = LinkSigner("s" * 40)
    token = signer.sign("cancel-registration", "reg-1")

    assert signer.verify(token, "cancel-registration") == "reg-1"
    with pytest.raises(NotAllowed):
        signer.verify(token, "unsubscribe")
    with pytest.raises(NotAllowed):
        LinkSigner("t" * 40).verify(token, "cancel-registration")


async def test_metrics_label_requests_by_route_template_not_by_raw_path() -> None:
    router = APIRouter()

    @router.get("/meetings/{meeting_id}/things")
    async def things(meeting_id: str) -> dict[str, str]:
        return {"id": meeting_id}

    app = create_app(SETTINGS, title="test", routers=[router])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        # An id no other test's route uses: the metrics are the whole process's.
        await client.get("/meetings/pm-route-label/things")
        metrics = (await client.get("/metrics")).text

    assert 'route="/meetings/{meeting_id}/things"' in metrics
    assert "pm-route-label" not in metrics


def test_without_the_opt_in_missing_secrets_stop_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ALLOW_DEVELOPMENT_SECRETS", raising=False)

    with pytest.raises(ValidationError, match="ALLOW_DEVELOPMENT_SECRETS=true"):
        ServiceSettings()


def test_a_deployment_that_sets_its_secrets_needs_no_opt_in(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ALLOW_DEVELOPMENT_SECRETS", raising=False)
    strong = SecretStr("s" * 40)

    settings = ServiceSettings(jwt_secret=strong, link_secret=strong)

    assert settings.jwt_key() == "s" * 40


def test_production_refuses_the_development_secrets_even_when_allowed() -> None:
    with pytest.raises(ValidationError, match="JWT_JWKS_URL"):
        ServiceSettings(environment=Environment.PRODUCTION, allow_development_secrets=True)


async def test_a_token_valid_for_longer_than_the_maximum_is_401() -> None:
    ten_years = 10 * 365 * 24 * 3600
    token = mint_token(SETTINGS, subject="sec-1", roles=[Role.SECRETARIAT], ttl_s=ten_years)

    async with an_app() as client:
        response = await client.post(
            "/meetings", json={"title": "11th"}, headers={"Authorization": f"Bearer {token}"}
        )

    assert response.status_code == 401
    assert "longer than 43200 s" in response.json()["detail"]
