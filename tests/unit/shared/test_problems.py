import httpx
import pytest
from fastapi import APIRouter, Request
from pymongo.errors import ServerSelectionTimeoutError

from shared.errors import ConcurrentUpdate, DomainError, IllegalTransition, NotFound
from shared.http import create_app
from shared.settings import Environment, ServiceSettings

ERRORS: dict[str, DomainError] = {
    "missing": NotFound("meeting pm-99 does not exist", meeting_id="pm-99"),
    "illegal": IllegalTransition(
        "meeting", current="held", action="cancel", allowed=["publish_minutes"]
    ),
    "stale": ConcurrentUpdate("meeting", "pm-11", expected_version=3),
}


def client() -> httpx.AsyncClient:
    router = APIRouter()

    @router.get("/errors/{name}")
    async def fail(name: str) -> None:
        raise ERRORS[name]

    @router.get("/database-away")
    async def database_away() -> None:
        raise ServerSelectionTimeoutError("127.0.0.1:27117: [Errno 111] Connection refused")

    @router.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret detail")

    app = create_app(ServiceSettings(environment=Environment.TEST), title="t", routers=[router])
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


@pytest.mark.parametrize(("name", "status"), [("missing", 404), ("illegal", 409), ("stale", 409)])
async def test_domain_errors_become_problem_json_with_their_status(name: str, status: int) -> None:
    async with client() as http:
        response = await http.get(f"/errors/{name}")

    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == status


async def test_an_illegal_transition_names_the_current_state_and_the_allowed_actions() -> None:
    async with client() as http:
        body = (await http.get("/errors/illegal")).json()

    assert body["current_state"] == "held"
    assert body["allowed_actions"] == ["publish_minutes"]
    assert (
        body["detail"] == "cannot cancel a meeting that is held; allowed from held: publish_minutes"
    )


async def test_an_unknown_route_is_a_404_problem() -> None:
    async with client() as http:
        response = await http.get("/nowhere")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_an_unexpected_error_is_a_500_problem_without_internals() -> None:
    async with client() as http:
        response = await http.get("/boom")

    assert response.status_code == 500
    assert "secret detail" not in response.text


async def test_a_body_over_the_limit_is_refused_with_413_before_the_route_runs() -> None:
    app = create_app(
        ServiceSettings(environment=Environment.TEST, max_request_body_bytes=1024), title="t"
    )
    reached: list[bytes] = []

    @app.post("/echo")
    async def echo(request: Request) -> None:
        reached.append(await request.body())

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as http:
        declared = await http.post("/echo", content=b"x" * 2048)

        async def stream():
            for _ in range(4):
                yield b"x" * 600

        streamed = await http.post("/echo", content=stream())

    assert declared.status_code == 413
    assert streamed.status_code == 413
    assert declared.headers["content-type"] == "application/problem+json"
    assert reached == []


async def test_an_unreachable_database_answers_503_with_when_to_try_again() -> None:
    async with client() as http:
        response = await http.get("/database-away")

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "2"
    body = response.json()
    assert body["title"] == "Service Unavailable"
    assert "27117" not in body["detail"]
