"""Real servers for integration tests: Kafka, the MongoDB-wire server and Mailpit (SMTP).

Fixtures (session-scoped): ``kafka`` (``.bootstrap``), ``mongo`` (``.uri``), ``smtp`` (``.host``,
``.port``, ``.api_url`` and helpers for Mailpit's HTTP API), and ``unique_name``.

Every name ``unique_name`` hands out carries the session's mark (``SESSION``). When the session
ends, the ``kafka`` and ``mongo`` fixtures delete the topics, consumer groups and databases
whose names carry it, and those of sessions that crashed (marks over ``STALE_AFTER_S`` old);
names without a mark, such as the ones ``make run`` uses, are never touched.

Each server is found in this order, first match wins:

1. Environment variables: ``KAFKA_BOOTSTRAP_SERVERS``; ``MONGODB_URI``; ``SMTP_HOST``,
   ``SMTP_PORT`` and ``MAILPIT_API_URL``. ``make test`` exports the dev stack's values
   (``deploy/local/infra.sh env``), which include ``PARTNERSHIP_DEVSTACK=1``: the servers are then
   started if needed and stopped/started through ``infra.sh``. For other servers, fault injection
   runs the shell commands in ``KAFKA_STOP_CMD``/``KAFKA_START_CMD``/``KAFKA_KILL_CMD``, likewise
   ``MONGODB_*_CMD`` and ``MAILPIT_*_CMD``; without them a test that stops a server fails and
   says which variables it needs.
2. testcontainers, when a Docker daemon answers: ``apache/kafka``, ``mongo:8``,
   ``axllent/mailpit``, on fixed host ports so the address survives a container restart.
3. The tests' own dev stack: ``PARTNERSHIP_STACK=test deploy/local/infra.sh start <server>``,
   which shares no port and no file with the stack ``make run`` serves. It is left running after
   the session (the next run starts in a second); ``infra.sh down`` stops it.

Fault injection is asynchronous, so the code under test keeps running meanwhile::

    await kafka.stop()              # SIGTERM; kill=True for SIGKILL (a crash)
    await kafka.start()             # returns once the server answers again
    async with mongo.stopped():     # stopped inside the block, restarted after it, even on error
        ...
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import socket
import sys
import time
import uuid
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest
import pytest_asyncio
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import Array, Int16, Int32, Schema, String

INFRA_SH = Path(__file__).resolve().parent.parent / "deploy" / "local" / "infra.sh"

KAFKA_IMAGE = "apache/kafka:4.4.0"
MONGO_IMAGE = "mongo:8"
MAILPIT_IMAGE = "axllent/mailpit:v1.27.11"

READY_TIMEOUT_S = 120.0  # a first container start includes the image pull
GIVEN_SERVER_TIMEOUT_S = 20.0  # servers named in the environment should already be up


# This session's mark: "test", when it started (Unix seconds, hex) and four random hex digits.
SESSION = f"test{int(time.time()):08x}{secrets.token_hex(2)}"
# No session runs this long (all of `make test` takes minutes): an older mark is a session's
# that never reached its end (killed, crashed), whose names nobody removed.
STALE_AFTER_S = 3 * 3600
# The mark inside a name unique_name made, however the test went on (a database's name with
# "_" for "-", a topic under a prefix, a dead-letter topic named after a consumer group).
_MARKED = re.compile(
    r"(?:^|[-_.])(?P<session>test(?P<started>[0-9a-f]{8})[0-9a-f]{4})[-_][0-9a-f]{12}(?=$|[-_.])"
)


def unique_name(prefix: str = "test") -> str:
    """A fresh name for a topic, consumer group or database, so tests never share state."""
    return f"{prefix}-{SESSION}-{uuid.uuid4().hex[:12]}"


def leftovers(
    names: Iterable[str], *, session: str = SESSION, now_s: float | None = None
) -> list[str]:
    """The names a session's clean-up removes: its own, and those of crashed sessions."""
    stale_before = (time.time() if now_s is None else now_s) - STALE_AFTER_S
    found = []
    for name in names:
        marks = list(_MARKED.finditer(name))
        if any(m["session"] == session or int(m["started"], 16) < stale_before for m in marks):
            found.append(name)
    return sorted(found)


