"""Query API: the counters endpoint for a 30-day window with 20 micro-conversions.

Thirty days of events (every hour, 20 named conversions, and every minute of the last day) are
produced to a topic and applied by the real worker (`python -m consumers --burst`); then wrk
reads the 30-day window from the real API and the same body from a bare Starlette endpoint.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Iterator

from bench import records, wrk
from bench.infra import READ_TOKEN, SITE, Infra
from bench.results import Results
from collector.records import encode_record, make_record, record_key
from collector.schema import parse_beacon

CONVERSIONS = 20
DAYS = 30


def history(site: str) -> Iterator[tuple[bytes, bytes]]:
    """One event per conversion per hour for 30 days, and per minute for the last day."""
    now = int(time.time() * 1000)
    stamps = [now - h * 3_600_000 for h in range(DAYS * 24)]
    stamps += [now - m * 60_000 for m in range(24 * 60)]
    for n, ts in enumerate(stamps):
        for c in range(CONVERSIONS):
            event_id = f"h{n}-{c}"
            body = json.dumps(
                {"v": 1, "s": site, "e": [{"i": event_id, "k": "click", "n": f"cv-{c:02d}",
                                            "ts": ts, "u": "https://shop.example.com/"}]}
            ).encode()  # fmt: skip
            event = parse_beacon(body).events[0]
            record = make_record(
                event, site=site, visitor=f"{n % 997:016x}", ts=ts, received=now, bot=False
            )
            yield record_key(record), encode_record(record)


def run(infra: Infra, results: Results, *, seconds: float) -> None:
    topic = infra.topic()
    env = infra.env(topic)
    n = asyncio.run(records.produce(infra.kafka.bootstrap, topic, history(SITE)))
    worker = infra.worker(env, burst=True)
    if worker.popen.wait(timeout=600) != 0:
        raise RuntimeError(f"worker --burst failed; log: {worker.log}")
    api = infra.api(env)
    path = f"/v1/sites/{SITE}/counters?window=30d"
    token = f"Bearer {READ_TOKEN}"
    auth = f"Authorization: {token}"
    request = urllib.request.Request(api.url + path, headers={"Authorization": token})
    with urllib.request.urlopen(request, timeout=10) as response:
        body = response.read().decode()
    bare = infra.bare_api(body)
    try:
        wrk.run_get(bare.url + path, seconds=2, headers=(auth,))
        wrk.run_get(api.url + path, seconds=2, headers=(auth,))
        b = wrk.run_get(bare.url + path, seconds=seconds, headers=(auth,))
        r = wrk.run_get(api.url + path, seconds=seconds, headers=(auth,))
    finally:
        bare.stop()
        api.stop()
    note = f"{n} events applied, {len(body)} bytes answered"
    results.add("query.30d.bare.rps", b.rps, "req/s", f"{b.errors} errors")
    results.add("query.30d.bare.p99", b.p99_ms, "ms")
    results.add("query.30d.api.rps", r.rps, "req/s", f"{r.errors} errors; {note}")
    results.add("query.30d.api.p50", r.p50_ms, "ms")
    results.add("query.30d.api.p99", r.p99_ms, "ms", "16 connections")
    results.ratio("query.30d.ratio", r.rps, b.rps, "API / bare, requests/s")
