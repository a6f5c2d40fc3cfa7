"""Realistic Kafka records and beacons, made by the collector's own schema code."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import orjson
from aiokafka import AIOKafkaProducer

from collector.schema import encode_record, make_record, parse_beacon, record_key

KINDS = (
    {"k": "click", "n": "add_to_cart", "p": {"sku": "MUG-1", "price": 12}},
    {"k": "scroll", "n": "75"},
    {"k": "pageview"},
    {"k": "download", "n": "whitepaper.pdf"},
)


def beacon(site: str, ids: list[str], *, now_ms: int, named: bool = False) -> bytes:
    """A beacon as the tag sends it, one event per id; `named`: custom events named by their id."""
    events = []
    for n, event_id in enumerate(ids):
        body = {"k": "custom", "n": event_id} if named else KINDS[n % len(KINDS)]
        events.append(
            {"i": event_id, **body, "ts": now_ms - 200, "u": "https://shop.example.com/p/mug"}
        )
    return orjson.dumps({"v": 1, "s": site, "t": now_ms, "e": events})


def kafka_values(site: str, n: int, visitors: int = 5000) -> Iterator[tuple[bytes, bytes]]:
    """`n` (key, value) pairs as the collector produces them, ten events per parsed beacon."""
    run = uuid.uuid4().hex[:8]
    now = int(time.time() * 1000)
    for start in range(0, n, 10):
        ids = [f"{run}-{i}" for i in range(start, min(n, start + 10))]
        parsed = parse_beacon(beacon(site, ids, now_ms=now))
        visitor = f"{start % visitors:016x}"
        for event in parsed.events:
            record = make_record(
                event, site=site, visitor=visitor, ts=event.ts, received=now, bot=False
            )
            yield record_key(record), encode_record(record)


async def produce(bootstrap: str, topic: str, values: Iterator[tuple[bytes, bytes]]) -> int:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=20, max_batch_size=256 * 1024
    )
    await producer.start()
    sent = 0
    try:
        futures = []
        for key, value in values:
            futures.append(await producer.send(topic, value, key=key))
            sent += 1
            if len(futures) >= 20_000:
                for future in futures:
                    await future
                futures.clear()
        for future in futures:
            await future
    finally:
        await producer.stop()
    return sent
