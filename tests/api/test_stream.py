"""The live stream: counters pushed as they change, a bounded number of streams, auth."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx

from consumers.api import create_app
from consumers.settings import Settings
from snippet.sites import Sites
from tests.api.conftest import AUTH, Fill, event, serve


async def events(resp: httpx.Response) -> AsyncIterator[tuple[str, dict[str, object]]]:
    name = ""
    async for line in resp.aiter_lines():
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            yield name, json.loads(line.removeprefix("data: "))


async def test_stream_pushes_counters_when_they_change(
    settings: Settings, sites: Sites, fill: Fill, site_id: str
) -> None:
    fast = Settings(**{**settings.__dict__, "api_stream_interval_s": 0.1, "api_max_streams": 1})
    async with serve(create_app(fast, sites)) as url, httpx.AsyncClient(base_url=url) as client:
        path = f"/v1/sites/{site_id}/stream?window=5m"
        async with client.stream("GET", path, headers=AUTH, timeout=30) as resp:
            assert resp.status_code == 200
            assert resp.headers["content-type"].startswith("text/event-stream")
            stream = events(resp)
            name, first = await anext(stream)
            assert name == "counters" and first["counters"] == {} and first["window"] == "5m"

            # The only stream allowed is open: another one is refused, not queued.
            second = await client.get(path, headers=AUTH)
            assert second.status_code == 503 and second.json()["error"] == "too_many_streams"

            await fill([event(site_id, "click", "add_to_cart"), event(site_id, "pageview")])
            # Pushed without asking; an event in between may show part of the worker's work.
            changed = first
            while changed["counters"] != {"click": 1, "click:add_to_cart": 1, "pageview": 1}:
                name, changed = await asyncio.wait_for(anext(stream), 10)
                assert name == "counters"
            assert changed["counters"] == {"click": 1, "click:add_to_cart": 1, "pageview": 1}
            assert changed["conversions"]["add_to_cart"] == {"count": 1, "visitors": 1}  # type: ignore[index]

        # The client went away: its stream ended and its slot is free again.
        for _ in range(50):
            if "microcv_api_streams 0" in (await client.get("/metrics")).text:
                break
            await asyncio.sleep(0.1)
        assert "microcv_api_streams 0" in (await client.get("/metrics")).text
        refused = await client.get(path)
        assert refused.status_code == 401
        ranged = await client.get(f"/v1/sites/{site_id}/stream?from=1", headers=AUTH)
        assert ranged.status_code == 400 and ranged.json()["error"] == "bad_range"
