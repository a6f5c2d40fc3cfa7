"""Realistic Kafka records and beacons, made by the collector's own schema code."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import orjson
from aiokafka import AIOKafkaProducer

from collector.records import encode_batch, make_record, record_key
from collector.schema import parse_beacon

KINDS = (
    {"k": "click", "n": "add_to_cart", "p": {"sku": "MUG-1", "price": 12}},
    {"k": "scroll", "n": "75"},
    {"k": "pageview"},
    {"k": "download", "n": "whitepaper.pdf"},
)
# Events per request, taken in turn: the two beacon sizes bench/beacon.lua sends.
SIZES = (1, 10)


def beacon(
    site: str,
    ids: list[str],
    *,
    now_ms: int,
    named: bool = False,
    first: int = 0,
    name: str | None = None,
) -> bytes:
    """A beacon as the tag sends it, one event per id; `named`: custom events named by their id
    (or all by `name`). Event j is of kind KINDS[(first + j) % 4]."""
    events = []
    for n, event_id in enumerate(ids, start=first):
        body = {"k": "custom", "n": name or event_id} if named else KINDS[n % len(KINDS)]
        events.append(
            {"i": event_id, **body, "ts": now_ms - 200, "u": "https://shop.example.com/p/mug"}
        )
    return orjson.dumps({"v": 1, "s": site, "t": now_ms, "e": events})


def kafka_values(
    site: str, events: int, visitors: int = 5000, sizes: tuple[int, ...] = SIZES
) -> Iterator[tuple[bytes, bytes]]:
    """(key, value) pairs as the collector produces them: one version 2 batch record per request
    (a request's events share one key), requests of `sizes` events in turn, `events` in all."""
    run = uuid.uuid4().hex[:8]
    now = int(time.time() * 1000)
    made = request = 0
    while made < events:
        size = min(sizes[request % len(sizes)], events - made)
        ids = [f"{run}-{i}" for i in range(made, made + size)]
        parsed = parse_beacon(beacon(site, ids, now_ms=now, first=request))
        visitor = f"{request % visitors:016x}"
        batch = [
            make_record(event, site=site, visitor=visitor, ts=event.ts, received=now, bot=False)
            for event in parsed.events
        ]
        yield record_key(batch[0]), encode_batch(batch)
        made += size
        request += 1


async def produce(bootstrap: str, topic: str, values: Iterator[tuple[bytes, bytes]]) -> int:
    """Send every (key, value) with acks=all; returns the number of Kafka records."""
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
