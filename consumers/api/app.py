"""The query API's application factory and lifespan."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from consumers.api import openapi
from consumers.api.errors import HANDLERS
from consumers.api.metrics import Metrics
from consumers.api.routes import breakdowns, counters, experiments, funnels, leads, site, stream
from consumers.api.state import State, state_of
from consumers.config import parse_configs
from consumers.redisconn import AnyRedis
from consumers.settings import Settings
from snippet.sites import Sites, load_sites

STATIC = Path(__file__).resolve().parent.parent / "static"


def redis_client(settings: Settings) -> AnyRedis:
    if settings.redis_cluster:
        return RedisCluster.from_url(
            settings.redis_url,
            max_connections=settings.api_redis_connections,
            socket_timeout=settings.redis_timeout_s,
            socket_connect_timeout=settings.redis_timeout_s,
        )
    # A bounded pool: a burst of requests waits (up to the Redis timeout) for a connection
    # instead of opening thousands; a wait that runs out is a 503 like any Redis failure.
    pool = BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=settings.api_redis_connections,
        timeout=settings.redis_timeout_s,
        socket_timeout=settings.redis_timeout_s,
        socket_connect_timeout=settings.redis_timeout_s,
    )
    return Redis.from_pool(pool)  # the client owns the pool: aclose() closes it


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


async def metrics(request: Request) -> Response:
    body = state_of(request)["metrics"].render()
    return PlainTextResponse(body, media_type="text/plain; version=0.0.4")


async def home(request: Request) -> Response:
    return RedirectResponse("/dashboard/")


def create_app(settings: Settings, sites: Sites | None = None) -> Starlette:
    """The API for `sites` (by default the sites config named in `settings`)."""
    loaded_sites = sites if sites is not None else load_sites(settings.sites_path)
    configs = parse_configs(loaded_sites)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[State]:
        redis = redis_client(settings)
        try:
            yield State(
                redis=redis,
                sites=loaded_sites,
                configs=configs,
                settings=settings,
                metrics=Metrics(),
            )
        finally:
            await redis.aclose()

    resources: list[openapi.Resource] = [
        site,
        counters,
        stream,
        funnels,
        experiments,
        breakdowns,
        leads,
    ]
    routes: list[BaseRoute] = [
        *(route for resource in resources for route in resource.routes),
        *openapi.routes(resources),
        Route("/healthz", healthz),
        Route("/metrics", metrics),
        Route("/", home),
        Mount("/dashboard", StaticFiles(directory=STATIC, html=True), name="dashboard"),
    ]
    return Starlette(routes=routes, lifespan=lifespan, exception_handlers=HANDLERS)
