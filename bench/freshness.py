"""Freshness and memory at half capacity: the whole pipeline under a paced load.

wrk paces 10-event beacons at half the capacity measured earlier in the run (the lower of the
collector's and the worker's); meanwhile a probe posts one custom event, and from the
collector's 2xx polls the query API until that event's name has counted one more since the
probe's minute began. The resident sizes of the collector and the worker are sampled from /proc
during the same load.

The probes take their names in turn from a fixed set of PROBE_NAMES, as a site's custom events
come from the fixed set its pages send. A name per probe (as this benchmark once used) adds
thousands of distinct names an hour, and the worker's bounded caches of breakdowns then grow
towards their bound for as long as the run lasts, which hides whether anything else grows.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench import wrk
from bench.drills.ledger import headers
from bench.infra import READ_TOKEN, SITE, Infra
from bench.records import beacon
from bench.results import Results


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class Samples:
    rss: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    lags_ms: list[float] = field(default_factory=list)
    missed: int = 0


async def sample_memory(pids: dict[str, int], samples: Samples, stop: asyncio.Event) -> None:
    started = time.monotonic()
    while not stop.is_set():
        for name, pid in pids.items():
            samples.rss.setdefault(name, []).append((time.monotonic() - started, rss_mb(pid)))
        await asyncio.sleep(2)


PROBE_NAMES = 16


async def probe(
    client: httpx.AsyncClient, collect_url: str, counters_url: str, samples: Samples, turn: int
) -> None:
    name = f"probe-{turn % PROBE_NAMES:02d}"
    now_ms = int(time.time() * 1000)
    # Counted from the start of this minute (a fixed range, unlike a rolling window, never
    # loses old buckets while the probe waits), so exactly one more than before means the
    # probe's own event is in; probes run one at a time.
    start = now_ms - 1_000  # the beacon dates its event 200 ms before it is sent
    query = {"from": str(start - start % 60_000)}
    auth = {"Authorization": f"Bearer {READ_TOKEN}"}

    async def count() -> int:
        answer = await client.get(counters_url, params=query, headers=auth)
        return int(answer.json()["counters"].get(f"custom:{name}", 0))

    before = await count()
    body = beacon(SITE, [uuid.uuid4().hex], now_ms=now_ms, named=True, name=name)
    response = await client.post(collect_url, content=body, headers=headers(0))
    if response.status_code >= 300:
        samples.missed += 1
        return
    acked = time.monotonic()
    while time.monotonic() - acked < 10:
        if await count() > before:
            samples.lags_ms.append((time.monotonic() - acked) * 1000)
            return
        await asyncio.sleep(0.005)
    samples.missed += 1


async def _measure(infra: Infra, capacity_eps: float, seconds: float) -> tuple[wrk.WrkRun, Samples]:
    topic = await asyncio.to_thread(infra.topic)
    env = infra.env(topic)
    collector = await asyncio.to_thread(infra.collector, env)
    worker = infra.worker(env)
    api = await asyncio.to_thread(infra.api, env)
    samples = Samples()
    stop = asyncio.Event()
    sampler = asyncio.create_task(
        sample_memory({"collector": collector.pid, "worker": worker.pid}, samples, stop)
    )
    # wrk's paced connections come out at about half the nominal rate on this machine (each
    # waits its delay after the answer, and the timers run late under load), so the nominal
    # rate is the full capacity; the rate actually achieved is what freshness.load reports.
    load = asyncio.create_task(
        wrk.run_paced(
            f"{collector.url}/v1/collect", seconds=seconds, rate=capacity_eps / 10, events=10
        )
    )
    counters_url = f"{api.url}/v1/sites/{SITE}/counters"
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            # Warm-up: the worker joins its group and one probe goes through, unrecorded.
            await probe(client, f"{collector.url}/v1/collect", counters_url, Samples(), 0)
            turn = 1
            while not load.done():
                await probe(client, f"{collector.url}/v1/collect", counters_url, samples, turn)
                turn += 1
                await asyncio.sleep(0.2)
        return await load, samples
    finally:
        stop.set()
        await sampler
        for proc in (api, worker, collector):
            await asyncio.to_thread(proc.stop)


def run(infra: Infra, results: Results, *, capacity_eps: float, seconds: float) -> None:
    load, samples = asyncio.run(_measure(infra, capacity_eps, seconds))
    results.add(
        "freshness.load", load.rps * 10, "events/s", f"half of {capacity_eps:,.0f}, {seconds:.0f} s"
    )
    lags = sorted(samples.lags_ms)
    if lags:
        p99 = lags[min(len(lags) - 1, int(len(lags) * 0.99))]
        results.add("freshness.p50", statistics.median(lags), "ms", f"{len(lags)} probes, <= 100")
        results.add("freshness.p99", p99, "ms", "target <= 500")
    results.add("freshness.missed", samples.missed, "probes", "not visible within 10 s")
    for name, series in samples.rss.items():
        steady = [mb for t, mb in series if t >= min(10.0, seconds / 4)]
        if not steady:
            continue
        minutes = max(series[-1][0] - min(10.0, seconds / 4), 1) / 60
        results.add(f"memory.{name}.rss_start", steady[0], "MB", f"run of {seconds / 60:.1f} min")
        results.add(f"memory.{name}.rss_end", steady[-1], "MB")
        results.add(f"memory.{name}.rss_max", max(steady), "MB")
        results.add(f"memory.{name}.growth", (steady[-1] - steady[0]) / minutes, "MB/min")
        # Caches and allocator arenas fill early; a leak keeps growing. The second half of the
        # run tells them apart, and the per-minute series shows the shape.
        late = [(t, mb) for t, mb in series if t >= series[-1][0] / 2]
        if len(late) > 1 and late[-1][0] > late[0][0]:
            late_minutes = (late[-1][0] - late[0][0]) / 60
            results.add(
                f"memory.{name}.growth_second_half",
                (late[-1][1] - late[0][1]) / late_minutes,
                "MB/min",
                f"{late[0][1]:.1f} -> {late[-1][1]:.1f} MB",
            )
        per_minute = {int(t // 60): mb for t, mb in series}
        results.notes.append(
            f"memory.{name} RSS by minute (MB): "
            + " ".join(f"{mb:.1f}" for _, mb in sorted(per_minute.items()))
        )
