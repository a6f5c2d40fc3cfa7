"""`python -m collector` with several worker processes on one port (MICROCV_COLLECTOR_WORKERS),
against the real broker: they count as one collector, a worker that dies is replaced in its spool
slot, SIGTERM loses nothing acknowledged, and a start with fewer workers replays what the
others left in their spools."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from collector.records import encode_record
from collector.settings import Settings
from collector.siblings import SNAPSHOT
from collector.spool import Spool, slot_path, slots
from tests.collector.conftest import HEADERS, beacon, event, read_records, record

import services

REPO = Path(__file__).resolve().parents[2]


class Run:
    """One `python -m collector` process tree."""

    def __init__(self, env: dict[str, str], log: Path, port: int) -> None:
        self.env, self.log, self.port = env, log, port
        self.url = f"http://127.0.0.1:{port}"
        self.proc = services.spawn([sys.executable, "-m", "collector"], log, env=env, cwd=REPO)

    async def healthy(self) -> None:
        def up() -> bool:
            try:
                return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        await asyncio.to_thread(services.wait_until, up, 60, "collector", self.log, self.proc)

    def workers(self) -> set[int]:
        """Pids of the worker processes (the children of the supervisor)."""
        found = set()
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                fields = stat.rpartition(")")[2].split()
                if fields[0] not in "ZX" and int(fields[1]) == self.proc.pid:
                    found.add(int(entry.name))
        # multiprocessing's spawn start method has a resource tracker child of its own.
        return {pid for pid in found if b"resource_tracker" not in _cmdline(pid)}

    async def accepted(self) -> float:
        # A new connection each time: the kernel may hand it to either worker.
        async with httpx.AsyncClient(base_url=self.url) as client:
            text = (await client.get("/metrics")).text
        found = re.search(r"^microcv_events_accepted_total (\S+)$", text, re.M)
        assert found, text
        return float(found.group(1))

    async def wait(self) -> int:
        return await asyncio.to_thread(self.proc.wait, 60)


async def _equals(value: Awaitable[float], expected: float) -> bool:
    return await value == expected


async def until(check: Callable[[], Awaitable[bool]], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, f"{check.__name__}: not within {seconds} s"
        await asyncio.sleep(0.2)


async def _snapshotted(spool: Path, port: int, accepted: int) -> bool:
    """Whether the workers' metrics snapshots (collector/siblings.py) add up to `accepted`."""
    total = 0
    for slot in slots(spool, port).values():
        if (slot / SNAPSHOT).exists():
            total += orjson.loads((slot / SNAPSHOT).read_bytes())["counters"]["accepted"]
    return total == accepted


def _cmdline(pid: int) -> bytes:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes()
    except OSError:
        return b""


@pytest.fixture
def env(
    kafka: services.KafkaServer,
    redis_server: services.RedisServer,
    topic: str,
    site_id: str,
    tmp_path: Path,
) -> dict[str, str]:
    sites = tmp_path / "sites.toml"
    sites.write_text(f'[sites.{site_id}]\ndomains = ["localhost"]\n')
    return {
        **os.environ,
        "MICROCV_KAFKA_BOOTSTRAP": kafka.bootstrap,
        "MICROCV_REDIS_URL": redis_server.url,
        "MICROCV_TOPIC": topic,
        "MICROCV_SITES": str(sites),
        "MICROCV_COLLECTOR_PORT": str(services.free_port()),
        "MICROCV_SPOOL_DIR": str(tmp_path / "spool"),
        "MICROCV_GRACE_S": "10",
        "MICROCV_CLIENT_RATE": "0",
    }


@pytest.fixture
async def two_workers(env: dict[str, str], tmp_path: Path) -> AsyncIterator[Run]:
    port = int(env["MICROCV_COLLECTOR_PORT"])
    run = Run({**env, "MICROCV_COLLECTOR_WORKERS": "2"}, tmp_path / "collector.log", port)
    try:
        await run.healthy()
        yield run
    finally:
        services.terminate(run.proc.pid, 30, run.proc)


async def _send(url: str, site_id: str, beacons: int, per_beacon: int) -> list[str]:
    """`beacons` beacons at once, each on a connection of its own; the ids of those answered
    202 (all of them, asserted)."""
    sent = [[event() for _ in range(per_beacon)] for _ in range(beacons)]

    async def one(events: list[dict[str, Any]]) -> int:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            body = orjson.dumps(beacon(site_id, events))
            answer = await client.post("/v1/collect", content=body, headers=HEADERS)
            return answer.status_code

    codes = await asyncio.gather(*(one(events) for events in sent))
    assert codes == [202] * beacons
    return [e["i"] for events in sent for e in events]


