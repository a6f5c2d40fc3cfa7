"""A real collector on a free port, in process, against the session's real Kafka and Redis."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from aiokafka import AIOKafkaConsumer, TopicPartition

from collector.app import create_app
from collector.httpguard import guarded_protocol
from collector.records import Record, decode_records
from collector.settings import Settings
from snippet.sites import Sites

import services

ORIGIN = "http://localhost:8000"
CHROME_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
HEADERS = {"Origin": ORIGIN, "User-Agent": CHROME_UA, "Content-Type": "text/plain"}


@dataclass
class Collector:
    url: str
    settings: Settings
    server: uvicorn.Server
    task: asyncio.Task[None]
    client: httpx.AsyncClient = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.AsyncClient(base_url=self.url, timeout=30)

    async def post(self, body: Any, path: str = "/v1/collect", **kw: Any) -> httpx.Response:
        headers = {**HEADERS, **kw.pop("headers", {})}
        content = body if isinstance(body, bytes) else _json(body)
        return await self.client.post(path, content=content, headers=headers, **kw)

    async def metrics(self) -> dict[str, float]:
        text = (await self.client.get("/metrics")).text
        found = re.findall(r"^([a-z_]+(?:\{[^}]*\})?) ([0-9.e+-]+)$", text, re.M)
        return {name: float(value) for name, value in found}

    async def stop(self) -> None:
        await self.client.aclose()
        self.server.should_exit = True
        await asyncio.wait_for(self.task, 60)


def _json(body: Any) -> bytes:
    import orjson

    return orjson.dumps(body)


def event(i: str | None = None, **over: Any) -> dict[str, Any]:
    return {
        "i": i or uuid.uuid4().hex,
        "k": "click",
        "n": "add_to_cart",
        "ts": int(time.time() * 1000),
        "u": "http://localhost/p",
        **over,
    }


def beacon(site: str, events: list[dict[str, Any]], **over: Any) -> dict[str, Any]:
    return {"v": 1, "s": site, "t": int(time.time() * 1000), "e": events, **over}


def record(i: int, site: str = "s", prefix: str = "e") -> Record:
    """A record as the collector makes it, for what is written straight into a spool."""
    return Record(
        site=site,
        visitor=f"v{i % 3}",
        id=f"{prefix}{i}",
        kind="click",
        name="",
        ts=1,
        client_ts=1,
        received=1,
        url="http://localhost/",
        referrer="",
        pageview="",
        props={},
        bot=False,
    )


StartCollector = Callable[..., Awaitable[Collector]]


@pytest.fixture
async def start_collector(
    kafka: services.KafkaServer,
    redis_server: services.RedisServer,
    topic: str,
    sites: Sites,
    tmp_path: Path,
) -> AsyncIterator[StartCollector]:
    started: list[Collector] = []

    async def start(sites: Sites = sites, **overrides: Any) -> Collector:
        port = services.free_port()
        values: dict[str, Any] = {
            "kafka_bootstrap": kafka.bootstrap,
            "topic": topic,
            "redis_url": redis_server.url,
            "port": port,
            "spool_dir": tmp_path / "spool",
            "client_rate": 0.0,
            "site_rate": 0.0,
            "produce_timeout_s": 3.0,
            **overrides,
        }
        settings = Settings(**values)
        config = uvicorn.Config(
            create_app(settings, sites),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            access_log=False,
            proxy_headers=False,  # as `python -m collector` runs it
            http=guarded_protocol(settings.body_timeout_s),  # likewise
            lifespan="on",
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        deadline = time.monotonic() + 60
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("collector exited at start-up")
            assert time.monotonic() < deadline, "collector did not start"
            await asyncio.sleep(0.02)
        collector = Collector(f"http://127.0.0.1:{port}", settings, server, task)
        started.append(collector)
        return collector

    try:
        yield start
    finally:
        for collector in started:
            await collector.stop()


@pytest.fixture
async def collector(start_collector: StartCollector) -> Collector:
    return await start_collector()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    deadline = time.monotonic() + 30
    while True:
        # The public partitions_for_topic knows only subscribed topics; ask the client's cache.
        client = consumer._client
        client.add_topic(topic)
        await client.force_metadata_update()
        numbers = client.cluster.partitions_for_topic(topic)
        if numbers:
            return set(numbers)
        assert time.monotonic() < deadline, f"no partitions for {topic}"
        await asyncio.sleep(0.2)


async def read_topic(bootstrap: str, topic: str, within_s: float = 30.0) -> list[bytes]:
    """Every value in the topic, from the beginning to the end offsets seen now."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        numbers = await _partitions(consumer, topic)
        partitions = [TopicPartition(topic, p) for p in sorted(numbers)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        values: list[bytes] = []
        deadline = time.monotonic() + within_s
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            assert time.monotonic() < deadline, "topic not read in time"
            batches = await consumer.getmany(timeout_ms=500)
            values += [r.value for recs in batches.values() for r in recs]
        return values
    finally:
        await consumer.stop()


async def read_records(bootstrap: str, topic: str) -> list[Record]:
    return [r for v in await read_topic(bootstrap, topic) for r in decode_records(v)]
