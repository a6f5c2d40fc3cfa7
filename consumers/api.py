"""The query API: a site's counters over rolling windows, read with the consumers' key layout.

`python -m consumers.api` serves it with uvicorn.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import time
from collections.abc import AsyncIterator
from typing import TypedDict, cast

import uvicorn
from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from consumers.settings import Settings
from consumers.store import parse_window, read_counters, window_range
from snippet.sites import Site, Sites, load_sites

logger = logging.getLogger(__name__)


class State(TypedDict):
    redis: Redis
    sites: Sites


def _state(request: Request) -> State:
    return cast(State, request.scope["state"])


def _authorized(request: Request, site: Site) -> bool:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return False
    return any(hmac.compare_digest(token.encode(), t.encode()) for t in site.read_tokens)


def _error(status: int, reason: str, detail: str = "") -> JSONResponse:
    return JSONResponse({"error": reason, "detail": detail}, status_code=status)


async def counters(request: Request) -> Response:
    state = _state(request)
    site = state["sites"].get(request.path_params["site"])
    if site is None:
        return _error(404, "unknown_site")
    if "authorization" not in request.headers:
        return _error(401, "missing_token", "send Authorization: Bearer <read token>")
    if not _authorized(request, site):
        return _error(403, "bad_token")
    window = request.query_params.get("window", "24h")
    try:
        minutes = parse_window(window)
    except ValueError as exc:
        return _error(400, "bad_window", str(exc))
    first, last = window_range(minutes, int(time.time() * 1000))
    try:
        totals = await read_counters(state["redis"], site.id, first, last)
    except RedisError as exc:
        logger.warning("redis unavailable: %r", exc)
        return _error(503, "store_unavailable")
    return JSONResponse(
        {
            "site": site.id,
            "window": window,
            "from": first * 60_000,
            "to": (last + 1) * 60_000,
            "counters": totals,
        }
    )


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


def create_app(settings: Settings, sites: Sites | None = None) -> Starlette:
    loaded_sites = sites if sites is not None else load_sites(settings.sites_path)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[State]:
        redis = Redis.from_url(
            settings.redis_url,
            socket_timeout=settings.redis_timeout_s,
            socket_connect_timeout=settings.redis_timeout_s,
        )
        try:
            yield State(redis=redis, sites=loaded_sites)
        finally:
            await redis.aclose()

    return Starlette(
        routes=[
            Route("/v1/sites/{site}/counters", counters),
            Route("/healthz", healthz),
        ],
        lifespan=lifespan,
    )


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = Settings.from_env()
    uvicorn.run(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