def pytest_report_header() -> list[str]:
    """Which servers the session uses, and the mark its names carry."""
    marks = f"names marked {SESSION}: removed from Kafka and MongoDB when the session ends"
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not bootstrap:
        return [marks, "servers: Docker containers, else the tests' own dev stack"]
    stack = _stack_env()["PARTNERSHIP_STACK"] if _uses_devstack() else None
    where = f"servers: Kafka {bootstrap}" + (f" (the {stack} stack)" if stack else "")
    if stack == "dev":
        where += ": the stack `make run` serves (`make test` uses a stack of its own)"
    return [marks, where]


@pytest.fixture(name="unique_name")
def unique_name_fixture() -> Callable[[str], str]:
    """The ``unique_name`` function, for tests that prefer a fixture to an import."""
    return unique_name


class FaultInjectionUnavailable(RuntimeError):
    """The server was handed to us from outside and nobody said how to stop or start it."""


# --------------------------------------------------------------------------------------------
# How a server is stopped and started, per origin.


class Control(Protocol):
    async def stop(self, *, kill: bool) -> None: ...

    async def start(self) -> None: ...


async def _run(*argv: str, what: str, env: dict[str, str] | None = None) -> str:
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env
    )
    output, _ = await process.communicate()
    text = output.decode(errors="replace")
    if process.returncode != 0:
        raise RuntimeError(f"{what} failed (exit {process.returncode}):\n{text}")
    return text


async def _infra(*args: str) -> str:
    return await _run(
        "bash", str(INFRA_SH), *args, what=f"infra.sh {' '.join(args)}", env=_stack_env()
    )


def _stack_env() -> dict[str, str]:
    """The environment for infra.sh: the stack named there, else the tests' own stack."""
    if "PARTNERSHIP_STACK" in os.environ:
        return dict(os.environ)
    # Addresses from an infra.sh that did not name its stack yet came from the dev stack.
    return os.environ | {"PARTNERSHIP_STACK": "dev" if _uses_devstack() else "test"}


@dataclass
class DevStackControl:
    """The dev stack's own scripts; ``start`` returns once the server is ready."""

    server: str

    async def stop(self, *, kill: bool) -> None:
        await _infra("kill" if kill else "stop", self.server)

    async def start(self) -> None:
        try:
            await _infra("start", self.server)
        except RuntimeError as first:
            # Starting a server is set-up, not the behaviour under test: a failed start (its
            # log tail printed) gets one more try, so one bad start fails no test after it.
            print(f"\n{first}\nretrying infra.sh start {self.server}", file=sys.stderr)
            await _infra("start", self.server)


@dataclass
class CommandControl:
    """Shell commands from the environment, for servers run by someone else."""

    prefix: str
    ready: Callable[[], Awaitable[None]]

    def _command(self, action: str) -> str:
        variable = f"{self.prefix}_{action}_CMD"
        command = os.environ.get(variable)
        if not command:
            raise FaultInjectionUnavailable(
                f"this fault-injection test needs to {action.lower()} the server given by the "
                f"environment. Set {variable}: {self.prefix}_STOP_CMD (SIGTERM), "
                f"{self.prefix}_KILL_CMD (SIGKILL) and {self.prefix}_START_CMD take shell "
                "commands that do it. Or run the tests against the dev stack "
                "(PARTNERSHIP_DEVSTACK=1) or Docker."
            )
        return command

    async def stop(self, *, kill: bool) -> None:
        command = self._command("KILL" if kill else "STOP")
        await _run("bash", "-c", command, what=command)

    async def start(self) -> None:
        command = self._command("START")
        await _run("bash", "-c", command, what=command)
        await _wait_ready(self.ready, what=self.prefix)


@dataclass
class ContainerControl:
    """A testcontainers container, stopped and started in place (ports are bound fixed)."""

    container: Any
    ready: Callable[[], Awaitable[None]]

    async def stop(self, *, kill: bool) -> None:
        wrapped = self.container.get_wrapped_container()
        await asyncio.to_thread(wrapped.kill if kill else wrapped.stop)

    async def start(self) -> None:
        await asyncio.to_thread(self.container.get_wrapped_container().start)
        await _wait_ready(self.ready, what=str(self.container.image))


