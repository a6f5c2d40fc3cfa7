"""Replays with known answers: a generated clickstream of thousands of visitors (funnel,
experiment, lead scores, bots) through real Kafka into real Redis, then compared with the truth
computed independently (tests/consumers/clickstream.py).

The same stream is replayed with a worker process SIGKILLed mid-way and restarted, a second
worker joining mid-stream, Redis killed and restarted mid-stream, and every record delivered
twice among poison records. Counters, funnel steps, experiment and lead-score counts must equal
the truth exactly; unique visitors (HyperLogLog) within 1 % on average.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from redis.asyncio import Redis

from collector.records import encode_record, record_key
from consumers import reads
from consumers.config import parse_site_config
from consumers.keys import watermark_key
from consumers.redisconn import AnyRedis
from consumers.settings import Settings
from consumers.worker import Worker
from snippet.sites import Sites, parse_sites
from tests.consumers.clickstream import Event, Truth, generate, site_table, truth
from tests.consumers.conftest import Backend

import services

REPO = Path(__file__).resolve().parents[2]
VISITORS = 2000


def toml_for(site: str, table: Mapping[str, Any]) -> str:
    """The site table as TOML (JSON strings and arrays are valid TOML values)."""
    lines: list[str] = []

    def emit(path: str, t: Mapping[str, Any]) -> None:
        lines.append(f"[{path}]")
        subtables = {k: v for k, v in t.items() if isinstance(v, dict)}
        lines.extend(f"{k} = {json.dumps(v)}" for k, v in t.items() if k not in subtables)
        for k, v in subtables.items():
            emit(f"{path}.{k}", v)

    emit(f"sites.{site}", table)
    return "\n".join(lines) + "\n"


async def produce(bootstrap: str, topic: str, values: list[tuple[bytes, bytes]]) -> dict[int, int]:
    """Produce in order; returns each partition's last offset."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5
    )
    await producer.start()
    try:
        futures = [await producer.send(topic, value, key=key) for key, value in values]
        last: dict[int, int] = {}
        for f in futures:
            meta = await f
            last[meta.partition] = max(meta.offset, last.get(meta.partition, -1))
        return last
    finally:
        await producer.stop()


def encoded(events: list[Event]) -> list[tuple[bytes, bytes]]:
    return [(record_key(e.record), encode_record(e.record)) for e in events]


async def progress(client: AnyRedis, site: str, topic: str, last: Mapping[int, int]) -> float:
    marks = await client.hgetall(watermark_key(site))  # type: ignore[misc]
    done = {int(k.decode().rsplit(":", 1)[1]): int(v) for k, v in marks.items()}
    total = sum(o + 1 for o in last.values())
    return sum(min(done.get(p, -1), o) + 1 for p, o in last.items()) / total


async def wait_progress(
    client: AnyRedis, site: str, topic: str, last: Mapping[int, int], at_least: float, within: float
) -> float:
    deadline = time.monotonic() + within
    while True:
        value = await progress(client, site, topic, last)
        if value >= at_least or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.01)


