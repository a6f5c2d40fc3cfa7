"""A real broker stopped under load and started again: no accepted event is lost or doubled,
in the topic itself.

This test runs its own Kafka on its own free ports (stopping the session's broker would disturb
every other test).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from collector.records import decode_records
from tests.collector.conftest import Collector, StartCollector, beacon, event, read_topic

import services

SENDERS = 8


@pytest.fixture
def own_kafka(tmp_path: Path) -> Iterator[services.KafkaServer]:
    server = services.KafkaServer.on_free_ports(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def _load(collector: Collector, site: str, accepted: list[str], stop: asyncio.Event) -> None:
    refused = Counter[int]()
    while not stop.is_set():
        events = [event() for _ in range(10)]
        try:
            resp = await collector.post(beacon(site, events))
        except httpx.HTTPError:
            continue  # no answer: the client would retry; nothing was promised
        if resp.status_code == 202:
            accepted += [e["i"] for e in events]
        else:
            refused[resp.status_code] += 1
        await asyncio.sleep(0.005)
    assert not refused, refused


async def _until(predicate: object, within: float) -> None:
    deadline = time.monotonic() + within
    while not await predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.25)


async def test_broker_down_under_load_loses_and_doubles_nothing(
    own_kafka: services.KafkaServer, start_collector: StartCollector, site_id: str
) -> None:
    topic = f"outage.{uuid.uuid4().hex[:8]}"
    await services.create_topic_async(own_kafka.bootstrap, topic, 3)
    collector = await start_collector(
        kafka_bootstrap=own_kafka.bootstrap, topic=topic, produce_timeout_s=2.0
    )
    accepted: list[str] = []
    stop = asyncio.Event()
    senders = [
        asyncio.create_task(_load(collector, site_id, accepted, stop)) for _ in range(SENDERS)
    ]
    try:
        await asyncio.sleep(2)
        before = len(accepted)
        await asyncio.to_thread(own_kafka.kill)  # the worst case: no clean shutdown
        await asyncio.sleep(6)
        during = len(accepted) - before
        m = await collector.metrics()
        assert m["microcv_kafka_down"] == 1 and m["microcv_events_spooled_total"] > 0
        ready = await collector.client.get("/readyz")
        assert ready.status_code == 503
        produced_while_down = m["microcv_events_produced_total"]
        await asyncio.to_thread(own_kafka.start)

        async def back() -> bool:
            return (await collector.metrics())["microcv_kafka_down"] == 0

        # Under load the spool is never empty for long: the collector must go back to Kafka all
        # the same (and not spool forever).
        await _until(back, 120)
        await asyncio.sleep(2)
    finally:
        stop.set()
        await asyncio.gather(*senders)
    assert during > 0  # requests kept being accepted while the broker was away

    async def drained() -> bool:
        m = await collector.metrics()
        return m["microcv_spool_events"] == 0 and m["microcv_kafka_down"] == 0

    await _until(drained, 120)
    m = await collector.metrics()
    # The books balance: everything answered 2xx was produced or spooled, and the spool is empty.
    assert m["microcv_events_accepted_total"] == len(accepted)
    assert m["microcv_events_accepted_total"] == (
        m["microcv_events_produced_total"] + m["microcv_events_spooled_total"]
    )
    assert (
        m["microcv_events_replayed_total"] + m["microcv_spool_late_ack_skips"]
        == m["microcv_events_spooled_total"]
    )
    assert m["microcv_events_produced_total"] > produced_while_down  # straight to Kafka again

    ids = [r.id for v in await read_topic(own_kafka.bootstrap, topic) for r in decode_records(v)]
    counts = Counter(ids)
    duplicates = {i: n for i, n in counts.items() if n > 1}
    print(
        f"\naccepted {len(accepted)} events ({during} while the broker was down), "
        f"spooled {m['microcv_events_spooled_total']:.0f}, "
        f"raw duplicates in the topic: {len(duplicates)}, "
        f"late acks: {m['microcv_produce_late_acks']:.0f}, "
        f"skipped on replay as late-acked: {m['microcv_spool_late_ack_skips']:.0f}, "
        f"uncertain resends: {m['microcv_spool_uncertain_resends']:.0f}"
    )
    assert set(accepted) <= counts.keys()  # every accepted event is in Kafka
    assert len(counts) == len(set(accepted))  # and nothing else
    # Exactly once, in the topic itself (not thanks to the consumers' dedupe): the replayer
    # never resends an id whose first send may still be written, and skips the ones written.
    assert not duplicates
    assert m["microcv_spool_uncertain_resends"] == 0
    assert m["microcv_spool_late_ack_skips"] == m["microcv_produce_late_acks"]


async def test_a_full_spool_answers_503_with_retry_after(
    own_kafka: services.KafkaServer, start_collector: StartCollector, site_id: str
) -> None:
    topic = f"outage.{uuid.uuid4().hex[:8]}"
    await services.create_topic_async(own_kafka.bootstrap, topic, 1)
    collector = await start_collector(
        kafka_bootstrap=own_kafka.bootstrap,
        topic=topic,
        produce_timeout_s=1.0,
        spool_max_bytes=4000,
    )
    await asyncio.to_thread(own_kafka.stop)
    statuses = []
    for _ in range(20):
        resp = await collector.post(beacon(site_id, [event() for _ in range(5)]))
        statuses.append(resp.status_code)
        if resp.status_code == 503:
            assert int(resp.headers["Retry-After"]) > 0
            assert resp.json()["error"] == "spool_full"
            break
    assert statuses[0] == 202 and statuses[-1] == 503
    m = await collector.metrics()
    assert m['microcv_events_rejected_total{reason="spool_full"}'] == 5
    assert m["microcv_events_accepted_total"] == m["microcv_events_spooled_total"]
    with contextlib.suppress(Exception):
        await asyncio.to_thread(own_kafka.start)