# --------------------------------------------------------------------------------------------
# Readiness probes: a real request, not just an open port.


async def _wait_ready(
    probe: Callable[[], Awaitable[None]], *, what: str, timeout_s: float = READY_TIMEOUT_S
) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            await probe()
            return
        except Exception as exc:  # every failure means "not yet" until the deadline
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} not ready after {timeout_s:.0f}s: {exc!r}") from exc
        await asyncio.sleep(0.5)


def _kafka_probe(bootstrap: str) -> Callable[[], Awaitable[None]]:
    async def probe() -> None:
        from aiokafka.admin import AIOKafkaAdminClient

        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
        await admin.start()
        try:
            await admin.describe_cluster()
        finally:
            await admin.close()

    return probe


def _mongo_probe(uri: str) -> Callable[[], Awaitable[None]]:
    async def probe() -> None:
        from pymongo import AsyncMongoClient

        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            uri, serverSelectionTimeoutMS=3000
        )
        try:
            await client.admin.command("ping")
        finally:
            await client.close()

    return probe


def _mailpit_probe(api_url: str) -> Callable[[], Awaitable[None]]:
    async def probe() -> None:
        async with httpx.AsyncClient(base_url=api_url, timeout=3) as http:
            (await http.get("/readyz")).raise_for_status()

    return probe


# --------------------------------------------------------------------------------------------
# What tests receive.


@dataclass
class Server:
    """A real server the test may stop and start again."""

    control: Control = field(repr=False)

    async def stop(self, *, kill: bool = False) -> None:
        """Stop the server: SIGTERM (orderly), or SIGKILL with ``kill=True`` (a crash)."""
        await self.control.stop(kill=kill)

    async def start(self) -> None:
        """Start the server again; returns once it answers requests."""
        await self.control.start()

    @asynccontextmanager
    async def stopped(self, *, kill: bool = False) -> AsyncIterator[None]:
        """The server is down inside the block and up again after it, whatever happens."""
        await self.stop(kill=kill)
        try:
            yield
        finally:
            await self.start()


@dataclass
class Kafka(Server):
    bootstrap: str = ""


@dataclass
class Mongo(Server):
    uri: str = ""


@dataclass(frozen=True)
class ChaosTrigger:
    """Mailpit answers this SMTP error code with this probability (percent) at one step."""

    error_code: int = 451
    probability: int = 100


@dataclass
class Smtp(Server):
    """Mailpit: SMTP at ``host:port``, its HTTP API at ``api_url``."""

    host: str = ""
    port: int = 0
    api_url: str = ""

    def _http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.api_url, timeout=10)

    async def messages(self, query: str | None = None, *, limit: int = 500) -> list[dict[str, Any]]:
        """Message summaries, newest first; ``query`` uses Mailpit's search syntax (``to:x@y``)."""
        async with self._http() as http:
            if query is None:
                response = await http.get("/api/v1/messages", params={"limit": limit})
            else:
                response = await http.get("/api/v1/search", params={"query": query, "limit": limit})
            response.raise_for_status()
            messages: list[dict[str, Any]] = response.json()["messages"]
            return messages

    async def message(self, message_id: str) -> dict[str, Any]:
        """One message with its body, plus ``Headers`` (name -> values) and ``Raw`` (RFC 5322)."""
        async with self._http() as http:
            response = await http.get(f"/api/v1/message/{message_id}")
            response.raise_for_status()
            message: dict[str, Any] = response.json()
            headers = await http.get(f"/api/v1/message/{message_id}/headers")
            headers.raise_for_status()
            raw = await http.get(f"/api/v1/message/{message_id}/raw")
            raw.raise_for_status()
        message["Headers"] = headers.json()
        message["Raw"] = raw.text
        return message

    async def wait_for_messages(
        self, count: int, *, query: str | None = None, timeout_s: float = 10.0
    ) -> list[dict[str, Any]]:
        """Poll until at least ``count`` messages (matching ``query``) have arrived."""
        deadline = time.monotonic() + timeout_s
        while True:
            found = await self.messages(query)
            if len(found) >= count or time.monotonic() > deadline:
                return found
            await asyncio.sleep(0.1)

    async def delete_all(self) -> None:
        """Delete every stored message."""
        async with self._http() as http:
            (await http.delete("/api/v1/messages")).raise_for_status()

    async def chaos(
        self,
        *,
        sender: ChaosTrigger | None = None,
        recipient: ChaosTrigger | None = None,
        authentication: ChaosTrigger | None = None,
    ) -> dict[str, Any]:
        """Make SMTP fail on purpose at MAIL FROM, RCPT TO or AUTH; no argument clears all.

        Every call replaces the whole configuration. Needs Mailpit's ``--enable-chaos``.
        """

        def body(trigger: ChaosTrigger | None, default_code: int) -> dict[str, int]:
            if trigger is None:
                return {"ErrorCode": default_code, "Probability": 0}
            return {"ErrorCode": trigger.error_code, "Probability": trigger.probability}

        async with self._http() as http:
            response = await http.put(
                "/api/v1/chaos",
                json={
                    "Sender": body(sender, 451),
                    "Recipient": body(recipient, 451),
                    "Authentication": body(authentication, 535),
                },
            )
            response.raise_for_status()
            config: dict[str, Any] = response.json()
            return config


