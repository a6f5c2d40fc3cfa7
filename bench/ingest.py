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


def run(infra: Infra, results: Results, *, seconds: float, servers: tuple[Server, ...]) -> None:
    topic = infra.topic()
    env = infra.env(topic)
    best: dict[Server, float] = {}
    for server in servers:
        bare = infra.bare_collector(server)
        real = infra.collector(env, server)
        try:
            for events in SIZES:
                # Warm both up (connections, JIT-free but caches, producer metadata) first.
                wrk.run(f"{bare.url}/v1/collect", seconds=2, events=events)
                wrk.run(f"{real.url}/v1/collect", seconds=2, events=events)
                b = wrk.run(f"{bare.url}/v1/collect", seconds=seconds, events=events)
                r = wrk.run(f"{real.url}/v1/collect", seconds=seconds, events=events)
                name = f"ingest.{server}.{events}ev"
                results.add(f"{name}.bare.rps", b.rps, "req/s", f"{b.errors} errors")
                results.add(f"{name}.bare.p99", b.p99_ms, "ms")
                results.add(f"{name}.collector.rps", r.rps, "req/s", f"{r.errors} errors")
                results.add(f"{name}.collector.events", r.rps * events, "events/s")
                results.add(f"{name}.collector.p99", r.p99_ms, "ms")
                results.ratio(f"{name}.ratio", r.rps, b.rps, "collector / bare, target >= 0.8")
                if r.errors:
                    results.notes.append(f"{name}: {r.errors} collector answers were not 2xx")
                if events == 10:
                    best[server] = r.rps * events
        finally:
            real.stop()
            bare.stop()
    if len(best) == 2:
        results.ratio(
            "ingest.granian_vs_uvicorn.10ev",
            best["granian"],
            best["uvicorn"],
            "collector events/s under granian / under uvicorn",
        )
