"""A live stream (Server-Sent Events) of a site's counters over a rolling window.

The stream re-reads the window every `api_stream_interval_s` and sends an `counters` event when
the numbers changed (the body is the one GET …/counters answers), a comment every 15 s so that
proxies keep the connection open, and `unavailable` while Redis does not answer. Polling one
pipeline per stream keeps the write path free of any fan-out; a client that goes away cancels
its stream, Redis call included (see tests/api/test_cancellation.py for why that is safe).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Final

import orjson
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from consumers.api.auth import authorize
from consumers.api.errors import ApiError
from consumers.api.openapi import ERRORS, SITE_PARAM, SPAN_PARAMS, Schema
from consumers.api.params import Span, now_minute, span_of
from consumers.api.routes.counters import read_counters
from consumers.api.state import State, state_of
from consumers.config import SiteConfig
from consumers.reads import parse_window, window_range

KEEPALIVE_S: Final = 15.0


def _event(name: str, data: object) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


async def _events(state: State, config: SiteConfig, window: str) -> AsyncIterator[bytes]:
    minutes = parse_window(window)
    interval = state["settings"].api_stream_interval_s
    state["metrics"].streams += 1
    try:
        yield b"retry: 2000\n\n"
        previous: dict[str, object] | None = None
        down = False
        quiet_since = time.monotonic()
        while True:
            first, last = window_range(minutes, now_minute() * 60_000)
            try:
                body, _ = await read_counters(state["redis"], config, Span(first, last, window))
            except RedisError:
                if not down:
                    yield _event("unavailable", {"error": "store_unavailable"})
                    quiet_since, down = time.monotonic(), True
            else:
                numbers = {k: v for k, v in body.items() if k not in ("from", "to")}
                if numbers != previous or down:
                    yield _event("counters", body)
                    quiet_since, previous, down = time.monotonic(), numbers, False
            if time.monotonic() - quiet_since >= KEEPALIVE_S:
                yield b": keep-alive\n\n"
                quiet_since = time.monotonic()
            await asyncio.sleep(interval)
    finally:
        state["metrics"].streams -= 1


async def stream(request: Request) -> Response:
    site = authorize(request)
    if "from" in request.query_params or "to" in request.query_params:
        raise ApiError(400, "bad_range", "a live stream follows a rolling window, not a range")
    window = span_of(request).window or "5m"
    state = state_of(request)
    if state["metrics"].streams >= state["settings"].api_max_streams:
        raise ApiError(503, "too_many_streams", "this API process serves no more live streams")
    state["metrics"].answered += 1
    return StreamingResponse(
        _events(state, state["configs"][site.id], window),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


routes: list[BaseRoute] = [Route("/v1/sites/{site}/stream", stream)]

SCHEMAS: Final[dict[str, Schema]] = {}
PATHS: Final[dict[str, Schema]] = {
    "/v1/sites/{site}/stream": {
        "get": {
            "summary": "Live counters (Server-Sent Events): a `counters` event (the Counters "
            "body) whenever they change, `unavailable` while the store does not answer",
            "security": [{"readToken": []}],
            "parameters": [SITE_PARAM, SPAN_PARAMS[0]],
            "responses": {
                "200": {
                    "description": "An endless event stream",
                    "content": {"text/event-stream": {"schema": {"type": "string"}}},
                },
                **ERRORS,
            },
        }
    },
}