# --------------------------------------------------------------------------------------------
# What a session leaves behind, removed when it ends.


class _DeleteGroupsResponse(Response):  # type: ignore[misc]  # aiokafka is untyped
    API_KEY = 42
    API_VERSION = 1
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("results", Array(("group_id", String("utf-8")), ("error_code", Int16))),
    )


class _DeleteGroupsRequestV1(RequestStruct):  # type: ignore[misc]
    API_KEY = 42
    API_VERSION = 1
    RESPONSE_TYPE = _DeleteGroupsResponse
    SCHEMA = Schema(("groups_names", Array(String("utf-8"))))


class _DeleteGroupsRequest(Request[_DeleteGroupsRequestV1]):  # type: ignore[misc]
    """Kafka's DeleteGroups (API key 42), which aiokafka's admin client does not offer."""

    API_KEY = 42

    def __init__(self, groups: list[str]) -> None:
        self._groups = groups

    def build(self, request_struct_class: type[_DeleteGroupsRequestV1]) -> _DeleteGroupsRequestV1:
        return request_struct_class(self._groups)


CLEAN_UP_TIMEOUT_S = 120.0  # listing databases takes long only on a server that holds thousands
_DELETE_BATCH = 100
_UNKNOWN_TOPIC = 3  # deleted meanwhile (by a session sweeping at the same time): gone either way
_GROUP_NOT_EMPTY = 68  # a consumer still runs: a later session deletes the group once it is stale
_GROUP_NOT_FOUND = 69


async def remove_kafka_leftovers(bootstrap: str, *, session: str = SESSION) -> list[str]:
    """Delete the session's (and crashed sessions') consumer groups and topics; returns them."""
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.errors import for_code

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30_000)
    await admin.start()
    try:
        groups = leftovers(
            [group for group, *_ in await admin.list_consumer_groups()], session=session
        )
        # A group is deleted by its coordinator (the one broker, on the dev stack).
        by_coordinator: dict[int, list[str]] = {}
        for group in groups:
            by_coordinator.setdefault(await admin.find_coordinator(group), []).append(group)
        for coordinator, names in by_coordinator.items():
            response = await admin._send_request(_DeleteGroupsRequest(names), coordinator)
            for group, code in response.results:
                if code not in (0, _GROUP_NOT_EMPTY, _GROUP_NOT_FOUND):
                    raise for_code(code)(f"deleting consumer group {group}")
        topics = leftovers(await admin.list_topics(), session=session)
        for start in range(0, len(topics), _DELETE_BATCH):
            response = await admin.delete_topics(topics[start : start + _DELETE_BATCH])
            for topic, code in response.topic_error_codes:
                if code not in (0, _UNKNOWN_TOPIC):
                    raise for_code(code)(f"deleting topic {topic}")
    finally:
        await admin.close()
    return groups + topics


async def remove_mongo_leftovers(uri: str, *, session: str = SESSION) -> list[str]:
    """Drop the session's (and crashed sessions') databases; returns their names."""
    from pymongo import AsyncMongoClient

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, serverSelectionTimeoutMS=5000)
    try:
        databases = leftovers(await client.list_database_names(), session=session)
        for database in databases:
            await client.drop_database(database)
    finally:
        await client.close()
    return databases


