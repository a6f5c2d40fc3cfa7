"""The worker against a real broker and a real Redis: exact counts, replays, poison records."""

from __future__ import annotations

import random
import time
import uuid
from collections import Counter

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord
from redis.asyncio import Redis

from collector.records import Record, encode_batch, encode_record, record_key
from consumers.keys import counter_fields
from consumers.settings import Settings
from consumers.store import read_counters
from consumers.worker import Worker
from snippet.sites import Sites

import services

KINDS = [("pageview", ""), ("click", "add_to_cart"), ("scroll", "75"), ("download", "a.pdf")]


def make_records(site: str, n: int, seed: int) -> list[Record]:
    rng = random.Random(seed)
    now = int(time.time() * 1000)
    records = []
    for i in range(n):
        kind, name = rng.choice(KINDS)
        ts = now - rng.randrange(0, 120_000)
        records.append(
            Record(
                site=site,
                visitor=f"v{rng.randrange(50)}",
                id=f"e{seed}-{i}",
                kind=kind,
                name=name,
                ts=ts,
                client_ts=ts,
                received=now,
                url="http://localhost/",
                referrer="",
                pageview="",
                props={},
                bot=False,
            )
        )
    return records


def truth(records: list[Record]) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for r in {r.id: r for r in records}.values():
        counts.update(counter_fields(r.kind, r.name))
    return dict(sorted(counts.items()))