async def test_workers_share_the_port_and_count_as_one_collector(
    two_workers: Run, kafka: services.KafkaServer, topic: str, site_id: str, tmp_path: Path
) -> None:
    run = two_workers
    assert len(run.workers()) == 2
    ids = await _send(run.url, site_id, beacons=60, per_beacon=5)
    # Each worker has its own spool slot.
    names = sorted(p.name for p in (tmp_path / "spool").iterdir())
    assert names == [str(run.port), f"{run.port}-1"]

    # A scrape counts the answering worker's events live and its sibling's from the snapshot
    # the sibling writes once a second. Once both snapshots hold every event, every scrape,
    # whichever worker answers it, counts them all. (Before that, two scrapes within a second
    # may differ; Prometheus scrapes seconds apart.)
    await until(lambda: _snapshotted(tmp_path / "spool", run.port, len(ids)), 10)
    assert [await run.accepted() for _ in range(6)] == [len(ids)] * 6
    assert sorted(r.id for r in await read_records(kafka.bootstrap, topic)) == sorted(ids)


async def test_a_killed_worker_is_replaced_and_sigterm_loses_nothing(
    two_workers: Run, kafka: services.KafkaServer, topic: str, site_id: str, tmp_path: Path
) -> None:
    run = two_workers
    before = await _send(run.url, site_id, beacons=30, per_beacon=2)

    # Every worker's snapshot holds its share before one of them dies.
    await until(lambda: _snapshotted(tmp_path / "spool", run.port, len(before)), 10)
    victim = min(run.workers())
    os.kill(victim, signal.SIGKILL)

    async def replaced() -> bool:
        now = run.workers()
        return len(now) == 2 and victim not in now

    await until(replaced, 30)  # the supervisor checks its workers twice a second
    await run.healthy()
    # The replacement carries the dead worker's counts: the collector's total does not drop.
    assert [await run.accepted() for _ in range(6)] == [len(before)] * 6
    ids = await _send(run.url, site_id, beacons=20, per_beacon=3)
    await until(lambda: _equals(run.accepted(), len(before) + len(ids)), 10)

    # SIGTERM while beacons are in flight: what was answered 202 is in Kafka.
    sent = [[event() for _ in range(3)] for _ in range(30)]
    async with httpx.AsyncClient(base_url=run.url, timeout=30) as client:
        sends = [
            asyncio.create_task(
                client.post(
                    "/v1/collect", content=orjson.dumps(beacon(site_id, e)), headers=HEADERS
                )
            )
            for e in sent
        ]
        await asyncio.sleep(0.05)
        os.kill(run.proc.pid, signal.SIGTERM)
        answers = await asyncio.gather(*sends, return_exceptions=True)
    code = await run.wait()
    assert code in (0, -signal.SIGTERM), run.log.read_text()
    accepted = {
        e["i"]
        for events, a in zip(sent, answers, strict=True)
        if isinstance(a, httpx.Response) and a.status_code == 202
        for e in events
    }
    in_topic = {r.id for r in await read_records(kafka.bootstrap, topic)}
    assert set(ids) <= in_topic
    assert accepted <= in_topic
    # Both workers ran their shutdown (the replaced one's too).
    assert run.log.read_text().count("collector stopped") >= 2


async def test_fewer_workers_replay_what_the_others_spooled(
    env: dict[str, str], kafka: services.KafkaServer, topic: str, site_id: str, tmp_path: Path
) -> None:
    # A run with two workers stopped while Kafka was away: worker 1's slot holds events that
    # were answered 202. The next start has one worker.
    port = int(env["MICROCV_COLLECTOR_PORT"])
    spool = Spool(slot_path(tmp_path / "spool", port, 1), 1 << 20, 1 << 20)
    spool.open()
    await spool.append([encode_record(record(i, site_id, "orphan-")) for i in range(7)])
    await spool.close()

    run = Run(env, tmp_path / "collector.log", port)
    try:
        await run.healthy()
        expected = {f"orphan-{i}" for i in range(7)}

        async def replayed() -> bool:
            return expected <= {r.id for r in await read_records(kafka.bootstrap, topic)}

        await until(replayed, 30)
        assert not slot_path(tmp_path / "spool", port, 1).exists()
    finally:
        services.terminate(run.proc.pid, 30, run.proc)


def test_a_worker_count_below_one_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="MICROCV_COLLECTOR_WORKERS=0: at least 1"):
        Settings.from_env({"MICROCV_COLLECTOR_WORKERS": "0"})


async def test_sigterm_closes_the_port_at_once_while_workers_drain(two_workers: Run) -> None:
    run = two_workers
    # A request whose body is still coming keeps its worker's shutdown waiting (up to the body
    # timeout, 10 s here).
    _, writer = await asyncio.open_connection("127.0.0.1", run.port)
    writer.write(
        b"POST /v1/collect HTTP/1.1\r\nHost: c\r\nContent-Type: text/plain\r\n"
        b"Content-Length: 100\r\n\r\n{" + b" " * 9
    )
    await writer.drain()
    await asyncio.sleep(0.5)
    os.kill(run.proc.pid, signal.SIGTERM)

    async def refused() -> bool:
        try:
            _, probe = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", run.port), 1)
        except ConnectionRefusedError:
            return True
        probe.close()  # accepted: the port is still open
        return False

    # The supervisor looks at its signals twice a second.
    await until(refused, 3)
    assert run.proc.poll() is None  # still draining the slow request
    writer.close()
    assert await run.wait() in (0, -signal.SIGTERM)