async def _clean_up(what: str, remove: Awaitable[list[str]]) -> None:
    try:
        async with asyncio.timeout(CLEAN_UP_TIMEOUT_S):
            await remove
    except Exception as exc:  # hygiene, not a test's outcome: say so, and let the session end
        warnings.warn(
            f"this session's {what} were not all removed ({exc!r}); the first session to end "
            f"once they are {STALE_AFTER_S // 3600} h old removes them",
            stacklevel=1,
        )


# --------------------------------------------------------------------------------------------
# Where the servers come from.


@cache
def _docker_answers() -> bool:
    """Ask the daemon before building any container, so machines without one fall through."""
    try:
        import docker  # type: ignore[import-untyped]

        client = docker.from_env(timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # no SDK, no socket, no daemon: all mean "no Docker here"
        return False


@cache
def _devstack_env() -> dict[str, str]:
    """The addresses ``infra.sh env`` prints, so the ports are written down in one place only."""
    import subprocess

    output = subprocess.run(
        ["bash", str(INFRA_SH), "env"], check=True, capture_output=True, text=True, env=_stack_env()
    ).stdout
    pairs = (line.removeprefix("export ").split("=", 1) for line in output.splitlines())
    return {key: value for key, value in pairs}


def _uses_devstack() -> bool:
    return os.environ.get("PARTNERSHIP_DEVSTACK") == "1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _docker_host() -> str:
    from testcontainers.core.docker_client import DockerClient

    host: str = DockerClient().host()
    return host


async def _start_container(container: Any, probe: Callable[[], Awaitable[None]]) -> Any:
    await asyncio.to_thread(container.start)
    await _wait_ready(probe, what=str(container.image))
    return container


async def _stop_container(container: Any) -> None:
    await asyncio.to_thread(container.stop)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def kafka() -> AsyncIterator[Kafka]:
    """A Kafka broker: ``.bootstrap``, and ``stop()``/``start()`` for fault injection.

    At the end of the session the topics and consumer groups it made are deleted (a container
    goes as a whole).
    """
    if bootstrap := os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        if _uses_devstack():
            await _infra("start", "kafka")
            server = Kafka(DevStackControl("kafka"), bootstrap=bootstrap)
        else:
            probe = _kafka_probe(bootstrap)
            await _wait_ready(
                probe,
                what=f"Kafka at {bootstrap} (KAFKA_BOOTSTRAP_SERVERS)",
                timeout_s=GIVEN_SERVER_TIMEOUT_S,
            )
            server = Kafka(CommandControl("KAFKA", probe), bootstrap=bootstrap)
    elif _docker_answers():
        from testcontainers.core.container import DockerContainer

        host, port = _docker_host(), _free_port()
        bootstrap = f"{host}:{port}"
        probe = _kafka_probe(bootstrap)
        # Same settings as the dev stack: one KRaft node, replication factors 1.
        container = (
            DockerContainer(KAFKA_IMAGE)
            .with_bind_ports(9092, port)
            .with_envs(
                KAFKA_NODE_ID="1",
                KAFKA_PROCESS_ROLES="broker,controller",
                KAFKA_LISTENERS="PLAINTEXT://:9092,CONTROLLER://:9093",
                KAFKA_ADVERTISED_LISTENERS=f"PLAINTEXT://{bootstrap}",
                KAFKA_CONTROLLER_LISTENER_NAMES="CONTROLLER",
                KAFKA_LISTENER_SECURITY_PROTOCOL_MAP="CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                KAFKA_CONTROLLER_QUORUM_VOTERS="1@localhost:9093",
                KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR="1",
                KAFKA_OFFSETS_TOPIC_NUM_PARTITIONS="10",
                KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR="1",
                KAFKA_TRANSACTION_STATE_LOG_MIN_ISR="1",
                KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR="1",
                KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR="1",
                KAFKA_MIN_INSYNC_REPLICAS="1",
                KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS="0",
                KAFKA_AUTO_CREATE_TOPICS_ENABLE="true",
                KAFKA_NUM_PARTITIONS="1",
            )
        )
        await _start_container(container, probe)
        try:
            yield Kafka(ContainerControl(container, probe), bootstrap=bootstrap)
        finally:
            await _stop_container(container)
        return
    else:
        await _infra("start", "kafka")
        bootstrap = _devstack_env()["KAFKA_BOOTSTRAP_SERVERS"]
        server = Kafka(DevStackControl("kafka"), bootstrap=bootstrap)
    try:
        yield server
    finally:
        await _clean_up("topics and consumer groups", remove_kafka_leftovers(server.bootstrap))


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def mongo() -> AsyncIterator[Mongo]:
    """A MongoDB(-wire) server: ``.uri``, and ``stop()``/``start()`` for fault injection.

    At the end of the session the databases it made are dropped (a container goes as a whole).
    """
    if uri := os.environ.get("MONGODB_URI"):
        if _uses_devstack():
            await _infra("start", "mongo")
            server = Mongo(DevStackControl("mongo"), uri=uri)
        else:
            probe = _mongo_probe(uri)
            await _wait_ready(
                probe, what="MongoDB at MONGODB_URI", timeout_s=GIVEN_SERVER_TIMEOUT_S
            )
            server = Mongo(CommandControl("MONGODB", probe), uri=uri)
    elif _docker_answers():
        from testcontainers.core.container import DockerContainer

        host, port = _docker_host(), _free_port()
        uri = f"mongodb://{host}:{port}"
        probe = _mongo_probe(uri)
        container = DockerContainer(MONGO_IMAGE).with_bind_ports(27017, port)
        await _start_container(container, probe)
        try:
            yield Mongo(ContainerControl(container, probe), uri=uri)
        finally:
            await _stop_container(container)
        return
    else:
        await _infra("start", "mongo")
        server = Mongo(DevStackControl("mongo"), uri=_devstack_env()["MONGODB_URI"])
    try:
        yield server
    finally:
        await _clean_up("databases", remove_mongo_leftovers(server.uri))


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def smtp() -> AsyncIterator[Smtp]:
    """Mailpit: SMTP ``.host``/``.port``, ``.api_url``, message helpers and ``chaos()``."""
    env = os.environ
    if env.get("SMTP_HOST") and env.get("SMTP_PORT") and env.get("MAILPIT_API_URL"):
        host, port, api_url = env["SMTP_HOST"], int(env["SMTP_PORT"]), env["MAILPIT_API_URL"]
        if _uses_devstack():
            await _infra("start", "mailpit")
            yield Smtp(DevStackControl("mailpit"), host=host, port=port, api_url=api_url)
        else:
            probe = _mailpit_probe(api_url)
            await _wait_ready(
                probe,
                what=f"Mailpit at {api_url} (MAILPIT_API_URL)",
                timeout_s=GIVEN_SERVER_TIMEOUT_S,
            )
            control: Control = CommandControl("MAILPIT", probe)
            yield Smtp(control, host=host, port=port, api_url=api_url)
    elif _docker_answers():
        from testcontainers.core.container import DockerContainer

        host, smtp_port, http_port = _docker_host(), _free_port(), _free_port()
        api_url = f"http://{host}:{http_port}"
        probe = _mailpit_probe(api_url)
        container = (
            DockerContainer(MAILPIT_IMAGE)
            .with_bind_ports(1025, smtp_port)
            .with_bind_ports(8025, http_port)
            .with_command(
                [
                    "--max=0",
                    "--smtp-disable-rdns",
                    "--smtp-auth-accept-any",
                    "--smtp-auth-allow-insecure",
                    "--enable-chaos",
                    "--disable-version-check",
                ]
            )
        )
        await _start_container(container, probe)
        try:
            control = ContainerControl(container, probe)
            yield Smtp(control, host=host, port=smtp_port, api_url=api_url)
        finally:
            await _stop_container(container)
    else:
        await _infra("start", "mailpit")
        devstack = _devstack_env()
        yield Smtp(
            DevStackControl("mailpit"),
            host=devstack["SMTP_HOST"],
            port=int(devstack["SMTP_PORT"]),
            api_url=devstack["MAILPIT_API_URL"],
        )