async def produce(bootstrap: str, topic: str, values: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        futures = [await producer.send(topic, value, key=key) for key, value in values]
        for f in futures:
            await f
    finally:
        await producer.stop()


def settings_for(
    kafka: services.KafkaServer, redis_url: str, topic: str, max_batch: int | None = None
) -> Settings:
    settings = Settings(
        kafka_bootstrap=kafka.bootstrap,
        topic=topic,
        dead_letter_topic=f"{topic}.dead",
        group=f"g-{uuid.uuid4().hex[:8]}",
        redis_url=redis_url,
        burst_idle_s=1.5,
    )
    if max_batch is None:
        return settings
    return Settings(**{**settings.__dict__, "max_batch": max_batch})


async def run_burst(settings: Settings, sites: Sites) -> Worker:
    worker = Worker(settings, sites)
    await worker.start()
    try:
        await worker.run(burst=True)
    finally:
        await worker.stop()
    return worker


async def window_counts(redis: Redis, site: str) -> dict[str, int]:
    last = int(time.time() * 1000) // 60_000
    return await read_counters(redis, site, last - 10, last)


async def test_counts_equal_what_was_sent_and_a_full_replay_changes_nothing(
    kafka: services.KafkaServer,
    redis_server: services.RedisServer,
    redis: Redis,
    topic: str,
    sites: Sites,
    site_id: str,
) -> None:
    records = make_records(site_id, 3000, seed=1)
    # Client retries: 200 events arrive a second time with the same ids.
    resent = records[:200]
    await produce(
        kafka.bootstrap, topic, [(record_key(r), encode_record(r)) for r in records + resent]
    )
    settings = settings_for(kafka, redis_server.url, topic)
    worker = await run_burst(settings, sites)
    assert worker.applied == 3000
    assert worker.duplicates == 200
    expected = truth(records)
    assert await window_counts(redis, site_id) == expected

    # A new group has no committed offsets: Kafka redelivers everything from the beginning.
    # The watermarks in Redis must turn the whole replay into a no-op.
    again = settings_for(kafka, redis_server.url, topic)
    replay = await run_burst(again, sites)
    assert replay.applied == 0
    assert await window_counts(redis, site_id) == expected


async def test_batch_records_count_every_event_once_and_replay_whole(
    kafka: services.KafkaServer,
    redis_server: services.RedisServer,
    redis: Redis,
    topic: str,
    sites: Sites,
    site_id: str,
) -> None:
    # What the collector writes: one version 2 record per visitor and request, several events
    # sharing one offset; some of them retried inside later batch records.
    records = make_records(site_id, 2000, seed=4)
    by_visitor: dict[str, list[Record]] = {}
    for r in records:
        by_visitor.setdefault(r.visitor, []).append(r)
    values = []
    for group in by_visitor.values():
        values += [
            (record_key(group[0]), encode_batch(group[i : i + 7])) for i in range(0, len(group), 7)
        ]
    values += [(record_key(r), encode_batch([r, r])) for r in records[:30]]  # 60 duplicates
    await produce(kafka.bootstrap, topic, values)
    settings = settings_for(kafka, redis_server.url, topic, max_batch=40)
    worker = await run_burst(settings, sites)
    assert (worker.applied, worker.duplicates) == (2000, 60)
    expected = truth(records)
    assert await window_counts(redis, site_id) == expected

    replay = await run_burst(settings_for(kafka, redis_server.url, topic), sites)
    assert replay.applied == 0
    assert await window_counts(redis, site_id) == expected


async def test_poison_records_go_to_the_dead_letter_topic_and_the_rest_is_counted(
    kafka: services.KafkaServer,
    redis_server: services.RedisServer,
    redis: Redis,
    topic: str,
    sites: Sites,
    site_id: str,
) -> None:
    settings = settings_for(kafka, redis_server.url, topic)
    await services.create_topic_async(kafka.bootstrap, settings.dead_letter_topic, 1)
    good = make_records(site_id, 50, seed=2)
    values = [(record_key(r), encode_record(r)) for r in good]
    poison = [b"not json", b'{"v": 1, "site": "x"}', b"[1, 2]"]
    for i, p in enumerate(poison):
        values.insert(10 * i + 5, (b"k", p))
    await produce(kafka.bootstrap, topic, values)

    worker = await run_burst(settings, sites)
    assert worker.dead_letters == 3
    assert await window_counts(redis, site_id) == truth(good)

    consumer = AIOKafkaConsumer(
        settings.dead_letter_topic, bootstrap_servers=kafka.bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        batch = await consumer.getmany(timeout_ms=5000)
    finally:
        await consumer.stop()
    dead = [m for msgs in batch.values() for m in msgs]
    assert sorted(m.value for m in dead) == sorted(poison)
    reasons = {dict(m.headers)["reason"] for m in dead}
    assert reasons == {b"bad_json", b"missing_field", b"bad_record"}
    assert all({"partition", "offset"} <= dict(m.headers).keys() for m in dead)


@pytest.mark.parametrize("kill_after", [700, 1900])
async def test_a_worker_stopped_mid_stream_and_replaced_loses_and_doubles_nothing(
    kafka: services.KafkaServer,
    redis_server: services.RedisServer,
    redis: Redis,
    topic: str,
    sites: Sites,
    site_id: str,
    kill_after: int,
) -> None:
    records = make_records(site_id, 3000, seed=3)
    await produce(kafka.bootstrap, topic, [(record_key(r), encode_record(r)) for r in records])
    settings = settings_for(kafka, redis_server.url, topic, max_batch=100)

    # The first worker applies some batches and dies without committing anything more.
    first = Worker(settings, sites)
    await first.start()
    try:
        while first.applied < kill_after:
            await first.process(await first.poll(), commit=False)
    finally:
        await first.stop()

    second = await run_burst(settings, sites)
    assert first.applied + second.applied == 3000
    assert await window_counts(redis, site_id) == truth(records)


async def test_a_batch_polled_before_its_partitions_were_sought_is_dropped_and_read_again(
    kafka: services.KafkaServer,
    redis_server: services.RedisServer,
    redis: Redis,
    topic: str,
    sites: Sites,
    site_id: str,
) -> None:
    # The pipelined loop polls batch N+1 while batch N is applied. If Redis then comes back
    # without its last writes, the partitions are sought back to the (lower) watermarks; batch
    # N+1, built for the old position, must not be applied on top of them: that would step over
    # batch N's lost records for good.
    records = make_records(site_id, 1000, seed=5)
    await produce(kafka.bootstrap, topic, [(record_key(r), encode_record(r)) for r in records])
    settings = settings_for(kafka, redis_server.url, topic, max_batch=100)
    worker = Worker(settings, sites)
    await worker.start()
    try:

        async def poll() -> dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]:
            for _ in range(100):
                if batch := await worker.poll():
                    return batch
            raise AssertionError("no records")

        await worker.process(await poll())
        stale = worker.decode(await poll())
        # Redis loses everything the site had; the worker re-reads the watermarks of every
        # assigned partition and seeks, as after a Redis error (the partitions of the first
        # batch need not be those of the stale one).
        await redis.delete(*await redis.keys(f"mcv:v1:{{{site_id}}}*"))
        await worker._resync_after_redis_error()
        applied = worker.applied
        await worker.apply(stale)
        assert worker.applied == applied  # dropped: its partitions were sought since its poll
        await worker.run(burst=True)
    finally:
        await worker.stop()
    assert await window_counts(redis, site_id) == truth(records)
