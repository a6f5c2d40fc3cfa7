"""The drills: what each one breaks mid-stream and how it heals."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx
from redis.asyncio import Redis

from bench.drills.ledger import Ledger, Sender, Tally, drained
from bench.infra import Infra, Proc

import services


@dataclass
class Stage:
    """One drill's running pipeline: its topic's settings, collector and workers."""

    infra: Infra
    env: dict[str, str]
    port: int
    outage_s: float
    collector: Proc
    workers: list[Proc] = field(default_factory=list)
    events: list[str] = field(default_factory=list)  # what happened when, for the report

    def note(self, what: str) -> None:
        self.events.append(what)


async def kafka_stopped(stage: Stage) -> None:
    """The broker stops (cleanly) under load for outage_s, then starts again on its data."""
    await asyncio.to_thread(stage.infra.kafka.stop)
    stage.note("kafka stopped")
    await asyncio.sleep(stage.outage_s)
    took = await asyncio.to_thread(stage.infra.kafka.start)
    stage.note(f"kafka back after {took:.1f} s start-up")


async def consumer_killed(stage: Stage) -> None:
    """A second worker joins (partitions move), then the first is SIGKILLed mid-stream."""
    stage.workers.append(stage.infra.worker(stage.env))
    stage.note("worker 2 joined")
    await asyncio.sleep(stage.outage_s / 2)
    stage.workers[0].kill()
    stage.note("worker 1 SIGKILLed")
    await asyncio.sleep(stage.outage_s / 2)


async def redis_restarted(stage: Stage) -> None:
    """Redis is SIGKILLed mid-stream (a crash, not a clean stop) and started again on its AOF."""
    await asyncio.to_thread(stage.infra.redis.kill)
    stage.note("redis SIGKILLed")
    await asyncio.sleep(min(stage.outage_s, 5))
    took = await asyncio.to_thread(stage.infra.redis.start)
    stage.note(f"redis back after {took:.1f} s start-up")


async def collector_sigterm(stage: Stage) -> None:
    """SIGTERM under load (a deploy); a new collector takes the same port."""
    stage.collector.signal(signal.SIGTERM)
    started = time.monotonic()
    # Blocking wait in a thread: the sender keeps posting (and retrying) meanwhile.
    await asyncio.to_thread(stage.collector.popen.wait, 30)
    stage.note(f"collector exited after SIGTERM in {time.monotonic() - started:.1f} s")
    await asyncio.sleep(1)
    stage.collector = await asyncio.to_thread(
        stage.infra.collector, stage.env, "uvicorn", stage.port
    )
    stage.note("new collector up")


async def spool_full(stage: Stage) -> None:
    """The broker stops with a tiny spool: it fills, the collector answers 503, the client
    retries; once the broker is back the spool drains and the retries are taken."""
    await kafka_stopped(stage)


Action = Callable[[Stage], Awaitable[None]]

DRILLS: dict[str, Action] = {
    "kafka-stopped": kafka_stopped,
    "consumer-killed": consumer_killed,
    "redis-restarted": redis_restarted,
    "collector-sigterm": collector_sigterm,
    "spool-full": spool_full,
}

# Collector settings a drill needs on top of the defaults.
SETTINGS: dict[str, dict[str, str]] = {
    # A 256 KiB spool in 64 KiB segments holds about a second of the drill's load.
    "spool-full": {"MICROCV_SPOOL_MAX_BYTES": "262144", "MICROCV_SPOOL_SEGMENT_BYTES": "65536"},
}


@dataclass(frozen=True, slots=True)
class Outcome:
    name: str
    tally: Tally
    ledger: Ledger
    notes: list[str]
    seconds: float


async def run(
    infra: Infra, name: str, *, outage_s: float, warm_s: float = 3, after_s: float = 4
) -> Outcome:
    """Run one drill on a fresh topic and consumer group; the infra is shared between drills."""
    started = time.monotonic()
    topic = await asyncio.to_thread(infra.topic, 6, f"drill-{name}")
    # Short produce timeout: a request never waits long on a stopped broker; the client retries.
    env = infra.env(topic, MICROCV_PRODUCE_TIMEOUT_S="5", **SETTINGS.get(name, {}))
    port = services.free_port()
    collector = await asyncio.to_thread(infra.collector, env, "uvicorn", port)
    stage = Stage(infra, env, port, outage_s, collector, [infra.worker(env)])
    ledger = Ledger()
    sender = Sender(f"{collector.url}/v1/collect", ledger)
    redis = Redis.from_url(infra.redis.url)
    try:
        limits = httpx.Limits(max_connections=32)
        async with httpx.AsyncClient(timeout=20, limits=limits) as client:
            sending = asyncio.create_task(sender.run(client))
            await asyncio.sleep(warm_s)
            await DRILLS[name](stage)
            await asyncio.sleep(after_s)
            await sender.stop(retry_for=30)
            await sending
        # A healthy pipeline drains in seconds; the limits only bound a failing drill.
        tally = await drained(redis, ledger, limit_s=45)
        for n, worker in enumerate(stage.workers, 1):
            code = worker.popen.poll()
            if code is not None and code != -9:  # -9: the drill's own SIGKILL
                stage.note(f"worker {n} had exited with code {code}")
    finally:
        await redis.aclose()
        for proc in [stage.collector, *stage.workers]:
            await asyncio.to_thread(proc.stop)
    if tally.lost or tally.doubled:
        infra.keep = True  # the logs of every process say what happened
        stage.note(f"logs kept in {infra.root / 'logs'}")
    return Outcome(name, tally, ledger, stage.events, time.monotonic() - started)
