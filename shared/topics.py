"""Every Kafka topic of the platform, declared once: name, partitions, retention, key, ordering.

The services create what they publish to and consume from at start-up (idempotently: an
existing topic is left as it is, or given more partitions if it has fewer than declared),
and an operator can do the same ahead of a deployment. Nothing else creates topics: the
brokers' automatic creation would make single-partition topics that no consumer can share.

A deployment can put every topic under a prefix (`KAFKA_TOPIC_PREFIX`), so several stacks,
or a test run, share one cluster without reading each other's events; the names below and
in the event contract are without it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta

import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from shared.contracts.base import dead_letter_topic, topic

log = structlog.get_logger()


@dataclass(frozen=True)
class TopicSpec:
    """One topic as the platform needs it."""

    name: str
    partitions: int
    # None keeps events for ever, so a new subscriber can replay the whole history.
    retention: timedelta | None
    key: str
    ordering: str
    description: str

    def config(self) -> dict[str, str]:
        retention_ms = -1 if self.retention is None else int(self.retention.total_seconds() * 1000)
        return {"retention.ms": str(retention_ms), "cleanup.policy": "delete"}


# Several partitions, so consumer groups can spread over replicas (at most one consumer per
# partition); the key keeps one entity's events in one partition, hence in order.
DOMAIN_PARTITIONS = 6
DEAD_LETTER_PARTITIONS = 3
DEAD_LETTER_RETENTION = timedelta(days=30)

MEETINGS = TopicSpec(
    name=topic("meetings"),
    partitions=DOMAIN_PARTITIONS,
    retention=None,
    key="meeting id",
    ordering="the events of one meeting, its registrations included, in the order they happened",
    description="Meetings, their programme, registrations and minutes",
)
ACTIONS = TopicSpec(
    name=topic("actions"),
    partitions=DOMAIN_PARTITIONS,
    retention=None,
    key="action id",
    ordering="the events of one action in the order they happened",
    description="The action plan: actions, their status, feedback and deliverables",
)
ACADEMY = TopicSpec(
    name=topic("academy"),
    partitions=DOMAIN_PARTITIONS,
    retention=None,
    key="module id",
    ordering="the events of one module, its enrolments included, in the order they happened",
    description="The Urban Academy on Integration: editions, modules, enrolments, dilemmas",
)
NOTIFICATIONS = TopicSpec(
    name=topic("notifications"),
    partitions=DOMAIN_PARTITIONS,
    retention=None,
    key="delivery id",
    ordering="the outcomes of one e-mail in the order they happened",
    description="What became of each e-mail: sent, or failed with the reason",
)

DOMAIN_TOPICS: tuple[TopicSpec, ...] = (MEETINGS, ACTIONS, ACADEMY, NOTIFICATIONS)


def dead_letters(consumer_group: str) -> TopicSpec:
    """The dead-letter topic of one consumer group."""
    return TopicSpec(
        name=dead_letter_topic(consumer_group),
        partitions=DEAD_LETTER_PARTITIONS,
        retention=DEAD_LETTER_RETENTION,
        key="the original message's key",
        ordering="none needed: each message stands alone, with its origin in dlq_* headers",
        description=f"Messages the consumer group {consumer_group} could not handle",
    )


def prefixed(name: str, prefix: str) -> str:
    """The name on the cluster: the deployment's prefix, then the declared name."""
    return f"{prefix}{name}"


async def ensure_topics(
    bootstrap_servers: str,
    specs: Iterable[TopicSpec],
    *,
    prefix: str = "",
    replication_factor: int = 1,
    **client_options: object,
) -> list[str]:
    """Create missing topics and add partitions to short ones; returns what changed."""
    wanted = {prefixed(spec.name, prefix): spec for spec in specs}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, **client_options)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [name for name in wanted if name not in existing]
        changed = await _create(admin, wanted, missing, replication_factor)
        changed += await _widen(admin, wanted, [name for name in wanted if name in existing])
    finally:
        await admin.close()
    if changed:
        log.info("kafka.topics_declared", changed=changed)
    return changed


async def _create(
    admin: AIOKafkaAdminClient,
    wanted: dict[str, TopicSpec],
    names: Sequence[str],
    replication_factor: int,
) -> list[str]:
    if not names:
        return []
    topics = [
        NewTopic(
            name,
            wanted[name].partitions,
            replication_factor,
            topic_configs=wanted[name].config(),
        )
        for name in names
    ]
    try:
        await admin.create_topics(topics)
    except TopicAlreadyExistsError:
        # Another replica created them first: the declaration holds either way.
        return []
    return [f"created {name}" for name in names]


async def _widen(
    admin: AIOKafkaAdminClient, wanted: dict[str, TopicSpec], names: Sequence[str]
) -> list[str]:
    if not names:
        return []
    described = await admin.describe_topics(list(names))
    short = {
        d["topic"]: wanted[d["topic"]].partitions
        for d in described
        if len(d["partitions"]) < wanted[d["topic"]].partitions
    }
    if not short:
        return []
    # More partitions move some keys to new partitions: only events published after the
    # change are affected, and one entity's later events still share a partition.
    await admin.create_partitions({name: NewPartitions(count) for name, count in short.items()})
    return [f"widened {name} to {count} partitions" for name, count in short.items()]
