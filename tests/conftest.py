"""Real services for the whole test session: one Kafka broker (KRaft) and one redis-server.

Each test gets its own topic and its own site id, so tests share the servers but not the data.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio import Redis

from snippet.sites import Sites, parse_sites

# deploy/local is on pytest's pythonpath: it is not a package, it runs before the venv exists.
import services


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[services.KafkaServer]:
    server = services.KafkaServer.on_free_ports(tmp_path_factory.mktemp("kafka"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[services.RedisServer]:
    root = tmp_path_factory.mktemp("redis")
    server = services.RedisServer(services.free_port(), root / "data", root / "redis.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def redis(redis_server: services.RedisServer) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_server.url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def site_id() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def sites(site_id: str) -> Sites:
    return parse_sites(
        {
            "sites": {
                site_id: {
                    "domains": ["localhost", "127.0.0.1"],
                    "read_tokens": ["read-token"],
                }
            }
        }
    )


@pytest.fixture
async def topic(kafka: services.KafkaServer) -> str:
    name = f"test.events.{uuid.uuid4().hex[:10]}"
    await services.create_topic_async(kafka.bootstrap, name, 6)
    return name
