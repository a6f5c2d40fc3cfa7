"""A collector started before its Kafka: alive, not ready, spooling; it replays once the broker
is up and then produces directly. The broker is a real one on its own free ports, started late."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.collector.conftest import Collector, StartCollector, beacon, event, read_records

import services


@pytest.fixture
def late_kafka(tmp_path: Path) -> Iterator[services.KafkaServer]:
    server = services.KafkaServer.on_free_ports(tmp_path / "kafka")
    try:
        yield server  # not started: the test starts it
    finally:
        server.stop()


async def test_starts_without_kafka_and_replays_when_it_comes(
    late_kafka: services.KafkaServer, start_collector: StartCollector, site_id: str
) -> None:
    topic = f"late.{uuid.uuid4().hex[:8]}"
    collector = await start_collector(
        kafka_bootstrap=late_kafka.bootstrap, topic=topic, produce_timeout_s=1.0
    )
    assert (await collector.client.get("/healthz")).status_code == 200
    ready = await collector.client.get("/readyz")
    assert ready.status_code == 503 and "kafka unreachable" in ready.text

    early = [event() for _ in range(30)]
    for i in range(0, len(early), 10):
        assert (await collector.post(beacon(site_id, early[i : i + 10]))).status_code == 202
    m = await collector.metrics()
    assert m["microcv_kafka_down"] == 1
    assert m["microcv_events_spooled_total"] == len(early)
    assert m["microcv_spool_events"] == len(early)  # fsynced, waiting

    await asyncio.to_thread(late_kafka.start)
    await services.create_topic_async(late_kafka.bootstrap, topic, 2)
    deadline = time.monotonic() + 90
    while True:
        m = await collector.metrics()
        if m["microcv_spool_events"] == 0 and m["microcv_kafka_down"] == 0:
            break
        assert time.monotonic() < deadline, m
        await asyncio.sleep(0.25)
    assert (await collector.client.get("/readyz")).status_code == 200

    late = [event() for _ in range(10)]
    assert (await collector.post(beacon(site_id, late))).status_code == 202
    m = await collector.metrics()
    assert m["microcv_events_produced_total"] == len(late)  # straight to Kafka now
    assert m["microcv_events_replayed_total"] == len(early)

    counts = Counter(r.id for r in await read_records(late_kafka.bootstrap, topic))
    assert counts == Counter(e["i"] for e in early + late)  # every event, each once


async def _collector_on(
    kafka: services.KafkaServer, start_collector: StartCollector, **overrides: Any
) -> Collector:
    """The broker started, a fresh topic of two partitions, a collector producing to it with a
    short produce timeout (the tests below stop the broker under it)."""
    await asyncio.to_thread(kafka.start)
    topic = f"down.{uuid.uuid4().hex[:8]}"
    await services.create_topic_async(kafka.bootstrap, topic, 2)
    return await start_collector(
        kafka_bootstrap=kafka.bootstrap, topic=topic, produce_timeout_s=0.5, **overrides
    )


async def test_a_stopped_broker_is_not_asked_for_metadata_in_a_busy_loop(
    late_kafka: services.KafkaServer,
    start_collector: StartCollector,
    site_id: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # aiokafka's sender asks for metadata again the moment an update fails while a batch waits
    # for a leader; the collector's batches never expire, so with the broker down that was
    # ~4,500 attempts (and 9,000 log lines) a second for the whole outage.
    collector = await _collector_on(late_kafka, start_collector)
    answers: Counter[int] = Counter()

    async def load() -> None:
        # Sends while the broker shuts down: the producer then learns the partitions have no
        # leader (a clean shutdown hands leadership away first), which is what set it spinning.
        while True:
            answers[(await collector.post(beacon(site_id, [event()]))).status_code] += 1
            await asyncio.sleep(0.05)

    sender = asyncio.create_task(load())
    try:
        await asyncio.sleep(1)
        await asyncio.to_thread(late_kafka.stop)
        caplog.set_level(logging.ERROR, logger="aiokafka")
        await asyncio.sleep(4)
    finally:
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)
    assert set(answers) == {202}
    failed = [r for r in caplog.records if "Unable to update metadata" in r.getMessage()]
    assert 0 < len(failed) <= 20, len(failed)


async def test_a_collector_stopped_while_kafka_is_down_leaves_no_client_behind(
    late_kafka: services.KafkaServer,
    start_collector: StartCollector,
    site_id: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The producer's batches never expire, so its stop() would wait for a broker that is gone;
    # past the grace the collector fails them (their events are in the spool) and the producer
    # closes. Before, its sender and metadata loop kept running in the process, logging an
    # error for every attempt, long after the collector had stopped.
    collector = await _collector_on(late_kafka, start_collector, grace_s=1.0)
    assert (await collector.post(beacon(site_id, [event()]))).status_code == 202
    await asyncio.to_thread(late_kafka.stop)
    for _ in range(5):  # spooled, and left waiting in the producer for a leader
        assert (await collector.post(beacon(site_id, [event()]))).status_code == 202
    started = time.monotonic()
    await collector.stop()
    assert time.monotonic() - started < 15
    caplog.clear()
    caplog.set_level(logging.INFO, logger="aiokafka")
    await asyncio.sleep(5)  # the metadata backoff tops out at 2 s
    assert [r.getMessage() for r in caplog.records if r.name.startswith("aiokafka")] == []


async def test_a_collector_stopped_while_kafka_hangs_stops_within_its_grace(
    late_kafka: services.KafkaServer,
    start_collector: StartCollector,
    site_id: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A broker that keeps its connections open but never answers (here: a paused process).
    # aiokafka's stop, after the collector failed the batches left waiting for it, raised from
    # inside its own bookkeeping, and the app's shutdown failed; the producer was also given
    # the whole grace again after the requests had had theirs.
    collector = await _collector_on(late_kafka, start_collector, grace_s=3.0)
    assert (await collector.post(beacon(site_id, [event()]))).status_code == 202
    pid = late_kafka.pid
    assert pid is not None
    uvicorn_log = logging.getLogger("uvicorn.error")
    uvicorn_log.addHandler(caplog.handler)
    os.kill(pid, signal.SIGSTOP)
    try:
        for _ in range(5):  # spooled past the produce timeout, then replayed into the void
            assert (await collector.post(beacon(site_id, [event()]))).status_code == 202
        await asyncio.sleep(1)
        started = time.monotonic()
        await collector.stop()
        # The grace (3 s) for requests, one produce bound (0.5 s) for the producer, a margin.
        assert time.monotonic() - started < 8
    finally:
        os.kill(pid, signal.SIGCONT)
        uvicorn_log.removeHandler(caplog.handler)
    # aiokafka's own connection errors are logged all along; the shutdown itself succeeded.
    assert "Application shutdown failed" not in caplog.text