async def assert_truth(client: AnyRedis, site: str, expected: Truth) -> None:
    config = parse_site_config(parse_sites({"sites": {site: site_table()}}).by_id[site])
    now = int(time.time() * 1000)
    first, last = now // 60_000 - 70, now // 60_000
    assert await reads.counters(client, site, first, last) == expected.counters
    assert await reads.bot_counters(client, site, first, last) == expected.bots
    assert await reads.conversions(client, site, first, last) == expected.conversions
    funnel = config.funnel("buy")
    assert funnel is not None
    report = await reads.funnel(client, site, funnel, first, last)
    assert [s.entries for s in report.steps] == expected.funnel
    exp = config.experiment("cta")
    assert exp is not None
    experiment = await reads.experiment(client, site, exp)
    assert {v.variant: v.exposed for v in experiment.variants} == expected.exposed
    assert {v.variant: v.converted for v in experiment.variants} == expected.converted
    leads = await reads.top_leads(client, site, now // 86_400_000 - 1, now // 86_400_000, 10**6)
    assert {lead.visitor: lead.score for lead in leads} == expected.scores
    assert all(0 < len(lead.recent) <= 20 for lead in leads)
    pages = await reads.breakdown(client, site, "page", first, last, limit=100)
    assert dict(pages) == expected.pages
    downloads = await reads.breakdown(client, site, "download", first, last, limit=100)
    assert dict(downloads) == expected.downloads
    assert await reads.scroll_depths(client, site, first, last) == expected.scroll
    visitors = await reads.uniques(client, site, list(expected.uniques), first, last)
    # Redis' HyperLogLog has a standard error of 0.81 %: on average the counts are within 1 %,
    # and no single count is off by more than three standard errors.
    errors = {n: abs(visitors[n] - true) / true for n, true in expected.uniques.items()}
    assert sum(errors.values()) / len(errors) <= 0.01, errors
    assert max(errors.values()) <= 3 * 0.0081, errors


class Stream:
    def __init__(self, kafka: services.KafkaServer, topic: str, seed: int) -> None:
        self.kafka = kafka
        self.topic = topic
        self.site = f"r-{uuid.uuid4().hex[:10]}"
        self.events = generate(self.site, VISITORS, seed)
        self.truth = truth(self.events)
        self.sites: Sites = parse_sites({"sites": {self.site: site_table()}})

    def settings(self, redis_url: str, *, cluster: bool = False, **over: Any) -> Settings:
        return Settings(
            kafka_bootstrap=self.kafka.bootstrap,
            topic=self.topic,
            dead_letter_topic=f"{self.topic}.dead",
            group=f"g-{uuid.uuid4().hex[:8]}",
            redis_url=redis_url,
            redis_cluster=cluster,
            burst_idle_s=1.5,
            **over,
        )

    def env(self, settings: Settings, sites_path: Path) -> dict[str, str]:
        return {
            **os.environ,
            "MICROCV_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
            "MICROCV_TOPIC": settings.topic,
            "MICROCV_DEAD_LETTER_TOPIC": settings.dead_letter_topic,
            "MICROCV_GROUP": settings.group,
            "MICROCV_REDIS_URL": settings.redis_url,
            "MICROCV_SITES": str(sites_path),
            "MICROCV_MAX_BATCH": "200",
            "MICROCV_BURST_IDLE_S": "2",
            "MICROCV_GRACE_S": "10",
        }

    def sites_file(self, tmp_path: Path) -> Path:
        path = tmp_path / "sites.toml"
        path.write_text(toml_for(self.site, site_table()))
        return path


def spawn_worker(env: dict[str, str], log: Path, *args: str) -> subprocess.Popen[bytes]:
    return services.spawn([sys.executable, "-m", "consumers", *args], log, env=env, cwd=REPO)


async def wait_exit(proc: subprocess.Popen[bytes], within: float, log: Path) -> int:
    deadline = time.monotonic() + within
    while proc.poll() is None and time.monotonic() < deadline:  # noqa: ASYNC110 - a child process
        await asyncio.sleep(0.1)
    if proc.poll() is None:
        proc.kill()
        raise AssertionError(f"worker did not exit:\n{services.log_tail(log)}")
    return proc.returncode


async def run_in_process(settings: Settings, sites: Sites) -> Worker:
    worker = Worker(settings, sites)
    await worker.start()
    try:
        await worker.run(burst=True)
    finally:
        await worker.stop()
    return worker


async def test_a_replay_equals_the_truth_and_a_second_replay_changes_nothing(
    kafka: services.KafkaServer, topic: str, backend: Backend, store_client: AnyRedis
) -> None:
    stream = Stream(kafka, topic, seed=11)
    await produce(kafka.bootstrap, topic, encoded(stream.events))
    settings = stream.settings(backend.url, cluster=backend.cluster)
    worker = await run_in_process(settings, stream.sites)
    assert worker.applied == len(stream.events)
    await assert_truth(store_client, stream.site, stream.truth)

    again = stream.settings(backend.url, cluster=backend.cluster)
    replay = await run_in_process(again, stream.sites)
    assert replay.applied == 0
    await assert_truth(store_client, stream.site, stream.truth)


async def test_every_record_twice_among_poison_records(
    kafka: services.KafkaServer, topic: str, redis_server: services.RedisServer, redis: Redis
) -> None:
    stream = Stream(kafka, topic, seed=12)
    values = encoded(stream.events)
    doubled: list[tuple[bytes, bytes]] = []
    later: list[tuple[bytes, bytes]] = []
    for i, v in enumerate(values):
        doubled.append(v)
        (doubled if i % 2 else later).append(v)  # the copy right after, or at the very end
    poison = [(b"p", b"\xff not json"), (b"p", b'{"v": 1, "site": "x"}'), (b"p", b"[]")]
    for i, p in enumerate(poison):
        doubled.insert(1000 * (i + 1), p)
    settings = stream.settings(redis_server.url)
    await services.create_topic_async(kafka.bootstrap, settings.dead_letter_topic, 1)
    await produce(kafka.bootstrap, topic, doubled + later)

    worker = await run_in_process(settings, stream.sites)
    assert worker.applied == len(stream.events)
    assert worker.duplicates == len(stream.events)
    assert worker.dead_letters == len(poison)
    assert dict(worker.metrics.dead_letters) == {"bad_json": 1, "missing_field": 1, "bad_record": 1}
    await assert_truth(redis, stream.site, stream.truth)


async def test_a_worker_sigkilled_mid_way_and_restarted(
    kafka: services.KafkaServer,
    topic: str,
    redis_server: services.RedisServer,
    redis: Redis,
    tmp_path: Path,
) -> None:
    stream = Stream(kafka, topic, seed=13)
    last = await produce(kafka.bootstrap, topic, encoded(stream.events))
    env = stream.env(stream.settings(redis_server.url), stream.sites_file(tmp_path))
    log = tmp_path / "worker.log"

    first = spawn_worker(env, log)
    reached = await wait_progress(redis, stream.site, topic, last, 0.3, within=60)
    os.kill(first.pid, signal.SIGKILL)
    assert await wait_exit(first, 10, log) == -signal.SIGKILL
    assert 0.3 <= reached < 1.0, services.log_tail(log)
    assert await progress(redis, stream.site, topic, last) < 1.0

    second = spawn_worker(env, log, "--burst")
    assert await wait_exit(second, 90, log) == 0
    await assert_truth(redis, stream.site, stream.truth)


async def test_a_second_worker_joins_mid_stream(
    kafka: services.KafkaServer,
    topic: str,
    redis_server: services.RedisServer,
    redis: Redis,
    tmp_path: Path,
) -> None:
    stream = Stream(kafka, topic, seed=14)
    last = await produce(kafka.bootstrap, topic, encoded(stream.events))
    env = stream.env(stream.settings(redis_server.url), stream.sites_file(tmp_path))
    # Tiny batches (a Redis round trip every 5 records), so that the rebalance lands in the
    # middle of the stream: at full speed the first worker is done before the second has joined.
    env["MICROCV_MAX_BATCH"] = "5"
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    metrics_port = services.free_port()
    a = spawn_worker({**env, "MICROCV_WORKER_METRICS_PORT": str(metrics_port)}, logs[0])
    await wait_progress(redis, stream.site, topic, last, 0.2, within=60)
    b = spawn_worker(env, logs[1])
    try:
        done = await wait_progress(redis, stream.site, topic, last, 1.0, within=120)
        assert done == 1.0
        async with httpx.AsyncClient() as http:
            metrics = (await http.get(f"http://127.0.0.1:{metrics_port}/metrics")).text
            missing = await http.get(f"http://127.0.0.1:{metrics_port}/nope")
        assert missing.status_code == 404
        applied = re.search(r"^microcv_worker_events_applied_total (\d+)$", metrics, re.M)
        assert applied is not None and 0 < int(applied.group(1)) < len(stream.events)
        for name in ("events_per_second", "lag{", "redis_round_trips_total", "dead_letters"):
            assert f"microcv_worker_{name}" in metrics
    finally:
        for proc in (a, b):
            proc.send_signal(signal.SIGTERM)
    assert [await wait_exit(p, 30, log) for p, log in zip((a, b), logs, strict=True)] == [0, 0]
    # The second worker really took partitions over: it logged resuming some of them.
    assert "resumes at offset" in logs[1].read_text()
    await assert_truth(redis, stream.site, stream.truth)


async def test_redis_killed_and_restarted_mid_stream(
    kafka: services.KafkaServer, topic: str, tmp_path: Path
) -> None:
    server = services.RedisServer(services.free_port(), tmp_path / "redis", tmp_path / "redis.log")
    server.start()
    client = Redis.from_url(server.url)
    try:
        stream = Stream(kafka, topic, seed=15)
        last = await produce(kafka.bootstrap, topic, encoded(stream.events))
        env = stream.env(stream.settings(server.url), stream.sites_file(tmp_path))
        env["MICROCV_MAX_BATCH"] = "20"  # small batches: Redis dies in the middle of the stream
        log = tmp_path / "worker.log"
        worker = spawn_worker(env, log)
        reached = await wait_progress(client, stream.site, topic, last, 0.3, within=60)
        assert reached < 1.0
        # SIGKILL: the append-only file may lose its last second of writes, watermarks with them.
        server.kill()
        await asyncio.sleep(1.0)
        server.start()
        await client.aclose()
        client = Redis.from_url(server.url)
        done = await wait_progress(client, stream.site, topic, last, 1.0, within=120)
        worker.send_signal(signal.SIGTERM)
        assert await wait_exit(worker, 30, log) == 0
        assert done == 1.0, services.log_tail(log)
        assert "redis" in log.read_text().lower()
        await assert_truth(client, stream.site, stream.truth)
    finally:
        await client.aclose()
        server.stop()


@pytest.mark.parametrize("broken", ["funnels", "experiments"])
def test_check_mode_exit_codes(
    kafka: services.KafkaServer,
    redis_server: services.RedisServer,
    topic: str,
    tmp_path: Path,
    broken: str,
) -> None:
    stream = Stream(kafka, topic, seed=16)
    env = stream.env(stream.settings(redis_server.url), stream.sites_file(tmp_path))
    ok = subprocess.run(
        [sys.executable, "-m", "consumers", "--check"], env=env, cwd=REPO, capture_output=True
    )
    assert ok.returncode == 0, ok.stderr
    table = site_table()
    if broken == "funnels":
        table["funnels"]["buy"]["steps"] = ["view_product", "no_such_step"]
        expected = f"[sites.{stream.site}].funnels.buy.steps[1]"
    else:
        table["experiments"]["cta"]["variants"] = ["only_one"]
        expected = f"[sites.{stream.site}].experiments.cta.variants"
    bad = tmp_path / "bad.toml"
    bad.write_text(toml_for(stream.site, table))
    result = subprocess.run(
        [sys.executable, "-m", "consumers", "--check"],
        env={**env, "MICROCV_SITES": str(bad)},
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert expected in result.stderr
    down = subprocess.run(
        [sys.executable, "-m", "consumers", "--check"],
        env={**env, "MICROCV_REDIS_URL": f"redis://127.0.0.1:{services.free_port()}/0"},
        cwd=REPO,
        capture_output=True,
    )
    assert down.returncode == 1
