"""Collector ingest: wrk posting beacons to a bare 204 endpoint and to the real collector.

Both run on the same server settings, one after the other in the same run; the collector
produces to the run's own broker with acks=all. Reported per server (uvicorn, granian) and per
beacon size (1 and 10 events): requests/s, events/s, p99 latency, and the ratio real / bare.
"""

from __future__ import annotations

from bench import wrk
from bench.infra import Infra, Server
from bench.results import Results

SIZES = (1, 10)


def run(
    infra: Infra,
    results: Results,
    *,
    seconds: float,
    servers: tuple[Server, ...],
    workers: tuple[int, ...] = (1, 2),
) -> None:
    """Every server with one worker process; uvicorn (the default server) also with each
    other worker count in `workers`, the bare endpoint with as many."""
    topic = infra.topic()
    env = infra.env(topic)
    best: dict[Server, float] = {}
    for server in servers:
        for count in workers if server == "uvicorn" else (1,):
            events_per_s = _compare(infra, results, env, server, count, seconds)
            if count == 1:
                best[server] = events_per_s
    if len(best) == 2:
        results.ratio(
            "ingest.granian_vs_uvicorn.10ev",
            best["granian"],
            best["uvicorn"],
            "collector events/s under granian / under uvicorn",
        )


def _compare(
    infra: Infra,
    results: Results,
    env: dict[str, str],
    server: Server,
    workers: int,
    seconds: float,
) -> float:
    """Bare and real side by side, 1- and 10-event beacons; the real 10-event events/s."""
    bare = infra.bare_collector(server, workers)
    real = infra.collector(env, server, workers=workers)
    # One worker keeps the names of the figures from before worker counts existed.
    prefix = f"ingest.{server}" + (f".w{workers}" if workers > 1 else "")
    events_per_s = 0.0
    try:
        for events in SIZES:
            # Warm both up (connections, caches, producer metadata, the broker's JIT) first.
            wrk.run(f"{bare.url}/v1/collect", seconds=2, events=events)
            wrk.run(f"{real.url}/v1/collect", seconds=4, events=events)
            b = wrk.run(f"{bare.url}/v1/collect", seconds=seconds, events=events)
            r = wrk.run(f"{real.url}/v1/collect", seconds=seconds, events=events)
            name = f"{prefix}.{events}ev"
            results.add(f"{name}.bare.rps", b.rps, "req/s", f"{b.errors} errors")
            results.add(f"{name}.bare.p99", b.p99_ms, "ms")
            results.add(f"{name}.collector.rps", r.rps, "req/s", f"{r.errors} errors")
            results.add(f"{name}.collector.events", r.rps * events, "events/s")
            results.add(f"{name}.collector.p99", r.p99_ms, "ms")
            results.ratio(f"{name}.ratio", r.rps, b.rps, "collector / bare, target >= 0.8")
            if r.errors:
                results.notes.append(f"{name}: {r.errors} collector answers were not 2xx")
            if events == 10:
                events_per_s = r.rps * events
    finally:
        real.stop()
        bare.stop()
    return events_per_s
