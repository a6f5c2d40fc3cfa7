"""The worker's Prometheus endpoint: events/s, lag, duplicates, dead letters, Redis round trips.

A few lines of asyncio instead of a web framework: the worker serves one path, GET /metrics,
from its own event loop; every connection is answered and closed within a bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final

logger = logging.getLogger(__name__)

RATE_WINDOW_S: Final = 10.0
REQUEST_TIMEOUT_S: Final = 5.0


@dataclass(slots=True)
class WorkerMetrics:
    applied: int = 0
    duplicates: int = 0
    bots: int = 0
    batches: int = 0
    redis_errors: int = 0
    dead_letters: Counter[str] = field(default_factory=Counter)
    _samples: deque[tuple[float, int]] = field(default_factory=deque)

    def sample(self) -> None:
        """Remember (time, applied) to answer events/s over the last RATE_WINDOW_S seconds."""
        now = time.monotonic()
        self._samples.append((now, self.applied))
        while self._samples and now - self._samples[0][0] > RATE_WINDOW_S:
            self._samples.popleft()

    def events_per_second(self) -> float:
        if len(self._samples) < 2:
            return 0.0
        (t0, n0), (t1, n1) = self._samples[0], self._samples[-1]
        return (n1 - n0) / (t1 - t0) if t1 > t0 else 0.0

    def render(self, lag: Mapping[int, int], round_trips: int) -> str:
        def metric(name: str, kind: str, doc: str, lines: list[str]) -> list[str]:
            return [f"# HELP {name} {doc}", f"# TYPE {name} {kind}", *lines]

        out = metric(
            "microcv_worker_events_applied_total",
            "counter",
            "Events applied to Redis (each counted once).",
            [f"microcv_worker_events_applied_total {self.applied}"],
        )
        out += metric(
            "microcv_worker_events_per_second",
            "gauge",
            f"Events applied per second over the last {RATE_WINDOW_S:.0f} s.",
            [f"microcv_worker_events_per_second {self.events_per_second():.1f}"],
        )
        out += metric(
            "microcv_worker_duplicates_total",
            "counter",
            "Events dropped because their id was already counted (client retries).",
            [f"microcv_worker_duplicates_total {self.duplicates}"],
        )
        out += metric(
            "microcv_worker_bot_events_total",
            "counter",
            "Events from bots, counted apart from human counters.",
            [f"microcv_worker_bot_events_total {self.bots}"],
        )
        out += metric(
            "microcv_worker_dead_letters_total",
            "counter",
            "Records sent to the dead-letter topic, by reason.",
            [
                f'microcv_worker_dead_letters_total{{reason="{r}"}} {n}'
                for r, n in sorted(self.dead_letters.items())
            ],
        )
        out += metric(
            "microcv_worker_lag",
            "gauge",
            "Records between the partition's high watermark and this worker's position.",
            [f'microcv_worker_lag{{partition="{p}"}} {n}' for p, n in sorted(lag.items())],
        )
        out += metric(
            "microcv_worker_batches_total",
            "counter",
            "Batches applied.",
            [f"microcv_worker_batches_total {self.batches}"],
        )
        out += metric(
            "microcv_worker_redis_round_trips_total",
            "counter",
            "Waits on Redis for applying batches (reads of visitor state included).",
            [f"microcv_worker_redis_round_trips_total {round_trips}"],
        )
        out += metric(
            "microcv_worker_redis_errors_total",
            "counter",
            "Redis errors the worker recovered from by re-reading the watermarks.",
            [f"microcv_worker_redis_errors_total {self.redis_errors}"],
        )
        return "\n".join(out) + "\n"


class MetricsServer:
    """Serves `render()` on GET /metrics; anything else gets 404."""

    def __init__(self, host: str, port: int, render: Callable[[], str]) -> None:
        self._host = host
        self._port = port
        self._render = render
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self._host, self._port)
        logger.info("worker metrics on http://%s:%d/metrics", self._host, self.port)

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_S):
                request = await reader.readuntil(b"\r\n\r\n")
                path = request.split(b" ", 2)[1] if request.count(b" ") >= 2 else b""
                if path.split(b"?")[0] == b"/metrics":
                    status, body = "200 OK", self._render().encode()
                else:
                    status, body = "404 Not Found", b"not found\n"
                writer.write(
                    f"HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\n"
                    f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
