"""deploy/local/services.py: real Kafka and Redis on free ports, data kept across a restart."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from redis.asyncio import Redis

import services


@pytest.fixture
def kafka(tmp_path: Path) -> Iterator[services.KafkaServer]:
    server = services.KafkaServer.on_free_ports(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[services.RedisServer]:
    server = services.RedisServer(services.free_port(), tmp_path / "redis", tmp_path / "redis.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def consume_one(bootstrap: str, topic: str) -> bytes | None:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id="test-services",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), 20)
        value: bytes | None = record.value
        return value
    finally:
        await consumer.stop()


async def test_kafka_and_redis_serve_and_keep_data_across_restart(
    kafka: services.KafkaServer, redis_server: services.RedisServer
) -> None:
    await services.create_topic_async(kafka.bootstrap, "test.services.v1", 3)
    await services.create_topic_async(kafka.bootstrap, "test.services.v1", 3)  # exists: fine
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap)
    await producer.start()
    try:
        await asyncio.wait_for(producer.send_and_wait("test.services.v1", b"hello"), 20)
    finally:
        await producer.stop()
    assert await consume_one(kafka.bootstrap, "test.services.v1") == b"hello"

    redis = Redis.from_url(redis_server.url)
    try:
        await redis.set("test:services", "kept")
        assert await redis.get("test:services") == b"kept"
    finally:
        await redis.aclose()

    # A clean stop and a start on the same data dir keep the topic's records and the AOF's keys.
    await asyncio.to_thread(kafka.restart)
    await asyncio.to_thread(redis_server.restart)
    assert await consume_one(kafka.bootstrap, "test.services.v1") == b"hello"
    redis = Redis.from_url(redis_server.url)
    try:
        assert await redis.get("test:services") == b"kept"
    finally:
        await redis.aclose()

    redis_server.stop()
    redis_server.stop()  # safe to repeat
    assert not redis_server.running
