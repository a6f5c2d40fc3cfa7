"""Requests cancelled at random never leave a Redis connection that answers the next request
with another key's value.

redis-py once did (redis/redis-py#2624, #2665: a command cancelled after it was sent left its
reply unread on a pooled connection, and the next command on it read that reply). Today its
read path disconnects on any exception, cancellation included. This test keeps us honest: the
API on a 3-connection pool, Redis behind a proxy that delays every chunk so cancellations land
between a command and its reply, hundreds of concurrent requests for sites whose counts all
differ, half of them cancelled at random; every answer that arrives must be its own site's.

With redis-py's disconnect-on-cancel patched out, this test fails (replies such as b'redis' or a
hash land in the wrong command); as it stands, about 240 of 600 requests are cancelled in flight
and about 120 connections dropped and reopened.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections.abc import AsyncIterator

import httpx
from starlette.types import Receive, Scope, Send

from consumers.api import create_app
from consumers.settings import Settings
from snippet.sites import parse_sites
from tests.api.conftest import AUTH, TOKEN, apply, event

import services

SITES = 8
REQUESTS = 600
WAVE = 6


class SlowProxy:
    """A TCP proxy to Redis that delays each reply chunk by 0-20 ms (so that a reply can
    arrive after its connection went back to the pool) and counts dropped connections."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.closed_by_client = 0
        self.rng = random.Random(7)

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float
    ) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                await asyncio.sleep(self.rng.uniform(0, delay))
                writer.write(data)
                await writer.drain()
        writer.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        down = asyncio.create_task(self._pipe(up_reader, writer, 0.02))
        await self._pipe(reader, up_writer, 0.0)  # returns when the API side closes
        self.closed_by_client += 1
        await down

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[int]:
        server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        try:
            yield server.sockets[0].getsockname()[1]
        finally:
            server.close()


async def test_cancelled_requests_never_mix_up_replies(
    settings: Settings, redis_server: services.RedisServer
) -> None:
    ids = [f"c-{uuid.uuid4().hex[:8]}-{i}" for i in range(SITES)]
    sites = parse_sites(
        {"sites": {s: {"domains": ["localhost"], "read_tokens": [TOKEN]} for s in ids}}
    )
    # Site i has i + 1 pageviews and 10 * (i + 1) clicks: no two answers are alike.
    records = [
        event(s, kind, "b" if kind == "click" else "", visitor=f"v{j}")
        for i, s in enumerate(ids)
        for kind, n in (("pageview", i + 1), ("click", 10 * (i + 1)))
        for j in range(n)
    ]
    await apply(settings, sites, records)
    expected = {
        s: {"click": 10 * (i + 1), "click:b": 10 * (i + 1), "pageview": i + 1}
        for i, s in enumerate(ids)
    }

    proxy = SlowProxy(redis_server.port)
    async with proxy.running() as port:
        small = Settings(
            **{
                **settings.__dict__,
                "redis_url": f"redis://127.0.0.1:{port}/0",
                "api_redis_connections": 3,
            }
        )
        app = create_app(small, sites)
        async with app.router.lifespan_context(app) as state:

            async def with_state(scope: Scope, receive: Receive, send: Send) -> None:
                # In process, so that cancelling a request cancels the handler's Redis call.
                scope["state"] = dict(state or {})
                await app(scope, receive, send)

            transport = httpx.ASGITransport(app=with_state)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
                rng = random.Random(11)
                wrong: list[tuple[str, object]] = []
                answered = 0

                async def one(site: str) -> None:
                    nonlocal answered
                    resp = await client.get(f"/v1/sites/{site}/counters?window=5m", headers=AUTH)
                    if resp.status_code != 200 or resp.json()["counters"] != expected[site]:
                        wrong.append((site, resp.text[:200]))
                    answered += 1

                # Waves a little larger than the pool, so that most requests hold a connection
                # (rather than wait for one) when their cancellation comes.
                results: list[object] = []
                for _ in range(REQUESTS // WAVE):
                    tasks = [asyncio.create_task(one(rng.choice(ids))) for _ in range(WAVE)]
                    for task in tasks[::2]:
                        asyncio.get_running_loop().call_later(rng.uniform(0, 0.03), task.cancel)
                    results += await asyncio.gather(*tasks, return_exceptions=True)
                cancelled = sum(isinstance(r, asyncio.CancelledError) for r in results)
                assert not [r for r in results if isinstance(r, Exception)]

                # After the storm, the pool's connections still answer every request rightly.
                for site in ids * 5:
                    await one(site)

    assert wrong == []
    assert cancelled >= REQUESTS // 10, "too few requests were cancelled in flight"
    assert answered >= REQUESTS // 2
    # Cancellations between a command and its reply made redis-py drop those connections.
    assert proxy.closed_by_client >= REQUESTS // 20
