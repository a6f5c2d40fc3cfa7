"""`microcv topics create|check`: the events and dead-letter topics, via Kafka's admin API."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

TOPIC_ALREADY_EXISTS = 36
REQUEST_TIMEOUT_MS = 10_000
# A broker that has just started may answer "not controller" for a few seconds.
SETTLE_S = 30.0


class TopicError(Exception):
    """Kafka refused or could not be reached; the message says what to do."""


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    replication: int

    def new_topic(self) -> NewTopic:
        # With acks=all, a write needs this many replicas in sync: one may be down for upkeep.
        min_isr = str(max(1, self.replication - 1))
        return NewTopic(
            self.name,
            self.partitions,
            self.replication,
            topic_configs={"min.insync.replicas": min_isr},
        )


@dataclass(frozen=True, slots=True)
class TopicState:
    name: str
    exists: bool
    partitions: int = 0
    replication: int = 0
    leaderless: int = 0  # partitions without a leader: nothing can be written to them
    under_replicated: int = 0  # partitions with fewer in-sync replicas than replicas


@asynccontextmanager
async def admin_client(bootstrap: str, timeout_s: float) -> AsyncIterator[Any]:
    admin: Any = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=REQUEST_TIMEOUT_MS
    )
    try:
        await asyncio.wait_for(admin.start(), timeout_s)
    except (TimeoutError, KafkaError) as exc:
        await admin.close()
        raise TopicError(f"cannot reach Kafka at {bootstrap}: {exc!r}") from exc
    try:
        yield admin
    finally:
        await admin.close()


async def describe(admin: Any, names: list[str]) -> dict[str, TopicState]:
    states: dict[str, TopicState] = {}
    for topic in await asyncio.wait_for(admin.describe_topics(names), REQUEST_TIMEOUT_MS / 1000):
        name = topic["topic"]
        partitions = topic["partitions"]
        if topic["error_code"] != 0 or not partitions:
            states[name] = TopicState(name, exists=False)
            continue
        states[name] = TopicState(
            name,
            exists=True,
            partitions=len(partitions),
            replication=max(len(p["replicas"]) for p in partitions),
            leaderless=sum(1 for p in partitions if p["leader"] < 0),
            under_replicated=sum(1 for p in partitions if len(p["isr"]) < len(p["replicas"])),
        )
    return {name: states.get(name, TopicState(name, exists=False)) for name in names}


async def _settled(admin: Any, names: list[str], deadline: float) -> dict[str, TopicState]:
    """The topics' state once each exists with a leader per partition, or as it is at `deadline`.

    A topic just created can take a moment (longer on a busy broker) to show up in metadata.
    """
    while True:
        states = await describe(admin, names)
        settled = all(s.exists and not s.leaderless for s in states.values())
        if settled or time.monotonic() >= deadline:
            return states
        await asyncio.sleep(0.25)


async def create(bootstrap: str, specs: list[TopicSpec], timeout_s: float = SETTLE_S) -> list[str]:
    """Create the topics that do not exist; one report line per topic."""
    async with admin_client(bootstrap, timeout_s) as admin:
        deadline = time.monotonic() + timeout_s
        pending = {spec.name: spec for spec in specs}
        created: set[str] = set()
        while pending:
            response = await asyncio.wait_for(
                admin.create_topics(
                    [s.new_topic() for s in pending.values()], timeout_ms=REQUEST_TIMEOUT_MS
                ),
                REQUEST_TIMEOUT_MS / 1000 + 5,
            )
            failed: list[str] = []
            for name, code, *rest in response.topic_errors:
                if code == 0:
                    created.add(name)
                if code in (0, TOPIC_ALREADY_EXISTS):
                    pending.pop(name, None)
                else:
                    failed.append(f"{name}: error {code} {rest[0] if rest else ''}".rstrip())
            if not failed:
                break
            if time.monotonic() >= deadline:
                raise TopicError("Kafka refused to create " + "; ".join(failed))
            await asyncio.sleep(0.5)
        states = await _settled(admin, [s.name for s in specs], deadline)
    lines = []
    for spec in specs:
        state = states[spec.name]
        verb = "created" if spec.name in created else "exists "
        line = f"{verb} {spec.name}: {state.partitions} partitions, replication {state.replication}"
        if state.exists and state.partitions != spec.partitions:
            # Adding partitions moves keys (site+visitor) to other partitions: a visitor's events
            # would no longer be in order across the change, so this is left to the operator.
            line += f" (asked for {spec.partitions}; left as is)"
        lines.append(line)
    return lines


def problems(spec: TopicSpec, state: TopicState) -> list[str]:
    if not state.exists:
        return [f"{spec.name}: missing (run `microcv topics create`)"]
    found = []
    if state.partitions < spec.partitions:
        found.append(f"{spec.name}: {state.partitions} partitions, expected {spec.partitions}")
    if state.replication < spec.replication:
        found.append(f"{spec.name}: replication {state.replication}, expected {spec.replication}")
    if state.leaderless:
        found.append(f"{spec.name}: {state.leaderless} partitions have no leader")
    if state.under_replicated:
        found.append(f"{spec.name}: {state.under_replicated} partitions are under-replicated")
    return found


async def check(
    bootstrap: str, specs: list[TopicSpec], timeout_s: float = SETTLE_S
) -> tuple[list[str], list[str]]:
    """(report lines, problems); no problem means every topic is there and healthy."""
    async with admin_client(bootstrap, timeout_s) as admin:
        states = await describe(admin, [s.name for s in specs])
    lines = [
        f"{s.name}: {s.partitions} partitions, replication {s.replication}"
        for s in states.values()
        if s.exists
    ]
    return lines, [p for spec in specs for p in problems(spec, states[spec.name])]
