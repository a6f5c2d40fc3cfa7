"""Consumer: events/s of one worker process applying every counter, against a bare getmany loop.

The topic is filled first with version 2 batch records as the collector writes them (one per
request, requests of 1 and 10 events in turn: bench.records); then a bare aiokafka consumer
(same isolation level and batch size as the worker, a fresh group) reads it end to end, and the
real worker (`python -m consumers`, a fresh group) applies it to the run's own Redis. Both are
timed from their first record to their last, so process start-up and group joins are left out.
Figures are given per Kafka record and per event (records/s times events per record). Redis
round trips are counted by Redis itself: `total_writes_processed` (one per reply flush, i.e. per
pipeline) over the worker's run. CPU time per record (the bare loop's own, the worker process's
from /proc) is reported too: on a shared machine it depends far less on the neighbours than
the wall-clock rates do.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from aiokafka import AIOKafkaConsumer
from redis.asyncio import Redis

from bench import records
from bench.infra import SITE, Infra
from bench.results import Results
from consumers.keys import watermark_key


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def bare_loop(
    bootstrap: str, topic: str, n: int, max_records: int = 2000
) -> tuple[float, float]:
    """(seconds, CPU seconds) from the first record to the n-th through getmany, doing nothing."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"bare-{time.monotonic_ns()}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    await consumer.start()
    try:
        seen, first, first_cpu = 0, 0.0, 0.0
        while seen < n:
            batch = await consumer.getmany(timeout_ms=200, max_records=max_records)
            if batch and not first:
                first, first_cpu = time.monotonic(), time.process_time()
            seen += sum(len(messages) for messages in batch.values())
        return time.monotonic() - first, time.process_time() - first_cpu
    finally:
        await consumer.stop()


async def applied(redis: Redis, topic: str) -> int:
    """Records applied so far, from the site's watermarks (offset + 1 per partition)."""
    marks = await redis.hgetall(watermark_key(SITE))
    total = 0
    for field, value in marks.items():
        name = field.decode() if isinstance(field, bytes) else field
        if name.startswith(f"{topic}:"):
            total += int(value) + 1
    return total


async def worker_run(
    infra: Infra, topic: str, n: int, limit_s: float
) -> tuple[float, float, int, int]:
    """(seconds first→last applied, the worker's CPU seconds meanwhile, applied when first seen,
    Redis round trips during the run)."""
    redis = Redis.from_url(infra.redis.url)
    proc = infra.worker(infra.env(topic))
    try:
        writes_before = int((await redis.info("stats"))["total_writes_processed"])
        polls = 0
        deadline = time.monotonic() + limit_s
        first_t, first_cpu, first_n, done = 0.0, 0.0, 0, 0
        while done < n:
            if time.monotonic() > deadline or not proc.alive():
                raise RuntimeError(f"worker applied {done} of {n}; log: {proc.log}")
            await asyncio.sleep(0.02)
            done = await applied(redis, topic)
            polls += 1
            if done and not first_t:
                first_t, first_cpu, first_n = time.monotonic(), cpu_seconds(proc.pid), done
        took, cpu = time.monotonic() - first_t, cpu_seconds(proc.pid) - first_cpu
        writes = int((await redis.info("stats"))["total_writes_processed"]) - writes_before
        return took, cpu, first_n, writes - polls - 1
    finally:
        proc.stop()
        await redis.aclose()


def run(infra: Infra, results: Results, *, events: int) -> None:
    topic = infra.topic()
    values = records.kafka_values(SITE, events)
    n = asyncio.run(records.produce(infra.kafka.bootstrap, topic, values))
    per_record = events / n
    bare_s, bare_cpu = asyncio.run(bare_loop(infra.kafka.bootstrap, topic, n))
    real_s, real_cpu, first_n, trips = asyncio.run(worker_run(infra, topic, n, limit_s=600))
    bare_rps = n / bare_s
    real_rps = (n - first_n) / real_s if real_s else 0.0
    bare_us = bare_cpu / n * 1e6
    real_us = real_cpu / max(1, n - first_n) * 1e6
    what = f"{events} events in {n} records ({per_record:.1f} events/record)"
    results.add("consumer.bare.records", bare_rps, "records/s", f"{what}, getmany only")
    results.add("consumer.bare.events", bare_rps * per_record, "events/s", "getmany only")
    results.add("consumer.worker.records", real_rps, "records/s", what)
    results.add("consumer.worker.events", real_rps * per_record, "events/s", "target >= 100,000")
    results.ratio("consumer.ratio", real_rps, bare_rps, "worker / bare getmany, target >= 0.5")
    results.add("consumer.bare.cpu_per_record", bare_us, "us CPU", "the bench process")
    results.add("consumer.worker.cpu_per_record", real_us, "us CPU", "the worker process")
    results.add("consumer.worker.cpu_per_event", real_us / per_record, "us CPU")
    results.ratio("consumer.cpu_ratio", bare_us, real_us, "bare CPU / worker CPU per record")
    results.add(
        "consumer.redis_round_trips_per_event", trips / events, "trips/event", "target <= 0.1"
    )
